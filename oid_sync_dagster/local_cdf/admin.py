"""The fault-injection admin endpoint, outside `/api` so the SDK never reaches it: `/_local/faults`.

POST adds rules (scripted: the next `count` matching requests; a seeded `rate`; or an outage of `for_s`
seconds, every matching request or a seeded `rate` of them), DELETE clears them, GET
reports the rules in force and the faults injected so far. It needs a valid bearer token like the API (the
same client credentials), so nothing on the machine can switch faults on anonymously; requests to `/_local`
are never faulted themselves.

Body of a POST: `{"seed": 7, "rules": [{"path": "/timeseries/data$", "method": "POST", "status": 503,
"headers": {"Retry-After": "2"}, "stall_s": 0, "drop": false, "message": "...", "count": 3}]}`; a rule has
`count`, or `rate` and/or `for_s` (a token-endpoint outage: `{"path": "^/oauth2/token$", "for_s": 30}`).
`"applied": true` serves the request first and then loses its answer (the status, or the drop): a write that CDF
committed while the client saw it fail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from oid_sync_dagster.local_cdf.auth import TokenIssuer
from oid_sync_dagster.local_cdf.errors import CDFError, bad_request
from oid_sync_dagster.local_cdf.faults import Fault, FaultInjector
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings

_RULE_KEYS = {"path", "method", "status", "headers", "stall_s", "drop", "applied", "message", "count", "rate", "for_s"}


def _rule(raw: Any, index: int) -> tuple[str, str | None, Fault, int | None, float | None, float | None]:
    where = f"rules[{index}]"
    if not isinstance(raw, dict):
        raise bad_request(f"{where}: must be an object")
    if unknown := set(raw) - _RULE_KEYS:
        raise bad_request(f"{where}: unknown keys {sorted(unknown)}")
    path = raw.get("path")
    if not isinstance(path, str):
        raise bad_request(f"{where}.path: a regular expression over the URL path is required")
    try:
        re.compile(path)
    except re.error as exc:
        raise bad_request(f"{where}.path: not a regular expression ({exc})") from None
    method = raw.get("method")
    if method is not None and method not in ("GET", "POST", "PUT", "DELETE"):
        raise bad_request(f"{where}.method: GET, POST, PUT, DELETE or null (got {method!r})")
    status = raw.get("status", 503)
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise bad_request(f"{where}.status: an HTTP error status 400-599 (got {status!r})")
    headers = raw.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise bad_request(f"{where}.headers: an object of strings")
    stall = raw.get("stall_s", 0)
    if not isinstance(stall, int | float) or isinstance(stall, bool) or not 0 <= stall <= 600:
        raise bad_request(f"{where}.stall_s: seconds between 0 and 600 (got {stall!r})")
    drop = raw.get("drop", False)
    if not isinstance(drop, bool):
        raise bad_request(f"{where}.drop: true or false")
    applied = raw.get("applied", False)
    if not isinstance(applied, bool):
        raise bad_request(f"{where}.applied: true or false")
    count, rate, for_s = raw.get("count"), raw.get("rate"), raw.get("for_s")
    if count is not None and (rate is not None or for_s is not None):
        raise bad_request(f"{where}: count (scripted) excludes rate and for_s")
    if count is None and rate is None and for_s is None:
        raise bad_request(f"{where}: give count (scripted), rate (seeded) or for_s (an outage, optionally with rate)")
    if for_s is not None and (not isinstance(for_s, int | float) or isinstance(for_s, bool) or not 0 < for_s <= 3600):
        raise bad_request(f"{where}.for_s: seconds in (0, 3600] (got {for_s!r})")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise bad_request(f"{where}.count: a positive integer (got {count!r})")
    if rate is not None and (not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate <= 1):
        raise bad_request(f"{where}.rate: a probability in (0, 1] (got {rate!r})")
    message = str(raw.get("message", "Injected fault"))
    fault = Fault(
        status=status, headers=dict(headers), stall_s=float(stall), drop=drop, message=message, applied=applied
    )
    return path, method, fault, count, None if rate is None else float(rate), None if for_s is None else float(for_s)


def faults_endpoint(
    issuer: TokenIssuer, settings: LocalCDFSettings, faults: FaultInjector
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            issuer.verify(request.headers.get("authorization"), settings.auth_clock())
            if request.method == "GET":
                return JSONResponse(faults.describe())
            if request.method == "DELETE":
                faults.clear()
                return JSONResponse(faults.describe())
            try:
                body = json.loads(await request.body() or b"{}")
            except json.JSONDecodeError as exc:
                raise bad_request(f"body: not JSON ({exc.msg})") from None
            if not isinstance(body, dict) or not isinstance(body.get("rules", []), list):
                raise bad_request("body: {'seed'?: int, 'rules': [...]} expected")
            rules = [_rule(raw, i) for i, raw in enumerate(body.get("rules", []))]  # all valid, or none applied
            seed = body.get("seed")
            if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
                raise bad_request(f"seed: an integer (got {seed!r})")
            if seed is not None:
                faults.reseed(seed)
            for path, method, fault, count, rate, for_s in rules:
                if count is not None:
                    faults.script(path, [fault] * count, method=method)
                elif for_s is not None:
                    faults.outage(path, fault, for_s, rate=1.0 if rate is None else rate, method=method)
                else:
                    faults.rate(path, fault, rate or 0.0, method=method)
            return JSONResponse(faults.describe())
        except CDFError as exc:
            return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    return endpoint
