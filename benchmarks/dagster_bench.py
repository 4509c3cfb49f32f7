"""Dagster's overhead over the engine: the 12-week history of every OID series as a Dagster backfill.

In one run, one local CDF (its own process, a fresh data dir, on the real clock so that Dagster's partitions, the
runs' engine and the engine figure all see the same closed weeks) and one fresh target project per measurement:
- engine: a child process running `SyncEngine.sync_weeks(catalog, weeks)` into project `bench-engine`, with the
  clients Dagster's resource builds (`clients_from_env` against the benchmark server), nodes made untimed first;
- dagster: the real `oid-sync dev` (webserver, daemon, code server) with a fresh DAGSTER_HOME and the shipped
  dagster.yaml, on the benchmark server (`OID_SYNC_LOCAL_CDF_URL`) and its default local target project
  `oid-sync`; both sensors are stopped through the UI's `stopSensor`, the target catalog is materialized
  (untimed), then the same weeks of the same series are launched with `launchPartitionBackfill`, the UI's backfill
  mutation. Its wall time runs from that call to the backfill observed COMPLETED_SUCCESS (polled every 0.5 s).

Verified after each: the engine failed no series; the backfill made one run that succeeded; Dagster recorded a
materialization and a passed `complete` check for every (series, week) in that run; both targets, read back,
hold exactly the same number of points for those weeks. Figures: both walls, the overhead ratio
(dagster / engine - 1) and per asset-partition, the backfill's phases (submit, queue, run, complete), each
shard step's start/end and its engine time (from its own log line), event counts, and peak RSS (VmHWM) of the
engine child and of every Dagster process (run worker and step processes polled from /proc every 0.5 s).

Run: `make bench-dagster` (= `.venv/bin/python -m benchmarks.dagster_bench`; `--weeks 2 --group level` for a quick
try; `--engine-after` measures the engine again after Dagster, ABA). Results go to `benchmarks/results/dagster.json`.
About 12 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from benchmarks._server import ServerProcess, local_cdf_process, status_kb
from benchmarks.engine_bench import (
    Meter,
    add_child_arguments,
    count_target_points,
    loadavg_1m,
    provenance,
    rss_mb,
    write_results,
)
from benchmarks.local_cdf_bench import client
from oid_sync_dagster import launcher
from oid_sync_dagster.clients import clients_from_env
from oid_sync_dagster.config import SyncConfig
from oid_sync_dagster.integration.partitions import key_of
from oid_sync_dagster.integration.translator import OidSyncTranslator
from oid_sync_dagster.sync.engine import SyncEngine, wall_clock_ms
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.windows import WEEK_MS, history_weeks
from oid_sync_dagster_tests.dev_server import free_port
from oid_sync_dagster_tests.graphql import BACKFILL_SUCCESS, BACKFILL_TERMINAL, DagsterGraphQL, poll

ROOT = Path(__file__).resolve().parents[1]
OID_SYNC = Path(sys.executable).with_name("oid-sync")
_NOT_INHERITED = ("DAGSTER_HOME", "CDF_", "IDP_", "OID_SYNC_", "OPEN_ID_")
PORT_ATTEMPTS = 4
ENGINE_PROJECT = "bench-engine"
DAGSTER_PROJECT = "oid-sync"  # OidSyncResource.local_target_project's default: fresh on the fresh server
CATALOG = ["oid", "target_catalog"]
SENSORS = ("oid_history_sensor", "oid_realtime_sensor")
KIND_TAG = "oid_sync/kind"
CHECK = "complete"
ENGINE_LINE = re.compile(r" in (\d+(?:\.\d+)?)s$")  # _series_step's "<summary> in 12.3s" after sync_weeks
BACKFILL_TIMEOUT_S = 1800.0


def selected_catalog(catalog: list[CatalogSeries], group: str | None) -> list[CatalogSeries]:
    translator = OidSyncTranslator()
    return [s for s in catalog if group is None or translator.get_group_name(s) == group]


def engine_client_pair(base_url: str, project: str) -> tuple[Any, Any]:
    """The source and target clients exactly as Dagster's resource builds them for a running local CDF."""
    clients = clients_from_env(SyncConfig(), {}, local_cdf_url=base_url, target_project=project)
    return clients.source, clients.target


# ---------- the engine child ----------


