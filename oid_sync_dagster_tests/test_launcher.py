"""`oid-sync dev`: the shipped instance config, and the launcher started the way a non-interactive shell would.

The end-to-end tests start the real `oid-sync dev` (real `dagster dev`, webserver, daemon, code server) with
SIGINT ignored and blocked, which is what a background job of a non-interactive shell inherits and what makes a
bare `dagster dev` unstoppable, then stop it by SIGTERM or by SIGINT.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import yaml
from dagster import DagsterInstance, QueuedRunCoordinator
from dagster._core.storage.runs import SqliteRunStorage  # private: Dagster exports no run-storage classes

from oid_sync_dagster import cli, launcher
from oid_sync_dagster.local_cdf.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET
from oid_sync_dagster_tests.dev_server import HISTORY_STOPPED, LOAD_TIMEOUT_S, quiesce
from oid_sync_dagster_tests.graphql import DagsterGraphQL

REPO = Path(__file__).resolve().parents[1]
OID_SYNC = Path(sys.executable).with_name("oid-sync")
READY_TIMEOUT_S = 90.0
_NOT_INHERITED = ("DAGSTER_HOME", "CDF_", "IDP_", "OID_SYNC_", "OPEN_ID_")
# The launcher's promise: everything stopped within its grace period (a clean stop, which the tests check by its
# "Dagster stopped." line), else SIGKILL.
EXIT_TIMEOUT_S = launcher.STOP_GRACE_S + 10.0


# --- the shipped dagster.yaml -------------------------------------------------------------------------------


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    assert launcher.ensure_instance_config(tmp_path).startswith("Instance config: wrote the shipped template")
    loaded = DagsterInstance.from_config(str(tmp_path))
    try:
        yield loaded
    finally:
        loaded.dispose()


def test_template_validates_as_an_instance_config(instance: DagsterInstance, tmp_path: Path) -> None:
    assert instance.is_persistent
    assert instance.run_retries_enabled is True
    assert instance.run_retries_max_retries == 2
    assert instance.run_retries_retry_on_asset_or_op_failure is False  # only dead run workers are rerun
    assert instance.telemetry_enabled is False
    assert instance.auto_materialize_enabled is True
    assert instance.auto_materialize_use_sensors is True

    concurrency = instance.get_concurrency_config()
    assert concurrency.pool_config.default_pool_limit == 2
    assert instance.global_op_concurrency_default_limit == 2
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    queue_config = concurrency.run_queue_config
    assert queue_config is not None
    assert queue_config.max_concurrent_runs == 2
    assert queue_config.tag_concurrency_limits == [{"key": "dagster/backfill", "limit": 1}]
    assert instance.run_coordinator.dequeue_interval_seconds == 1
    assert instance.get_settings("sensors") == {"use_threads": True}

    # No storage configured: SQLite under DAGSTER_HOME.
    assert isinstance(instance.run_storage, SqliteRunStorage)
    assert (tmp_path / "history" / "runs.db").is_file()
    settings = yaml.safe_load(launcher.instance_template())
    assert set(settings) == {
        "concurrency",
        "run_queue",
        "sensors",
        "run_monitoring",
        "run_retries",
        "auto_materialize",
        "python_logs",
        "telemetry",
    }
    # A run stuck starting or canceling is failed; runs are retried as new runs, never resumed in place.
    assert instance.run_monitoring_enabled is True
    assert instance.run_monitoring_settings == {
        "enabled": True,
        "start_timeout_seconds": 180,
        "cancel_timeout_seconds": 180,
        "max_resume_run_attempts": 0,
        "poll_interval_seconds": 60,
    }
    assert instance.get_settings("python_logs") == {"managed_python_loggers": ["oid_sync"]}


def test_run_limits_must_live_under_concurrency_runs(tmp_path: Path) -> None:
    """Why the template has no `run_queue:`: 1.13 rejects run-queue limits next to `concurrency: pools:`."""
    (tmp_path / "dagster.yaml").write_text(
        "run_queue: {max_concurrent_runs: 2}\nconcurrency: {pools: {default_limit: 2}}\n"
    )
    with pytest.raises(Exception, match="incompatible with the `concurrency > runs` config"):
        DagsterInstance.from_config(str(tmp_path))


def test_template_ships_as_package_data() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["oid_sync_dagster"]
    assert any(fnmatch.fnmatch("dagster_home/dagster.yaml", pattern) for pattern in patterns)
    assert launcher.instance_template() == (REPO / "oid_sync_dagster" / "dagster_home" / "dagster.yaml").read_text()


def test_an_existing_instance_config_is_never_overwritten(tmp_path: Path) -> None:
    mine = tmp_path / "dagster.yaml"
    mine.write_text("telemetry:\n  enabled: true\n")
    assert launcher.ensure_instance_config(tmp_path) == (
        f"Instance config: {mine} differs from the shipped template; using it as it is."
    )
    assert mine.read_text() == "telemetry:\n  enabled: true\n"

    mine.write_text(launcher.instance_template())
    assert launcher.ensure_instance_config(tmp_path) == f"Instance config: {mine} (the shipped template)."


def test_dagster_home_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert launcher.resolve_dagster_home(None) == REPO / ".oid_sync" / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "from-env"))
    assert launcher.resolve_dagster_home(None) == tmp_path / "from-env"
    assert launcher.resolve_dagster_home(tmp_path / "explicit") == tmp_path / "explicit"


def test_workspace_from_the_repository_else_the_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command, cwd = launcher.dagster_dev_command(3000)
    workspace = str(REPO / "workspace.yaml")
    assert command == [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", "3000", "-w", workspace]
    assert cwd == REPO

    # Installed without a checkout around it (site-packages has no workspace.yaml): load the module.
    monkeypatch.setattr(launcher, "package_dir", lambda: tmp_path / "site-packages" / "oid_sync_dagster")
    monkeypatch.chdir(tmp_path)
    command, cwd = launcher.dagster_dev_command(3001)
    assert command[-2:] == ["-m", "oid_sync_dagster.definitions"]
    assert "-w" not in command
    assert cwd == tmp_path


def test_a_taken_port_fails_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["dev", "--port", str(port), "--dagster-home", str(tmp_path / "home")]) == 2
    assert capsys.readouterr().out == f"oid-sync dev: port {port} on 127.0.0.1 is in use; pick another with --port.\n"
    assert not (tmp_path / "home").exists()


_STUBBORN = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print(flush=True); time.sleep(60)"
_LEADER = f"""
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", {_STUBBORN!r}], stdout=subprocess.PIPE)
grandchild.stdout.readline()
print("ready", grandchild.pid, flush=True)
time.sleep(60)
"""


def test_a_group_member_that_ignores_sigint_is_killed_after_the_grace_period() -> None:
    """The leader dies of the SIGINT; its child ignores it. The launcher waits for the group, then kills it."""
    leader = subprocess.Popen(
        [sys.executable, "-c", _LEADER], process_group=0, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert leader.stdout is not None
        word, grandchild = leader.stdout.readline().split()
        assert word == "ready"
        out = io.StringIO()
        started = time.monotonic()
        launcher.DevLauncher(stop_grace_s=1.0, out=out)._stop_group(leader, leader.pid, launcher._StopRequest())
        elapsed = time.monotonic() - started
    finally:
        if _alive_in_group(leader.pid):
            os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()
    assert leader.returncode == -signal.SIGINT  # the leader went at once; the group did not
    assert out.getvalue() == "oid-sync dev: still running 1 s after SIGINT: killing the Dagster process group.\n"
    assert 1.0 <= elapsed < 5.0
    assert _alive_in_group(leader.pid) == []
    assert _proc_stat(int(grandchild)) is None or _proc_stat(int(grandchild))[0] in "ZX"


_EXITS_EARLY = """
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # exists once Popen returns
sys.exit(3)
"""


def _supervise_exiting_child(port: int, script: str) -> tuple[int, str, subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", script], process_group=0, stderr=subprocess.DEVNULL)
    out = io.StringIO()
    try:
        status = launcher.DevLauncher(port=port, out=out)._supervise(child, launcher._StopRequest())
    finally:
        if _alive_in_group(child.pid):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    return status, out.getvalue(), child


def test_the_child_exit_status_is_passed_on_and_what_it_left_behind_is_stopped() -> None:
    """Stands in for `dagster dev` exiting (a crash) while a member of its group still runs."""
    # A port this test holds without listening: free for the launcher's check (both sockets SO_REUSEADDR), and
    # no other process can take it meanwhile, which would make the exit look like a lost port.
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", 0))
        status, out, child = _supervise_exiting_child(held.getsockname()[1], _EXITS_EARLY)
    assert status == 3
    assert out == "oid-sync dev: dagster dev exited with status 3.\noid-sync dev: Dagster stopped.\n"
    assert _alive_in_group(child.pid) == []


def test_a_port_taken_while_dagster_starts_is_reported_as_taken() -> None:
    """Another process binds the port after the launcher's check; the webserver dies of it, `dagster dev` exits 0."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, out, child = _supervise_exiting_child(port, "import sys; sys.exit(0)")
    assert status == launcher.PORT_IN_USE_STATUS == 2
    assert out.splitlines() == ["oid-sync dev: dagster dev exited with status 0.", launcher.port_in_use_line(port)]
    assert _alive_in_group(child.pid) == []


