"""Pure time math for the sync's time rules (DESIGN.md, rules 1-4), all in integer milliseconds.

Integers only: the predecessor sent float timestamps, and float sums lose milliseconds far from the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday, so the first Monday 00:00 UTC after the epoch is 1970-01-05.
_MONDAY_EPOCH_MS = 4 * DAY_MS


def _require_int(name: str, value: object) -> int:
    # bool is an int subclass; a True timestamp is always a bug, and floats would silently round.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer number of milliseconds, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time range [start, end) in integer ms; never empty."""

    start: int
    end: int

    def __post_init__(self) -> None:
        _require_int("Window.start", self.start)
        _require_int("Window.end", self.end)
        if self.start >= self.end:
            raise ValueError(f"Window start must be before end (exclusive), got [{self.start}, {self.end})")

    @property
    def duration_ms(self) -> int:
        return self.end - self.start

    def contains(self, ts: int) -> bool:
        return self.start <= ts < self.end


def week_start(ts: int) -> int:
    """Monday 00:00 UTC on or before ts (Python's floor modulo keeps this right for negative ts)."""
    _require_int("ts", ts)
    return ts - (ts - _MONDAY_EPOCH_MS) % WEEK_MS


def _require_week_start(week: int) -> int:
    if week_start(week) != week:
        raise ValueError(f"week_start must be a Monday 00:00 UTC in ms, got {week!r}")
    return week


def target_week_window(week: int) -> Window:
    """The target-time week [W, W + 7d) (rule 3)."""
    _require_week_start(week)
    return Window(week, week + WEEK_MS)


def source_window_for_week(week: int, offset_ms: int) -> Window:
    """The source range whose shifted points land in week W: [W - offset, W + 7d - offset) (rule 3)."""
    return shift(target_week_window(week), -_require_int("offset_ms", offset_ms))


@overload
def shift(window_or_ts: Window, offset_ms: int) -> Window: ...
@overload
def shift(window_or_ts: int, offset_ms: int) -> int: ...
def shift(window_or_ts: Window | int, offset_ms: int) -> Window | int:
    """Move a timestamp or window by offset_ms (rule 1: target = source + offset, exactly)."""
    _require_int("offset_ms", offset_ms)
    if isinstance(window_or_ts, Window):
        return Window(window_or_ts.start + offset_ms, window_or_ts.end + offset_ms)
    return _require_int("ts", window_or_ts) + offset_ms


def clip_to_now(target_window: Window, now: int) -> Window | None:
    """Rule 2: only target_ts <= now is written, so the exclusive end is min(end, now + 1); None if empty."""
    end = min(target_window.end, _require_int("now", now) + 1)
    if end <= target_window.start:
        return None
    return Window(target_window.start, end)


def week_is_final(week: int, now: int, source_edge: int | None, offset_ms: int) -> bool:
    """Rule 3: the week has ended in target time and the source has published its whole window.

    source_edge is the newest published source timestamp (inclusive); None means nothing is published.
    With an offset shorter than the source's lag the second condition stays false, and the week remains
    realtime's to fill.
    """
    window = target_week_window(week)
    if window.end > _require_int("now", now) or source_edge is None:
        return False
    last_source_ts = source_window_for_week(week, offset_ms).end - 1
    return _require_int("source_edge", source_edge) >= last_source_ts


def realtime_source_window(
    synced_through: int | None,
    source_edge: int | None,
    now: int,
    offset_ms: int,
    catch_up_limit_ms: int,
    *,
    reach_back_to: int | None = None,
) -> Window | None:
    """Rule 4: the source range a realtime run reads for one series; None when nothing is due.

    synced_through is the exclusive source-time mark up to which the series was read and written (not
    its latest point: sparse series would re-read forever). The end is min(source_edge + 1, now - offset
    + 1), so the shifted points never pass now (rule 2) and never ask for unpublished data. A mark older
    than end - limit (or no mark at all) starts at end - limit; week sealing heals what lies between.
    The next run's mark is the returned window's end, so consecutive runs neither gap nor overlap.

    reach_back_to lowers that floor to min(end - limit, reach_back_to): the engine passes the source start
    of the open target week, which no sealed week covers, so realtime always fills the open week whole.
    """
    _require_int("now", now)
    _require_int("offset_ms", offset_ms)
    if _require_int("catch_up_limit_ms", catch_up_limit_ms) <= 0:
        raise ValueError(f"catch_up_limit_ms must be positive, got {catch_up_limit_ms}")
    if source_edge is None:
        return None
    end = min(_require_int("source_edge", source_edge) + 1, now - offset_ms + 1)
    floor = end - catch_up_limit_ms
    if reach_back_to is not None:
        floor = min(floor, _require_int("reach_back_to", reach_back_to))
    start = floor if synced_through is None else max(_require_int("synced_through", synced_through), floor)
    if start >= end:
        return None
    return Window(start, end)


def history_weeks(now: int, n_weeks: int, *, include_open: bool = False) -> list[int]:
    """Week starts of the last n_weeks target weeks, newest first.

    By default only closed weeks count (W + 7d <= now): "12 weeks of history" means 12 whole weeks, where
    the predecessor delivered about 11. The open week holding now is realtime's; include_open=True puts
    it first (still n_weeks in total) for callers that partition it too, which is safe since every
    write is clipped to now.
    """
    if isinstance(n_weeks, bool) or not isinstance(n_weeks, int) or n_weeks < 0:
        raise ValueError(f"n_weeks must be a non-negative integer, got {n_weeks!r}")
    newest = week_start(now) if include_open else week_start(now) - WEEK_MS
    return [newest - i * WEEK_MS for i in range(n_weeks)]
