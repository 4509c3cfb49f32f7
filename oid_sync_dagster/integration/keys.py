"""The names the integration's parts share: asset keys, check names, the pool, the step retry policy, and the
metadata key that carries each series asset's source series (so a resource method knows what to sync)."""

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import dagster as dg

from oid_sync_dagster.sync.model import CatalogSeries

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


@dataclass(frozen=True)
class Names:
    """Every name one instance of the sync defines. The default instance keeps the names it always had (`oid/...`,
    `oid_realtime`, pool `cdf_api`); a named one (`OidSyncComponent` attribute `name: site_b`) prefixes them all,
    so two instances load side by side in one project and their sensors never wait on each other's runs."""

    name: str | None = None

    def __post_init__(self) -> None:
        if self.name is not None and not NAME_PATTERN.match(self.name):
            raise ValueError(
                f"name: lower-case letters, digits and underscores, starting with a letter (got {self.name!r})"
            )
        if self.name == "oid":
            raise ValueError("name: 'oid' is the unnamed instance's prefix; leave name unset or choose another")

    @property
    def root(self) -> str:
        return self.name or "oid"

    def key(self, *parts: str) -> dg.AssetKey:
        return dg.AssetKey([self.root, *parts])

    @property
    def source_catalog(self) -> dg.AssetKey:
        return self.key("source_catalog")

    @property
    def target_catalog(self) -> dg.AssetKey:
        return self.key("target_catalog")

    @property
    def realtime(self) -> dg.AssetKey:
        return self.key("realtime")

    def job(self, kind: str) -> str:
        """'realtime' -> oid_realtime; 'history', 'purge' likewise."""
        return f"{self.root}_{kind}"

    def sensor(self, kind: str) -> str:
        return f"{self.root}_{kind}_sensor"

    def group(self, group: str) -> str:
        """The catalog's and realtime's asset groups (series groups come from the translator)."""
        return group if self.name is None else f"{self.name}_{group}"

    def op(self, name: str) -> str:
        return name if self.name is None else f"{self.name}_{name}"

    def shard(self, group: str) -> str:
        return f"{self.root}_{group}_series"

    @property
    def resource(self) -> str:
        """The OidSyncResource's key: two instances hold two differently configured resources."""
        return "oid_sync" if self.name is None else f"{self.name}_oid_sync"

    @property
    def pool(self) -> str:
        """Every op that calls CDF holds it; dagster.yaml limits how many run at once."""
        return "cdf_api" if self.name is None else f"{self.name}_cdf_api"

    @property
    def live_pool(self) -> str:
        """The realtime and catalog steps' pool: the live edge never queues behind history steps holding `pool`."""
        return f"{self.pool}_live"

    def kind(self, kind: str) -> str:
        """The value of the `oid_sync/kind` run tag: what the sensors wait on."""
        return kind if self.name is None else f"{self.name}/{kind}"


DEFAULT_NAMES = Names()
POOL = DEFAULT_NAMES.pool
SOURCE_KEY = DEFAULT_NAMES.source_catalog
CATALOG_KEY = DEFAULT_NAMES.target_catalog
REALTIME_KEY = DEFAULT_NAMES.realtime
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
