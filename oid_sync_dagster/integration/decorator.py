"""`@oid_sync_assets`: weekly-partitioned series assets with a body of your own (the `@fivetran_assets` pattern).

    @oid_sync_assets(name="my_flows", series=flows, partitions_def=weekly_partitions(4, now_ms))
    def my_flows(context: dg.AssetExecutionContext, oid_sync: OidSyncResource):
        context.log.info("before the sync")
        yield from oid_sync.sync_weeks(context)

The built-in shards are made with it too. Each asset carries its source series in its metadata, so
`OidSyncResource.sync_weeks(context)` knows what to copy; each has a per-week `complete` check.

The defaults fit the unnamed instance (resource key `oid_sync`, pool `cdf_api`, after `oid/target_catalog`). Beside
a named one (`name: site_b`), take its names: `deps=[names.target_catalog], pool=names.pool`, and the resource by its
key `site_b_oid_sync` (the parameter's name, or `required_resource_keys`).
"""

# No `from __future__ import annotations`: Dagster inspects the decorated function's annotations at runtime.

import warnings
from collections.abc import Callable, Sequence

import dagster as dg

from oid_sync_dagster.integration.evaluations import COMPLETE_CHECK
from oid_sync_dagster.integration.keys import CATALOG_KEY, POOL, STEP_RETRY, series_metadata
from oid_sync_dagster.integration.translator import OidSyncTranslator
from oid_sync_dagster.sync.model import CatalogSeries

PRIORITY_TAG = "dagster/priority"  # Dagster's op tag: among steps ready to start, higher values start first


def oid_sync_assets(
    *,
    name: str,
    series: Sequence[CatalogSeries],
    partitions_def: dg.PartitionsDefinition,
    translator: OidSyncTranslator | None = None,
    description: str | None = None,
    deps: Sequence[dg.AssetKey] = (CATALOG_KEY,),
    pool: str | None = POOL,
    retry_policy: dg.RetryPolicy | None = STEP_RETRY,
    required_resource_keys: set[str] | None = None,
) -> Callable[[Callable[..., object]], dg.AssetsDefinition]:
    """A multi-asset of one asset per series (keys and groups from `translator`), each with a per-week `complete`
    check; subsettable, one run for any range of weeks (BackfillPolicy.single_run), under `pool`."""
    translator = translator or OidSyncTranslator()
    if not series:
        raise ValueError(f"oid_sync_assets {name!r}: series: no series given")
    specs = [
        translator.get_asset_spec(item, partitions_def).merge_attributes(
            deps=list(deps), metadata=series_metadata(item)
        )
        for item in series
    ]
    with warnings.catch_warnings():
        # Partitioned asset checks are a Dagster preview; per-week completeness is what they exist for.
        warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec")
        check_specs = [
            dg.AssetCheckSpec(
                COMPLETE_CHECK,
                asset=spec.key,
                partitions_def=partitions_def,
                description="Source and target hold the same number of points for the week, and the source has "
                "published the whole week.",
            )
            for spec in specs
        ]
    # Dagster counts a step's check outputs only as check results of a single partition; a run over a range of
    # weeks records each week's `complete` evaluation as its own event, and Dagster's INFO line says the outputs
    # were not yielded. Said once here, where users look, rather than hidden.
    why = (
        "In a run over several weeks Dagster logs that the step 'did not yield or return expected outputs' for "
        "the `complete` checks: each week's check is recorded as its own evaluation, which Dagster does not count "
        "as the step's output. Every checked week is in the asset's check history."
    )
    return dg.multi_asset(
        name=name,
        specs=specs,
        check_specs=check_specs,
        can_subset=True,
        pool=pool,
        # Dagster's step priority tag: when the pool holds steps back, the shards with the most series go first, so
        # a run over a range does not end with its largest step running alone.
        op_tags={PRIORITY_TAG: str(len(series))},
        retry_policy=retry_policy,
        backfill_policy=dg.BackfillPolicy.single_run(),
        required_resource_keys=required_resource_keys,
        description=f"{description}\n\n{why}" if description else why,
    )
