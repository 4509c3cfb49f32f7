"""Engine fixtures: a local CDF whose clock the test moves, and an engine over a small, mixed subset of OID."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeId

from oid_sync_dagster.config import SyncConfig
from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.sync.engine import EngineSettings, SyncEngine
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.windows import Window
from oid_sync_dagster_tests.conftest import FROZEN_NOW_S, make_client

FROZEN_NOW_MS = int(FROZEN_NOW_S * 1000)


@dataclass
class Clock:
    """One 'now' shared by the local CDF (its published edge) and the engine, moved by the test."""

    now_ms: int = FROZEN_NOW_MS

    def seconds(self) -> float:
        return self.now_ms / 1000

    def ms(self) -> int:
        return self.now_ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cdf(tmp_path: Path, clock: Clock) -> Iterator[RunningLocalCDF]:
    with serve_in_thread(LocalCDFSettings(data_dir=tmp_path / "local-cdf", clock=clock.seconds)) as running:
        yield running


@pytest.fixture
def source_client(cdf: RunningLocalCDF) -> CogniteClient:
    return make_client(cdf, "publicdata")


@pytest.fixture
def target_client(cdf: RunningLocalCDF) -> CogniteClient:
    return make_client(cdf, "target")


def engine_for(
    source: CogniteClient, target: CogniteClient, clock: Clock, config: SyncConfig | None = None, **overrides: object
) -> SyncEngine:
    settings = EngineSettings.from_config(config or SyncConfig())
    if overrides:
        settings = replace(settings, **overrides)  # type: ignore[arg-type]
    return SyncEngine(source, target, settings, clock=clock.ms)


@pytest.fixture
def engine(source_client: CogniteClient, target_client: CogniteClient, clock: Clock) -> SyncEngine:
    return engine_for(source_client, target_client, clock)


@pytest.fixture
def subset(engine: SyncEngine) -> list[CatalogSeries]:
    """Four analog (one of them step), two digital and two string series: every kind the copy must handle."""
    catalog = engine.list_catalog()
    by_type: dict[str, list[CatalogSeries]] = {}
    for item in catalog:
        by_type.setdefault(item.metadata.get("pointtype", ""), []).append(item)
    floats = by_type["Float32"]
    steps = [s for s in floats if s.is_step][:1]
    chosen = [s for s in floats if not s.is_step][:3] + steps + by_type["Digital"][:2] + by_type["String"][:2]
    assert len(chosen) == 8 and len(steps) == 1
    return chosen


@dataclass
class Points:
    timestamps: np.ndarray  # int64 ms
    values: np.ndarray
    status: np.ndarray  # uint32 codes

    def __len__(self) -> int:
        return len(self.timestamps)


def read_points(client: CogniteClient, ident: str | NodeId, window: Window) -> Points:
    """Every point in the window, Bad ones included, as plain arrays (ground truth for comparisons)."""
    key = {"instance_id": ident} if isinstance(ident, NodeId) else {"external_id": ident}
    array = client.time_series.data.retrieve_arrays(
        **key,
        start=window.start,
        end=window.end,
        limit=None,
        include_status=True,
        ignore_bad_datapoints=False,
        treat_uncertain_as_bad=False,
    )
    timestamps = array.timestamp.astype("datetime64[ms]").astype(np.int64)
    status = array.status_code if array.status_code is not None else np.zeros(len(timestamps), dtype=np.uint32)
    return Points(timestamps, array.value, status)


def assert_same_points(actual: Points, expected: Points) -> None:
    np.testing.assert_array_equal(actual.timestamps, expected.timestamps)
    np.testing.assert_array_equal(actual.status, expected.status)
    if expected.values.dtype == object:
        assert actual.values.tolist() == expected.values.tolist()
    else:
        np.testing.assert_array_equal(actual.values, expected.values)  # NaN equals NaN here
