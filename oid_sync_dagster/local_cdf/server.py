"""Serving the local CDF on loopback: in a thread (tests, Dagster's local mode) or in the foreground (the CLI).

The server binds its own socket, on port 0 unless told otherwise, and reports the port it got."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
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


def bind_loopback(port: int = 0) -> socket.socket:
    """A listening TCP socket on 127.0.0.1:`port`; 0 lets the kernel pick a free port (read it with `url_of`).

    Binding here rather than in uvicorn: whoever started the server learns the port from the socket it holds, so
    no "free" port is picked first and lost to another process before the server binds it. Raises OSError
    (EADDRINUSE) if an explicit port is taken.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a TIME_WAIT socket is no obstacle
        sock.bind((LOOPBACK, port))
        sock.listen(2048)  # uvicorn's default backlog; connections queue from here on, none is refused
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


class _Server(uvicorn.Server):
    """uvicorn's server, calling `on_started` once it serves (after `startup`, a public method, has run)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()


def _config(app: Starlette) -> uvicorn.Config:
    # httptools + uvloop when installed (uvicorn[standard]); access log off: the request log keeps the record.
    # host is for uvicorn's messages only: the server serves the socket it is given (bind_loopback).
    return uvicorn.Config(app, host=LOOPBACK, log_level="warning", access_log=False, lifespan="off")


@contextmanager
def serve_in_thread(settings: LocalCDFSettings | None = None, port: int = 0) -> Iterator[RunningLocalCDF]:
    """Serve on loopback in a daemon thread until the block exits; nothing is left running afterwards.

    `port` 0 (the default): a port of the kernel's choosing, in `base_url`; two servers started at once never race.
    """
    settings = settings or LocalCDFSettings()
    app = create_app(settings)
    sock = bind_loopback(port)
    started = threading.Event()
    server = _Server(_config(app), on_started=started.set)  # off the main thread uvicorn leaves signals alone
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="local-cdf", daemon=True)
    thread.start()
    try:
        while not started.wait(0.01):
            if not thread.is_alive():
                raise RuntimeError("The local CDF failed to start; see the log above.")
        base_url = url_of(sock)
        client_id, client_secret = next(iter(settings.clients.items()))
        yield RunningLocalCDF(base_url, f"{base_url}/oauth2/token", client_id, client_secret, app, settings)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()  # uvicorn closes it on shutdown; this covers a start that failed


def serve_forever(
    settings: LocalCDFSettings, sock: socket.socket, on_started: Callable[[], None] | None = None
) -> None:
    """Serve `sock` (from `bind_loopback`) in the foreground; uvicorn handles Ctrl-C and SIGTERM with a clean
    shutdown. `on_started` runs once the server serves (the CLI reports its URL to a parent then)."""
    _Server(_config(create_app(settings)), on_started=on_started or (lambda: None)).run(sockets=[sock])
