"""Fixtures for the local CDF's integration tests: the ground truth of `publicdata`, raw HTTP access, a clock.

The ground truth is built here from the settings alone (catalog seed, density, history span, lag), not taken
from the server, so a server that generated or clipped the source differently would fail the tests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import numpy as np
import pytest

from oid_sync_dagster.local_cdf.server import RunningLocalCDF
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.local_cdf.status import BAD, UNCERTAIN
from oid_sync_dagster.local_cdf.synthetic import Points, SourceSeries, SyntheticSource, synthetic_catalog
from oid_sync_dagster_tests.conftest import FROZEN_NOW_S

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
NOW_MS = int(FROZEN_NOW_S * 1000)
LAG_MS = 168 * HOUR_MS
EDGE_MS = NOW_MS - LAG_MS  # the newest published timestamp of the frozen source


@dataclass
class Truth:
    """What `publicdata` holds under the frozen clock: SyntheticSource.points clipped to the published edge."""

    generator: SyntheticSource
    edge: int

    @property
    def catalog(self) -> tuple[SourceSeries, ...]:
        return self.generator.catalog

    def series(self, external_id: str) -> SourceSeries:
        return self.generator.by_external_id[external_id]

    def points(self, external_id: str, start: int, end: int, limit: int | None = None) -> Points:
        return self.generator.points(self.series(external_id), start, min(end, self.edge + 1), limit)

    def kept(
        self, external_id: str, start: int, end: int, *, ignore_bad: bool = True, uncertain_as_bad: bool = True
    ) -> Points:
        """The points a read with these status options returns."""
        return keep(self.points(external_id, start, end), ignore_bad=ignore_bad, uncertain_as_bad=uncertain_as_bad)

    def of_kind(self, kind: str) -> list[str]:
        return [s.external_id for s in self.catalog if s.kind == kind]


def keep(points: Points, *, ignore_bad: bool = True, uncertain_as_bad: bool = True) -> Points:
    category = points.status & np.uint32(0xC0000000)
    mask = np.ones(len(points.timestamps), bool)
    if ignore_bad:
        mask &= category != BAD
        if uncertain_as_bad:
            mask &= category != UNCERTAIN
    return Points(points.timestamps[mask], points.values[mask], points.status[mask])


def truth_for(settings: LocalCDFSettings) -> Truth:
    now_ms = settings.now_ms()
    history_start = (now_ms - settings.history_days * DAY_MS) // DAY_MS * DAY_MS
    generator = SyntheticSource(
        synthetic_catalog(settings.catalog_seed), density=settings.density, history_start_ms=history_start
    )
    return Truth(generator, now_ms - settings.source_lag_ms)


@pytest.fixture
def truth(local_cdf: RunningLocalCDF) -> Truth:
    assert local_cdf.settings.catalog_csv is None, "the tests expect the synthetic catalog"
    result = truth_for(local_cdf.settings)
    assert result.edge == EDGE_MS
    return result


def fetch_token(cdf: RunningLocalCDF) -> str:
    response = httpx2.post(
        cdf.token_url,
        data={"grant_type": "client_credentials", "client_id": cdf.client_id, "client_secret": cdf.client_secret},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def http(local_cdf: RunningLocalCDF) -> Iterator[httpx2.Client]:
    """A plain HTTP client with a valid bearer token, rooted at the server (paths start with /api/...)."""
    headers = {"authorization": f"Bearer {fetch_token(local_cdf)}", "accept": "application/json"}
    with httpx2.Client(base_url=local_cdf.base_url, headers=headers, timeout=60) as client:
        yield client


def api(project: str, path: str) -> str:
    return f"/api/v1/projects/{project}{path}"


def error_of(response: httpx2.Response) -> dict[str, Any]:
    """CDF's error body: `{"error": {"code": <the HTTP status>, "message": str, ...}}`."""
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == response.status_code
    assert isinstance(error["message"], str) and error["message"]
    return error


class MutableClock:
    """A settings clock (seconds) that a test moves explicitly; thread safe."""

    def __init__(self, now_s: float) -> None:
        self._now = now_s
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
