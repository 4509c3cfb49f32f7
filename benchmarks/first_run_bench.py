"""A newcomer's first run: a fresh `oid-sync dev` (what `make run` starts, the environment already installed), timed
from its start until every (series, week) of the history is materialized with a passed `complete` check, with no
click: the sensors alone (the history sensor's range run, the realtime sensor beside it).

What runs: `oid-sync dev` with an empty DAGSTER_HOME and nothing CDF-related in the environment, so it starts its
own local CDF (synthetic `publicdata`, an empty target) exactly as for a new user. The series come from the UI's
GraphQL (the six instrument groups); progress is read from the instance's storage every 5 s (materialized
partitions and the latest `complete` check per (series, week)). Also recorded: the history run's steps, and the
realtime runs until `--watch-s` after the start (default 600: ten minutes that include the history run): the longest
gap between one realtime run's end and the next one's start (the live edge never waits behind history), and each
realtime materialization's `lag_s` (0 when every series reached the live edge).

Run: `make bench-first-run` (= `.venv/bin/python -m benchmarks.first_run_bench`). Results go to
`benchmarks/results/first_run.json`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg

from benchmarks.dagster_bench import _NOT_INHERITED, KIND_TAG, PORT_ATTEMPTS, DevProcess
from benchmarks.engine_bench import git_commit, machine_busy_seconds, write_results
from oid_sync_dagster.integration.assets import REALTIME_KEY
from oid_sync_dagster.integration.evaluations import COMPLETE_CHECK, check_statuses
from oid_sync_dagster.integration.records import RealtimeRecord
from oid_sync_dagster.integration.translator import GROUPS
from oid_sync_dagster_tests.dev_server import free_port
from oid_sync_dagster_tests.graphql import DagsterGraphQL

TIMEOUT_S = 900.0


def _complete_pairs(instance: dg.DagsterInstance, keys: list[dg.AssetKey]) -> int:
    """The same count from every asset's materialized partitions and check statuses: read once, at the end."""
    statuses = check_statuses(instance, [dg.AssetCheckKey(key, COMPLETE_CHECK) for key in keys])
    return sum(
        statuses.get((key, partition)) == "SUCCEEDED"
        for key in keys
        for partition in instance.get_materialized_partitions(key)
    )


class _Progress:
    """(series, week) pairs materialized with a passed `complete` check, read incrementally from the history runs'
    own event records, a cursor per run and event type. Reading every asset's materialized partitions and check
    statuses every 5 s instead took 12 % of all CPU samples in a profiled first run (py-spy over every process),
    on the same 2 cores as the sync it times."""

    def __init__(self, instance: dg.DagsterInstance, keys: list[dg.AssetKey]) -> None:
        self._instance, self._keys = instance, set(keys)
        self._cursors: dict[tuple[str, dg.DagsterEventType], str | None] = {}
        self._materialized: set[tuple[dg.AssetKey, str]] = set()
        self._passed: dict[tuple[dg.AssetKey, str], bool] = {}  # the latest `complete` evaluation

    def _read(self, run_id: str, of_type: dg.DagsterEventType) -> None:
        cursor = self._cursors.get((run_id, of_type))
        while True:
            page = self._instance.get_records_for_run(run_id, cursor=cursor, of_type=of_type, limit=5000)
            for record in page.records:
                event = record.event_log_entry.dagster_event
                if event is None:
                    continue
                if of_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
                    if record.asset_key in self._keys and record.partition_key is not None:
                        self._materialized.add((record.asset_key, record.partition_key))
                    continue
                evaluation = event.event_specific_data
                if (
                    isinstance(evaluation, dg.AssetCheckEvaluation)
                    and evaluation.check_name == COMPLETE_CHECK
                    and evaluation.asset_key in self._keys
                    and evaluation.partition is not None
                ):
                    self._passed[(evaluation.asset_key, evaluation.partition)] = evaluation.passed
            cursor = page.cursor
            if not page.has_more:
                break
        self._cursors[(run_id, of_type)] = cursor

    def done(self) -> int:
        # Oldest run first: a retry's evaluation of a (series, week) is the one that stands.
        runs = self._instance.get_run_records(filters=dg.RunsFilter(tags={KIND_TAG: "history"}), ascending=True)
        for record in runs:
            for of_type in (dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION):
                self._read(record.dagster_run.run_id, of_type)
        return sum(1 for pair in self._materialized if self._passed.get(pair))


def _realtime_gaps(instance: dg.DagsterInstance) -> dict[str, Any]:
    records = instance.get_run_records(filters=dg.RunsFilter(tags={KIND_TAG: "realtime"}))
    spans = sorted((r.start_time, r.end_time) for r in records if r.start_time and r.end_time)
    gaps = [later[0] - earlier[1] for earlier, later in itertools.pairwise(spans)]
    return {"runs": len(spans), "longest_gap_s": round(max(gaps), 1) if gaps else None}


def _realtime_lags(instance: dg.DagsterInstance, started_wall: float) -> list[list[float | None]]:
    """[seconds after start, lag_s] of every realtime materialization: 0 when every series reached the live edge."""
    records = instance.fetch_materializations(REALTIME_KEY, limit=1000, ascending=True).records
    lags = []
    for record in records:
        realtime = RealtimeRecord.read(record.asset_materialization.metadata) if record.asset_materialization else None
        lags.append([round(record.timestamp - started_wall, 1), None if realtime is None else realtime.lag_s])
    return lags


