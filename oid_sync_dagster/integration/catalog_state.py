"""The source catalog as the component's state: which series exist, with their names, types and units.

OidSyncComponent (a dg.StateBackedComponent) writes it when a code server starts and rebuilds its definitions
from it in run and step workers, without calling the source. Reloading the code location (the UI's "Reload")
fetches it again: that is how added or removed source series are picked up. The state is our own JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from oid_sync_dagster.config import ConfigError
from oid_sync_dagster.integration.resources import OidSyncResource
from oid_sync_dagster.sync.engine import wall_clock_ms
from oid_sync_dagster.sync.model import CatalogSeries


@dataclass(frozen=True)
class CatalogState:
    """The source catalog when it was fetched: the series, as the engine's own CatalogSeries records."""

    fetched_at_ms: int
    series: Sequence[CatalogSeries]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CatalogState:
        raw = json.loads(text)
        return cls(fetched_at_ms=raw["fetched_at_ms"], series=tuple(CatalogSeries(**e) for e in raw["series"]))

    def catalog(self) -> list[CatalogSeries]:
        return list(self.series)


def state_of(catalog: Sequence[CatalogSeries], fetched_at_ms: int) -> CatalogState:
    return CatalogState(fetched_at_ms=fetched_at_ms, series=tuple(catalog))


def fetch_catalog_state(resource: OidSyncResource) -> CatalogState:
    """The source catalog now, read as a run would (EnvVars resolved, the local CDF started and stopped if needed)."""
    with resource.process_config_and_initialize_cm() as initialized:
        catalog = initialized.engine.list_catalog()
        wanted = initialized.engine.settings.external_ids
        if wanted is not None and (missing := sorted(set(wanted) - {s.external_id for s in catalog})):
            raise ConfigError(f"sync_configuration.external_ids: not in the source: {', '.join(missing[:20])}")
        return state_of(catalog, wall_clock_ms())
