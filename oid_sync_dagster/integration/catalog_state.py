"""The source catalog as the component's state: which series exist, with their names, types and units.

OidSyncComponent (a dg.StateBackedComponent) writes it when a code server starts and rebuilds its definitions
from it in run and step workers, without calling the source. Reloading the code location (the UI's "Reload")
fetches it again: that is how added or removed source series are picked up. The state is our own JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from oid_sync_dagster.integration.resources import OidSyncResource
from oid_sync_dagster.sync.engine import wall_clock_ms
from oid_sync_dagster.sync.model import CatalogSeries


@dataclass(frozen=True)
class SeriesEntry:
    external_id: str
    name: str | None
    description: str | None
    is_string: bool
    is_step: bool
    unit: str | None
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class CatalogState:
    fetched_at_ms: int
    series: Sequence[SeriesEntry]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CatalogState:
        raw = json.loads(text)
        return cls(fetched_at_ms=raw["fetched_at_ms"], series=tuple(SeriesEntry(**e) for e in raw["series"]))

    def catalog(self) -> list[CatalogSeries]:
        return [
            CatalogSeries(
                external_id=e.external_id,
                name=e.name,
                description=e.description,
                is_string=e.is_string,
                is_step=e.is_step,
                unit=e.unit,
                metadata=dict(e.metadata),
            )
            for e in self.series
        ]


def state_of(catalog: Sequence[CatalogSeries], fetched_at_ms: int) -> CatalogState:
    return CatalogState(
        fetched_at_ms=fetched_at_ms,
        series=tuple(
            SeriesEntry(
                external_id=s.external_id,
                name=s.name,
                description=s.description,
                is_string=s.is_string,
                is_step=s.is_step,
                unit=s.unit,
                metadata=dict(s.metadata),
            )
            for s in catalog
        ),
    )


def fetch_catalog_state(resource: OidSyncResource) -> CatalogState:
    """The source catalog now, read as a run would (EnvVars resolved, the local CDF started and stopped if needed)."""
    with resource.process_config_and_initialize_cm() as initialized:
        return state_of(initialized.engine.list_catalog(), wall_clock_ms())
