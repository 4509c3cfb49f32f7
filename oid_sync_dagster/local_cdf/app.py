"""The local CDF as an ASGI app: Starlette routing under `/api/v1/projects/{project}`, the token endpoint, and the
read-only data viewer (viewer/) at the root.

Starlette rather than FastAPI: CDF's wire contract (error body, protobuf answers, gzip bodies, exact limits) is
written by hand anyway, so a validation and OpenAPI layer would only add cost on the datapoints hot path.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oid_sync_dagster.local_cdf.admin import faults_endpoint
from oid_sync_dagster.local_cdf.auth import (
    OAuthError,
    TokenIssuer,
    load_signing_key,
    parse_client_credentials,
)
from oid_sync_dagster.local_cdf.errors import CDFError
from oid_sync_dagster.local_cdf.faults import LOGGED_HEADERS, Fault, FaultInjector, RequestLog, RequestRecord
from oid_sync_dagster.local_cdf.projects import ProjectRegistry
from oid_sync_dagster.local_cdf.requests import JSONResponse
from oid_sync_dagster.local_cdf.routes import datamodeling, datapoints, datasets, extpipes, raw, timeseries
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.local_cdf.viewer.routes import viewer_routes

_AUTHENTICATED_PREFIX = "/api/"


def _error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message}}, status_code=status, headers=headers)


class CDFMiddleware:
    """Request id, fault hook, bearer-token check and request log around every HTTP request."""

    def __init__(self, app: ASGIApp, *, issuer: TokenIssuer, settings: LocalCDFSettings,
                 faults: FaultInjector, log: RequestLog) -> None:  # fmt: skip
        self.app, self.issuer, self.settings, self.faults, self.log = app, issuer, settings, faults, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        method, path = scope["method"], scope["path"]
        started, wall = time.monotonic(), time.time()
        status = 0

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        fault = self.faults.decide(method, path)
        try:
            if fault is not None and not fault.applied:
                await self._inject(fault, scope, receive, send_with_request_id)
            elif path.startswith(_AUTHENTICATED_PREFIX) and (denied := self._deny(scope)) is not None:
                await denied(scope, receive, send_with_request_id)
            elif fault is not None:
                await self.app(scope, receive, _discard)  # served and committed; its answer is lost below
                await self._inject(fault, scope, receive, send_with_request_id)
            else:
                await self.app(scope, receive, send_with_request_id)
        finally:
            duration = time.monotonic() - started  # first: the client has its answer by now
            headers = {
                name: value.decode("latin-1")
                for raw, value in scope["headers"]
                if (name := raw.decode("latin-1").lower()) in LOGGED_HEADERS
            }
            self.log.add(RequestRecord(request_id, method, path, status, duration, wall, fault is not None, headers))

    def _deny(self, scope: Scope) -> Response | None:
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1") or None
        try:
            self.issuer.verify(authorization, self.settings.auth_clock())
        except CDFError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return None

    @staticmethod
    async def _inject(fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        if fault.stall_s:
            # At least the stall: asyncio may wake a timer up to its clock resolution early.
            deadline = time.monotonic() + fault.stall_s
            while (left := deadline - time.monotonic()) > 0:
                await asyncio.sleep(left)
        if fault.drop:
            # Start an answer and break off mid-body: the client sees the connection drop.
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise ConnectionAbortedError("injected dropped connection")
        await _error_response(fault.status, fault.message, fault.headers)(scope, receive, send)


async def _discard(_: Message) -> None:
    """The send of a request whose answer an `applied` fault replaces."""


async def _cdf_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, CDFError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error_response(exc.status_code, str(exc.detail))


async def _unexpected_error(_: Request, exc: Exception) -> Response:
    return _error_response(500, f"Internal error in the local CDF: {type(exc).__name__}: {exc}")


def create_app(settings: LocalCDFSettings | None = None) -> Starlette:
    settings = settings or LocalCDFSettings()
    signing_key = load_signing_key(settings.data_dir)
    issuer = TokenIssuer(signing_key, settings.clients, settings.token_ttl_s)
    registry = ProjectRegistry(settings)
    faults = FaultInjector()

    async def token(request: Request) -> Response:
        try:
            client_id, secret, _scope = parse_client_credentials(
                await request.body(), request.headers.get("authorization")
            )
            return JSONResponse(issuer.issue(client_id, secret, settings.auth_clock()))
        except OAuthError as exc:
            return JSONResponse({"error": exc.error, "error_description": exc.description}, exc.status)

    async def inspect(request: Request) -> Response:
        claims = issuer.verify(request.headers.get("authorization"), settings.auth_clock())
        projects = [{"projectUrlName": name, "groups": [1]} for name in registry.known_projects()]
        capabilities: list[dict[str, Any]] = [
            {acl: {"actions": ["READ", "WRITE"], "scope": {"all": {}}}, "projectScope": {"allProjects": {}}}
            for acl in ("timeSeriesAcl", "dataModelsAcl", "dataModelInstancesAcl", "rawAcl", "extractionPipelinesAcl",
                        "extractionRunsAcl", "extractionConfigsAcl", "datasetsAcl")
        ]  # fmt: skip
        return JSONResponse({"subject": claims.subject, "projects": projects, "capabilities": capabilities})

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "projects": registry.known_projects()})

    project_routes = [
        *timeseries.routes(),
        *datapoints.routes(),
        *datamodeling.routes(),
        *raw.routes(),
        *extpipes.routes(),
        *datasets.routes(),
    ]
    app = Starlette(
        routes=[
            Route("/oauth2/token", token, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),  # the Entra ID shape of the same
            Route("/api/v1/token/inspect", inspect, methods=["GET"]),
            Route("/_local/health", health, methods=["GET"]),
            Route("/_local/faults", faults_endpoint(issuer, settings, faults), methods=["GET", "POST", "DELETE"]),
            Mount("/api/v1/projects/{project}", routes=project_routes),
            # The read-only viewer at the root, on this same loopback server; it guards its own routes.
            *viewer_routes(settings, registry, signing_key),
        ],
        exception_handlers={CDFError: _cdf_error, HTTPException: _http_error, Exception: _unexpected_error},
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.issuer = issuer
    app.state.faults = faults
    app.state.request_log = RequestLog()
    app.add_middleware(
        CDFMiddleware, issuer=issuer, settings=settings, faults=app.state.faults, log=app.state.request_log
    )
    return app
