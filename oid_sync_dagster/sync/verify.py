"""Verify: exact per-series point counts in source and target for a window, cheaply (the completeness checks).

Counting every point by raw retrieval would move the whole window over the wire. Instead a window is split
at whole granularity units: the aligned middle is counted with aggregates (one bucket per unit per series),
only the ragged edges are read raw. Why the split, and why the unit is an hour:

- CDF rounds an aggregate query's start down to a whole granularity unit (s, m, h, d; an hour for "3h"), and
  the SDK also rounds the end up to a whole bucket, so an aggregate over an unaligned window would count
  points outside it. Only an aligned middle is exact; the edges must be raw.
- One hour keeps each raw edge under an hour (about 60 points of a one-a-minute series), while the middle
  costs 24 buckets a day per series. A day unit would cut the buckets to 7 a week, but the default offset
  (1 week 10 min) puts every source window 10 minutes off a boundary, and the tail edge would then be almost
  a whole day of raw points. Minutes would make raw edges tiny but the middle 60 times larger. Target weeks
  start on whole hours, so a target week needs no raw edge at all.
- Faithful copies include Bad points, so counts are countGood + countUncertain + countBad (CDF's `count`
  aggregate leaves out Bad points, and Uncertain ones unless treatUncertainAsBad is off), and raw counts are
  read with ignoreBadDataPoints=False.
- String series have no aggregates: they are always counted raw (OID's are sparse, about one point an hour).
  Which series is a string is taken from the counted project's own time series, not from the catalog, so a
  target node whose type does not match its source cannot fail the aggregate request of the others.

Real CDF computes aggregates asynchronously after ingestion (usually within seconds to minutes), so a count
taken right after a write can lag it; `use_aggregates=False` counts everything raw, exact but heavier.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from cognite.client import CogniteClient
from cognite.client.data_classes import DatapointsArray
from cognite.client.data_classes.data_modeling import NodeId
from cognite.client.utils import datetime_to_ms

from oid_sync_dagster.sync.edge import published_edge
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.retry import on_transport_errors
from oid_sync_dagster.sync.windows import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, Window, clip_to_now, shift

# The units CDF aligns an aggregate's start to, and the granularity that asks for one bucket per unit.
# Weeks and calendar units are left out: their alignment (Mondays, months) is not a fixed multiple of the epoch.
GRANULARITY_FOR_UNIT = {SECOND_MS: "1s", MINUTE_MS: "1m", HOUR_MS: "1h", DAY_MS: "1d"}
DEFAULT_UNIT_MS = HOUR_MS
# CDF's last accepted timestamp, 2099-12-31 23:59:59.999 (the SDK refuses a `before` past it).
MAX_TIMESTAMP_MS = 4_102_444_799_999
# Series per raw request where the raw window may be long (strings, or everything with use_aggregates=False):
# bounds memory, as one week of 100 one-a-minute series is about 1M points.
RAW_BATCH = 100
_COUNT_AGGREGATES = ["count_good", "count_uncertain", "count_bad"]

Status = Literal["complete", "incomplete", "source_unpublished", "empty_source", "missing_target"]
COMPLETE: Status = "complete"
INCOMPLETE: Status = "incomplete"
SOURCE_UNPUBLISHED: Status = "source_unpublished"
EMPTY_SOURCE: Status = "empty_source"
MISSING_TARGET: Status = "missing_target"
# Statuses under which a window's copy is faithful (an empty source is a WARN for the checks, not a gap).
_COMPLETE_STATUSES = (COMPLETE, EMPTY_SOURCE)


class WindowSplit(NamedTuple):
    """A window cut at whole units: raw head, aggregate-aligned middle, raw tail; each None when empty.

    When no whole unit fits in the window, the whole window is the head (middle and tail are None).
    """

    head: Window | None
    middle: Window | None
    tail: Window | None


def split_for_aggregates(window: Window, unit_ms: int = DEFAULT_UNIT_MS) -> WindowSplit:
    """Split a window so the middle starts and ends on whole units (the part aggregates count exactly).

    head = [start, first boundary), middle = [first boundary, last boundary), tail = [last boundary, end).
    Boundaries are multiples of unit_ms from the epoch (UTC), as CDF aligns aggregate starts. The pieces are
    disjoint, in order, and cover the window exactly.
    """
    if unit_ms not in GRANULARITY_FOR_UNIT:
        raise ValueError(f"unit_ms must be one of {sorted(GRANULARITY_FOR_UNIT)} (s, m, h, d), got {unit_ms!r}")
    first = -(-window.start // unit_ms) * unit_ms  # ceiling; floor division keeps negative times right
    last = window.end // unit_ms * unit_ms
    if first >= last:
        return WindowSplit(window, None, None)
    head = Window(window.start, first) if first > window.start else None
    tail = Window(last, window.end) if window.end > last else None
    return WindowSplit(head, Window(first, last), tail)


# --- counting ---


def _external_id_of(item: object, instance_space: str | None) -> str | None:
    """The series external id a returned SDK object answers for: external_id in the source, the node's in the target."""
    if instance_space is None:
        return getattr(item, "external_id", None)
    instance_id = getattr(item, "instance_id", None)
    if instance_id is None or instance_id.space != instance_space:
        return None
    return instance_id.external_id


