"""`oid-sync sync` from a terminal: the real command on a real Dagster instance against the local CDF.

The code location is the shipped one (`oid_sync_dagster.definitions`), pointed at an in-thread local CDF through
OID_SYNC_LOCAL_CDF_URL and kept small through OID_SYNC_CONFIG (`external_id_prefix: pi:1633`: 13 series in all six
groups), so a week of three series and the realtime pass take seconds. Every count is compared with the target.
"""

from __future__ import annotations

import _thread
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeId, SpaceApply
from cognite.client.data_classes.data_modeling.cdm.v1 import CogniteTimeSeriesApply

# private: Dagster exports no check-status enum (the product compares its stored name, evaluations.CHECK_FAILED)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from oid_sync_dagster.cli import build_parser, main
from oid_sync_dagster.integration.assets import CATALOG_KEY, REALTIME_KEY
from oid_sync_dagster.integration.partitions import key_of, week_of
from oid_sync_dagster.integration.sensors import KIND_TAG
from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.sync.engine import wall_clock_ms
from oid_sync_dagster.sync.windows import MINUTE_MS, WEEK_MS, Window, history_weeks
from oid_sync_dagster.terminal import sync_command
from oid_sync_dagster.terminal.progress import HistoryTally, PlainView
from oid_sync_dagster_tests.conftest import make_client
from oid_sync_dagster_tests.sync.conftest import Points, assert_same_points, read_points

SPACE = "oid_sync"  # the config's default instance space
TARGET_PROJECT = "oid-sync"  # OidSyncResource.local_target_project
OFFSET = WEEK_MS + 10 * MINUTE_MS
PREFIX = "pi:1633"  # the location's catalog: 13 series
GLOB = "pi:16334*"  # pi:163340 (other, digital), pi:163341 and pi:163347 (temperature, analog)
SELECTED = {"pi:163340": "other", "pi:163341": "temperature", "pi:163347": "temperature"}
CATALOG_SIZE = 13
_NOT_INHERITED = ("CDF_", "IDP_", "OID_SYNC_", "OPEN_ID_", "DAGSTER_")


def asset_key(external_id: str, group: str) -> dg.AssetKey:
    return dg.AssetKey(["oid", group, external_id.replace(":", "_")])


KEYS = {xid: asset_key(xid, group) for xid, group in SELECTED.items()}


@dataclass
class CliEnv:
    home: Path
    cdf: RunningLocalCDF
    source: CogniteClient
    target: CogniteClient

    def sync(self, *args: str) -> int:
        return main(["sync", *args, "--dagster-home", str(self.home)])

    def status(self, *args: str) -> int:
        return main(["status", *args, "--dagster-home", str(self.home)])


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliEnv]:
    """The shipped location on a small catalog and an in-thread local CDF (on the wall clock, as Dagster is)."""
    for name in list(os.environ):
        if name.startswith(_NOT_INHERITED):
            monkeypatch.delenv(name)
    config = tmp_path / "oid_sync.yaml"
    config.write_text(f"sync_configuration:\n  external_id_prefix: '{PREFIX}'\n")
    monkeypatch.setenv("OID_SYNC_CONFIG", str(config))
    home = tmp_path / "dagster_home"
    # The command exports DAGSTER_HOME itself; set here first so that monkeypatch puts the old value back.
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with serve_in_thread(LocalCDFSettings(data_dir=tmp_path / "local-cdf")) as cdf:
        monkeypatch.setenv("OID_SYNC_LOCAL_CDF_URL", cdf.base_url)
        yield CliEnv(home, cdf, make_client(cdf, "publicdata"), make_client(cdf, TARGET_PROJECT))


def synced_weeks(summary: str, n: int, before: int, after: int) -> list[int]:
    """The weeks a `--weeks n` sync chose (oldest first), from its summary line: the n newest closed weeks at some
    instant between `before` and `after` (two clock readings), so a Monday 00:00 crossed during the sync is allowed."""
    found = re.search(r"\| weeks: (\d+) \((\d{4}-\d\d-\d\d)(?:\.\.(\d{4}-\d\d-\d\d))?\) \|", summary)
    assert found is not None and int(found.group(1)) == n, summary
    oldest, newest = week_of(found.group(2)), week_of(found.group(3) or found.group(2))
    weeks = list(range(oldest, newest + 1, WEEK_MS))
    assert weeks in (sorted(history_weeks(before, n)), sorted(history_weeks(after, n))), (summary, before, after)
    return weeks


def shifted_source(source: CogniteClient, external_id: str, week: int) -> Points:
    points = read_points(source, external_id, Window(week - OFFSET, week + WEEK_MS - OFFSET))
    return Points(points.timestamps + OFFSET, points.values, points.status)


