"""Query parameters of viewer pages and data endpoints; a bad one is a ViewerError naming it and its value."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from oid_sync_dagster.local_cdf.viewer.links import DEFAULT_OFFSET

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
WINDOWS: dict[str, int | None] = {"hour": HOUR_MS, "day": DAY_MS, "week": WEEK_MS, "all": None}
# The chart's bucket sizes, on a grid of fixed multiples of the epoch so a poll's buckets line up with the first
# load's; a poll may continue with one of these only.
BUCKET_SIZES = ("1s", "5s", "10s", "30s", "1m", "2m", "5m", "10m", "15m", "30m", "1h", "2h", "3h", "6h", "12h", "1d",
                "2d", "7d", "14d", "28d", "91d", "364d")  # fmt: skip
_UNIT_MS = {"s": 1000, "m": 60_000, "h": HOUR_MS, "d": DAY_MS, "w": WEEK_MS}
_DURATION = re.compile(r"^(?:\d+[smhdw])+$")
_TERM = re.compile(r"(\d+)([smhdw])")
# Beyond these a timestamp is not one CDF stores (1900-01-01 .. 2099-12-31).
_MIN_MS, _MAX_MS = -2_208_988_800_000, 4_102_444_799_999


class ViewerError(Exception):
    """A request the viewer cannot answer: an HTML page or CDF's JSON error body with `status` and `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_param(name: str, value: str, why: str) -> ViewerError:
    return ViewerError(400, f"Invalid {name}={value!r}: {why}")


def required(query: Mapping[str, str], name: str) -> str:
    value = query.get(name)
    if not value:
        raise ViewerError(400, f"Missing required parameter {name}.")
    return value


def window(query: Mapping[str, str]) -> str:
    value = query.get("window", "day")
    if value not in WINDOWS:
        raise bad_param("window", value, f"use one of {', '.join(WINDOWS)}.")
    return value


def duration_ms(text: str) -> int | None:
    """'1w10m' -> 605400000; digits alone are milliseconds. None if malformed."""
    text = text.strip().lower()
    if re.fullmatch(r"[0-9]+", text):  # not str.isdigit: it takes '²', which int() refuses
        return int(text)
    if not _DURATION.fullmatch(text):
        return None
    return sum(int(n) * _UNIT_MS[unit] for n, unit in _TERM.findall(text))


def offset_ms(query: Mapping[str, str]) -> int:
    value = query.get("offset", DEFAULT_OFFSET)
    parsed = duration_ms(value)
    if parsed is None or parsed > 100 * 365 * DAY_MS:
        raise bad_param("offset", value, "give a duration such as 1w10m, 168h or 604800000 (ms).")
    return parsed


def timestamp(query: Mapping[str, str], name: str) -> int | None:
    """Milliseconds since the epoch, or an ISO 8601 time (UTC unless it says otherwise)."""
    value = query.get(name)
    if value is None or value == "":
        return None
    parsed: int | None = None
    if re.fullmatch(r"-?\d+", value):
        parsed = int(value)
    else:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            parsed = int(moment.timestamp() * 1000)
    if parsed is None or not _MIN_MS <= parsed <= _MAX_MS:
        raise bad_param(
            name, value, "give milliseconds since the epoch or an ISO 8601 time such as 2026-11-24T12:00:00Z."
        )
    return parsed


def granularity(query: Mapping[str, str]) -> str | None:
    """What a poll continues with: 'raw' or the granularity of the chart's buckets; None on a first load."""
    value = query.get("granularity")
    if value is None:
        return None
    if value != "raw" and value not in BUCKET_SIZES:
        raise bad_param("granularity", value, f"use raw or one of the chart's bucket sizes: {', '.join(BUCKET_SIZES)}.")
    return value


def poll_s(query: Mapping[str, str]) -> int:
    value = query.get("poll", "5")
    if not re.fullmatch(r"[0-9]+", value) or not 1 <= int(value) <= 600:
        raise bad_param("poll", value, "give whole seconds from 1 to 600.")
    return int(value)
