"""Datapoint inserts into the target: protobuf bodies built from the arrays, or JSON through the SDK.

The SDK turns every point of an insert into Python objects and a JSON-ready dict (about 5 us of client CPU a point);
CDF also takes `DataPointInsertionRequest` protobuf bodies, which wire/insert_protobuf.py builds from the numpy
arrays directly; they go out on cdf_http.CdfHttp, the SDK's contract (credentials, headers, retries, exceptions) on
httpx, so the writer treats both paths alike.

A target that refuses protobuf (415, or a 400 naming the content type) turns the inserter to JSON for good, with
one log line, and the refused request goes again as JSON: the run succeeds either way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Literal

import numpy as np
from cognite.client import CogniteClient
from cognite.client.data_classes import DatapointsArray
from cognite.client.exceptions import CogniteAPIError

from oid_sync_dagster.sync.cdf_http import CdfHttp
from oid_sync_dagster.sync.retry import on_transport_errors
from oid_sync_dagster.wire.insert_protobuf import InsertItem, encode_insert_request
from oid_sync_dagster.wire.rows import CONTENT_TYPE

InsertEncoding = Literal["protobuf", "json"]

log = logging.getLogger("oid_sync")

# A 400 whose message names the content type, or JSON: a server that reads every body as JSON refused ours. Not
# "protobuf": a target that takes protobuf says so about a body it cannot parse, which JSON would not cure.
_CONTENT_TYPE_WORDS = ("content-type", "content type", "json")


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


class ProtobufPoster:
    """POSTs protobuf insert bodies to the target's `/timeseries/data`, as the SDK would post JSON."""

    def __init__(self, target: CogniteClient) -> None:
        self._http = CdfHttp(target.config)

    def close(self) -> None:
        self._http.close()

    def post(self, body: bytes) -> None:
        try:
            self._http.post("/timeseries/data", body, content_type=CONTENT_TYPE)
        except CogniteAPIError as error:
            message = error.message.lower()
            if error.code == 415 or (error.code == 400 and any(w in message for w in _CONTENT_TYPE_WORDS)):
                raise ProtobufRefused(f"{error.code} {error.message}") from None
            raise


class Inserter:
    """Inserts batches of shifted arrays into the target, as protobuf or JSON (falling back to JSON once)."""

    def __init__(self, target: CogniteClient, encoding: InsertEncoding = "protobuf") -> None:
        self._target = target
        self._lock = threading.Lock()
        self._poster: ProtobufPoster | None = ProtobufPoster(target) if encoding == "protobuf" else None
        self._opened = self._poster  # closed at the end, never mid-request (a fallback only stops using it)

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
        if self._opened is not None:
            self._opened.close()