def _identify(instance_space: str | None, external_ids: Sequence[str]) -> dict[str, object]:
    if instance_space is None:
        return {"external_id": list(external_ids)}
    return {"instance_id": [NodeId(instance_space, x) for x in external_ids]}


def _as_list(found: object) -> list[object]:
    if found is None:
        return []
    if isinstance(found, DatapointsArray):
        return [found]
    return list(found)  # type: ignore[call-overload]


@on_transport_errors
def _types_in_project(
    client: CogniteClient, external_ids: Sequence[str], instance_space: str | None
) -> dict[str, bool]:
    """is_string per series that exists in the client's project; absent series are left out."""
    if not external_ids:
        return {}
    if instance_space is None:
        found = client.time_series.retrieve_multiple(external_ids=list(external_ids), ignore_unknown_ids=True)
    else:
        found = client.time_series.retrieve_multiple(
            instance_ids=[NodeId(instance_space, x) for x in external_ids], ignore_unknown_ids=True
        )
    types: dict[str, bool] = {}
    for ts in found:
        xid = _external_id_of(ts, instance_space)
        if xid is not None:
            types[xid] = bool(ts.is_string)
    return types


@on_transport_errors
def _raw_counts(
    client: CogniteClient,
    external_ids: Sequence[str],
    window: Window,
    instance_space: str | None,
    batch: int,
) -> dict[str, int]:
    """Raw point counts in the window, Bad and Uncertain points included."""
    counts: dict[str, int] = {}
    for i in range(0, len(external_ids), batch):
        part = external_ids[i : i + batch]
        found = client.time_series.data.retrieve_arrays(
            **_identify(instance_space, part),  # type: ignore[arg-type]
            start=window.start,
            end=window.end,
            limit=None,
            include_status=True,
            ignore_bad_datapoints=False,
            treat_uncertain_as_bad=False,
            ignore_unknown_ids=True,
        )
        for array in _as_list(found):
            xid = _external_id_of(array, instance_space)
            if xid is not None:
                counts[xid] = counts.get(xid, 0) + len(array.timestamp)  # type: ignore[attr-defined]
    return counts


@on_transport_errors
def _aggregate_counts(
    client: CogniteClient,
    external_ids: Sequence[str],
    window: Window,
    instance_space: str | None,
    unit_ms: int,
) -> dict[str, int]:
    """Point counts over an aligned window from countGood + countUncertain + countBad, one bucket per unit."""
    if window.start % unit_ms or window.end % unit_ms:
        raise ValueError(f"aggregate counts need a window aligned to {unit_ms} ms, got {window}")
    found = client.time_series.data.retrieve_arrays(
        **_identify(instance_space, external_ids),  # type: ignore[arg-type]
        start=window.start,
        end=window.end,
        aggregates=list(_COUNT_AGGREGATES),
        granularity=GRANULARITY_FOR_UNIT[unit_ms],
        limit=None,
        ignore_unknown_ids=True,
    )
    counts: dict[str, int] = {}
    for array in _as_list(found):
        xid = _external_id_of(array, instance_space)
        if xid is None:
            continue
        total = 0
        for name in _COUNT_AGGREGATES:
            values = getattr(array, name, None)
            if values is not None and len(values):
                total += int(np.nansum(np.asarray(values, dtype=np.float64)))
        counts[xid] = counts.get(xid, 0) + total
    return counts


