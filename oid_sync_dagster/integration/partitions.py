"""Weekly partitions in target time: Monday 00:00 UTC to the next Monday (DESIGN.md rule 3).

Dagster's weekly default starts on Sunday; day_offset=1 moves it to Monday. A partition exists only once its
week has ended (end_offset=0): the open week belongs to realtime.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from oid_sync_dagster.sync.windows import WEEK_MS, week_start

PARTITION_FORMAT = "%Y-%m-%d"


def weekly_partitions(history_weeks: int, anchor_ms: int) -> dg.WeeklyPartitionsDefinition:
    """Weeks from the Monday `history_weeks` weeks before the anchor's week; the anchor is the catalog's
    fetch time, so the code server and every run worker agree on the same first week."""
    first = week_start(anchor_ms) - history_weeks * WEEK_MS
    return dg.WeeklyPartitionsDefinition(
        start_date=datetime.fromtimestamp(first / 1000, tz=UTC).strftime(PARTITION_FORMAT),
        day_offset=1,
        timezone="UTC",
        fmt=PARTITION_FORMAT,
    )


def week_of(partition_key: str) -> int:
    """The week start in ms of a partition key such as '2026-11-16' (a Monday)."""
    day = datetime.strptime(partition_key, PARTITION_FORMAT).replace(tzinfo=UTC)
    ms = int(day.timestamp()) * 1000
    if week_start(ms) != ms:
        raise ValueError(f"partition key {partition_key!r} is not a Monday")
    return ms


def key_of(week_ms: int) -> str:
    return datetime.fromtimestamp(week_ms / 1000, tz=UTC).strftime(PARTITION_FORMAT)
