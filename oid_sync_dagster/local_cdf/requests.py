"""The handler convention of the local CDF: parse the (possibly gzipped) JSON body, run the synchronous
implementation in a worker thread (SQLite and numpy block), and answer JSON."""

from __future__ import annotations

import gzip
import json
import math
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from oid_sync_dagster.local_cdf.errors import CDFError, bad_request, forbidden
from oid_sync_dagster.local_cdf.settings import at_instant
from oid_sync_dagster.wire.rows import CONTENT_TYPE

if TYPE_CHECKING:
    from oid_sync_dagster.local_cdf.projects import Project, ProjectRegistry, TargetProject
    from oid_sync_dagster.local_cdf.settings import LocalCDFSettings


def _replace_non_finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _replace_non_finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_non_finite(v) for v in value]
    return value


class JSONResponse(Response):
    """CDF sends non-finite numbers as the strings "NaN", "Infinity", "-Infinity"."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except ValueError:
            text = json.dumps(_replace_non_finite(content), ensure_ascii=False, separators=(",", ":"))
        return text.encode()


async def read_body(request: Request) -> bytes:
    body = await request.body()
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding == "gzip":
        try:
            return gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            raise bad_request("The request body is not valid gzip.") from None
    if encoding not in ("", "identity"):
        raise CDFError(415, f"Unsupported content-encoding {encoding!r}.")
    return body


@dataclass
class Context:
    request: Request
    body: Any
    registry: ProjectRegistry
    settings: LocalCDFSettings
    now_ms: int

    @property
    def project(self) -> Project:
        return self.registry.get(self.request.path_params["project"])

    def target(self) -> TargetProject:
        """The project as a writable target; the synthetic source is read only."""
        from oid_sync_dagster.local_cdf.projects import TargetProject

        project = self.project
        if not isinstance(project, TargetProject):
            raise forbidden(f"Project {project.name!r} is read only.")
        return project

    def items(self, *, max_items: int, key: str = "items") -> list[Any]:
        items = self.field(key, list)
        if len(items) > max_items:
            raise bad_request(f"{key} size must be between 1 and {max_items}, got {len(items)}.")
        if not items:
            raise bad_request(f"{key} must not be empty.")
        return items

    def field(self, key: str, kind: type, default: Any = ..., *, body: Any = None) -> Any:
        source = self.body if body is None else body
        if not isinstance(source, dict):
            raise bad_request("The request body must be a JSON object.")
        if key not in source or source[key] is None:
            if default is ...:
                raise bad_request(f"Missing required field {key!r}.")
            return default
        value = source[key]
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            raise bad_request(f"Field {key!r} must be of type {kind.__name__}, got {value!r}.")
        return value

    def query(self, key: str, kind: type = str, default: Any = None) -> Any:
        raw = self.request.query_params.get(key)
        if raw is None:
            return default
        try:
            return kind(raw) if kind is not bool else raw.lower() == "true"
        except ValueError:
            raise bad_request(f"Query parameter {key!r} must be of type {kind.__name__}, got {raw!r}.") from None


Handler = Callable[[Context], Any]


def endpoint(impl: Handler, *, protobuf: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a synchronous implementation `impl(ctx) -> dict | Response` as a Starlette endpoint. With `protobuf`,
    a body sent as `application/protobuf` reaches the handler as bytes (unless the settings refuse protobuf);
    elsewhere such a body gets 415, as CDF answers a content type an endpoint does not take."""

    async def handle(request: Request) -> Response:
        raw = await read_body(request) if request.method in ("POST", "PUT", "PATCH") else b""
        state = request.app.state
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == CONTENT_TYPE:
            if not (protobuf and state.settings.accept_protobuf_inserts):
                raise CDFError(415, f"Unsupported content-type {content_type!r}: this endpoint takes application/json.")
            body: Any = raw
        else:
            try:
                body = json.loads(raw) if raw else None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise bad_request(f"Invalid JSON in request body: {exc}") from None
        ctx = Context(request, body, state.registry, state.settings, state.settings.now_ms())
        result = await run_in_threadpool(at_instant, ctx.now_ms, impl, ctx)
        return result if isinstance(result, Response) else JSONResponse(result)

    handle.__name__ = impl.__name__
    return handle