def engine_child(args: argparse.Namespace) -> dict[str, Any]:
    server = ServerProcess(args.server_pid, args.base_url, f"{args.base_url}/oauth2/token")
    source, target = engine_client_pair(args.base_url, args.project)
    config = SyncConfig()
    engine = SyncEngine.from_config(source, target, config)
    catalog = selected_catalog(engine.list_catalog(), args.group)
    engine.sync_catalog(catalog)  # untimed, as Dagster's catalog run is
    weeks = [int(w) for w in args.weeks_ms.split(",")]
    out: dict[str, Any] = {"series": len(catalog), "weeks": len(weeks), "rss_before_mb": rss_mb("VmRSS")}
    with Meter(server, trace_rss=True) as meter:
        result = engine.sync_weeks(catalog, weeks)
    out.update(meter.figures(result.points_written))
    out["failed"] = len(result.failed)
    out["failed_examples"] = sorted(result.failed.values())[:3]
    out["summary_line"] = result.summary_line()
    out["peak_rss_mb"] = rss_mb()
    out["rss_trace_mb"] = meter.rss_trace()
    out["read_back"] = count_target_points(target, catalog, weeks, engine.settings.instance_space)
    return out


def run_engine(server: ServerProcess, weeks: list[int], group: str | None, project: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.dagster_bench", "--child", "--project", project]
    command += ["--server-pid", str(server.pid), "--base-url", server.base_url]
    command += ["--weeks-ms", ",".join(map(str, weeks))] + (["--group", group] if group else [])
    print(f"... engine into project {project}", file=sys.stderr, flush=True)
    load_before = loadavg_1m()
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, cwd=ROOT)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["project"] = project
    figures["loadavg_1m_before_after"] = [load_before, loadavg_1m()]
    if figures["failed"]:
        raise AssertionError(f"engine: {figures['failed']} series failed, e.g. {figures['failed_examples']}")
    if figures["read_back"] != figures["points"]:
        raise AssertionError(f"engine: {figures['points']} points written, {figures['read_back']} read back")
    return figures


# ---------- Dagster's processes ----------


def _stat(pid: int) -> tuple[int, int, float] | None:
    """(ppid, session, CPU seconds so far) of a live process, None once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] in "ZX":
        return None
    return int(fields[1]), int(fields[3]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssPoller:
    """Every 0.5 s: every process of `oid-sync dev`'s session, its cmdline (once), parent and peak RSS (VmHWM)."""

    def __init__(self, session: int) -> None:
        self.session = session
        self.peak_kb: dict[int, int] = {}
        self.cmdline: dict[int, str] = {}
        self.ppid: dict[int, int] = {}
        self.cpu: dict[int, tuple[float, float]] = {}  # pid -> (CPU s when first seen, or 0 if born later; last)
        self._first = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RssPoller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(0.5):
                return

    def sample(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            stat = _stat(pid)
            if stat is None or stat[1] != self.session:
                continue
            try:
                if pid not in self.cmdline:
                    raw = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    self.cmdline[pid] = raw.strip()[:300]
                    self.ppid[pid] = stat[0]
                self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), status_kb(pid, "VmHWM"))
                first = self.cpu.get(pid, (stat[2] if self._first else 0.0, 0.0))[0]
                self.cpu[pid] = (first, stat[2])
            except (OSError, KeyError):
                continue
        self._first = False

    def cpu_seconds(self) -> float:
        """CPU used by Dagster's processes while polled (up to the last sample of each)."""
        return sum(last - first for first, last in self.cpu.values())

    def run_workers(self) -> list[int]:
        return [pid for pid, line in self.cmdline.items() if "execute_run" in line]

    def descendants(self, root: int) -> list[int]:
        found, frontier = [], [root]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, ppid in self.ppid.items() if ppid == parent]
            found += children
            frontier += children
        return found

    def mb(self, pid: int) -> float:
        return round(self.peak_kb[pid] / 1024, 1)


def role(cmdline: str) -> str:
    for needle, name in (
        ("execute_run", "run worker"),
        ("dagster-daemon", "daemon"),
        ("dagster-webserver", "webserver"),
        ("dagster_webserver", "webserver"),
        ("dagster._daemon", "daemon"),
        ("code-server start", "code server (proxy)"),
        ("api grpc", "code server"),
        ("multiprocessing.spawn", "step process"),
        ("multiprocessing.resource_tracker", "resource tracker"),
        ("dagster dev", "dagster dev"),
        ("oid-sync dev", "oid-sync dev"),
    ):
        if needle in cmdline:
            return name
    return "other"