def target_week(target: CogniteClient, external_id: str, week: int) -> Points:
    return read_points(target, NodeId(SPACE, external_id), Window(week, week + WEEK_MS))


def check_status(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, AssetCheckExecutionRecordStatus]:
    infos = instance.event_log_storage.get_asset_check_partition_info([dg.AssetCheckKey(key, "complete")])
    return {info.partition_key: info.latest_execution_status for info in infos if info.partition_key}


def week_points(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> int:
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    materialization = record.asset_materialization
    assert materialization is not None
    return int(materialization.metadata["oid_sync/points_written"].value)  # type: ignore[arg-type]


def runs_by_kind(instance: dg.DagsterInstance) -> dict[str, dg.DagsterRun]:
    runs = [record.dagster_run for record in instance.get_run_records()]
    by_kind = {run.tags[KIND_TAG]: run for run in runs}
    assert len(by_kind) == len(runs) == 3, [run.tags for run in runs]
    return by_kind


def history_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("history: ")]


def test_bad_arguments_and_config_exit_2(cli_env: CliEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_env.sync("--weeks", "two") == 2  # argparse's own usage error, returned rather than raised
    assert "invalid int value: 'two'" in capsys.readouterr().err
    assert cli_env.sync("--weeks", "-1") == 2
    assert "--weeks must be 0 or more, got -1" in capsys.readouterr().err
    assert cli_env.sync("--weeks", "13") == 2  # the location has 12 closed weeks (history_weeks)
    assert "--weeks 13: the location has 12 closed weeks of history" in capsys.readouterr().err
    assert cli_env.sync("--weeks", "1", "--series", "nope*") == 2
    assert "--series 'nope*' matches none of the 13 loaded series" in capsys.readouterr().err
    bad = cli_env.home.parent / "bad.yaml"
    bad.write_text("time_offset:\n  offset_weeks: -1\n")
    os.environ["OID_SYNC_CONFIG"] = str(bad)  # restored by the fixture's monkeypatch
    assert cli_env.sync("--weeks", "1") == 2
    err = capsys.readouterr().err
    assert err.startswith("oid-sync sync: configuration: ") and "offset_weeks" in err
    assert main(["sync", "--help"]) == 0
    help_text = capsys.readouterr().out
    assert "exit codes:\n  0  every selected series is complete" in help_text
    assert "\n  1  some series or weeks failed" in help_text and "\n  2  usage or configuration error" in help_text
    with dg.DagsterInstance.from_config(str(cli_env.home)) as instance:
        assert instance.get_run_records() == []  # nothing ran


def test_one_week_of_a_glob(cli_env: CliEnv, capsys: pytest.CaptureFixture[str]) -> None:
    before = wall_clock_ms()
    assert cli_env.sync("--weeks", "1", "--series", GLOB) == 0
    out, err = capsys.readouterr()
    [week] = synced_weeks(out, 1, before, wall_clock_ms())
    pk = key_of(week)

    # The target: exactly the source's points of the week, shifted, for every selected series.
    counts = {}
    for external_id in SELECTED:
        expected = shifted_source(cli_env.source, external_id, week)
        assert len(expected) > 0
        assert_same_points(target_week(cli_env.target, external_id, week), expected)
        counts[external_id] = len(expected)
    points = sum(counts.values())

    # Dagster's record, as the UI shows it: the week materialized with its counts, its check passed, three runs.
    with dg.DagsterInstance.from_config(str(cli_env.home)) as instance:
        for external_id, key in KEYS.items():
            assert instance.get_materialized_partitions(key) == {pk}
            assert week_points(instance, key, pk) == counts[external_id]
            assert check_status(instance, key) == {pk: AssetCheckExecutionRecordStatus.SUCCEEDED}
        unselected = asset_key("pi:163353", "level")
        assert instance.get_materialized_partitions(unselected) == set()
        runs = runs_by_kind(instance)
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs.values())
        assert all(run.tags["oid_sync/launched_by"] == "oid-sync sync" for run in runs.values())
        assert runs["catalog"].job_name == runs["realtime"].job_name == "oid_realtime"
        assert runs["catalog"].asset_selection == {CATALOG_KEY}
        assert runs["realtime"].asset_selection == {REALTIME_KEY}
        history = runs["history"]
        assert history.job_name == "oid_history" and history.tags["dagster/partition"] == pk
        assert history.asset_selection == set(KEYS.values())  # only the glob's series, in the two shards they are in
        catalog_event = instance.get_latest_materialization_event(CATALOG_KEY)
        assert catalog_event is not None and catalog_event.asset_materialization is not None
        assert catalog_event.asset_materialization.metadata["oid_sync/created"].value == CATALOG_SIZE
        realtime_event = instance.get_latest_materialization_event(REALTIME_KEY)
        assert realtime_event is not None and realtime_event.asset_materialization is not None
        realtime_points = realtime_event.asset_materialization.metadata["oid_sync/points_written"].value
        assert realtime_event.asset_materialization.metadata["oid_sync/failed_series"].value == 0

    # Progress (stderr, plain lines on a non-terminal): one line per finished (group, week), then the totals.
    lines = history_lines(err)
    assert lines[0] == "history: 1 week x 3 series in 2 groups"
    assert [line.split(" | ")[0] for line in lines[1:3]] == [
        # The shard with more series first (its step's `dagster/priority`): temperature before other.
        f"history: {pk} temperature done ({counts['pi:163341'] + counts['pi:163347']:,} points)",
        f"history: {pk} other done ({counts['pi:163340']:,} points)",
    ]
    final = lines[-1].split(" | ")
    assert final[:5] == [
        "history: 3/3 series-weeks",
        "weeks 1/1",
        "series 3/3",
        f"{points:,} points",
        "complete 3/3",
    ]
    assert re.fullmatch(r"[\d,]+ points/s", final[5]) and re.fullmatch(r"\d+\.\ds", final[6])
    assert len(lines) == 4
    assert re.search(rf"^catalog: {CATALOG_SIZE} series \| {CATALOG_SIZE} created, 0 updated, 0 unchanged", err, re.M)
    assert re.search(
        rf"^realtime: {CATALOG_SIZE} series \| {realtime_points:,} points \| lag \d+s \| 0 failed", err, re.M
    )

    # The summary (stdout).
    summary, runs_line = out.splitlines()
    assert re.fullmatch(
        rf"\d+\.\ds \| weeks: 1 \({pk}\) \| TS: 3 \({re.escape(GLOB)}\) \| "
        rf"DPs: {points + realtime_points:,} \(history {points:,}, realtime {realtime_points:,}\) \| "
        r"complete: 3/3 \| Errors: 0",
        summary,
    ), summary
    assert runs_line.startswith(f"Runs: catalog {runs['catalog'].run_id}, history {history.run_id}, realtime ")


