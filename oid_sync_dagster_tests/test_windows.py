"""The time rules as pure functions: exhaustive examples and hypothesis properties, all integer ms."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oid_sync_dagster.sync.windows import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    WEEK_MS,
    Window,
    clip_to_now,
    history_weeks,
    realtime_source_window,
    shift,
    source_window_for_week,
    target_week_window,
    week_is_final,
    week_start,
)

# Timestamps from 1900 to 2200, negative (pre-1970) included.
TS = st.integers(min_value=-70 * 365 * DAY_MS, max_value=230 * 365 * DAY_MS)
# Offsets that are whole weeks, whole days, or odd: 1w10m, 3d7h13m and zero among them.
OFFSETS = st.one_of(
    st.sampled_from([0, 1, WEEK_MS + 10 * MINUTE_MS, 3 * DAY_MS + 7 * HOUR_MS + 13 * MINUTE_MS, WEEK_MS]),
    st.integers(min_value=0, max_value=8 * WEEK_MS),
)
LIMITS = st.integers(min_value=1, max_value=3 * DAY_MS)
DEFAULT_OFFSET = WEEK_MS + 10 * MINUTE_MS
NOW = 1_795_521_600_000  # Tuesday 2026-11-24 12:00:00 UTC
MONDAY = 1_795_392_000_000  # Monday 2026-11-23 00:00:00 UTC


def to_ms(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def to_dt(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


# ---------- Window ----------


def test_window_is_half_open_and_validated() -> None:
    w = Window(10, 20)
    assert w.contains(10) and w.contains(19)
    assert not w.contains(20) and not w.contains(9)
    assert w.duration_ms == 10
    assert not hasattr(w, "__len__")
    with pytest.raises(ValueError):
        Window(5, 5)
    with pytest.raises(ValueError):
        Window(6, 5)
    with pytest.raises(TypeError):
        Window(1.0, 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Window(True, 5)
    with pytest.raises(AttributeError):
        w.start = 0  # type: ignore[misc]


# ---------- weeks ----------


def test_known_weeks() -> None:
    assert to_dt(MONDAY) == datetime(2026, 11, 23, tzinfo=UTC)
    assert week_start(NOW) == MONDAY
    assert week_start(MONDAY) == MONDAY
    assert week_start(MONDAY - 1) == MONDAY - WEEK_MS
    # 1970-01-01 (Thursday) belongs to the week of Monday 1969-12-29.
    assert week_start(0) == to_ms(datetime(1969, 12, 29, tzinfo=UTC)) == -3 * DAY_MS
    assert week_start(4 * DAY_MS) == 4 * DAY_MS
    assert target_week_window(MONDAY) == Window(MONDAY, MONDAY + WEEK_MS)
    with pytest.raises(ValueError, match="Monday"):
        target_week_window(NOW)


@given(TS)
def test_week_start_is_monday_midnight_utc(ts: int) -> None:
    ws = week_start(ts)
    dt = to_dt(ws)
    assert dt.weekday() == 0
    assert (dt.hour, dt.minute, dt.second, dt.microsecond) == (0, 0, 0, 0)
    assert ws <= ts < ws + WEEK_MS
    assert target_week_window(ws).contains(ts)
    assert week_start(ws) == ws


@given(TS)
def test_consecutive_weeks_tile(ts: int) -> None:
    w = week_start(ts)
    this, nxt = target_week_window(w), target_week_window(w + WEEK_MS)
    assert this.end == nxt.start
    assert week_start(this.end - 1) == w and week_start(this.end) == w + WEEK_MS


@given(TS, OFFSETS)
def test_source_windows_tile_and_shift_exactly(ts: int, offset: int) -> None:
    w = week_start(ts)
    src, nxt = source_window_for_week(w, offset), source_window_for_week(w + WEEK_MS, offset)
    assert src.end == nxt.start  # no gap, no overlap, whatever the offset
    assert src.duration_ms == WEEK_MS
    assert shift(src, offset) == target_week_window(w)  # rule 1: target = source + offset
    assert shift(ts, offset) - offset == ts
    assert src.contains(ts - offset) == target_week_window(w).contains(ts)


@pytest.mark.parametrize("offset", [0, DEFAULT_OFFSET, 3 * DAY_MS + 7 * HOUR_MS + 13 * MINUTE_MS])
def test_every_source_ms_belongs_to_exactly_one_week(offset: int) -> None:
    weeks = [MONDAY + k * WEEK_MS for k in range(-3, 3)]
    windows = [source_window_for_week(w, offset) for w in weeks]
    for probe in range(windows[0].start, windows[-1].end, 3 * HOUR_MS + 17):
        assert sum(win.contains(probe) for win in windows) == 1


def test_shift_types() -> None:
    assert shift(5, 3) == 8 and type(shift(5, 3)) is int
    assert shift(Window(1, 2), -1) == Window(0, 1)
    with pytest.raises(TypeError):
        shift(1.5, 1)  # type: ignore[call-overload]


# ---------- rule 2: clip ----------


def test_clip_examples() -> None:
    w = Window(100, 200)
    assert clip_to_now(w, 150) == Window(100, 151)  # the point at now itself is due
    assert clip_to_now(w, 100) == Window(100, 101)
    assert clip_to_now(w, 99) is None
    assert clip_to_now(w, 199) == w
    assert clip_to_now(w, 10_000) == w


@given(TS, st.integers(min_value=1, max_value=2 * WEEK_MS), TS)
def test_clip_never_passes_now(start: int, length: int, now: int) -> None:
    w = Window(start, start + length)
    clipped = clip_to_now(w, now)
    if clipped is None:
        assert now < w.start
    else:
        assert clipped.end - 1 <= now
        assert clipped.start == w.start and clipped.end <= w.end
        assert clipped.end == min(w.end, now + 1)  # nothing due is left out


# ---------- rule 3: finality ----------


def test_week_is_final_examples() -> None:
    w = MONDAY - WEEK_MS
    end = MONDAY
    last_src = end - DEFAULT_OFFSET - 1
    assert week_is_final(w, end, last_src, DEFAULT_OFFSET)
    assert not week_is_final(w, end - 1, last_src, DEFAULT_OFFSET)  # week not over
    assert not week_is_final(w, end, last_src - 1, DEFAULT_OFFSET)  # source lags by one ms
    assert not week_is_final(w, end, None, DEFAULT_OFFSET)
    assert not week_is_final(MONDAY, NOW, NOW, DEFAULT_OFFSET)  # open week


@given(TS, OFFSETS, st.integers(min_value=1, max_value=2 * WEEK_MS), st.integers(min_value=0, max_value=WEEK_MS))
def test_week_not_final_while_source_lags(ts: int, offset: int, lag: int, after_end: int) -> None:
    # The source publishes up to now - lag. With an offset shorter than the lag, a just-ended week's
    # source window is not all published yet; finality then follows the lag, never the calendar alone.
    w = week_start(ts)
    now = w + WEEK_MS + after_end
    edge = now - lag
    final = week_is_final(w, now, edge, offset)
    assert week_is_final(w, now, edge + 1, offset) or not final  # a later edge never unfinalizes a week
    # edge is inclusive: a lag of 1 ms still publishes the last ms of a zero-offset week at W + 7d.
    if offset < lag - 1 and after_end < lag - offset - 1:
        assert not final
    if not final:
        assert edge < source_window_for_week(w, offset).end - 1


WEEK_OF_16_NOV = 1_794_787_200_000  # Monday 2026-11-16 00:00 UTC; the week ends Monday 2026-11-23 00:00 = MONDAY


@pytest.mark.parametrize(
    ("now", "edge", "offset", "final"),
    [
        # 1w10m (605_400_000): the week's source window ends 2026-11-15 23:50, last ms 23:49:59.999 = 1_794_786_599_999.
        (1_795_392_000_000, 1_794_786_599_999, 605_400_000, True),  # now = 2026-11-23 00:00, the week's end
        (1_795_392_000_000, 1_794_786_599_998, 605_400_000, False),  # the source lags by one ms
        (1_795_391_999_999, 1_794_786_599_999, 605_400_000, False),  # 2026-11-22 23:59:59.999: not over
        # Zero offset: the last source ms is the week's own, 2026-11-22 23:59:59.999 = 1_795_391_999_999.
        (1_795_392_000_000, 1_795_391_999_999, 0, True),  # a lag of 1 ms still publishes it (edge is inclusive)
        (1_795_392_000_000, 1_795_391_999_998, 0, False),
        # Friday 2026-11-27 12:00 (1_795_780_800_000) with OID's 168 h lag: edge 2026-11-20 12:00 (1_795_176_000_000).
        (1_795_780_800_000, 1_795_176_000_000, 285_180_000, True),  # 3d7h13m: last source ms 2026-11-19 16:46:59.999
        (1_795_780_800_000, 1_795_176_000_000, 0, False),  # zero offset: needs up to 2026-11-22 23:59:59.999
        (1_795_780_800_000, None, 0, False),  # nothing published
    ],
)
def test_week_is_final_literal(now: int, edge: int | None, offset: int, final: bool) -> None:
    assert week_is_final(WEEK_OF_16_NOV, now, edge, offset) is final


@given(TS, OFFSETS, TS)
def test_week_never_final_before_its_end(ts: int, offset: int, edge: int) -> None:
    w = week_start(ts)
    assert not week_is_final(w, w + WEEK_MS - 1, edge, offset)


# ---------- rule 4: realtime ----------


def test_realtime_examples() -> None:
    limit = DAY_MS
    edge = NOW - 168 * HOUR_MS  # OID's usual lag, for illustration only
    # now - offset + 1 is below edge + 1 with the default offset (1w10m > 168h).
    cap = NOW - DEFAULT_OFFSET + 1
    assert realtime_source_window(cap - 5, edge, NOW, DEFAULT_OFFSET, limit) == Window(cap - 5, cap)
    assert realtime_source_window(None, edge, NOW, DEFAULT_OFFSET, limit) == Window(cap - limit, cap)
    assert realtime_source_window(cap - 10 * DAY_MS, edge, NOW, DEFAULT_OFFSET, limit) == Window(cap - limit, cap)
    assert realtime_source_window(cap, edge, NOW, DEFAULT_OFFSET, limit) is None  # up to date
    assert realtime_source_window(cap + 7, edge, NOW, DEFAULT_OFFSET, limit) is None
    assert realtime_source_window(None, None, NOW, DEFAULT_OFFSET, limit) is None  # nothing published
    # A zero offset: the source edge is the binding end.
    assert realtime_source_window(edge - 3, edge, NOW, 0, limit) == Window(edge - 3, edge + 1)
    with pytest.raises(ValueError):
        realtime_source_window(None, edge, NOW, 0, 0)


@given(st.one_of(st.none(), TS), TS, TS, OFFSETS, LIMITS)
def test_realtime_window_bounds(mark: int | None, edge: int, now: int, offset: int, limit: int) -> None:
    window = realtime_source_window(mark, edge, now, offset, limit)
    if window is None:  # only a mark at or past where a first run would end
        first = realtime_source_window(None, edge, now, offset, limit)
        assert mark is not None and first is not None and mark >= first.end
        return
    assert window.end - 1 in (now - offset, edge)  # as far as one cap allows (exact values: the literal cases)
    assert window.end - 1 <= now - offset  # shifted, never in the future (rule 2)
    assert window.end - 1 <= edge  # never past what the source published
    assert shift(window, offset).end - 1 <= now
    assert window.duration_ms <= limit
    if mark is not None and mark >= window.end - limit:
        assert window.start == mark  # resumes exactly at the mark
    else:
        assert window.start == window.end - limit  # outage longer than the limit


# Tuesday 2026-11-24 12:00 (NOW) at 1w10m: now - offset = 2026-11-17 11:50, so the end is 11:50:00.001 =
# 1_794_916_200_001 whenever the source edge is later; with a 1 d limit the floor is 2026-11-16 11:50:00.001.
@pytest.mark.parametrize(
    ("mark", "edge", "offset", "expected"),
    [
        # edge = NOW - 168 h = 2026-11-17 12:00 = 1_794_916_800_000: now - offset binds.
        (None, 1_794_916_800_000, 605_400_000, Window(1_794_829_800_001, 1_794_916_200_001)),
        (1_794_913_200_000, 1_794_916_800_000, 605_400_000, Window(1_794_913_200_000, 1_794_916_200_001)),  # 11:00
        (1_794_268_800_000, 1_794_916_800_000, 605_400_000, Window(1_794_829_800_001, 1_794_916_200_001)),  # 11-10
        (1_794_916_200_001, 1_794_916_800_000, 605_400_000, None),  # up to date
        (1_794_916_200_008, 1_794_916_800_000, 605_400_000, None),  # mark past the end
        (None, None, 605_400_000, None),  # nothing published
        # Offset 0: now - offset is 2026-11-24 12:00, so the edge binds: end 2026-11-17 12:00:00.001.
        (1_794_916_799_997, 1_794_916_800_000, 0, Window(1_794_916_799_997, 1_794_916_800_001)),
        # 3d7h13m (285_180_000): now - offset = 2026-11-21 04:47, after the edge: [2026-11-16 12:00:00.001, edge].
        (None, 1_794_916_800_000, 285_180_000, Window(1_794_830_400_001, 1_794_916_800_001)),
    ],
)
def test_realtime_window_literal(mark: int | None, edge: int | None, offset: int, expected: Window | None) -> None:
    assert realtime_source_window(mark, edge, NOW, offset, DAY_MS) == expected


@st.composite
def run_sequences(draw: st.DrawFn) -> tuple[int, int, int, list[tuple[int, int]]]:
    offset = draw(OFFSETS)
    limit = draw(LIMITS)
    lag = draw(st.integers(min_value=0, max_value=2 * WEEK_MS))
    now = NOW + draw(st.integers(min_value=-WEEK_MS, max_value=WEEK_MS))
    edge = now - lag
    runs = []
    for _ in range(draw(st.integers(min_value=1, max_value=25))):
        # Runs every few seconds to (rarely) after a multi-day outage; the source edge may stall or jump.
        now += draw(st.one_of(st.integers(0, 15 * MINUTE_MS), st.integers(0, 5 * DAY_MS)))
        edge = min(now, edge + draw(st.integers(0, 6 * HOUR_MS)))
        runs.append((now, edge))
    return offset, limit, draw(st.one_of(st.none(), TS)), runs


@given(run_sequences())
def test_consecutive_runs_neither_gap_nor_overlap(
    case: tuple[int, int, int | None, list[tuple[int, int]]],
) -> None:
    offset, limit, mark, runs = case
    prev_end: int | None = mark
    for now, edge in runs:
        window = realtime_source_window(mark, edge, now, offset, limit)
        if window is None:
            continue
        if prev_end is not None:
            assert window.start >= prev_end  # no overlap
            if window.start != prev_end:
                # The only gap allowed: an outage longer than the limit, which week sealing heals.
                assert prev_end < window.end - limit and window.start == window.end - limit
        assert window.end - 1 <= min(edge, now - offset)
        mark = prev_end = window.end  # the mark advances to what was read and written


def test_outage_longer_than_limit_resumes_at_limit() -> None:
    limit = DAY_MS
    mark = NOW - DEFAULT_OFFSET + 1
    later = NOW + 5 * DAY_MS
    window = realtime_source_window(mark, later, later, DEFAULT_OFFSET, limit)
    assert window is not None
    assert window == Window(later - DEFAULT_OFFSET + 1 - limit, later - DEFAULT_OFFSET + 1)
    # The skipped source range is older than the limit, and each target week it touches reads exactly
    # its slice when sealed (source windows tile), so sealing those weeks closes the gap.
    skipped = Window(mark, window.start)
    target_gap = shift(skipped, DEFAULT_OFFSET)
    assert target_gap.end <= later - limit + 1
    covered = 0
    w = week_start(target_gap.start)
    while w < target_gap.end:
        src = source_window_for_week(w, DEFAULT_OFFSET)
        covered += max(0, min(src.end, skipped.end) - max(src.start, skipped.start))
        w += WEEK_MS
    assert covered == skipped.duration_ms


@given(st.one_of(st.none(), TS), TS, OFFSETS, LIMITS, st.integers(min_value=0, max_value=3 * WEEK_MS))
def test_reach_back_fills_the_open_week_whole(mark: int | None, edge: int, offset: int, limit: int, lag: int) -> None:
    # The engine passes the open week's source start: after any outage the open week is covered from its
    # start (no sealed week covers it), and closed weeks are left to sealing as before.
    now = NOW + lag
    open_week_source_start = source_window_for_week(week_start(now), offset).start
    window = realtime_source_window(mark, edge, now, offset, limit, reach_back_to=open_week_source_start)
    plain = realtime_source_window(mark, edge, now, offset, limit)
    if plain is None:
        assert window is None
        return
    assert window is not None and window.end == plain.end
    # It starts at the mark, at the limit (plain), or at the open week's start (exact values: the literal cases).
    assert window.start in {plain.start, open_week_source_start, mark}
    if mark is None or mark <= open_week_source_start:
        assert window.start <= open_week_source_start  # the open week is covered from its start
    assert window.start <= plain.start  # never reaches back less than without it


# The open week of Monday 2026-11-23 starts, in source time at 1w10m, at 2026-11-15 23:50 = 1_794_786_600_000.
@pytest.mark.parametrize(
    ("mark", "now", "edge", "expected"),
    [
        # Tuesday 2026-11-24 12:00, no mark: from the open week's source start to 2026-11-17 11:50:00.001.
        (None, 1_795_521_600_000, 1_794_916_800_000, Window(1_794_786_600_000, 1_794_916_200_001)),
        # A mark older than the open week (2026-11-10 00:00): still from the open week's start.
        (1_794_268_800_000, 1_795_521_600_000, 1_794_916_800_000, Window(1_794_786_600_000, 1_794_916_200_001)),
        # A mark inside it (2026-11-16 08:00 source time): from the mark.
        (1_794_816_000_000, 1_795_521_600_000, 1_794_916_800_000, Window(1_794_816_000_000, 1_794_916_200_001)),
        # Monday 2026-11-23 10:00: the end is 2026-11-16 09:50:00.001 and the last day reaches further back
        # (2026-11-15 09:50:00.001) than the open week's start; edge 2026-11-16 10:00 (168 h lag).
        (None, 1_795_428_000_000, 1_794_823_200_000, Window(1_794_736_200_001, 1_794_822_600_001)),
    ],
)
def test_reach_back_literal(mark: int | None, now: int, edge: int, expected: Window) -> None:
    window = realtime_source_window(mark, edge, now, DEFAULT_OFFSET, DAY_MS, reach_back_to=1_794_786_600_000)
    assert window == expected


def test_reach_back_example() -> None:
    # Tuesday 12:00 target time, no mark: realtime reads from Monday 00:00 - offset, not just the last day.
    source_monday = MONDAY - DEFAULT_OFFSET
    edge = NOW - 168 * HOUR_MS
    window = realtime_source_window(None, edge, NOW, DEFAULT_OFFSET, DAY_MS, reach_back_to=source_monday)
    assert window == Window(source_monday, NOW - DEFAULT_OFFSET + 1)


# ---------- history ----------


def test_history_weeks() -> None:
    weeks = history_weeks(NOW, 12)
    assert len(weeks) == 12
    assert weeks[0] == MONDAY - WEEK_MS  # newest closed week first; the open week is realtime's
    assert weeks == sorted(weeks, reverse=True)
    assert all(b - a == WEEK_MS for a, b in zip(weeks[1:], weeks, strict=False))
    assert all(w + WEEK_MS <= NOW for w in weeks)
    assert history_weeks(NOW, 3, include_open=True) == [MONDAY, MONDAY - WEEK_MS, MONDAY - 2 * WEEK_MS]
    assert history_weeks(NOW, 0) == []
    # Exactly at Monday 00:00 the week just ended is closed.
    assert history_weeks(MONDAY, 1) == [MONDAY - WEEK_MS]
    with pytest.raises(ValueError):
        history_weeks(NOW, -1)


@given(TS, st.integers(min_value=0, max_value=60))
def test_history_weeks_are_closed_and_contiguous(now: int, n: int) -> None:
    weeks = history_weeks(now, n)
    assert len(weeks) == n
    for newer, older in itertools.pairwise(weeks):
        assert target_week_window(older).end == target_week_window(newer).start
    if weeks:
        assert weeks[0] + WEEK_MS <= now < weeks[0] + 2 * WEEK_MS
