"""The local CDF's read-only data viewer over HTTP: what its JSON serves equals what the target holds (read back
through the SDK), long windows come as at most MAX_BUCKETS aggregate buckets, Bad and Uncertain points are
flagged, and nothing is served without a session; bad input is a 4xx naming the parameter and its value."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeId, SpaceApply
from cognite.client.data_classes.data_modeling.cdm.v1 import CogniteTimeSeriesApply

from oid_sync_dagster.local_cdf.server import RunningLocalCDF
from oid_sync_dagster.local_cdf.status import BAD, UNCERTAIN
from oid_sync_dagster.local_cdf.viewer.data import MAX_BUCKETS
from oid_sync_dagster.local_cdf.viewer.session import COOKIE_NAME, link_token
from oid_sync_dagster_tests.conftest import FROZEN_NOW_S

NOW_MS = int(FROZEN_NOW_S * 1000)
MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
SPACE = "oid_sync"
XID = "pi:160030"  # VAL_23-PT-96155:Z.X.Value in the synthetic source: the overlay has a source
LONG_XID = "pi:160031"
OFFSET_MS = 7 * DAY_MS + 10 * MINUTE_MS


def _node(client: CogniteClient, xid: str, name: str) -> NodeId:
    client.data_modeling.instances.apply(
        CogniteTimeSeriesApply(SPACE, xid, time_series_type="numeric", is_step=False, name=name, source_unit="barg")
    )
    return NodeId(SPACE, xid)


def _write(client: CogniteClient, node: NodeId, timestamps: np.ndarray, bad: set[int], uncertain: set[int]) -> None:
    points: list[dict[str, object]] = [{"timestamp": int(t), "value": float(i % 97)} for i, t in enumerate(timestamps)]
    for i in bad:
        points[i]["status"] = {"code": BAD}
    for i in uncertain:
        points[i]["status"] = {"code": UNCERTAIN}
    client.time_series.data.insert(points, instance_id=node)


@pytest.fixture
def node(target: CogniteClient) -> NodeId:
    """Two days at one point a minute up to a minute ago, with a Bad and an Uncertain point in the last hour."""
    target.data_modeling.spaces.apply(SpaceApply(SPACE))
    node = _node(target, XID, "VAL_23-PT-96155:Z.X.Value")
    timestamps = np.arange(NOW_MS - 2 * DAY_MS, NOW_MS, MINUTE_MS)
    _write(target, node, timestamps, bad={len(timestamps) - 30}, uncertain={len(timestamps) - 20})
    return node


@pytest.fixture
def viewer(local_cdf: RunningLocalCDF) -> Iterator[httpx.Client]:
    """An HTTP client logged in through the viewer's form."""
    with httpx.Client(base_url=local_cdf.base_url, timeout=60) as client:
        response = client.post(
            "/login", data={"client_id": local_cdf.client_id, "client_secret": local_cdf.client_secret, "next": "/"}
        )
        assert (response.status_code, response.headers["location"]) == (303, "/")
        assert "httponly" in response.headers["set-cookie"].lower()
        yield client