def test_a_failing_series_exits_1_and_the_others_complete(cli_env: CliEnv, capsys: pytest.CaptureFixture[str]) -> None:
    # A user made pi:163341's node a string time series: its source is numeric, so it is never written into.
    victim = "pi:163341"
    cli_env.target.data_modeling.spaces.apply(SpaceApply(SPACE))
    cli_env.target.data_modeling.instances.apply(
        CogniteTimeSeriesApply(SPACE, victim, time_series_type="string", is_step=False)
    )
    before = wall_clock_ms()
    assert cli_env.sync("--weeks", "2", "--series", GLOB) == 1
    out, err = capsys.readouterr()
    weeks = synced_weeks(out, 2, before, wall_clock_ms())
    pks = [key_of(w) for w in weeks]

    counts = {}
    for external_id in SELECTED.keys() - {victim}:
        for week in weeks:
            expected = shifted_source(cli_env.source, external_id, week)
            assert len(expected) > 0
            assert_same_points(target_week(cli_env.target, external_id, week), expected)
            counts[external_id, key_of(week)] = len(expected)
    assert all(len(target_week(cli_env.target, victim, week)) == 0 for week in weeks)

    with dg.DagsterInstance.from_config(str(cli_env.home)) as instance:
        for external_id, key in KEYS.items():
            if external_id == victim:
                assert instance.get_materialized_partitions(key) == set()
                assert check_status(instance, key) == dict.fromkeys(pks, AssetCheckExecutionRecordStatus.FAILED)
                continue
            assert instance.get_materialized_partitions(key) == set(pks)
            assert check_status(instance, key) == dict.fromkeys(pks, AssetCheckExecutionRecordStatus.SUCCEEDED)
            assert {pk: week_points(instance, key, pk) for pk in pks} == {pk: counts[external_id, pk] for pk in pks}
        runs = runs_by_kind(instance)
        history = runs["history"]
        assert history.status == dg.DagsterRunStatus.FAILURE  # the step names the failed series; the UI shows it
        assert history.tags["dagster/asset_partition_range_start"] == pks[0]
        assert history.tags["dagster/asset_partition_range_end"] == pks[1]
        assert history.tags["dagster/max_retries"] == "0"
        assert runs["catalog"].status == runs["realtime"].status == dg.DagsterRunStatus.SUCCESS
        realtime_event = instance.get_latest_materialization_event(REALTIME_KEY)
        assert realtime_event is not None and realtime_event.asset_materialization is not None
        assert realtime_event.asset_materialization.metadata["oid_sync/failed_series"].value == 1
        realtime_points = realtime_event.asset_materialization.metadata["oid_sync/points_written"].value

    points = sum(counts.values())
    final = history_lines(err)[-1].split(" | ")
    assert final[:5] == [
        "history: 6/6 series-weeks",  # the victim's weeks are done too: their checks failed
        "weeks 2/2",
        "series 3/3",
        f"{points:,} points",
        "complete 4/6",
    ]
    assert re.search(
        r"^catalog: 13 series \| 12 created, 0 updated, 0 unchanged \| "
        r"never written into: 1 of another type, 0 missing",
        err,
        re.M,
    )

    lines = out.splitlines()
    assert re.fullmatch(
        rf"\d+\.\ds \| weeks: 2 \({pks[0]}\.\.{pks[1]}\) \| TS: 3 \({re.escape(GLOB)}\) \| "
        rf"DPs: {points + realtime_points:,} \(history {points:,}, realtime {realtime_points:,}\) \| "
        r"complete: 4/6 \| Errors: 1",
        lines[0],
    ), lines[0]
    conflict = f"{victim}: the target node is a string time series but the source series is numeric; skipped"
    assert lines[1:] == [
        "Failed series (1):",
        f"  {victim}  history {pks[0]}, {pks[1]} and realtime: {conflict}",  # one line per series and reason
        f"Runs: catalog {runs['catalog'].run_id}, history {history.run_id}, realtime {runs['realtime'].run_id} "
        f"(DAGSTER_HOME {cli_env.home})",
    ]


