"""The typed records the Dagster layer writes as metadata and the terminal reads back: one contract, engine -> UI ->
terminal. Keys are namespaced (`oid_sync/points_written`) so they never collide with a user's or Dagster's own;
numbers stay numbers (the asset's Plots tab draws them), times are timestamps, lists are JSON.

    metadata = WeekRecord(points_written=..., ...).to_metadata()     # what the asset yields
    record = WeekRecord.from_metadata(materialization.metadata)      # what `oid-sync status` reads
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

import dagster as dg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

NAMESPACE = "oid_sync/"


def metadata_key(field: str) -> str:
    return NAMESPACE + field


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    _timestamps: ClassVar[frozenset[str]] = frozenset()  # fields in epoch seconds, shown as dates

    def to_metadata(self) -> dict[str, dg.MetadataValue]:
        metadata: dict[str, dg.MetadataValue] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue  # absent, not a sentinel: a reader gets None back
            key = metadata_key(name)
            if name in self._timestamps:
                metadata[key] = dg.MetadataValue.timestamp(float(value))
            elif isinstance(value, bool):
                metadata[key] = dg.MetadataValue.bool(value)
            elif isinstance(value, int):
                metadata[key] = dg.MetadataValue.int(value)
            elif isinstance(value, float):
                metadata[key] = dg.MetadataValue.float(value)
            elif isinstance(value, str):
                metadata[key] = dg.MetadataValue.text(value)
            else:  # lists of records
                metadata[key] = dg.MetadataValue.json(self.model_dump(mode="json")[name])
        return metadata

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Self:
        """The record from stored metadata (MetadataValues or plain values); missing optional fields are None."""
        raw: dict[str, Any] = {}
        for name in cls.model_fields:
            value = metadata.get(metadata_key(name))
            if value is not None:
                raw[name] = value.value if isinstance(value, dg.MetadataValue) else value
        return cls.model_validate(raw)

    @classmethod
    def read(cls, metadata: Mapping[str, Any]) -> Self | None:
        """The record, or None when the metadata holds none (written before records, or by someone else)."""
        try:
            return cls.from_metadata(metadata)
        except ValidationError:
            return None


class WeekRecord(Record):
    """A (series, week) materialized: what the sync wrote, and what the target holds after it."""

    _timestamps: ClassVar[frozenset[str]] = frozenset({"window_start", "window_end"})
    points_written: int = Field(description="Points in inserts that succeeded, for this series and week.")
    target_points: int | None = Field(None, description="Points the target holds in the week, counted after.")
    window_start: float = Field(description="The target week's start (epoch seconds).")
    window_end: float = Field(description="The target week's end, exclusive (epoch seconds).")
    duration_s: float = Field(description="Wall time of the week's sync, per series.")


class CompletenessRecord(Record):
    """A (series, week) checked: source and target counts, and why the week is or is not complete."""

    _timestamps: ClassVar[frozenset[str]] = frozenset({"source_edge"})
    status: str
    source_points: int | None = None
    target_points: int | None = None
    missing_points: int = 0
    source_edge: float | None = Field(None, description="The source's published edge when checked (epoch s).")


class SeriesFailure(BaseModel):
    """One series that failed, as a value: the terminal and sensors read these, never a joined string."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    series: str
    error: str
    retryable: bool = False
    week: str | None = None

    def line(self) -> str:
        where = f"{self.series} {self.week}" if self.week else self.series
        return self.error if self.error.startswith(self.series) else f"{where}: {self.error}"


class RealtimeRecord(Record):
    """One realtime pass over the catalog."""

    points_written: int
    points_read: int
    series: int
    failed_series: int
    duration_s: float
    points_per_s: int
    summary: str
    lag_s: float | None = Field(None, description="now minus the oldest synced-through target time.")
    source_edge_age_s: float | None = Field(None, description="now minus the source's published edge.")
    failures: list[SeriesFailure] = Field(default_factory=list)


class CatalogRecord(Record):
    """The target catalog synced: nodes created, updated, unchanged, and those we may not write into."""

    series: int
    created: int
    updated: int
    unchanged: int
    conflicts: int
    missing: int
    mode: str


class FailureRecord(Record):
    """What a failed step says in its dg.Failure metadata: every failed series and week, structured."""

    failed_series: int = 0
    failed_checks: int = 0
    failures: list[SeriesFailure] = Field(default_factory=list)
