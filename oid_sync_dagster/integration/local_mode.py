"""Local mode: the local CDF, started for as long as a run (or a catalog fetch) needs it, then stopped.

The Dagster layer imports the local CDF only here, and only to start it. By default it runs as a child process
of the run worker: the SDK client and the server then do not share one GIL (on two cores that is about a
factor two in throughput); "thread" serves it in-process instead, which starts faster (tests, catalog fetch).
Either way nothing outlives the `with` block, and target data persists in the data directory, next to
Dagster's own storage, so the two agree across restarts (and across a child that died and was started again).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from oid_sync_dagster.local_cdf.child import KeptLocalCDF

LocalMode = Literal["process", "thread"]


@dataclass(frozen=True)
class LocalCDF:
    """A local CDF started for a block: where it serves, and (as a child process) the child kept serving there."""

    base_url: str
    kept: KeptLocalCDF | None = None  # None when served in a thread of this process

    def revive(self) -> str | None:
        """If the child exited (killed, out of memory), start it again at the same address: what happened, else
        None. The same `oid-sync dev` does for its own local CDF (child.KeptLocalCDF)."""
        return self.kept.revive() if self.kept is not None else None


def default_data_dir() -> Path:
    """$DAGSTER_HOME/local-cdf when Dagster has a home (its record and the target's data then live together)."""
    if home := os.environ.get("DAGSTER_HOME"):
        return Path(home) / "local-cdf"
    from oid_sync_dagster.local_cdf.settings import default_data_dir as local_default

    return local_default()


@contextmanager
def _child_process(data_dir: Path) -> Iterator[LocalCDF]:
    from oid_sync_dagster.local_cdf.child import KeptLocalCDF  # standard library only, like this module

    # The child binds a port of the kernel's choosing and reports it: no port picked here that another process
    # (a concurrent run, a test worker) could take first.
    argv = ["-m", "oid_sync_dagster.cli", "local-cdf", "--data-dir", str(data_dir)]
    kept = KeptLocalCDF(argv, log_path=data_dir / "local-cdf.log")
    try:
        yield LocalCDF(kept.base_url, kept)
    finally:
        kept.close()


@contextmanager
def serving_local_cdf(data_dir: Path | None = None, mode: LocalMode = "process") -> Iterator[LocalCDF]:
    """Serve the local CDF on a loopback port of the kernel's choosing for the block."""
    data_dir = data_dir or default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    if mode == "process":
        with _child_process(data_dir) as child:
            yield child
        return
    from oid_sync_dagster.local_cdf.server import serve_in_thread
    from oid_sync_dagster.local_cdf.settings import LocalCDFSettings

    with serve_in_thread(LocalCDFSettings(data_dir=data_dir)) as cdf:
        yield LocalCDF(cdf.base_url)


@contextmanager
def running_local_cdf(data_dir: Path | None = None, mode: LocalMode = "process") -> Iterator[str]:
    """`serving_local_cdf` for callers that need only its base URL."""
    with serving_local_cdf(data_dir, mode) as local:
        yield local.base_url
