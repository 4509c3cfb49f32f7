"""verify: the window split (pure) and exact counts against the local CDF over real HTTP.

Every expected number is computed independently here, by raw retrieval with Bad and Uncertain points
included, one series at a time, never by the aggregate path under test.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes import DatapointsArray
from cognite.client.data_classes.data_modeling import NodeId, SpaceApply
from cognite.client.data_classes.data_modeling.cdm.v1 import CogniteTimeSeriesApply
from cognite.client.exceptions import CogniteAPIError
from cognite.client.utils import datetime_to_ms
from hypothesis import given
from hypothesis import strategies as st

from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.verify import (
    COMPLETE,
    EMPTY_SOURCE,
    INCOMPLETE,
    MISSING_TARGET,
    SOURCE_UNPUBLISHED,
    WindowSplit,
    count_points,
    future_points,
    series_status,
    split_for_aggregates,
    verify_window,
)
from oid_sync_dagster.sync.windows import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    SECOND_MS,
    WEEK_MS,
    Window,
    shift,
    source_window_for_week,
    target_week_window,
    week_start,
)
from oid_sync_dagster_tests.conftest import FROZEN_NOW_S

NOW = int(FROZEN_NOW_S * 1000)  # Tue 2026-11-24 12:00 UTC
OFFSET = WEEK_MS + 10 * MINUTE_MS + 7  # not a whole number of minutes: every source edge is ragged
CLOSED_WEEK = week_start(NOW) - WEEK_MS  # Mon 2026-11-16, closed and fully published with OFFSET
OPEN_WEEK = week_start(NOW)
SPACE = "sp_oid_sync"
BAD, UNCERTAIN = 0x80000000, 0x40000000


# --- the split (pure) ---


def _check_split(window: Window, unit: int, split: WindowSplit) -> None:
    pieces = [p for p in split if p is not None]
    assert pieces[0].start == window.start and pieces[-1].end == window.end
    for a, b in itertools.pairwise(pieces):
        assert a.end == b.start  # contiguous and disjoint
    head, middle, tail = split
    if middle is None:
        assert split == (window, None, None)
        # No whole unit fits: no boundary b with start <= b and b + unit <= end.
        first_boundary = -(-window.start // unit) * unit
        assert first_boundary + unit > window.end
        return
    assert middle.start % unit == 0 and middle.end % unit == 0
    if head is not None:
        assert head.duration_ms < unit and head.start % unit != 0
    else:
        assert window.start % unit == 0
    if tail is not None:
        assert tail.duration_ms < unit and tail.end % unit != 0
    else:
        assert window.end % unit == 0


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        # Already aligned: all middle.
        (Window(0, 3 * HOUR_MS), (None, Window(0, 3 * HOUR_MS), None)),
        (target_week_window(CLOSED_WEEK), (None, target_week_window(CLOSED_WEEK), None)),
        # Exactly one unit.
        (Window(HOUR_MS, 2 * HOUR_MS), (None, Window(HOUR_MS, 2 * HOUR_MS), None)),
        # Shorter than one unit, inside one unit: all head.
        (Window(HOUR_MS + 5, HOUR_MS + 10), (Window(HOUR_MS + 5, HOUR_MS + 10), None, None)),
        (Window(HOUR_MS, HOUR_MS + 1), (Window(HOUR_MS, HOUR_MS + 1), None, None)),
        (Window(2 * HOUR_MS - 1, 2 * HOUR_MS), (Window(2 * HOUR_MS - 1, 2 * HOUR_MS), None, None)),
        # Shorter than one unit but straddling a boundary: no whole unit, so still all head.
        (Window(HOUR_MS - 10, HOUR_MS + 10), (Window(HOUR_MS - 10, HOUR_MS + 10), None, None)),
        # Longer than one unit but holding no whole one.
        (Window(HOUR_MS - 10, 2 * HOUR_MS - 1), (Window(HOUR_MS - 10, 2 * HOUR_MS - 1), None, None)),
        # Aligned start, ragged end; ragged start, aligned end.
        (Window(0, HOUR_MS + 1), (None, Window(0, HOUR_MS), Window(HOUR_MS, HOUR_MS + 1))),
        (Window(-1, HOUR_MS), (Window(-1, 0), Window(0, HOUR_MS), None)),
        # Negative times floor the right way.
        (
            Window(-HOUR_MS - 5, HOUR_MS + 5),
            (Window(-HOUR_MS - 5, -HOUR_MS), Window(-HOUR_MS, HOUR_MS), Window(HOUR_MS, HOUR_MS + 5)),
        ),
    ],
)
def test_split_cases(window: Window, expected: tuple[Window | None, ...] | None) -> None:
    split = split_for_aggregates(window)
    if expected is not None:
        assert split == expected
    _check_split(window, HOUR_MS, split)


def test_split_of_a_source_week_with_an_offset_not_whole_minutes() -> None:
    source = source_window_for_week(CLOSED_WEEK, OFFSET)  # starts 10 min 7 ms before a whole hour
    head, middle, tail = split_for_aggregates(source)
    hour_before_week = CLOSED_WEEK - WEEK_MS
    assert head == Window(hour_before_week - 10 * MINUTE_MS - 7, hour_before_week)
    assert middle == Window(hour_before_week, CLOSED_WEEK - HOUR_MS)
    assert tail == Window(CLOSED_WEEK - HOUR_MS, CLOSED_WEEK - 10 * MINUTE_MS - 7)
    assert middle is not None and middle.duration_ms == (7 * 24 - 1) * HOUR_MS
    # The target week needs no raw edge at all, whatever the offset.
    assert split_for_aggregates(target_week_window(CLOSED_WEEK)) == (None, target_week_window(CLOSED_WEEK), None)


@pytest.mark.parametrize("unit", [SECOND_MS, MINUTE_MS, HOUR_MS, DAY_MS])
def test_split_units(unit: int) -> None:
    window = Window(3 * unit + 1, 7 * unit - 1)
    assert split_for_aggregates(window, unit) == (
        Window(3 * unit + 1, 4 * unit),
        Window(4 * unit, 6 * unit),
        Window(6 * unit, 7 * unit - 1),
    )


@pytest.mark.parametrize("unit", [0, 7, WEEK_MS, 2 * HOUR_MS, -HOUR_MS])
def test_split_refuses_units_cdf_does_not_align_to(unit: int) -> None:
    with pytest.raises(ValueError, match="unit_ms"):
        split_for_aggregates(Window(0, 10), unit)


@given(
    start=st.integers(min_value=-(10**13), max_value=10**13),
    length=st.integers(min_value=1, max_value=3 * DAY_MS),
    unit=st.sampled_from([SECOND_MS, MINUTE_MS, HOUR_MS, DAY_MS]),
)
def test_split_properties(start: int, length: int, unit: int) -> None:
    window = Window(start, start + length)
    _check_split(window, unit, split_for_aggregates(window, unit))


@given(start=st.integers(min_value=0, max_value=4 * HOUR_MS), length=st.integers(min_value=1, max_value=4 * HOUR_MS))
def test_split_exhaustive_small(start: int, length: int) -> None:
    # Against a brute-force definition: the middle is the union of all whole units inside the window.
    window = Window(start, start + length)
    _, middle, _ = split_for_aggregates(window)
    units = [k * HOUR_MS for k in range(0, 9) if start <= k * HOUR_MS and (k + 1) * HOUR_MS <= start + length]
    if units:
        assert middle == Window(units[0], units[-1] + HOUR_MS)
    else:
        assert middle is None


@pytest.mark.parametrize(
    ("src", "tgt", "published", "status"),
    [
        (10, None, True, MISSING_TARGET),
        (None, None, True, MISSING_TARGET),
        (10, None, False, MISSING_TARGET),
        (10, 10, False, SOURCE_UNPUBLISHED),
        (0, 0, False, SOURCE_UNPUBLISHED),
        (0, 0, True, EMPTY_SOURCE),
        (None, 0, True, EMPTY_SOURCE),
        (10, 10, True, COMPLETE),
        (10, 9, True, INCOMPLETE),
        (10, 11, True, INCOMPLETE),
        (0, 3, True, INCOMPLETE),
        (None, 3, True, INCOMPLETE),
    ],
)
def test_series_status(src: int | None, tgt: int | None, published: bool, status: str) -> None:
    assert series_status(src, tgt, published) == status


# --- helpers for the local CDF tests ---


def _catalog(source: CogniteClient) -> list[CatalogSeries]:
    return [
        CatalogSeries(
            external_id=ts.external_id,
            name=ts.name,
            description=ts.description,
            is_string=bool(ts.is_string),
            is_step=bool(ts.is_step),
            unit=ts.unit,
            metadata=dict(ts.metadata or {}),
        )
        for ts in source.time_series.list(external_id_prefix="pi:", limit=None)
    ]


def _raw(client: CogniteClient, ident: str | NodeId, window: Window) -> DatapointsArray:
    """One series' raw points, Bad and Uncertain included, by a single-series query (the eager fetcher)."""
    kwargs = {"external_id": ident} if isinstance(ident, str) else {"instance_id": ident}
    return client.time_series.data.retrieve_arrays(
        **kwargs,
        start=window.start,
        end=window.end,
        limit=None,
        include_status=True,
        ignore_bad_datapoints=False,
        treat_uncertain_as_bad=False,
    )


