"""Datapoint inserts into the target: protobuf bodies built from the arrays, or JSON through the SDK.

The SDK turns every point of an insert into Python objects and a JSON-ready dict (about 5 us of client CPU a point);
CDF also takes `DataPointInsertionRequest` protobuf bodies, which wire/insert_protobuf.py builds from the numpy
arrays directly. The SDK posts only JSON through public API, so protobuf goes out on our own httpx client (the HTTP
library the SDK itself is built on: one sync client, thread-safe, pooled, proxy-aware) with the SDK's contract: its
credentials (authorization_header() before every attempt), its headers, its timeout and proxy settings, and its
retry rules (429/502/503/504, `cdf-is-auto-retryable`, broken connections and read timeouts, full-jitter backoff).
Errors come out as the SDK's exceptions, so the writer treats both paths alike.

A target that refuses protobuf (415, or a 400 naming the content type) turns the inserter to JSON for good, with
one log line, and the refused request goes again as JSON: the run succeeds either way.
"""

from __future__ import annotations

import gzip
import logging
import random
import threading
import time
from collections.abc import Sequence
from typing import Any, Literal

import httpx
import numpy as np
from cognite.client import CogniteClient, global_config
from cognite.client import __version__ as sdk_version
from cognite.client.data_classes import DatapointsArray
from cognite.client.exceptions import (
    CogniteAPIError,
    CogniteConnectionError,
    CogniteDuplicatedError,
    CogniteNotFoundError,
    CogniteProjectAccessError,
    CogniteReadTimeout,
)

from oid_sync_dagster.sync.retry import on_transport_errors
from oid_sync_dagster.wire.insert_protobuf import CONTENT_TYPE, InsertItem, encode_insert_request

InsertEncoding = Literal["protobuf", "json"]

log = logging.getLogger("oid_sync")

MAX_CONNECT_RETRIES = 3  # the SDK's max_retries_connect


# A 400 whose message names the body's type: a server that reads every body as JSON refused ours.
_CONTENT_TYPE_WORDS = ("content-type", "content type", "protobuf", "json")


class ProtobufRefused(Exception):
    """The target does not take protobuf inserts."""


def item_of(array: DatapointsArray) -> InsertItem:
    """The insert item of a shifted array (instance id, columns as they are; a Bad point without a value as null)."""
    timestamps = array.timestamp.astype("datetime64[ms]").astype(np.int64)
    nulls = None
    if array.null_timestamps:
        nulls = np.isin(timestamps, np.fromiter(array.null_timestamps, np.int64, len(array.null_timestamps)))
    node = array.instance_id
    assert node is not None  # the engine writes by instance id only
    return InsertItem(
        timestamps=timestamps,
        values=array.value,
        is_string=bool(array.is_string),
        status=array.status_code,
        nulls=nulls,
        instance_id=(node.space, node.external_id),
    )


def merged_items(arrays: Sequence[DatapointsArray]) -> list[InsertItem]:
    """One item per series: CDF refuses a request naming a series twice (a batch may hold several pieces of one
    series, e.g. two weeks of a range), so the pieces of a series become one item, in time order."""
    by_node: dict[tuple[str, str], list[InsertItem]] = {}
    for array in arrays:
        item = item_of(array)
        assert item.instance_id is not None
        by_node.setdefault(item.instance_id, []).append(item)
    return [parts[0] if len(parts) == 1 else _concatenated(parts) for parts in by_node.values()]


def _concatenated(parts: list[InsertItem]) -> InsertItem:
    n = [len(p.timestamps) for p in parts]
    timestamps = np.concatenate([p.timestamps for p in parts])
    order = np.argsort(timestamps, kind="stable")
    status = None
    if any(p.status is not None for p in parts):
        status = np.concatenate(
            [np.zeros(k, np.uint32) if p.status is None else p.status for p, k in zip(parts, n, strict=True)]
        )
    nulls = None
    if any(p.nulls is not None for p in parts):
        nulls = np.concatenate(
            [np.zeros(k, bool) if p.nulls is None else p.nulls for p, k in zip(parts, n, strict=True)]
        )
    return InsertItem(
        timestamps=timestamps[order],
        values=np.concatenate([p.values for p in parts])[order],
        is_string=parts[0].is_string,
        status=None if status is None else status[order],
        nulls=None if nulls is None else nulls[order],
        instance_id=parts[0].instance_id,
    )


def _user_agent() -> str:
    return f"python-httpx/{httpx.__version__} CognitePythonSDK/{sdk_version} oid-sync-dagster"


