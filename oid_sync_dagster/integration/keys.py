"""The names the integration's parts share: asset keys, check names, the pool, the step retry policy, and the
metadata key that carries each series asset's source series (so a resource method knows what to sync)."""

import json
from collections.abc import Mapping
from dataclasses import asdict

import dagster as dg

from oid_sync_dagster.sync.model import CatalogSeries

POOL = "cdf_api"  # every op that calls CDF; dagster.yaml limits how many run at once
SOURCE_KEY = dg.AssetKey(["oid", "source_catalog"])
CATALOG_KEY = dg.AssetKey(["oid", "target_catalog"])
REALTIME_KEY = dg.AssetKey(["oid", "realtime"])
TYPES_CHECK = "types_match"
DRIFT_CHECK = "source_not_drifted"
# The SDK retries throttling and 5xx on idempotent requests, but not a token fetch, a 5xx on a non-idempotent POST
# or a stalled one, and it gives up after 10 retries. A step that still fails with an error a retry may heal is
# run again whole (the sync is idempotent: it rewrites the same points) after about 10, 30 and 70 s, which
# outlasts a token-endpoint outage of a minute. Refusals (a missing node, a type conflict) are not retried; run
# retries (dagster.yaml) cover a run worker that died.
STEP_RETRY = dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
FRESH_CHECK = "fresh"
FUTURE_CHECK = "no_future_points"
SERIES_METADATA_KEY = "oid_sync/series"  # on every series asset: its source series, as JSON


def series_metadata(series: CatalogSeries) -> dict[str, object]:
    return {SERIES_METADATA_KEY: dg.MetadataValue.json(asdict(series))}


def series_of_specs(
    specs: "list[dg.AssetSpec] | Mapping[dg.AssetKey, dg.AssetSpec]",
) -> dict[dg.AssetKey, CatalogSeries]:
    """The source series of each asset built by `@oid_sync_assets` (or the built-in shards), by asset key."""
    found = {}
    for spec in specs.values() if isinstance(specs, Mapping) else specs:
        value = spec.metadata.get(SERIES_METADATA_KEY)
        if value is None:
            continue
        raw = value.value if isinstance(value, dg.MetadataValue) else value
        found[spec.key] = CatalogSeries(**(json.loads(raw) if isinstance(raw, str) else raw))
    return found
