"""kill -9 of `oid-sync sync` in the middle of its history run and of its realtime run (mid-insert, the insert
committed): its run stays in flight in the record with nothing executing it. Afterwards `oid-sync status` names it
(exit 1), the sensor of its kind marks it failed and requests a run instead of skipping every tick, and a re-run of
the same command completes exactly (exit 0): the target holds the shifted source from the oldest week to each
series' mark, nothing more, nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from cognite.client.data_classes.data_modeling import NodeId

from oid_sync_dagster.cli import main
from oid_sync_dagster.integration.sensors import KIND_TAG
from oid_sync_dagster.local_cdf.faults import Fault
from oid_sync_dagster.sync import state as sync_state
from oid_sync_dagster.sync.engine import wall_clock_ms
from oid_sync_dagster.sync.windows import WEEK_MS, Window, week_start
from oid_sync_dagster.terminal.location import load_location
from oid_sync_dagster_tests.graphql import poll
from oid_sync_dagster_tests.sync.conftest import assert_same_points, read_points
from oid_sync_dagster_tests.test_cli_sync import GLOB, OFFSET, SELECTED, SPACE, CliEnv, cli_env, synced_weeks

__all__ = ["cli_env"]  # the fixture, shared with test_cli_sync


SENSORS = {"history": "oid_history_sensor", "realtime": "oid_realtime_sensor"}
INSERT_STALL_S = 10.0  # the faulted insert is committed, then answered this late: the kill lands in that wait


def _in_flight_run(home: Path, kind: str) -> dg.DagsterRun | None:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records(
            filters=dg.RunsFilter(tags={KIND_TAG: kind}, statuses=[dg.DagsterRunStatus.STARTED]), limit=1
        )
        return records[0].dagster_run if records else None


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["history", "realtime"])
def test_a_killed_sync_is_named_failed_by_the_sensor_and_rerun_exactly(
    cli_env: CliEnv, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    weeks = "1" if kind == "history" else "0"  # --weeks 0: the catalog, then realtime
    # The run's first datapoint insert (its kind's: the catalog run writes none) is applied, then its answer waits:
    # the process dies mid-insert.
    cli_env.cdf.faults.script(r"/timeseries/data$", [Fault(stall_s=INSERT_STALL_S, applied=True)], method="POST")
    command = [sys.executable, "-m", "oid_sync_dagster.cli", "sync", "--weeks", weeks, "--series", GLOB]
    process = subprocess.Popen(
        [*command, "--dagster-home", str(cli_env.home)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run = poll(
            f"the {kind} run to stall in its first insert",
            lambda: _in_flight_run(cli_env.home, kind) if cli_env.cdf.faults.injected["applied-stall"] else None,
            120.0,
            interval_s=0.1,
        )
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        _, err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, err[-2000:]
    cli_env.cdf.faults.clear()

    # `oid-sync status` names the abandoned run and exits 1.
    assert main(["status", "--dagster-home", str(cli_env.home)]) == 1
    out = capsys.readouterr().out
    line = f"Abandoned: run {run.run_id[:8]} (oid_{kind}) was executed by process {process.pid} on "
    assert line in out, out

    # The sensor marks it failed and requests a run, where it skipped before ("still queued or running").
    with dg.DagsterInstance.from_config(str(cli_env.home)) as instance:
        defs = load_location().defs
        context = dg.build_sensor_context(instance=instance, definitions=defs)
        data = defs.resolve_sensor_def(SENSORS[kind]).evaluate_tick(context)
        assert data.skip_message is None and len(data.run_requests or []) == 1, data.skip_message
        killed = instance.get_run_by_id(run.run_id)
        assert killed is not None and killed.status == dg.DagsterRunStatus.FAILURE
        failure = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert [e.message for e in failure] == [
            f"run {run.run_id[:8]} (oid_{kind}) was executed by process {process.pid} on "
            f"{run.tags['oid_sync/host']}, which is gone (killed?); marked failed so that automation resumes"
        ]

    # The same command again completes exactly.
    before = wall_clock_ms()
    assert cli_env.sync("--weeks", weeks, "--series", GLOB) == 0
    out = capsys.readouterr().out
    oldest = synced_weeks(out, 1, before, wall_clock_ms())[0] if kind == "history" else week_start(before)
    marks = sync_state.read_states(cli_env.target, SPACE, list(SELECTED))
    for external_id in SELECTED:
        mark = marks[external_id].synced_through
        assert mark is not None and mark + OFFSET <= wall_clock_ms() + 1
        window = Window(oldest, mark + OFFSET)
        expected = read_points(cli_env.source, external_id, Window(window.start - OFFSET, window.end - OFFSET))
        expected.timestamps = expected.timestamps + OFFSET
        assert_same_points(read_points(cli_env.target, NodeId(SPACE, external_id), window), expected)
        after = Window(mark + OFFSET, mark + OFFSET + WEEK_MS)
        assert len(read_points(cli_env.target, NodeId(SPACE, external_id), after)) == 0
