"""The engine against the local CDF over HTTP with the real SDK: exact copies, the time rules, isolation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeId, SpaceApply
from cognite.client.data_classes.data_modeling.cdm.v1 import CogniteTimeSeriesApply

from oid_sync_dagster.config import load_config
from oid_sync_dagster.local_cdf.faults import Fault
from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.sync import state as sync_state
from oid_sync_dagster.sync.catalog import read_target_nodes
from oid_sync_dagster.sync.engine import SyncEngine
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.windows import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    WEEK_MS,
    Window,
    history_weeks,
    shift,
    source_window_for_week,
    target_week_window,
    week_is_final,
    week_start,
)
from oid_sync_dagster_tests.conftest import SHARED_CATALOG, make_client
from oid_sync_dagster_tests.sync.conftest import Clock, assert_same_points, engine_for, read_points

SPACE = "oid_sync"
OFFSET = WEEK_MS + 10 * MINUTE_MS


def node(series: CatalogSeries) -> NodeId:
    return NodeId(SPACE, series.external_id)


def target_count(target: CogniteClient, series: CatalogSeries, window: Window) -> int:
    return len(read_points(target, node(series), window))


def assert_exact_copy(
    source: CogniteClient, target: CogniteClient, series: CatalogSeries, target_window: Window, offset: int = OFFSET
) -> int:
    """The target holds exactly the source's points shifted by the offset (rule 1); returns how many."""
    expected = read_points(source, series.external_id, shift(target_window, -offset))
    expected.timestamps = expected.timestamps + offset
    actual = read_points(target, node(series), target_window)
    assert_same_points(actual, expected)
    return len(actual)


@pytest.fixture
def synced_catalog(engine: SyncEngine, subset: list[CatalogSeries]) -> list[CatalogSeries]:
    outcome = engine.sync_catalog(subset)
    assert sorted(outcome.created) == sorted(s.external_id for s in subset)
    return subset


# ---------- weeks ----------


def test_week_is_an_exact_shifted_copy_with_status_codes_and_strings(
    engine: SyncEngine,
    synced_catalog: list[CatalogSeries],
    source_client: CogniteClient,
    target_client: CogniteClient,
    clock: Clock,
) -> None:
    # Bad and Uncertain points come in bursts, a few a year per series: take the newest week with some.
    week = next(
        w
        for w in history_weeks(clock.ms(), 26)
        if any(
            np.count_nonzero(read_points(source_client, s.external_id, shift(target_week_window(w), -OFFSET)).status)
            for s in synced_catalog
        )
    )
    result = engine.sync_weeks(synced_catalog, [week])
    assert result.failed == {}
    total_bad = 0
    for series in synced_catalog:
        count = assert_exact_copy(source_client, target_client, series, target_week_window(week))
        assert count > 0
        assert result.series[series.external_id].points_written == count  # honest counts (rule 6)
        assert dict(result.series[series.external_id].points_by_week) == {week: count}
        total_bad += int(np.count_nonzero(read_points(target_client, node(series), target_week_window(week)).status))
    assert result.points_written == result.points_read
    strings = [s for s in synced_catalog if s.is_string]
    assert strings and all(result.series[s.external_id].points_written > 0 for s in strings)
    assert total_bad > 0  # the week's non-Good points came across


def test_syncing_a_week_twice_changes_nothing(
    engine: SyncEngine, synced_catalog: list[CatalogSeries], target_client: CogniteClient, clock: Clock
) -> None:
    week = history_weeks(clock.ms(), 1)[0]
    first = engine.sync_weeks(synced_catalog, [week])
    before = {s.external_id: read_points(target_client, node(s), target_week_window(week)) for s in synced_catalog}
    second = engine.sync_weeks(synced_catalog, [week])
    assert second.failed == {} and second.points_written == first.points_written
    for series in synced_catalog:
        assert_same_points(
            read_points(target_client, node(series), target_week_window(week)), before[series.external_id]
        )


def test_twelve_weeks_means_twelve_whole_weeks(
    engine: SyncEngine,
    synced_catalog: list[CatalogSeries],
    source_client: CogniteClient,
    target_client: CogniteClient,
    clock: Clock,
) -> None:
    # Predecessor defect: about 11, not 12, weeks of history.
    analog = synced_catalog[:1]
    weeks = history_weeks(clock.ms(), 12)
    result = engine.sync_weeks(analog, weeks)
    by_week = result.series[analog[0].external_id].points_by_week
    assert sorted(by_week) == sorted(weeks) and len(by_week) == 12
    span = Window(weeks[-1], weeks[0] + WEEK_MS)
    assert assert_exact_copy(source_client, target_client, analog[0], span) == result.points_written


