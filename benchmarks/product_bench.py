"""The product path against the bare-SDK ceiling: `oid-sync sync --weeks N`, as a user runs it, against the bare
copy of the same weeks of every OID series, through the same local CDF.

In one run, per pair one local CDF (its own process, a fresh data dir, on the real clock so that the command's
partitions and the ceiling's weeks are the same closed weeks, computed once here) and:
- ceiling: a child process with the clients Dagster's resource builds (`clients_from_env` against the benchmark
  server, project `bench-ceiling`), nodes made untimed by `sync_catalog`, then timed: `ceiling_copy` over the
  weeks, newest first and 100 series at a time, `retrieve_arrays` then `insert_multiple` (engine_bench's ceiling);
- product: the real `oid-sync sync --weeks N` (the catalog, the history weeks and one realtime pass, as three
  Dagster runs in its own process on a persistent instance) with a fresh, empty DAGSTER_HOME and nothing CDF-related
  inherited, on the benchmark server (`OID_SYNC_LOCAL_CDF_URL`) and its default local target project `oid-sync`.
  Its wall time is the whole command, from spawn to exit (imports, the location's load, all three runs). Its
  realtime pass copies the open week so far on top of the history weeks: on a fresh target that is 0-7 days of
  points depending on the weekday (recorded as `command_says.realtime_points`), which the ceiling never copies;
- with `--pairs 2` a second fresh server (the target project `oid-sync` is fixed: no setting selects another
  local one) and the other order, ABBA (pair 1: ceiling then product; pair 2: product then ceiling), so a load that
  drifts over the run favours neither.

Verified: the command exits 0 and made its catalog, history and realtime runs on the expected weeks, all
successful; read back from the target (Bad points included), its history weeks hold exactly the ceiling's points.
Figures: points/s of each (history points over wall), the ratio total ceiling wall / total product wall (the same
points; target: product >= 2.0x the ceiling's points/s in the same run), the same ratio for the history run alone
(from the instance's run record: started to ended, and created to ended), the command's phases (start-up, each
run's set-up and run, exit), the CPU of the command, the server and everyone else on the machine over each wall
time, and the command's peak RSS.

Run: `.venv/bin/python -m benchmarks.product_bench` (`--weeks`, default 4; `--pairs`, default 1). Results go to
`benchmarks/results/product.json`. Refuses to report if a Monday 00:00 UTC passes during the run (the weeks moved).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import dagster as dg
from cognite.client import global_config

from benchmarks._server import ServerProcess, local_cdf_process
from benchmarks.dagster_bench import DAGSTER_PROJECT, KIND_TAG, engine_client_pair
from benchmarks.engine_bench import (
    Meter,
    add_child_arguments,
    ceiling_copy,
    count_target_points,
    loadavg_1m,
    machine_busy_seconds,
    provenance,
    rss_mb,
    write_results,
)
from oid_sync_dagster.config import SyncConfig
from oid_sync_dagster.integration.partitions import key_of
from oid_sync_dagster.sync.engine import SyncEngine, wall_clock_ms
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.windows import history_weeks, week_start

ROOT = Path(__file__).resolve().parents[1]
OID_SYNC = Path(sys.executable).with_name("oid-sync")
CEILING_PROJECT = "bench-ceiling"
PRODUCT_PROJECT = DAGSTER_PROJECT  # OidSyncResource.local_target_project's default; no env var selects another
# Nothing that could point the command at a real CDF, another instance or another local CDF: only the URL given.
NOT_INHERITED = ("COGNITE_", "OID_SYNC_", "DAGSTER_", "CDF_", "IDP_", "OPEN_ID_")
PRODUCT_TIMEOUT_S = 3600.0
KINDS = ("catalog", "history", "realtime")
SUMMARY = re.compile(r"TS: (\d+) .*DPs: ([\d,]+) \(history ([\d,]+), realtime ([\d,]+)\) \| complete: (\d+)/(\d+)")
RATE = re.compile(r"([\d,]+) points/s")


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _catalog(base_url: str) -> tuple[list[CatalogSeries], str]:
    """The source series and the target's instance space, as the engine (and so the command) sees them."""
    source, target = engine_client_pair(base_url, PRODUCT_PROJECT)
    engine = SyncEngine.from_config(source, target, SyncConfig())
    try:
        return engine.list_catalog(), engine.settings.instance_space
    finally:
        engine.close()


