"""The sync engine against its ceiling: 12 weeks of history for every OID series, through the local CDF.

In one run, one local CDF (its own process, a fresh data dir, its data clock frozen at NOW_MS so every run copies
the same points) and one fresh target project per measurement, each measurement in a fresh child process:
- ceiling: a bare script with the same SDK and settings doing only what any copy must, week by week (newest first)
  and 100 series at a time, sequentially: `retrieve_arrays` of the source window, then `insert_multiple` of the
  same arrays shifted by the offset, onto nodes created beforehand (untimed);
- engine: `SyncEngine.sync_weeks(catalog, history_weeks(now, 12))` with the default config (nodes made untimed by
  `sync_catalog`), then realtime passes: one that fills the open week, then some after moving the clock 10 min;
- ceiling and engine twice, in ABBA order (ceiling, engine, engine, ceiling), so a load that drifts over the run
  favours neither; the ratio is total ceiling wall over total engine wall (both copy the same points);
- peak RSS (VmHWM) of the engine process for 1, 4 and 12 weeks, and of the ceiling's for 12, plus RSS over time.

Both sides run with `global_config.disable_gzip = True` and `disable_pypi_version_check = True`, the rest SDK
defaults. Every target is read back and counted after the timed part; the engine must write exactly the ceiling's
points, with no failed series. Figures: points/s of each, their ratio, the CPU of client, server and everyone
else on the machine over wall time (others' CPU is how noisy a shared machine was during that measurement).

Run: `make bench-engine` (= `.venv/bin/python -m benchmarks.engine_bench`; `--weeks`, `--pairs`, `--rss-weeks`,
`--realtime-passes` to vary). Results go to `benchmarks/results/engine.json`. About 18 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from cognite.client import CogniteClient, global_config
from cognite.client import __version__ as sdk_version
from cognite.client.data_classes.data_modeling import NodeId

from benchmarks._server import FileClock, ServerProcess, local_cdf_process, status_kb
from benchmarks.local_cdf_bench import client
from oid_sync_dagster.config import SyncConfig
from oid_sync_dagster.sync.engine import EngineSettings, SyncEngine
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.windows import MINUTE_MS, WEEK_MS, history_weeks, source_window_for_week

# Tuesday 2026-11-24 12:00:00 UTC (the tests' frozen now): the open week then holds 1.5 days for realtime to fill.
NOW_MS = 1_795_521_600_000
SERIES_PER_BATCH = 100
REALTIME_STEP_MS = 10 * MINUTE_MS


def configure_sdk() -> dict[str, Any]:
    """The SDK settings of both sides, returned so the results record them."""
    global_config.disable_gzip = True
    global_config.disable_pypi_version_check = True
    datapoints = global_config.concurrency_settings.datapoints
    return {
        "cognite_sdk": sdk_version,
        "disable_gzip": global_config.disable_gzip,
        "disable_pypi_version_check": global_config.disable_pypi_version_check,
        "max_workers": global_config.max_workers,
        "datapoints_concurrency": {"read": datapoints.read, "write": datapoints.write},
    }


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used (all cores, idle and iowait excluded), /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Over one timed section: wall time, this process's CPU, the server's, everyone else's, and RSS over time.

    Everyone else's CPU (other users of this shared machine) is what makes a run noisy: in cores, 0 is a quiet
    machine, 1 means one of the two cores was taken from the benchmark.
    """

    def __init__(self, server: ServerProcess, trace_rss: bool = False) -> None:
        self.server, self._trace_rss = server, trace_rss
        self._rss: list[tuple[float, float]] = []
        self._stop = threading.Event()

    def _sample_rss(self) -> None:
        while not self._stop.wait(0.5):
            self._rss.append((time.perf_counter() - self._t0, rss_mb("VmRSS")))

    def __enter__(self) -> Meter:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self._cpu0, self._server0 = usage.ru_utime + usage.ru_stime, self.server.cpu_seconds()
        self._machine0 = machine_busy_seconds()
        self._t0 = time.perf_counter()
        self._sampler = threading.Thread(target=self._sample_rss, daemon=True) if self._trace_rss else None
        if self._sampler is not None:
            self._sampler.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self._t0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.client_cpu = usage.ru_utime + usage.ru_stime - self._cpu0
        self.server_cpu = self.server.cpu_seconds() - self._server0
        self.others_cpu = max(0.0, machine_busy_seconds() - self._machine0 - self.client_cpu - self.server_cpu)
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join()

    def rss_trace(self, slices: int = 6) -> list[float]:
        """The highest RSS (MB) in each of `slices` equal parts of the section: flat, or growing with time."""
        peaks = [0.0] * slices
        for at, mb in self._rss:
            part = min(slices - 1, int(at / self.wall * slices))
            peaks[part] = max(peaks[part], mb)
        return peaks

    def figures(self, points: int) -> dict[str, Any]:
        return {
            "points": points, "wall_s": round(self.wall, 2), "points_per_s": round(points / self.wall),
            "client_cpu_s": round(self.client_cpu, 1), "server_cpu_s": round(self.server_cpu, 1),
            "client_cpu_share": round(self.client_cpu / self.wall, 3),
            "server_cpu_share": round(self.server_cpu / self.wall, 3),
            "others_cpu_cores": round(self.others_cpu / self.wall, 2),
        }  # fmt: skip


