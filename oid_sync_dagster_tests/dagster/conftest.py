"""Dagster fixtures: a real instance, the in-process local CDF on the wall clock, and the code location built
from a small mixed catalog (every group and kind) so a week materializes in seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from cognite.client import CogniteClient

from oid_sync_dagster.config import SyncConfig
from oid_sync_dagster.integration.build import build_definitions
from oid_sync_dagster.integration.catalog_state import CatalogState, state_of
from oid_sync_dagster.integration.resources import OidSyncResource
from oid_sync_dagster.integration.translator import instrument_group
from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.sync.catalog import list_source_series
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster_tests.conftest import make_client

TARGET = "target"


@pytest.fixture
def live_cdf(tmp_path: Path) -> Iterator[RunningLocalCDF]:
    """Dagster runs on the wall clock, so this local CDF does too."""
    with serve_in_thread(LocalCDFSettings(data_dir=tmp_path / "local-cdf")) as cdf:
        yield cdf


@pytest.fixture
def resource(live_cdf: RunningLocalCDF) -> OidSyncResource:
    return OidSyncResource(local_cdf_url=live_cdf.base_url, local_target_project=TARGET)


@pytest.fixture
def source(live_cdf: RunningLocalCDF) -> CogniteClient:
    return make_client(live_cdf, "publicdata")


@pytest.fixture
def target(live_cdf: RunningLocalCDF) -> CogniteClient:
    return make_client(live_cdf, TARGET)


@pytest.fixture
def small_catalog(source: CogniteClient) -> list[CatalogSeries]:
    """Two series of every instrument group, and both string series' kinds."""
    catalog = list_source_series(source, "pi:")
    chosen: list[CatalogSeries] = []
    for group in ("pressure", "temperature", "flow", "level", "machine", "other"):
        chosen += [s for s in catalog if instrument_group(s) == group and not s.is_string][:2]
    chosen += [s for s in catalog if s.is_string][:2]
    return chosen


@pytest.fixture
def now_ms() -> int:
    """The test's one reading of the wall clock: its weeks, the catalog's anchor and the history sensor's clock all
    come from it, so a Monday 00:00 crossed during the test cannot put two of them in different weeks."""
    return int(time.time() * 1000)


@pytest.fixture
def state(small_catalog: list[CatalogSeries], now_ms: int) -> CatalogState:
    return state_of(small_catalog, now_ms)


@pytest.fixture
def defs(state: CatalogState, resource: OidSyncResource, now_ms: int) -> dg.Definitions:
    return build_definitions(state, config=SyncConfig(), resource=resource, clock=lambda: now_ms)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def materialize(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resource: OidSyncResource,
    selection: object,
    **kwargs: object,
) -> dg.ExecuteInProcessResult:
    """Materialize a selection of the location in-process on a real instance; errors stay in the result."""
    return dg.materialize(
        list(defs.assets or []),
        selection=selection,  # type: ignore[arg-type]
        instance=instance,
        resources={"oid_sync": resource},
        raise_on_error=False,
        **kwargs,  # type: ignore[arg-type]
    )
