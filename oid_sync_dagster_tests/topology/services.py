"""Long-running processes of a test topology (webserver, daemon, local CDF): started, logged, stopped for sure.

Each service runs in a process group of its own (not a session: see dev_server.py) with SIGINT/SIGTERM at their
defaults (a shell's background job may have inherited them ignored, and Dagster maps SIGTERM onto its SIGINT
handler), its stdout and stderr in a log file. The supervisor stops services with SIGTERM, the way Kubernetes and
systemd stop them, and only as a last resort (a failing test) kills what is left of their process groups. On a
failure inside its block it appends the last lines of every log to the exception, with the secrets it was given
blanked out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from oid_sync_dagster.launcher import live_group_members

STOP_GRACE_S = 30.0
POLL_S = 0.1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _reset_stop_signals() -> None:
    """In the child between fork and exec: an ignored or blocked signal would survive exec."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time in clock ticks) of a process from /proc, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # comm may hold spaces and parentheses
    return fields[0], int(fields[1]), int(fields[19])


def _is_live(pid: int, started: int) -> bool:
    """Whether that process still runs: pid and start time, since a busy machine reuses pids quickly."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X") and stat[2] == started


def _tail(path: Path, lines: int, secrets: tuple[str, ...]) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    for secret in secrets:
        text = text.replace(secret, "***")
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    terminated_at: float | None = None
    spawned: list[tuple[int, int]] = field(default_factory=list)  # (pid, start time) when SIGTERM was sent

    @property
    def pgid(self) -> int:
        return self.process.pid  # process_group=0: the leader of a group with its own pid

    def alive(self) -> list[int]:
        """Pids of its process group that are not zombies (the service and whatever it spawned)."""
        return live_group_members(self.pgid)

    def descendants(self) -> list[tuple[int, int]]:
        """(pid, start time) of every live process below the service (code servers, run workers), in any group."""
        live: dict[int, tuple[int, int]] = {}  # pid -> (ppid, start time)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and (stat := _stat(int(entry.name))) and stat[0] not in ("Z", "X"):
                live[int(entry.name)] = (stat[1], stat[2])
        found: list[tuple[int, int]] = []
        frontier = {self.process.pid}
        while frontier:
            children = {pid for pid, (ppid, _) in live.items() if ppid in frontier}
            found += [(pid, live[pid][1]) for pid in children]
            frontier = children
        return found

    def terminate(self) -> None:
        """SIGTERM, once: a second one makes some servers (uvicorn) skip their graceful shutdown."""
        if self.process.poll() is None and self.terminated_at is None:
            self.spawned = self.descendants()  # orphans are re-parented on exit: remember them now
            self.terminated_at = time.monotonic()
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = STOP_GRACE_S) -> tuple[int, float]:
        """`terminate`, then wait until the service, its process group and every process it had spawned are gone.

        Returns (exit code, seconds since SIGTERM); raises AssertionError (naming the survivors) if any outlives
        `timeout_s`, leaving them to `kill`.
        """
        self.terminate()
        started = self.terminated_at or time.monotonic()
        deadline = started + timeout_s
        try:
            returncode = self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running {timeout_s:g} s after SIGTERM") from None
        while survivors := sorted(set(self.alive()) | {pid for pid, began in self.spawned if _is_live(pid, began)}):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} exited, but its processes {survivors} outlived it")
            time.sleep(POLL_S)  # polling /proc; the kernel offers no wait on processes that are not our children
        return returncode, time.monotonic() - started

    def kill(self) -> None:
        for pid, began in self.spawned:  # those that left the group, if any
            if _is_live(pid, began):
                os.kill(pid, signal.SIGKILL)
        if self.alive():
            os.killpg(self.pgid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@dataclass
class Supervisor:
    """Starts services with one environment; `with` it so that none outlives the test."""

    log_dir: Path
    env: dict[str, str]
    secrets: tuple[str, ...] = ()
    services: dict[str, Service] = field(default_factory=dict)
    extra_logs: dict[str, Path] = field(default_factory=dict)

    def start(self, name: str, command: list[str], *, cwd: Path) -> Service:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
                preexec_fn=_reset_stop_signals,
            )
        service = Service(name, process, log_path)
        self.services[name] = service
        return service

    def watch_log(self, name: str, path: Path) -> None:
        """Another log to show on failure (e.g. the PostgreSQL server's)."""
        self.extra_logs[name] = path

    def diagnostics(self, lines: int = 40) -> str:
        parts = []
        for name, service in self.services.items():
            state = "running" if service.process.poll() is None else f"exited {service.process.returncode}"
            parts.append(f"----- {name} ({state}), last {lines} lines of {service.log_path} -----")
            parts.append(_tail(service.log_path, lines, self.secrets))
        for name, path in self.extra_logs.items():
            parts.append(f"----- {name}, last {lines} lines of {path} -----")
            parts.append(_tail(path, lines, self.secrets))
        return "\n".join(parts)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        if exc is not None and not isinstance(exc, KeyboardInterrupt):
            exc.add_note(self.diagnostics())  # pytest prints notes with the failure
        for service in reversed(self.services.values()):
            if service.process.poll() is None or service.alive():
                try:
                    service.stop()
                except AssertionError:
                    service.kill()