def _raw_count(client: CogniteClient, ident: str | NodeId, window: Window) -> int:
    return len(_raw(client, ident, window).timestamp)


def _statuses(client: CogniteClient, ident: str | NodeId, window: Window) -> np.ndarray:
    codes = _raw(client, ident, window).status_code
    return np.zeros(0, np.uint32) if codes is None else np.asarray(codes, np.uint32)


def _edge(source: CogniteClient, series: Sequence[CatalogSeries]) -> int:
    """The newest published source point over the series, read one series at a time."""
    newest = []
    for s in series:
        latest = source.time_series.data.retrieve_latest(
            external_id=s.external_id, before=NOW + 1, ignore_bad_datapoints=False, treat_uncertain_as_bad=False
        )
        assert latest is not None and latest.timestamp is not None
        newest.append(datetime_to_ms(latest.timestamp))
    return max(newest)


def _make_nodes(target: CogniteClient, series: Sequence[CatalogSeries], *, as_string: set[str] = frozenset()) -> None:
    target.data_modeling.spaces.apply(SpaceApply(SPACE))
    target.data_modeling.instances.apply(
        [
            CogniteTimeSeriesApply(
                SPACE,
                s.external_id,
                time_series_type="string" if s.is_string or s.external_id in as_string else "numeric",
                name=s.name,
                is_step=s.is_step,
            )
            for s in series
        ]
    )


