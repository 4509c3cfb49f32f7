"""Permanent faults: a wrong client secret, a missing instance space or view, nodes of the other type, and a series
deleted from the target mid-run. The engine (real SDK, real HTTP, the local CDF) and, for the deleted series, the
Dagster layer: each fault is one clear error, per series where it is a series' fault, and the other series
complete exactly (every shifted point compared with the source).

A missing instance space or view misses every series at once (they share it): there the clear error is per
series but no series can complete, so those tests show the error, that nothing is written, and that the run
completes exactly once the space or view exists.
"""

# No `from __future__ import annotations`: the Dagster test builds definitions whose ops Dagster inspects.

import re
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeApply, NodeId, SpaceApply, ViewId
from cognite.client.data_classes.data_modeling.cdm.v1 import CogniteTimeSeriesApply
from cognite.client.exceptions import CogniteAPIError, CogniteOAuthError

from oid_sync_dagster.config import SyncConfig, load_config
from oid_sync_dagster.integration.build import build_definitions
from oid_sync_dagster.integration.catalog_state import state_of
from oid_sync_dagster.integration.partitions import key_of
from oid_sync_dagster.integration.records import FailureRecord, SeriesFailure
from oid_sync_dagster.integration.resources import OidSyncResource
from oid_sync_dagster.integration.translator import OidSyncTranslator, instrument_group
from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.sync.catalog import list_source_series
from oid_sync_dagster.sync.copy import Progress
from oid_sync_dagster.sync.engine import SyncEngine
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.windows import MINUTE_MS, WEEK_MS, Window, history_weeks, shift, target_week_window
from oid_sync_dagster_tests.conftest import make_client
from oid_sync_dagster_tests.dagster.conftest import materialize
from oid_sync_dagster_tests.sync.conftest import Clock, assert_same_points, engine_for, read_points

SPACE = "oid_sync"
OFFSET = WEEK_MS + 10 * MINUTE_MS
WRONG_SECRET = "not-the-secret-5d1e"
TOKEN_PATH = r"^/oauth2/token$"
INVALID_CLIENT = (
    "Error generating access token: 'invalid_client'. Description: Client authentication failed for client id "
    "'oid-sync-local'."
)


@pytest.fixture
def source(cdf: RunningLocalCDF) -> CogniteClient:
    return make_client(cdf, "publicdata")


@pytest.fixture
def series(source: CogniteClient) -> list[CatalogSeries]:
    """Three analog series and a string series: small, and both types."""
    catalog = list_source_series(source, "pi:")
    analog = [s for s in catalog if s.metadata.get("pointtype") == "Float32" and not s.is_step][:3]
    return analog + [s for s in catalog if s.is_string][:1]


def node(item: CatalogSeries) -> NodeId:
    return NodeId(SPACE, item.external_id)


def assert_exact_copy(source: CogniteClient, target: CogniteClient, item: CatalogSeries, window: Window) -> int:
    """The target holds exactly the source's points of the window, shifted (rule 1); returns how many."""
    expected = read_points(source, item.external_id, shift(window, -OFFSET))
    expected.timestamps = expected.timestamps + OFFSET
    actual = read_points(target, node(item), window)
    assert_same_points(actual, expected)
    assert len(actual) > 0, f"{item.external_id}: nothing to compare"
    return len(actual)


def data_requests(cdf: RunningLocalCDF, project: str = "target") -> list[str]:
    """Paths of the requests to a project's API (the token endpoint is not in a project)."""
    return [r.path for r in cdf.request_log.records if r.path.startswith(f"/api/v1/projects/{project}/")]


# ---------- a wrong secret ----------


