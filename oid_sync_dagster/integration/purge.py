"""The purge job: delete the target's synced data and sync state for chosen weeks and series (or all), and wipe
the matching Dagster partitions, so Dagster's record and the target agree and history refills cleanly."""

# No `from __future__ import annotations`: Dagster inspects the op's annotations at runtime.
import fnmatch
from collections.abc import Sequence

import dagster as dg
from pydantic import Field

from oid_sync_dagster.integration.keys import DEFAULT_NAMES, Names
from oid_sync_dagster.integration.partitions import key_of, week_of
from oid_sync_dagster.integration.resources import OidSyncResource
from oid_sync_dagster.integration.translator import OidSyncTranslator
from oid_sync_dagster.sync.model import CatalogSeries

PURGE_JOB = DEFAULT_NAMES.job("purge")


class PurgeConfig(dg.Config):
    weeks: list[str] = Field(
        default_factory=list, description="Week partition keys (Mondays, e.g. 2026-11-16); empty: all time."
    )
    series: str = Field("*", description="Glob over source external ids, e.g. 'pi:1606*'; '*' is every series.")


def select_series(catalog: Sequence[CatalogSeries], pattern: str) -> list[CatalogSeries]:
    chosen = [s for s in catalog if fnmatch.fnmatchcase(s.external_id, pattern)]
    if not chosen:
        raise dg.Failure(f"series: no loaded series matches {pattern!r} (external ids look like 'pi:160696')")
    return chosen


def _wipe_partitions(instance: dg.DagsterInstance, keys: list[dg.AssetKey], purged: set[str] | None) -> None:
    """Forget the purged partitions in Dagster's record.

    Dagster's SQL event-log storages (SQLite, Postgres) cannot wipe single partitions ("Partitioned asset wipe is
    not supported yet"), so each affected asset is wiped whole and the weeks that still hold their data are
    recorded again as runless materializations, marked as restored. Their check history goes with the wipe.
    """
    for asset_key in keys:
        kept = set() if purged is None else instance.get_materialized_partitions(asset_key) - purged
        instance.wipe_assets([asset_key])
        for pk in sorted(kept):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=asset_key,
                    partition=pk,
                    description="kept by a purge of other weeks",
                    metadata={"restored_after_purge": True},
                )
            )


def build_purge_job(
    catalog: Sequence[CatalogSeries], translator: OidSyncTranslator, names: Names = DEFAULT_NAMES
) -> dg.JobDefinition:
    @dg.op(name=names.op("purge_synced_data"), pool=names.pool, required_resource_keys={names.resource})
    def purge_synced_data(context: dg.OpExecutionContext, config: PurgeConfig) -> None:
        oid_sync: OidSyncResource = getattr(context.resources, names.resource)
        try:
            weeks = [week_of(pk) for pk in config.weeks] if config.weeks else None
        except ValueError as error:
            raise dg.Failure(f"weeks: {error}") from None
        chosen = select_series(catalog, config.series)
        result = oid_sync.engine.purge(chosen, weeks)
        keys = [translator.get_asset_key(s) for s in chosen if s.external_id in set(result.series)]
        _wipe_partitions(context.instance, keys, None if weeks is None else {key_of(w) for w in weeks})
        what = "all time" if weeks is None else ", ".join(config.weeks)
        context.log.info(
            f"purged {len(result.series)} series for {what}; {result.states_reset} sync states reset; "
            f"{len(keys)} assets' partitions wiped"
            + (f"; no target time series for {', '.join(result.absent[:10])}" if result.absent else "")
        )

    @dg.job(
        name=names.job("purge"),
        description="Delete synced target data and sync state, and wipe the matching partitions.",
    )
    def oid_purge() -> None:
        purge_synced_data()

    return oid_purge
