"""`/timeseries/data*`: retrieve (protobuf or JSON), latest, insert, delete, with CDF's limits and semantics.

Retrieval is exact: a page holds `limit` points whenever that many exist in the window, and carries a cursor
exactly when more exist, because the SDK treats a short page or a missing cursor as the end of the data.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from oid_sync_dagster.local_cdf import aggregates as agg
from oid_sync_dagster.local_cdf import status as st
from oid_sync_dagster.local_cdf.cursors import decode_cursor, encode_cursor
from oid_sync_dagster.local_cdf.errors import CDFError, bad_request
from oid_sync_dagster.local_cdf.points import Points
from oid_sync_dagster.local_cdf.projects import Project
from oid_sync_dagster.local_cdf.protobuf import (
    ItemHeader,
    encode_aggregate_item,
    encode_numeric_item,
    encode_response,
    encode_string_item,
)
from oid_sync_dagster.local_cdf.requests import Context, endpoint
from oid_sync_dagster.local_cdf.routes.timeseries import parse_identifier, resolve
from oid_sync_dagster.local_cdf.store import datapoints as dp_store
from oid_sync_dagster.local_cdf.store.records import TimeSeriesRecord
from oid_sync_dagster.wire.insert_protobuf import DecodedItem, decode_insert_request
from oid_sync_dagster.wire.rows import DecodeError

MIN_TIMESTAMP = -2_208_988_800_000  # 1900-01-01, CDF's earliest
MAX_TIMESTAMP = 4_102_444_799_999  # 2099-12-31 23:59:59.999, CDF's latest
MAX_RAW_POINTS = 100_000
MAX_AGGREGATES = 10_000
MAX_READ_ITEMS = 100
MAX_INSERT_POINTS = 100_000
MAX_INSERT_ITEMS = 10_000
MAX_LATEST_ITEMS = 100
MAX_STRING_BYTES = 1023  # CDF's string datapoint limit
MAX_ABS_VALUE = 1e100  # CDF rejects finite numeric values beyond +-1e100
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_RELATIVE = re.compile(r"^(\d+)(s|m|h|d|w)-ago$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_ITEM_KEYS = {"id", "externalId", "instanceId", "start", "end", "limit", "aggregates", "granularity", "cursor",
              "includeOutsidePoints", "includeStatus", "ignoreBadDataPoints", "treatUncertainAsBad", "timeZone",
              "targetUnit", "targetUnitSystem"}  # fmt: skip
_DEFAULTABLE = _ITEM_KEYS - {"id", "externalId", "instanceId", "cursor"}


def _timestamp(value: Any, name: str, now: int) -> int:
    if isinstance(value, bool):
        raise bad_request(f"{name} must be a timestamp in ms or a relative time, got {value!r}.")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if value == "now":
            return now
        if match := _RELATIVE.match(value):
            return now - int(match.group(1)) * _UNIT_MS[match.group(2)]
    raise bad_request(f"{name} must be a timestamp in ms or a relative time such as '2d-ago', got {value!r}.")


@dataclass(frozen=True)
class Query:
    series: TimeSeriesRecord
    start: int
    end: int
    limit: int
    aggregates: list[str]
    granularity: agg.Granularity | None
    cursor: str | None
    include_outside: bool
    include_status: bool
    ignore_bad: bool
    uncertain_as_bad: bool

    def keep(self, status: np.ndarray) -> np.ndarray:
        """Which points this query returns, by status."""
        if not self.ignore_bad:
            return np.ones(len(status), bool)
        drop = st.is_bad(status)
        if self.uncertain_as_bad:
            drop |= st.is_uncertain(status)
        return ~drop


def _parse_queries(ctx: Context) -> tuple[list[Query], list[tuple[int, dict[str, Any]]]]:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    items = ctx.items(max_items=MAX_READ_ITEMS)
    defaults = {k: v for k, v in body.items() if k in _DEFAULTABLE}
    ignore_unknown = ctx.field("ignoreUnknownIds", bool, False)
    found = dict(resolve(ctx.project, items, ignore_unknown=ignore_unknown))
    queries, order = [], []
    raw_total = agg_total = 0
    for index, item in enumerate(items):
        unknown = set(item) - _ITEM_KEYS
        if unknown:
            raise bad_request(f"Unknown field(s) {sorted(unknown)} in datapoints query.")
        merged = {**defaults, **{k: v for k, v in item.items() if v is not None}}
        if merged.get("targetUnit") or merged.get("targetUnitSystem"):
            raise bad_request("Unit conversion (targetUnit) is not supported by the local CDF.")
        if merged.get("timeZone") not in (None, "UTC", "Z", "+00:00"):
            raise bad_request("Only the UTC time zone is supported by the local CDF.")
        aggregates = merged.get("aggregates") or []
        start = _timestamp(merged.get("start", 0), "start", ctx.now_ms)
        end = _timestamp(merged.get("end", ctx.now_ms + 1), "end", ctx.now_ms)
        if not MIN_TIMESTAMP <= start < end:
            raise bad_request(f"start must be before end and not before 1900, got start={start}, end={end}.")
        limit = merged.get("limit", 100)
        max_limit = MAX_AGGREGATES if aggregates else MAX_RAW_POINTS
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= max_limit:
            raise bad_request(f"limit must be an integer between 0 and {max_limit}, got {limit!r}.")
        granularity = None
        if aggregates:
            unsupported = [a for a in aggregates if a not in agg.SUPPORTED]
            if unsupported:
                raise bad_request(f"Unsupported aggregate(s) {unsupported}; supported: {list(agg.SUPPORTED)}.")
            if "granularity" not in merged:
                raise bad_request("granularity is required when aggregates are requested.")
            granularity = agg.Granularity.parse(merged["granularity"])
            agg_total += limit
        else:
            raw_total += limit
        if index not in found:
            continue
        series = found[index]
        if aggregates and series.is_string:
            raise bad_request(f"Aggregates are not supported for string time series {_describe(series)}.")
        queries.append(
            Query(
                series=series,
                start=start,
                end=end,
                limit=limit,
                aggregates=aggregates,
                granularity=granularity,
                cursor=merged.get("cursor"),
                include_outside=bool(merged.get("includeOutsidePoints", False)),
                include_status=bool(merged.get("includeStatus", False)),
                ignore_bad=bool(merged.get("ignoreBadDataPoints", True)),
                uncertain_as_bad=bool(merged.get("treatUncertainAsBad", True)),
            )
        )
        order.append((index, item))
    if raw_total > MAX_RAW_POINTS:
        raise bad_request(f"The sum of limits over raw items must be at most {MAX_RAW_POINTS}, got {raw_total}.")
    if agg_total > MAX_AGGREGATES:
        raise bad_request(f"The sum of aggregate limits must be at most {MAX_AGGREGATES}, got {agg_total}.")
    return queries, order


def _describe(series: TimeSeriesRecord) -> str:
    if series.external_id:
        return repr(series.external_id)
    if series.instance_id:
        return f"{series.instance_id[0]}/{series.instance_id[1]}"
    return f"id {series.id}"


def first_kept(project: Project, query: Query, start: int, limit: int) -> Points:
    """The first `limit` points from `start` that the query's status filter keeps: reads again when the
    filter dropped some, so a page is never short while matching points remain."""
    parts, have, cursor = [], 0, start
    while have < limit and cursor < query.end:
        want = limit - have
        batch = project.read_points(query.series, cursor, query.end, want)
        kept = batch.take(query.keep(batch.status))
        parts.append(kept)
        have += len(kept)
        if len(batch) < want:
            break  # the store has no more points in the window
        cursor = int(batch.timestamps[-1]) + 1
    return Points.concat(parts, query.series.is_string)


def _raw(project: Project, query: Query) -> tuple[Points, str | None]:
    start = query.start
    if query.cursor:
        start = max(start, int(decode_cursor(query.cursor).get("next", start)))
    points = first_kept(project, query, start, query.limit)
    next_cursor = None
    if (
        len(points) == query.limit
        and query.limit
        and len(first_kept(project, query, int(points.timestamps[-1]) + 1, 1))
    ):
        next_cursor = encode_cursor({"next": int(points.timestamps[-1]) + 1})
    if query.include_outside:
        # As CDF: both outside points whatever the limit, and no cursor. The SDK takes the outside points
        # from the first batch only and pages on by `start` (a cursor "is not to be expected" here).
        before = _latest_kept(project, query, query.start)  # the last kept point, however many bad ones follow
        after = first_kept(project, _replace_end(query, MAX_TIMESTAMP + 1), query.end, 1)
        points = Points.concat([before, points, after], query.series.is_string)
        next_cursor = None
    return points, next_cursor


def _replace_end(query: Query, end: int) -> Query:
    return Query(**{**query.__dict__, "end": end})


def _aggregate(project: Project, query: Query) -> tuple[np.ndarray, dict[str, np.ndarray], str | None]:
    assert query.granularity is not None
    aligned = query.granularity.align_start(query.start)
    if query.cursor:
        aligned = max(aligned, int(decode_cursor(query.cursor).get("next", aligned)))
    points = project.read_points(query.series, aligned, query.end, None)
    status = points.status
    good, bad = ~(st.is_bad(status) | st.is_uncertain(status)), st.is_bad(status)
    uncertain = st.is_uncertain(status)
    value_mask = good if query.uncertain_as_bad else good | uncertain
    if points.nulls is not None:
        value_mask &= ~points.nulls
    starts, values = agg.compute(
        query.granularity,
        aligned,
        points.timestamps,
        points.values,
        value_mask,
        {"countGood": good, "countUncertain": uncertain, "countBad": bad},
        query.aggregates,
    )
    next_cursor = None
    if len(starts) > query.limit:
        next_cursor = encode_cursor({"next": int(starts[query.limit])})
        starts = starts[: query.limit]
        values = {k: v[: query.limit] for k, v in values.items()}
    return starts, values, next_cursor


def _header(series: TimeSeriesRecord, next_cursor: str | None) -> ItemHeader:
    return ItemHeader(
        id=series.id,
        external_id=series.external_id,
        instance_id=series.instance_id,
        is_string=series.is_string,
        is_step=series.is_step,
        unit=series.unit,
        next_cursor=next_cursor,
    )


def _json_points(points: Points, include_status: bool, is_string: bool) -> list[dict[str, Any]]:
    values = points.values.tolist()
    out: list[dict[str, Any]] = []
    nulls = points.nulls.tolist() if points.nulls is not None else None
    for i, (t, code) in enumerate(zip(points.timestamps.tolist(), points.status.tolist(), strict=True)):
        dp: dict[str, Any] = {"timestamp": t}
        if nulls is None or not nulls[i]:
            dp["value"] = values[i]
        if include_status and code:
            dp["status"] = {"code": code, "symbol": st.symbol_for(code)}
        out.append(dp)
    return out


def retrieve(ctx: Context) -> Response | dict[str, Any]:
    queries, _ = _parse_queries(ctx)
    project = ctx.project
    as_protobuf = "application/protobuf" in ctx.request.headers.get("accept", "")
    encoded, json_items = [], []
    for query in queries:
        series = query.series
        if query.aggregates:
            starts, values, cursor = _aggregate(project, query)
            if as_protobuf:
                encoded.append(encode_aggregate_item(_header(series, cursor), starts, values))
            else:
                # Counts are integers in CDF's JSON; the other aggregates are doubles.
                rows = [
                    {
                        "timestamp": t,
                        **{
                            k: int(v[i]) if k.startswith("count") else float(v[i])
                            for k, v in values.items()
                            if not math.isnan(v[i])
                        },
                    }
                    for i, t in enumerate(starts.tolist())
                ]
                json_items.append(_json_item(series, cursor, rows))
            continue
        points, cursor = _raw(project, query)
        status = points.status if query.include_status else None
        if as_protobuf:
            encode = encode_string_item if series.is_string else encode_numeric_item
            encoded.append(encode(_header(series, cursor), points.timestamps, points.values, status, points.nulls))
        else:
            json_items.append(_json_item(series, cursor, _json_points(points, query.include_status, series.is_string)))
    if as_protobuf:
        return Response(encode_response(encoded), media_type="application/protobuf")
    return {"items": json_items}


def _json_item(series: TimeSeriesRecord, cursor: str | None, datapoints: list[dict[str, Any]]) -> dict[str, Any]:
    item: dict[str, Any] = {
        **series.identity(),
        "isString": series.is_string,
        "isStep": series.is_step,
        "type": series.type,
        "datapoints": datapoints,
    }
    if series.unit is not None:
        item["unit"] = series.unit
    if cursor is not None:
        item["nextCursor"] = cursor
    return item


def latest(ctx: Context) -> dict[str, Any]:
    items = ctx.items(max_items=MAX_LATEST_ITEMS)
    ignore_unknown = ctx.field("ignoreUnknownIds", bool, False)
    project = ctx.project
    out = []
    for index, series in resolve(project, items, ignore_unknown=ignore_unknown):
        item = items[index]
        before = _timestamp(item["before"], "before", ctx.now_ms) if item.get("before") is not None else None
        query = Query(series, MIN_TIMESTAMP, MAX_TIMESTAMP + 1, 1, [], None, None, False,
                      bool(item.get("includeStatus", False)), bool(item.get("ignoreBadDataPoints", True)),
                      bool(item.get("treatUncertainAsBad", True)))  # fmt: skip
        point = _latest_kept(project, query, MAX_TIMESTAMP + 1 if before is None else before)
        out.append(_json_item(series, None, _json_points(point, query.include_status, series.is_string)))
    return {"items": out}


def _latest_kept(project: Project, query: Query, before: int) -> Points:
    """The newest point before `before` that the status filter keeps."""
    batch_size = 16
    while True:
        batch = project.read_points_before(query.series, before, batch_size)
        kept = batch.take(query.keep(batch.status))
        if len(kept):
            return kept.take(slice(len(kept) - 1, None))
        if len(batch) < batch_size:
            return Points.empty(query.series.is_string)
        before, batch_size = int(batch.timestamps[0]), batch_size * 4


def _parse_status(raw: Any, series: TimeSeriesRecord) -> int:
    if not isinstance(raw, dict):
        raise bad_request(f"status of a datapoint in {_describe(series)} must be an object, got {raw!r}.")
    code = raw.get("code")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int) or not 0 <= code < 2**32):
        raise bad_request(f"Invalid status code {code!r} in {_describe(series)}.")
    if code is not None and code & st.BAD and code & st.UNCERTAIN:
        raise bad_request(f"Invalid status code {code!r} in {_describe(series)}: both Bad and Uncertain bits set.")
    if (symbol := raw.get("symbol")) is not None:
        try:
            from_symbol = st.code_for(symbol)
        except (ValueError, AttributeError):
            raise bad_request(f"Invalid status symbol {symbol!r} in {_describe(series)}.") from None
        if code is not None and st.symbol_for(code) != st.symbol_for(from_symbol):
            raise bad_request(f"Status code {code} and symbol {symbol!r} disagree in {_describe(series)}.")
        return from_symbol if code is None else code
    return st.GOOD if code is None else code


# ---------- checks both insert bodies share (JSON and protobuf: the same refusals, word for word) ----------


def _refuse_timestamps_out_of_range(name: str, timestamps: np.ndarray) -> None:
    if timestamps.min() < MIN_TIMESTAMP or timestamps.max() > MAX_TIMESTAMP:
        offending = timestamps[(timestamps < MIN_TIMESTAMP) | (timestamps > MAX_TIMESTAMP)][0]
        raise bad_request(f"Datapoint timestamp {offending} of {name} is outside 1900-01-01..2099-12-31.")


def _refuse_nulls_on_non_bad(name: str, timestamps: np.ndarray, status: np.ndarray, nulls: np.ndarray) -> None:
    offending = np.flatnonzero(nulls & ~st.is_bad(status))
    if len(offending):
        raise bad_request(
            f"Datapoint at {int(timestamps[offending[0]])} of {name} has no value; only Bad points may omit it."
        )


def _refuse_long_strings(name: str, values: Sequence[str] | np.ndarray) -> None:
    # A character is at most 4 bytes: only when that bound is exceeded are the values encoded to be measured.
    if max(map(len, values), default=0) * 4 > MAX_STRING_BYTES and any(
        len(v.encode()) > MAX_STRING_BYTES for v in values
    ):
        raise bad_request(f"A string value of {name} exceeds {MAX_STRING_BYTES} bytes.")


def _refuse_non_finite_on_non_bad(name: str, timestamps: np.ndarray, values: np.ndarray, status: np.ndarray) -> None:
    """As in CDF: NaN, +-Infinity and values beyond +-1e100 are only allowed on Bad points (a point without a value
    holds 0.0 here)."""
    out_of_range = ~(np.abs(values) <= MAX_ABS_VALUE)
    if out_of_range.any():
        offending = np.flatnonzero(out_of_range & ~st.is_bad(status))
        if len(offending):
            raise bad_request(
                f"Datapoint at {int(timestamps[offending[0]])} of {name} has value {float(values[offending[0]])!r}: "
                "NaN, Infinity and values beyond +-1e100 are only allowed on Bad datapoints."
            )


def _parse_points(series: TimeSeriesRecord, datapoints: Any) -> Points:
    """Validate one item's datapoints as CDF does; the message names the series and the offending point."""
    name = _describe(series)
    if not isinstance(datapoints, list) or not datapoints:
        raise bad_request(f"datapoints of {name} must be a non-empty list.")
    try:
        raw_ts = [dp["timestamp"] for dp in datapoints]
    except (KeyError, TypeError):
        raise bad_request(f"Every datapoint of {name} needs a timestamp.") from None
    # Type checks by set(map(type, ...)) run at C speed; per-point Python work is kept to the rare cases.
    if set(map(type, raw_ts)) != {int}:
        bad = next(t for t in raw_ts if type(t) is not int)
        raise bad_request(f"Datapoint timestamps of {name} must be integers (ms), got {bad!r}.")
    timestamps = np.asarray(raw_ts, dtype=np.int64)
    _refuse_timestamps_out_of_range(name, timestamps)
    values = [dp.get("value") for dp in datapoints]
    kinds = set(map(type, values))
    status = np.zeros(len(datapoints), np.uint32)
    for i in [i for i, dp in enumerate(datapoints) if "status" in dp]:
        status[i] = _parse_status(datapoints[i]["status"], series)
    nulls = None
    if type(None) in kinds:
        nulls = np.fromiter((v is None for v in values), bool, len(values))
        _refuse_nulls_on_non_bad(name, timestamps, status, nulls)
        kinds.discard(type(None))
    if series.is_string:
        if not kinds <= {str}:
            bad = next(v for v in values if v is not None and not isinstance(v, str))
            raise bad_request(f"String time series {name} only accepts string values, got {bad!r}.")
        _refuse_long_strings(name, [v for v in values if v is not None])
        array = np.array(["" if v is None else v for v in values] if nulls is not None else values, dtype=object)
        return Points(timestamps, array, status, nulls)
    if not kinds <= {float, int, str}:
        bad = next(v for v in values if type(v) not in (float, int, str, type(None)))
        raise bad_request(f"Numeric time series {name} only accepts numbers, got {bad!r}.")
    if str in kinds:
        for i, v in enumerate(values):
            if isinstance(v, str):
                if v not in _NON_FINITE:
                    raise bad_request(
                        f"Numeric time series {name} only accepts numbers, got the string {v!r} "
                        f"at timestamp {int(timestamps[i])}."
                    )
                values[i] = _NON_FINITE[v]
    array = np.array([0.0 if v is None else v for v in values] if nulls is not None else values, dtype=np.float64)
    _refuse_non_finite_on_non_bad(name, timestamps, array, status)
    return Points(timestamps, array, status, nulls)


