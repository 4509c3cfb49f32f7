"""One request, one instant: every series of a request sees the same published edge, as CDF answers a request at
one instant, and the server reads its clock once per request rather than once per series."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from oid_sync_dagster.local_cdf.server import serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings, request_instant
from oid_sync_dagster_tests.conftest import make_client

START_S = 1_790_000_000  # a whole minute
DAY_S = 86_400


def test_every_series_of_a_request_sees_the_instant_the_request_began(tmp_path: Path) -> None:
    settings = LocalCDFSettings(data_dir=tmp_path, clock=jumping_clock())
    with serve_in_thread(settings) as cdf:
        source = make_client(cdf, "publicdata")
        xids = [s.external_id for s in source.time_series.list(external_id_prefix="pi:", limit=None) if not s.is_string]
        latest = source.time_series.data.retrieve_latest(external_id=xids[:20])
    stamps = [int(points.timestamp.timestamp() * 1000) for points in latest]
    assert len(stamps) == 20
    # All within the densest cadence of one another (a minute or so), not a day apart.
    assert max(stamps) - min(stamps) < 3_600_000, sorted(stamps)


def jumping_clock() -> Callable[[], float]:
    """A clock that jumps a day at every reading: anything that read it again would be answered a day later."""
    readings = itertools.count()
    lock = threading.Lock()

    def read() -> float:
        with lock:
            return float(START_S + next(readings) * DAY_S)

    return read


def test_every_series_of_a_viewer_page_is_shown_at_one_instant(tmp_path: Path) -> None:
    """The data viewer's index lists every source series' newest point: read at one instant, they lie within the
    source's cadence of one another and of the page's own "Now" less the publication lag, not days apart."""
    settings = LocalCDFSettings(data_dir=tmp_path, clock=jumping_clock())
    with serve_in_thread(settings) as cdf, httpx.Client(base_url=cdf.base_url, timeout=60) as viewer:
        login = {"client_id": cdf.client_id, "client_secret": cdf.client_secret, "next": "/"}
        assert viewer.post("/login", data=login).status_code == 303
        page = viewer.get("/")
    assert page.status_code == 200, page.text
    source = page.text.split('id="project-publicdata"')[1].split("</section>")[0]
    stamps = re.findall(r"<td>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC</td>", source)
    assert len(stamps) == 363
    assert len({stamp[:10] for stamp in stamps}) == 1 and max(stamps) > min(stamps), (min(stamps), max(stamps))


def test_outside_a_request_the_clock_is_read_and_inside_the_instant_is_given() -> None:
    settings = LocalCDFSettings(clock=lambda: 1_000.5)
    assert settings.now_ms() == 1_000_500
    with request_instant(42):
        assert settings.now_ms() == 42
    assert settings.now_ms() == 1_000_500
