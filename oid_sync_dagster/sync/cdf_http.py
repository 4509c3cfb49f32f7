"""An HTTP client for the few CDF calls the SDK cannot make fast: the SDK's contract on httpx.

The SDK posts JSON only through public API and turns every datapoint into Python objects on the way in and out. The
engine's hot calls (protobuf inserts, protobuf reads) go through this client instead, which keeps what the SDK
guarantees: the client's credentials (authorization_header() before every attempt), its headers, timeout, proxy and
TLS settings, and its retry rules (429/502/503/504 and `cdf-is-auto-retryable` and read timeouts up to max_retries,
connect errors three times, full-jitter backoff capped by global_config.max_retry_backoff; a connection broken
mid-response is the caller's on_transport_errors' to retry, as on the SDK path). Failures come out as the SDK's
exceptions, so callers treat both paths alike. httpx is the library the SDK's own HTTP layer (httpx2) was forked
from, kept by the same people under its original name: one sync client, thread-safe, pooled, proxy-aware.
"""

from __future__ import annotations

import gzip
import random
import time
from typing import Any, NoReturn

import httpx
from cognite.client import ClientConfig, global_config
from cognite.client import __version__ as sdk_version
from cognite.client.exceptions import (
    CogniteAPIError,
    CogniteConnectionError,
    CogniteDuplicatedError,
    CogniteNotFoundError,
    CogniteProjectAccessError,
    CogniteReadTimeout,
    CogniteRequestError,
)

MAX_CONNECT_RETRIES = 3  # the SDK's max_retries_connect


def _backoff_s(attempt: int) -> float:
    """The SDK's full jitter: uniform(0.1, min(0.5 * 2**attempt, max_retry_backoff))."""
    return random.uniform(0.1, max(0.1, min(0.5 * 2**attempt, global_config.max_retry_backoff)))


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {"message": response.text}
    return error if isinstance(error, dict) else {"message": str(error)}


class CdfHttp:
    """POSTs to one project's API with a client's config."""

    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        self._root = f"{config.base_url}/api/v1/projects/{config.project}"
        self._http = httpx.Client(
            timeout=config.timeout,
            proxy=global_config.proxy,
            verify=False if global_config.disable_ssl else (global_config.ssl_context or True),
            follow_redirects=global_config.follow_redirects,
            trust_env=True,
        )
        self._headers = {
            "accept": "application/json",
            "x-cdp-sdk": f"CognitePythonSDK:{sdk_version}",
            "x-cdp-app": config.client_name,
            "cdf-version": config.api_subversion,
            "user-agent": f"python-httpx/{httpx.__version__} CognitePythonSDK/{sdk_version} oid-sync-dagster",
            **config.headers,
        }

    def close(self) -> None:
        self._http.close()

    def post(self, path: str, body: bytes, *, content_type: str, accept: str = "application/json") -> httpx.Response:
        """The response to a retryable POST of `body`; the SDK's exception when it fails for good."""
        headers = {**self._headers, "content-type": content_type, "accept": accept}
        if not global_config.disable_gzip:
            body = gzip.compress(body, compresslevel=1)  # level 1: most of the gain, a fraction of the CPU
            headers["content-encoding"] = "gzip"
        url = self._root + path
        attempt = connect_attempts = 0
        while True:
            name, value = self._config.credentials.authorization_header()
            headers[name] = value
            try:
                response = self._http.post(url, content=body, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                connect_attempts += 1
                if connect_attempts > MAX_CONNECT_RETRIES or attempt >= global_config.max_retries:
                    raise CogniteConnectionError("Cognite API connection error") from error
            except httpx.TimeoutException as error:  # read, write or pool timeout
                if attempt >= global_config.max_retries:
                    raise CogniteReadTimeout("Read timed out") from error
            except httpx.HTTPError as error:
                # The connection broke mid-request or mid-response: like the SDK, no retry here, a bare
                # CogniteRequestError, which the caller's on_transport_errors retries (not both, or they multiply).
                raise CogniteRequestError(f"{type(error).__name__}: {error}") from error
            else:
                if response.status_code < 400:
                    return response
                retryable = response.headers.get("cdf-is-auto-retryable", "").lower() == "true"
                status = response.status_code
                if not (status in global_config.status_forcelist or retryable) or attempt >= global_config.max_retries:
                    self._raise(response)
            time.sleep(_backoff_s(attempt))
            attempt += 1

    def _raise(self, response: httpx.Response) -> NoReturn:
        """The SDK's exception for a failed response (FailedRequestHandler's mapping)."""
        status, error = response.status_code, _error_body(response)
        message = str(error.get("message", ""))
        request_id = response.headers.get("x-request-id")
        common: dict[str, Any] = {"x_request_id": request_id, "project": self._config.project}
        if status == 401:
            raise CogniteProjectAccessError(self._config.project, request_id, None)
        if status == 409 and error.get("duplicated"):
            raise CogniteDuplicatedError(message, status, duplicated=error["duplicated"], **common)
        if (status in (400, 404, 422) and error.get("missing")) or status == 404:
            raise CogniteNotFoundError(message, status, missing=error.get("missing") or [], **common)
        raise CogniteAPIError(
            message, status, missing=error.get("missing"), duplicated=error.get("duplicated"), **common
        )
