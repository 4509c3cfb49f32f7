"""A local CDF in its own process for benchmarks: the client and server then have a GIL each, as in real use,
and the server's CPU time can be read from /proc.

By default the server runs `oid-sync local-cdf` on the real clock. With a clock file it runs this module instead
(`python -m benchmarks._server`), whose data clock is read from that file on every request, so a benchmark can
freeze "now" (reproducible data) and move it (realtime passes) from another process.
"""

from __future__ import annotations

import argparse
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

    def peak_rss_mb(self) -> float:
        """The server's peak resident memory so far (VmHWM), MB."""
        return status_kb(self.pid, "VmHWM") / 1024


def status_kb(pid: int | str, field: str) -> int:
    """A kB field of /proc/<pid>/status, e.g. VmHWM (peak RSS) or VmRSS; pid may be "self"."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


class FileClock:
    """A data clock kept in a file as integer ms since the epoch: one process sets it, any number read it.

    Whole seconds only (`set` refuses others), so the server's `int(seconds * 1000)` gives back the exact ms.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def ms(self) -> int:
        return int(self.path.read_text())

    def seconds(self) -> float:
        return self.ms() / 1000

    def set(self, ms: int) -> None:
        if ms % 1000:
            raise ValueError(f"the file clock moves in whole seconds, got {ms} ms")
        scratch = self.path.with_name(self.path.name + ".tmp")
        scratch.write_text(str(ms))
        os.replace(scratch, self.path)  # atomic: a reader never sees a half-written number


@contextmanager
def local_cdf_process(clock_file: Path | None = None) -> Iterator[ServerProcess]:
    """The local CDF in a child process with a fresh data dir; on the real clock, or on `clock_file`'s."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="oid-sync-bench-") as data_dir:
        if clock_file is None:
            command = ["-m", "oid_sync_dagster.cli", "local-cdf", "--port", str(port), "--data-dir", data_dir]
        else:
            command = ["-m", "benchmarks._server", "--port", str(port), "--data-dir", data_dir]
            command += ["--clock-file", str(clock_file)]
        proc = subprocess.Popen(
            [sys.executable, *command], stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1]
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


def main() -> None:
    """Serve the local CDF in the foreground with its data clock read from a FileClock file."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--clock-file", required=True)
    args = parser.parse_args()
    from oid_sync_dagster.local_cdf.server import serve_forever
    from oid_sync_dagster.local_cdf.settings import LocalCDFSettings

    clock = FileClock(Path(args.clock_file))
    serve_forever(LocalCDFSettings(data_dir=Path(args.data_dir), clock=clock.seconds), args.port)


if __name__ == "__main__":
    main()
