"""The projects a local CDF serves: the read-only synthetic source and any number of writable targets."""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from typing import Any

from oid_sync_dagster.local_cdf.errors import bad_request
from oid_sync_dagster.local_cdf.points import Points
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.local_cdf.store import datapoints as dp_store
from oid_sync_dagster.local_cdf.store import timeseries as ts_store
from oid_sync_dagster.local_cdf.store.db import ProjectDatabase
from oid_sync_dagster.local_cdf.store.records import TimeSeriesRecord
from oid_sync_dagster.local_cdf.synthetic import (
    SourceSeries,
    SyntheticSource,
    load_catalog_csv,
    synthetic_catalog,
)

# CDF project url names: lower-case letters, digits and dashes.
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,47}$")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


class Project(ABC):
    name: str

    @abstractmethod
    def list_series(self) -> list[TimeSeriesRecord]: ...

    @abstractmethod
    def lookup(self, identifier: dict[str, Any]) -> TimeSeriesRecord | None: ...

    @abstractmethod
    def read_points(self, series: TimeSeriesRecord, start: int, end: int, limit: int | None) -> Points:
        """Stored points with start <= t < end, ascending, at most `limit`, whatever their status."""

    @abstractmethod
    def read_points_before(self, series: TimeSeriesRecord, before: int, limit: int) -> Points:
        """The last `limit` stored points with t < before, ascending."""


class SourceProject(Project):
    """The synthetic OID: catalog and datapoints computed, never stored, and published up to now - lag."""

    def __init__(self, settings: LocalCDFSettings) -> None:
        self.name = settings.source_project
        self._settings = settings
        catalog = (
            load_catalog_csv(settings.catalog_csv) if settings.catalog_csv else synthetic_catalog(settings.catalog_seed)
        )
        self._catalog = {s.id: s for s in catalog}
        # The history starts at a whole day a fixed span before the server start.
        self._history_start = (settings.now_ms() - settings.history_days * DAY_MS) // DAY_MS * DAY_MS
        self._source = SyntheticSource(catalog, density=settings.density, history_start_ms=self._history_start)
        self._records = {s.id: _record_of(s) for s in catalog}
        self._by_external_id = {s.external_id: s.id for s in catalog}

    def published_edge(self) -> int:
        """The newest timestamp that is published: points with t <= edge exist."""
        return self._settings.now_ms() - self._settings.source_lag_ms

    def list_series(self) -> list[TimeSeriesRecord]:
        return list(self._records.values())

    def lookup(self, identifier: dict[str, Any]) -> TimeSeriesRecord | None:
        if "id" in identifier:
            return self._records.get(identifier["id"])
        if "externalId" in identifier:
            ts_id = self._by_external_id.get(identifier["externalId"])
            return self._records.get(ts_id) if ts_id is not None else None
        return None  # the source has no data-modeling time series

    def read_points(self, series: TimeSeriesRecord, start: int, end: int, limit: int | None) -> Points:
        end = min(end, self.published_edge() + 1)
        if end <= start:
            return Points.empty(series.is_string)
        generated = self._source.points(self._catalog[series.id], start, end, limit)
        return Points(generated.timestamps, generated.values, generated.status)

    def read_points_before(self, series: TimeSeriesRecord, before: int, limit: int) -> Points:
        before = min(before, self.published_edge() + 1)
        span = HOUR_MS
        while True:
            start = max(before - span, self._history_start)
            found = self.read_points(series, start, before, None)
            if len(found) >= limit or start <= self._history_start:
                return found.take(slice(max(0, len(found) - limit), None))
            span *= 4


def _record_of(series: SourceSeries) -> TimeSeriesRecord:
    return TimeSeriesRecord(
        id=series.id,
        external_id=series.external_id,
        name=series.name,
        description=series.description,
        is_string=series.is_string,
        is_step=series.is_step,
        unit=series.unit,
        metadata=dict(series.metadata),
        created_time=series.created_time,
        last_updated_time=series.last_updated_time,
    )


class TargetProject(Project):
    """A writable project persisted in `<data_dir>/projects/<name>.sqlite`."""

    def __init__(self, name: str, settings: LocalCDFSettings) -> None:
        self.name = name
        self.db = ProjectDatabase(settings.data_dir / "projects" / f"{name}.sqlite")

    def list_series(self) -> list[TimeSeriesRecord]:
        return ts_store.all_series(self.db.connection())

    def lookup(self, identifier: dict[str, Any]) -> TimeSeriesRecord | None:
        return ts_store.lookup(self.db.connection(), identifier)

    def read_points(self, series: TimeSeriesRecord, start: int, end: int, limit: int | None) -> Points:
        return dp_store.read_points(self.db.connection(), series.id, series.is_string, start, end, limit)

    def read_points_before(self, series: TimeSeriesRecord, before: int, limit: int) -> Points:
        return dp_store.read_points_reverse(self.db.connection(), series.id, series.is_string, before, limit)


class ProjectRegistry:
    def __init__(self, settings: LocalCDFSettings) -> None:
        self._settings = settings
        # Built once, up front: request threads must all see one source (one history start).
        self.source = SourceProject(settings)
        self._targets: dict[str, TargetProject] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Project:
        if name == self._settings.source_project:
            return self.source
        with self._lock:
            if name not in self._targets:
                if not _PROJECT_NAME.match(name):
                    raise bad_request(f"Invalid project name {name!r}.")
                self._targets[name] = TargetProject(name, self._settings)
            return self._targets[name]

    def known_projects(self) -> list[str]:
        on_disk = sorted(p.stem for p in (self._settings.data_dir / "projects").glob("*.sqlite"))
        return [self._settings.source_project, *on_disk]
