"""End to end, as a person does it: a two-week backfill of one group clicked through Dagster's UI on the real
`oid-sync dev`, and everything that follows checked against Dagster's record, the target itself and the viewer.

Starts `oid-sync dev` (local mode, fresh DAGSTER_HOME, both sensors RUNNING as shipped) on loopback and drives
Debian's headless Chromium through Playwright: the asset graph shows the series groups; the group's graph shows
its series; a series' Partitions tab shows its weeks missing; Lineage > the group > Materialize all opens the
backfill dialog (the `launchPartitionBackfill` mutation behind it), where the two newest closed weeks are typed in
and the backfill is launched; the backfill's page says Succeeded; the series' Partitions tab counts both weeks
materialized (each week's detail too) and its `complete` check's execution history has a Passed evaluation for
each. It then proves that

* the backfill completed with exactly one run (the shards' `BackfillPolicy.single_run()`), a range run over both
  weeks, with the realtime sensor left running under the shipped run limits (2 runs, 1 per backfill);
* Dagster's record, read back over GraphQL as the UI reads it: every asset of the group has both weeks materialized
  by that run, and each week's `complete` check passed in that run;
* the target itself, read with the cognite-sdk from the local CDF's data directory while Dagster still runs:
  every (series, week) holds exactly the source's points for the week shifted by the offset (1 week + 10 min),
  at least one, and as many as the materialization's `points_written` and the check's counts say;
* each series asset links its chart in the data viewer `oid-sync dev` serves in local mode: the link asks for a
  login, the printed viewer link logs in, and the chart page then names the series;
* nothing else synced history, and the realtime sensor requested runs of its own;
* SIGTERM to the launcher stops everything: exit code 0 and nothing left of its process groups.

The group is `other`: 20 series, digital and string ones among them. The history sensor is switched off first,
through the UI's mutation, as a user would: it would otherwise sync the same weeks for all 363 series beside the
backfill. Every screenshot is saved in the test's tmp dir and its path printed (`pytest -s` shows them); a step that
does not show fails naming itself and its screenshot.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cognite.client.data_classes.data_modeling import NodeId

from oid_sync_dagster.local_cdf.server import serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.sync.windows import Window
from oid_sync_dagster_tests.browser.ui import DagsterUI, chromium_page
from oid_sync_dagster_tests.conftest import make_client
from oid_sync_dagster_tests.dev_server import (
    HISTORY_SENSOR,
    HISTORY_STOPPED,
    KIND_TAG,
    REALTIME_SENSOR,
    dagster_dev,
    ensure_target_catalog,
    quiesce,
    stop,
)
from oid_sync_dagster_tests.graphql import BACKFILL_SUCCESS, BACKFILL_TAG
from oid_sync_dagster_tests.sync.conftest import Points, assert_same_points, read_points

SERIES_GROUPS = ("pressure", "temperature", "flow", "level", "machine", "other")
GROUP = "other"  # 20 series, digital and string ones among them
CHECK = "complete"
SPACE = "oid_sync"  # the target's instance space (the config's default)
TARGET_PROJECT = "oid-sync"  # the local target project (OidSyncResource.local_target_project)
WEEK_MS = 7 * 24 * 3600 * 1000
OFFSET_MS = WEEK_MS + 10 * 60 * 1000  # 605_400_000: the default time shift, source -> target
SENSOR_NAME_TAG = "dagster/sensor_name"  # Dagster sets it on every run a sensor requested
BACKFILL_TIMEOUT_S = 300.0
RECORD_TIMEOUT_S = 60.0  # what the series' page shows once the backfill has succeeded


def _week_ms(partition_key: str) -> int:
    return int(datetime.strptime(partition_key, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()) * 1000


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_backfill_clicked_in_the_ui_syncs_the_target_and_shows_its_weeks_materialized_and_checked(
    tmp_path: Path,
) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()

    def mark(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 1)

    # Only the backfill syncs history: the history sensor starts stopped (OID_SYNC_HISTORY_SENSOR, the environment's
    # automation.history_sensor), so its first tick can never request a run ahead of the backfill.
    with dagster_dev(tmp_path, extra_env=HISTORY_STOPPED) as server:
        running, home, gql, repo = server.running, server.home, server.gql, server.repo
        mark("location loaded")
        assert gql.sensor(repo, REALTIME_SENSOR)["state"]["status"] == "RUNNING"
        assert gql.sensor(repo, HISTORY_SENSOR)["state"]["status"] == "STOPPED"

        assets = gql.assets_in_group(repo, GROUP)
        assert len(assets) >= 10, assets
        paths = [asset["path"] for asset in assets]
        assert all(path[:2] == ["oid", GROUP] for path in paths)
        external_ids = {tuple(asset["path"]): asset["metadata"]["external_id"] for asset in assets}
        series = paths[0]  # the first in the sidebar and in the backfill's table (both sort by key)
        before = time.time() * 1000
        partitions = gql.partition_keys(series)
        after = time.time() * 1000
        weeks = partitions[-2:]  # the two newest closed weeks: the open week is no partition (end_offset=0)
        assert len(weeks) == 2 and _week_ms(weeks[1]) - _week_ms(weeks[0]) == WEEK_MS, partitions[-3:]
        # The newest closed week at some instant of the request (a Monday 00:00 may pass during it).
        assert _week_ms(weeks[1]) + WEEK_MS <= after and before < _week_ms(weeks[1]) + 2 * WEEK_MS

        # The series need the target catalog (their nodes); the realtime sensor's first run materializes it.
        catalog, catalog_by = ensure_target_catalog(gql, repo)
        assert catalog["metadata"]["oid_sync/series"] >= len(paths), catalog
        mark("catalog")

        with chromium_page(tmp_path / "chromium-profile") as page:
            ui = DagsterUI(page, server.base_url, tmp_path / "screenshots")
            ui.open_asset_graph(SERIES_GROUPS)
            ui.shot("asset-graph")
            ui.filter_to_group(GROUP)
            ui.open_partitions(series)
            ui.shot("partitions-before")
            mark("graph and partitions")
            backfill_id = ui.launch_backfill(GROUP, weeks, len(paths))
            ui.open_backfill(backfill_id)
            ui.shot("backfill")
            mark("backfill launched")
            ui.wait_for_backfill(backfill_id, BACKFILL_TIMEOUT_S)
            mark("backfill succeeded")
            ui.assert_partitions_materialized(series, weeks, RECORD_TIMEOUT_S)
            ui.assert_checks_passed(series, CHECK, weeks, RECORD_TIMEOUT_S)
            mark("partitions and checks seen")

        # One run for both weeks of every series of the group: the shard's single_run policy, as a range run.
        backfill = gql.backfill(backfill_id)
        assert backfill["status"] in BACKFILL_SUCCESS, backfill
        assert backfill["isAssetBackfill"] and sorted(backfill["partitionNames"]) == weeks, backfill
        assert backfill["numPartitions"] == len(weeks), backfill
        assert sorted(key["path"] for key in backfill["assetSelection"]) == sorted(paths)
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

        # What the UI showed for one series, Dagster's record holds for the whole group.
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
                    got = read_points(target, NodeId(SPACE, external_id), Window(start, start + WEEK_MS))
                    want = read_points(source, external_id, Window(start - OFFSET_MS, start + WEEK_MS - OFFSET_MS))
                    assert len(want) > 0, (external_id, week)
                    assert len(got) == len(want), (external_id, week, len(got), len(want))
                    # Exactly the shifted copy: timestamps, status codes, values (strings, NaN) alike.
                    assert_same_points(got, Points(want.timestamps + OFFSET_MS, want.values, want.status))
                    counts[external_id, week] = len(got)
                    metadata = record[path]["latest"][week]["metadata"]
                    assert metadata["oid_sync/points_written"] == len(got), (path, week, metadata)
                    check_counts = record[path]["check"][week]["metadata"]
                    assert check_counts["oid_sync/source_points"] == check_counts["oid_sync/target_points"] == len(got)
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
        # Dagster tags each run a sensor requested with the sensor's name; the fallback catalog run (when the
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
        f"catalog by {catalog_by}; backfill {backfill_id} (one run, {run_s:.1f} s) of {len(paths)} series x {weeks}, "
        f"{sum(counts.values()):,} points; backfill phases (s) { {k: round(v, 1) for k, v in phases.items()} }; "
        f"{len(realtime_runs)} realtime runs, {len(beside)} beside the backfill run; stop {stop_s:.1f} s; "
        f"timeline (s) {timings}; screenshots:"
    )
    for path in ui.taken:
        print(f"  {path}")