def test_a_wrong_target_secret_is_one_auth_error_and_one_token_request_per_sync(
    cdf: RunningLocalCDF, source: CogniteClient, clock: Clock, series: list[CatalogSeries]
) -> None:
    """Exactly one token request per sync, and no request to the target's API.

    Why exactly one: the SDK fetches a token lazily, on a client's first request, with one plain POST that
    bypasses its retry machinery (credentials.OAuthClientCredentials._refresh_access_token); a refusal raises
    CogniteOAuthError before the API request is sent, and nothing is cached, so the next call fetches again. The
    engine raises that first refusal (sync/copy.is_fatal) instead of recording it per series and carrying on, so
    a sync makes one token request. (Before, sync_weeks and sync_realtime made two, one for the sync state and one
    for the nodes, and reported 2 x N identical per-series errors.)
    """
    engine = engine_for(source, make_client(cdf, "target", client_secret=WRONG_SECRET), clock)
    week = history_weeks(clock.ms(), 1)[0]
    cdf.request_log.clear()
    for sync in (
        lambda: engine.sync_catalog(series),
        lambda: engine.sync_weeks(series, [week]),
        lambda: engine.sync_realtime(series),
    ):
        with pytest.raises(CogniteOAuthError) as info:
            sync()
        assert str(info.value) == INVALID_CLIENT
        assert WRONG_SECRET not in repr(info.value)
    assert [r.status for r in cdf.request_log.matching(TOKEN_PATH)] == [401, 401, 401]
    assert data_requests(cdf) == []  # the target's API was never reached
    # The source side worked all along: the two syncs measured its edge (one token, then cached).
    assert data_requests(cdf, "publicdata") == ["/api/v1/projects/publicdata/timeseries/data/latest"] * 2


def test_a_wrong_source_secret_is_one_auth_error(cdf: RunningLocalCDF, target: CogniteClient, clock: Clock) -> None:
    engine = engine_for(make_client(cdf, "publicdata", client_secret=WRONG_SECRET), target, clock)
    with pytest.raises(CogniteOAuthError) as info:
        engine.list_catalog()
    assert str(info.value) == INVALID_CLIENT
    assert [r.status for r in cdf.request_log.matching(TOKEN_PATH)] == [401]
    assert data_requests(cdf, "publicdata") == []


# ---------- a missing instance space or view ----------


def test_a_missing_instance_space_names_itself_per_series_then_heals(
    cdf: RunningLocalCDF,
    source: CogniteClient,
    target: CogniteClient,
    clock: Clock,
    series: list[CatalogSeries],
) -> None:
    # create_target_nodes: false leaves the space and the nodes to the user, who has not made them yet.
    engine = engine_for(source, target, clock, load_config("sync_configuration: {create_target_nodes: false}"))
    with pytest.raises(CogniteAPIError) as info:
        engine.sync_catalog(series)  # the sync-state container lives in the instance space
    assert (info.value.code, info.value.message) == (
        400,
        "Container oid_sync:OidSyncState: space 'oid_sync' does not exist. Create it first with POST /models/spaces.",
    )
    week = history_weeks(clock.ms(), 1)[0]
    cdf.request_log.clear()
    result = engine.sync_weeks(series, [week])
    assert result.failed == {
        s.external_id: [
            f"{s.external_id}: no CogniteTimeSeries node oid_sync/{s.external_id} in the target (the instance "
            "space 'oid_sync' does not exist; create_target_nodes is false: create it yourself)"
        ]
        for s in series
    }
    assert not result.retryable and result.points_written == 0
    assert not [p for p in data_requests(cdf) if p.endswith("/timeseries/data")]  # nothing was written

    # The user creates the space and the nodes, but one of them bare (not a time series): that one alone fails.
    bare, *others = series
    target.data_modeling.spaces.apply(SpaceApply(SPACE))
    target.data_modeling.instances.apply(
        [NodeApply(SPACE, bare.external_id)]
        + [
            CogniteTimeSeriesApply(SPACE, s.external_id, time_series_type=s.type, is_step=s.is_step, name=s.name)
            for s in others
        ]
    )
    assert engine.sync_catalog(series).missing == [bare.external_id]
    result = engine.sync_weeks(series, [week])
    assert result.failed == {
        bare.external_id: [
            f"{bare.external_id}: no CogniteTimeSeries node oid_sync/{bare.external_id} in the target "
            "(create_target_nodes is false: create it yourself)"
        ]
    }
    for item in others:
        copied = assert_exact_copy(source, target, item, target_week_window(week))
        assert result.series[item.external_id].points_written == copied


