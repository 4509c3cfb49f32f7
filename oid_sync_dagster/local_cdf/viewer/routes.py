"""The viewer's routes and their guard: pages need a session cookie (else the login page), data needs it too
(else CDF's 401 body). Read only: the only POST is the login form, and no handler writes to a project.

A session comes from the login form (a client id and secret the token endpoint accepts) or from a printed link's
token (`?token=`), which is swapped for the cookie and dropped from the address bar by a redirect.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from oid_sync_dagster.local_cdf.projects import ProjectRegistry, SourceProject
from oid_sync_dagster.local_cdf.requests import JSONResponse
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings, at_instant
from oid_sync_dagster.local_cdf.viewer import data, pages, params, payloads, static
from oid_sync_dagster.local_cdf.viewer.data import MAX_RAW_POINTS
from oid_sync_dagster.local_cdf.viewer.params import ViewerError
from oid_sync_dagster.local_cdf.viewer.session import COOKIE_NAME, SESSION_TTL_S, ViewerSigner

Handler = Callable[[Request], Awaitable[Response]]


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers={"cache-control": "no-store"})


def _json_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message}}, status_code=status)


def _safe_next(target: str | None) -> str:
    """Only a path on this server: never `//host` or a scheme (an open redirect out of a login link)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _query(request: Request) -> Mapping[str, str]:
    return dict(request.query_params)


def viewer_routes(settings: LocalCDFSettings, registry: ProjectRegistry, signing_key: bytes) -> list[BaseRoute]:
    signer = ViewerSigner(signing_key)

    def logged_in(request: Request) -> bool:
        return signer.verify(request.cookies.get(COOKIE_NAME), "session", settings.auth_clock()) is not None

    def with_session(response: Response, subject: str) -> Response:
        token = signer.issue(subject, "session", settings.auth_clock(), SESSION_TTL_S)
        response.set_cookie(COOKIE_NAME, token, max_age=SESSION_TTL_S, httponly=True, samesite="lax", path="/")
        return response

    def page(render: Callable[[Request], str]) -> Handler:
        async def handle(request: Request) -> Response:
            if (token := request.query_params.get("token")) is not None:
                subject = signer.verify(token, "link", settings.auth_clock())
                if subject is None:
                    return _html(pages.login(request.url.path, "The link's token is invalid or expired; log in."), 401)
                rest = {k: v for k, v in request.query_params.items() if k != "token"}
                clean = request.url.path + (f"?{urlencode(rest)}" if rest else "")
                return with_session(RedirectResponse(clean, status_code=303), subject)
            if not logged_in(request):
                here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?{urlencode({'next': here})}", status_code=303)
            try:
                # The data clock read once per page, as the API reads it once per request: every series at one instant.
                return _html(await run_in_threadpool(at_instant, settings.now_ms(), render, request))
            except ViewerError as error:
                return _html(pages.error(error.status, error.message), error.status)
            except Exception as error:  # a page, never a stack trace
                return _html(pages.error(500, f"Internal error in the viewer: {type(error).__name__}: {error}"), 500)

        return handle

    def json_data(build: Callable[[Mapping[str, str]], dict[str, Any]]) -> Handler:
        async def handle(request: Request) -> Response:
            if not logged_in(request):
                return _json_error(401, "Unauthorized: log in to the viewer (a session cookie is required).")
            try:
                return JSONResponse(
                    await run_in_threadpool(at_instant, settings.now_ms(), build, _query(request)),
                    headers={"cache-control": "no-store"},
                )
            except ViewerError as error:
                return _json_error(error.status, error.message)

        return handle

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return _html(pages.login(_safe_next(request.query_params.get("next"))))
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        next_url = _safe_next(form.get("next"))
        expected = settings.clients.get(client_id)
        if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
            # Names the client, never the secret; the same wording as the token endpoint's refusal.
            message = f"Client authentication failed for client id {client_id!r}."
            return _html(pages.login(next_url, message), 401)
        return with_session(RedirectResponse(next_url, status_code=303), client_id)

    async def logout(_: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/")
        return response

    def index(_: Request) -> str:
        projects = [(name, isinstance(p := registry.get(name), SourceProject), data.summaries(p, settings))
                    for name in registry.known_projects()]  # fmt: skip
        return pages.index(projects, settings.now_ms())

    def series(request: Request) -> str:
        query = _query(request)
        found = payloads.series_request(registry, query)
        payloads.series_window(found, settings)  # an explicit end beyond the data is refused here, not in the chart
        poll = params.poll_s(query)
        xid, space = data.series_key(found.record)
        base = {"project": found.project.name, "xid": xid, **({"space": space} if space else {})}
        for name in ("offset", "end", "poll"):
            if query.get(name):
                base[name] = query[name]
        config = {
            "dataUrl": "/data/series",
            "query": {**base, "window": found.window},
            "pollMs": poll * 1000,
            "maxRaw": MAX_RAW_POINTS,
        }
        record = found.record
        overlay = (f"; overlaid: {registry.source.name} {xid} shifted by {query.get('offset') or params.DEFAULT_OFFSET}"
                   if found.source is not None else "")  # fmt: skip
        subtitle = f"{found.project.name} / {xid}: {record.type}, unit {record.unit or '-'}{overlay}"
        return pages.series(config, record.name or xid, subtitle, base, found.window)

    def overview(request: Request) -> str:
        query = _query(request)
        project, chosen, window, end = payloads.overview_request(registry, query)
        payloads.overview_window(project, chosen, window, end, settings)
        poll = params.poll_s(query)
        base = {"project": project.name, **{k: query[k] for k in ("end", "poll") if query.get(k)}}
        config = {"dataUrl": "/data/overview", "query": {**base, "window": window}, "pollMs": poll * 1000,
                  "maxRaw": MAX_RAW_POINTS}  # fmt: skip
        roles = [(role, record.name or str(record.id)) for role, record in chosen]
        return pages.overview(config, project.name, roles, base, window)

    return [
        Route("/", page(index), methods=["GET"]),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["GET"]),
        Route("/series", page(series), methods=["GET"]),
        Route("/overview", page(overview), methods=["GET"]),
        Route("/data/series", json_data(lambda q: payloads.series_payload(registry, settings, q)), methods=["GET"]),
        Route("/data/overview", json_data(lambda q: payloads.overview_payload(registry, settings, q)), methods=["GET"]),
        Route(static.PLOTLY_PATH, static.plotly, methods=["GET"]),
        Route(static.VIEWER_JS_PATH, static.viewer_js, methods=["GET"]),
        Route(static.VIEWER_CSS_PATH, static.viewer_css, methods=["GET"]),
    ]