def _copy(
    source: CogniteClient,
    target: CogniteClient,
    series: Sequence[CatalogSeries],
    window: Window,
    offset: int = OFFSET,
) -> None:
    """Copy the source window into the target, shifted by the offset, status codes and all."""
    items = []
    for s in series:
        array = _raw(source, s.external_id, window)
        stamps = array.timestamp.astype("datetime64[ms]").astype(np.int64) + offset
        codes = array.status_code if array.status_code is not None else np.zeros(len(stamps), np.uint32)
        values = array.value.tolist() if array.value is not None else []
        datapoints = []
        for t, v, c in zip(stamps.tolist(), values, np.asarray(codes).tolist(), strict=True):
            point: dict[str, object] = {"timestamp": t, "value": v}
            if c:
                point["status"] = {"code": int(c)}
            datapoints.append(point)
        if datapoints:
            items.append({"instance_id": NodeId(SPACE, s.external_id), "datapoints": datapoints})
    target.time_series.data.insert_multiple(items)


def _pick(source: CogniteClient, catalog: Sequence[CatalogSeries], window: Window) -> list[CatalogSeries]:
    """A small mixed set: numeric series holding Bad and Uncertain points in the window, a digital, strings."""
    numeric = [s for s in catalog if not s.is_string and s.metadata.get("pointtype") != "Digital"]
    with_bad = with_uncertain = None
    for s in numeric:
        codes = _statuses(source, s.external_id, window)
        if with_bad is None and (codes & BAD).any():
            with_bad = s
        elif with_uncertain is None and ((codes & 0xC0000000) == UNCERTAIN).any():
            with_uncertain = s
        if with_bad and with_uncertain:
            break
    assert with_bad and with_uncertain, "the synthetic source should hold Bad and Uncertain points in a week"
    plain = [s for s in numeric if s not in (with_bad, with_uncertain)][:2]
    digital = [s for s in catalog if s.metadata.get("pointtype") == "Digital"][:1]
    strings = [s for s in catalog if s.is_string][:2]
    assert len(strings) == 2
    return [with_bad, with_uncertain, *plain, *digital, *strings]