def count_points(
    client: CogniteClient,
    series: Sequence[CatalogSeries],
    window: Window,
    *,
    instance_space: str | None,
    unit_ms: int = DEFAULT_UNIT_MS,
    use_aggregates: bool = True,
) -> dict[str, int]:
    """Exact point counts in [window.start, window.end) per series, Bad and Uncertain points included.

    instance_space None counts in a source (series by external id); otherwise in a target, where the series
    is the node NodeId(instance_space, external_id). A series absent from the client's project is left out
    of the result, so `xid not in counts` means "no such series" while `counts[xid] == 0` means "exists,
    no points". Requests are batched over all series: one metadata lookup, one aggregate retrieval for the
    numeric middle, and raw retrievals for the edges and for string series.
    """
    external_ids = list(dict.fromkeys(s.external_id for s in series))
    types = _types_in_project(client, external_ids, instance_space)
    present = [x for x in external_ids if x in types]
    counts = dict.fromkeys(present, 0)
    numeric = [x for x in present if not types[x]]
    strings = [x for x in present if types[x]]

    def add(found: dict[str, int]) -> None:
        for xid, n in found.items():
            if xid in counts:
                counts[xid] += n

    if strings:
        add(_raw_counts(client, strings, window, instance_space, RAW_BATCH))
    if numeric:
        head, middle, tail = split_for_aggregates(window, unit_ms)
        if not use_aggregates or middle is None:
            add(_raw_counts(client, numeric, window, instance_space, RAW_BATCH))
        else:
            add(_aggregate_counts(client, numeric, middle, instance_space, unit_ms))
            for edge in (head, tail):
                if edge is not None:  # under one unit each: one request for all series
                    add(_raw_counts(client, numeric, edge, instance_space, len(numeric)))
    return counts


# --- verification ---


@dataclass(frozen=True, slots=True)
class SeriesVerification:
    """Counts for one series; None means the series does not exist on that side."""

    external_id: str
    source_count: int | None
    target_count: int | None
    status: Status

    @property
    def missing_points(self) -> int:
        """Source points the target lacks (negative when the target holds more, e.g. after an offset change)."""
        return (self.source_count or 0) - (self.target_count or 0)


class Measure(enum.Enum):
    MEASURE = "measure"


MEASURE = Measure.MEASURE