def test_a_missing_view_is_a_refusal_per_series_then_heals(
    cdf: RunningLocalCDF,
    source: CogniteClient,
    target: CogniteClient,
    clock: Clock,
    series: list[CatalogSeries],
) -> None:
    # A typo in the view: every node is written and read through it, so the catalog fails as a whole.
    config = load_config("sync_configuration: {timeseries_view_external_id: CogniteTimeSerie}")
    engine = engine_for(source, target, clock, config)
    with pytest.raises(CogniteAPIError) as info:
        engine.sync_catalog(series)
    assert (info.value.code, info.value.message) == (400, "sources: view cdf_cdm:CogniteTimeSerie/v1 does not exist.")
    week = history_weeks(clock.ms(), 1)[0]
    cdf.request_log.clear()
    result = engine.sync_weeks(series, [week])
    (byids,) = cdf.request_log.matching(r"/target/models/instances/byids$")
    assert byids.status == 400
    assert result.failed == {
        s.external_id: [
            f"{s.external_id}: reading its target node failed: 400 sources: view cdf_cdm:CogniteTimeSerie/v1 does "
            f"not exist. (request id {byids.request_id})"
        ]
        for s in series
    }
    assert not result.retryable  # a refusal: retrying the step cannot heal a typo
    assert not [p for p in data_requests(cdf) if p.endswith("/timeseries/data")]

    fixed = engine_for(source, target, clock, SyncConfig())
    fixed.sync_catalog(series)
    result = fixed.sync_weeks(series, [week])
    assert result.failed == {}
    for item in series:
        assert result.series[item.external_id].points_written == assert_exact_copy(
            source, target, item, target_week_window(week)
        )
    assert fixed.settings.view == ViewId("cdf_cdm", "CogniteTimeSeries", "v1")


# ---------- nodes of the other type ----------


def test_nodes_of_the_other_type_fail_alone_both_ways(
    cdf: RunningLocalCDF,
    source: CogniteClient,
    target: CogniteClient,
    clock: Clock,
    series: list[CatalogSeries],
) -> None:
    # sync/test_engine.py covers a string source into a numeric node; here both directions, with exact texts.
    numeric_victim, string_victim = series[0], series[-1]
    assert not numeric_victim.is_string and string_victim.is_string
    others = series[1:-1]
    target.data_modeling.spaces.apply(SpaceApply(SPACE))
    target.data_modeling.instances.apply(
        [
            CogniteTimeSeriesApply(SPACE, numeric_victim.external_id, time_series_type="string", is_step=False),
            CogniteTimeSeriesApply(SPACE, string_victim.external_id, time_series_type="numeric", is_step=False),
        ]
    )
    engine = engine_for(source, target, clock)
    outcome = engine.sync_catalog(series)

    def conflict(item: CatalogSeries, node_type: str) -> str:
        return (
            f"{item.external_id}: the target node {item.external_id!r} is a {node_type} time series but the source "
            f"series is {item.type}; skipped (CDF cannot change a time series' type: delete the node or sync into "
            "another instance space)"
        )

    assert outcome.conflicts == {
        numeric_victim.external_id: conflict(numeric_victim, "string"),
        string_victim.external_id: conflict(string_victim, "numeric"),
    }
    weeks = history_weeks(clock.ms(), 2)
    result = engine.sync_weeks(series, weeks)
    assert result.failed == {
        numeric_victim.external_id: [
            f"{numeric_victim.external_id}: the target node is a string time series but the source series is "
            "numeric; skipped"
        ],
        string_victim.external_id: [
            f"{string_victim.external_id}: the target node is a numeric time series but the source series is "
            "string; skipped"
        ],
    }
    assert not result.retryable
    span = Window(weeks[-1], weeks[0] + WEEK_MS)
    for item in others:
        assert result.series[item.external_id].points_written == assert_exact_copy(source, target, item, span)
    for victim in (numeric_victim, string_victim):
        assert len(read_points(target, node(victim), span)) == 0
        assert result.series[victim.external_id].points_read == 0  # skipped before reading, not after