# --- counts against the local CDF ---


def test_count_points_in_the_source_equals_raw_counts_for_all_series(source: CogniteClient) -> None:
    catalog = _catalog(source)
    assert len(catalog) == 363
    window = source_window_for_week(CLOSED_WEEK, OFFSET)
    counts = count_points(source, catalog, window, instance_space=None)
    assert set(counts) == {s.external_id for s in catalog}
    # Independent: one raw retrieval of the whole window for every series, Bad and Uncertain included.
    raw = source.time_series.data.retrieve_arrays(
        external_id=[s.external_id for s in catalog],
        start=window.start,
        end=window.end,
        limit=None,
        include_status=True,
        ignore_bad_datapoints=False,
        treat_uncertain_as_bad=False,
    )
    expected = {a.external_id: len(a.timestamp) for a in raw}
    assert counts == expected
    assert sum(counts.values()) > 363 * 1000
    strings = [s.external_id for s in catalog if s.is_string]
    assert len(strings) == 6 and all(counts[x] > 0 for x in strings)
    # Bad and Uncertain points exist, and the plain `count` aggregate would have missed them.
    codes = np.concatenate([np.asarray(a.status_code, np.uint32) for a in raw if a.status_code is not None])
    n_bad, n_uncertain = int(((codes & BAD) != 0).sum()), int(((codes & 0xC0000000) == UNCERTAIN).sum())
    assert n_bad > 0 and n_uncertain > 0
    numeric = [s.external_id for s in catalog if not s.is_string]
    middle = split_for_aggregates(window).middle
    assert middle is not None
    plain = source.time_series.data.retrieve_arrays(
        external_id=numeric, start=middle.start, end=middle.end, aggregates="count", granularity="1h", limit=None
    )
    plain_total = sum(int(np.sum(a.count)) for a in plain)
    ours_middle = count_points(source, [s for s in catalog if not s.is_string], middle, instance_space=None)
    assert plain_total < sum(ours_middle.values())


def test_count_points_matches_raw_with_aggregates_off_and_on_ragged_windows(source: CogniteClient) -> None:
    catalog = _catalog(source)[:40]
    for window in (
        Window(NOW - 200 * HOUR_MS - 7, NOW - 190 * HOUR_MS + 13),  # ragged both ends
        Window(NOW - 200 * HOUR_MS + 5, NOW - 200 * HOUR_MS + 40 * MINUTE_MS),  # under one unit
        Window(NOW - 200 * HOUR_MS, NOW - 197 * HOUR_MS),  # aligned
    ):
        expected = {s.external_id: _raw_count(source, s.external_id, window) for s in catalog}
        assert count_points(source, catalog, window, instance_space=None) == expected
        assert count_points(source, catalog, window, instance_space=None, use_aggregates=False) == expected
        assert count_points(source, catalog, window, instance_space=None, unit_ms=MINUTE_MS) == expected


