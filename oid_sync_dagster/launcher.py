"""`oid-sync dev`: run `dagster dev` on this code location with a persistent instance, and stop it reliably.

Why a launcher rather than `dagster dev` itself:

* DAGSTER_HOME. Without it `dagster dev` uses a temporary instance that is deleted on exit, so runs, backfills
  and sensor cursors vanish. The launcher points DAGSTER_HOME at a directory that persists (default
  `<repository or cwd>/.oid_sync/dagster_home`, git-ignored) and seeds it with the shipped `dagster.yaml`.
* Signals. A command started in the background by a non-interactive shell inherits SIGINT set to "ignored";
  `dagster dev` then copies that disposition onto SIGTERM, and neither signal can stop it. The launcher starts
  `dagster dev` with SIGINT and SIGTERM reset to their defaults and unblocked, in its own process group, and
  shuts that whole group down itself: SIGINT to `dagster dev`, then to whatever of its group outlives it, up to
  `STOP_GRACE_S` seconds in all for a clean shutdown, then SIGKILL to the group.

Exit status: 0 after a requested stop (Ctrl-C or SIGTERM to the launcher), even if the group had to be killed;
otherwise `dagster dev`'s own exit status (128 + N if a signal N killed it); 2 if it cannot start because the port
is taken, before it starts or while `dagster dev` starts (its last line is then `port_in_use_line`, on which scripts
that pick a port for it retry with another).
A second Ctrl-C or SIGTERM during shutdown kills the group at once.

Local mode (no target CDF in the environment): the launcher also serves the local CDF on DAGSTER_HOME's data
directory for as long as Dagster runs, and hands its URL to the code location (OID_SYNC_LOCAL_CDF_URL): the runs use
it, as they would a real CDF that is always there, instead of starting one each (about a second of every run), and
the series assets link their charts to its data viewer. If that local CDF dies, the launcher starts it again on the
same port and data (runs meanwhile fail retryably; their step retries heal).

Standard library only at import (subprocess, signal, urllib): it must work before anything else is set up.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from oid_sync_dagster.local_cdf.child import KeptLocalCDF

HOST = "127.0.0.1"
DEFAULT_PORT = 3000
CODE_LOCATION_MODULE = "oid_sync_dagster.definitions"
INSTANCE_YAML = "dagster.yaml"
# How long the group gets to shut down cleanly after SIGINT (dagster dev itself waits up to 10 s per child, and a
# run worker caught starting a step takes a while more on a busy machine).
STOP_GRACE_S = 30.0
# After this long without an answer from /server_info, say so once and keep waiting.
SLOW_START_S = 120.0
POLL_S = 0.25
PORT_IN_USE_STATUS = 2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def package_dir() -> Path:
    return Path(__file__).resolve().parent


def repository_root() -> Path | None:
    """The source checkout the package is installed from (editable install), if there is one."""
    candidate = package_dir().parent
    return candidate if (candidate / "workspace.yaml").is_file() else None


def default_dagster_home() -> Path:
    return (repository_root() or Path.cwd()) / ".oid_sync" / "dagster_home"


def resolve_dagster_home(explicit: str | os.PathLike[str] | None) -> Path:
    """`--dagster-home`, else an already set DAGSTER_HOME, else `default_dagster_home()`; always absolute."""
    chosen = explicit or os.environ.get("DAGSTER_HOME") or default_dagster_home()
    return Path(chosen).expanduser().resolve()


def instance_template() -> str:
    return resources.files("oid_sync_dagster").joinpath("dagster_home", INSTANCE_YAML).read_text(encoding="utf-8")


def ensure_instance_config(dagster_home: Path) -> str:
    """Create DAGSTER_HOME and write the template `dagster.yaml` if there is none. Never overwrites.

    Returns one line saying what happened, for the terminal.
    """
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / INSTANCE_YAML
    template = instance_template()
    try:
        with target.open("x", encoding="utf-8") as handle:  # "x": never clobber a file that appeared meanwhile
            handle.write(template)
    except FileExistsError:
        if target.read_text(encoding="utf-8") != template:
            return f"Instance config: {target} differs from the shipped template; using it as it is."
        return f"Instance config: {target} (the shipped template)."
    return f"Instance config: wrote the shipped template to {target}."


def dagster_dev_command(port: int, host: str = HOST) -> tuple[list[str], Path]:
    """The `dagster dev` command line and the directory to run it in."""
    command = [sys.executable, "-m", "dagster", "dev", "-h", host, "-p", str(port)]
    root = repository_root()
    if root is not None:
        return [*command, "-w", str(root / "workspace.yaml")], root
    return [*command, "-m", CODE_LOCATION_MODULE], Path.cwd()


def _reset_stop_signals() -> None:
    """Runs in the child between fork and exec: SIGINT/SIGTERM back to default, and not blocked.

    An ignored disposition and a blocked mask both survive exec; a Python handler does not, but being explicit
    keeps the child stoppable whatever the launcher inherited.
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def port_is_free(port: int, host: str = HOST) -> bool:
    # SO_REUSEADDR like uvicorn, so a socket in TIME_WAIT from a previous run does not count as taken.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def port_in_use_line(port: int, host: str = HOST) -> str:
    return f"oid-sync dev: port {port} on {host} is in use; pick another with --port."


