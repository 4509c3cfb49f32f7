"""A local CDF in its own process for benchmarks: the client and server then have a GIL each, as in real use,
and the server's CPU time can be read from /proc.

By default the server runs `oid-sync local-cdf` on the real clock. With a clock file it runs this module instead
(`python -m benchmarks._server`), whose data clock is read from that file on every request, so a benchmark can
freeze "now" (reproducible data) and move it (realtime passes) from another process.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from oid_sync_dagster.local_cdf.child import local_cdf_child, write_ready_file
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
        self._seen: tuple[int, int] | None = None
        self._ms = 0

    def ms(self) -> int:
        # A stat per reading, the file only when it changed (`set` replaces it: a new inode). The local CDF reads
        # its clock per series of a request, and opening the file each time was 17 % of the server's CPU in a
        # realtime pass (py-spy): a cost of this benchmark's clock, not of the product's (time.time).
        stat = os.stat(self.path)
        if (key := (stat.st_ino, stat.st_mtime_ns)) != self._seen:
            self._ms, self._seen = int(self.path.read_text()), key
        return self._ms

    def seconds(self) -> float:
        return self.ms() / 1000

    def set(self, ms: int) -> None:
        if ms % 1000:
            raise ValueError(f"the file clock moves in whole seconds, got {ms} ms")
        scratch = self.path.with_name(self.path.name + ".tmp")
        scratch.write_text(str(ms))
        os.utime(scratch, ns=(ms * 1_000_000, ms * 1_000_000))  # the mtime is the value: `ms` sees every change
        os.replace(scratch, self.path)  # atomic: a reader never sees a half-written number


@contextmanager
def local_cdf_process(clock_file: Path | None = None) -> Iterator[ServerProcess]:
    """The local CDF in a child process with a fresh data dir; on the real clock, or on `clock_file`'s.

    The child binds a port of the kernel's choosing and reports it (`local_cdf_child`): nothing to race for."""
    with tempfile.TemporaryDirectory(prefix="oid-sync-bench-") as data_dir:
        if clock_file is None:
            argv = ["-m", "oid_sync_dagster.cli", "local-cdf", "--data-dir", data_dir]
        else:
            argv = ["-m", "benchmarks._server", "--data-dir", data_dir, "--clock-file", str(clock_file)]
        with local_cdf_child(argv, cwd=Path(__file__).resolve().parents[1]) as child:
            yield ServerProcess(child.process.pid, child.base_url, f"{child.base_url}/oauth2/token")


def main() -> None:
    """Serve the local CDF in the foreground with its data clock read from a FileClock file."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="loopback port (default 0: any free port)")
    parser.add_argument("--ready-file", help="once serving, write the base URL here (see local_cdf_child)")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--clock-file", required=True)
    args = parser.parse_args()
    from oid_sync_dagster.local_cdf.server import bind_loopback, serve_forever, url_of
    from oid_sync_dagster.local_cdf.settings import LocalCDFSettings

    clock = FileClock(Path(args.clock_file))
    sock = bind_loopback(args.port)
    ready_file = Path(args.ready_file) if args.ready_file else None
    report = (lambda: write_ready_file(ready_file, url_of(sock))) if ready_file else None
    serve_forever(LocalCDFSettings(data_dir=Path(args.data_dir), clock=clock.seconds), sock, on_started=report)


if __name__ == "__main__":
    main()
