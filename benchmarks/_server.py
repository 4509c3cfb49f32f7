"""A local CDF in its own process for benchmarks: the client and server then have a GIL each, as in real use,
and the server's CPU time can be read from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from oid_sync_dagster.local_cdf.server import LOOPBACK, free_port
from oid_sync_dagster.local_cdf.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET


@dataclass
class ServerProcess:
    pid: int
    base_url: str
    token_url: str
    client_id: str = DEV_CLIENT_ID
    client_secret: str = DEV_CLIENT_SECRET

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process so far, from /proc (Linux)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def local_cdf_process() -> Iterator[ServerProcess]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="oid-sync-bench-") as data_dir:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oid_sync_dagster.cli",
                "local-cdf",
                "--port",
                str(port),
                "--data-dir",
                data_dir,
            ],
            stdout=subprocess.DEVNULL,
        )
        base_url = f"http://{LOOPBACK}:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{base_url}/_local/health", timeout=1):
                        break
                except (urllib.error.URLError, ConnectionError):
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the local CDF process did not start")
                time.sleep(0.1)
            yield ServerProcess(proc.pid, base_url, f"{base_url}/oauth2/token")
        finally:
            proc.terminate()
            proc.wait(30)