def test_exit_status_of_a_child_killed_by_a_signal() -> None:
    assert launcher._exit_status(-signal.SIGKILL) == 137
    assert launcher._exit_status(-signal.SIGTERM) == 143
    assert launcher._exit_status(1) == 1


# --- end to end ----------------------------------------------------------------------------------------------


PORT_ATTEMPTS = 4


def _free_port() -> int:
    """Free now, but another process may bind it before `dagster dev` does: start with `_start_on_a_free_port`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_a_background_job_of_a_non_interactive_shell() -> None:
    """In the launcher's child, before exec: SIGINT ignored (what `sh -c 'cmd &'` does) and, worse, blocked."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) from /proc, or None once the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
    return state, int(ppid), int(pgrp)


def _all_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _alive_in_group(pgid: int) -> list[int]:
    return [pid for pid in _all_pids() if (stat := _proc_stat(pid)) and stat[2] == pgid and stat[0] not in "ZX"]


def _signal_masks(pid: int) -> tuple[int, int]:
    fields = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["SigIgn"], 16), int(fields["SigBlk"], 16)


def _sigbit(signum: int) -> int:
    return 1 << (signum - 1)


@dataclass
class RunningLauncher:
    process: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)
    dagster_pgid: int | None = None  # once known, so that a failing test can still kill the group

    def __post_init__(self) -> None:
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:  # drains the pipe for the whole run, so dagster's logging never blocks on it
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for_line(self, prefix: str, timeout: float, *, lost_port: int | None = None) -> str | None:
        """The first line starting with `prefix`; with `lost_port`, None if the launcher lost that port instead."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                returncode = self.process.wait()
                if lost_port is not None and self.lost(lost_port):
                    return None
                pytest.fail(f"oid-sync dev ended (rc {returncode}) before {prefix!r}:\n" + self.output())
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        pytest.fail(f"no {prefix!r} line within {timeout:g} s:\n" + self.output())

    def lost(self, port: int) -> bool:
        """Whether it exited because `port` was taken (by another process, after `_free_port` picked it)."""
        return self.process.returncode == launcher.PORT_IN_USE_STATUS and launcher.port_in_use_line(port) in self.seen

    def output(self) -> str:
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.seen.append(line)
        return "\n".join(self.seen[-60:])


@pytest.fixture
def start_launcher(tmp_path: Path) -> Iterator[Callable[[int, Path], RunningLauncher]]:
    started: list[RunningLauncher] = []

    def start(port: int, home: Path) -> RunningLauncher:
        # The real code location runs, realtime sensor included: never with a developer's CDF settings or credentials.
        # History stays stopped: these tests are about signals and process groups, and a stop that lands while the
        # daemon submits the first history run (thousands of planned events) waits for it, up to the grace period.
        env = {key: value for key, value in os.environ.items() if not key.startswith(_NOT_INHERITED)}
        process = subprocess.Popen(
            [str(OID_SYNC), "dev", "--port", str(port), "--dagster-home", str(home)],
            cwd=tmp_path,  # the workspace must be found from the package, not from the working directory
            env={**env, **HISTORY_STOPPED, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            process_group=0,
            preexec_fn=_as_a_background_job_of_a_non_interactive_shell,
        )
        started.append(RunningLauncher(process))
        return started[-1]

    yield start
    for running in started:  # a failed test must not leave a Dagster behind
        if running.dagster_pgid is not None and _alive_in_group(running.dagster_pgid):
            os.killpg(running.dagster_pgid, signal.SIGKILL)
        if running.process.poll() is None:
            os.killpg(running.process.pid, signal.SIGKILL)  # process_group=0: its own group
            running.process.wait()


def _start_on_a_free_port(
    start_launcher: Callable[[int, Path], RunningLauncher], home: Path, timeout: float, taken: int | None = None
) -> tuple[RunningLauncher, int, str]:
    """The launcher on a free port, once its UI answers: the port and the first "Instance config:" line.

    A port can be taken between `_free_port` and the webserver's bind (parallel test workers); the launcher then
    exits saying so, and a new port is tried. `taken`: a port in use, tried first (the retry, on purpose).
    """
    deadline = time.monotonic() + timeout
    config_line: str | None = None
    for attempt in range(PORT_ATTEMPTS):
        port = taken if attempt == 0 and taken is not None else _free_port()
        running = start_launcher(port, home)
        line = running.wait_for_line("Instance config:", deadline - time.monotonic(), lost_port=port)
        config_line = config_line or line  # a retry finds the config the first attempt wrote
        if line is not None and running.wait_for_line("Dagster UI:", deadline - time.monotonic(), lost_port=port):
            assert running.seen[-1] == f"Dagster UI: http://127.0.0.1:{port}"
            assert config_line is not None
            return running, port, config_line
    pytest.fail(f"oid-sync dev lost its port {PORT_ATTEMPTS} times in a row")


def _dagster_dev_pid(launcher_pid: int) -> int:
    """`dagster dev`: the launcher's one child that leads a process group of its own. Its other child, in local
    mode, is the data viewer's local CDF."""
    children = {pid: stat for pid in _all_pids() if (stat := _proc_stat(pid)) and stat[1] == launcher_pid}
    leaders = [pid for pid, stat in children.items() if stat[2] == pid]
    assert len(leaders) == 1, children
    others = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in children if pid not in leaders]
    assert [argv[2:4] for argv in others] == [[b"oid_sync_dagster.cli", b"local-cdf"]], others
    return leaders[0]


