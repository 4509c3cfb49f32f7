"""End to end: a backfill launched from the UI's API syncs the target, and Dagster's record agrees with it.

Starts the real `oid-sync dev` (`dagster dev`: webserver, daemon, code server; the sensors as shipped) in local
mode on loopback with a fresh DAGSTER_HOME, lets the realtime sensor materialize the target catalog, then
launches a partition backfill of every series of the "other" group for the two newest closed weeks through
`launchPartitionBackfill`, the mutation the UI's backfill dialog sends. It proves that

* the backfill completes with exactly one run (the shards' `BackfillPolicy.single_run()`), a range run over
  both weeks, with the realtime sensor left running under the shipped run limits (2 runs, 1 per backfill);
* Dagster's record, read back over GraphQL as the UI reads it: every asset of the group has both weeks materialized
  by that run, and each week's `complete` check passed in that run;
* the target itself, read with the cognite-sdk from the local CDF's data directory while Dagster still runs:
  every (series, week) holds exactly the source's points for the week shifted by the offset (1 week + 10 min),
  at least one, and as many as the materialization's `points_written` and the check's counts say;
* each series asset links its chart in the data viewer `oid-sync dev` serves in local mode: the link asks for a
  login, the printed viewer link logs in, and the chart page then names the series;
* SIGTERM to the launcher stops everything: exit code 0 and nothing left of its process groups.

The history sensor is stopped through the UI's mutation first: it would otherwise sync the same weeks for all
363 series in runs of its own, competing with the backfill for the run slots and for the record.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeId

from oid_sync_dagster.local_cdf.server import serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster_tests.conftest import make_client
from oid_sync_dagster_tests.dev_server import (
    HISTORY_SENSOR,
    KIND_TAG,
    REALTIME_SENSOR,
    dagster_dev,
    ensure_target_catalog,
    quiesce,
    stop,
)
from oid_sync_dagster_tests.graphql import BACKFILL_SUCCESS, BACKFILL_TAG

SENSOR_NAME_TAG = "dagster/sensor_name"  # Dagster sets it on every run a sensor requested

GROUP = "other"  # 20 series, digital and string ones among them (the browser test backfills "level")
CHECK = "complete"
SPACE = "oid_sync"  # the target's instance space (the config's default)
TARGET_PROJECT = "oid-sync"  # the local target project (OidSyncResource.local_target_project)
WEEK_MS = 7 * 24 * 3600 * 1000
OFFSET_MS = WEEK_MS + 10 * 60 * 1000  # 605_400_000: the default time shift, source -> target

BACKFILL_TIMEOUT_S = 300.0


# ---------- the target ----------


def _points(
    client: CogniteClient, window: tuple[int, int], **ident: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Timestamps (ms), status codes and values of every point in [start, end), Bad ones included."""
    array = client.time_series.data.retrieve_arrays(
        **ident,  # type: ignore[arg-type]
        start=window[0],
        end=window[1],
        limit=None,
        include_status=True,
        ignore_bad_datapoints=False,
        treat_uncertain_as_bad=False,
    )
    timestamps = array.timestamp.astype("datetime64[ms]").astype(np.int64)
    status = array.status_code if array.status_code is not None else np.zeros(len(timestamps), dtype=np.uint32)
    return timestamps, status, array.value