def test_string_series_are_counted_raw(source: CogniteClient) -> None:
    strings = [s for s in _catalog(source) if s.is_string]
    window = source_window_for_week(CLOSED_WEEK, OFFSET)
    # Strings have no aggregates: the aggregate path would be refused outright.
    with pytest.raises(CogniteAPIError):
        source.time_series.data.retrieve_arrays(
            external_id=strings[0].external_id, start=0, end=HOUR_MS, aggregates="count", granularity="1h"
        )
    counts = count_points(source, strings, window, instance_space=None)
    assert counts == {s.external_id: _raw_count(source, s.external_id, window) for s in strings}
    assert all(n > 0 for n in counts.values())


def test_absent_series_are_left_out_of_counts(source: CogniteClient, target: CogniteClient) -> None:
    catalog = _catalog(source)[:3]
    ghost = CatalogSeries("pi:does-not-exist")
    window = Window(NOW - 200 * HOUR_MS, NOW - 199 * HOUR_MS + 1)
    counts = count_points(source, [*catalog, ghost], window, instance_space=None)
    assert set(counts) == {s.external_id for s in catalog}
    _make_nodes(target, catalog[:1])
    in_target = count_points(target, [*catalog, ghost], window, instance_space=SPACE)
    assert in_target == {catalog[0].external_id: 0}  # exists with no points; the others do not exist


def test_a_target_node_typed_unlike_its_source_does_not_fail_the_others(
    source: CogniteClient, target: CogniteClient
) -> None:
    numeric = [s for s in _catalog(source) if not s.is_string][:3]
    _make_nodes(target, numeric, as_string={numeric[0].external_id})
    window = Window(CLOSED_WEEK, CLOSED_WEEK + DAY_MS)
    _copy(source, target, numeric[1:], shift(window, -OFFSET))
    odd = NodeId(SPACE, numeric[0].external_id)
    target.time_series.data.insert(
        [(CLOSED_WEEK + 5, "a"), (CLOSED_WEEK + HOUR_MS + 5, "b"), (CLOSED_WEEK + DAY_MS - 1, "c")], instance_id=odd
    )
    counts = count_points(target, numeric, window, instance_space=SPACE)
    expected = {s.external_id: _raw_count(target, NodeId(SPACE, s.external_id), window) for s in numeric}
    assert counts == expected
    assert counts[numeric[0].external_id] == 3 and all(counts[s.external_id] > 0 for s in numeric[1:])


# --- verify_window ---


@pytest.fixture
def copied(source: CogniteClient, target: CogniteClient) -> list[CatalogSeries]:
    """A mixed set of series whose CLOSED_WEEK is copied into the target, exactly."""
    window = source_window_for_week(CLOSED_WEEK, OFFSET)
    series = _pick(source, _catalog(source), window)
    _make_nodes(target, series)
    _copy(source, target, series, window)
    return series


def test_verify_a_faithfully_copied_week_is_complete(
    source: CogniteClient, target: CogniteClient, copied: list[CatalogSeries]
) -> None:
    edge = _edge(source, copied)
    week = target_week_window(CLOSED_WEEK)
    result = verify_window(source, target, copied, week, OFFSET, SPACE, NOW, source_edge=edge)
    assert result.target_window == week and result.source_window == source_window_for_week(CLOSED_WEEK, OFFSET)
    assert result.source_edge == edge and result.source_published
    for s in copied:
        expected = _raw_count(source, s.external_id, result.source_window)
        assert expected == _raw_count(target, NodeId(SPACE, s.external_id), week)
        v = result.series[s.external_id]
        assert (v.source_count, v.target_count, v.status) == (expected, expected, COMPLETE)
    assert result.complete and result.status_counts() == {COMPLETE: len(copied)}
    # The set really holds Bad and Uncertain points, and string series.
    codes = np.concatenate([_statuses(target, NodeId(SPACE, s.external_id), week) for s in copied])
    assert ((codes & BAD) != 0).any() and ((codes & 0xC0000000) == UNCERTAIN).any()
    assert any(s.is_string for s in copied)