def _backoff_s(attempt: int) -> float:
    """The SDK's full jitter: uniform(0.1, min(0.5 * 2**attempt, max_retry_backoff))."""
    return random.uniform(0.1, max(0.1, min(0.5 * 2**attempt, global_config.max_retry_backoff)))


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {"message": response.text}
    return error if isinstance(error, dict) else {"message": str(error)}


class ProtobufPoster:
    """POSTs protobuf insert bodies to the target's `/timeseries/data`, as the SDK would post JSON."""

    def __init__(self, target: CogniteClient) -> None:
        config = target.config
        self._config = config
        self._url = f"{config.base_url}/api/v1/projects/{config.project}/timeseries/data"
        self._http = httpx.Client(
            timeout=config.timeout,
            proxy=global_config.proxy,
            verify=False if global_config.disable_ssl else (global_config.ssl_context or True),
            follow_redirects=global_config.follow_redirects,
            trust_env=True,
        )
        self._headers = {
            "content-type": CONTENT_TYPE,
            "accept": "application/json",
            "x-cdp-sdk": f"CognitePythonSDK:{sdk_version}",
            "x-cdp-app": config.client_name,
            "cdf-version": config.api_subversion,
            "user-agent": _user_agent(),
            **config.headers,
        }

    def close(self) -> None:
        self._http.close()

    def post(self, body: bytes) -> None:
        headers = dict(self._headers)
        if not global_config.disable_gzip:
            body = gzip.compress(body, compresslevel=1)  # level 1: most of the gain, a fraction of the CPU
            headers["content-encoding"] = "gzip"
        attempt = connect_attempts = 0
        while True:
            name, value = self._config.credentials.authorization_header()
            headers[name] = value
            try:
                response = self._http.post(self._url, content=body, headers=headers)
            except httpx.ConnectError as error:
                connect_attempts += 1
                if connect_attempts > MAX_CONNECT_RETRIES or attempt >= global_config.max_retries:
                    raise CogniteConnectionError("Cognite API connection error") from error
            except httpx.TimeoutException as error:
                if attempt >= global_config.max_retries:
                    raise CogniteReadTimeout("Read timed out") from error
            except httpx.TransportError as error:  # the connection broke mid-request or mid-response
                if attempt >= global_config.max_retries:
                    raise CogniteConnectionError("Cognite API connection error") from error
            else:
                if response.status_code < 400:
                    return
                retryable = response.headers.get("cdf-is-auto-retryable", "").lower() == "true"
                if (
                    not (response.status_code in global_config.status_forcelist or retryable)
                    or attempt >= global_config.max_retries
                ):
                    self._raise(response)
            time.sleep(_backoff_s(attempt))
            attempt += 1

    def _raise(self, response: httpx.Response) -> None:
        status, error = response.status_code, _error_body(response)
        message = str(error.get("message", ""))
        request_id = response.headers.get("x-request-id")
        if status == 415 or (status == 400 and any(word in message.lower() for word in _CONTENT_TYPE_WORDS)):
            raise ProtobufRefused(f"{status} {message}")
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


class Inserter:
    """Inserts batches of shifted arrays into the target, as protobuf or JSON (falling back to JSON once)."""

    def __init__(self, target: CogniteClient, encoding: InsertEncoding = "protobuf") -> None:
        self._target = target
        self._lock = threading.Lock()
        self._poster: ProtobufPoster | None = ProtobufPoster(target) if encoding == "protobuf" else None
        self._posters = [self._poster] if self._poster is not None else []  # closed at the end, not mid-request

    @property
    def encoding(self) -> InsertEncoding:
        return "protobuf" if self._poster is not None else "json"

    def insert(self, arrays: Sequence[DatapointsArray]) -> None:
        """One request with every array's points (at most 100k points and 10k items: the caller's batches)."""
        poster = self._poster
        if poster is not None:
            try:
                on_transport_errors(poster.post)(encode_insert_request(merged_items(arrays)))
                return
            except ProtobufRefused as refusal:
                self._fall_back(poster, refusal)
        on_transport_errors(self._target.time_series.data.insert_multiple)(
            [{"instance_id": array.instance_id, "datapoints": array} for array in arrays]
        )

    def _fall_back(self, poster: ProtobufPoster, refusal: ProtobufRefused) -> None:
        with self._lock:
            if self._poster is poster:
                self._poster = None
                log.warning("The target refused a protobuf insert (%s): inserting as JSON from now on", refusal)

    def close(self) -> None:
        for poster in self._posters:
            poster.close()
