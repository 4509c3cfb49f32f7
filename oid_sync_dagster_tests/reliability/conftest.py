"""Reliability fixtures: the engine tests' local CDF on a clock the test moves, and its target client."""

from __future__ import annotations

import pytest
from cognite.client import CogniteClient

from oid_sync_dagster.local_cdf.server import RunningLocalCDF
from oid_sync_dagster_tests.conftest import make_client
from oid_sync_dagster_tests.sync.conftest import cdf, clock  # noqa: F401 (fixtures, shared with the engine tests)


@pytest.fixture
def target(cdf: RunningLocalCDF) -> CogniteClient:  # noqa: F811
    return make_client(cdf, "target")