def test_open_week_is_cut_at_now(
    engine: SyncEngine, synced_catalog: list[CatalogSeries], target_client: CogniteClient, clock: Clock
) -> None:
    # Predecessor defect: target data ran up to 10 minutes into the future. Rule 2: nothing past now.
    open_week = week_start(clock.ms())
    result = engine.sync_weeks(synced_catalog, [open_week])
    assert result.failed == {} and result.points_written > 0
    for series in synced_catalog:
        latest = target_client.time_series.data.retrieve_latest(instance_id=node(series), before=clock.ms() + WEEK_MS)
        assert latest is not None and latest.timestamp is not None
        assert int(latest.timestamp.timestamp() * 1000) <= clock.ms()
        # And everything due was written: the last source point at or before now - offset arrived.
        src_latest = engine.source.time_series.data.retrieve_latest(
            external_id=series.external_id, before=clock.ms() - OFFSET + 1
        )
        assert int(latest.timestamp.timestamp() * 1000) == int(src_latest.timestamp.timestamp() * 1000) + OFFSET


def test_offset_that_is_not_whole_minutes_is_exact(
    source_client: CogniteClient, target_client: CogniteClient, clock: Clock, subset: list[CatalogSeries]
) -> None:
    # Timestamps travel as integers: an offset of 3d 7h 13m 7ms lands every point 7 ms off the minute grid.
    offset = 3 * DAY_MS + 7 * HOUR_MS + 13 * MINUTE_MS + 7
    engine = engine_for(source_client, target_client, clock, offset_ms=offset)
    engine.sync_catalog(subset[:2])
    week = history_weeks(clock.ms(), 1)[0]
    result = engine.sync_weeks(subset[:2], [week])
    assert result.failed == {}
    for series in subset[:2]:
        assert assert_exact_copy(source_client, target_client, series, target_week_window(week), offset) > 0


def test_sync_all_end_caps_the_source_edge(
    source_client: CogniteClient, target_client: CogniteClient, clock: Clock, subset: list[CatalogSeries]
) -> None:
    # Predecessor defect: the configured end was ignored. Here it caps the edge at now - sync_all_end.
    config = load_config("sync_configuration:\n  sync_all_end: 9d-ago\n")
    engine = engine_for(source_client, target_client, clock, config)
    engine.sync_catalog(subset[:1])
    result = engine.sync_weeks(subset[:1], [week_start(clock.ms()) - WEEK_MS])
    assert result.source_edge == clock.ms() - 9 * DAY_MS
    latest = target_client.time_series.data.retrieve_latest(instance_id=node(subset[0]), before=clock.ms())
    assert int(latest.timestamp.timestamp() * 1000) <= clock.ms() - 9 * DAY_MS + OFFSET


def test_week_not_yet_published_writes_only_the_published_part(
    source_client: CogniteClient, target_client: CogniteClient, clock: Clock, subset: list[CatalogSeries]
) -> None:
    # With an offset shorter than the source's lag (about 168 h), last week's source window is partly unpublished.
    engine = engine_for(source_client, target_client, clock, offset_ms=2 * DAY_MS)
    engine.sync_catalog(subset[:1])
    week = week_start(clock.ms()) - WEEK_MS
    result = engine.sync_weeks(subset[:1], [week])
    edge = result.source_edge
    assert edge is not None and edge < source_window_for_week(week, 2 * DAY_MS).end - 1
    published = Window(target_week_window(week).start, edge + 2 * DAY_MS + 1)
    written = result.series[subset[0].external_id].points_written
    assert written == target_count(target_client, subset[0], target_week_window(week)) > 0
    assert written == assert_exact_copy(source_client, target_client, subset[0], published, 2 * DAY_MS)


# ---------- isolation ----------


