"""The realtime sensor, the 10-minute schedule and the history sensor, evaluated on a real instance; the runs
they depend on are real runs against the in-process local CDF, launched the way the sensor daemon would."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import dagster as dg
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeId

# private, for types and fixtures only: what a sensor tick returns, and run records in a given status with a remote
# origin (as the daemon's runs have) have no public constructors.
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.test_utils import create_run_for_test

from oid_sync_dagster.config import SyncConfig, load_config
from oid_sync_dagster.integration.assets import CATALOG_KEY, REALTIME_KEY
from oid_sync_dagster.integration.build import build_definitions
from oid_sync_dagster.integration.catalog_state import CatalogState
from oid_sync_dagster.integration.partitions import key_of
from oid_sync_dagster.integration.resources import OidSyncResource
from oid_sync_dagster.integration.sensors import KIND_TAG
from oid_sync_dagster.integration.translator import OidSyncTranslator
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.windows import WEEK_MS, history_weeks, week_start
from oid_sync_dagster_tests.dagster.conftest import materialize

REALTIME_SENSOR = "oid_realtime_sensor"
HISTORY_SENSOR = "oid_history_sensor"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
SCHEDULE = "oid_realtime_every_10_minutes"
ATTEMPT_TAG = "oid_sync/attempt"
SPACE = "oid_sync"
TRANSLATOR = OidSyncTranslator()
Status = dg.DagsterRunStatus


def evaluate(
    defs: dg.Definitions, name: str, instance: dg.DagsterInstance, cursor: str | None = None
) -> SensorExecutionData:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return defs.resolve_sensor_def(name).evaluate_tick(context)


def only_request(data: SensorExecutionData) -> dg.RunRequest:
    assert data.skip_message is None
    assert len(data.run_requests or []) == 1
    return data.run_requests[0]  # type: ignore[index]


def launch(
    defs: dg.Definitions, instance: dg.DagsterInstance, job_name: str, request: dg.RunRequest
) -> dg.ExecuteInProcessResult:
    """What the daemon does with a request: the sensor's job subset to the requested assets (their checks come
    along), with the request's partition and tags."""
    job = defs.resolve_job_def(job_name).get_subset(asset_selection=set(request.asset_selection or []))
    return job.execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags, raise_on_error=False
    )


def in_flight(instance: dg.DagsterInstance, kind: str, status: dg.DagsterRunStatus) -> None:
    """A run of the kind's job in the given status, as the daemon's run storage would hold it (a queued run
    needs the origin the queue coordinator launches it from)."""
    job = f"oid_{kind}"
    origin = RemoteJobOrigin(
        RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("oid_sync_dagster"), "__repository__"), job
    )
    create_run_for_test(instance, job_name=job, tags={KIND_TAG: kind}, status=status, remote_job_origin=origin)


def series_keys(catalog: list[CatalogSeries]) -> list[dg.AssetKey]:
    return [TRANSLATOR.get_asset_key(s) for s in catalog]


def same_keys(selection: object, expected: list[dg.AssetKey]) -> bool:
    assert isinstance(selection, list) and len(set(selection)) == len(selection)
    return set(selection) == set(expected)


def weeks_at(now_ms: int, n: int = 12) -> list[str]:
    return [key_of(w) for w in history_weeks(now_ms, n)]


@pytest.fixture
def defs(state: CatalogState, resource: OidSyncResource, now_ms: int) -> dg.Definitions:
    """One week per history run (automation.history_weeks_per_run: 1): the per-week rules (order, attempts, giving
    up, re-syncs) one request at a time. The default, every missing week in one range run, has tests of its own."""
    return build_definitions(
        state, config=SyncConfig(), resource=resource, clock=lambda: now_ms, history_weeks_per_run=1
    )


@pytest.fixture
def range_defs(state: CatalogState, resource: OidSyncResource, now_ms: int) -> dg.Definitions:
    return build_definitions(state, config=SyncConfig(), resource=resource, clock=lambda: now_ms)


def range_of(request: dg.RunRequest) -> tuple[str, str] | None:
    tags = request.tags
    if RANGE_START not in tags:
        return None
    return tags[RANGE_START], tags[RANGE_END]