def _decoded_points(series: TimeSeriesRecord, item: DecodedItem) -> Points:
    """Validate one protobuf item's columns as _parse_points validates JSON: the same checks, the same messages,
    by whole-array tests (a per-point loop only for the rare status given by symbol)."""
    name = _describe(series)
    if item.is_string is None or not len(item.timestamps):
        raise bad_request(f"datapoints of {name} must be a non-empty list.")
    if item.is_string and not series.is_string:
        raise bad_request(
            f"Numeric time series {name} only accepts numbers, got the string {item.values[0]!r} "
            f"at timestamp {int(item.timestamps[0])}."
        )
    if series.is_string and not item.is_string:
        raise bad_request(f"String time series {name} only accepts string values, got {float(item.values[0])!r}.")
    timestamps = item.timestamps
    _refuse_timestamps_out_of_range(name, timestamps)
    codes = item.status
    invalid = np.flatnonzero((codes < 0) | (codes >= 2**32))
    if len(invalid):
        raise bad_request(f"Invalid status code {int(codes[invalid[0]])!r} in {name}.")
    both = np.flatnonzero((codes & st.BAD != 0) & (codes & st.UNCERTAIN != 0))
    if len(both):
        raise bad_request(f"Invalid status code {int(codes[both[0]])!r} in {name}: both Bad and Uncertain bits set.")
    status = codes.astype(np.uint32)
    for row, symbol in item.symbols:  # the rare point that names its status (a code of 0 is "not given" here)
        status[row] = _parse_status({"code": int(codes[row]) or None, "symbol": symbol}, series)
    nulls = item.nulls
    if nulls is not None:
        _refuse_nulls_on_non_bad(name, timestamps, status, nulls)
    if series.is_string:
        _refuse_long_strings(name, item.values)
        return Points(timestamps, item.values, status, nulls)
    _refuse_non_finite_on_non_bad(name, timestamps, item.values, status)
    return Points(timestamps, item.values, status, nulls)