# Loopback only: never through an HTTP(S)_PROXY from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def server_info(port: int, host: str = HOST, timeout: float = 2.0) -> dict[str, object] | None:
    """The webserver's `/server_info` JSON, or None if it does not answer (yet)."""
    try:
        with _OPENER.open(f"http://{host}:{port}/server_info", timeout=timeout) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):  # URLError, connection refused/reset, timeouts, HTTP errors, bad JSON
        return None
    return body if isinstance(body, dict) else None


def live_group_members(pgid: int) -> list[int]:
    """Pids of the processes in group `pgid` that are not zombies.

    Zombies are left out: they are already dead, and where nothing reaps orphans (a container whose PID 1 is not
    an init) they would keep the group "alive" forever. Without /proc (macOS), falls back to `killpg(pgid, 0)`.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ")".
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _group_alive(pgid: int) -> bool:
    return bool(live_group_members(pgid))


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


@dataclass
class _StopRequest:
    """Set by the launcher's own SIGINT/SIGTERM handler; the main loop polls it."""

    signals: list[int] = field(default_factory=list)

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.signals.append(signum)

    @property
    def requested(self) -> bool:
        return bool(self.signals)


@dataclass
class DevLauncher:
    port: int = DEFAULT_PORT
    dagster_home: Path = field(default_factory=default_dagster_home)
    host: str = HOST
    stop_grace_s: float = STOP_GRACE_S
    out: TextIO | None = None  # None: sys.stdout at the time of printing
    _local_cdf: KeptLocalCDF | None = field(default=None, init=False, repr=False)

    def _say(self, line: str) -> None:
        # One write per line: print() writes the text and the newline separately, and Dagster's processes share
        # this stdout, so one of their lines could land between the two.
        out = self.out or sys.stdout
        out.write(line + "\n")
        out.flush()

    def _note(self, line: str) -> None:
        self._say(f"oid-sync dev: {line}")

    def run(self) -> int:
        if not port_is_free(self.port, self.host):
            self._say(port_in_use_line(self.port, self.host))
            return PORT_IN_USE_STATUS
        self._say(ensure_instance_config(self.dagster_home))
        with self._data_viewer() as viewer_env:
            return self._run_dagster({**os.environ, "DAGSTER_HOME": str(self.dagster_home), **viewer_env})

    @contextlib.contextmanager
    def _data_viewer(self) -> Iterator[dict[str, str]]:
        """In local mode, the local CDF on DAGSTER_HOME's data for the block; yields the environment that tells the
        code location where it is. If it cannot start, that is said, and Dagster starts anyway (each run then starts
        a local CDF of its own)."""
        from oid_sync_dagster.config import ENV_VARS

        if any(os.environ.get(ENV_VARS[name], "").strip() for name in ("target_project", "local_cdf_url")):
            yield {}  # a real target (its own UI shows the data), or a local CDF the user runs and knows
            return
        from oid_sync_dagster.local_cdf.child import KeptLocalCDF

        data_dir = self.dagster_home / "local-cdf"
        data_dir.mkdir(parents=True, exist_ok=True)
        argv = ["-m", "oid_sync_dagster.cli", "local-cdf", "--data-dir", str(data_dir)]
        try:
            kept = KeptLocalCDF(argv, log_path=data_dir / "local-cdf.log")
        except RuntimeError as error:
            self._note(f"the local CDF did not start ({error}); each run starts its own, and no viewer.")
            yield {}
            return
        self._local_cdf = kept  # the supervising loop revives it if it dies
        self._say(f"Data viewer: {_viewer_link(kept.base_url, data_dir)}")
        try:
            yield {ENV_VARS["local_cdf_url"]: kept.base_url}
        finally:
            self._local_cdf = None
            kept.close()

    def _run_dagster(self, env: dict[str, str]) -> int:
        command, cwd = dagster_dev_command(self.port, self.host)

        stop = _StopRequest()
        previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
        # The launcher itself may have inherited these signals blocked; it has to receive them.
        previous_mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        try:
            child = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,  # never a background reader of the terminal (SIGTTIN)
                process_group=0,  # its own group: the launcher, not the terminal, decides when it stops
                preexec_fn=_reset_stop_signals,
            )
            return self._supervise(child, stop)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _supervise(self, child: subprocess.Popen[bytes], stop: _StopRequest) -> int:
        pgid = child.pid  # process_group=0 makes the child the leader of a group with its own pid
        started = time.monotonic()
        ready = slow_reported = False
        while True:
            if stop.requested:
                self._note(f"{signal.Signals(stop.signals[0]).name} received, stopping Dagster.")
                self._stop_group(child, pgid, stop)
                return 0
            try:
                returncode = child.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                # Not while stopping: a Ctrl-C reaches the local CDF too, and a restart would only delay the stop.
                if not stop.requested and self._local_cdf is not None and (line := self._local_cdf.revive()):
                    self._note(line)
            else:
                self._note(f"dagster dev exited with status {returncode}.")
                self._stop_group(child, pgid, stop)  # anything it left behind in its group
                # Free before, taken now that its group is gone: another process bound the port between the check
                # in `run` and the webserver's bind, and the webserver died of it (dagster dev then exits 0).
                if not ready and not port_is_free(self.port, self.host):
                    self._say(port_in_use_line(self.port, self.host))
                    return PORT_IN_USE_STATUS
                return _exit_status(returncode)
            if not ready and server_info(self.port, self.host, timeout=1.0) is not None:
                ready = True
                self._say(f"Dagster UI: http://{self.host}:{self.port}")
                self._say(f"DAGSTER_HOME: {self.dagster_home}  (Ctrl-C or SIGTERM stops Dagster)")
            elif not ready and not slow_reported and time.monotonic() - started > SLOW_START_S:
                slow_reported = True
                self._note(f"the webserver has not answered for {SLOW_START_S:.0f} s; still waiting.")

    def _stop_group(self, child: subprocess.Popen[bytes], pgid: int, stop: _StopRequest) -> None:
        """Stop `dagster dev` and everything in its process group; SIGKILL what is left after `stop_grace_s`.

        SIGINT goes to `dagster dev` first, alone: it shuts its webserver and daemon down over their shutdown pipes
        and its code servers over gRPC. SIGINT to the whole group at once (what a terminal's Ctrl-C does) kills
        the code server under it instead; when the daemon then takes more than 5 s to stop, dagster dev's monitor
        restarts the code server, whose shutdown call is lost while it loads, and it lingers until its heartbeat
        times out (45 s). Whatever outlives `dagster dev` (run workers, orphans) then gets SIGINT as a group.
        """
        child.poll()
        if child.returncode is not None and not _group_alive(pgid):
            return
        handled = len(stop.signals)
        deadline = time.monotonic() + self.stop_grace_s
        if child.returncode is None:
            child.send_signal(signal.SIGINT)
        group_interrupted = False
        while True:
            if child.poll() is not None:  # reaps the leader as soon as it exits
                if not _group_alive(pgid):
                    self._note("Dagster stopped.")
                    return
                if not group_interrupted:
                    _signal_group(pgid, signal.SIGINT)
                    group_interrupted = True
            if len(stop.signals) > handled:
                reason = "second stop signal"
                break
            if time.monotonic() >= deadline:
                reason = f"still running {self.stop_grace_s:g} s after SIGINT"
                break
            time.sleep(POLL_S)
        self._note(f"{reason}: killing the Dagster process group.")
        _signal_group(pgid, signal.SIGKILL)
        child.wait()
        deadline = time.monotonic() + 5.0
        while _group_alive(pgid) and time.monotonic() < deadline:  # SIGKILL cannot be caught: quick
            time.sleep(0.05)


def _viewer_link(base_url: str, data_dir: Path) -> str:
    """The viewer's index with a read-only login token (never the client secret)."""
    from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
    from oid_sync_dagster.local_cdf.viewer.links import viewer_url
    from oid_sync_dagster.local_cdf.viewer.session import link_token

    return viewer_url(base_url, link_token(LocalCDFSettings(data_dir=data_dir)))


def run_dev(port: int = DEFAULT_PORT, dagster_home: str | os.PathLike[str] | None = None) -> int:
    return DevLauncher(port=port, dagster_home=resolve_dagster_home(dagster_home)).run()
