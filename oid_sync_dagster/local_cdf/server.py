"""Serving the local CDF: in-process on a free loopback port (tests, Dagster's local mode) or in the foreground."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from oid_sync_dagster.local_cdf.app import create_app
from oid_sync_dagster.local_cdf.faults import FaultInjector, RequestLog
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings

LOOPBACK = "127.0.0.1"


@dataclass
class RunningLocalCDF:
    """What a client needs to reach a running local CDF, and the handles tests use."""

    base_url: str
    token_url: str
    client_id: str
    client_secret: str
    app: Starlette
    settings: LocalCDFSettings

    @property
    def faults(self) -> FaultInjector:
        return self.app.state.faults

    @property
    def request_log(self) -> RequestLog:
        return self.app.state.request_log


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _config(app: Starlette, port: int) -> uvicorn.Config:
    # httptools + uvloop when installed (uvicorn[standard]); access log off: the request log keeps the record.
    return uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning", access_log=False, lifespan="off")


@contextmanager
def serve_in_thread(settings: LocalCDFSettings | None = None, port: int = 0) -> Iterator[RunningLocalCDF]:
    """Serve on loopback in a daemon thread until the block exits; nothing is left running afterwards."""
    settings = settings or LocalCDFSettings()
    app = create_app(settings)
    server = uvicorn.Server(_config(app, port or free_port()))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the main thread owns signals
    thread = threading.Thread(target=server.run, name="local-cdf", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("The local CDF failed to start; see the log above.")
        thread.join(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    base_url = f"http://{LOOPBACK}:{port}"
    client_id, client_secret = next(iter(settings.clients.items()))
    try:
        yield RunningLocalCDF(base_url, f"{base_url}/oauth2/token", client_id, client_secret, app, settings)
    finally:
        server.should_exit = True
        thread.join(10)


def serve_forever(settings: LocalCDFSettings, port: int) -> None:
    """Serve in the foreground; uvicorn handles Ctrl-C and SIGTERM with a clean shutdown."""
    uvicorn.Server(_config(create_app(settings), port)).run()