def _local_cdf_pid(launcher_pid: int) -> int:
    """The launcher's local CDF child (local mode)."""
    children = [pid for pid in _all_pids() if (stat := _proc_stat(pid)) and stat[1] == launcher_pid]
    (pid,) = [pid for pid in children if b"local-cdf" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    return pid


def _wait_for_group_to_vanish(pgid: int, timeout: float) -> None:
    """Poll until the kernel knows no process of group `pgid`, zombies included.

    Orphaned members that died after their parent are reparented to PID 1 and reaped by it, which here takes up
    to a second or two; until then `killpg(pgid, 0)` still succeeds on the zombies.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            members = {pid: stat for pid in _all_pids() if (stat := _proc_stat(pid)) and stat[2] == pgid}
            pytest.fail(f"process group {pgid} still exists {timeout:g} s on: (state, ppid, pgrp) {members}")
        time.sleep(0.05)  # polling the kernel's process table; there is no event to wait on


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM to the launcher", "SIGINT to the launcher"])
def test_dev_starts_serves_and_stops_from_a_non_interactive_shell(
    start_launcher: Callable[[int, Path], RunningLauncher], tmp_path: Path, how: str
) -> None:
    home = tmp_path / "dagster_home"
    if how == "SIGINT to the launcher":  # also: a user's own dagster.yaml is kept, and said to differ
        home.mkdir()
        (home / "dagster.yaml").write_text(launcher.instance_template() + "\n# my own edits\n")
    started = time.monotonic()
    with socket.socket() as taken:  # the SIGINT run first meets a taken port: the launcher says so, a new one is tried
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1] if how == "SIGINT to the launcher" else None
        running, port, config_line = _start_on_a_free_port(start_launcher, home, READY_TIMEOUT_S, taken_port)
    ready_s = time.monotonic() - started
    assert port != taken_port
    assert running.wait_for_line("DAGSTER_HOME:", 5) == f"DAGSTER_HOME: {home}  (Ctrl-C or SIGTERM stops Dagster)"
    if how == "SIGINT to the launcher":
        assert config_line.endswith("differs from the shipped template; using it as it is.")
        assert (home / "dagster.yaml").read_text().endswith("# my own edits\n")
    else:
        assert config_line == f"Instance config: wrote the shipped template to {home / 'dagster.yaml'}."
        assert (home / "dagster.yaml").read_text() == launcher.instance_template()

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/server_info", timeout=10) as response:
        info = json.loads(response.read())
    assert set(info) >= {"dagster_version", "dagster_webserver_version"}

    # The launcher inherited SIGINT ignored and blocked; the `dagster dev` it started must have neither.
    dev_pid = running.dagster_pgid = _dagster_dev_pid(running.process.pid)
    assert _proc_stat(dev_pid)[2] == dev_pid  # leads its own process group
    ignored, blocked = _signal_masks(dev_pid)
    for signum in (signal.SIGINT, signal.SIGTERM):
        assert not ignored & _sigbit(signum) and not blocked & _sigbit(signum), signum
    group = _alive_in_group(dev_pid)
    assert len(group) >= 3, group  # dagster dev + webserver + daemon (+ code servers)
    assert (home / "history" / "runs.db").is_file()  # the instance is the persistent one

    if how == "SIGTERM to the launcher":  # its local CDF killed: started again at the same address, on the same data
        (viewer,) = [line for line in running.seen if line.startswith("Data viewer: ")]
        base_url = "http://" + urlsplit(viewer.removeprefix("Data viewer: ")).netloc
        killed = _local_cdf_pid(running.process.pid)
        os.kill(killed, signal.SIGKILL)
        revived = f"oid-sync dev: the local CDF exited (status -9); started it again at {base_url}."
        assert running.wait_for_line("oid-sync dev: the local CDF", 30) == revived
        assert _local_cdf_pid(running.process.pid) != killed
        token = opener.open(  # the API answers at the address the code location was given
            urllib.request.Request(
                f"{base_url}/oauth2/token",
                data=urlencode({"grant_type": "client_credentials", "client_id": DEV_CLIENT_ID,
                                "client_secret": DEV_CLIENT_SECRET}).encode(),
            ),
            timeout=10,
        )  # fmt: skip
        assert token.status == 200 and "access_token" in json.loads(token.read())

    # Stopped with no run in flight, as an operator stops a deployment: a run worker that is just starting when Dagster
    # shuts down runs its step to the end and outlives the grace period on a busy machine (Dagster's, not ours).
    gql = DagsterGraphQL(f"http://127.0.0.1:{port}")
    quiesce(gql, gql.wait_for_repository(LOAD_TIMEOUT_S))
    stopping = time.monotonic()
    signum = signal.SIGTERM if how == "SIGTERM to the launcher" else signal.SIGINT
    running.process.send_signal(signum)
    expected_line = f"oid-sync dev: {signum.name} received, stopping Dagster."
    assert running.wait_for_line(expected_line, EXIT_TIMEOUT_S) == expected_line
    assert running.process.wait(timeout=EXIT_TIMEOUT_S - (time.monotonic() - stopping)) == 0
    stop_s = time.monotonic() - stopping
    assert running.wait_for_line("oid-sync dev: Dagster stopped.", 5) == "oid-sync dev: Dagster stopped."

    # The launcher returns only once nothing of the group runs any more; zombies may wait for PID 1 to reap them.
    assert _alive_in_group(dev_pid) == []
    assert [pid for pid in group if (stat := _proc_stat(pid)) and stat[0] not in "ZX"] == []
    _wait_for_group_to_vanish(dev_pid, timeout=10)
    print(f"{how}: UI after {ready_s:.1f} s, stopped {stop_s:.1f} s after the signal")
