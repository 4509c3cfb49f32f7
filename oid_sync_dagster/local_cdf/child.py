"""The local CDF as a child process that binds a port of the kernel's choosing and reports it to its parent.

A parent that picked a "free" port itself and passed it on could lose it to another process before the child
binds it (pytest-xdist workers, parallel runs). So the child is started with `--port 0 --ready-file FILE`: it
binds, starts serving, then writes its base URL to FILE (atomically); the parent waits for that file, not for a
port it guessed. Standard library only: the Dagster run worker imports this without the server's dependencies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
RESTART_BACKOFF_S = 10.0
_POLL_S = 0.02


def write_ready_file(path: Path, base_url: str) -> None:
    """Called by the child once it serves: the parent never sees a half-written file (rename is atomic)."""
    scratch = path.with_name(f"{path.name}.tmp")
    scratch.write_text(f"{base_url}\n", encoding="utf-8")
    os.replace(scratch, path)


@dataclass(frozen=True)
class LocalCDFChild:
    process: subprocess.Popen[bytes]
    base_url: str


def _log_tail(log_path: Path | None) -> str:
    if log_path is None:
        return "(its stderr is the parent's)"
    try:
        return log_path.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


def _wait_for_report(child: subprocess.Popen[bytes], ready_file: Path, log_path: Path | None, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while not ready_file.exists():
        if child.poll() is not None:
            raise RuntimeError(
                f"the local CDF exited with code {child.returncode} before it reported its port: {_log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"the local CDF did not report its port within {timeout_s:.0f} s: {_log_tail(log_path)}")
        time.sleep(_POLL_S)  # the child writes the file once it serves; there is no cheaper event to wait on
    return ready_file.read_text(encoding="utf-8").strip()


def _spawn(command: list[str], log_path: Path | None, cwd: Path | None) -> subprocess.Popen[bytes]:
    if log_path is None:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd=cwd)
    # stderr to a file, not a pipe: nobody reads a pipe during the run, and a full one would block the server.
    with log_path.open("ab") as log:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, cwd=cwd)


@contextmanager
def local_cdf_child(
    argv: Sequence[str],
    *,
    log_path: Path | None = None,
    cwd: Path | None = None,
    timeout_s: float = STARTUP_TIMEOUT_S,
    port: int = 0,
) -> Iterator[LocalCDFChild]:
    """Run `python <argv> --port PORT --ready-file F` until the block exits; yields it once it serves. PORT 0
    (the default) lets the kernel pick one.

    `argv` is a command that accepts those two options (`-m oid_sync_dagster.cli local-cdf ...`). stderr goes to
    `log_path` (appended) if given, else to the parent's; stdout is discarded. Raises RuntimeError, with the log's
    tail, if the child exits or stays silent for `timeout_s` first. The child is stopped (SIGTERM, then SIGKILL).
    """
    with tempfile.TemporaryDirectory(prefix="oid-sync-local-cdf-") as scratch:
        ready_file = Path(scratch) / "base-url"
        command = [sys.executable, *argv, "--port", str(port), "--ready-file", str(ready_file)]
        child = _spawn(command, log_path, cwd)
        try:
            yield LocalCDFChild(child, _wait_for_report(child, ready_file, log_path, timeout_s))
        finally:
            child.terminate()
            try:
                child.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


class KeptLocalCDF:
    """A local CDF child kept serving at one address for as long as its owner runs: `revive` starts it again on
    the same port after it exited (killed, out of memory), on the same data, so whoever was handed the URL (the
    code location's runs, through OID_SYNC_LOCAL_CDF_URL) reaches it again; their retries heal."""

    def __init__(self, argv: Sequence[str], *, log_path: Path | None = None, cwd: Path | None = None) -> None:
        self._argv, self._log_path, self._cwd = list(argv), log_path, cwd
        self._stack = ExitStack()
        self.child = self._stack.enter_context(local_cdf_child(self._argv, log_path=log_path, cwd=cwd))
        self.base_url = self.child.base_url
        self._retry_at = 0.0

    def revive(self) -> str | None:
        """If the child has exited, start it again on its port: what happened, for the owner to say; else None."""
        status = self.child.process.poll()
        if status is None or time.monotonic() < self._retry_at:
            return None
        self._stack.close()
        try:
            port = urlsplit(self.base_url).port or 0
            self.child = self._stack.enter_context(
                local_cdf_child(self._argv, log_path=self._log_path, cwd=self._cwd, port=port)
            )
        except (RuntimeError, OSError) as error:  # OSError: the log file or scratch folder (disk full, fd limit)
            self._retry_at = time.monotonic() + RESTART_BACKOFF_S
            return (f"the local CDF exited (status {status}) and did not start again ({error}); trying again in"
                    f" {RESTART_BACKOFF_S:.0f} s.")  # fmt: skip
        return f"the local CDF exited (status {status}); started it again at {self.base_url}."

    def close(self) -> None:
        self._stack.close()