def _decoded_items(ctx: Context) -> tuple[list[dict[str, Any]], list[DecodedItem]]:
    """The protobuf body's identifiers and items, under the limits JSON bodies have."""
    try:
        items = decode_insert_request(ctx.body)
    except DecodeError as error:
        raise bad_request(f"Invalid protobuf in request body: {error}") from None
    if len(items) > MAX_INSERT_ITEMS:
        raise bad_request(f"items size must be between 1 and {MAX_INSERT_ITEMS}, got {len(items)}.")
    if not items:
        raise bad_request("items must not be empty.")
    total = sum(len(i.timestamps) for i in items)
    if total > MAX_INSERT_POINTS:
        raise bad_request(f"At most {MAX_INSERT_POINTS} datapoints per request, got {total}.")
    return [i.identifier for i in items], items


def insert(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    decoded: list[DecodedItem] | None = None
    if isinstance(ctx.body, bytes):  # application/protobuf
        identifiers, decoded = _decoded_items(ctx)
    else:
        items = ctx.items(max_items=MAX_INSERT_ITEMS)
        total = sum(len(i.get("datapoints") or []) for i in items if isinstance(i, dict))
        if total > MAX_INSERT_POINTS:
            raise bad_request(f"At most {MAX_INSERT_POINTS} datapoints per request, got {total}.")
        identifiers = [{k: v for k, v in i.items() if k != "datapoints"} for i in items]
    _refuse_duplicate_identifiers(identifiers)
    # Resolve and write in one transaction, so a series deleted meanwhile fails the request instead of taking
    # points that nobody can read; validation still precedes any write (all or nothing). Parsing under the lock
    # costs little: one server process parses under the GIL anyway.
    with project.db.write() as conn:
        parsed: dict[int, tuple[TimeSeriesRecord, list[Points]]] = {}
        for index, series in resolve(project, identifiers, ignore_unknown=False):
            if decoded is not None:
                points = _decoded_points(series, decoded[index])
            else:
                points = _parse_points(series, items[index].get("datapoints"))
            parsed.setdefault(series.id, (series, []))[1].append(points)
        # One merge per series: items naming the same series by different identifiers (id and externalId; in
        # request order, so the last value still wins) would otherwise rewrite the same day blocks once per item.
        for series, parts in parsed.values():
            dp_store.write_points(conn, series.id, series.is_string, Points.concat(parts, series.is_string))
    return {}


def _refuse_duplicate_identifiers(identifiers: list[dict[str, Any]]) -> None:
    """CDF refuses an insert that names the same identifier in two items (422 with `duplicated`)."""
    seen: set[str] = set()
    duplicated: list[dict[str, Any]] = []
    for identifier in identifiers:
        key = json.dumps(identifier, sort_keys=True)
        if key in seen and identifier not in duplicated:
            duplicated.append(identifier)
        seen.add(key)
    if duplicated:
        raise CDFError(
            422,
            "Duplicate IDs found. Retry request, keeping only one instance of each duplicated ID.",
            duplicated=duplicated,
        )


def delete(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    items = ctx.items(max_items=MAX_INSERT_ITEMS)
    ranges = []
    for item in items:
        begin = item.get("inclusiveBegin")
        end = item.get("exclusiveEnd", begin + 1 if isinstance(begin, int) else None)
        if not isinstance(begin, int) or not isinstance(end, int):
            raise bad_request(f"inclusiveBegin and exclusiveEnd must be integers (ms), got {item!r}.")
        ranges.append((parse_identifier({k: item[k] for k in ("id", "externalId", "instanceId") if k in item}),
                       begin, end))  # fmt: skip
    with project.db.write() as conn:
        found = resolve(project, [ident for ident, _, _ in ranges], ignore_unknown=False)
        for index, series in found:
            _, begin, end = ranges[index]
            dp_store.delete_range(conn, series.id, series.is_string, begin, end)
    return {}


def routes() -> list[BaseRoute]:
    return [
        Route("/timeseries/data", endpoint(insert, protobuf=True), methods=["POST"]),
        Route("/timeseries/data/list", endpoint(retrieve), methods=["POST"]),
        Route("/timeseries/data/latest", endpoint(latest), methods=["POST"]),
        Route("/timeseries/data/delete", endpoint(delete), methods=["POST"]),
    ]
