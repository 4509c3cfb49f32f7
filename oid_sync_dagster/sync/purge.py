"""Purge: delete the target's synced datapoints and sync state for chosen weeks and series, so a changed offset
or a reset starts clean (DESIGN.md rule 5). Nodes stay: they are the catalog's, not the sync's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeId
from cognite.client.exceptions import CogniteNotFoundError

from oid_sync_dagster.sync import state as sync_state
from oid_sync_dagster.sync.model import CatalogSeries, SeriesState
from oid_sync_dagster.sync.retry import on_transport_errors
from oid_sync_dagster.sync.windows import WEEK_MS, Window, source_window_for_week, week_start

# CDF accepts timestamps from 1900-01-01; purging "all" deletes from there to the far future.
_EARLIEST_MS = -2_208_988_800_000
_LATEST_MS = 4_102_444_800_000  # 2100-01-01
_DELETES_PER_REQUEST = 1000  # the SDK sends delete_ranges as one request; keep each well under CDF's limits


@dataclass
class PurgeResult:
    series: list[str] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)  # target-time ranges deleted per series
    states_reset: int = 0
    absent: list[str] = field(default_factory=list)  # no time series in the target: nothing to delete


def purge(
    target: CogniteClient,
    series: Sequence[CatalogSeries],
    *,
    instance_space: str,
    weeks: Sequence[int] | None,
    offset_ms: int,
    now: int,
) -> PurgeResult:
    """Delete target points of `weeks` (None: all time) for the series, and fix their state to match.

    All weeks: the state is cleared (offset and mark), so the next sync may use any offset. Some weeks: the
    offset stays (other data still carries it). Closed weeks are refilled as partitions; the open week only by
    realtime, so if it is purged the synced-through mark moves back to its source start.
    """
    windows = [Window(_EARLIEST_MS, _LATEST_MS)] if weeks is None else [Window(w, w + WEEK_MS) for w in sorted(weeks)]
    ranges = [
        {"instance_id": NodeId(instance_space, s.external_id), "start": w.start, "end": w.end}
        for s in series
        for w in windows
    ]
    absent: set[str] = set()
    for start in range(0, len(ranges), _DELETES_PER_REQUEST):
        absent |= _delete(target, ranges[start : start + _DELETES_PER_REQUEST])
    states = sync_state.read_states(target, instance_space, [s.external_id for s in series])
    if weeks is None:
        changed = [SeriesState(name) for name, st in states.items() if st.offset_ms is not None or st.synced_through]
    elif open_weeks := [w for w in weeks if w >= week_start(now)]:
        rewind_to = source_window_for_week(min(open_weeks), offset_ms).start
        changed = [
            SeriesState(name, st.offset_ms, rewind_to)
            for name, st in states.items()
            if st.synced_through is not None and st.synced_through > rewind_to
        ]
    else:
        changed = []
    if changed:  # only series that had state, i.e. whose node exists
        sync_state.write_states(target, instance_space, changed)
    purged = [s.external_id for s in series if s.external_id not in absent]
    return PurgeResult(series=purged, windows=windows, states_reset=len(changed), absent=sorted(absent))


@on_transport_errors
def _delete(target: CogniteClient, ranges: list[dict[str, object]]) -> set[str]:
    """Delete the ranges; a series without a target time series is skipped (returned), not fatal."""
    try:
        target.time_series.data.delete_ranges(ranges)
    except CogniteNotFoundError as error:
        missing = {
            str(item["instanceId"]["externalId"])
            for item in error.missing or []
            if isinstance(item, dict) and isinstance(item.get("instanceId"), dict)
        }
        rest = [r for r in ranges if r["instance_id"].external_id not in missing]  # type: ignore[union-attr]
        if not missing or len(rest) == len(ranges):
            raise
        return missing | (_delete(target, rest) if rest else set())
    return set()
