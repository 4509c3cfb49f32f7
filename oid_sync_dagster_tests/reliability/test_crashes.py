"""A crash in the middle of a backfill: kill -9 of the run worker and its step processes under `oid-sync dev`.

The code server notices its run process died and marks the run failed; the daemon's run retries (dagster.yaml:
`run_retries`, 2) launch it again from the failure; the backfill completes. Afterwards every (series, week) holds
exactly the shifted source (the second run rewrote what the first had written: no duplicates, nothing lost), and
Dagster's record (the latest materialization's `points_written`, the `complete` check's counts) matches the
target. A run whose step refused a retry (a deleted node) is not rerun: run retries are for dead run workers
(`retry_on_asset_or_op_failure: false`). The local CDF's own kill -9 in mid-insert is in
local_cdf/test_persistence.py.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from cognite.client.data_classes.data_modeling import NodeId

from oid_sync_dagster.local_cdf.server import serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.sync.windows import MINUTE_MS, WEEK_MS, Window
from oid_sync_dagster_tests.conftest import make_client
from oid_sync_dagster_tests.dev_server import HISTORY_STOPPED, REALTIME_SENSOR, dagster_dev, ensure_target_catalog
from oid_sync_dagster_tests.graphql import BACKFILL_SUCCESS, BACKFILL_TAG, poll
from oid_sync_dagster_tests.sync.conftest import Points, assert_same_points, read_points

GROUP = "level"
WEEKS = 2
CHECK = "complete"
SPACE = "oid_sync"
TARGET_PROJECT = "oid-sync"
OFFSET_MS = WEEK_MS + 10 * MINUTE_MS
PARENT_RUN_TAG = "dagster/parent_run_id"
WILL_RETRY_TAG = "dagster/will_retry"
HISTORY_JOB = "oid_history"


def _week_ms(partition_key: str) -> int:
    return int(datetime.strptime(partition_key, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()) * 1000


def _run_processes(instance: dg.DagsterInstance, run_id: str) -> set[int]:
    """The run worker and its step processes: every pid that wrote an event of the run."""
    return {
        entry.dagster_event.pid
        for entry in instance.all_logs(run_id)
        if entry.dagster_event is not None and entry.dagster_event.pid is not None
    }


def _materialized_weeks(instance: dg.DagsterInstance, run_id: str) -> int:
    return len(instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_run_killed_mid_backfill_is_retried_and_completes_exactly(tmp_path: Path) -> None:
    with dagster_dev(tmp_path, extra_env=HISTORY_STOPPED) as dev:  # only the backfill syncs history
        gql, repo = dev.gql, dev.repo
        assets = gql.assets_in_group(repo, GROUP)
        paths = [asset["path"] for asset in assets]
        external_ids = {tuple(asset["path"]): asset["metadata"]["external_id"] for asset in assets}
        weeks = gql.partition_keys(paths[0])[-WEEKS:]
        ensure_target_catalog(gql, repo)
        # The catalog is in place; realtime runs beside the crash would only load the machine (their own kills are
        # reliability/test_cli_kills.py's), so the sensor is stopped as an operator would.
        gql.stop_sensor_for_good(repo, REALTIME_SENSOR)

        backfill_id = gql.launch_partition_backfill(
            asset_selection=paths, partition_names=weeks, title=f"crash: {GROUP} {weeks[0]}..{weeks[-1]}"
        )["backfillId"]
        run_id = poll(
            "the backfill's run to start",
            lambda: next((r["runId"] for r in gql.backfill(backfill_id)["runs"] if r["status"] == "STARTED"), None),
            120,
        )
        with dg.DagsterInstance.from_config(str(dev.home)) as instance:
            # Mid-run: some (series, week) recorded, the rest of the range still to come.
            poll("the run's first week to be recorded", lambda: _materialized_weeks(instance, run_id) or None, 120)
            recorded_before_kill = _materialized_weeks(instance, run_id)
            killed = sorted(_run_processes(instance, run_id))
            assert len(killed) >= 2, f"expected the run worker and a step process, found pids {killed}"
            for pid in killed:
                with suppress(ProcessLookupError):  # a step process that had already ended
                    os.kill(pid, signal.SIGKILL)
            assert recorded_before_kill < len(paths) * WEEKS, "the run finished before it could be killed"

        crashed = gql.wait_for_run(run_id, 60)
        assert crashed["status"] == "FAILURE", crashed
        backfill = gql.wait_for_backfill(backfill_id, 300)
        runs = gql.runs(tags={BACKFILL_TAG: backfill_id})
        if backfill["status"] not in BACKFILL_SUCCESS:
            errors = {run["runId"]: gql.run_errors(run["runId"]) for run in runs}
            pytest.fail(f"backfill {backfill_id} ended {backfill['status']}: {backfill['error']}\nrun errors: {errors}")
        # Exactly one retry, a child of the killed run, and it succeeded.
        retries = [r for r in runs if r["runId"] != run_id]
        assert len(retries) == 1, runs
        retry = retries[0]
        assert retry["status"] == "SUCCESS" and retry["tags"][PARENT_RUN_TAG] == run_id, retry

        record = {tuple(path): gql.partition_record(path, weeks, CHECK) for path in paths}

        # The target, against the source, and against Dagster's record.
        with serve_in_thread(LocalCDFSettings(data_dir=dev.home / "local-cdf")) as cdf:
            source, target = make_client(cdf, "publicdata"), make_client(cdf, TARGET_PROJECT)
            verified = 0
            for path, external_id in external_ids.items():
                for week in weeks:
                    start = _week_ms(week)
                    got = read_points(target, NodeId(SPACE, external_id), Window(start, start + WEEK_MS))
                    want = read_points(source, external_id, Window(start - OFFSET_MS, start + WEEK_MS - OFFSET_MS))
                    assert len(want) > 0, (external_id, week)
                    # Exactly the shifted copy: timestamps, status codes, values (strings, NaN) alike.
                    assert_same_points(got, Points(want.timestamps + OFFSET_MS, want.values, want.status))
                    latest, check = record[path]["latest"][week], record[path]["check"][week]
                    assert latest is not None and latest["metadata"]["oid_sync/points_written"] == len(got), (
                        path,
                        week,
                        latest,
                    )
                    assert check is not None and check["passed"] is True, (path, week, check)
                    assert (
                        check["metadata"]["oid_sync/source_points"]
                        == check["metadata"]["oid_sync/target_points"]
                        == len(got)
                    )
                    verified += len(got)

        # The other side of run retries: a run whose step refused to be retried (a deleted node) is not rerun.
        victim_path = paths[0]
        with serve_in_thread(LocalCDFSettings(data_dir=dev.home / "local-cdf")) as cdf:
            make_client(cdf, TARGET_PROJECT).data_modeling.instances.delete(
                NodeId(SPACE, external_ids[tuple(victim_path)])
            )
        refused_id = gql.launch_run(
            repo, HISTORY_JOB, asset_selection=[victim_path], tags={"dagster/partition": weeks[-1]}
        )
        refused = gql.wait_for_run(refused_id, 120)
        assert refused["status"] == "FAILURE", refused
        will_retry = poll(
            "the refused run's retry decision",
            lambda: gql.run(refused_id)["tags"].get(WILL_RETRY_TAG),
            60,
        )
        assert will_retry == "false", gql.run(refused_id)["tags"]
        assert gql.runs(tags={PARENT_RUN_TAG: refused_id}) == []
        assert gql.run(run_id)["tags"].get(WILL_RETRY_TAG) == "true"  # the killed run was retried

    print(
        f"crash: killed {len(killed)} processes of run {run_id} after {recorded_before_kill} of "
        f"{len(paths) * WEEKS} (series, week) records; retry {retry['runId']} completed; {verified:,} points "
        f"verified at {time.strftime('%H:%M:%S')}"
    )
