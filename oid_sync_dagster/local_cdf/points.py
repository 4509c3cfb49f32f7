"""Columnar datapoints: the one shape every layer of the local CDF passes around (never a Python object per point)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Points:
    timestamps: np.ndarray  # int64 ms, strictly ascending
    values: np.ndarray  # float64, or object (str) for string series
    status: np.ndarray  # uint32 codes, 0 = Good
    nulls: np.ndarray | None = None  # bool: the point has no value (allowed for Bad points)

    def __len__(self) -> int:
        return len(self.timestamps)

    @staticmethod
    def empty(is_string: bool) -> Points:
        return Points(np.empty(0, np.int64), np.empty(0, object if is_string else np.float64), np.empty(0, np.uint32))

    def take(self, selector: np.ndarray | slice) -> Points:
        return Points(
            self.timestamps[selector],
            self.values[selector],
            self.status[selector],
            None if self.nulls is None else self.nulls[selector],
        )

    @staticmethod
    def concat(parts: list[Points], is_string: bool) -> Points:
        if not parts:
            return Points.empty(is_string)
        if len(parts) == 1:
            return parts[0]
        nulls = None
        if any(p.nulls is not None for p in parts):
            nulls = np.concatenate([p.nulls if p.nulls is not None else np.zeros(len(p), bool) for p in parts])
        return Points(
            np.concatenate([p.timestamps for p in parts]),
            np.concatenate([p.values for p in parts]),
            np.concatenate([p.status for p in parts]),
            nulls,
        )
