"""`oid-sync dev` as a process, for the tests and scripts that drive a real Dagster (webserver, daemon, code server).

Starts the launcher the way a user does, with an environment cleaned of anything that would point it at a real
CDF or another Dagster instance, so it always runs in local mode on a fresh DAGSTER_HOME; pumps its output into a
queue; stops it with SIGTERM and, whatever happens, leaves no process of its groups behind. `ensure_target_catalog`
is the first thing every such test needs: the series assets depend on the target catalog's nodes.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oid_sync_dagster import launcher
from oid_sync_dagster_tests.graphql import DagsterGraphQL, RepositorySelector, WaitTimeout, poll

OID_SYNC = Path(sys.executable).with_name("oid-sync")
# Settings that would select a real CDF, another instance or an external local CDF: never inherited.
_NOT_INHERITED = ("DAGSTER_HOME", "CDF_", "IDP_", "OID_SYNC_", "OPEN_ID_")
HOST = "127.0.0.1"

CATALOG = ["oid", "target_catalog"]
REALTIME = ["oid", "realtime"]
REALTIME_JOB = "oid_realtime"
HISTORY_SENSOR, REALTIME_SENSOR = "oid_history_sensor", "oid_realtime_sensor"
# `oid-sync dev` with the history sensor stopped from the start (automation.history_sensor's environment variable):
# stopped through the UI instead, the sensor's first tick may already have requested the whole history.
HISTORY_STOPPED = {"OID_SYNC_HISTORY_SENSOR": "stopped"}
KIND_TAG = "oid_sync/kind"

READY_TIMEOUT_S = 90.0
PORT_ATTEMPTS = 4
LOAD_TIMEOUT_S = 90.0
SENSOR_CATALOG_TIMEOUT_S = 120.0  # the realtime sensor's first run; launch the catalog ourselves after that
CATALOG_RUN_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 50.0  # the launcher's grace period (30 s) plus margin


class DevServerError(AssertionError):
    """`oid-sync dev` did not do what was waited for; an AssertionError so pytest reports a failure."""


def free_port() -> int:
    """Free now, but another process may bind it before `dagster dev` does: `dagster_dev` retries on that."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) from /proc, or None once the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
    return state, int(ppid), int(pgrp)


def processes() -> dict[int, tuple[str, int, int]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))):
            found[int(entry.name)] = stat
    return found


def alive_in_group(pgid: int) -> list[int]:
    return [pid for pid, (state, _, pgrp) in processes().items() if pgrp == pgid and state not in "ZX"]


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class DevProcess:
    """`oid-sync dev` in a process group of its own, its output pumped into a queue for the whole run.

    A group, not a session: Linux's scheduler autogroups put every session in a CPU group of its own, and on a
    busy machine a multithreaded process in its own group burned twice the CPU for the same work (measured on the
    faketime runs: 93 s against 49 s each, three side by side)."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)
    dagster_pgid: int | None = None  # `dagster dev`'s own group (the launcher starts it with process_group=0)

    def __post_init__(self) -> None:
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for_line(self, prefix: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                raise DevServerError(
                    f"oid-sync dev ended (rc {self.process.wait()}) before {prefix!r}:\n{self.output()}"
                )
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise DevServerError(f"no {prefix!r} line within {timeout_s:g} s:\n{self.output()}")

    def lost(self, port: int) -> bool:
        """Whether it ended because `port` was taken (by another process, after `free_port` picked it)."""
        self.output()  # collects what is still queued
        return self.process.poll() == launcher.PORT_IN_USE_STATUS and launcher.port_in_use_line(port) in self.seen

    def output(self, last: int = 80) -> str:
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.seen.append(line)
        return "\n".join(self.seen[-last:])

    def find_dagster_group(self) -> int:
        # The child that leads a group of its own (the launcher's other child, in local mode, is the data viewer).
        children = [pid for pid, (_, ppid, pgrp) in processes().items() if ppid == self.process.pid and pgrp == pid]
        if len(children) != 1:
            raise DevServerError(f"expected one `dagster dev` under the launcher, found {children}")
        self.dagster_pgid = children[0]
        return children[0]

    def kill_everything(self) -> None:
        """Last resort for a failing test: SIGKILL to both groups, so no Dagster outlives it."""
        if self.dagster_pgid is not None and alive_in_group(self.dagster_pgid):
            os.killpg(self.dagster_pgid, signal.SIGKILL)
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@contextmanager
def oid_sync_dev(port: int, home: Path, cwd: Path, extra_env: dict[str, str] | None = None) -> Iterator[DevProcess]:
    """Start `oid-sync dev` with a cleaned environment (plus `extra_env`); however the block ends, nothing is left
    running."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(_NOT_INHERITED)} | (extra_env or {})
    process = subprocess.Popen(
        [str(OID_SYNC), "dev", "--port", str(port), "--dagster-home", str(home)],
        cwd=cwd,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        process_group=0,
    )
    running = DevProcess(process)
    try:
        yield running
    finally:
        if process.poll() is None:  # the caller failed before its own shutdown: try the clean way first
            process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT_S)
        running.kill_everything()