def _steps(instance: dg.DagsterInstance, run_id: str, started_wall: float) -> list[dict[str, Any]]:
    """A run's steps: started and ended (seconds after `oid-sync dev` started) and how many events each wrote."""
    steps: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        page = instance.get_records_for_run(run_id, cursor=cursor, limit=5000)
        for record in page.records:
            entry = record.event_log_entry
            if entry.step_key is None or entry.dagster_event is None:
                continue
            step = steps.setdefault(entry.step_key, {"step": entry.step_key, "started": None, "ended": None})
            step["events"] = step.get("events", 0) + 1
            kind = entry.dagster_event.event_type
            if kind == dg.DagsterEventType.STEP_START:
                step["started"] = round(entry.timestamp - started_wall, 1)
            elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                step["ended"] = round(entry.timestamp - started_wall, 1)
        cursor = page.cursor
        if not page.has_more:
            break
    return sorted(steps.values(), key=lambda step: step["started"] or 0.0)


def _runs(instance: dg.DagsterInstance, started_wall: float) -> list[dict[str, Any]]:
    """Every run: kind, and created/started/ended in seconds after `oid-sync dev` started."""

    def at(value: float | None) -> float | None:
        return None if value is None else round(value - started_wall, 1)

    return [
        {
            "kind": r.dagster_run.tags.get(KIND_TAG),
            "status": r.dagster_run.status.value,
            "created": at(r.create_timestamp.timestamp()),
            "started": at(r.start_time),
            "ended": at(r.end_time),
            **(
                {"steps": _steps(instance, r.dagster_run.run_id, started_wall)}
                if r.dagster_run.tags.get(KIND_TAG) == "history"
                else {}
            ),
        }
        for r in sorted(instance.get_run_records(), key=lambda r: r.create_timestamp)
    ]


def run(weeks: int, watch_s: float) -> dict[str, Any]:
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "nproc": os.cpu_count(),
        "weeks": weeks,
    }
    with tempfile.TemporaryDirectory(prefix="oid-sync-first-run-") as scratch_dir:
        scratch = Path(scratch_dir)
        home = scratch / "dagster_home"
        env = {key: value for key, value in os.environ.items() if not key.startswith(_NOT_INHERITED)}
        env["PYTHONUNBUFFERED"] = "1"
        started, started_wall = time.monotonic(), time.time()
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            dev = DevProcess(port, home, scratch, env)
            if dev.wait_until_ready(120):
                break
            started, started_wall = time.monotonic(), time.time()
        else:
            raise RuntimeError("oid-sync dev lost its port every time")
        try:
            results["ui_ready_s"] = round(time.monotonic() - started, 1)
            gql = DagsterGraphQL(f"http://127.0.0.1:{port}", timeout_s=300)
            repo = gql.wait_for_repository(180)
            keys = [dg.AssetKey(node["path"]) for group in GROUPS for node in gql.assets_in_group(repo, group)]
            results["series"] = len(keys)
            timeline = []
            total = len(keys) * weeks
            with dg.DagsterInstance.from_config(str(home)) as instance:
                progress = _Progress(instance, keys)
                busy_before, at_before = machine_busy_seconds(), time.monotonic()
                while True:
                    done = progress.done()
                    elapsed = round(time.monotonic() - started, 1)
                    busy, at = machine_busy_seconds(), time.monotonic()
                    # The machine's busy cores since the last poll (all processes; 2 is all of this machine).
                    cores = round((busy - busy_before) / (at - at_before), 2) if timeline else None  # 1st: no span
                    busy_before, at_before = busy, at
                    timeline.append((elapsed, done, cores))
                    if len(timeline) == 1 or timeline[-2][1] != done:
                        print(f"... {elapsed:7.1f} s: {done:,} of {total:,} (series, week)", file=sys.stderr)
                    if done == total:
                        break
                    if elapsed > TIMEOUT_S:
                        raise RuntimeError(f"{done} of {total} after {elapsed} s:\n{dev.tail()}")
                    time.sleep(5)  # a poll: there is no event to wait on
                results["complete_s"] = next(at for at, done, _ in timeline if done == total)
                # The live edge over a window that includes the history run: keep watching realtime until then.
                while time.monotonic() - started < watch_s:
                    time.sleep(5)
                # The incremental count agrees with the instance's own partition and check status view.
                assert _complete_pairs(instance, keys) == total, "the event records and the instance disagree"
                results["pairs"] = total
                results["timeline"] = timeline
                results["history_runs"] = len(
                    instance.get_run_records(filters=dg.RunsFilter(tags={KIND_TAG: "history"}))
                )
                results["realtime"] = _realtime_gaps(instance)
                results["realtime"]["watched_s"] = round(time.monotonic() - started, 1)
                results["realtime"]["lag_s"] = _realtime_lags(instance, started_wall)
                results["runs"] = _runs(instance, started_wall)
        finally:
            results["stop_s"] = dev.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", type=int, default=12, help="history weeks the shipped config syncs (default 12)")
    parser.add_argument(
        "--watch-s",
        type=float,
        default=600.0,
        help="keep recording realtime runs (their gaps and lag_s) until this long after the start (default 600)",
    )
    parser.add_argument("--out", default="benchmarks/results/first_run.json")
    args = parser.parse_args()
    results = run(args.weeks, args.watch_s)
    write_results(args.out, results)
    print(json.dumps({k: v for k, v in results.items() if k != "timeline"}, indent=2))
    print(f"first run: every (series, week) materialized and checked after {results['complete_s']} s (target <= 180)")


if __name__ == "__main__":
    main()