def test_missing_and_type_mismatched_nodes_fail_alone(
    engine: SyncEngine, subset: list[CatalogSeries], target_client: CogniteClient, clock: Clock
) -> None:
    # Predecessor defects: one missing node failed the insert for all series; strings went into numeric targets.
    string_series = next(s for s in subset if s.is_string)
    missing_series = next(s for s in subset if not s.is_string)
    target_client.data_modeling.spaces.apply(SpaceApply(SPACE))
    target_client.data_modeling.instances.apply(
        CogniteTimeSeriesApply(
            SPACE, string_series.external_id, time_series_type="numeric", is_step=False, name="made by a user"
        )
    )
    outcome = engine.sync_catalog([s for s in subset if s is not missing_series])
    assert list(outcome.conflicts) == [string_series.external_id]
    assert "numeric time series but the source series is string" in outcome.conflicts[string_series.external_id]
    week = history_weeks(clock.ms(), 1)[0]
    result = engine.sync_weeks(subset, [week])
    assert sorted(result.failed) == sorted([string_series.external_id, missing_series.external_id])
    assert "no CogniteTimeSeries node oid_sync/" in result.failed[missing_series.external_id][0]
    assert "is a numeric time series but the source series is string" in result.failed[string_series.external_id][0]
    assert target_count(target_client, string_series, target_week_window(week)) == 0
    for series in subset:
        if series not in (string_series, missing_series):
            assert (
                result.series[series.external_id].points_written
                == target_count(target_client, series, target_week_window(week))
                > 0
            )


def test_a_failed_insert_is_not_counted_and_others_complete(
    source_client: CogniteClient,
    target_client: CogniteClient,
    clock: Clock,
    subset: list[CatalogSeries],
    cdf: RunningLocalCDF,
) -> None:
    # Predecessor defects: counts were points read; a series was marked done when its batches failed.
    engine = engine_for(source_client, target_client, clock)
    engine.sync_catalog(subset)
    one_writer = engine_for(
        source_client, target_client, clock, copy=type(engine.settings.copy)(points_per_insert=1_000, writers=1)
    )
    cdf.faults.script(r"/timeseries/data$", [Fault(status=500, message="disk full")], method="POST")
    result = one_writer.sync_realtime(subset)
    assert len(result.failed) == 1
    ((failed_name, errors),) = result.failed.items()
    assert "500 disk full" in errors[0]
    failed = next(s for s in subset if s.external_id == failed_name)
    window = shift(result.series[failed_name].source_window, OFFSET)
    landed = target_count(target_client, failed, window)
    assert result.series[failed_name].points_written == landed < result.series[failed_name].points_read
    assert result.points_written == sum(target_count(target_client, s, window) for s in subset)
    marks = sync_state.read_states(target_client, SPACE, [s.external_id for s in subset])
    assert marks[failed_name].synced_through is None  # not advanced: the next run re-reads it
    assert all(marks[s.external_id].synced_through == window.end - OFFSET for s in subset if s is not failed)
    healed = one_writer.sync_realtime(subset)
    assert healed.failed == {}
    assert [name for name, r in healed.series.items() if r.points_written] == [failed_name]
    assert_exact_copy(source_client, target_client, failed, window)


# ---------- realtime ----------


def test_realtime_fills_the_open_week_then_only_new_points(
    engine: SyncEngine,
    synced_catalog: list[CatalogSeries],
    source_client: CogniteClient,
    target_client: CogniteClient,
    clock: Clock,
) -> None:
    first = engine.sync_realtime(synced_catalog)
    assert first.failed == {}
    open_week = Window(week_start(clock.ms()), clock.ms() + 1)
    for series in synced_catalog:
        assert first.series[series.external_id].points_written == assert_exact_copy(
            source_client, target_client, series, open_week
        )
    clock.now_ms += 10 * MINUTE_MS
    second = engine.sync_realtime(synced_catalog)
    assert second.failed == {}
    later = Window(open_week.start, clock.ms() + 1)
    for series in synced_catalog:
        total = assert_exact_copy(source_client, target_client, series, later)
        assert (
            first.series[series.external_id].points_written + second.series[series.external_id].points_written == total
        )
    assert 0 < second.points_written < first.points_written
    # Sparse series are not re-read: the mark is the window's end, not the latest point.
    marks = sync_state.read_states(target_client, SPACE, [s.external_id for s in synced_catalog])
    assert {m.synced_through for m in marks.values()} == {clock.ms() - OFFSET + 1}
    assert engine.sync_realtime(synced_catalog).points_written == 0