class DevProcess:
    """`oid-sync dev` in a session of its own; its output goes to a log file, lines are watched for readiness."""

    def __init__(self, port: int, home: Path, cwd: Path, env: dict[str, str]) -> None:
        self.log_path = cwd / "oid-sync-dev.log"
        self._log = self.log_path.open("w")
        self.port = port
        self.ready, self.ended = threading.Event(), threading.Event()
        self.process = subprocess.Popen(
            [str(OID_SYNC), "dev", "--port", str(port), "--dagster-home", str(home)],
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._log.write(line)
            self._log.flush()
            if line.startswith("Dagster UI:"):
                self.ready.set()
        self.ended.set()

    def wait_until_ready(self, timeout_s: float) -> bool:
        """True once the UI answers; False if the launcher lost its port to another process (retry on a new one)."""
        deadline = time.monotonic() + timeout_s
        while not self.ready.wait(0.25):
            if self.ended.is_set():
                status = self.process.wait()
                if status == launcher.PORT_IN_USE_STATUS and launcher.port_in_use_line(self.port) in self.tail():
                    return False
                raise RuntimeError(f"oid-sync dev exited with {self.process.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"oid-sync dev did not come up:\n{self.tail()}")
        return True

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> float:
        """SIGTERM to the launcher (it stops Dagster's group); SIGKILL to both groups if that takes over 60 s."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return round(time.monotonic() - started, 1)


# ---------- Dagster's record ----------


def read_record(home: Path, run_id: str, paths: list[list[str]], keys: list[str]) -> dict[str, Any]:
    """The run's event log, read from DAGSTER_HOME's storage: materializations and passed checks per (asset,
    partition), event counts, and each step's start/end, engine time and pid."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef  # private: an instance from a directory, not $DAGSTER_HOME

    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    try:
        started_at = time.monotonic()
        entries = instance.all_logs(run_id)
        read_s = time.monotonic() - started_at
    finally:
        instance.dispose()
    wanted = {(tuple(path), key) for path in paths for key in keys}
    materialized: set[tuple[tuple[str, ...], str]] = set()
    passed: set[tuple[tuple[str, ...], str]] = set()
    counts: Counter[str] = Counter()
    steps: dict[str, dict[str, Any]] = defaultdict(dict)
    run_worker_pid = None
    for entry in entries:
        event = entry.dagster_event
        counts[event.event_type_value if event else "log message"] += 1
        if event is None:
            if entry.step_key:
                steps[entry.step_key].setdefault("first_log", entry.timestamp)
                if found := ENGINE_LINE.search(entry.user_message or ""):
                    steps[entry.step_key]["engine_s"] = float(found.group(1))
                    steps[entry.step_key]["engine_done"] = entry.timestamp
            continue
        kind = event.event_type_value
        if kind == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            materialized.add((tuple(materialization.asset_key.path), materialization.partition))
        elif kind == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if evaluation.check_name == CHECK and evaluation.passed:
                passed.add((tuple(evaluation.asset_key.path), evaluation.partition))
        elif kind in ("PIPELINE_START", "RUN_START"):
            run_worker_pid = event.pid
        elif kind == "STEP_WORKER_STARTING" and entry.step_key:
            steps[entry.step_key]["worker_starting"] = entry.timestamp
        elif kind in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE") and entry.step_key:
            field = "start" if kind == "STEP_START" else "end"
            steps[entry.step_key][field] = entry.timestamp
            steps[entry.step_key]["pid"] = event.pid
            if kind != "STEP_START":
                steps[entry.step_key]["outcome"] = kind
        if entry.step_key:
            steps[entry.step_key]["events"] = steps[entry.step_key].get("events", 0) + 1
    history = home / "history"
    storage_mb = sum(f.stat().st_size for f in history.rglob("*") if f.is_file()) / 2**20 if history.exists() else 0
    return {
        "events": len(entries),
        "event_counts": dict(counts.most_common()),
        "event_log_read_s": round(read_s, 1),
        "storage_mb": round(storage_mb, 1),
        "materialized": len(materialized & wanted),
        "checks_passed": len(passed & wanted),
        "missing_materializations": sorted(map(str, wanted - materialized))[:5],
        "missing_checks": sorted(map(str, wanted - passed))[:5],
        "steps": dict(steps),
        "run_worker_pid": run_worker_pid,
    }


def step_figures(step: dict[str, Any], run_start: float, poller: RssPoller) -> dict[str, Any]:
    """One shard step: when it ran (s after the run started), and where its time went (s)."""
    engine_s = step.get("engine_s")
    begin = step.get("worker_starting", step["start"])
    figures: dict[str, Any] = {
        "start_s": round(step["start"] - run_start, 1),
        "end_s": round(step["end"] - run_start, 1),
        "seconds": round(step["end"] - step["start"], 1),
        "worker_start_s": round(step["start"] - begin, 1),  # spawn, imports, definitions, resource init
        "engine_s": engine_s,
        "events": step.get("events"),
        "pid": step.get("pid"),
        "peak_rss_mb": poller.mb(step["pid"]) if step.get("pid") in poller.peak_kb else None,
    }
    if engine_s is not None and "engine_done" in step:
        figures["before_sync_s"] = round(step["engine_done"] - engine_s - step["start"], 1)  # source edge, ...
        figures["after_sync_s"] = round(step["end"] - step["engine_done"], 1)  # verify per week, the events
    return figures


def run_dagster(server: ServerProcess, scratch: Path, catalog: list[CatalogSeries], weeks: list[int]) -> dict[str, Any]:
    translator = OidSyncTranslator()
    paths = sorted(translator.get_asset_key(s).path for s in catalog)
    keys = sorted(key_of(w) for w in weeks)
    home = scratch / "dagster_home"
    env = {key: value for key, value in os.environ.items() if not key.startswith(_NOT_INHERITED)}
    env.update(PYTHONUNBUFFERED="1", OID_SYNC_LOCAL_CDF_URL=server.base_url)
    out: dict[str, Any] = {"project": DAGSTER_PROJECT, "series": len(paths), "weeks": len(keys), "partitions": keys}
    timeline: dict[str, float] = {}
    started = time.monotonic()
    # The webserver cannot report a port it bound itself: pick one, and pick again should another process take it
    # before the webserver binds it.
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        print(f"... dagster: oid-sync dev on port {port}, DAGSTER_HOME {home}", file=sys.stderr, flush=True)
        dev = DevProcess(port, home, scratch, env)
        try:
            if dev.wait_until_ready(120):
                break
        except BaseException:
            dev.stop()
            raise
    else:
        raise RuntimeError(f"oid-sync dev lost its port {PORT_ATTEMPTS} times in a row")
    try:
        gql = DagsterGraphQL(f"http://127.0.0.1:{port}", timeout_s=300)
        repo = gql.wait_for_repository(180)
        timeline["location loaded"] = round(time.monotonic() - started, 1)
        for sensor in SENSORS:
            gql.stop_sensor(repo, sensor)
        # A run the realtime sensor started before it was stopped must be out of the way (it makes the catalog).
        poll("earlier runs to finish", lambda: True if not gql.runs(statuses=["QUEUED", "STARTING", "STARTED",
             "NOT_STARTED"]) else None, 300)  # fmt: skip
        out["runs_before_backfill"] = len(gql.runs())
        if gql.latest_materialization(CATALOG) is None:
            run_id = gql.launch_run(repo, "oid_realtime", asset_selection=[CATALOG], tags={KIND_TAG: "realtime"})
            if (finished := gql.wait_for_run(run_id, 300))["status"] != "SUCCESS":
                raise AssertionError(f"catalog run {finished['status']}: {gql.run_errors(run_id)}")
        timeline["catalog"] = round(time.monotonic() - started, 1)
        if missing := sorted(set(keys) - set(gql.partition_keys(paths[0]))):
            raise AssertionError(f"weeks {missing} are no partitions of {paths[0]}")

        print(f"... dagster: backfill of {len(paths)} series x {len(keys)} weeks", file=sys.stderr, flush=True)
        load_before = loadavg_1m()
        with RssPoller(dev.process.pid) as poller, Meter(server) as meter:
            launched = gql.launch_partition_backfill(
                asset_selection=paths, partition_names=keys, title=f"bench: {len(paths)} series x {len(keys)} weeks"
            )
            backfill_id = launched["backfillId"]
            backfill = poll(
                "the backfill to finish",
                lambda: found if (found := gql.backfill(backfill_id))["status"] in BACKFILL_TERMINAL else None,
                BACKFILL_TIMEOUT_S,
                interval_s=0.5,
            )
        timeline["backfill done"] = round(time.monotonic() - started, 1)
        out["loadavg_1m_before_after"] = [load_before, loadavg_1m()]
        out.update(
            {
                k: v
                for k, v in meter.figures(0).items()
                if k not in ("points", "points_per_s", "client_cpu_s", "client_cpu_share", "others_cpu_cores")
            }
        )
        dagster_cpu = poller.cpu_seconds()  # webserver, daemon, code server, run worker, steps
        out["dagster_cpu_s"], out["dagster_cpu_share"] = round(dagster_cpu, 1), round(dagster_cpu / meter.wall, 3)
        out["others_cpu_cores"] = round(max(0.0, meter.others_cpu - dagster_cpu) / meter.wall, 2)
        out["backfill_status"] = backfill["status"]
        runs = gql.runs_by_id([run["runId"] for run in backfill["runs"]])
        out["runs"] = len(runs)
        if backfill["status"] not in BACKFILL_SUCCESS or any(run["status"] != "SUCCESS" for run in runs):
            errors = {run["runId"]: gql.run_errors(run["runId"]) for run in runs}
            raise AssertionError(f"backfill {backfill['status']}: {backfill['error']}; runs: {errors}")
        run = min(runs, key=lambda r: r["creationTime"])
        out["backfill_own_s"] = round(backfill["endTimestamp"] - backfill["timestamp"], 2)
        out["phases_s"] = {
            "submit": round(run["creationTime"] - backfill["timestamp"], 2),
            "queue": round(run["startTime"] - run["creationTime"], 2),
            "run": round(run["endTime"] - run["startTime"], 2),
            "complete": round(backfill["endTimestamp"] - run["endTime"], 2),
        }
        out["range_tags"] = [run["tags"].get("dagster/asset_partition_range_start"),
                             run["tags"].get("dagster/asset_partition_range_end")]  # fmt: skip

        record = read_record(home, run["runId"], paths, keys)
        steps = record.pop("steps")
        out["record"] = record
        out["steps"] = {key: step_figures(step, run["startTime"], poller) for key, step in sorted(
            steps.items(), key=lambda kv: kv[1].get("start", 0)) if "start" in step and "end" in step}  # fmt: skip
        worker_pid = record.pop("run_worker_pid")
        workers = [worker_pid] if worker_pid in poller.peak_kb else poller.run_workers()
        out["processes"] = [
            {"pid": pid, "ppid": poller.ppid[pid], "peak_rss_mb": poller.mb(pid),
             "role": "run worker" if pid in workers else role(poller.cmdline[pid]),
             "cmdline": poller.cmdline[pid][:160]}
            for pid in sorted(poller.peak_kb)
        ]  # fmt: skip
        out["run_worker_peak_rss_mb"] = max((poller.mb(pid) for pid in workers), default=None)
        children = [pid for worker in workers for pid in poller.descendants(worker)]
        step_pids = [pid for pid in children if role(poller.cmdline[pid]) == "step process"]
        out["step_process_peak_rss_mb"] = max((poller.mb(pid) for pid in step_pids), default=None)
        out["step_processes"] = len(step_pids)
        if record["materialized"] != len(paths) * len(keys) or record["checks_passed"] != len(paths) * len(keys):
            raise AssertionError(f"Dagster's record is short: {record}")
        print("... dagster: reading project oid-sync back", file=sys.stderr, flush=True)
        target = client(server, DAGSTER_PROJECT)
        out["read_back"] = count_target_points(target, catalog, weeks, SyncConfig().sync_configuration.instance_space)
    except BaseException:
        print(f"oid-sync dev's last lines:\n{dev.tail()}", file=sys.stderr)
        raise
    finally:
        out["stop_s"] = dev.stop()
    out["timeline_s"] = timeline
    return out


# ---------- the parent ----------


def run(weeks_n: int, group: str | None, engine_after: bool) -> dict[str, Any]:
    import dagster as dg

    results = provenance(dagster=dg.__version__, group=group)
    with tempfile.TemporaryDirectory(prefix="oid-sync-dagster-bench-") as scratch, local_cdf_process() as server:
        source, _ = engine_client_pair(server.base_url, ENGINE_PROJECT)
        catalog = selected_catalog(SyncEngine.from_config(source, source, SyncConfig()).list_catalog(), group)
        now = wall_clock_ms()
        weeks = history_weeks(now, weeks_n)
        if week_of_now_changes := (now // WEEK_MS != (now + 3600_000) // WEEK_MS):
            print("warning: a week boundary is less than an hour away", file=sys.stderr)
        results.update(series=len(catalog), weeks=weeks_n, asset_partitions=len(catalog) * weeks_n)
        results["week_boundary_near"] = week_of_now_changes
        results["partitions"] = sorted(key_of(w) for w in weeks)
        results["engine"] = run_engine(server, weeks, group, ENGINE_PROJECT)
        results["dagster"] = run_dagster(server, Path(scratch), catalog, weeks)
        if engine_after:
            results["engine_after"] = run_engine(server, weeks, group, ENGINE_PROJECT + "-2")
        results["server_peak_rss_mb"] = round(server.peak_rss_mb(), 1)
    engine, dagster = results["engine"], results["dagster"]
    if dagster["read_back"] != engine["read_back"]:
        raise AssertionError(f"targets differ: engine {engine['read_back']:,}, dagster {dagster['read_back']:,} points")
    engine_wall = engine["wall_s"]
    if engine_after:
        engine_wall = (engine["wall_s"] + results["engine_after"]["wall_s"]) / 2
    results["engine_wall_s"] = round(engine_wall, 2)
    results["dagster_wall_s"] = dagster["wall_s"]
    results["overhead_ratio"] = round(dagster["wall_s"] / engine_wall - 1, 3)
    results["overhead_ms_per_asset_partition"] = round(
        (dagster["wall_s"] - engine_wall) * 1000 / len(catalog) / weeks_n, 1
    )
    step_engine = [s["engine_s"] for s in dagster["steps"].values() if s["engine_s"] is not None]
    results["steps_engine_s_sum"] = round(sum(step_engine), 1)
    results["steps_s_sum"] = round(sum(s["seconds"] for s in dagster["steps"].values()), 1)
    return results


def print_summary(results: dict[str, Any]) -> None:
    engine, dagster = results["engine"], results["dagster"]
    print(f"{results['series']} series x {results['weeks']} weeks = {results['asset_partitions']} asset-partitions, "
          f"{engine['read_back']:,} points on both targets")  # fmt: skip
    print(f"engine {results['engine_wall_s']:.1f} s (peak RSS {engine['peak_rss_mb']:.0f} MB); dagster backfill "
          f"{dagster['wall_s']:.1f} s, {dagster['runs']} run(s); overhead {results['overhead_ratio']:.1%} "
          f"(target <= 30%), {results['overhead_ms_per_asset_partition']:.1f} ms per asset-partition")  # fmt: skip
    print(f"backfill phases (s): {dagster['phases_s']}")
    print(f"run worker peak RSS {dagster['run_worker_peak_rss_mb']} MB, step processes up to "
          f"{dagster['step_process_peak_rss_mb']} MB ({dagster['step_processes']} seen)")  # fmt: skip
    columns = ("start", "end", "s", "worker", "before", "engine", "after", "events", "RSS MB")
    print(f"{'step':<34}" + "".join(f"{c:>8}" for c in columns))
    for key, step in dagster["steps"].items():
        values = [step.get(k) for k in ("start_s", "end_s", "seconds", "worker_start_s", "before_sync_s", "engine_s",
                                        "after_sync_s", "events", "peak_rss_mb")]  # fmt: skip
        print(f"{key:<34}" + "".join(f"{'-' if v is None else v:>8}" for v in values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", type=int, default=12, help="closed weeks, newest first (default 12)")
    parser.add_argument("--group", help="only this instrument group's series (default: all)")
    parser.add_argument("--engine-after", action="store_true", help="measure the engine again after Dagster")
    parser.add_argument("--out", default="benchmarks/results/dagster.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    add_child_arguments(parser)
    parser.add_argument("--weeks-ms", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(engine_child(args)), flush=True)
        return
    results = run(args.weeks, args.group, args.engine_after)
    write_results(args.out, results)
    print_summary(results)


if __name__ == "__main__":
    main()