# ---------- the ceiling child ----------


def ceiling_child(args: argparse.Namespace) -> dict[str, Any]:
    server = ServerProcess(args.server_pid, args.base_url, f"{args.base_url}/oauth2/token")
    source, target = engine_client_pair(args.base_url, args.project)  # the SDK settings the product's clients get
    engine = SyncEngine.from_config(source, target, SyncConfig())
    try:
        settings = engine.settings
        catalog = engine.list_catalog()
        created = engine.sync_catalog(catalog)  # untimed: the nodes exist before any point is copied
    finally:
        engine.close()
    weeks = [int(w) for w in args.weeks_ms.split(",")]
    out: dict[str, Any] = {"series": len(catalog), "weeks": len(weeks), "nodes_created": len(created.created)}
    out["disable_gzip"] = global_config.disable_gzip
    out["rss_before_mb"] = rss_mb("VmRSS")
    with Meter(server, trace_rss=True) as meter:
        points = ceiling_copy(
            source, target, [s.external_id for s in catalog], weeks, settings.offset_ms, settings.instance_space
        )
    out.update(meter.figures(points))
    out["peak_rss_mb"] = rss_mb()
    out["read_back"] = count_target_points(target, catalog, weeks, settings.instance_space)
    return out


# ---------- the parent: children, measured ----------


def run_measured(
    command: list[str], cwd: Path, stdout: IO[str], stderr: IO[str] | None, env: dict[str, str] | None = None
) -> tuple[int, float, resource.struct_rusage]:
    """Exit code, wall time and the child's own rusage (CPU, peak RSS of it and what it waited for), via wait4:
    RUSAGE_CHILDREN deltas would mix in every other child reaped meanwhile."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    try:
        _pid, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        process.kill()
        process.wait()
        raise
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    return process.returncode, time.perf_counter() - started, usage


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def run_ceiling(server: ServerProcess, scratch: Path, weeks: list[int], project: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.product_bench", "--child", "ceiling", "--project", project]
    command += ["--server-pid", str(server.pid), "--base-url", server.base_url]
    command += ["--weeks-ms", ",".join(map(str, weeks))]
    print(f"... ceiling into project {project}", file=sys.stderr, flush=True)
    load_before = loadavg_1m()
    out_path = scratch / f"{project}.out"
    with out_path.open("w") as out:
        code, wall, usage = run_measured(command, ROOT, out, None)
    if code:
        raise RuntimeError(f"the ceiling child exited with {code}:\n{out_path.read_text()[-2000:]}")
    figures = json.loads(out_path.read_text().strip().splitlines()[-1])
    figures.update(project=project, process_wall_s=round(wall, 2), process_cpu_s=round(_cpu(usage), 1))
    figures["loadavg_1m_before_after"] = [load_before, loadavg_1m()]  # 2 cores: ~2 means only we ran
    if figures["read_back"] != figures["points"]:
        raise AssertionError(f"{project}: {figures['points']} points counted written, {figures['read_back']} read back")
    return figures


def _last_line(text: str, prefix: str, needle: str = "") -> str | None:
    found = [line for line in text.splitlines() if line.startswith(prefix) and needle in line]
    return found[-1] if found else None


def _runs(home: Path, started_wall: float) -> list[dict[str, Any]]:
    """Every run the command made, from its instance: kind, status, partition tags, and when (s after its spawn)."""

    def at(value: float | None) -> float | None:
        return None if value is None else round(value - started_wall, 2)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = sorted(instance.get_run_records(), key=lambda r: r.create_timestamp)
    return [
        {
            "kind": r.dagster_run.tags.get(KIND_TAG),
            "run_id": r.dagster_run.run_id,
            "status": r.dagster_run.status.value,
            "partition": r.dagster_run.tags.get("dagster/partition"),
            "range": [
                r.dagster_run.tags.get("dagster/asset_partition_range_start"),
                r.dagster_run.tags.get("dagster/asset_partition_range_end"),
            ],
            "created_s": at(r.create_timestamp.timestamp()),
            "started_s": at(r.start_time),
            "ended_s": at(r.end_time),
            "seconds": round(r.end_time - r.start_time, 2) if r.start_time and r.end_time else None,
        }
        for r in records
    ]


def phases(runs: list[dict[str, Any]], wall: float) -> dict[str, float]:
    """The command's wall time, cut where its runs were created, started and ended (they add up to the wall)."""
    out = {"start-up (imports, location load)": runs[0]["created_s"]}
    between = 0.0
    for previous, run in zip([None, *runs], runs, strict=False):
        if previous is not None:
            between += run["created_s"] - previous["ended_s"]
        out[f"{run['kind']} run set-up (created to started)"] = round(run["started_s"] - run["created_s"], 2)
        out[f"{run['kind']} run"] = run["seconds"]
    out["between runs"] = round(between, 2)
    out["exit (after the last run)"] = round(wall - runs[-1]["ended_s"], 2)
    return out