@pytest.fixture
def catalog_done(defs: dg.Definitions, instance: dg.DagsterInstance, resource: OidSyncResource) -> None:
    assert materialize(defs, instance, resource, [CATALOG_KEY]).success


# ---------- realtime sensor ----------


def test_realtime_sensor_requests_the_catalog_until_it_is_materialized(
    defs: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    sensor = defs.resolve_sensor_def(REALTIME_SENSOR)
    assert sensor.minimum_interval_seconds == 60
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.job_name == "oid_realtime"

    first = only_request(evaluate(defs, REALTIME_SENSOR, instance))
    assert first.asset_selection == [CATALOG_KEY, REALTIME_KEY]
    assert first.tags[KIND_TAG] == "realtime" and first.partition_key is None
    assert instance.get_latest_materialization_event(CATALOG_KEY) is None

    # Run that request for real: it syncs the catalog and the live edge into the local CDF.
    result = launch(defs, instance, "oid_realtime", first)
    assert result.success
    assert {e.asset_key for e in result.get_asset_materialization_events()} == {CATALOG_KEY, REALTIME_KEY}
    assert instance.get_run_by_id(result.run_id).tags[KIND_TAG] == "realtime"  # type: ignore[union-attr]

    second = only_request(evaluate(defs, REALTIME_SENSOR, instance))
    assert second.asset_selection == [REALTIME_KEY]
    assert second.tags[KIND_TAG] == "realtime"


@pytest.mark.parametrize("status", [Status.QUEUED, Status.NOT_STARTED, Status.STARTING, Status.STARTED])
def test_realtime_sensor_skips_while_a_realtime_run_is_in_flight(
    defs: dg.Definitions, instance: dg.DagsterInstance, status: dg.DagsterRunStatus
) -> None:
    # Finished realtime runs and an in-flight history run do not hold the live edge back.
    for done in (Status.SUCCESS, Status.FAILURE, Status.CANCELED):
        in_flight(instance, "realtime", done)
    in_flight(instance, "history", Status.STARTED)
    assert only_request(evaluate(defs, REALTIME_SENSOR, instance)).asset_selection == [CATALOG_KEY, REALTIME_KEY]

    in_flight(instance, "realtime", status)
    data = evaluate(defs, REALTIME_SENSOR, instance)
    assert data.run_requests == []
    assert data.skip_message == "a realtime run is still queued or running"


# ---------- schedule ----------


def test_realtime_schedule_every_10_minutes_utc_stopped_by_default(
    defs: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    schedule = defs.resolve_schedule_def(SCHEDULE)
    assert schedule.cron_schedule == "*/10 * * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule.job_name == "oid_realtime"

    tick = datetime(2026, 11, 24, 12, 10, tzinfo=UTC)
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
    data = schedule.evaluate_tick(context)
    assert data.skip_message is None and len(data.run_requests or []) == 1
    request = data.run_requests[0]  # type: ignore[index]
    assert request.tags[KIND_TAG] == "realtime" and request.asset_selection is None  # the whole job
    job = defs.resolve_job_def("oid_realtime")
    validated = dg.validate_run_config(job, request.run_config)
    assert validated["resources"]["oid_sync"]["config"]["local_target_project"] == "target"
    assert set(job.asset_layer.selected_asset_keys) == {CATALOG_KEY, REALTIME_KEY}


# ---------- history sensor ----------


def test_history_sensor_brings_the_target_catalog_along_to_a_target_never_synced(
    defs: dg.Definitions,
    range_defs: dg.Definitions,
    instance: dg.DagsterInstance,
    small_catalog: list[CatalogSeries],
    now_ms: int,
) -> None:
    sensor = defs.resolve_sensor_def(HISTORY_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.job_name == "oid_history"
    keys, newest = series_keys(small_catalog), weeks_at(now_ms)[0]
    first = evaluate(defs, HISTORY_SENSOR, instance)
    request = only_request(first)
    selection = list(request.asset_selection or [])
    assert request.partition_key == newest and selection[0] == CATALOG_KEY and same_keys(selection[1:], keys)
    # Once only: had that run not made the catalog (the target down, say), the sensor waits for it as before
    # instead of submitting the history again every tick.
    waiting = evaluate(defs, HISTORY_SENSOR, instance, first.cursor)
    assert waiting.run_requests == [] and waiting.cursor == first.cursor  # nothing counted
    assert waiting.skip_message == "waiting for the target catalog (the realtime sensor materializes it first)"
    # The shipped first run is a range of every missing week: the catalog comes along all the same.
    ranged = only_request(evaluate(range_defs, HISTORY_SENSOR, instance))
    assert range_of(ranged) == (weeks_at(now_ms)[-1], newest) and ranged.asset_selection[0] == CATALOG_KEY

    # One run makes the catalog, then the week's series upon it (their upstream): no tick waits for realtime.
    result = launch(defs, instance, "oid_history", request)
    assert result.success
    materialized = [(e.asset_key, e.partition) for e in result.get_asset_materialization_events()]
    assert materialized[0] == (CATALOG_KEY, None)
    assert sorted(materialized[1:]) == sorted((k, newest) for k in keys)
    # From then on the catalog is the realtime sensor's to keep: history runs carry series only.
    second = only_request(evaluate(defs, HISTORY_SENSOR, instance, first.cursor))
    assert second.partition_key == weeks_at(now_ms)[1] and same_keys(second.asset_selection, keys)


@pytest.mark.usefixtures("catalog_done")
@pytest.mark.clock  # weeks from the wall clock: also run under faketime at four instants (Makefile)
def test_history_sensor_fills_the_newest_week_first_then_older_ones(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resource: OidSyncResource,
    small_catalog: list[CatalogSeries],
    now_ms: int,
) -> None:
    keys = series_keys(small_catalog)
    weeks = weeks_at(now_ms)
    newest, older = weeks[0], weeks[1]

    first = evaluate(defs, HISTORY_SENSOR, instance)
    request = only_request(first)
    assert request.partition_key == newest and same_keys(request.asset_selection, keys)
    assert request.tags[KIND_TAG] == "history" and request.tags[ATTEMPT_TAG] == "1"
    assert json.loads(first.cursor or "") == {newest: 1}

    # Some series of the week are done: only the missing ones are requested (the week's second attempt).
    pressure = [s for s in small_catalog if TRANSLATOR.get_group_name(s) == "pressure"]
    assert materialize(defs, instance, resource, dg.AssetSelection.groups("pressure"), partition_key=newest).success
    second = evaluate(defs, HISTORY_SENSOR, instance, first.cursor)
    request = only_request(second)
    rest = [k for k in keys if k not in series_keys(pressure)]
    assert 0 < len(rest) < len(keys)
    assert request.partition_key == newest and same_keys(request.asset_selection, rest)
    assert request.tags[ATTEMPT_TAG] == "2"
    assert json.loads(second.cursor or "") == {newest: 2}

    # Run that request as the daemon would: the week is then complete, and the next week back is next.
    result = launch(defs, instance, "oid_history", request)
    assert result.success
    assert {(e.asset_key, e.partition) for e in result.get_asset_materialization_events()} == {
        (k, newest) for k in rest
    }
    assert {(e.asset_key, e.partition, e.passed) for e in result.get_asset_check_evaluations()} == {
        (k, newest, True) for k in rest
    }
    assert all(newest in instance.get_materialized_partitions(k) for k in keys)
    third = evaluate(defs, HISTORY_SENSOR, instance, second.cursor)
    request = only_request(third)
    assert request.partition_key == older and same_keys(request.asset_selection, keys)
    assert request.tags[ATTEMPT_TAG] == "1"
    assert json.loads(third.cursor or "") == {newest: 2, older: 1}

    # Every older week at its last attempt: the skip names exactly those, not the complete newest week.
    exhausted = json.dumps({newest: 2, **{w: 3 for w in weeks[1:]}})
    data = evaluate(defs, HISTORY_SENSOR, instance, exhausted)
    assert data.run_requests == []
    given_up = json.loads(data.cursor or "")
    assert set(given_up.pop("_given_up_at")) == set(weeks[1:]) and given_up == json.loads(exhausted)
    assert data.skip_message == (
        f"weeks still incomplete after 3 attempts: {', '.join(weeks[1:])}; tried again in an hour, or launch a "
        "backfill of them from the UI now"
    )


@pytest.mark.usefixtures("catalog_done")
def test_history_sensor_requests_every_missing_week_in_one_range_run(
    range_defs: dg.Definitions,
    instance: dg.DagsterInstance,
    small_catalog: list[CatalogSeries],
    now_ms: int,
) -> None:
    keys = series_keys(small_catalog)
    weeks = weeks_at(now_ms)
    first = evaluate(range_defs, HISTORY_SENSOR, instance)
    request = only_request(first)
    assert request.partition_key is None and range_of(request) == (weeks[-1], weeks[0])
    assert same_keys(request.asset_selection, keys)
    assert request.tags[KIND_TAG] == "history" and request.tags[ATTEMPT_TAG] == "1"
    assert json.loads(first.cursor or "") == dict.fromkeys(weeks, 1)

    # Run it as the daemon would: one run materializes and checks every (series, week), and history is done.
    result = launch(range_defs, instance, "oid_history", request)
    assert result.success
    pairs = {(k, w) for k in keys for w in weeks}
    assert {(e.asset_key, e.partition) for e in result.get_asset_materialization_events()} == pairs
    assert {(e.asset_key, e.partition, e.passed) for e in result.get_asset_check_evaluations()} == {
        (k, w, True) for k, w in pairs
    }
    done = evaluate(range_defs, HISTORY_SENSOR, instance, first.cursor)
    assert done.run_requests == [] and done.skip_message == "all 12 history weeks are materialized"


@pytest.mark.usefixtures("catalog_done")
def test_a_range_is_contiguous_bounded_and_selects_what_any_of_its_weeks_misses(
    range_defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resource: OidSyncResource,
    state: CatalogState,
    small_catalog: list[CatalogSeries],
    now_ms: int,
) -> None:
    keys = series_keys(small_catalog)
    weeks = weeks_at(now_ms)
    pressure = series_keys([s for s in small_catalog if TRANSLATOR.get_group_name(s) == "pressure"])
    # The two newest weeks lack all but the pressure series; the third is complete; the rest lack everything.
    for week in weeks[:2]:
        assert materialize(range_defs, instance, resource, pressure, partition_key=week).success
    assert materialize(range_defs, instance, resource, keys, partition_key=weeks[2]).success
    first = evaluate(range_defs, HISTORY_SENSOR, instance)
    request = only_request(first)
    assert range_of(request) == (weeks[1], weeks[0])  # the complete week ends the range
    rest = [k for k in keys if k not in pressure]
    assert 0 < len(rest) < len(keys) and same_keys(request.asset_selection, rest)
    assert json.loads(first.cursor or "") == {weeks[0]: 1, weeks[1]: 1}
    assert launch(range_defs, instance, "oid_history", request).success
    second = only_request(evaluate(range_defs, HISTORY_SENSOR, instance, first.cursor))
    assert range_of(second) == (weeks[-1], weeks[3]) and same_keys(second.asset_selection, keys)

    # At most `history_weeks_per_run` weeks a run; a range of one is a plain partition request.
    capped = build_definitions(
        state, config=SyncConfig(), resource=resource, clock=lambda: now_ms, history_weeks_per_run=4
    )
    request = only_request(evaluate(capped, HISTORY_SENSOR, instance, first.cursor))
    assert range_of(request) == (weeks[6], weeks[3])
    single = build_definitions(
        state, config=SyncConfig(), resource=resource, clock=lambda: now_ms, history_weeks_per_run=1
    )
    request = only_request(evaluate(single, HISTORY_SENSOR, instance, first.cursor))
    assert range_of(request) is None and request.partition_key == weeks[3]


@pytest.mark.usefixtures("catalog_done")
def test_history_sensor_gives_up_a_week_after_max_attempts(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    small_catalog: list[CatalogSeries],
    now_ms: int,
) -> None:
    keys = series_keys(small_catalog)
    weeks = weeks_at(now_ms)
    assert len(weeks) == 12
    cursor = None
    requested = []
    for _ in range(len(weeks) * 3):
        data = evaluate(defs, HISTORY_SENSOR, instance, cursor)
        request = only_request(data)
        assert same_keys(request.asset_selection, keys)  # nothing ran: every series is missing every time
        requested.append((request.partition_key, request.tags[ATTEMPT_TAG]))
        cursor = data.cursor
    assert requested == [(w, str(attempt)) for w in weeks for attempt in (1, 2, 3)]
    after = json.loads(cursor or "")
    assert set(after.pop("_given_up_at")) == set(weeks[:-1])  # each week is given up when the next one starts
    assert after == {w: 3 for w in weeks}

    data = evaluate(defs, HISTORY_SENSOR, instance, cursor)
    assert data.run_requests == []
    state = json.loads(data.cursor or "")
    given_up_at = state.pop("_given_up_at")
    assert state == {w: 3 for w in weeks} and set(given_up_at) == set(weeks)  # when each week was given up
    assert data.skip_message == (
        f"weeks still incomplete after 3 attempts: {', '.join(weeks)}; tried again in an hour, or launch a "
        "backfill of them from the UI now"
    )
    # An hour later the newest week gets a new round of attempts (a week that was not final yet may be now).
    stale = {**state, "_given_up_at": {**given_up_at, weeks[0]: given_up_at[weeks[0]] - 3_600_001}}
    data = evaluate(defs, HISTORY_SENSOR, instance, json.dumps(stale))
    request = only_request(data)
    assert (request.partition_key, request.tags[ATTEMPT_TAG]) == (weeks[0], "1")


@pytest.mark.usefixtures("catalog_done")
@pytest.mark.parametrize("status", [Status.QUEUED, Status.STARTED])
def test_history_sensor_skips_while_a_history_run_is_in_flight(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    status: dg.DagsterRunStatus,
    now_ms: int,
) -> None:
    in_flight(instance, "realtime", Status.STARTED)  # realtime does not hold history back
    in_flight(instance, "history", Status.SUCCESS)
    assert only_request(evaluate(defs, HISTORY_SENSOR, instance)).partition_key == weeks_at(now_ms, 1)[0]

    in_flight(instance, "history", status)
    cursor = json.dumps({weeks_at(now_ms, 1)[0]: 1})
    data = evaluate(defs, HISTORY_SENSOR, instance, cursor)
    assert data.run_requests == [] and data.cursor == cursor
    assert data.skip_message == "a history run is still queued or running"


@pytest.mark.usefixtures("catalog_done")
def test_a_failed_check_makes_the_history_sensor_sync_that_week_again(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resource: OidSyncResource,
    small_catalog: list[CatalogSeries],
    target: CogniteClient,
    now_ms: int,
) -> None:
    keys = series_keys(small_catalog)
    newest, older = weeks_at(now_ms, 2)
    assert materialize(defs, instance, resource, keys, partition_key=newest).success
    first = evaluate(defs, HISTORY_SENSOR, instance)
    assert only_request(first).partition_key == older
    assert json.loads(first.cursor or "") == {older: 1}

    # Target data of one series disappears; a check-only run of that week notices.
    victim = next(s for s in small_catalog if TRANSLATOR.get_group_name(s) == "level")
    week_ms = history_weeks(now_ms, 1)[0]
    target.time_series.data.delete_range(
        start=week_ms, end=week_ms + WEEK_MS // 2, instance_id=NodeId(SPACE, victim.external_id)
    )
    check = dg.AssetCheckKey(TRANSLATOR.get_asset_key(victim), "complete")
    checked = materialize(defs, instance, resource, dg.AssetSelection.checks(check), tags={"dagster/partition": newest})
    assert [(e.asset_key, e.partition, e.passed) for e in checked.get_asset_check_evaluations()] == [
        (check.asset_key, newest, False)
    ]
    assert newest in instance.get_materialized_partitions(check.asset_key)  # still materialized, but failed

    second = evaluate(defs, HISTORY_SENSOR, instance, first.cursor)
    request = only_request(second)
    assert request.partition_key == newest and request.asset_selection == [check.asset_key]
    assert request.tags[KIND_TAG] == "history" and request.tags[ATTEMPT_TAG] == "1"
    assert json.loads(second.cursor or "") == {older: 1, newest: 1}

    # The re-sync re-runs the check (the request's asset carries it), which passes: back to the older week.
    result = launch(defs, instance, "oid_history", request)
    assert result.success
    assert [(e.asset_key, e.partition, e.passed) for e in result.get_asset_check_evaluations()] == [
        (check.asset_key, newest, True)
    ]
    third = evaluate(defs, HISTORY_SENSOR, instance, second.cursor)
    request = only_request(third)
    assert request.partition_key == older and same_keys(request.asset_selection, keys)
    assert request.tags[ATTEMPT_TAG] == "2"


@pytest.mark.usefixtures("catalog_done")
def test_history_sensor_waits_for_a_ui_backfill(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    create_run_for_test(instance, job_name="__ASSET_JOB", tags={"dagster/backfill": "abcd"}, status=Status.STARTED)
    data = evaluate(defs, HISTORY_SENSOR, instance)
    assert data.run_requests == [] and data.skip_message == "a backfill is running; history resumes when it is done"


@pytest.mark.usefixtures("catalog_done")
def test_another_instances_backfill_does_not_hold_history_back(
    defs: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    theirs = {dg.AssetKey(["site_b", "pressure", "pi_160030"])}
    tags = {"dagster/backfill": "efgh"}
    create_run_for_test(instance, job_name="__ASSET_JOB", tags=tags, status=Status.STARTED, asset_selection=theirs)
    data = evaluate(defs, HISTORY_SENSOR, instance)
    assert len(data.run_requests or []) == 1, data.skip_message
    ours = {next(iter(only_request(data).asset_selection or []))}
    create_run_for_test(instance, job_name="__ASSET_JOB", tags=tags, status=Status.STARTED, asset_selection=ours)
    data = evaluate(defs, HISTORY_SENSOR, instance, data.cursor)
    assert data.run_requests == [] and data.skip_message == "a backfill is running; history resumes when it is done"


@pytest.mark.clock  # weeks from the wall clock: also run under faketime at four instants (Makefile)
def test_reset_backfill_resyncs_every_week_once_per_config(
    state: CatalogState,
    resource: OidSyncResource,
    instance: dg.DagsterInstance,
    small_catalog: list[CatalogSeries],
    now_ms: int,
) -> None:
    # Predecessor defect: "reset backfill" repeated on every run. Here it is acted on once per distinct config.
    config = load_config("sync_configuration:\n  reset_backfill: true\n")
    defs = build_definitions(state, config=config, resource=resource, clock=lambda: now_ms, history_weeks_per_run=1)
    assert materialize(defs, instance, resource, [CATALOG_KEY]).success
    keys = series_keys(small_catalog)
    weeks = weeks_at(now_ms)
    # Every week is already materialized: without the reset the sensor would have nothing to do.
    for week in weeks:
        for key in keys:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=week))
    cursor = None
    requested = []
    for _ in weeks:
        data = evaluate(defs, HISTORY_SENSOR, instance, cursor)
        request = only_request(data)
        assert same_keys(request.asset_selection, keys)
        requested.append(request.partition_key)
        cursor = data.cursor
    assert requested == weeks  # every week once, newest first
    done = evaluate(defs, HISTORY_SENSOR, instance, cursor)
    assert done.run_requests == [] and done.skip_message == f"all {len(weeks)} history weeks are materialized"
    # The same config on the next ticks (and after restarts, via the cursor): no second reset.
    assert evaluate(defs, HISTORY_SENSOR, instance, done.cursor).run_requests == []
    # A changed config that still says reset_backfill: true is a new request.
    changed = load_config("sync_configuration:\n  reset_backfill: true\n  history_weeks: 12\n  max_workers: 3\n")
    changed_defs = build_definitions(
        state, config=changed, resource=resource, clock=lambda: now_ms, history_weeks_per_run=1
    )
    again = evaluate(changed_defs, HISTORY_SENSOR, instance, done.cursor)
    assert only_request(again).partition_key == weeks[0]
    # By default the whole reset is one range run; capped, the weeks after the cap keep their reset for later runs.
    in_one = build_definitions(state, config=changed, resource=resource, clock=lambda: now_ms)
    assert range_of(only_request(evaluate(in_one, HISTORY_SENSOR, instance, done.cursor))) == (weeks[-1], weeks[0])
    capped = build_definitions(state, config=changed, resource=resource, clock=lambda: now_ms, history_weeks_per_run=5)
    first_five = evaluate(capped, HISTORY_SENSOR, instance, done.cursor)
    assert range_of(only_request(first_five)) == (weeks[4], weeks[0])
    rest = evaluate(capped, HISTORY_SENSOR, instance, first_five.cursor)
    assert range_of(only_request(rest)) == (weeks[9], weeks[5])


def test_realtime_sensor_syncs_the_catalog_again_after_a_reload(
    state: CatalogState, resource: OidSyncResource, instance: dg.DagsterInstance, defs: dg.Definitions
) -> None:
    assert materialize(defs, instance, resource, [CATALOG_KEY]).success
    assert only_request(evaluate(defs, REALTIME_SENSOR, instance)).asset_selection == [REALTIME_KEY]
    # The location reloads later with a newer listing: its nodes must be upserted before realtime writes to them.
    reloaded = CatalogState(fetched_at_ms=int(time.time() * 1000) + 1000, series=state.series)
    newer = build_definitions(reloaded, config=SyncConfig(), resource=resource)
    assert only_request(evaluate(newer, REALTIME_SENSOR, instance)).asset_selection == [CATALOG_KEY, REALTIME_KEY]


@pytest.mark.usefixtures("catalog_done")
def test_history_sensor_takes_the_week_that_just_closed_first(
    state: CatalogState, resource: OidSyncResource, instance: dg.DagsterInstance, now_ms: int
) -> None:
    # The sensor's clock at the last millisecond of last week, then at last Monday 00:00: a crossing is a setting.
    # (A past one: Dagster checks a requested partition key against the wall clock, where the week has closed.)
    monday = week_start(now_ms) - WEEK_MS
    clock = [monday - 1]
    defs = build_definitions(
        state, config=SyncConfig(), resource=resource, clock=lambda: clock[0], history_weeks_per_run=1
    )
    before = evaluate(defs, HISTORY_SENSOR, instance)
    assert only_request(before).partition_key == key_of(monday - 2 * WEEK_MS)  # the newest week closed by Sunday
    clock[0] += 1
    after = evaluate(defs, HISTORY_SENSOR, instance, before.cursor)
    request = only_request(after)
    assert (request.partition_key, request.tags[ATTEMPT_TAG]) == (key_of(monday - WEEK_MS), "1")
    assert json.loads(after.cursor or "") == {key_of(monday - 2 * WEEK_MS): 1, key_of(monday - WEEK_MS): 1}


def test_the_sensors_heal_a_target_that_lost_our_nodes(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    small_catalog: list[CatalogSeries],
    target: CogniteClient,
    now_ms: int,
) -> None:
    def realtime_failed_series(result: dg.ExecuteInProcessResult) -> int:
        [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == REALTIME_KEY]
        return int(event.materialization.metadata["oid_sync/failed_series"].value)  # type: ignore[arg-type]

    assert launch(defs, instance, "oid_realtime", only_request(evaluate(defs, REALTIME_SENSOR, instance))).success
    # The target loses every node of ours behind the instance's back (an emptied project, a cleanup script).
    target.data_modeling.instances.delete([NodeId(SPACE, s.external_id) for s in small_catalog])
    request = only_request(evaluate(defs, REALTIME_SENSOR, instance))
    assert request.asset_selection == [REALTIME_KEY]  # nothing has told the instance yet
    broken = launch(defs, instance, "oid_realtime", request)
    assert realtime_failed_series(broken) == len(small_catalog)  # each a refusal: no node (no step retry)
    history = evaluate(defs, HISTORY_SENSOR, instance)
    assert not launch(defs, instance, "oid_history", only_request(history)).success  # no nodes to write into

    # The next realtime tick syncs the catalog first, and the target is whole again.
    healing = only_request(evaluate(defs, REALTIME_SENSOR, instance))
    assert healing.asset_selection == [CATALOG_KEY, REALTIME_KEY]
    healed = launch(defs, instance, "oid_realtime", healing)
    assert healed.success and realtime_failed_series(healed) == 0
    assert only_request(evaluate(defs, REALTIME_SENSOR, instance)).asset_selection == [REALTIME_KEY]
    # History's next attempt at the week succeeds.
    retry = only_request(evaluate(defs, HISTORY_SENSOR, instance, history.cursor))
    assert (retry.partition_key, retry.tags[ATTEMPT_TAG]) == (weeks_at(now_ms, 1)[0], "2")
    assert launch(defs, instance, "oid_history", retry).success
