"""The source catalog as Dagster definitions state: fetched once per code-server start, not per run worker.

StateBackedDefinitionsLoader (the mechanism dagster-fivetran and dagster-airbyte use) calls fetch_state when
the code location initializes and stores the result in the definitions' reconstruction metadata; run and
step workers rebuild the same definitions from that stored state without calling the source. Reloading the
code location (the UI's "Reload") fetches it again: that is how added or removed source series are picked up.

The state travels as a JSON string (our own format, plain dataclasses), so nothing here depends on Dagster's
private serdes records. The loader itself is not exported by `dagster` (issue 11 moves it to the public
`dg.StateBackedComponent`); it is this package's one import of a private Dagster module besides evaluations.py's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import dagster as dg
from dagster._core.definitions.definitions_load_context import StateBackedDefinitionsLoader

from oid_sync_dagster.defs.resources import OidSyncResource
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


class OidCatalogLoader(StateBackedDefinitionsLoader[str]):
    """The state is CatalogState.to_json(): a string, which Dagster stores and hands back as it is."""

    def __init__(self, resource: OidSyncResource, build: Callable[[CatalogState], dg.Definitions]) -> None:
        self._resource, self._build = resource, build

    @property
    def defs_key(self) -> str:
        return "oid_sync/source_catalog"

    def fetch_state(self) -> str:
        # Initialized as a run would (EnvVars resolved, the local CDF started if needed, stopped afterwards).
        with self._resource.process_config_and_initialize_cm() as resource:
            prefix = resource.sync_config().sync_configuration.external_id_prefix
            return state_of(resource.engine.list_catalog(prefix), wall_clock_ms()).to_json()

    def defs_from_state(self, state: str) -> dg.Definitions:
        return self._build(CatalogState.from_json(state))
