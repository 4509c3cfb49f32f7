"""`oid-sync status`: completeness per group and week, and the live edge, read back from the instance that
`oid-sync sync` wrote, as the UI would show it. Same small location and in-thread local CDF as test_cli_sync."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
from cognite.client.data_classes.data_modeling import NodeId
from cognite.client.data_classes.data_modeling.cdm.v1 import CogniteTimeSeriesApply

from oid_sync_dagster.cli import build_parser, main
from oid_sync_dagster.integration.assets import REALTIME_KEY
from oid_sync_dagster.integration.partitions import key_of
from oid_sync_dagster.sync.engine import wall_clock_ms
from oid_sync_dagster.sync.windows import WEEK_MS
from oid_sync_dagster.terminal import status_command
from oid_sync_dagster_tests.test_cli_sync import GLOB, SPACE, CliEnv, cli_env, synced_weeks

__all__ = ["cli_env"]  # the fixture, shared with test_cli_sync

GROUPS = ["flow", "level", "machine", "other", "pressure", "temperature"]  # of the 13 series, sorted


def table(out: str) -> tuple[str, list[list[str]], str]:
    """Header, rows split into cells (columns are two or more spaces apart), and the live-edge line."""
    lines = out.splitlines()
    return lines[0], [re.split(r"\s{2,}", line.strip()) for line in lines[1:-1]], lines[-1]


def test_nothing_to_show_exits_2(cli_env: CliEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert main(["status", "--dagster-home", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"oid-sync status: no Dagster instance at {missing} yet: run `oid-sync sync` or `oid-sync dev`\n"
    )
    assert not missing.exists()  # status never creates an instance
    cli_env.home.mkdir()
    assert cli_env.status() == 2
    assert capsys.readouterr().err == (
        f"oid-sync status: nothing recorded yet in {cli_env.home}: run `oid-sync sync` or `oid-sync dev`\n"
    )
    assert cli_env.status("--weeks", "-2") == 2
    assert cli_env.status("--series", "nope*") == 2
    assert "matches none of the 13 loaded series" in capsys.readouterr().err
    assert main(["status", "--help"]) == 0
    assert "exit codes:\n  0  everything shown is complete" in capsys.readouterr().out


def status_at(cli_env: CliEnv, now_ms: int, *args: str) -> int:
    """`oid-sync status` with its clock set: the weeks it shows are those closed at now_ms."""
    parsed = build_parser().parse_args(["status", *args, "--dagster-home", str(cli_env.home)])
    return status_command.run(parsed, clock=lambda: now_ms)


def test_status_after_syncs(cli_env: CliEnv, capsys: pytest.CaptureFixture[str]) -> None:
    before = wall_clock_ms()
    assert cli_env.sync("--weeks", "1", "--series", GLOB) == 0
    [synced] = synced_weeks(capsys.readouterr().out, 1, before, wall_clock_ms())
    newest, older = key_of(synced), key_of(synced - WEEK_MS)
    at = synced + WEEK_MS  # status's clock: Monday 00:00 after the synced week, so it is the newest closed week
    with dg.DagsterInstance.from_config(str(cli_env.home)) as instance:
        realtime = instance.get_latest_materialization_event(REALTIME_KEY)
        assert realtime is not None and realtime.asset_materialization is not None
        realtime_points = realtime.asset_materialization.metadata["oid_sync/points_written"].value
        realtime_run = realtime.run_id

    # Every series, two weeks: the newest one holds the glob's three series, the older one nothing.
    assert status_at(cli_env, at, "--weeks", "2") == 1
    header, rows, live = table(capsys.readouterr().out)
    assert header == f"13 series: complete / series per group and week (DAGSTER_HOME {cli_env.home})"
    assert rows == [
        ["week", *GROUPS, "all"],
        [newest, "—", "—", "—", "1/1 ✓", "—", "2/2 ✓", "3/13"],
        [older, "—", "—", "—", "—", "—", "—", "—"],
    ]
    assert re.fullmatch(
        r"Live edge: lag \d+s at the last realtime pass \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, \d+s ago\); "
        rf"about \d+s now; {realtime_points:,} points, 0 failed series \(run {realtime_run[:8]}\)",
        live,
    ), live

    # Only what was synced: complete, exit 0.
    assert status_at(cli_env, at, "--weeks", "1", "--series", GLOB) == 0
    header, rows, _ = table(capsys.readouterr().out)
    assert header.startswith(f"3 series matching {GLOB!r}: complete / series per group and week")
    assert rows == [["week", "other", "temperature", "all"], [newest, "1/1 ✓", "2/2 ✓", "3/3 ✓"]]

    # pi:163341 goes bad: a user recreated its node as a string time series. Syncing it again fails its check, so
    # its week, materialized before, no longer counts as complete.
    victim = "pi:163341"
    cli_env.target.data_modeling.instances.delete(NodeId(SPACE, victim))
    cli_env.target.data_modeling.instances.apply(
        CogniteTimeSeriesApply(SPACE, victim, time_series_type="string", is_step=False)
    )
    # Two weeks: they include the synced one even if Monday 00:00 passed since the first sync.
    assert cli_env.sync("--weeks", "2", "--series", victim) == 1
    capsys.readouterr()
    assert status_at(cli_env, at, "--weeks", "1", "--series", GLOB) == 1
    _, rows, live = table(capsys.readouterr().out)
    assert rows == [["week", "other", "temperature", "all"], [newest, "1/1 ✓", "1/2", "2/3"]]
    assert re.search(r" points, 1 failed series \(run [0-9a-f]{8}\)$", live), live