def test_realtime_after_an_outage_and_week_sealing_leaves_no_gap(
    engine: SyncEngine,
    synced_catalog: list[CatalogSeries],
    source_client: CogniteClient,
    target_client: CogniteClient,
    clock: Clock,
) -> None:
    start = clock.ms()
    assert engine.sync_realtime(synced_catalog).failed == {}
    clock.now_ms += 9 * DAY_MS  # an outage longer than the 1-day catch-up limit, across a week boundary
    resumed = engine.sync_realtime(synced_catalog)
    assert resumed.failed == {}
    window = resumed.series[synced_catalog[0].external_id].source_window
    assert window is not None and window.start == source_window_for_week(week_start(clock.ms()), OFFSET).start
    # The closed weeks in between are sealed as weeks; afterwards the whole span is an exact copy.
    closed = [w for w in history_weeks(clock.ms(), 3) if w + WEEK_MS > week_start(start)]
    assert engine.sync_weeks(synced_catalog, closed).failed == {}
    span = Window(week_start(start), clock.ms() + 1)
    for series in synced_catalog:
        assert assert_exact_copy(source_client, target_client, series, span) > 0


def test_realtime_and_sealing_across_monday_midnight_leave_an_exact_copy(
    engine: SyncEngine,
    synced_catalog: list[CatalogSeries],
    source_client: CogniteClient,
    target_client: CogniteClient,
    clock: Clock,
) -> None:
    # Sunday 23:55 UTC, then Monday 00:05 (the week changes between two runs), then Monday 03:00: realtime's mark
    # carries across the boundary, the week that just closed is final at once (offset 1w10m >= the 7-day lag) and
    # its sealing rewrites what realtime wrote; nothing is ever after now.
    monday = week_start(clock.ms()) + WEEK_MS
    passes = []
    for now in (monday - 5 * MINUTE_MS, monday + 5 * MINUTE_MS, monday + 3 * HOUR_MS):
        clock.now_ms = now
        passes.append(engine.sync_realtime(synced_catalog))
        assert passes[-1].failed == {} and engine.future_points(synced_catalog) == {}
        if now > monday:
            sealed = engine.sync_weeks(synced_catalog, history_weeks(now, 1))
            assert sealed.failed == {} and history_weeks(now, 1) == [monday - WEEK_MS]
            assert week_is_final(monday - WEEK_MS, now, sealed.source_edge, OFFSET)
    marks = sync_state.read_states(target_client, SPACE, [s.external_id for s in synced_catalog])
    for series in synced_catalog:
        mark = marks[series.external_id].synced_through
        assert mark == clock.ms() - OFFSET + 1  # each pass ends at now (shifted), the edge being a week older
        copied = assert_exact_copy(source_client, target_client, series, Window(monday - WEEK_MS, mark + OFFSET))
        assert copied > 0
    # Each pass wrote only what the one before had not: the realtime counts add up to the open weeks' points.
    later = [p.series[s.external_id].points_written for p in passes[1:] for s in synced_catalog]
    assert sum(later) == sum(
        target_count(target_client, s, Window(passes[0].now + 1, clock.ms() + 1)) for s in synced_catalog
    )


# ---------- state ----------


def test_a_changed_offset_is_refused_until_purged(
    engine: SyncEngine,
    synced_catalog: list[CatalogSeries],
    source_client: CogniteClient,
    target_client: CogniteClient,
    clock: Clock,
) -> None:
    week = history_weeks(clock.ms(), 1)[0]
    assert engine.sync_weeks(synced_catalog[:2], [week]).failed == {}
    before = target_count(target_client, synced_catalog[0], Window(week - WEEK_MS, week + 2 * WEEK_MS))
    changed = engine_for(source_client, target_client, clock, offset_ms=OFFSET + MINUTE_MS)
    result = changed.sync_weeks(synced_catalog[:2], [week])
    assert sorted(result.failed) == sorted(s.external_id for s in synced_catalog[:2])
    message = result.failed[synced_catalog[0].external_id][0]
    assert "written with offset 1w10m, but the configured offset is 1w11m" in message and "oid-sync purge" in message
    assert result.points_written == 0
    assert target_count(target_client, synced_catalog[0], Window(week - WEEK_MS, week + 2 * WEEK_MS)) == before
    # A series never synced before adopts the new offset.
    assert changed.sync_weeks(synced_catalog[2:3], [week]).failed == {}


def test_existing_nodes_without_state_are_adopted(
    engine: SyncEngine, subset: list[CatalogSeries], target_client: CogniteClient, clock: Clock
) -> None:
    # A node the predecessor made: CogniteTimeSeries only, no state of ours.
    target_client.data_modeling.spaces.apply(SpaceApply(SPACE))
    series = subset[0]
    target_client.data_modeling.instances.apply(
        CogniteTimeSeriesApply(SPACE, series.external_id, time_series_type="numeric", is_step=False, name="old")
    )
    outcome = engine.sync_catalog([series])
    assert outcome.updated == [series.external_id]
    assert sync_state.read_states(target_client, SPACE, [series.external_id])[series.external_id].offset_ms is None
    assert engine.sync_weeks([series], history_weeks(clock.ms(), 1)).failed == {}
    state = sync_state.read_states(target_client, SPACE, [series.external_id])[series.external_id]
    assert state.offset_ms == OFFSET and state.synced_through is None


