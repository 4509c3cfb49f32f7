"""Engine results and verifications as Dagster events: materializations and check evaluations with numbers
Dagster plots (points, counts, seconds), one per (series, week)."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

# Not exported by `dagster`, but the only way to say which materialization a check evaluated: without it the UI
# counts a partitioned check as never run (Checks > Partitions shows every week Missing).
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from oid_sync_dagster.integration.partitions import key_of
from oid_sync_dagster.integration.records import CompletenessRecord, RealtimeRecord, SeriesFailure, WeekRecord
from oid_sync_dagster.sync.model import SeriesResult, SyncResult
from oid_sync_dagster.sync.verify import (
    COMPLETE,
    EMPTY_SOURCE,
    MISSING_TARGET,
    SOURCE_UNPUBLISHED,
    SeriesVerification,
    WindowVerification,
)
from oid_sync_dagster.sync.windows import WEEK_MS

COMPLETE_CHECK = "complete"


def week_materialization(
    key: dg.AssetKey, week: int, series: SeriesResult, verification: SeriesVerification | None, seconds: float
) -> dg.AssetMaterialization:
    record = WeekRecord(
        points_written=series.points_by_week.get(week, 0),
        target_points=verification.target_count if verification is not None else None,
        window_start=week / 1000,
        window_end=(week + WEEK_MS) / 1000,
        duration_s=round(seconds, 3),
    )
    return dg.AssetMaterialization(asset_key=key, partition=key_of(week), metadata=record.to_metadata())


class RunMaterializations:
    """Where this run's (asset, partition) materializations are stored, read incrementally with a cursor, so each
    week's check evaluations can name the materialization they checked: one query per week for what this run
    materialized, plus one per (series, week) it could not (for the materialization of an earlier run)."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str) -> None:
        self._instance, self._run_id = instance, run_id
        self._cursor: str | None = None
        self._found: dict[tuple[dg.AssetKey, str], AssetCheckEvaluationTargetMaterializationData] = {}

    def refresh(self) -> None:
        page = self._instance.get_records_for_run(
            self._run_id, cursor=self._cursor, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        )
        for record in page.records:
            if record.asset_key is not None and record.partition_key is not None:
                self._found[(record.asset_key, record.partition_key)] = AssetCheckEvaluationTargetMaterializationData(
                    storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
                )
        self._cursor = page.cursor

    def target(self, key: dg.AssetKey, partition: str) -> AssetCheckEvaluationTargetMaterializationData | None:
        """This run's materialization of the partition, else the latest one before it (a week this run could
        not sync is checked against what an earlier run wrote), else None."""
        if found := self._found.get((key, partition)):
            return found
        earlier = self._instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
        ).records
        if not earlier:
            return None
        return AssetCheckEvaluationTargetMaterializationData(
            storage_id=earlier[0].storage_id, run_id=earlier[0].run_id, timestamp=earlier[0].timestamp
        )


def completeness_evaluation(
    key: dg.AssetKey,
    week: int,
    verification: SeriesVerification,
    window: WindowVerification,
    target: AssetCheckEvaluationTargetMaterializationData | None = None,
) -> dg.AssetCheckEvaluation:
    """Complete: the source published the whole window and target count equals source count.

    An empty source window is a WARN, not a pass: nothing to compare means nothing proven.
    """
    status = verification.status
    record = CompletenessRecord(
        status=status,
        source_points=verification.source_count,
        target_points=verification.target_count,
        missing_points=verification.missing_points,
        source_edge=window.source_edge / 1000 if window.source_edge is not None else None,
    )
    return dg.AssetCheckEvaluation(
        asset_key=key,
        check_name=COMPLETE_CHECK,
        passed=status == COMPLETE,
        severity=dg.AssetCheckSeverity.WARN if status == EMPTY_SOURCE else dg.AssetCheckSeverity.ERROR,
        partition=key_of(week),
        metadata=record.to_metadata(),
        description=_describe(status, verification),
        target_materialization_data=target,
    )


def _describe(status: str, v: SeriesVerification) -> str:
    if status == COMPLETE:
        return f"target has all {v.target_count:,} source points"
    if status == EMPTY_SOURCE:
        return "the source has no points in this window: nothing to compare"
    if status == MISSING_TARGET:
        return "the target has no time series for this node"
    if status == SOURCE_UNPUBLISHED:
        return "the source has not published this whole window yet"
    return f"target has {v.target_count:,} of {v.source_count:,} source points"


def realtime_record(result: SyncResult, *, lag_s: float | None = None) -> RealtimeRecord:
    """A realtime pass as its record (its materialization's metadata, and the Plots tab's numbers)."""
    return RealtimeRecord(
        points_written=result.points_written,
        points_read=result.points_read,
        series=len(result.series),
        failed_series=len(result.failed),
        duration_s=round(result.seconds, 3),
        points_per_s=round(result.points_written / result.seconds) if result.seconds else 0,
        summary=result.summary_line(),
        lag_s=None if lag_s is None else round(lag_s, 3),
        source_edge_age_s=None if result.source_edge is None else round((result.now - result.source_edge) / 1000, 3),
        failures=series_failures(result),
    )


def series_failures(result: SyncResult, *, week: str | None = None, limit: int = 100) -> list[SeriesFailure]:
    """The failed series of a result, each with its first error, as values (at most `limit`)."""
    return [
        SeriesFailure(series=name, error=errors[0], retryable=result.series[name].retryable, week=week)
        for name, errors in sorted(result.failed.items())[:limit]
    ]


def failure_lines(result: SyncResult, limit: int = 20) -> Iterator[str]:
    for name, errors in sorted(result.failed.items())[:limit]:
        yield errors[0] if errors[0].startswith(name) else f"{name}: {errors[0]}"
    if len(result.failed) > limit:
        yield f"... and {len(result.failed) - limit} more series"


CHECK_FAILED = "FAILED"  # an AssetCheckExecutionRecordStatus; dagster does not export the enum, its stored name is


def check_statuses(
    instance: dg.DagsterInstance, check_keys: list[dg.AssetCheckKey], partition_keys: list[str] | None = None
) -> dict[tuple[dg.AssetKey, str], str]:
    """The latest execution status of each partitioned check, by (asset, partition): 'SUCCEEDED', 'FAILED', ...
    The one reading of the rule "a week is complete when materialized and its check did not fail", shared by the
    history sensor and `oid-sync status`."""
    infos = instance.event_log_storage.get_asset_check_partition_info(check_keys, partition_keys=partition_keys)
    return {
        (info.check_key.asset_key, info.partition_key): info.latest_execution_status.value
        for info in infos
        if info.partition_key is not None
    }