def _week_ms(partition_key: str) -> int:
    return int(datetime.strptime(partition_key, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()) * 1000


# ---------- the test ----------


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_a_backfill_from_the_ui_syncs_the_target_and_records_its_checks(tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()

    def mark(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 1)

    with dagster_dev(tmp_path) as server:  # the UI answers on a port it got (retried if another process took it)
        running, home, gql, repo = server.running, server.home, server.gql, server.repo
        mark("location loaded")

        # Both sensors start RUNNING as shipped; the history one is switched off as a user would in the UI.
        assert gql.sensor(repo, REALTIME_SENSOR)["state"]["status"] == "RUNNING"
        assert gql.sensor(repo, HISTORY_SENSOR)["state"]["status"] == "RUNNING"
        gql.stop_sensor_for_good(repo, HISTORY_SENSOR)

        assets = gql.assets_in_group(repo, GROUP)
        assert len(assets) >= 10, assets
        paths = [asset["path"] for asset in assets]
        assert all(path[:2] == ["oid", GROUP] for path in paths)
        external_ids = {tuple(asset["path"]): asset["metadata"]["external_id"] for asset in assets}
        before = time.time() * 1000
        partitions = gql.partition_keys(paths[0])
        after = time.time() * 1000
        weeks = partitions[-2:]  # the two newest closed weeks: the open week is no partition (end_offset=0)
        assert len(weeks) == 2 and _week_ms(weeks[1]) - _week_ms(weeks[0]) == WEEK_MS, partitions[-3:]
        # The newest closed week at some instant of the request (a Monday 00:00 may pass during it).
        assert _week_ms(weeks[1]) + WEEK_MS <= after and before < _week_ms(weeks[1]) + 2 * WEEK_MS

        # The series need the target catalog (their nodes); the realtime sensor's first run materializes it.
        catalog, catalog_by = ensure_target_catalog(gql, repo)
        assert catalog["metadata"]["oid_sync/series"] >= len(paths), catalog
        mark("catalog")

        launched = gql.launch_partition_backfill(
            asset_selection=paths, partition_names=weeks, title=f"e2e: {GROUP} {weeks[0]}..{weeks[1]}"
        )
        backfill_id = launched["backfillId"]
        assert backfill_id
        mark("backfill launched")
        backfill = gql.wait_for_backfill(backfill_id, BACKFILL_TIMEOUT_S)
        mark("backfill done")
        if backfill["status"] not in BACKFILL_SUCCESS:
            errors = {run["runId"]: gql.run_errors(run["runId"]) for run in backfill["runs"]}
            pytest.fail(f"backfill {backfill_id} ended {backfill['status']}: {backfill['error']}\nrun errors: {errors}")

        # One run for both weeks of every series of the group: the shard's single_run policy, as a range run.
        assert backfill["isAssetBackfill"] and backfill["numPartitions"] == len(weeks), backfill
        assert sorted(key["path"] for key in backfill["assetSelection"]) == paths
        assert len(backfill["runs"]) == 1, backfill["runs"]
        tagged = gql.runs(tags={BACKFILL_TAG: backfill_id})
        assert [run["runId"] for run in tagged] == [backfill["runs"][0]["runId"]]
        run = tagged[0]
        assert run["status"] == "SUCCESS"
        assert run["tags"]["dagster/asset_partition_range_start"] == weeks[0]
        assert run["tags"]["dagster/asset_partition_range_end"] == weeks[1]
        run_s = run["endTime"] - run["startTime"]
        # Where the backfill's wall time goes: the daemon's tick to submit, the queue, the run, the daemon again.
        phases = {
            "submit": run["creationTime"] - backfill["timestamp"],
            "queue": run["startTime"] - run["creationTime"],
            "run": run_s,
            "complete": backfill["endTimestamp"] - run["endTime"],
        }

        # Dagster's record, as the asset pages show it.
        record = {tuple(path): gql.partition_record(path, weeks, CHECK) for path in paths}
        for path, seen in record.items():
            ranges = seen["materialized_ranges"]
            for week in weeks:
                assert any(start <= week <= end for start, end in ranges), (path, week, ranges)
                latest, check = seen["latest"][week], seen["check"][week]
                assert latest is not None and latest["runId"] == run["runId"], (path, week, latest)
                assert check is not None, (path, week)
                assert (check["runId"], check["partition"], check["status"]) == (run["runId"], week, "SUCCEEDED")
                assert check["passed"] is True and check["metadata"]["oid_sync/status"] == "complete", (
                    path,
                    week,
                    check,
                )
        mark("record verified")

        # The target, read next to the running Dagster (the local CDF's SQLite store takes concurrent processes).
        counts: dict[tuple[str, str], int] = {}
        with serve_in_thread(LocalCDFSettings(data_dir=home / "local-cdf")) as cdf:
            source, target = make_client(cdf, "publicdata"), make_client(cdf, TARGET_PROJECT)
            for path, external_id in external_ids.items():
                for week in weeks:
                    start = _week_ms(week)
                    got = _points(target, (start, start + WEEK_MS), instance_id=NodeId(SPACE, external_id))
                    want = _points(source, (start - OFFSET_MS, start + WEEK_MS - OFFSET_MS), external_id=external_id)
                    assert len(want[0]) > 0, (external_id, week)
                    assert len(got[0]) == len(want[0]), (external_id, week, len(got[0]), len(want[0]))
                    np.testing.assert_array_equal(got[0], want[0] + OFFSET_MS)  # exactly the shifted copy
                    np.testing.assert_array_equal(got[1], want[1])
                    if want[2].dtype == object:  # string series
                        assert got[2].tolist() == want[2].tolist(), (external_id, week)
                    else:
                        np.testing.assert_array_equal(got[2], want[2])  # NaN equals NaN here
                    counts[external_id, week] = len(got[0])
                    metadata = record[path]["latest"][week]["metadata"]
                    assert metadata["oid_sync/points_written"] == len(got[0]), (path, week, metadata)
                    check_counts = record[path]["check"][week]["metadata"]
                    assert (
                        check_counts["oid_sync/source_points"] == check_counts["oid_sync/target_points"] == len(got[0])
                    )
        mark("target verified")

        # The data viewer: every series asset links its chart there; the printed link logs a browser in.
        [viewer_line] = [line for line in running.seen if line.startswith("Data viewer: ")]
        viewer_link = viewer_line.removeprefix("Data viewer: ")
        viewer_base = viewer_link.split("/?token=")[0]
        charts = {tuple(asset["path"]): asset["metadata"]["oid_sync/chart"] for asset in assets}
        for path, chart in charts.items():
            assert chart.startswith(f"{viewer_base}/series?project={TARGET_PROJECT}&xid="), (path, chart)
        some_path, some_chart = next(iter(charts.items()))
        with httpx.Client(timeout=30) as browser:
            refused = browser.get(some_chart)
            assert refused.status_code == 303 and refused.headers["location"].startswith("/login?next="), refused
            assert browser.get(viewer_link, follow_redirects=True).status_code == 200
            chart_page = browser.get(some_chart)
            assert chart_page.status_code == 200 and external_ids[some_path] in chart_page.text, chart_page.text[:500]
        mark("viewer linked")

        # Nothing else synced history meanwhile; the realtime sensor ran (whether beside the backfill run is timing).
        # Dagster tags each run a sensor requested with the sensor's name; the test's fallback catalog run (when the
        # sensor was slow) carries the kind tag but no sensor name, so the two are told apart.
        assert gql.runs(tags={KIND_TAG: "history"}) == []
        realtime_runs = gql.runs(tags={KIND_TAG: "realtime"})
        by_sensor = [r for r in realtime_runs if r["tags"].get(SENSOR_NAME_TAG) == REALTIME_SENSOR]
        by_test = [r for r in realtime_runs if SENSOR_NAME_TAG not in r["tags"]]
        assert len(by_sensor) + len(by_test) == len(realtime_runs), [r["tags"] for r in realtime_runs]
        assert len(by_test) == (0 if catalog_by == "the realtime sensor" else 1), (catalog_by, by_test)
        assert by_sensor, f"the realtime sensor never requested a run (catalog by {catalog_by})"
        beside = [
            r
            for r in realtime_runs
            if (r["startTime"] or 1e18) < run["endTime"] and (r["endTime"] or 1e18) > run["startTime"]
        ]

        quiesce(gql, repo)
        stop_s = stop(running)
        mark("stopped")

    print(
        f"catalog by {catalog_by}; backfill run {run_s:.1f} s for {len(paths)} series x 2 weeks, "
        f"{sum(counts.values()):,} points; backfill phases (s) { {k: round(v, 1) for k, v in phases.items()} }; "
        f"{len(realtime_runs)} realtime runs, {len(beside)} beside the backfill run; stop {stop_s:.1f} s; "
        f"timeline (s) {timings}"
    )