@dataclass(frozen=True, slots=True)
class WindowVerification:
    """The result of verify_window. target_window is already clipped to now; source_window is its shift."""

    target_window: Window
    source_window: Window
    offset_ms: int
    source_edge: int | None
    series: dict[str, SeriesVerification]

    @property
    def source_published(self) -> bool:
        """The source has published the whole source window (its last millisecond is at or before the edge)."""
        return self.source_edge is not None and self.source_edge >= self.source_window.end - 1

    @property
    def complete(self) -> bool:
        """Every series holds exactly the source's points (an empty source counts as complete) and the source
        window is fully published, so the counts are final."""
        return self.source_published and all(v.status in _COMPLETE_STATUSES for v in self.series.values())

    def with_status(self, *statuses: Status) -> list[str]:
        return [xid for xid, v in self.series.items() if v.status in statuses]

    def status_counts(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for v in self.series.values():
            totals[v.status] = totals.get(v.status, 0) + 1
        return totals

    @property
    def source_total(self) -> int:
        return sum(v.source_count or 0 for v in self.series.values())

    @property
    def target_total(self) -> int:
        return sum(v.target_count or 0 for v in self.series.values())


def series_status(source_count: int | None, target_count: int | None, source_published: bool) -> Status:
    """The status of one series, first match wins:

    missing_target: the target node does not exist; source_unpublished: the source has not published the
    whole window yet, so no count is final; empty_source: neither side has a point (or the series is gone
    from the source); complete: equal counts; incomplete: the counts differ, either way.
    """
    if target_count is None:
        return MISSING_TARGET
    if not source_published:
        return SOURCE_UNPUBLISHED
    if not source_count and target_count == 0:
        return EMPTY_SOURCE
    if source_count == target_count:
        return COMPLETE
    return INCOMPLETE


def verify_window(
    source: CogniteClient,
    target: CogniteClient,
    series: Sequence[CatalogSeries],
    target_window: Window,
    offset_ms: int,
    instance_space: str,
    now: int,
    *,
    source_edge: int | Measure | None = MEASURE,
    unit_ms: int = DEFAULT_UNIT_MS,
    use_aggregates: bool = True,
) -> WindowVerification:
    """Compare source and target counts for a target-time window (e.g. a week), per series.

    The target window is clipped to now first (rule 2: nothing after now is due), and the source window is
    the clipped window shifted back by the offset (rule 1). source_edge is measured with published_edge over
    the given series unless the caller passes one it measured already (checking many weeks needs one look).
    Raises ValueError when the window lies wholly after now: nothing in it is due yet.
    """
    clipped = clip_to_now(target_window, now)
    if clipped is None:
        raise ValueError(f"target window {target_window} starts after now ({now}): nothing in it is due yet")
    source_window = shift(clipped, -offset_ms)
    if isinstance(source_edge, Measure):
        source_edge = published_edge(source, [s.external_id for s in series], now)
    source_counts = count_points(
        source, series, source_window, instance_space=None, unit_ms=unit_ms, use_aggregates=use_aggregates
    )
    target_counts = count_points(
        target, series, clipped, instance_space=instance_space, unit_ms=unit_ms, use_aggregates=use_aggregates
    )
    result = WindowVerification(clipped, source_window, offset_ms, source_edge, {})
    published = result.source_published
    for xid in dict.fromkeys(s.external_id for s in series):
        src, tgt = source_counts.get(xid), target_counts.get(xid)
        result.series[xid] = SeriesVerification(xid, src, tgt, series_status(src, tgt, published))
    return result


# --- future points (rule 2) ---


def _ms(timestamp: object) -> int | None:
    # cognite-sdk 8.22 gives a latest point's timestamp as a ms-precision aware datetime.
    if timestamp is None:
        return None
    if isinstance(timestamp, dt.datetime):
        return datetime_to_ms(timestamp)
    return int(timestamp)  # type: ignore[call-overload]


@on_transport_errors
def _latest_in_target(target: CogniteClient, external_ids: Sequence[str], instance_space: str) -> dict[str, int | None]:
    """The newest point's timestamp per existing target series, Bad points included; None when it has none."""
    found = target.time_series.data.retrieve_latest(
        instance_id=[NodeId(instance_space, x) for x in external_ids],
        before=MAX_TIMESTAMP_MS,  # exclusive: a point at the very last millisecond CDF allows is not seen
        include_status=True,
        ignore_bad_datapoints=False,
        treat_uncertain_as_bad=False,
        ignore_unknown_ids=True,
    )
    items: Iterable[object] = [] if found is None else found  # a list was asked for, so a list comes back
    latest: dict[str, int | None] = {}
    for item in items:
        xid = _external_id_of(item, instance_space)
        if xid is None:
            continue
        latest[xid] = _ms(getattr(item, "timestamp", None))
    return latest


def future_points(
    target: CogniteClient, series: Sequence[CatalogSeries], instance_space: str, now: int
) -> dict[str, int]:
    """Points with timestamp > now per target series (rule 2 says there are none); absent series are left out.

    One retrieve_latest finds the series with anything after now; only those are counted, exactly, over
    (now, their newest point].
    """
    external_ids = list(dict.fromkeys(s.external_id for s in series))
    if not external_ids:
        return {}
    latest = _latest_in_target(target, external_ids, instance_space)
    result = dict.fromkeys((x for x in external_ids if x in latest), 0)
    newest = {x: t for x in result if (t := latest[x]) is not None and t > now}
    if newest:
        ahead = list(newest)
        window = Window(now + 1, max(newest.values()) + 1)
        by_id = {s.external_id: s for s in series}
        counts = count_points(target, [by_id[x] for x in ahead], window, instance_space=instance_space)
        result.update({x: n for x, n in counts.items() if x in result})
    return result
