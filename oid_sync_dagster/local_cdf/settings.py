"""Settings of one local CDF server. Plain dataclass: the local CDF stands alone and is configured in code or CLI."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from oid_sync_dagster.local_cdf.synthetic import Density

# The instant the request being answered in this thread is answered at. CDF answers a request at one instant: every
# series of a request sees the same published edge, and the clock is read once per request, not once per series.
_REQUEST_NOW_MS: ContextVar[int | None] = ContextVar("oid_sync_local_cdf_request_now_ms", default=None)

DEV_CLIENT_ID = "oid-sync-local"
DEV_CLIENT_SECRET = "oid-sync-local-secret"  # a dev credential for a loopback server, printed on start


def default_data_dir() -> Path:
    """`$OID_SYNC_LOCAL_CDF_DIR`, else the XDG data dir: a place that survives reboots, outside the repo."""
    if configured := os.environ.get("OID_SYNC_LOCAL_CDF_DIR"):
        return Path(configured)
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "oid-sync" / "local-cdf"


@dataclass
class LocalCDFSettings:
    data_dir: Path = field(default_factory=default_data_dir)
    clients: dict[str, str] = field(default_factory=lambda: {DEV_CLIENT_ID: DEV_CLIENT_SECRET})
    token_ttl_s: int = 3600
    source_project: str = "publicdata"
    # OID publishes about a week behind real time; the synthetic source does the same, so the live edge moves.
    source_lag_ms: int = 168 * 3600 * 1000
    history_days: int = 365
    density: Density = field(default_factory=Density)
    catalog_csv: Path | None = None
    catalog_seed: int = 0
    # False: `POST /timeseries/data` refuses protobuf bodies with 415, as a CDF that takes only JSON would.
    accept_protobuf_inserts: bool = True
    clock: Callable[[], float] = time.time  # seconds: the data's "now" (published edge, timestamps); tests move it
    # Token expiry follows the client's own wall clock (the SDK refreshes by it), so it has a clock of its own:
    # a test that moves the data clock by days must not expire every cached token.
    auth_clock: Callable[[], float] = time.time

    def now_ms(self) -> int:
        """The data's now: the current request's instant inside a request (`request_instant`), else the clock."""
        if (now := _REQUEST_NOW_MS.get()) is not None:
            return now
        return int(self.clock() * 1000)


A = TypeVar("A")
R = TypeVar("R")


@contextmanager
def request_instant(now_ms: int) -> Iterator[None]:
    """For the block (one request's handler, in its thread), `now_ms()` is `now_ms`."""
    token = _REQUEST_NOW_MS.set(now_ms)
    try:
        yield
    finally:
        _REQUEST_NOW_MS.reset(token)


def at_instant(now_ms: int, handler: Callable[[A], R], arg: A) -> R:
    """`handler(arg)` at one instant: a request's (API or viewer) handler, in the thread that serves it."""
    with request_instant(now_ms):
        return handler(arg)