def stop(running: DevProcess) -> float:
    """SIGTERM to the launcher; asserts exit code 0 and that nothing of `dagster dev`'s group survives."""
    assert running.dagster_pgid is not None
    group = alive_in_group(running.dagster_pgid)
    started = time.monotonic()
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=STOP_TIMEOUT_S) == 0, running.output()
    seconds = time.monotonic() - started
    assert running.wait_for_line("oid-sync dev: Dagster stopped.", 5) == "oid-sync dev: Dagster stopped."
    assert alive_in_group(running.dagster_pgid) == []
    assert [pid for pid in group if (stat := proc_stat(pid)) and stat[0] not in "ZX"] == []
    # Orphaned zombies are reaped by PID 1 within a second or two; then the kernel knows no member at all.
    poll(
        "the process group to vanish",
        lambda: True if not group_exists(running.dagster_pgid) else None,
        10,
        interval_s=0.05,
    )
    assert not group_exists(running.process.pid)
    return seconds


# ---------- a running Dagster, ready to be driven ----------


@dataclass
class DevServer:
    running: DevProcess
    port: int
    home: Path
    gql: DagsterGraphQL
    repo: RepositorySelector

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


@contextmanager
def dagster_dev(workdir: Path, extra_env: dict[str, str] | None = None) -> Iterator[DevServer]:
    """`oid-sync dev` on a free port with DAGSTER_HOME in `workdir`, once its UI answers and the code location
    has loaded. Left to the context manager's cleanup, it is stopped with SIGTERM (SIGKILL if it must).

    The webserver cannot bind port 0 and report it, so a port is picked first; should another process take it
    before the webserver binds it (parallel test workers), the launcher exits saying so and a new port is tried.
    """
    home = workdir / "dagster_home"
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        with oid_sync_dev(port, home, cwd=workdir, extra_env=extra_env) as running:
            try:
                line = running.wait_for_line("Dagster UI:", READY_TIMEOUT_S)
            except DevServerError:
                if attempt < PORT_ATTEMPTS and running.lost(port):
                    continue
                raise
            if line != f"Dagster UI: http://{HOST}:{port}":
                raise DevServerError(f"unexpected UI line {line!r}")
            running.find_dagster_group()
            gql = DagsterGraphQL(f"http://{HOST}:{port}")
            yield DevServer(running, port, home, gql, gql.wait_for_repository(LOAD_TIMEOUT_S))
            return


def ensure_target_catalog(gql: DagsterGraphQL, repo: RepositorySelector) -> tuple[dict[str, Any], str]:
    """The target catalog's latest materialization, and who made it.

    The realtime sensor materializes it on its first run; should that not happen in time (a slow machine), a
    realtime-job run of the catalog alone is launched, as the UI's Materialize button would.
    """
    try:
        catalog = poll(
            "the realtime sensor to materialize the target catalog",
            lambda: gql.latest_materialization(CATALOG),
            SENSOR_CATALOG_TIMEOUT_S,
        )
        return catalog, "the realtime sensor"
    except WaitTimeout:
        run_id = gql.launch_run(repo, REALTIME_JOB, asset_selection=[CATALOG], tags={KIND_TAG: "realtime"})
        finished = gql.wait_for_run(run_id, CATALOG_RUN_TIMEOUT_S)
        assert finished["status"] == "SUCCESS", gql.run_errors(run_id)
        catalog = gql.latest_materialization(CATALOG)
        assert catalog is not None, "the catalog run succeeded but recorded no materialization"
        return catalog, "a run launched by the test"


IN_FLIGHT = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]
DRAIN_TIMEOUT_S = 120.0


def quiesce(gql: DagsterGraphQL, repo: RepositorySelector) -> None:
    """No new runs (the realtime sensor off, as an operator stops a deployment) and none in flight: a run worker
    that starts just as Dagster shuts down would otherwise outlive the launcher's grace period on a busy machine."""
    gql.stop_sensor_for_good(repo, REALTIME_SENSOR)
    poll("in-flight runs to finish", lambda: None if gql.runs(statuses=IN_FLIGHT) else True, DRAIN_TIMEOUT_S)
