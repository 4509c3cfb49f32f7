"""The whole code location from the loaded catalog: assets, checks, jobs, sensors, schedule, resource."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import dagster as dg

from oid_sync_dagster.config import SyncConfig
from oid_sync_dagster.integration.assets import (
    STEP_RETRY,
    build_catalog_asset,
    build_realtime_asset,
    build_series_assets,
    source_catalog_spec,
)
from oid_sync_dagster.integration.catalog_state import CatalogState
from oid_sync_dagster.integration.keys import DEFAULT_NAMES, Names
from oid_sync_dagster.integration.links import chart_links
from oid_sync_dagster.integration.partitions import weekly_partitions
from oid_sync_dagster.integration.purge import build_purge_job
from oid_sync_dagster.integration.resources import OidSyncResource
from oid_sync_dagster.integration.sensors import (
    KIND_TAG,
    build_history_sensor,
    build_realtime_schedule,
    build_realtime_sensor,
)
from oid_sync_dagster.integration.translator import OidSyncTranslator
from oid_sync_dagster.sync.engine import wall_clock_ms
from oid_sync_dagster.sync.windows import WEEK_MS, week_start

REALTIME_MAX_RUNTIME_S = 3600  # a realtime pass takes seconds to minutes; catch-up after an outage is capped
# A history run's step processes fork from a server that imported Dagster, the SDK, numpy and this package once for
# the run, instead of each importing them in a fresh interpreter: about 2 s sooner and 2 CPU seconds cheaper a step,
# and a 12-week range runs six steps. The rest of the multiprocess executor's config (max_concurrent, retries, ...)
# stays the launchpad's to set; a start method given there wins.
FORKSERVER = {"forkserver": {"preload_modules": ["dagster", "oid_sync_dagster.integration.component"]}}


def _with_forkserver(config: dict) -> dict:
    return {**config, "start_method": config.get("start_method") or FORKSERVER}


HISTORY_EXECUTOR = dg.multiprocess_executor.configured(
    _with_forkserver, config_schema=dg.multiprocess_executor.config_schema
)


def _reset_token(config: SyncConfig) -> str | None:
    """The legacy reset_backfill, acted on once per distinct config (its content is the token)."""
    if not config.sync_configuration.reset_backfill:
        return None
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]


def build_definitions(
    state: CatalogState,
    *,
    config: SyncConfig,
    resource: OidSyncResource,
    translator: OidSyncTranslator | None = None,
    realtime_interval_s: int = 60,
    history_interval_s: int = 30,
    history_max_attempts: int = 3,
    history_weeks_per_run: int | None = None,
    history_sensor_running: bool = True,
    realtime_warn_lag_s: float = 15 * 60,
    realtime_error_lag_s: float = 60 * 60,
    clock: Callable[[], int] = wall_clock_ms,
    step_retry: dg.RetryPolicy = STEP_RETRY,
    names: Names = DEFAULT_NAMES,
) -> dg.Definitions:
    translator = translator or OidSyncTranslator(key_prefix=(names.root,))
    catalog = state.catalog()
    n_weeks = config.sync_configuration.history_weeks
    partitions_def = weekly_partitions(n_weeks, state.fetched_at_ms)
    series_assets = build_series_assets(catalog, translator, partitions_def, step_retry, names)
    # Each series links to its chart (the local viewer, or CDF's UI), the realtime edge to the plant overview.
    links = chart_links(resource, config)
    by_key = {translator.get_asset_key(s): s.external_id for s in catalog}
    series_assets = dg.map_asset_specs(
        lambda spec: (
            spec.merge_attributes(metadata=links.series_metadata(by_key[spec.key])) if spec.key in by_key else spec
        ),
        series_assets,
    )
    series_keys = [key for shard in series_assets for key in shard.keys]
    realtime_job = dg.define_asset_job(
        names.job("realtime"),
        selection=[names.target_catalog, names.realtime],
        # Run monitoring fails a realtime run stuck past this (its worker gone with a killed `oid-sync dev`, which
        # no code server is left to notice): the realtime sensor waits for no run longer.
        tags={KIND_TAG: names.kind("realtime"), "dagster/max_runtime": str(REALTIME_MAX_RUNTIME_S)},
        # Its two steps run one after the other, so a process each buys no parallelism, only cost: every spawned
        # step process imports Dagster and loads the code location again (about 5 s of CPU), once a minute.
        executor_def=dg.in_process_executor,
    )
    # The catalog is in the history job too: on a target never synced, the history sensor's first run brings it
    # along (the series steps run after it, their upstream) instead of waiting for the realtime run to make it.
    history_job = dg.define_asset_job(
        names.job("history"),
        selection=[names.target_catalog, *series_keys],
        tags={KIND_TAG: names.kind("history")},
        executor_def=HISTORY_EXECUTOR,
    )
    first_week = week_start(state.fetched_at_ms) - n_weeks * WEEK_MS
    return dg.Definitions(
        assets=[
            source_catalog_spec(names),
            build_catalog_asset(catalog, step_retry, names),
            *series_assets,
            build_realtime_asset(
                catalog,
                warn_lag_s=realtime_warn_lag_s,
                error_lag_s=realtime_error_lag_s,
                retry_policy=step_retry,
                names=names,
            ).map_asset_specs(lambda spec: spec.merge_attributes(metadata=links.overview_metadata())),
        ],
        jobs=[realtime_job, history_job, build_purge_job(catalog, translator, names)],
        sensors=[
            build_realtime_sensor(realtime_job.name, realtime_interval_s, state.fetched_at_ms, names),
            build_history_sensor(
                history_job.name,
                series_keys,
                n_weeks,
                first_week,
                interval_s=history_interval_s,
                max_attempts=history_max_attempts,
                weeks_per_run=history_weeks_per_run,
                reset_token=_reset_token(config),
                clock=clock,
                names=names,
                running=history_sensor_running,
            ),
        ],
        schedules=[build_realtime_schedule(realtime_job.name, names)],
        resources={names.resource: resource},
    )