# ---------- a series deleted mid-run ----------


def test_a_node_deleted_or_retyped_mid_sync_fails_alone(
    cdf: RunningLocalCDF,
    source: CogniteClient,
    target: CogniteClient,
    clock: Clock,
    series: list[CatalogSeries],
) -> None:
    """Two weeks in one sync; after the first read, one node is deleted and another recreated as a string series.

    The hook is the engine's progress callback, called by the reader after each read unit. Inserts go out when a
    100k-point batch fills or at the end; these two weeks of four series are about 60k points, one batch sent
    after the last read, so the hook runs before any insert: deterministic, no sleeps.
    """
    engine = engine_for(source, target, clock)
    engine.sync_catalog(series)
    deleted, retyped, *others = series
    weeks = history_weeks(clock.ms(), 2)
    calls: list[Progress] = []

    def hook(progress: Progress) -> None:
        calls.append(progress)
        if len(calls) == 1:
            assert progress.points_written == 0 and not cdf.request_log.matching(r"/target/timeseries/data$")
            target.data_modeling.instances.delete([node(deleted), node(retyped)])
            target.data_modeling.instances.apply(
                CogniteTimeSeriesApply(SPACE, retyped.external_id, time_series_type="string", is_step=False)
            )

    result = engine.sync_weeks(series, weeks, on_progress=hook)
    assert len(calls) == 2 * 7 + 1  # a unit per source day of each week, then the final report
    span = Window(weeks[-1], weeks[0] + WEEK_MS)
    # One request carries both weeks of a series as one item, in time order: CDF names its first value.
    first_value = read_points(source, retyped.external_id, shift(target_week_window(weeks[-1]), -OFFSET)).values[0]
    assert set(result.failed) == {deleted.external_id, retyped.external_id}
    assert result.failed[deleted.external_id] == [
        f"{deleted.external_id}: no time series for the target node (the node is missing or is not a time series)"
    ]
    (retyped_error,) = result.failed[retyped.external_id]
    pattern = (
        rf"{re.escape(retyped.external_id)}: insert failed: 400 String time series oid_sync/"
        rf"{re.escape(retyped.external_id)} only accepts string values, got {re.escape(repr(float(first_value)))}\. "
        r"\(request id (?P<id>[0-9a-f]{32})\)"
    )
    match = re.fullmatch(pattern, retyped_error)
    assert match is not None, retyped_error
    inserts = cdf.request_log.matching(r"/target/timeseries/data$", "POST")
    # The whole batch (400 with `missing`: a node is gone), the rest (400: one series refuses the values), then
    # the rest series by series, in external-id order, to find the one that refuses.
    alone = sorted(s.external_id for s in (retyped, *others))
    assert [r.status for r in inserts] == [400, 400] + [400 if n == retyped.external_id else 200 for n in alone]
    assert inserts[2 + alone.index(retyped.external_id)].request_id == match["id"]
    assert not result.retryable  # both are refusals
    for item in others:
        assert result.series[item.external_id].points_written == assert_exact_copy(source, target, item, span)
    assert result.series[deleted.external_id].points_written == result.series[retyped.external_id].points_written == 0
    assert len(read_points(target, node(retyped), span)) == 0


# ---------- the same through Dagster ----------

TRANSLATOR = OidSyncTranslator()


