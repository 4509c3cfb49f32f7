"""The assets: the target catalog, one weekly-partitioned asset per series (sharded by instrument group), and
the realtime edge. Every op body is a thin call into the engine plus the events that describe its result."""

# No `from __future__ import annotations`: Dagster inspects the op and sensor annotations at runtime.

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import timedelta

import dagster as dg

from oid_sync_dagster.integration.decorator import oid_sync_assets
from oid_sync_dagster.integration.keys import (
    CATALOG_KEY,
    DEFAULT_NAMES,
    DRIFT_CHECK,
    FRESH_CHECK,
    FUTURE_CHECK,
    POOL,
    REALTIME_KEY,
    SOURCE_KEY,
    STEP_RETRY,
    TYPES_CHECK,
    Names,
)
from oid_sync_dagster.integration.records import CatalogRecord
from oid_sync_dagster.integration.resources import OidSyncResource
from oid_sync_dagster.integration.steps import refusals_fail_at_once
from oid_sync_dagster.integration.translator import OidSyncTranslator
from oid_sync_dagster.sync.model import CatalogSeries

__all__ = ["CATALOG_KEY", "POOL", "REALTIME_KEY", "SOURCE_KEY", "STEP_RETRY", "build_series_assets"]


def source_catalog_spec(names: Names = DEFAULT_NAMES) -> dg.AssetSpec:
    return dg.AssetSpec(
        names.source_catalog,
        group_name=names.group("catalog"),
        description="The source's time series (OID publicdata, or the local CDF's synthetic copy); read only.",
        kinds={"cognite"},
    )


def resource_of(context: dg.AssetExecutionContext | dg.OpExecutionContext, names: Names) -> OidSyncResource:
    """The instance's resource (keyed per instance, so two instances hold two configurations)."""
    return getattr(context.resources, names.resource)


# ---------- series ----------


def build_series_assets(
    catalog: Sequence[CatalogSeries],
    translator: OidSyncTranslator,
    partitions_def: dg.PartitionsDefinition,
    retry_policy: dg.RetryPolicy = STEP_RETRY,
    names: Names = DEFAULT_NAMES,
) -> list[dg.AssetsDefinition]:
    """One multi-asset per group: few steps to schedule, parallel under the pool, one run for a whole range."""
    by_group: dict[str, list[CatalogSeries]] = defaultdict(list)
    for item in catalog:
        by_group[translator.get_group_name(item)].append(item)
    return [
        _shard(group, members, translator, partitions_def, retry_policy, names)
        for group, members in sorted(by_group.items())
    ]


def _shard(
    group: str,
    members: list[CatalogSeries],
    translator: OidSyncTranslator,
    partitions_def: dg.PartitionsDefinition,
    retry_policy: dg.RetryPolicy,
    names: Names,
) -> dg.AssetsDefinition:
    @oid_sync_assets(
        name=names.shard(group),
        series=members,
        partitions_def=partitions_def,
        translator=translator,
        deps=[names.target_catalog],
        pool=names.pool,
        retry_policy=retry_policy,
        required_resource_keys={names.resource},
        description=f"Weekly history of the {group} series.",
    )
    def _sync(context: dg.AssetExecutionContext) -> Iterator[object]:
        yield from resource_of(context, names).sync_weeks(context)

    return _sync


# ---------- catalog ----------


def build_catalog_asset(
    catalog: Sequence[CatalogSeries], retry_policy: dg.RetryPolicy = STEP_RETRY, names: Names = DEFAULT_NAMES
) -> dg.AssetsDefinition:
    loaded = {s.external_id: s for s in catalog}

    @dg.asset(
        key=names.target_catalog,
        group_name=names.group("catalog"),
        deps=[names.source_catalog],
        pool=names.live_pool,
        retry_policy=retry_policy,
        required_resource_keys={names.resource},
        kinds={"cognite"},
        description="CogniteTimeSeries nodes for every source series in the target's instance space, plus "
        "the sync-state schema.",
        check_specs=[
            dg.AssetCheckSpec(
                TYPES_CHECK, asset=names.target_catalog, description="Every target node has its source's type."
            ),
            dg.AssetCheckSpec(
                DRIFT_CHECK, asset=names.target_catalog, description="The source lists the series this location loaded."
            ),
        ],
    )
    def target_catalog(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        oid_sync = resource_of(context, names)
        engine = oid_sync.engine
        with refusals_fail_at_once():
            outcome = engine.sync_catalog(list(loaded.values()))
            current = {s.external_id for s in engine.list_catalog()}
        added, removed = sorted(current - loaded.keys()), sorted(loaded.keys() - current)
        for problem in outcome.problems.values():
            context.log.warning(problem)
        drift = (
            f"source added {len(added)} series ({', '.join(added[:10])}) and removed {len(removed)} "
            f"({', '.join(removed[:10])}); reload the code location (Deployment > Reload) to pick them up"
        )
        return dg.MaterializeResult(
            metadata=CatalogRecord(
                series=len(loaded),
                created=len(outcome.created),
                updated=len(outcome.updated),
                unchanged=len(outcome.unchanged),
                conflicts=len(outcome.conflicts),
                missing=len(outcome.missing),
                mode=oid_sync.mode,
            ).to_metadata(),
            check_results=[
                dg.AssetCheckResult(
                    check_name=TYPES_CHECK,
                    passed=not outcome.problems,
                    metadata={"conflicts": len(outcome.conflicts), "missing": len(outcome.missing)},
                    description="; ".join(list(outcome.problems.values())[:10]) or "all nodes match",
                ),
                dg.AssetCheckResult(
                    check_name=DRIFT_CHECK,
                    passed=not added and not removed,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"added": len(added), "removed": len(removed)},
                    description=drift if added or removed else "unchanged since the location loaded",
                ),
            ],
        )

    return target_catalog


# ---------- realtime ----------


def build_realtime_asset(
    catalog: Sequence[CatalogSeries],
    *,
    warn_lag_s: float,
    error_lag_s: float,
    retry_policy: dg.RetryPolicy = STEP_RETRY,
    names: Names = DEFAULT_NAMES,
) -> dg.AssetsDefinition:
    @dg.asset(
        key=names.realtime,
        group_name=names.group("realtime"),
        deps=[names.target_catalog],
        pool=names.live_pool,
        retry_policy=retry_policy,
        required_resource_keys={names.resource},
        kinds={"cognite"},
        # Time since the last realtime pass (the UI's fresh/stale); the `fresh` check measures the data's own lag.
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=timedelta(seconds=error_lag_s),
            warn_window=timedelta(seconds=warn_lag_s) if warn_lag_s < error_lag_s else None,
        ),
        description="The open edge: every series from its synced-through mark to the source's published edge, "
        "shifted and cut at now. Driven by the realtime sensor; downtime heals on the next run.",
        check_specs=[
            dg.AssetCheckSpec(FRESH_CHECK, asset=names.realtime, description="Realtime lag is within bounds."),
            dg.AssetCheckSpec(FUTURE_CHECK, asset=names.realtime, description="No target point lies after now."),
        ],
    )
    def realtime(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return resource_of(context, names).sync_realtime(
            context, catalog, warn_lag_s=warn_lag_s, error_lag_s=error_lag_s
        )

    return realtime
