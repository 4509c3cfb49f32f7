"""Aggregates over columnar points: bucket starts aligned as CDF aligns them, reduced with numpy."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from oid_sync_dagster.local_cdf.errors import bad_request

_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
_UNIT_ALIASES = {"second": "s", "minute": "m", "hour": "h", "day": "d", "week": "w", "month": "mo",
                 "quarter": "q", "year": "y"}  # fmt: skip
_CALENDAR_MONTHS = {"mo": 1, "q": 3, "y": 12}
_GRANULARITY = re.compile(r"^(\d*)([a-z]+?)s?$")
# 1970-01-05 was the first Monday after the epoch: CDF's week buckets start on Mondays.
_MONDAY_MS = 4 * 86_400_000
SUPPORTED = ("average", "max", "min", "count", "sum", "countGood", "countUncertain", "countBad")


@dataclass(frozen=True, slots=True)
class Granularity:
    multiple: int
    unit: str  # s, m, h, d, w, mo, q, y

    @staticmethod
    def parse(text: str) -> Granularity:
        match = _GRANULARITY.match(text.strip().lower())
        unit = match and _UNIT_ALIASES.get(match.group(2), match.group(2))
        if not match or (unit not in _UNIT_MS and unit not in _CALENDAR_MONTHS):
            raise bad_request(f"Invalid granularity {text!r}; use e.g. 1s, 10m, 1h, 1d, 1w, 1mo, 1q, 1y.")
        multiple = int(match.group(1) or 1)
        if multiple < 1:
            raise bad_request(f"Invalid granularity {text!r}: the multiple must be at least 1.")
        return Granularity(multiple, unit)

    def align_start(self, start: int) -> int:
        """CDF rounds the start down to a whole granularity unit (an hour for '3h'), not to the multiple."""
        if self.unit in _CALENDAR_MONTHS:
            month = np.datetime64(start, "ms").astype("datetime64[M]")
            if self.unit != "mo":
                month_index = month.astype(np.int64)
                month = np.datetime64(month_index - month_index % _CALENDAR_MONTHS[self.unit], "M")
            return int(month.astype("datetime64[ms]").astype(np.int64))
        unit_ms = _UNIT_MS[self.unit]
        offset = _MONDAY_MS if self.unit == "w" else 0
        return (start - offset) // unit_ms * unit_ms + offset

    def bucket_index(self, aligned_start: int, timestamps: np.ndarray) -> np.ndarray:
        if self.unit in _CALENDAR_MONTHS:
            months = timestamps.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
            first = np.datetime64(aligned_start, "ms").astype("datetime64[M]").astype(np.int64)
            return (months - first) // (_CALENDAR_MONTHS[self.unit] * self.multiple)
        return (timestamps - aligned_start) // (_UNIT_MS[self.unit] * self.multiple)

    def bucket_start(self, aligned_start: int, index: np.ndarray) -> np.ndarray:
        if self.unit in _CALENDAR_MONTHS:
            first = np.datetime64(aligned_start, "ms").astype("datetime64[M]").astype(np.int64)
            months = first + index * _CALENDAR_MONTHS[self.unit] * self.multiple
            return months.astype("datetime64[M]").astype("datetime64[ms]").astype(np.int64)
        return aligned_start + index * _UNIT_MS[self.unit] * self.multiple


def compute(
    granularity: Granularity,
    aligned_start: int,
    timestamps: np.ndarray,
    values: np.ndarray,
    value_mask: np.ndarray,
    categories: dict[str, np.ndarray],
    names: list[str],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Bucket starts of the non-empty buckets and each requested aggregate per bucket.

    `value_mask` selects the points that value aggregates (count, average, ...) are over: Good ones, plus
    Uncertain ones when they are not treated as bad. `categories` holds the countGood/countUncertain/countBad
    masks over all points. Aggregates a bucket has no points for come back NaN, meaning absent.
    """
    index = granularity.bucket_index(aligned_start, timestamps)
    buckets = np.unique(index)
    pos = np.searchsorted(buckets, index[value_mask])
    selected = values[value_mask].astype(np.float64)
    n = np.bincount(pos, minlength=len(buckets)).astype(np.float64)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name in names:
            if name == "count":
                out[name] = n
            elif name == "sum":
                out[name] = np.where(n > 0, np.bincount(pos, selected, len(buckets)), np.nan)
            elif name == "average":
                out[name] = np.bincount(pos, selected, len(buckets)) / n
            elif name in ("min", "max"):
                result = np.full(len(buckets), np.inf if name == "min" else -np.inf)
                (np.minimum if name == "min" else np.maximum).at(result, pos, selected)
                out[name] = np.where(n > 0, result, np.nan)
            else:
                in_bucket = np.searchsorted(buckets, index[categories[name]])
                out[name] = np.bincount(in_bucket, minlength=len(buckets)).astype(np.float64)
    return granularity.bucket_start(aligned_start, buckets), out