@pytest.fixture
def live_cdf(tmp_path: Path) -> Iterator[RunningLocalCDF]:
    """Dagster runs on the wall clock, so this local CDF does too."""
    with serve_in_thread(LocalCDFSettings(data_dir=tmp_path / "live-cdf")) as running:
        yield running


def test_a_node_deleted_during_a_dagster_range_run_fails_that_series_only(
    live_cdf: RunningLocalCDF, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catalog, then a two-week range run of one shard whose first week deletes a node when it has been copied.

    The hook wraps SyncEngine.sync_weeks, which the series step calls once per week, newest first: the node goes
    after the newest week's copy and before its verification, deterministically.
    """
    source, target = make_client(live_cdf, "publicdata"), make_client(live_cdf, "target")
    pressure = [s for s in list_source_series(source, "pi:") if instrument_group(s) == "pressure"][:3]
    victim, *others = pressure
    resource = OidSyncResource(local_cdf_url=live_cdf.base_url, local_target_project="target")
    now = int(time.time() * 1000)  # one reading: the catalog's anchor, the sensor's clock and the weeks agree
    defs = build_definitions(state_of(pressure, now), config=SyncConfig(), resource=resource, clock=lambda: now)
    newest, older = history_weeks(now, 2)
    original = SyncEngine.sync_weeks
    synced: list[list[int]] = []

    def sync_weeks_then_delete(self: SyncEngine, *args: object, **kwargs: object) -> object:
        result = original(self, *args, **kwargs)  # type: ignore[arg-type]
        synced.append(list(args[1]))  # type: ignore[arg-type]
        if len(synced) == 1:
            target.data_modeling.instances.delete(node(victim))
        return result

    with dg.instance_for_test() as instance:
        assert materialize(defs, instance, resource, [dg.AssetKey(["oid", "target_catalog"])]).success
        monkeypatch.setattr(SyncEngine, "sync_weeks", sync_weeks_then_delete)
        result = materialize(
            defs,
            instance,
            resource,
            [TRANSLATOR.get_asset_key(s) for s in pressure],
            tags={
                "dagster/asset_partition_range_start": key_of(older),
                "dagster/asset_partition_range_end": key_of(newest),
            },
        )
        retries = instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY).records
    assert synced == [[newest], [older]]
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "oid_pressure_series"
    error = failure.step_failure_data.error
    assert error is not None
    missing_target = "the target has no time series for this node"
    xid = victim.external_id
    no_node = f"{xid}: no CogniteTimeSeries node oid_sync/{xid} in the target (sync the catalog)"
    assert error.message == (
        f"dagster._core.definitions.events.Failure: {no_node}\n"
        f"{xid} {key_of(newest)}: {missing_target}\n{xid} {key_of(older)}: {missing_target}\n"
    )
    record = FailureRecord.from_metadata(failure.step_failure_data.user_failure_data.metadata)
    assert record == FailureRecord(
        failed_series=1,
        failed_checks=2,
        failures=[
            SeriesFailure(series=xid, week=key_of(older), error=no_node, retryable=False),  # deleted mid-run
            SeriesFailure(series=xid, week=key_of(newest), error=missing_target),
            SeriesFailure(series=xid, week=key_of(older), error=missing_target),
        ],
    )
    assert retries == []  # a refusal is not retried (Failure(allow_retries=False))
    materialized = {
        (e.asset_key, e.partition): e.materialization.metadata["oid_sync/points_written"].value
        for e in result.get_asset_materialization_events()
    }
    expected = {}
    for item in others:
        for week in (newest, older):
            expected[(TRANSLATOR.get_asset_key(item), key_of(week))] = assert_exact_copy(
                source, target, item, target_week_window(week)
            )
    assert materialized == expected
    checks = {(e.asset_key, e.partition): e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        **{key: True for key in expected},
        (TRANSLATOR.get_asset_key(victim), key_of(newest)): False,
        (TRANSLATOR.get_asset_key(victim), key_of(older)): False,
    }
