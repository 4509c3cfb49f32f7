"""The sync engine: catalog, history weeks and realtime passes over a source and a target CogniteClient.

This is the one entry point the Dagster layer and the CLI call. It holds no state between calls: whatever
must survive (the offset in use, synced-through marks) is in the target (sync/state.py), so a lost Dagster
instance loses nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import ViewId

from oid_sync_dagster.config import SyncConfig
from oid_sync_dagster.sync import state as sync_state
from oid_sync_dagster.sync.catalog import CatalogSync, list_source_series, read_target_nodes, upsert_target_nodes
from oid_sync_dagster.sync.copy import (
    CopySettings,
    CopyTask,
    Progress,
    copy_windows,
    describe_error,
    is_fatal,
    is_refusal,
)
from oid_sync_dagster.sync.edge import published_edge, published_part
from oid_sync_dagster.sync.inserts import Inserter
from oid_sync_dagster.sync.model import CDF_ERRORS, CatalogSeries, SeriesState, SyncResult
from oid_sync_dagster.sync.purge import PurgeResult, purge
from oid_sync_dagster.sync.reads import SourceReader
from oid_sync_dagster.sync.report import report_run
from oid_sync_dagster.sync.verify import MEASURE, Measure, WindowVerification, future_points, verify_window
from oid_sync_dagster.sync.windows import (
    Window,
    clip_to_now,
    realtime_source_window,
    shift,
    source_window_for_week,
    target_week_window,
    week_start,
)

# The `logging.log_level` of the config sets this logger's level; Dagster captures it (dagster.yaml: python_logs).
log = logging.getLogger("oid_sync")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class EngineSettings:
    offset_ms: int
    instance_space: str
    view: ViewId
    catch_up_limit_ms: int
    edge_ceiling_ago_ms: int | None = None  # the legacy sync_all_end
    create_nodes: bool = True
    copy: CopySettings = field(default_factory=CopySettings)
    extraction_pipeline: str | None = None
    create_extraction_pipeline: bool = False
    extraction_pipeline_data_set_id: int | None = None
    # Which source series: exactly these external ids, else the prefix (within the data set, if one is given).
    external_id_prefix: str = "pi:"
    external_ids: tuple[str, ...] | None = None
    data_set_external_id: str | None = None

    @classmethod
    def from_config(cls, config: SyncConfig) -> EngineSettings:
        sync = config.sync_configuration
        return cls(
            offset_ms=config.time_offset.offset_ms,
            instance_space=sync.instance_space,
            view=ViewId(sync.timeseries_view_space, sync.timeseries_view_external_id, sync.timeseries_view_version),
            catch_up_limit_ms=sync.realtime_catch_up_limit,
            edge_ceiling_ago_ms=sync.sync_all_end,
            create_nodes=sync.create_target_nodes,
            extraction_pipeline=sync.extraction_pipeline_external_id,
            create_extraction_pipeline=sync.create_extraction_pipeline,
            extraction_pipeline_data_set_id=sync.extraction_pipeline_data_set_id,
            external_id_prefix=sync.external_id_prefix,
            external_ids=tuple(sync.external_ids) if sync.external_ids is not None else None,
            data_set_external_id=sync.data_set_external_id,
            copy=CopySettings(
                insert_encoding=sync.insert_encoding,
                points_per_insert=sync.points_per_insert,
                series_per_read=sync.series_per_read,
                writers=sync.max_workers,
            ),
        )


ProgressCallback = Callable[[Progress], None]


def _logged(result: SyncResult) -> SyncResult:
    log.info("%s sync: %s", result.kind, result.summary_line())
    for name, errors in sorted(result.failed.items()):
        for error in errors:
            log.warning("%s", error if error.startswith(name) else f"{name}: {error}")
    return result


class SyncEngine:
    def __init__(
        self,
        source: CogniteClient,
        target: CogniteClient,
        settings: EngineSettings,
        *,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.source, self.target, self.settings, self._clock = source, target, settings, clock
        self._inserter: Inserter | None = None
        self._reader: SourceReader | None = None
        self._inserter_lock = threading.Lock()

    @classmethod
    def from_config(
        cls,
        source: CogniteClient,
        target: CogniteClient,
        config: SyncConfig,
        *,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> SyncEngine:
        return cls(source, target, EngineSettings.from_config(config), clock=clock)

    @property
    def inserter(self) -> Inserter:
        """The target's datapoint inserter (one HTTP client, and one fallback to JSON, for the engine's life)."""
        with self._inserter_lock:
            if self._inserter is None:
                self._inserter = Inserter(self.target, self.settings.copy.insert_encoding)
            return self._inserter

    @property
    def reader(self) -> SourceReader:
        """The source's datapoint reader (one HTTP client for the engine's life)."""
        with self._inserter_lock:
            if self._reader is None:
                self._reader = SourceReader(self.source)
            return self._reader

    def close(self) -> None:
        with self._inserter_lock:
            for part in (self._inserter, self._reader):
                if part is not None:
                    part.close()
            self._inserter, self._reader = None, None

    def now(self) -> int:
        """The engine's clock in ms: one frozen value per sync keeps rule 2 exact."""
        return self._clock()

    # ---------- catalog ----------

    def list_catalog(self, external_id_prefix: str | None = None) -> list[CatalogSeries]:
        """The selected source series (settings' selection); a prefix given here selects by it alone."""
        if external_id_prefix is not None:
            return list_source_series(self.source, external_id_prefix)
        return list_source_series(
            self.source,
            self.settings.external_id_prefix,
            external_ids=self.settings.external_ids,
            data_set_external_id=self.settings.data_set_external_id,
        )

    def sync_catalog(self, series: Sequence[CatalogSeries]) -> CatalogSync:
        """Upsert the target nodes and make sure the state schema exists."""
        outcome = upsert_target_nodes(
            self.target,
            series,
            instance_space=self.settings.instance_space,
            view=self.settings.view,
            create=self.settings.create_nodes,
        )
        sync_state.ensure_state_schema(self.target, self.settings.instance_space)
        return outcome

    def source_edge(self, series: Sequence[CatalogSeries], now: int) -> int | None:
        return published_edge(
            self.source, [s.external_id for s in series], now, ceiling_ago_ms=self.settings.edge_ceiling_ago_ms
        )

    # ---------- syncs ----------

    def sync_weeks(
        self,
        series: Sequence[CatalogSeries],
        weeks: Sequence[int],
        *,
        now: int | None = None,
        source_edge: int | Measure | None = MEASURE,
        on_progress: ProgressCallback | None = None,
    ) -> SyncResult:
        """Copy whole target weeks (newest first), cut at now and at the source's edge; idempotent (rule 5).

        Whether a week is final is the caller's question (windows.week_is_final with result.source_edge):
        the engine copies what is due and published, and says how much. A caller that syncs week by week
        passes the edge it measured once (with the same `now`), so it is not measured again per week.
        """
        now = self._clock() if now is None else now
        result = SyncResult(kind="weeks", now=now, offset_ms=self.settings.offset_ms)
        result.source_edge = self.source_edge(series, now) if source_edge is MEASURE else source_edge
        writable = self._prepare(series, result)
        tasks = []
        for week in sorted(set(weeks), reverse=True):
            window = self._due_source_window(target_week_window(week), now, result.source_edge)
            if window is not None:
                tasks.extend(CopyTask(s, window) for s in writable)
        copy_windows(
            self.reader,
            self.inserter,
            tasks,
            offset_ms=self.settings.offset_ms,
            instance_space=self.settings.instance_space,
            now=now,
            result=result,
            settings=self.settings.copy,
            on_progress=on_progress,
        )
        return _logged(result.finish())

    def sync_realtime(
        self, series: Sequence[CatalogSeries], *, now: int | None = None, on_progress: ProgressCallback | None = None
    ) -> SyncResult:
        """Rule 4: each series from its synced-through mark to the source edge, shifted and capped at now."""
        now = self._clock() if now is None else now
        offset = self.settings.offset_ms
        result = SyncResult(kind="realtime", now=now, offset_ms=offset)
        result.source_edge = self.source_edge(series, now)
        states = {s.external_id: s for s in self._read_states(series, result)}
        writable = self._prepare(series, result, states)
        # The open target week is covered by no sealed week, so realtime may always reach back to its start.
        open_week_source_start = source_window_for_week(week_start(now), offset).start
        tasks = []
        for item in writable:
            window = realtime_source_window(
                states[item.external_id].synced_through,
                result.source_edge,
                now,
                offset,
                self.settings.catch_up_limit_ms,
                reach_back_to=open_week_source_start,
            )
            if window is not None:
                tasks.append(CopyTask(item, window))
        copy_windows(
            self.reader,
            self.inserter,
            tasks,
            offset_ms=offset,
            instance_space=self.settings.instance_space,
            now=now,
            result=result,
            settings=self.settings.copy,
            on_progress=on_progress,
        )
        # Advance the mark only for series whose every insert succeeded: a failed one is re-read next run.
        advanced = [
            SeriesState(task.series.external_id, offset, task.source_window.end)
            for task in tasks
            if result.for_series(task.series.external_id).ok
        ]
        self._write_states(advanced, result)
        return _logged(result.finish())

    # ---------- reporting and verifying ----------

    def report(self, result: SyncResult) -> bool:
        """Record the sync as an extraction-pipeline run when one is configured; False when none is.

        Raises report.RunReportError when the report fails; the sync result itself is untouched by that.
        """
        if self.settings.extraction_pipeline is None:
            return False
        report_run(
            self.target,
            self.settings.extraction_pipeline,
            result,
            create_if_missing=self.settings.create_extraction_pipeline,
            data_set_id=self.settings.extraction_pipeline_data_set_id,
        )
        return True

    def verify_week(
        self, series: Sequence[CatalogSeries], week: int, *, now: int | None = None, source_edge: int | None = None
    ) -> WindowVerification:
        """Exact source and target counts for one target week, per series (the completeness check)."""
        now = self._clock() if now is None else now
        edge = self.source_edge(series, now) if source_edge is None else source_edge
        return verify_window(
            self.source,
            self.target,
            series,
            target_week_window(week),
            self.settings.offset_ms,
            self.settings.instance_space,
            now,
            source_edge=edge,
        )

    def future_points(self, series: Sequence[CatalogSeries], *, now: int | None = None) -> dict[str, int]:
        """Target points after now, per series (rule 2's check); series without any are left out."""
        now = self._clock() if now is None else now
        counts = future_points(self.target, series, self.settings.instance_space, now)
        return {name: count for name, count in counts.items() if count}

    def purge(self, series: Sequence[CatalogSeries], weeks: Sequence[int] | None) -> PurgeResult:
        """Delete synced data and state for the weeks (None: all) of the series; see sync/purge.py."""
        space, offset = self.settings.instance_space, self.settings.offset_ms
        return purge(self.target, series, instance_space=space, weeks=weeks, offset_ms=offset, now=self.now())

    # ---------- internals ----------

    def _due_source_window(self, target_window: Window, now: int, edge: int | None) -> Window | None:
        """The source window of a target window, cut at now (rule 2) and at the published edge."""
        due = clip_to_now(target_window, now)
        if due is None:
            return None
        return published_part(shift(due, -self.settings.offset_ms), edge)

    def _missing_node_hint(self) -> str:
        """What to do about a missing node; names a missing instance space, which misses every node at once."""
        space = self.settings.instance_space
        try:
            space_exists = self.target.data_modeling.spaces.retrieve(space) is not None
        except CDF_ERRORS as error:
            if is_fatal(error):
                raise
            space_exists = True  # unknown: give the general advice
        fix = "sync the catalog" if self.settings.create_nodes else "create_target_nodes is false: create it yourself"
        return fix if space_exists else f"the instance space {space!r} does not exist; {fix}"

    def _read_states(self, series: Sequence[CatalogSeries], result: SyncResult) -> list[SeriesState]:
        try:
            found = sync_state.read_states(self.target, self.settings.instance_space, [s.external_id for s in series])
        except CDF_ERRORS as error:
            if is_fatal(error):
                raise  # one clear error, not one per series (and no token request per later call)
            for item in series:
                message = f"{item.external_id}: reading its sync state failed: {describe_error(error)}"
                result.fail(item.external_id, message, permanent=is_refusal(error))
            return [SeriesState(s.external_id) for s in series]
        return list(found.values())

    def _write_states(self, states: list[SeriesState], result: SyncResult) -> None:
        if not states:
            return
        try:
            sync_state.write_states(self.target, self.settings.instance_space, states)
        except CDF_ERRORS as error:
            if is_fatal(error):
                raise
            # The data is written; without its mark the next run re-copies it, which is idempotent.
            for item in states:
                message = f"{item.external_id}: writing its sync state failed: {describe_error(error)}"
                result.fail(item.external_id, message, permanent=is_refusal(error))

    def _prepare(
        self,
        series: Sequence[CatalogSeries],
        result: SyncResult,
        states: dict[str, SeriesState] | None = None,
    ) -> list[CatalogSeries]:
        """The series that may be written: node present with the right type, offset unchanged (rules 5, 7).

        Adopts nodes without state (made by the predecessor or by a user) by recording the offset before the
        first write, so a later offset change is always detected.
        """
        for item in series:
            result.for_series(item.external_id)  # every series gets a row, also the ones that fail here
        if states is None:
            states = {s.external_id: s for s in self._read_states(series, result)}
        try:
            nodes = read_target_nodes(
                self.target,
                [s.external_id for s in series],
                instance_space=self.settings.instance_space,
                view=self.settings.view,
            )
        except CDF_ERRORS as error:
            if is_fatal(error):
                raise
            for item in series:
                message = f"{item.external_id}: reading its target node failed: {describe_error(error)}"
                result.fail(item.external_id, message, permanent=is_refusal(error))  # e.g. the view does not exist
            return []
        space = self.settings.instance_space
        hint = self._missing_node_hint() if any(s.external_id not in nodes for s in series) else ""
        writable, adopt = [], []
        for item in series:
            name = item.external_id
            if not result.for_series(name).ok:
                continue
            node = nodes.get(name)
            if node is None:
                result.fail(
                    name, f"{name}: no CogniteTimeSeries node {space}/{name} in the target ({hint})", permanent=True
                )
                continue
            if node.type is not None and node.type != item.type:
                result.fail(
                    name,
                    f"{name}: the target node is a {node.type} time series but the source series is {item.type}; "
                    "skipped",
                    permanent=True,
                )
                continue
            state = states.get(name, SeriesState(name))
            if problem := sync_state.offset_conflict(state, self.settings.offset_ms):
                result.fail(name, problem, permanent=True)
                continue
            if state.offset_ms is None:
                adopt.append(SeriesState(name, self.settings.offset_ms, state.synced_through))
            writable.append(item)
        self._write_states(adopt, result)
        return [item for item in writable if result.for_series(item.external_id).ok]