def rss_mb(field: str = "VmHWM") -> float:
    return round(status_kb("self", field) / 1024, 1)


def count_target_points(target: CogniteClient, catalog: list[CatalogSeries], weeks: list[int], space: str) -> int:
    """Read every target week back (Bad points included) and count: what was really written."""
    total = 0
    for week in weeks:
        for start in range(0, len(catalog), SERIES_PER_BATCH):
            nodes = [s.node_id(space) for s in catalog[start : start + SERIES_PER_BATCH]]
            arrays = target.time_series.data.retrieve_arrays(
                instance_id=nodes, start=week, end=week + WEEK_MS, limit=None, include_status=True,
                ignore_bad_datapoints=False, treat_uncertain_as_bad=False,
            )  # fmt: skip
            total += sum(len(a) for a in arrays)
    return total


# ---------- the child processes: one measurement each ----------


def ceiling_copy(source: CogniteClient, target: CogniteClient, xids: list[str], weeks: list[int], offset: int,
                 space: str) -> int:  # fmt: skip
    """The bare copy: read a week of 100 series, insert it shifted, next. Returns the points written."""
    shift = np.timedelta64(offset, "ms")
    written = 0
    for week in weeks:
        window = source_window_for_week(week, offset)
        for start in range(0, len(xids), SERIES_PER_BATCH):
            arrays = source.time_series.data.retrieve_arrays(
                external_id=xids[start : start + SERIES_PER_BATCH], start=window.start, end=window.end, limit=None,
                include_status=True, ignore_bad_datapoints=False, treat_uncertain_as_bad=False,
            )  # fmt: skip
            items = []
            for array in arrays:
                if not len(array.timestamp):
                    continue
                array.timestamp = array.timestamp + shift
                if array.null_timestamps:
                    array.null_timestamps = {ts + offset for ts in array.null_timestamps}
                items.append({"instance_id": NodeId(space, array.external_id), "datapoints": array})
                written += len(array.timestamp)
            target.time_series.data.insert_multiple(items)
    return written


def child(args: argparse.Namespace) -> dict[str, Any]:
    configure_sdk()
    server = ServerProcess(args.server_pid, args.base_url, f"{args.base_url}/oauth2/token")
    clock = FileClock(Path(args.clock_file))
    source, target = client(server, "publicdata"), client(server, args.project)
    engine = SyncEngine(source, target, EngineSettings.from_config(SyncConfig()), clock=clock.ms)
    settings = engine.settings
    catalog = engine.list_catalog()
    created = engine.sync_catalog(catalog)  # untimed on both sides: the nodes exist before any point is copied
    weeks = history_weeks(clock.ms(), args.weeks)
    out: dict[str, Any] = {"series": len(catalog), "weeks": args.weeks, "nodes_created": len(created.created)}
    out["rss_before_mb"] = rss_mb("VmRSS")

    with Meter(server, trace_rss=True) as meter:
        if args.child == "ceiling":
            points = ceiling_copy(
                source, target, [s.external_id for s in catalog], weeks, settings.offset_ms, settings.instance_space
            )
        else:
            result = engine.sync_weeks(catalog, weeks)
            points = result.points_written
            out["failed"] = len(result.failed)
            out["failed_examples"] = sorted(result.failed.values())[:3]
            out["summary_line"] = result.summary_line()
    out.update(meter.figures(points))
    out["peak_rss_mb"] = rss_mb()
    out["rss_trace_mb"] = meter.rss_trace()
    out["read_back"] = count_target_points(target, catalog, weeks, settings.instance_space)

    if args.realtime_passes:
        out["realtime"] = realtime_passes(engine, catalog, clock, server, args.realtime_passes)
    return out


