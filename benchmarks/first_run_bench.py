"""A newcomer's first run: a fresh `oid-sync dev` (what `make run` starts, the environment already installed), timed
from its start until every (series, week) of the history is materialized with a passed `complete` check, with no
click: the sensors alone (the history sensor's range run, the realtime sensor beside it).

What runs: `oid-sync dev` with an empty DAGSTER_HOME and nothing CDF-related in the environment, so it starts its
own local CDF (synthetic `publicdata`, an empty target) exactly as for a new user. The series come from the UI's
GraphQL (the six instrument groups); progress is read from the instance's storage every 5 s (materialized
partitions and the latest `complete` check per (series, week)). Also recorded: the realtime runs in that time, and
the longest gap between one realtime run's end and the next one's start (the live edge never waits behind history).

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
from benchmarks.engine_bench import git_commit
from oid_sync_dagster.integration.evaluations import COMPLETE_CHECK, check_statuses
from oid_sync_dagster.integration.translator import GROUPS
from oid_sync_dagster_tests.dev_server import free_port
from oid_sync_dagster_tests.graphql import DagsterGraphQL

TIMEOUT_S = 900.0


def _progress(instance: dg.DagsterInstance, keys: list[dg.AssetKey], weeks: int) -> tuple[int, int]:
    """(series, week) pairs materialized with a passed check, and how many there are to be."""
    checks = [dg.AssetCheckKey(key, COMPLETE_CHECK) for key in keys]
    statuses = check_statuses(instance, checks)
    done = 0
    for key in keys:
        for partition in instance.get_materialized_partitions(key):
            done += statuses.get((key, partition)) == "SUCCEEDED"
    return done, len(keys) * weeks


def _realtime_gaps(instance: dg.DagsterInstance) -> dict[str, Any]:
    records = instance.get_run_records(filters=dg.RunsFilter(tags={KIND_TAG: "realtime"}))
    spans = sorted((r.start_time, r.end_time) for r in records if r.start_time and r.end_time)
    gaps = [later[0] - earlier[1] for earlier, later in itertools.pairwise(spans)]
    return {"runs": len(spans), "longest_gap_s": round(max(gaps), 1) if gaps else None}


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
        }
        for r in sorted(instance.get_run_records(), key=lambda r: r.create_timestamp)
    ]


def run(weeks: int) -> dict[str, Any]:
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
            with dg.DagsterInstance.from_config(str(home)) as instance:
                while True:
                    done, total = _progress(instance, keys, weeks)
                    elapsed = round(time.monotonic() - started, 1)
                    if not timeline or timeline[-1][1] != done:
                        timeline.append((elapsed, done))
                        print(f"... {elapsed:7.1f} s: {done:,} of {total:,} (series, week)", file=sys.stderr)
                    if done == total:
                        break
                    if elapsed > TIMEOUT_S:
                        raise RuntimeError(f"{done} of {total} after {elapsed} s:\n{dev.tail()}")
                    time.sleep(5)  # a light poll: 363 partition queries compete with the sync for 2 cores
                results["complete_s"] = timeline[-1][0]
                results["pairs"] = total
                results["timeline"] = timeline
                results["history_runs"] = len(
                    instance.get_run_records(filters=dg.RunsFilter(tags={KIND_TAG: "history"}))
                )
                results["realtime"] = _realtime_gaps(instance)
                results["runs"] = _runs(instance, started_wall)
        finally:
            results["stop_s"] = dev.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", type=int, default=12, help="history weeks the shipped config syncs (default 12)")
    parser.add_argument("--out", default="benchmarks/results/first_run.json")
    args = parser.parse_args()
    results = run(args.weeks)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "timeline"}, indent=2))
    print(f"first run: every (series, week) materialized and checked after {results['complete_s']} s (target <= 180)")


if __name__ == "__main__":
    main()
