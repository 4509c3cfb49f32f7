"""Protobuf datapoint inserts into the local CDF: the same points as JSON read back the same, and every refusal of
a JSON insert is the same refusal (status, message, nothing written) for the same points as protobuf."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes import DatapointsArray, TimeSeriesWrite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.wire.insert_protobuf import InsertItem, encode_insert_request
from oid_sync_dagster.wire.rows import message_class
from oid_sync_dagster_tests.conftest import make_client
from oid_sync_dagster_tests.local_cdf.conftest import api, error_of, fetch_token

GOOD, UNCERTAIN, BAD = 0, 0x40000000, 0x80000000
PROTOBUF = {"content-type": "application/protobuf"}
T0 = 1_700_000_000_000


def _post_json(http: httpx2.Client, project: str, items: list[dict[str, Any]]) -> httpx2.Response:
    return http.post(api(project, "/timeseries/data"), json={"items": items})


def _post_protobuf(http: httpx2.Client, project: str, body: bytes) -> httpx2.Response:
    return http.post(api(project, "/timeseries/data"), content=body, headers=PROTOBUF)


def _json_items(items: list[InsertItem]) -> list[dict[str, Any]]:
    """The JSON insert items CDF takes for the same points (what the SDK would send)."""
    out = []
    for item in items:
        points = []
        for i, timestamp in enumerate(item.timestamps.tolist()):
            point: dict[str, Any] = {"timestamp": timestamp}
            null = item.nulls is not None and bool(item.nulls[i])
            value = item.values[i]
            if null:
                point["value"] = None
            elif item.is_string:
                point["value"] = value
            elif math.isnan(value):
                point["value"] = "NaN"  # CDF's JSON spells non-finite values as strings
            elif math.isinf(value):
                point["value"] = "Infinity" if value > 0 else "-Infinity"
            else:
                point["value"] = float(value)
            if item.status is not None and item.status[i]:
                point["status"] = {"code": int(item.status[i])}
            points.append(point)
        identifier: dict[str, Any]
        if item.instance_id is not None:
            identifier = {"instanceId": {"space": item.instance_id[0], "externalId": item.instance_id[1]}}
        elif item.external_id is not None:
            identifier = {"externalId": item.external_id}
        else:
            identifier = {"id": item.id}
        out.append({**identifier, "datapoints": points})
    return out


def _read(client: CogniteClient, external_id: str) -> DatapointsArray:
    array = client.time_series.data.retrieve_arrays(
        external_id=external_id,
        start=-(2**41),
        end=2**42,
        limit=None,
        include_status=True,
        ignore_bad_datapoints=False,
    )
    assert isinstance(array, DatapointsArray)
    return array


@pytest.fixture
def http(local_cdf: RunningLocalCDF) -> Iterator[httpx2.Client]:
    headers = {"authorization": f"Bearer {fetch_token(local_cdf)}", "accept": "application/json"}
    with httpx2.Client(base_url=local_cdf.base_url, headers=headers, timeout=60) as client:
        yield client


@pytest.fixture
def projects(client_factory: Any) -> tuple[CogniteClient, CogniteClient]:
    """Two target projects with the same series: one written as JSON, the other as protobuf."""
    clients = client_factory("via-json"), client_factory("via-protobuf")
    for client in clients:
        client.time_series.create(
            [TimeSeriesWrite(external_id="num"), TimeSeriesWrite(external_id="str", is_string=True)]
        )
    return clients


@st.composite
def inserts(draw: st.DrawFn) -> tuple[InsertItem, InsertItem]:
    """A numeric and a string item that CDF accepts: finite values on Good/Uncertain points, anything on Bad."""

    def columns(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        timestamps = np.array(sorted(draw(st.sets(st.integers(-(2**40), 2**41), min_size=n, max_size=n))))
        status = np.array(draw(st.lists(st.sampled_from([GOOD, UNCERTAIN, BAD, 0x80120000]), min_size=n, max_size=n)))
        nulls = (status >= BAD) & np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        return timestamps, status, nulls

    n = draw(st.integers(1, 200))
    timestamps, status, nulls = columns(n)
    finite = draw(st.lists(st.floats(-1e100, 1e100, allow_nan=False), min_size=n, max_size=n))
    anything = draw(st.lists(st.floats(allow_nan=True), min_size=n, max_size=n))
    values = np.where(status >= BAD, np.array(anything), np.array(finite))
    numeric = InsertItem(timestamps, values, False, status, nulls, external_id="num")
    n = draw(st.integers(1, 50))
    timestamps, status, nulls = columns(n)
    texts = draw(st.lists(st.text(max_size=40), min_size=n, max_size=n))
    strings = InsertItem(
        timestamps, np.array([*texts, None], dtype=object)[:-1], True, status, nulls, external_id="str"
    )
    return numeric, strings


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inserts())
def test_the_same_points_as_json_and_as_protobuf_read_back_identical(
    http: httpx2.Client, projects: tuple[CogniteClient, CogniteClient], items: tuple[InsertItem, InsertItem]
) -> None:
    via_json, via_protobuf = projects
    for client in projects:
        client.time_series.data.delete_ranges(
            [{"start": -(2**41), "end": 2**42, "external_id": external_id} for external_id in ("num", "str")]
        )
    assert _post_json(http, "via-json", _json_items(list(items))).status_code == 200
    assert _post_protobuf(http, "via-protobuf", encode_insert_request(list(items))).status_code == 200
    for external_id, item in zip(("num", "str"), items, strict=True):
        a, b = _read(via_json, external_id), _read(via_protobuf, external_id)
        np.testing.assert_array_equal(b.timestamp, a.timestamp)
        np.testing.assert_array_equal(b.status_code, a.status_code)
        assert b.null_timestamps == a.null_timestamps
        if item.is_string:
            assert b.value.tolist() == a.value.tolist()
        else:
            np.testing.assert_array_equal(b.value, a.value)  # NaN where NaN, bit for bit otherwise
        assert len(a.timestamp) == len(item.timestamps)


def _item(values: list[Any], *, is_string: bool = False, status: list[int] | None = None, **kwargs: Any) -> InsertItem:
    n = len(values)
    nulls = np.array([v is None for v in values]) if any(v is None for v in values) else None
    column = np.array(
        [("" if is_string else 0.0) if v is None else v for v in values], dtype=object if is_string else float
    )
    return InsertItem(
        np.arange(n, dtype=np.int64) * 1000 + T0,
        column,
        is_string,
        None if status is None else np.array(status, np.int64),
        nulls,
        **({"external_id": "num"} | kwargs),
    )


# Each case: items CDF refuses. Sent as JSON and as protobuf, both get the same status and the same error body.
REFUSED: dict[str, list[InsertItem]] = {
    "NaN on a Good point": [_item([1.0, math.nan])],
    "Infinity on an Uncertain point": [_item([math.inf], status=[UNCERTAIN])],
    "beyond 1e100 on a Good point": [_item([1.1e100])],
    "no value on a Good point": [_item([1.0, None])],
    "a string into a numeric series": [_item(["not a number"], is_string=True)],
    "a number into a string series": [_item([42.0], external_id="str")],
    "an unknown series": [_item([1.0]), _item([1.0], external_id="nope"), _item([2.0], external_id=None, id=424242)],
    "a timestamp before 1900": [InsertItem(np.array([-2_208_988_800_001]), np.array([1.0]), False, external_id="num")],
    "a timestamp after 2099": [InsertItem(np.array([4_102_444_800_000]), np.array([1.0]), False, external_id="num")],
    "Bad and Uncertain bits both set": [_item([1.0], status=[BAD | UNCERTAIN])],
    "a status code beyond 32 bits": [_item([1.0], status=[2**32])],
    "one series named twice": [_item([1.0]), _item([2.0])],
    "empty datapoints": [InsertItem(np.empty(0, np.int64), np.empty(0), False, external_id="num")],
    "over 100,000 points": [
        InsertItem(np.arange(60_000) + T0, np.ones(60_000), False, external_id="num"),
        InsertItem(np.arange(40_001) + T0, np.ones(40_001), False, external_id="str2"),
    ],
    "over 10,000 items": [_item([1.0], external_id=f"n{i}") for i in range(10_001)],
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_every_refusal_of_json_is_the_same_for_protobuf(
    http: httpx2.Client, projects: tuple[CogniteClient, CogniteClient], case: str
) -> None:
    items = REFUSED[case]
    by_json = _post_json(http, "via-json", _json_items(items))
    by_protobuf = _post_protobuf(http, "via-protobuf", encode_insert_request(items))
    assert by_json.status_code in (400, 422), by_json.text
    assert (by_protobuf.status_code, error_of(by_protobuf)) == (by_json.status_code, error_of(by_json))
    for client in projects:
        assert len(_read(client, "num").timestamp) == 0 and len(_read(client, "str").timestamp) == 0


def test_refusals_only_protobuf_can_express(http: httpx2.Client, projects: tuple[CogniteClient, CogniteClient]) -> None:
    assert _post_protobuf(http, "via-protobuf", b"").json()["error"]["message"] == "items must not be empty."
    response = _post_protobuf(http, "via-protobuf", b"\x0a\x05\x08")
    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "Invalid protobuf in request body: field 1 runs past the end of its message"
    )
    # A status given by symbol alone is taken; one that disagrees with its code is refused, as in JSON.
    request = message_class("DataPointInsertionRequest")()
    item = request.items.add(externalId="num")
    point = item.numericDatapoints.datapoints.add(timestamp=T0, nullValue=True)
    point.status.symbol = "Bad"
    assert _post_protobuf(http, "via-protobuf", request.SerializeToString()).status_code == 200
    array = _read(projects[1], "num")
    assert array.status_code.tolist() == [BAD] and array.null_timestamps == {T0}
    point.status.code = GOOD + 1
    point.status.symbol = "Uncertain"
    refused = _post_protobuf(http, "via-protobuf", request.SerializeToString())
    as_json = _post_json(
        http,
        "via-json",
        [
            {
                "externalId": "num",
                "datapoints": [{"timestamp": T0, "value": None, "status": {"code": 1, "symbol": "Uncertain"}}],
            }
        ],
    )
    assert (refused.status_code, error_of(refused)) == (as_json.status_code, error_of(as_json))
    # Elsewhere than the insert endpoint, protobuf bodies are refused as an unsupported content type.
    response = http.post(api("via-protobuf", "/timeseries/list"), content=b"\x0a\x00", headers=PROTOBUF)
    assert response.status_code == 415
    assert error_of(response)["message"] == (
        "Unsupported content-type 'application/protobuf': this endpoint takes application/json."
    )


def test_a_server_that_refuses_protobuf_answers_415(tmp_path: Path) -> None:
    with serve_in_thread(LocalCDFSettings(data_dir=tmp_path, accept_protobuf_inserts=False)) as cdf:
        client = make_client(cdf, "target")
        client.time_series.create(TimeSeriesWrite(external_id="num"))
        headers = {"authorization": f"Bearer {fetch_token(cdf)}", **PROTOBUF}
        with httpx2.Client(base_url=cdf.base_url, headers=headers) as http:
            response = http.post(api("target", "/timeseries/data"), content=encode_insert_request([_item([1.0])]))
        assert response.status_code == 415
        assert error_of(response)["message"] == (
            "Unsupported content-type 'application/protobuf': this endpoint takes application/json."
        )
        client.time_series.data.insert([(T0, 1.0)], external_id="num")  # JSON still works
        assert len(_read(client, "num").timestamp) == 1