def test_the_console_script_in_local_mode(tmp_path: Path) -> None:
    """The installed `oid-sync` in a pipe, as a script or CI runs it: no local CDF given, so the command serves one
    on $DAGSTER_HOME/local-cdf for its runs; the target's data stays there, beside Dagster's record."""
    config = tmp_path / "oid_sync.yaml"
    config.write_text(f"sync_configuration:\n  external_id_prefix: '{PREFIX}'\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
    env["OID_SYNC_CONFIG"] = str(config)
    home = tmp_path / "dagster_home"
    oid_sync = Path(sys.executable).with_name("oid-sync")
    command = [str(oid_sync), "sync", "--weeks", "1", "--series", "pi:163347", "--dagster-home", str(home)]
    before = wall_clock_ms()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\x1b[" not in done.stderr  # no redrawing, no colour in a pipe
    [week] = synced_weeks(done.stdout, 1, before, wall_clock_ms())
    with serve_in_thread(LocalCDFSettings(data_dir=home / "local-cdf")) as cdf:
        actual = target_week(make_client(cdf, TARGET_PROJECT), "pi:163347", week)
        expected = shifted_source(make_client(cdf, "publicdata"), "pi:163347", week)
    assert_same_points(actual, expected)
    assert history_lines(done.stderr)[-1].startswith(
        f"history: 1/1 series-weeks | weeks 1/1 | series 1/1 | {len(expected):,} points | complete 1/1 | "
    )
    assert " | complete: 1/1 | Errors: 0" in done.stdout.splitlines()[0]


def test_ctrl_c_stops_the_sync_and_records_what_finished(cli_env: CliEnv, capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C after the first finished (group, week): the run stops at its next event, the UI does not show it as
    running forever, the week that finished stays recorded, and no realtime pass follows."""

    class CtrlC(PlainView):
        interrupted = False

        def advance(self, tally: HistoryTally, completed: tuple[str, str] | None) -> None:
            super().advance(tally, completed)
            if completed is not None and not self.interrupted:  # the first (group, week) finished
                self.interrupted = True
                _thread.interrupt_main()  # what SIGINT does to the main thread

    before = wall_clock_ms()
    args = build_parser().parse_args(["sync", "--weeks", "12", "--series", GLOB, "--dagster-home", str(cli_env.home)])
    assert sync_command.run(args, view=CtrlC()) == 130
    assert "oid-sync sync: interrupted" in capsys.readouterr().err
    with dg.DagsterInstance.from_config(str(cli_env.home)) as instance:
        runs = [record.dagster_run for record in instance.get_run_records()]
        assert sorted(run.tags[KIND_TAG] for run in runs) == ["catalog", "history"]
        history = next(run for run in runs if run.tags[KIND_TAG] == "history")
        assert history.status == dg.DagsterRunStatus.CANCELED  # canceling, then canceled: Dagster's own flow
        newest = history.tags["dagster/asset_partition_range_end"]  # the newest closed week when the sync began
        assert newest in {key_of(history_weeks(before, 1)[0]), key_of(history_weeks(wall_clock_ms(), 1)[0])}
        done = {key: instance.get_materialized_partitions(key) for key in KEYS.values()}
        # The first (group, week): temperature's newest week (the shard with more series goes first).
        assert newest in done[KEYS["pi:163341"]] and newest in done[KEYS["pi:163347"]]
        assert sum(map(len, done.values())) < 3 * 12  # stopped well before the end