def run_product(
    server: ServerProcess, scratch: Path, weeks: list[int], catalog: list[CatalogSeries], space: str, label: str
) -> dict[str, Any]:
    home = scratch / f"dagster_home{label}"  # fresh and empty: the command writes the shipped dagster.yaml
    env = {key: value for key, value in os.environ.items() if not key.startswith(NOT_INHERITED)}
    env.update(PYTHONUNBUFFERED="1", OID_SYNC_LOCAL_CDF_URL=server.base_url, DAGSTER_HOME=str(home))
    command = [str(OID_SYNC), "sync", "--weeks", str(len(weeks)), "--dagster-home", str(home)]
    out_path, err_path = scratch / f"oid-sync-sync{label}.out", scratch / f"oid-sync-sync{label}.err"
    print(f"... product: {' '.join(command[1:])} into project {PRODUCT_PROJECT}", file=sys.stderr, flush=True)
    load_before = loadavg_1m()
    server0, machine0, started_wall = server.cpu_seconds(), machine_busy_seconds(), time.time()
    with out_path.open("w") as out, err_path.open("w") as err:
        code, wall, usage = run_measured(command, scratch, out, err, env)  # scratch: nothing lands in the repo
    server_cpu, command_cpu = server.cpu_seconds() - server0, _cpu(usage)
    others_cpu = max(0.0, machine_busy_seconds() - machine0 - server_cpu - command_cpu)
    stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    if code:
        raise RuntimeError(f"oid-sync sync exited with {code}:\n{stdout[-3000:]}\n--- stderr:\n{stderr[-3000:]}")

    runs = _runs(home, started_wall)
    by_kind = {run["kind"]: run for run in runs}
    if sorted(by_kind) != sorted(KINDS) or len(runs) != len(KINDS) or any(r["status"] != "SUCCESS" for r in runs):
        raise AssertionError(f"expected one successful run of each of {KINDS}, got {runs}")
    keys = sorted(key_of(w) for w in weeks)
    history = by_kind["history"]
    made = [history["partition"]] * 2 if len(keys) == 1 else history["range"]
    if made != [keys[0], keys[-1]]:
        raise AssertionError(f"the command synced weeks {made}, this benchmark's are {keys[0]}..{keys[-1]}")

    print(f"... product: reading project {PRODUCT_PROJECT} back", file=sys.stderr, flush=True)
    _, target = engine_client_pair(server.base_url, PRODUCT_PROJECT)
    points = count_target_points(target, catalog, weeks, space)
    figures: dict[str, Any] = {
        "project": PRODUCT_PROJECT, "command": " ".join(command[1:4]), "series": len(catalog), "weeks": len(weeks),
        "points": points, "read_back": points, "wall_s": round(wall, 2), "points_per_s": round(points / wall),
        "command_cpu_s": round(command_cpu, 1), "server_cpu_s": round(server_cpu, 1),
        "command_cpu_share": round(command_cpu / wall, 3), "server_cpu_share": round(server_cpu / wall, 3),
        "others_cpu_cores": round(others_cpu / wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "loadavg_1m_before_after": [load_before, loadavg_1m()],
    }  # fmt: skip
    history_s = history["seconds"]
    figures["history_run_s"] = history_s
    figures["history_run_points_per_s"] = round(points / history_s)
    figures["history_run_with_setup_s"] = round(history["ended_s"] - history["created_s"], 2)
    figures["phases_s"] = phases(runs, wall)
    figures["runs"] = runs
    # What the command says itself (its history rate counts from the first step, see HistoryTally).
    figures["summary_line"] = _last_line(stdout, "", " | DPs: ")
    figures["history_line"] = _last_line(stderr, "history: ", "| complete ")
    figures["catalog_line"] = _last_line(stderr, "catalog: ")
    figures["realtime_line"] = _last_line(stderr, "realtime: ")
    if figures["summary_line"] and (found := SUMMARY.search(figures["summary_line"])):
        figures["command_says"] = {
            "series": int(found.group(1)), "history_points": _int(found.group(3)),
            "realtime_points": _int(found.group(4)), "complete": [int(found.group(5)), int(found.group(6))],
        }  # fmt: skip
    if figures["history_line"] and (rate := RATE.search(figures["history_line"])):
        figures.setdefault("command_says", {})["history_points_per_s"] = _int(rate.group(1))
    # Everything the command copied: its realtime pass also filled the open week so far (read back too), which the
    # ceiling never copies; points/s over all of it is the command's own rate.
    open_week = week_start(wall_clock_ms())
    realtime = count_target_points(target, catalog, [open_week], space)
    if realtime != figures.get("command_says", {}).get("realtime_points"):
        raise AssertionError(f"the open week holds {realtime} points, the command says {figures.get('command_says')}")
    figures["realtime_read_back"] = realtime
    figures["all_points_per_s"] = round((points + realtime) / wall)
    return figures


# ---------- the parent: pairs and figures ----------


def run(weeks_n: int, pairs: int) -> dict[str, Any]:
    results = provenance(dagster=dg.__version__, weeks=weeks_n, pairs=[])
    weeks = history_weeks(wall_clock_ms(), weeks_n)  # once: both sides, every pair, the same closed weeks
    results["partitions"] = sorted(key_of(w) for w in weeks)
    with tempfile.TemporaryDirectory(prefix="oid-sync-product-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        for pair in range(1, pairs + 1):
            # A fresh server per pair: the command's target project is fixed, and a target already holding the
            # weeks would not be the same work. ABBA: pair 2 runs the product first.
            suffix, label = ("", "") if pair == 1 else (f"_{pair}", f"-{pair}")
            order = ("ceiling", "product") if pair % 2 else ("product", "ceiling")
            with local_cdf_process(None) as server:
                catalog, space = _catalog(server.base_url)
                results["series"] = len(catalog)
                for kind in order:
                    if kind == "ceiling":
                        results[kind + suffix] = run_ceiling(server, scratch, weeks, CEILING_PROJECT + label)
                    else:
                        results[kind + suffix] = run_product(server, scratch, weeks, catalog, space, label)
                results[f"server_peak_rss_mb{suffix}"] = round(server.peak_rss_mb(), 1)
            ceiling, product = results["ceiling" + suffix], results["product" + suffix]
            if product["read_back"] != ceiling["read_back"]:
                raise AssertionError(
                    f"pair {pair}: the product's target holds {product['read_back']:,} points of the history weeks, "
                    f"the ceiling's {ceiling['read_back']:,}"
                )
            results["pairs"].append(
                {
                    "order": ", ".join(order),
                    "ceiling_points_per_s": ceiling["points_per_s"],
                    "product_points_per_s": product["points_per_s"],
                    "product_over_ceiling": round(ceiling["wall_s"] / product["wall_s"], 3),
                    "product_all_points_over_ceiling": round(product["all_points_per_s"] / ceiling["points_per_s"], 3),
                    "history_run_over_ceiling": round(ceiling["wall_s"] / product["history_run_s"], 3),
                    "history_run_with_setup_over_ceiling": round(
                        ceiling["wall_s"] / product["history_run_with_setup_s"], 3
                    ),
                }
            )
    if history_weeks(wall_clock_ms(), weeks_n) != weeks:
        raise RuntimeError(
            f"a Monday 00:00 UTC passed during the run: the {weeks_n} newest closed weeks are no longer "
            f"{results['partitions']}, so the two sides may not have copied the same weeks; run it again"
        )
    keys = [("" if p == 1 else f"_{p}") for p in range(1, pairs + 1)]
    walls = {kind: sum(results[kind + k]["wall_s"] for k in keys) for kind in ("ceiling", "product")}
    history_wall = sum(results["product" + k]["history_run_s"] for k in keys)
    results["points"] = results["ceiling"]["read_back"]
    results["product_over_ceiling"] = round(walls["ceiling"] / walls["product"], 3)  # same points on both
    all_points = sum(results["product" + k]["points"] + results["product" + k]["realtime_read_back"] for k in keys)
    ceiling_rate = sum(results["ceiling" + k]["points"] for k in keys) / walls["ceiling"]
    results["product_all_points_over_ceiling"] = round(all_points / walls["product"] / ceiling_rate, 3)
    results["history_run_over_ceiling"] = round(walls["ceiling"] / history_wall, 3)
    with_setup = sum(results["product" + k]["history_run_with_setup_s"] for k in keys)
    results["history_run_with_setup_over_ceiling"] = round(walls["ceiling"] / with_setup, 3)
    return results


def print_table(results: dict[str, Any]) -> None:
    header = ("run", "points", "wall s", "points/s", "client CPU", "server CPU", "others, cores", "peak RSS MB")
    rows: list[tuple[str, ...]] = [header]
    for pair in range(1, len(results["pairs"]) + 1):
        for kind in ("ceiling", "product"):
            key = kind + ("" if pair == 1 else f"_{pair}")
            r = results[key]
            client_share = r["client_cpu_share"] if kind == "ceiling" else r["command_cpu_share"]
            rows.append(
                (
                    key, f"{r['points']:,}", f"{r['wall_s']:.1f}", f"{r['points_per_s']:,}", f"{client_share:.0%}",
                    f"{r['server_cpu_share']:.0%}", f"{r['others_cpu_cores']:.2f}", f"{r['peak_rss_mb']:.0f}",
                )
            )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"{results['series']} series x {results['weeks']} weeks ({results['partitions'][0]}.."
          f"{results['partitions'][-1]}), {results['points']:,} history points on every target")  # fmt: skip
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    for number, pair in enumerate(results["pairs"], start=1):
        product = results["product" + ("" if number == 1 else f"_{number}")]
        print(f"pair {number} ({pair['order']}): product / ceiling {pair['product_over_ceiling']:.2f}x; history run "
              f"{product['history_run_s']:.1f} s ({product['history_run_points_per_s']:,} points/s) / ceiling "
              f"{pair['history_run_over_ceiling']:.2f}x, with its set-up ({product['history_run_with_setup_s']:.1f} s) "
              f"{pair['history_run_with_setup_over_ceiling']:.2f}x")  # fmt: skip
        print(f"  command phases (s): {product['phases_s']}")
        print(f"  the command says: {product['history_line']}")
        print(f"                    {product['summary_line']}")
    print(f"product / ceiling: {results['product_over_ceiling']:.2f}x (target >= 2.0x); history run alone / ceiling: "
          f"{results['history_run_over_ceiling']:.2f}x, with its set-up "
          f"{results['history_run_with_setup_over_ceiling']:.2f}x")  # fmt: skip
    print(f"product's points/s over everything it copied (history and the open week) / ceiling's: "
          f"{results['product_all_points_over_ceiling']:.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", type=int, default=4, help="newest closed weeks, on both sides (default 4)")
    parser.add_argument("--pairs", type=int, default=1, help="ceiling/product pairs, ABBA order (default 1)")
    parser.add_argument("--out", default="benchmarks/results/product.json")
    # Internal: the ceiling's measurement in this (child) process; prints its figures as one JSON line.
    parser.add_argument("--child", choices=["ceiling"], help=argparse.SUPPRESS)
    add_child_arguments(parser)
    parser.add_argument("--weeks-ms", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(ceiling_child(args)), flush=True)
        return
    if args.weeks < 1 or args.pairs < 1:
        parser.error("--weeks and --pairs must be 1 or more")
    results = run(args.weeks, args.pairs)
    write_results(args.out, results)
    print_table(results)


if __name__ == "__main__":
    main()
