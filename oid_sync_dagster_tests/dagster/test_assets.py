"""The code location on a real Dagster instance against the in-process local CDF: weeks, ranges, subsets,
realtime, isolation, checks. Every count is compared with the target itself."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeId

from oid_sync_dagster.config import load_config
from oid_sync_dagster.integration.assets import CATALOG_KEY, REALTIME_KEY
from oid_sync_dagster.integration.build import build_definitions
from oid_sync_dagster.integration.catalog_state import CatalogState
from oid_sync_dagster.integration.partitions import key_of, week_of
from oid_sync_dagster.integration.resources import OidSyncResource
from oid_sync_dagster.integration.translator import OidSyncTranslator
from oid_sync_dagster.local_cdf.server import serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.sync import state as sync_state
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.windows import DAY_MS, MINUTE_MS, WEEK_MS, Window, history_weeks, week_start
from oid_sync_dagster_tests.dagster.conftest import TARGET, materialize
from oid_sync_dagster_tests.sync.conftest import read_points

SPACE = "oid_sync"
OFFSET = WEEK_MS + 10 * MINUTE_MS
TRANSLATOR = OidSyncTranslator()


def key(series: CatalogSeries) -> dg.AssetKey:
    return TRANSLATOR.get_asset_key(series)


def count(target: CogniteClient, series: CatalogSeries, window: Window) -> int:
    return len(read_points(target, NodeId(SPACE, series.external_id), window))


@pytest.fixture
def with_catalog(
    defs: dg.Definitions, instance: dg.DagsterInstance, resource: OidSyncResource, small_catalog: list[CatalogSeries]
) -> None:
    result = materialize(defs, instance, resource, [CATALOG_KEY])
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["types_match"].passed
    # The location loaded a subset of the source: the drift check says so, and how to pick the rest up.
    drift = checks["source_not_drifted"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    assert drift.metadata["added"].value == 363 - len(small_catalog) and drift.metadata["removed"].value == 0
    assert "reload the code location" in (drift.description or "")


def last_week(now_ms: int) -> int:
    return history_weeks(now_ms, 1)[0]


def materialized(result: dg.ExecuteInProcessResult) -> dict[tuple[dg.AssetKey, str], int]:
    return {
        (e.asset_key, e.partition): e.materialization.metadata["oid_sync/points_written"].value  # type: ignore[misc]
        for e in result.get_asset_materialization_events()
    }


def evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[dg.AssetKey, str | None], bool]:
    return {(e.asset_key, e.partition): e.passed for e in result.get_asset_check_evaluations()}


@pytest.mark.clock  # weeks from the wall clock: also run under faketime at four instants (Makefile)
def test_location_shape(
    defs: dg.Definitions, small_catalog: list[CatalogSeries], state: CatalogState, now_ms: int
) -> None:
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    series_keys = {key(s) for s in small_catalog}
    assert series_keys <= set(graph.get_all_asset_keys())
    assert {TRANSLATOR.get_group_name(s) for s in small_catalog} == {
        "pressure",
        "temperature",
        "flow",
        "level",
        "machine",
        "other",
    }
    partitions = graph.get(key(small_catalog[0])).partitions_def
    assert isinstance(partitions, dg.WeeklyPartitionsDefinition)
    keys = partitions.get_partition_keys(current_time=datetime.fromtimestamp(now_ms / 1000, tz=UTC))
    assert len(keys) == 12 and all(week_start(week_of(k)) == week_of(k) for k in keys)  # Mondays, 12 closed weeks
    assert keys[-1] == key_of(last_week(now_ms))
    checks = {ck.name for ck in graph.asset_check_keys if ck.asset_key in series_keys}
    assert checks == {"complete"}
    assert {s.name for s in repo.sensor_defs} == {"oid_realtime_sensor", "oid_history_sensor"}


def test_history_steps_fork_from_a_preloaded_server_and_the_launchpad_keeps_the_rest(defs: dg.Definitions) -> None:
    history = defs.resolve_job_def("oid_history")
    forkserver = {"forkserver": {"preload_modules": ["dagster", "oid_sync_dagster.integration.component"]}}
    assert dg.validate_run_config(history, {})["execution"]["multiprocess"]["start_method"] == forkserver
    chosen = dg.validate_run_config(history, {"execution": {"config": {"max_concurrent": 1}}})["execution"]
    assert chosen["multiprocess"]["max_concurrent"] == 1 and chosen["multiprocess"]["start_method"] == forkserver
    spawn = {"execution": {"config": {"start_method": {"spawn": {}}}}}
    assert dg.validate_run_config(history, spawn)["execution"]["multiprocess"]["start_method"] == {"spawn": {}}
    # The preloaded modules import: a typo here would fail every history step at its first fork.
    for module in forkserver["forkserver"]["preload_modules"]:
        importlib.import_module(module)


def test_translator_subclass_changes_keys_and_groups(
    state: CatalogState, resource: OidSyncResource, small_catalog: list[CatalogSeries]
) -> None:
    class Flat(OidSyncTranslator):
        def get_group_name(self, series: CatalogSeries) -> str:
            return "all_series"

    defs = build_definitions(state, config=load_config(""), resource=resource, translator=Flat(key_prefix=("mine",)))
    graph = defs.get_repository_def().asset_graph
    expected = dg.AssetKey(["mine", "all_series", small_catalog[0].external_id.replace(":", "_")])
    assert graph.get(expected).group_name == "all_series"


@pytest.mark.usefixtures("with_catalog")
@pytest.mark.clock  # weeks from the wall clock: also run under faketime at four instants (Makefile)
def test_one_week_of_one_group(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resource: OidSyncResource,
    small_catalog: list[CatalogSeries],
    target: CogniteClient,
    now_ms: int,
) -> None:
    week = last_week(now_ms)
    pressure = [s for s in small_catalog if TRANSLATOR.get_group_name(s) == "pressure"]
    result = materialize(defs, instance, resource, dg.AssetSelection.groups("pressure"), partition_key=key_of(week))
    assert result.success
    window = Window(week, week + WEEK_MS)
    assert materialized(result) == {(key(s), key_of(week)): count(target, s, window) for s in pressure}
    assert all(points > 0 for points in materialized(result).values())
    assert evaluations(result) == {(key(s), key_of(week)): True for s in pressure}
    assert {key(s) for s in pressure} == {
        k for k in map(key, small_catalog) if key_of(week) in instance.get_materialized_partitions(k)
    }


@pytest.mark.usefixtures("with_catalog")
def test_a_range_of_weeks_is_one_run_with_per_week_records(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resource: OidSyncResource,
    small_catalog: list[CatalogSeries],
    target: CogniteClient,
    now_ms: int,
) -> None:
    newest, older = history_weeks(now_ms, 2)
    strings = [s for s in small_catalog if s.is_string]
    selection = [key(s) for s in strings]
    result = materialize(
        defs,
        instance,
        resource,
        selection,
        tags={
            "dagster/asset_partition_range_start": key_of(older),
            "dagster/asset_partition_range_end": key_of(newest),
        },
    )
    assert result.success
    expected = {(key(s), key_of(w)): count(target, s, Window(w, w + WEEK_MS)) for s in strings for w in (older, newest)}
    assert materialized(result) == expected and all(expected.values())
    assert evaluations(result) == {k: True for k in expected}
    # Each week's check names the materialization it checked (else the UI counts the check's partitions as Missing).
    stored = {
        (r.asset_key, r.partition_key): r.storage_id
        for r in instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    }
    targets = {
        (e.asset_key, e.partition): e.target_materialization_data.storage_id
        for e in result.get_asset_check_evaluations()
        if e.target_materialization_data is not None
    }
    assert targets == stored and set(stored) == set(expected)


@pytest.mark.usefixtures("with_catalog")
def test_a_bad_series_fails_alone(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resource: OidSyncResource,
    small_catalog: list[CatalogSeries],
    target: CogniteClient,
    now_ms: int,
) -> None:
    # A string series whose target node a user recreated as numeric elsewhere: simulate by writing a conflicting
    # node into a second instance space is not possible here, so delete the node instead: it is "missing".
    victim = next(s for s in small_catalog if TRANSLATOR.get_group_name(s) == "flow")
    target.data_modeling.instances.delete(NodeId(SPACE, victim.external_id))
    week = last_week(now_ms)
    result = materialize(defs, instance, resource, dg.AssetSelection.groups("flow"), partition_key=key_of(week))
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert victim.external_id in str(failure.step_failure_data.error)
    others = [s for s in small_catalog if TRANSLATOR.get_group_name(s) == "flow" and s is not victim]
    assert set(materialized(result)) == {(key(s), key_of(week)) for s in others}
    assert evaluations(result)[(key(victim), key_of(week))] is False


@pytest.mark.usefixtures("with_catalog")
def test_the_check_fails_when_target_data_is_removed(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resource: OidSyncResource,
    small_catalog: list[CatalogSeries],
    target: CogniteClient,
    now_ms: int,
) -> None:
    week = last_week(now_ms)
    series = next(s for s in small_catalog if TRANSLATOR.get_group_name(s) == "level")
    assert materialize(defs, instance, resource, [key(series)], partition_key=key_of(week)).success
    target.time_series.data.delete_range(
        start=week, end=week + WEEK_MS // 2, instance_id=NodeId(SPACE, series.external_id)
    )
    check = dg.AssetCheckKey(key(series), "complete")
    # A check-only run of one week (what "Execute check" on a partition does): the partition travels as a tag.
    result = materialize(
        defs, instance, resource, dg.AssetSelection.checks(check), tags={"dagster/partition": key_of(week)}
    )
    assert evaluations(result) == {(key(series), key_of(week)): False}
    evaluation = result.get_asset_check_evaluations()[0]
    remaining = count(target, series, Window(week, week + WEEK_MS))
    assert evaluation.metadata["oid_sync/target_points"].value == remaining
    assert (
        evaluation.metadata["oid_sync/missing_points"].value
        == evaluation.metadata["oid_sync/source_points"].value - remaining
        > 0
    )
    assert materialized(result) == {}  # a check-only run writes nothing


@pytest.mark.clock  # weeks from the wall clock: also run under faketime at four instants (Makefile)
def test_a_week_not_yet_published_is_not_materialized(
    state: CatalogState, instance: dg.DagsterInstance, small_catalog: list[CatalogSeries], tmp_path: Path, now_ms: int
) -> None:
    # An offset (1 day) shorter than the source's lag (9 days here): last week's source window [W - 1d, W + 6d) is
    # published up to now - 9d < W + 6d on every day of the week after W, and for a day into the next one, so the
    # answer cannot change while this test runs, whatever the weekday (with OID's 7-day lag it would on Sunday).
    lagging = LocalCDFSettings(data_dir=tmp_path / "lagging-cdf", source_lag_ms=9 * DAY_MS)
    config_file = tmp_path / "oid_sync.yaml"
    config_file.write_text("time_offset:\n  offset_weeks: 0\n  offset_minutes: 1440\n")
    week = last_week(now_ms)
    with serve_in_thread(lagging) as cdf:
        resource = OidSyncResource(
            config_path=str(config_file), local_cdf_url=cdf.base_url, local_target_project=TARGET
        )
        defs = build_definitions(state, config=load_config(config_file), resource=resource, clock=lambda: now_ms)
        result = materialize(defs, instance, resource, [key(small_catalog[0])], partition_key=key_of(week))
    assert not result.success and materialized(result) == {}
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.user_failure_data
    assert failure is not None and failure.description is not None
    assert failure.description.startswith("not final yet (the source has published up to ")
    assert failure.description.endswith(f"whole window): {key_of(week)}; these are synced by a later run")


def test_realtime_twice_and_after_downtime(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resource: OidSyncResource,
    small_catalog: list[CatalogSeries],
    source: CogniteClient,
    target: CogniteClient,
) -> None:
    first = materialize(defs, instance, resource, [CATALOG_KEY, REALTIME_KEY])
    assert first.success
    meta = {e.asset_key: e.materialization.metadata for e in first.get_asset_materialization_events()}[REALTIME_KEY]
    assert meta["oid_sync/failed_series"].value == 0 and meta["oid_sync/series"].value == len(small_catalog)
    assert {e.check_name: e.passed for e in first.get_asset_check_evaluations() if e.asset_key == REALTIME_KEY} == {
        "fresh": True,
        "no_future_points": True,
    }
    marks = sync_state.read_states(target, SPACE, [s.external_id for s in small_catalog])
    # Downtime: rewind every mark by six hours, as if the last runs never happened, and drop their points.
    rewound = []
    for s in small_catalog:
        mark = marks[s.external_id].synced_through
        assert mark is not None
        start = mark - 6 * 60 * MINUTE_MS
        target.time_series.data.delete_range(
            start=start + OFFSET, end=mark + OFFSET, instance_id=NodeId(SPACE, s.external_id)
        )
        rewound.append(sync_state.SeriesState(s.external_id, OFFSET, start))
    sync_state.write_states(target, SPACE, rewound)
    second = materialize(defs, instance, resource, [REALTIME_KEY])
    assert second.success
    new_marks = sync_state.read_states(target, SPACE, [s.external_id for s in small_catalog])
    for s in small_catalog:
        end = new_marks[s.external_id].synced_through
        assert end is not None
        expected = read_points(source, s.external_id, Window(week_start(end + OFFSET) - OFFSET, end))
        actual = read_points(target, NodeId(SPACE, s.external_id), Window(week_start(end + OFFSET), end + OFFSET))
        assert list(actual.timestamps) == [int(t) + OFFSET for t in expected.timestamps]  # no gap


@pytest.mark.clock  # weeks from the wall clock: also run under faketime at four instants (Makefile)
def test_realtime_twice_writes_only_new_points(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resource: OidSyncResource,
    small_catalog: list[CatalogSeries],
    target: CogniteClient,
) -> None:
    names = [s.external_id for s in small_catalog]

    def realtime_points(result: dg.ExecuteInProcessResult) -> int:
        event = next(e for e in result.get_asset_materialization_events() if e.asset_key == REALTIME_KEY)
        return int(event.materialization.metadata["oid_sync/points_written"].value)  # type: ignore[arg-type]

    first = materialize(defs, instance, resource, [CATALOG_KEY, REALTIME_KEY])
    marks = sync_state.read_states(target, SPACE, names)
    second = materialize(defs, instance, resource, [REALTIME_KEY])
    later = sync_state.read_states(target, SPACE, names)
    assert first.success and second.success
    new = 0
    for s in small_catalog:
        before, after = marks[s.external_id].synced_through, later[s.external_id].synced_through
        assert before is not None and after is not None and after >= before
        if after > before:
            new += count(target, s, Window(before + OFFSET, after + OFFSET))
    assert realtime_points(second) == new
    # The target held no points before the first pass, so the two passes wrote every point it holds now (on a
    # Monday the first pass reaches back into last week: count from the epoch, not from this week's start).
    total = sum(count(target, s, Window(0, later[s.external_id].synced_through + OFFSET)) for s in small_catalog)
    assert realtime_points(first) + realtime_points(second) == total
