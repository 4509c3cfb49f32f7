"""Local mode: the local CDF, started for as long as a run (or a catalog fetch) needs it, then stopped.

The Dagster layer imports the local CDF only here, and only to start it. By default it runs as a child process
of the run worker: the SDK client and the server then do not share one GIL (on two cores that is about a
factor two in throughput); "thread" serves it in-process instead, which starts faster (tests, catalog fetch).
Either way nothing outlives the `with` block, and target data persists in the data directory, next to
Dagster's own storage, so the two agree across restarts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

LocalMode = Literal["process", "thread"]
_STARTUP_TIMEOUT_S = 60.0


def default_data_dir() -> Path:
    """$DAGSTER_HOME/local-cdf when Dagster has a home (its record and the target's data then live together)."""
    if home := os.environ.get("DAGSTER_HOME"):
        return Path(home) / "local-cdf"
    from oid_sync_dagster.local_cdf.settings import default_data_dir as local_default

    return local_default()


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/_local/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def _child_process(data_dir: Path) -> Iterator[str]:
    from oid_sync_dagster.local_cdf.server import LOOPBACK, free_port

    port = free_port()
    base_url = f"http://{LOOPBACK}:{port}"
    command = [sys.executable, "-m", "oid_sync_dagster.cli", "local-cdf", "--port", str(port)]
    command += ["--data-dir", str(data_dir)]
    # stderr to a file, not a pipe: nobody reads a pipe during the run, and a full one would block the server.
    log_path = data_dir / "local-cdf.log"
    with log_path.open("ab") as log:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not _healthy(base_url):
            if child.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the local CDF exited with code {child.returncode} at startup: {tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local CDF did not answer on {base_url} within {_STARTUP_TIMEOUT_S:.0f} s")
            time.sleep(0.05)  # polling a child's readiness; the health probe is the synchronisation
        yield base_url
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextmanager
def running_local_cdf(data_dir: Path | None = None, mode: LocalMode = "process") -> Iterator[str]:
    """Serve the local CDF on a free loopback port for the block; yields its base URL."""
    data_dir = data_dir or default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    if mode == "process":
        with _child_process(data_dir) as base_url:
            yield base_url
        return
    from oid_sync_dagster.local_cdf.server import serve_in_thread
    from oid_sync_dagster.local_cdf.settings import LocalCDFSettings

    with serve_in_thread(LocalCDFSettings(data_dir=data_dir)) as cdf:
        yield cdf.base_url
