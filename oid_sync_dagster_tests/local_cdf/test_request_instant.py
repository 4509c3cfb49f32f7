"""One request, one instant: every series of a request sees the same published edge, as CDF answers a request at
one instant, and the server reads its clock once per request rather than once per series."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

from oid_sync_dagster.local_cdf.server import serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings, request_instant
from oid_sync_dagster_tests.conftest import make_client

START_S = 1_790_000_000  # a whole minute
DAY_S = 86_400


def test_every_series_of_a_request_sees_the_instant_the_request_began(tmp_path: Path) -> None:
    # A clock that jumps a day at every reading: any series that read it again would be answered a day later.
    readings = itertools.count()
    lock = threading.Lock()

    def jumping_clock() -> float:
        with lock:
            return float(START_S + next(readings) * DAY_S)

    settings = LocalCDFSettings(data_dir=tmp_path, clock=jumping_clock)
    with serve_in_thread(settings) as cdf:
        source = make_client(cdf, "publicdata")
        xids = [s.external_id for s in source.time_series.list(external_id_prefix="pi:", limit=None) if not s.is_string]
        latest = source.time_series.data.retrieve_latest(external_id=xids[:20])
    stamps = [int(points.timestamp.timestamp() * 1000) for points in latest]
    assert len(stamps) == 20
    # All within the densest cadence of one another (a minute or so), not a day apart.
    assert max(stamps) - min(stamps) < 3_600_000, sorted(stamps)


def test_outside_a_request_the_clock_is_read_and_inside_the_instant_is_given() -> None:
    settings = LocalCDFSettings(clock=lambda: 1_000.5)
    assert settings.now_ms() == 1_000_500
    with request_instant(42):
        assert settings.now_ms() == 42
    assert settings.now_ms() == 1_000_500