# ---------- the real catalog ----------


@pytest.mark.skipif(not SHARED_CATALOG.is_file(), reason=f"real OID catalog not present at {SHARED_CATALOG}")
def test_the_real_catalog_syncs_without_an_error(tmp_path: Path, clock: Clock) -> None:
    settings = LocalCDFSettings(data_dir=tmp_path / "real", clock=clock.seconds, catalog_csv=SHARED_CATALOG)
    with serve_in_thread(settings) as cdf:
        engine = engine_for(make_client(cdf, "publicdata"), make_client(cdf, "target"), clock)
        catalog = engine.list_catalog()
        assert len(catalog) == 363 and sum(s.is_string for s in catalog) == 6
        outcome = engine.sync_catalog(catalog)
        assert len(outcome.created) == 363 and outcome.problems == {}
        result = engine.sync_realtime(catalog)
        assert result.failed == {} and len(result.series) == 363
        assert result.points_written == result.points_read > 0
        nodes = read_target_nodes(
            engine.target, [s.external_id for s in catalog], instance_space=SPACE, view=engine.settings.view
        )
        assert {xid: n.type for xid, n in nodes.items()} == {s.external_id: s.type for s in catalog}


def test_node_creation_can_be_left_to_the_user(
    source_client: CogniteClient, target_client: CogniteClient, clock: Clock, subset: list[CatalogSeries]
) -> None:
    config = load_config("sync_configuration:\n  create_target_nodes: false\n")
    engine = engine_for(source_client, target_client, clock, config)
    target_client.data_modeling.spaces.apply(SpaceApply(SPACE))
    users = subset[0]
    target_client.data_modeling.instances.apply(
        CogniteTimeSeriesApply(SPACE, users.external_id, time_series_type="numeric", is_step=False, name="mine")
    )
    outcome = engine.sync_catalog(subset)
    assert outcome.ready == [users.external_id]  # checked, not rewritten: the user's name stays
    assert sorted(outcome.missing) == sorted(s.external_id for s in subset[1:])
    assert "node creation is off" in outcome.problems[subset[1].external_id]
    nodes = read_target_nodes(target_client, [users.external_id], instance_space=SPACE, view=engine.settings.view)
    assert nodes[users.external_id].name == "mine"


def test_a_synced_week_verifies_complete_and_is_reported(
    source_client: CogniteClient, target_client: CogniteClient, clock: Clock, subset: list[CatalogSeries]
) -> None:
    from cognite.client.data_classes import DataSetWrite

    data_set = target_client.data_sets.create(DataSetWrite(external_id="ds_oid_sync", name="OID sync"))
    config = load_config(
        "sync_configuration:\n  extraction_pipeline_external_id: ep_oid_sync\n  create_extraction_pipeline: true\n"
        f"  extraction_pipeline_data_set_id: {data_set.id}\n"
    )
    engine = engine_for(source_client, target_client, clock, config)
    engine.sync_catalog(subset)
    week = history_weeks(clock.ms(), 1)[0]
    result = engine.sync_weeks(subset, [week])
    verification = engine.verify_week(subset, week)
    assert verification.complete
    assert {v.external_id: v.target_count for v in verification.series.values()} == {
        name: r.points_written for name, r in result.series.items()
    }
    assert engine.future_points(subset) == {}
    assert engine.report(result) is True
    runs = target_client.extraction_pipelines.runs.list(external_id="ep_oid_sync", limit=None)
    assert [(r.status, r.message) for r in runs] == [("success", result.summary_line())]
    # Remove one point from one series: that series, and only it, is incomplete by exactly one.
    victim = subset[0]
    first = read_points(target_client, node(victim), target_week_window(week)).timestamps[0]
    target_client.time_series.data.delete_range(start=int(first), end=int(first) + 1, instance_id=node(victim))
    again = engine.verify_week(subset, week)
    assert not again.complete
    assert {v.external_id for v in again.series.values() if v.status != "complete"} == {victim.external_id}
    assert again.series[victim.external_id].missing_points == 1
