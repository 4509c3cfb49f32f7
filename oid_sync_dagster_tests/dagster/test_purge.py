"""Purge through the Dagster job: target data, sync state and Dagster's partitions go together."""

from __future__ import annotations

import dagster as dg
from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeId

from oid_sync_dagster.integration.assets import CATALOG_KEY, REALTIME_KEY
from oid_sync_dagster.integration.partitions import key_of
from oid_sync_dagster.integration.purge import PURGE_JOB
from oid_sync_dagster.integration.resources import OidSyncResource
from oid_sync_dagster.integration.translator import OidSyncTranslator
from oid_sync_dagster.sync import state as sync_state
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.windows import MINUTE_MS, WEEK_MS, Window, history_weeks, week_start
from oid_sync_dagster_tests.sync.conftest import read_points

SPACE = "oid_sync"
OFFSET = WEEK_MS + 10 * MINUTE_MS
KEY = OidSyncTranslator().get_asset_key


def _count(target: CogniteClient, series: CatalogSeries, window: Window) -> int:
    return len(read_points(target, NodeId(SPACE, series.external_id), window))


def _purge(defs: dg.Definitions, instance: dg.DagsterInstance, resource: OidSyncResource, **config: object) -> bool:
    job = defs.get_job_def(PURGE_JOB)
    result = job.execute_in_process(
        run_config={"ops": {"purge_synced_data": {"config": config}}},
        instance=instance,
        resources={"oid_sync": resource},
        raise_on_error=False,
    )
    return result.success


def test_purge_weeks_and_all(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resource: OidSyncResource,
    small_catalog: list[CatalogSeries],
    target: CogniteClient,
    now_ms: int,
) -> None:
    level = [s for s in small_catalog if OidSyncTranslator().get_group_name(s) == "level"]
    victim, bystander = level
    now = now_ms
    week = history_weeks(now, 1)[0]
    assets = list(defs.assets or [])
    resources = {"oid_sync": resource}
    assert dg.materialize(assets, selection=[CATALOG_KEY, REALTIME_KEY], instance=instance, resources=resources).success
    assert dg.materialize(
        assets, selection=[KEY(s) for s in level], partition_key=key_of(week), instance=instance, resources=resources
    ).success
    closed, open_week = Window(week, week + WEEK_MS), Window(week_start(now), now + 1)
    before = {s.external_id: (_count(target, s, closed), _count(target, s, open_week)) for s in level}
    marks = sync_state.read_states(target, SPACE, [s.external_id for s in level])

    # One closed week of one series: its points and its partition go; realtime's mark and the bystander stay.
    assert _purge(defs, instance, resource, weeks=[key_of(week)], series=victim.external_id)
    assert _count(target, victim, closed) == 0 and _count(target, victim, open_week) == before[victim.external_id][1]
    assert (_count(target, bystander, closed), _count(target, bystander, open_week)) == before[bystander.external_id]
    assert key_of(week) not in instance.get_materialized_partitions(KEY(victim))
    assert key_of(week) in instance.get_materialized_partitions(KEY(bystander))
    assert sync_state.read_states(target, SPACE, [victim.external_id]) == {
        victim.external_id: marks[victim.external_id]
    }

    # The open week: realtime's mark moves back to the week's source start, so realtime refills it.
    assert _purge(defs, instance, resource, weeks=[key_of(week_start(now))], series=victim.external_id)
    assert _count(target, victim, open_week) == 0
    state = sync_state.read_states(target, SPACE, [victim.external_id])[victim.external_id]
    assert state.synced_through == week_start(now) - OFFSET and state.offset_ms == OFFSET
    refill = dg.materialize(assets, selection=[REALTIME_KEY], instance=instance, resources=resources)
    assert refill.success and _count(target, victim, open_week) >= before[victim.external_id][1]

    # All time, every level series: no points, no state (any offset may follow), no partitions.
    assert _purge(defs, instance, resource, weeks=[], series="*")
    everything = Window(week - 20 * WEEK_MS, now + WEEK_MS)  # realtime ran after now_ms too
    assert [_count(target, s, everything) for s in small_catalog] == [0] * len(small_catalog)
    states = sync_state.read_states(target, SPACE, [s.external_id for s in small_catalog])
    assert all(st.offset_ms is None and st.synced_through is None for st in states.values())
    assert all(not instance.get_materialized_partitions(KEY(s)) for s in small_catalog)


def test_purge_refuses_unknown_series_and_bad_weeks(
    defs: dg.Definitions, instance: dg.DagsterInstance, resource: OidSyncResource
) -> None:
    assert not _purge(defs, instance, resource, weeks=[], series="pi:nothing*")
    assert not _purge(defs, instance, resource, weeks=["2026-11-17"], series="*")  # a Tuesday
