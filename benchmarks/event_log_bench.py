"""What one event costs Dagster's event log: the floor under every per-(series, week) materialization and check.

A history run of 12 weeks x 363 series makes Dagster write about 13,000 events: a planned materialization per
(series, week) before the run starts (in the daemon), then a materialization and a `complete` evaluation per
(series, week) (in the step processes). This measures one such write alone: `report_runless_asset_event` of an
`AssetMaterialization` with a partition, in a loop, on a fresh instance of the shipped topology:
- sqlite: the shipped `dagster.yaml` (what `oid-sync dev` runs on);
- postgres (`--postgres`): the shipped `postgres.yaml` against a throwaway PostgreSQL server on loopback (initdb,
  as the topology tests do; needs the server binaries).

Figures: wall and CPU per event (this process's CPU: for PostgreSQL the client's side only), and the share of CPU
in SQLAlchemy's statement compilation (cProfile over a second, smaller loop): Dagster's SQLite storage creates an
engine per connection, so every statement is compiled afresh; dagster-postgres keeps one engine but opens a
connection (NullPool) per write.

Run: `.venv/bin/python -m benchmarks.event_log_bench` (`--events`, `--postgres`). Results go to
`benchmarks/results/event_log.json`.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any
from unittest.mock import patch

import dagster as dg

from benchmarks.engine_bench import git_commit, write_results

ASSET = dg.AssetKey(["oid", "bench_series"])


def _write(instance: dg.DagsterInstance, n: int, offset: int = 0) -> None:
    for i in range(offset, offset + n):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=ASSET, partition=f"week-{i}", metadata={"points": i})
        )


def measure(instance: dg.DagsterInstance, events: int) -> dict[str, Any]:
    _write(instance, 20)  # tables, shards and caches exist before the timed part
    wall, cpu = time.perf_counter(), time.process_time()
    _write(instance, events, offset=20)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    profile = cProfile.Profile()
    profile.enable()
    _write(instance, max(events // 5, 50), offset=20 + events)
    profile.disable()
    stats = pstats.Stats(profile)
    total = sum(entry[2] for entry in stats.stats.values())  # type: ignore[attr-defined]
    compile_s = sum(
        entry[3]
        for (path, _line, name), entry in stats.stats.items()  # type: ignore[attr-defined]
        if name == "_compile_w_cache" and "sqlalchemy" in path
    )
    return {
        "events": events,
        "wall_ms_per_event": round(wall * 1000 / events, 2),
        "cpu_ms_per_event": round(cpu * 1000 / events, 2),
        "sqlalchemy_compile_share_of_cpu": round(compile_s / total, 3) if total else None,
        "event_log_storage": type(instance.event_log_storage).__name__,
    }


def _template(name: str) -> str:
    return resources.files("oid_sync_dagster").joinpath("dagster_home", name).read_text(encoding="utf-8")


def sqlite(events: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="oid-sync-event-log-") as home:
        Path(home, "dagster.yaml").write_text(_template("dagster.yaml"), encoding="utf-8")
        with dg.DagsterInstance.from_config(home) as instance:
            return measure(instance, events)


def postgres(events: int) -> dict[str, Any]:
    from oid_sync_dagster_tests.topology.postgres_server import running_postgres

    with running_postgres() as server, tempfile.TemporaryDirectory(prefix="oid-sync-event-log-") as home:
        server.create_database("dagster", "dagster", "bench-only")
        Path(home, "dagster.yaml").write_text(_template("postgres.yaml"), encoding="utf-8")
        env = {
            "DAGSTER_PG_HOST": server.host,
            "DAGSTER_PG_PORT": str(server.port),
            "DAGSTER_PG_USERNAME": "dagster",
            "DAGSTER_PG_PASSWORD": "bench-only",
            "DAGSTER_PG_DB": "dagster",
        }
        with patch.dict(os.environ, env), dg.DagsterInstance.from_config(home) as instance:
            return measure(instance, events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000, help="events in the timed loop (default 1000)")
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL server")
    parser.add_argument("--out", default="benchmarks/results/event_log.json")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "dagster": dg.__version__,
        "sqlite": sqlite(args.events),
    }
    if args.postgres:
        results["postgres"] = postgres(args.events)
    write_results(args.out, results)
    json.dump(results, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