def test_verify_measures_the_source_edge(
    source: CogniteClient, target: CogniteClient, copied: list[CatalogSeries]
) -> None:
    result = verify_window(source, target, copied, target_week_window(CLOSED_WEEK), OFFSET, SPACE, NOW)
    assert result.source_edge == _edge(source, copied)
    assert result.source_edge <= NOW - 168 * HOUR_MS
    assert result.complete


def test_verify_finds_deleted_points_exactly(
    source: CogniteClient, target: CogniteClient, copied: list[CatalogSeries]
) -> None:
    week = target_week_window(CLOSED_WEEK)
    edge = _edge(source, copied)
    # Cut a stretch from the middle of one series, the first minutes of another, and a string's whole day.
    cuts = {
        copied[0].external_id: Window(CLOSED_WEEK + 2 * DAY_MS + 17, CLOSED_WEEK + 2 * DAY_MS + 3 * HOUR_MS + 5),
        copied[1].external_id: Window(CLOSED_WEEK, CLOSED_WEEK + 7 * MINUTE_MS + 3),
        next(s.external_id for s in copied if s.is_string): Window(CLOSED_WEEK + DAY_MS, CLOSED_WEEK + 2 * DAY_MS),
    }
    removed = {x: _raw_count(target, NodeId(SPACE, x), w) for x, w in cuts.items()}
    assert all(n > 0 for n in removed.values())
    for xid, w in cuts.items():
        target.time_series.data.delete_range(start=w.start, end=w.end, instance_id=NodeId(SPACE, xid))

    result = verify_window(source, target, copied, week, OFFSET, SPACE, NOW, source_edge=edge)
    assert not result.complete
    assert sorted(result.with_status(INCOMPLETE)) == sorted(cuts)
    for s in copied:
        v = result.series[s.external_id]
        assert v.source_count == _raw_count(source, s.external_id, result.source_window)
        assert v.target_count == _raw_count(target, NodeId(SPACE, s.external_id), week)
        assert v.missing_points == removed.get(s.external_id, 0)
        assert v.status == (INCOMPLETE if s.external_id in cuts else COMPLETE)
    assert result.source_total - result.target_total == sum(removed.values())


def test_verify_flags_missing_target_nodes(source: CogniteClient, target: CogniteClient) -> None:
    catalog = _catalog(source)
    series = [s for s in catalog if not s.is_string][:3]
    _make_nodes(target, series[:2])
    window = Window(CLOSED_WEEK, CLOSED_WEEK + 6 * HOUR_MS)
    _copy(source, target, series[:2], shift(window, -OFFSET))
    result = verify_window(source, target, series, window, OFFSET, SPACE, NOW, source_edge=_edge(source, series))
    missing = result.series[series[2].external_id]
    assert (missing.status, missing.target_count) == (MISSING_TARGET, None)
    assert missing.source_count == _raw_count(source, series[2].external_id, result.source_window)
    assert result.with_status(COMPLETE) == [s.external_id for s in series[:2]]
    assert not result.complete


def test_verify_a_week_the_source_has_not_published(source: CogniteClient, target: CogniteClient) -> None:
    # With a one-day offset (shorter than the source's lag), a closed week's source window reaches past the edge.
    series = [s for s in _catalog(source) if not s.is_string][:3]
    _make_nodes(target, series)
    edge = _edge(source, series)
    week = target_week_window(CLOSED_WEEK)
    assert edge < source_window_for_week(CLOSED_WEEK, DAY_MS).end - 1
    published = Window(week.start - DAY_MS, edge + 1)
    _copy(source, target, series, published, DAY_MS)
    result = verify_window(source, target, series, week, DAY_MS, SPACE, NOW, source_edge=edge)
    assert not result.source_published and not result.complete
    for s in series:
        v = result.series[s.external_id]
        assert v.status == SOURCE_UNPUBLISHED
        # The counts are still exact: all the source has so far, and its copy.
        assert v.source_count == v.target_count == _raw_count(source, s.external_id, result.source_window) > 0
    # Measured, the edge says the same.
    assert verify_window(source, target, series, week, DAY_MS, SPACE, NOW).with_status(SOURCE_UNPUBLISHED) == [
        s.external_id for s in series
    ]