def _series(viewer: httpx.Client, **params: str) -> dict:
    response = viewer.get("/data/series", params={"project": "target", "xid": XID, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_window_serves_exactly_the_points_the_target_holds(
    viewer: httpx.Client, target: CogniteClient, node: NodeId
) -> None:
    body = _series(viewer, window="hour")
    window = body["window"]
    assert (window["end"], window["end"] - window["start"], window["live"]) == (NOW_MS + 1, HOUR_MS, True)
    assert body["mode"] == "raw"
    held = target.time_series.data.retrieve_arrays(
        instance_id=node, start=window["start"], end=window["end"], limit=None, include_status=True,
        ignore_bad_datapoints=False, treat_uncertain_as_bad=False,
    )  # fmt: skip
    drawn = body["panels"][0]["traces"][0]
    assert drawn["t"] == held.timestamp.astype("datetime64[ms]").astype(np.int64).tolist()
    assert drawn["v"] == held.value.tolist()
    assert drawn["status"] == held.status_code.tolist()
    assert len(drawn["t"]) == 59
    # Bad and Uncertain points are flagged by their codes, at the timestamps they were written at.
    flagged = {t: code for t, code in zip(drawn["t"], drawn["status"], strict=True) if code}
    assert flagged == {NOW_MS - 30 * MINUTE_MS: BAD, NOW_MS - 20 * MINUTE_MS: UNCERTAIN}
    assert body["panels"][0]["newest"] == NOW_MS - MINUTE_MS


def test_the_source_overlay_is_shifted_by_the_offset(viewer: httpx.Client, source: CogniteClient, node: NodeId) -> None:
    for offset, offset_ms in (("1w10m", OFFSET_MS), ("1w3h", 7 * DAY_MS + 3 * HOUR_MS), (None, OFFSET_MS)):
        body = _series(viewer, window="hour", **({"offset": offset} if offset else {}))
        window, overlay = body["window"], body["panels"][0]["traces"][1]
        assert overlay["label"] == f"publicdata, shifted by {offset or '1w10m'}"
        held = source.time_series.data.retrieve_arrays(
            external_id=XID, start=window["start"] - offset_ms, end=window["end"] - offset_ms, limit=None,
            include_status=True, ignore_bad_datapoints=False, treat_uncertain_as_bad=False,
        )  # fmt: skip
        assert len(held) > 50
        assert overlay["t"] == (held.timestamp.astype("datetime64[ms]").astype(np.int64) + offset_ms).tolist()
        assert overlay["v"] == held.value.tolist()


def test_a_poll_answers_only_what_came_after_the_newest_point(
    viewer: httpx.Client, target: CogniteClient, node: NodeId
) -> None:
    first = _series(viewer, window="hour")["panels"][0]["traces"][0]
    newest = first["t"][-1]
    target.time_series.data.insert([(NOW_MS, 1.5)], instance_id=node)
    update = _series(viewer, window="hour", since=str(newest), granularity="raw")
    fresh = update["panels"][0]["traces"][0]
    assert (fresh["from"], fresh["t"], fresh["v"]) == (newest + 1, [NOW_MS], [1.5])
    assert update["panels"][0]["newest"] == NOW_MS


def test_a_poll_that_would_draw_more_buckets_than_a_first_load_is_answered_as_a_first_load(
    viewer: httpx.Client, target: CogniteClient, node: NodeId
) -> None:
    # A day in 1 s buckets would be 86,401 of them (a first load draws at most 1,000); so would a whole-history
    # page left open while the history grows. The answer is the window's first load, in the mode it would choose.
    first = _series(viewer, window="day")
    again = _series(viewer, window="day", since=str(first["window"]["start"] + 1), granularity="1s")
    assert again["mode"] == first["mode"] != "1s"
    assert again["panels"][0]["traces"][0]["from"] == first["window"]["start"]
    assert again["panels"] == first["panels"]


def test_twelve_weeks_at_one_a_minute_come_as_aggregates_quickly(
    viewer: httpx.Client, target: CogniteClient, node: NodeId
) -> None:
    long_node = _node(target, LONG_XID, "VAL_23-PT-92527-02:X.Value")
    timestamps = np.arange(NOW_MS - 84 * DAY_MS, NOW_MS, MINUTE_MS)
    _write(target, long_node, timestamps, bad={1000}, uncertain={2000})
    params = {"project": "target", "xid": LONG_XID, "window": "all"}
    response = viewer.get("/data/series", params=params)  # its speed is a benchmark's (README: about 0.06 s)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "3h"
    drawn = body["panels"][0]["traces"][0]
    assert drawn["mode"] == "aggregate" and 0 < len(drawn["t"]) <= MAX_BUCKETS
    assert body["window"]["start"] == int(timestamps[0])
    # The same numbers the datapoints API computes for those buckets (Uncertain counted as bad, as its default).
    api = target.time_series.data.retrieve_arrays(
        instance_id=long_node, start=drawn["t"][0], end=body["window"]["end"], granularity="3h",
        aggregates=["average", "min", "max", "count", "count_bad", "count_uncertain"], limit=None,
    )  # fmt: skip
    assert drawn["t"] == api.timestamp.astype("datetime64[ms]").astype(np.int64).tolist()
    assert np.allclose(drawn["average"], api.average) and drawn["min"] == api.min.tolist()
    assert drawn["count"] == api.count.tolist()
    assert sum(drawn["countBad"]) == 1 and sum(drawn["countUncertain"]) == 1
    assert drawn["countBad"] == api.count_bad.tolist()


def test_the_overview_picks_the_compressor_signals(viewer: httpx.Client) -> None:
    response = viewer.get("/data/overview", params={"project": "publicdata", "window": "day"})
    assert response.status_code == 200, response.text
    panels = response.json()["panels"]
    assert [(p["role"], p["name"]) for p in panels] == [
        ("flow", "VAL_23-FIC-96153-03:Z.X.Value"),
        ("pressure", "VAL_23-PT-92527-02:X.Value"),
        ("temperature", "VAL_23-TT-92584:Z.X2.Value"),
        ("vibration", "VAL_23-KA-9109-VIB-DE-X:VALUE"),
        ("stopped", "VAL_23-KA-9109-SEQ-STOPPED:VALUE"),
    ]
    assert all(p["traces"][0]["t"] for p in panels)


def test_the_pages_render(viewer: httpx.Client, node: NodeId) -> None:
    index = viewer.get("/")
    assert index.status_code == 200
    assert f'href="/series?project=target&amp;xid=pi%3A160030&amp;space={SPACE}"' in index.text
    assert "VAL_23-PT-96155:Z.X.Value" in index.text and "2,880" in index.text  # two days at a minute
    page = viewer.get("/series", params={"project": "target", "xid": XID})
    assert page.status_code == 200 and 'id="viewer-config"' in page.text
    plotly = viewer.get(page.text.split('<script src="')[1].split('"')[0])
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000  # served from the plotly package
    assert viewer.get("/overview", params={"project": "publicdata"}).status_code == 200


# ---------- access ----------


def test_without_a_session_pages_redirect_to_the_login_and_data_is_401(local_cdf: RunningLocalCDF) -> None:
    with httpx.Client(base_url=local_cdf.base_url) as anonymous:
        page = anonymous.get("/series", params={"project": "target", "xid": XID})
        assert (page.status_code, page.headers["location"]) == (
            303, "/login?next=%2Fseries%3Fproject%3Dtarget%26xid%3Dpi%253A160030"
        )  # fmt: skip
        assert anonymous.get("/").headers["location"] == "/login?next=%2F"
        data = anonymous.get("/data/series", params={"project": "target", "xid": XID})
        assert (data.status_code, data.json()) == (
            401,
            {"error": {"code": 401, "message": "Unauthorized: log in to the viewer (a session cookie is required)."}},
        )  # fmt: skip
        assert anonymous.get("/data/overview", params={"project": "publicdata"}).status_code == 401
        # An API bearer token is no viewer session, and a forged cookie is none either.
        anonymous.cookies.set(COOKIE_NAME, "lcdfv.e30.forged")
        assert anonymous.get("/data/series", params={"project": "target", "xid": XID}).status_code == 401


def test_a_wrong_secret_is_refused_without_echoing_it(local_cdf: RunningLocalCDF) -> None:
    with httpx.Client(base_url=local_cdf.base_url) as client:
        response = client.post("/login", data={"client_id": local_cdf.client_id, "client_secret": "guess"})
        assert response.status_code == 401
        assert f"Client authentication failed for client id {local_cdf.client_id!r}." in response.text.replace(
            "&#x27;", "'"
        )
        assert "guess" not in response.text and COOKIE_NAME not in response.headers.get("set-cookie", "")


def test_a_printed_link_logs_in_and_drops_its_token(local_cdf: RunningLocalCDF) -> None:
    with httpx.Client(base_url=local_cdf.base_url) as client:
        response = client.get("/", params={"token": link_token(local_cdf.settings)})
        assert (response.status_code, response.headers["location"]) == (303, "/")
        assert client.get("/").status_code == 200
    with httpx.Client(base_url=local_cdf.base_url) as client:
        assert client.get("/", params={"token": "lcdfv.bad.token"}).status_code == 401
    with httpx.Client(base_url=local_cdf.base_url) as client:  # an off-site `next` goes home instead
        response = client.post(
            "/login",
            data={"client_id": local_cdf.client_id, "client_secret": local_cdf.client_secret, "next": "//evil.test/"},
        )
        assert response.headers["location"] == "/"


# ---------- bad input ----------


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"project": "nope", "xid": XID}, 404, "Unknown project='nope': this local CDF has publicdata, target."),
        ({"project": "target", "xid": "pi:1"}, 404, "Unknown xid='pi:1': project 'target' has no such series."),
        ({"project": "target", "xid": XID, "space": "other"}, 404,
         "Unknown xid='pi:160030': project 'target' has no such series in space 'other'."),
        ({"project": "target"}, 400, "Missing required parameter xid."),
        ({"project": "target", "xid": XID, "window": "month"}, 400,
         "Invalid window='month': use one of hour, day, week, all."),
        ({"project": "target", "xid": XID, "end": "yesterday"}, 400,
         "Invalid end='yesterday': give milliseconds since the epoch or an ISO 8601 time such as "
         "2026-11-24T12:00:00Z."),
        ({"project": "target", "xid": XID, "offset": "soon"}, 400,
         "Invalid offset='soon': give a duration such as 1w10m, 168h or 604800000 (ms)."),
        ({"project": "target", "xid": XID, "since": "1", "granularity": "often"}, 400,
         "Invalid granularity='often': use raw or one of the chart's bucket sizes: 1s, 5s, 10s, 30s, 1m, 2m, 5m, "
         "10m, 15m, 30m, 1h, 2h, 3h, 6h, 12h, 1d, 2d, 7d, 14d, 28d, 91d, 364d."),
        ({"project": "target", "xid": XID, "since": "1", "granularity": "7m"}, 400,  # a duration, not a chart's size
         "Invalid granularity='7m': use raw or one of the chart's bucket sizes: 1s, 5s, 10s, 30s, 1m, 2m, 5m, "
         "10m, 15m, 30m, 1h, 2h, 3h, 6h, 12h, 1d, 2d, 7d, 14d, 28d, 91d, 364d."),
        ({"project": "target", "xid": XID, "end": "2020-01-01T00:00:00Z"}, 404,
         "No data in the window ending at end=1577836800000: the points span 1795348800000 to 1795521540000 "
         "(2026-11-22T12:00:00.000Z to 2026-11-24T11:59:00.000Z)."),
    ],
)  # fmt: skip
def test_bad_input_is_a_4xx_naming_the_parameter(
    viewer: httpx.Client, node: NodeId, params: dict[str, str], status: int, message: str
) -> None:
    response = viewer.get("/data/series", params=params)
    assert (response.status_code, response.json()) == (status, {"error": {"code": status, "message": message}})
    if "granularity" in params:
        return  # a poll's parameter: pages take none
    page = viewer.get("/series", params=params)
    assert page.status_code == status
    assert message in page.text.replace("&#x27;", "'")
    assert "Traceback" not in page.text