def realtime_passes(
    engine: SyncEngine, catalog: list[CatalogSeries], clock: FileClock, server: ServerProcess, passes: int
) -> list[dict[str, Any]]:
    """One pass that fills the open week, then `passes` more, each after moving the shared clock 10 minutes."""
    runs = []
    for number in range(passes + 1):
        if number:
            clock.set(clock.ms() + REALTIME_STEP_MS)
        with Meter(server) as meter:
            result = engine.sync_realtime(catalog)
        runs.append(
            {
                "pass": "fills the open week" if number == 0 else f"+{REALTIME_STEP_MS // MINUTE_MS} min",
                "seconds": round(meter.wall, 3),
                "points": result.points_written,
                "failed": len(result.failed),
                "server_cpu_s": round(meter.server_cpu, 3),
                "summary_line": result.summary_line(),
            }
        )
    return runs


# ---------- the parent: the server, the clock and the children ----------


def git_commit() -> str:
    """HEAD, marked dirty when the code under test (package or benchmarks) differs from it."""
    root = Path(__file__).parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "oid_sync_dagster", "benchmarks"],
            cwd=root, capture_output=True, text=True,
        )  # fmt: skip
    except OSError:
        return "unknown"
    return head.stdout.strip() + (" (dirty)" if dirty.stdout.strip() else "") if head.returncode == 0 else "unknown"


def provenance(**figures: Any) -> dict[str, Any]:
    """The head of every results file: when, on what machine and code, with which SDK settings; then `figures`."""
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": platform.platform(),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "commit": git_commit(),
        "sdk": configure_sdk(),
        **figures,
    }


def add_child_arguments(parser: argparse.ArgumentParser) -> None:
    """The hidden arguments a benchmark passes to its own measurement child: where the server is, which project."""
    parser.add_argument("--project", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)


def write_results(out: str, results: dict[str, Any]) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(results, indent=2) + "\n")


def loadavg_1m() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def run_child(
    server: ServerProcess, clock_file: Path, kind: str, weeks: int, label: str = "", **extra: Any
) -> dict[str, Any]:
    FileClock(clock_file).set(NOW_MS)  # every measurement sees the same data, whatever ran before it
    project = f"bench-{kind}-{weeks}w{label}"
    command = [sys.executable, "-m", "benchmarks.engine_bench", "--child", kind, "--weeks", str(weeks)]
    command += ["--project", project, "--server-pid", str(server.pid), "--base-url", server.base_url]
    command += ["--clock-file", str(clock_file)]
    for flag, value in extra.items():
        if value:
            command += [f"--{flag.replace('_', '-')}", str(value)]
    print(f"... {kind}, {weeks} week(s) into project {project}", file=sys.stderr, flush=True)
    load_before = loadavg_1m()
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, cwd=Path(__file__).parents[1])
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["project"] = project
    figures["loadavg_1m_before_after"] = [load_before, loadavg_1m()]  # 2 cores: ~2 means only we ran
    if figures["read_back"] != figures["points"]:
        raise AssertionError(f"{project}: {figures['points']} points counted written, {figures['read_back']} read back")
    if figures.get("failed"):
        raise AssertionError(f"{project}: {figures['failed']} series failed, e.g. {figures['failed_examples']}")
    if failed_passes := [run for run in figures.get("realtime", []) if run["failed"]]:
        raise AssertionError(f"{project}: realtime passes with failed series: {failed_passes}")
    return figures