def test_verify_clips_the_open_week_to_now(source: CogniteClient, target: CogniteClient) -> None:
    series = [s for s in _catalog(source) if not s.is_string][:2]
    _make_nodes(target, series)
    week = target_week_window(OPEN_WEEK)
    _copy(source, target, series, shift(Window(week.start, NOW + 1), -OFFSET))
    # A point after now in the target is outside the verified window (the future-points check catches it).
    target.time_series.data.insert_multiple(
        [{"instance_id": NodeId(SPACE, series[0].external_id), "datapoints": [(NOW + MINUTE_MS, 1.0)]}]
    )
    result = verify_window(source, target, series, week, OFFSET, SPACE, NOW, source_edge=_edge(source, series))
    assert result.target_window == Window(week.start, NOW + 1)
    assert result.source_window == Window(week.start - OFFSET, NOW + 1 - OFFSET)
    assert result.complete, result.series
    with pytest.raises(ValueError, match="nothing in it is due"):
        verify_window(source, target, series, target_week_window(OPEN_WEEK + WEEK_MS), OFFSET, SPACE, NOW)


def test_verify_an_empty_source_window(source: CogniteClient, target: CogniteClient) -> None:
    series = _catalog(source)[:3]
    _make_nodes(target, series)
    long_ago = Window(NOW - 800 * DAY_MS, NOW - 800 * DAY_MS + 5 * HOUR_MS)  # before the synthetic history
    result = verify_window(source, target, series, long_ago, OFFSET, SPACE, NOW, source_edge=_edge(source, series))
    assert result.status_counts() == {EMPTY_SOURCE: 3}
    assert all(v.source_count == v.target_count == 0 for v in result.series.values())
    assert result.complete


# --- future points ---


def test_future_points(source: CogniteClient, target: CogniteClient) -> None:
    series = _catalog(source)
    numeric = [s for s in series if not s.is_string][:3]
    string = next(s for s in series if s.is_string)
    chosen = [*numeric, string]
    _make_nodes(target, chosen)
    a, b = (NodeId(SPACE, s.external_id) for s in numeric[:2])
    target.time_series.data.insert_multiple(
        [
            # At now exactly is due (rule 2 allows target_ts <= now); after now is not, Bad points included.
            {
                "instance_id": a,
                "datapoints": [
                    {"timestamp": NOW - 5, "value": 1.0},
                    {"timestamp": NOW, "value": 2.0},
                    {"timestamp": NOW + 1, "value": 3.0},
                    {"timestamp": NOW + 10 * MINUTE_MS, "value": 4.0, "status": {"code": BAD}},
                    {"timestamp": NOW + 3 * DAY_MS + 11, "value": 5.0, "status": {"code": BAD}},
                ],
            },
            {"instance_id": b, "datapoints": [(NOW - HOUR_MS, 1.0), (NOW, 2.0)]},
            {
                "instance_id": NodeId(SPACE, string.external_id),
                "datapoints": [(NOW - 1, "AUTO"), (NOW + 2 * HOUR_MS + 3, "MAN")],
            },
        ]
    )
    ghost = CatalogSeries("pi:not-in-target")
    found = future_points(target, [*chosen, ghost], SPACE, NOW)
    expected = {
        s.external_id: _raw_count(target, NodeId(SPACE, s.external_id), Window(NOW + 1, NOW + 400 * DAY_MS))
        for s in chosen
    }
    assert found == expected
    assert found == {numeric[0].external_id: 3, numeric[1].external_id: 0, numeric[2].external_id: 0,
                     string.external_id: 1}  # fmt: skip
    assert future_points(target, [], SPACE, NOW) == {}
