"""Raw datapoint reads from the source: protobuf list responses decoded to numpy, or the SDK's retrieve_arrays.

With inserts no longer per point, the SDK's read path became the copy's ceiling: its unpacking of a protobuf response
walks every datapoint in Python (status codes and symbols above all; about 70% of the client's CPU in a profile of
the engine). The reader posts the same `POST /timeseries/data/list` the SDK does (`accept: application/protobuf`,
statuses included, Bad and Uncertain points kept) on cdf_http.CdfHttp and decodes the answer with wire/list_protobuf,
following each series' cursor until its window is read. The SDK itself asks for protobuf there, so every source
the SDK can read answers it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from cognite.client import CogniteClient
from cognite.client.data_classes import DatapointsArray

from oid_sync_dagster.config import MAX_SERIES_PER_READ
from oid_sync_dagster.sync.cdf_http import CdfHttp
from oid_sync_dagster.sync.retry import on_transport_errors
from oid_sync_dagster.sync.windows import Window
from oid_sync_dagster.wire.list_protobuf import ListItem, decode_list_response
from oid_sync_dagster.wire.rows import CONTENT_TYPE, DecodeError

MAX_RAW_POINTS = 100_000  # CDF's limit of raw datapoints a request, over all its items
# By a code's top two bits. The copy writes codes only; the symbols are there because the SDK's JSON insert (the
# fallback) refuses an array with codes but no symbols, though it sends the codes alone.
_CATEGORY_SYMBOLS = np.array(["Good", "Uncertain", "Bad", "Bad"], dtype=object)


def _array(parts: list[ListItem]) -> DatapointsArray:
    first = parts[0]
    timestamps = np.concatenate([p.timestamps for p in parts])
    status = np.concatenate([p.status for p in parts]).astype(np.uint32)
    values = np.concatenate([p.values for p in parts])
    if not first.is_string:
        values = values.astype(np.float64, copy=False)
    null_timestamps = None
    if any(p.nulls is not None for p in parts):
        nulls = np.concatenate([np.zeros(len(p.timestamps), bool) if p.nulls is None else p.nulls for p in parts])
        null_timestamps = set(timestamps[nulls].tolist()) or None
        values[nulls] = None if first.is_string else np.nan  # as the SDK has a point without a value
    return DatapointsArray(
        id=first.id,
        external_id=first.external_id,
        is_string=first.is_string,
        is_step=first.is_step,
        type="string" if first.is_string else "numeric",
        timestamp=timestamps.astype("datetime64[ms]"),
        value=values,
        status_code=status,
        status_symbol=_CATEGORY_SYMBOLS[status >> 30],
        null_timestamps=null_timestamps,
    )


class SourceReader:
    """Reads every point (Bad and Uncertain included, with status codes) of many series over one window."""

    def __init__(self, source: CogniteClient) -> None:
        self._http = CdfHttp(source.config)

    def close(self) -> None:
        self._http.close()

    def read(self, external_ids: Sequence[str], window: Window) -> list[DatapointsArray]:
        """One array per series the source has (unknown ids are left out), in no particular order."""
        return on_transport_errors(self._read)(list(external_ids), window)

    def _read(self, external_ids: list[str], window: Window) -> list[DatapointsArray]:
        parts: dict[str, list[ListItem]] = {}
        for start in range(0, len(external_ids), MAX_SERIES_PER_READ):
            pending: dict[str, str | None] = dict.fromkeys(external_ids[start : start + MAX_SERIES_PER_READ])
            while pending:
                limit = max(1, MAX_RAW_POINTS // len(pending))
                items = [
                    {"externalId": xid, "start": window.start, "end": window.end, "limit": limit}
                    | ({"cursor": cursor} if cursor else {})
                    for xid, cursor in pending.items()
                ]
                body = {
                    "items": items,
                    "includeStatus": True,
                    # Copy faithfully: by default CDF drops Bad points (and Uncertain ones with treatUncertainAsBad).
                    "ignoreBadDataPoints": False,
                    "treatUncertainAsBad": False,
                    "ignoreUnknownIds": True,
                }
                response = self._http.post(
                    "/timeseries/data/list",
                    json.dumps(body).encode(),
                    content_type="application/json",
                    accept=CONTENT_TYPE,
                )
                if response.headers.get("content-type", "").split(";")[0].strip() != CONTENT_TYPE:
                    raise DecodeError(f"the answer is {response.headers.get('content-type')!r}")
                pending = {}
                for item in decode_list_response(response.content):
                    if item.external_id is None:
                        raise DecodeError("an item without its externalId")
                    parts.setdefault(item.external_id, []).append(item)
                    if item.next_cursor:
                        pending[item.external_id] = item.next_cursor
        return [_array(found) for found in parts.values()]