def run(weeks: int, pairs: int, rss_weeks: list[int], realtime: int) -> dict[str, Any]:
    results = provenance(data_now_ms=NOW_MS, weeks=weeks, pairs=[])
    with tempfile.TemporaryDirectory(prefix="oid-sync-bench-clock-") as scratch:
        clock_file = Path(scratch) / "now_ms"
        FileClock(clock_file).set(NOW_MS)
        with local_cdf_process(clock_file) as server:
            for pair in range(1, pairs + 1):
                # ABBA: pair 2 runs the engine first, so a load that drifts over the run does not favour one side.
                suffix = "" if pair == 1 else f"_{pair}"
                order = ("ceiling", "engine") if pair % 2 else ("engine", "ceiling")
                for kind in order:
                    passes = realtime if kind == "engine" and pair == 1 else 0
                    label = "" if pair == 1 else f"-{pair}"
                    results[kind + suffix] = run_child(server, clock_file, kind, weeks, label, realtime_passes=passes)
                ceiling, engine = results["ceiling" + suffix], results["engine" + suffix]
                if engine["points"] != ceiling["points"]:
                    raise AssertionError(f"engine wrote {engine['points']} points, the ceiling {ceiling['points']}")
                results["pairs"].append(
                    {
                        "order": ", ".join(order),
                        "ceiling_points_per_s": ceiling["points_per_s"],
                        "engine_points_per_s": engine["points_per_s"],
                        "engine_over_ceiling": round(engine["points_per_s"] / ceiling["points_per_s"], 3),
                    }
                )
            keys = [("" if p == 1 else f"_{p}") for p in range(1, pairs + 1)]
            walls = {kind: sum(results[kind + k]["wall_s"] for k in keys) for kind in ("ceiling", "engine")}
            results["engine_over_ceiling"] = round(walls["ceiling"] / walls["engine"], 3)  # same points on both
            cpu = {kind: sum(results[kind + k]["client_cpu_s"] for k in keys) for kind in ("ceiling", "engine")}
            results["client_cpu_engine_over_ceiling"] = round(cpu["engine"] / cpu["ceiling"], 3)
            results["rss_by_weeks"] = {str(weeks): results["engine"]["peak_rss_mb"]}
            for n in rss_weeks:
                results[f"engine_{n}w"] = run_child(server, clock_file, "engine", n)
                results["rss_by_weeks"][str(n)] = results[f"engine_{n}w"]["peak_rss_mb"]
            results["rss_by_weeks"] = dict(sorted(results["rss_by_weeks"].items(), key=lambda kv: int(kv[0])))
            results["server_peak_rss_mb"] = round(server.peak_rss_mb(), 1)
    return results


def print_table(results: dict[str, Any]) -> None:
    header = ("run", "points", "wall s", "points/s", "client CPU", "server CPU", "others, cores", "peak RSS MB")
    rows: list[tuple[str, ...]] = [header]
    runs = [
        kind + ("" if p == 1 else f"_{p}")
        for p in range(1, len(results["pairs"]) + 1)
        for kind in ("ceiling", "engine")
    ]
    runs += sorted((k for k in results if k.startswith("engine_") and k.endswith("w")), key=lambda k: int(k[7:-1]))
    for key in runs:
        r = results[key]
        rows.append(
            (
                f"{key} ({r['weeks']} w)", f"{r['points']:,}", f"{r['wall_s']:.1f}", f"{r['points_per_s']:,}",
                f"{r['client_cpu_share']:.0%}", f"{r['server_cpu_share']:.0%}", f"{r['others_cpu_cores']:.2f}",
                f"{r['peak_rss_mb']:.0f}",
            )
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    for pair in results["pairs"]:
        print(f"pair ({pair['order']}): engine / ceiling {pair['engine_over_ceiling']:.0%}")
    print(f"engine / ceiling: {results['engine_over_ceiling']:.0%} (target >= 300%)")
    print(f"client CPU for the same points, engine / ceiling: {results['client_cpu_engine_over_ceiling']:.2f}")
    print(f"peak RSS by weeks: {results['rss_by_weeks']} MB (target <= 300, flat)")
    print(f"engine RSS over the {results['weeks']}-week run, by sixths: {results['engine']['rss_trace_mb']} MB")
    for run in results["engine"].get("realtime", []):
        target = "" if run["pass"] == "fills the open week" else " (target <= 0.5 s)"
        print(f"realtime pass, {run['pass']}: {run['seconds']:.2f} s, {run['points']:,} points{target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", type=int, default=12, help="history weeks for ceiling and engine (default 12)")
    parser.add_argument("--pairs", type=int, default=2, help="ceiling/engine pairs, ABBA order (default 2)")
    parser.add_argument("--rss-weeks", default="1,4", help="more engine runs for peak RSS, in weeks (default 1,4)")
    parser.add_argument("--realtime-passes", type=int, default=3, help="realtime passes after +10 min (default 3)")
    parser.add_argument("--out", default="benchmarks/results/engine.json")
    # Internal: one measurement in this (child) process; prints its figures as one JSON line.
    parser.add_argument("--child", choices=["ceiling", "engine"], help=argparse.SUPPRESS)
    add_child_arguments(parser)
    parser.add_argument("--clock-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return
    rss_weeks = [int(n) for n in args.rss_weeks.split(",") if n.strip()]
    results = run(args.weeks, args.pairs, rss_weeks, args.realtime_passes)
    write_results(args.out, results)
    print(json.dumps(results, indent=2))
    print_table(results)


if __name__ == "__main__":
    main()
