"""`/timeseries/data*` through the unmodified SDK and raw HTTP: complete reads, the published edge, status codes,
outside points, inserts and their limits, deletes, latest, aggregates, and the request log and fault hook."""

from __future__ import annotations

import gzip
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes import Datapoints, DatapointsArray, TimeSeriesWrite
from cognite.client.exceptions import CogniteAPIError, CogniteNotFoundError

from oid_sync_dagster.local_cdf.faults import Fault
from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.local_cdf.status import BAD, GOOD, UNCERTAIN
from oid_sync_dagster.local_cdf.synthetic import STRING_MODES, Points
from oid_sync_dagster_tests.conftest import FROZEN_NOW_S, make_client
from oid_sync_dagster_tests.local_cdf.conftest import (
    DAY_MS,
    EDGE_MS,
    HOUR_MS,
    NOW_MS,
    MutableClock,
    Truth,
    api,
    error_of,
    keep,
    truth_for,
)

DATA_LIST = r"^/api/v1/projects/{}/timeseries/data/list$"


def ms(arr: DatapointsArray) -> np.ndarray:
    return arr.timestamp.astype("datetime64[ms]").astype(np.int64)


def assert_array_equals(arr: DatapointsArray, expected: Points, *, with_status: bool = False) -> None:
    """Every timestamp and value exactly; numeric values compare bit for bit (NaN only where expected)."""
    np.testing.assert_array_equal(ms(arr), expected.timestamps)
    if expected.values.dtype == object:
        assert arr.value.tolist() == expected.values.tolist()
    else:
        assert arr.value.dtype == np.float64
        np.testing.assert_array_equal(arr.value, expected.values)
    if with_status:
        np.testing.assert_array_equal(np.asarray(arr.status_code, np.int64), expected.status.astype(np.int64))
        symbols = ["Good" if c == GOOD else "Uncertain" if c == UNCERTAIN else "Bad" for c in expected.status]
        assert list(arr.status_symbol) == symbols


def head(points: Points, n: int) -> Points:
    return Points(points.timestamps[:n], points.values[:n], points.status[:n])


def count(points: Points) -> int:
    return len(points.timestamps)


def kinds(truth: Truth, kind: str, n: int) -> list[str]:
    found = truth.of_kind(kind)
    assert len(found) >= n
    return found[:n]


def window_with_status(truth: Truth, xid: str, start: int, span: int) -> tuple[int, int]:
    """A window in `xid` from `start` that holds at least one Bad and one Uncertain point. Bad points come in
    bursts, a few a year per series, so failing that, one from the history start."""
    for origin in (start, truth.generator.history_start_ms):
        at = origin
        while at < EDGE_MS - span:
            points = truth.points(xid, at, at + span)
            category = points.status & np.uint32(0xC0000000)
            if (category == BAD).any() and (category == UNCERTAIN).any():
                return at, at + span
            at += span
    raise AssertionError(f"no window with bad and uncertain points in {xid}")


def post(http: httpx2.Client, project: str, path: str, body: Any) -> httpx2.Response:
    return http.post(api(project, path), json=body)


# --- dense, complete reads ------------------------------------------------------------------------------


def test_dense_read_eager_fetcher(local_cdf: RunningLocalCDF, source: CogniteClient, truth: Truth) -> None:
    """Five series (the SDK's eager fetcher: one item per request, windows split by time): 4 analog series over
    six months and a string series, > 1M points, every one checked."""
    xids = [*kinds(truth, "analog", 4), *kinds(truth, "string", 1)]
    start, end = EDGE_MS - 183 * DAY_MS, NOW_MS  # ends in the future of the source: stops at the edge
    result = source.time_series.data.retrieve_arrays(external_id=xids, start=start, end=end, limit=None)
    total = 0
    for xid, arr in zip(xids, result, strict=True):
        assert arr.external_id == xid
        expected = truth.kept(xid, start, end)
        assert_array_equals(arr, expected)
        total += len(arr)
    assert total > 1_000_000
    requests = local_cdf.request_log.matching(DATA_LIST.format("publicdata"))
    assert {r.status for r in requests} == {200}
    assert len(requests) >= 10  # every window needed several full pages of 100,000


def test_dense_read_chunking_fetcher(local_cdf: RunningLocalCDF, source: CogniteClient, truth: Truth) -> None:
    """All 363 series over two weeks (the chunking fetcher: many items per request, split limits, cursors)."""
    xids = [s.external_id for s in truth.catalog]
    start, end = NOW_MS - 14 * DAY_MS, NOW_MS
    result = source.time_series.data.retrieve_arrays(external_id=xids, start=start, end=end, limit=None)
    assert len(result) == 363
    total = 0
    for xid in xids:
        arr = result.get(external_id=xid)
        assert arr is not None
        assert_array_equals(arr, truth.kept(xid, start, end))
        assert arr.is_string == truth.series(xid).is_string
        assert arr.is_step == truth.series(xid).is_step
        total += len(arr)
    assert total > 1_000_000
    assert {r.status for r in local_cdf.request_log.matching(DATA_LIST.format("publicdata"))} == {200}


def test_retrieve_lists_equal_arrays(source: CogniteClient, truth: Truth) -> None:
    xids = [
        *kinds(truth, "analog", 8),
        *kinds(truth, "digital", 3),
        *kinds(truth, "step", 2),
        *kinds(truth, "string", 2),
    ]
    start, end = EDGE_MS - 10 * DAY_MS, EDGE_MS - 3 * DAY_MS
    lists = source.time_series.data.retrieve(external_id=xids, start=start, end=end, limit=None)
    arrays = source.time_series.data.retrieve_arrays(external_id=xids, start=start, end=end, limit=None)
    for xid in xids:
        dps = lists.get(external_id=xid)
        arr = arrays.get(external_id=xid)
        assert isinstance(dps, Datapoints) and arr is not None
        expected = truth.kept(xid, start, end)
        assert dps.timestamp == expected.timestamps.tolist()
        assert dps.value == expected.values.tolist()
        assert dps.timestamp == ms(arr).tolist()
        assert dps.value == arr.value.tolist()
    single = source.time_series.data.retrieve(external_id=xids[0], start=start, end=end, limit=None)
    assert isinstance(single, Datapoints)
    assert single.timestamp == truth.kept(xids[0], start, end).timestamps.tolist()


def test_read_by_id_and_unknown_series(source: CogniteClient, truth: Truth) -> None:
    xid = kinds(truth, "analog", 1)[0]
    start, end = EDGE_MS - DAY_MS, EDGE_MS
    by_id = source.time_series.data.retrieve_arrays(id=truth.series(xid).id, start=start, end=end, limit=None)
    assert isinstance(by_id, DatapointsArray)
    assert_array_equals(by_id, truth.kept(xid, start, end))

    # Eager (one series): the server answers 400 with `missing`.
    with pytest.raises(CogniteNotFoundError) as info:
        source.time_series.data.retrieve_arrays(external_id="pi:nope", start=start, end=end, limit=None)
    assert info.value.not_found == [{"external_id": "pi:nope"}]  # the SDK snake-cases it for datapoints
    assert (
        source.time_series.data.retrieve_arrays(
            external_id="pi:nope", start=start, end=end, limit=None, ignore_unknown_ids=True
        )
        is None
    )
    # Chunking (many series): the server leaves unknown items out and the SDK notices.
    xids = [*kinds(truth, "analog", 7), "pi:nope1"]
    with pytest.raises(CogniteNotFoundError) as info:
        source.time_series.data.retrieve_arrays(external_id=xids, start=start, end=end, limit=None)
    assert info.value.not_found == [{"external_id": "pi:nope1"}]
    found = source.time_series.data.retrieve_arrays(
        external_id=xids, start=start, end=end, limit=None, ignore_unknown_ids=True
    )
    assert [a.external_id for a in found] == xids[:-1]
    for arr in found:
        assert_array_equals(arr, truth.kept(arr.external_id, start, end))


# --- the published edge ---------------------------------------------------------------------------------


def test_nothing_after_the_published_edge(source: CogniteClient, truth: Truth) -> None:
    xids = [*kinds(truth, "analog", 3), *kinds(truth, "digital", 2), *kinds(truth, "string", 1)]
    start, end = EDGE_MS - 2 * DAY_MS, NOW_MS + 30 * DAY_MS
    result = source.time_series.data.retrieve_arrays(external_id=xids, start=start, end=end, limit=None)
    for xid in xids:
        arr = result.get(external_id=xid)
        assert arr is not None
        assert ms(arr).max() <= EDGE_MS
        expected = truth.generator.points(truth.series(xid), start, EDGE_MS + 1)
        assert_array_equals(arr, keep(expected))
        # The generator itself has points beyond the edge: the server withholds them.
        assert count(truth.generator.points(truth.series(xid), EDGE_MS + 1, NOW_MS)) > 0
    # A read of the last minutes (the live edge's, served from cached blocks that run past the edge) stops there too.
    edge_read = source.time_series.data.retrieve_arrays(external_id=xids[0], start=EDGE_MS - 600_000, end=NOW_MS)
    assert edge_read is not None and len(edge_read) > 0
    assert_array_equals(edge_read, keep(truth.generator.points(truth.series(xids[0]), EDGE_MS - 600_000, EDGE_MS + 1)))
    beyond = source.time_series.data.retrieve_arrays(
        external_id=xids[0], start=EDGE_MS + 1, end=NOW_MS + DAY_MS, limit=None
    )
    assert beyond is not None and len(beyond) == 0
    latest = source.time_series.data.retrieve_latest(external_id=xids[0], before=NOW_MS)
    assert latest is not None
    assert latest.timestamp_ms == int(truth.kept(xids[0], EDGE_MS - DAY_MS, EDGE_MS + 1).timestamps[-1])


def test_the_edge_moves_with_the_clock(tmp_path: Path) -> None:
    clock = MutableClock(FROZEN_NOW_S)
    settings = LocalCDFSettings(data_dir=tmp_path / "cdf", clock=clock)
    truth = truth_for(settings)  # the history start is fixed by the clock at start-up
    with serve_in_thread(settings) as cdf:
        source = make_client(cdf, "publicdata")
        xids = [*kinds(truth, "analog", 2), *kinds(truth, "digital", 1)]
        start, end = EDGE_MS - DAY_MS, NOW_MS + DAY_MS
        # Within the token's hour: the server's clock also ages the SDK's token.
        for advance_s, edge in ((0, EDGE_MS), (600, EDGE_MS + 600_000), (2400, EDGE_MS + 3_000_000)):
            clock.advance(advance_s)
            result = source.time_series.data.retrieve_arrays(external_id=xids, start=start, end=end, limit=None)
            for xid, arr in zip(xids, result, strict=True):
                expected = keep(truth.generator.points(truth.series(xid), start, edge + 1))
                assert_array_equals(arr, expected)
                assert int(ms(arr)[-1]) > edge - HOUR_MS  # the newest points are the just-published ones
            latest = source.time_series.data.retrieve_latest(external_id=xids[0])
            assert latest is not None
            assert latest.timestamp_ms == int(
                keep(truth.generator.points(truth.series(xids[0]), start, edge + 1)).timestamps[-1]
            )


# --- exact pages: no under-delivery -------------------------------------------------------------------


def test_finite_limit_returns_exactly_n(source: CogniteClient, truth: Truth) -> None:
    xids = kinds(truth, "analog", 3)
    start, end = EDGE_MS - 120 * DAY_MS, EDGE_MS
    for limit in (1, 1000, 123_457):
        result = source.time_series.data.retrieve_arrays(external_id=xids, start=start, end=end, limit=limit)
        for xid, arr in zip(xids, result, strict=True):
            assert len(arr) == limit
            assert_array_equals(arr, head(truth.kept(xid, start, end), limit))
    digital = kinds(truth, "digital", 1)[0]
    available = count(truth.kept(digital, start, start + DAY_MS))
    small = source.time_series.data.retrieve_arrays(external_id=digital, start=start, end=start + DAY_MS, limit=10**6)
    assert small is not None and len(small) == available  # fewer exist than asked for: all of them


def test_bad_and_uncertain_points_do_not_shorten_pages(source: CogniteClient, truth: Truth) -> None:
    xid = kinds(truth, "analog", 1)[0]
    start, end = window_with_status(truth, xid, EDGE_MS - 200 * DAY_MS, 30 * DAY_MS)
    raw = truth.points(xid, start, end)
    good = keep(raw)
    assert count(good) < count(raw)  # there is something to drop
    arr = source.time_series.data.retrieve_arrays(external_id=xid, start=start, end=end, limit=None)
    assert_array_equals(arr, good)
    limited = source.time_series.data.retrieve_arrays(external_id=xid, start=start, end=end, limit=30_001)
    assert_array_equals(limited, head(good, 30_001))


def test_status_options(source: CogniteClient, truth: Truth) -> None:
    xid = kinds(truth, "analog", 2)[1]
    start, end = window_with_status(truth, xid, EDGE_MS - 200 * DAY_MS, 20 * DAY_MS)
    raw = truth.points(xid, start, end)
    everything = source.time_series.data.retrieve_arrays(
        external_id=xid, start=start, end=end, limit=None, include_status=True, ignore_bad_datapoints=False
    )
    assert_array_equals(everything, raw, with_status=True)
    assert {"Bad", "Uncertain", "Good"} == set(everything.status_symbol)

    uncertain_kept = source.time_series.data.retrieve_arrays(
        external_id=xid, start=start, end=end, limit=None, include_status=True, treat_uncertain_as_bad=False
    )
    assert_array_equals(uncertain_kept, keep(raw, uncertain_as_bad=False), with_status=True)
    assert "Bad" not in set(uncertain_kept.status_symbol)

    default = source.time_series.data.retrieve_arrays(
        external_id=xid, start=start, end=end, limit=None, include_status=True
    )
    assert_array_equals(default, keep(raw), with_status=True)
    assert set(default.status_symbol) == {"Good"}

    lists = source.time_series.data.retrieve(
        external_id=xid, start=start, end=end, limit=None, include_status=True, ignore_bad_datapoints=False
    )
    assert isinstance(lists, Datapoints)
    assert lists.status_code == raw.status.astype(np.int64).tolist()


def _walk(
    http: httpx2.Client, xid: str, start: int, end: int, limit: int, *, cursor: bool, **extra: Any
) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """Page through [start, end) with a cursor, or with `start = last + 1` as the SDK's split subtasks do."""
    pages: list[list[dict[str, Any]]] = []
    flags: list[bool] = []
    next_cursor, next_start = None, start
    while True:
        item = {"externalId": xid, "start": next_start, "end": end, "limit": limit, **extra}
        if cursor and next_cursor:
            item["cursor"] = next_cursor
        response = post(http, "publicdata", "/timeseries/data/list", {"items": [item]})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        (result,) = response.json()["items"]
        assert result["externalId"] == xid
        page = result["datapoints"]
        pages.append(page)
        flags.append("nextCursor" in result)
        next_cursor = result.get("nextCursor")
        if not next_cursor:
            break
        next_start = page[-1]["timestamp"] + 1
        assert len(pages) < 1000
    # Exactly the last page lacks a cursor; every page before it is full.
    assert flags == [True] * (len(pages) - 1) + [False]
    assert all(len(p) == limit for p in pages[:-1])
    return [dp for p in pages for dp in p], pages


def test_http_pages_are_full_and_cursor_exact(http: httpx2.Client, truth: Truth) -> None:
    xid = kinds(truth, "analog", 3)[2]
    start, end = window_with_status(truth, xid, EDGE_MS - 150 * DAY_MS, 5 * DAY_MS)
    good = keep(truth.points(xid, start, end))
    limit = 997
    with_cursor, pages = _walk(http, xid, start, end, limit, cursor=True)
    assert len(pages[-1]) == count(good) % limit
    assert [dp["timestamp"] for dp in with_cursor] == good.timestamps.tolist()
    assert [dp["value"] for dp in with_cursor] == good.values.tolist()
    without_cursor, _ = _walk(http, xid, start, end, limit, cursor=False)
    assert without_cursor == with_cursor

    # A window holding exactly 4 pages: the fourth is full and has no cursor, as no more points exist.
    exact_end = int(good.timestamps[4 * limit - 1]) + 1
    _, pages = _walk(http, xid, start, exact_end, limit, cursor=True)
    assert [len(p) for p in pages] == [limit] * 4
    # One point more: a fifth page with exactly that point.
    _, pages = _walk(http, xid, start, int(good.timestamps[4 * limit]) + 1, limit, cursor=True)
    assert [len(p) for p in pages] == [limit] * 4 + [1]


def test_http_status_in_json(http: httpx2.Client, truth: Truth) -> None:
    xid = kinds(truth, "analog", 4)[3]
    start, end = window_with_status(truth, xid, EDGE_MS - 150 * DAY_MS, 10 * DAY_MS)
    raw = truth.points(xid, start, end)
    points, _ = _walk(http, xid, start, end, 5000, cursor=True, includeStatus=True, ignoreBadDataPoints=False)
    assert [dp["timestamp"] for dp in points] == raw.timestamps.tolist()
    for dp, code in zip(points, raw.status.tolist(), strict=True):
        if code == GOOD:
            assert "status" not in dp  # CDF leaves Good out
        else:
            assert dp["status"] == {"code": code, "symbol": "Bad" if code == BAD else "Uncertain"}


def test_http_limit_zero_and_empty_windows(http: httpx2.Client, truth: Truth) -> None:
    xid = kinds(truth, "analog", 1)[0]
    item = {"externalId": xid, "start": EDGE_MS - DAY_MS, "end": EDGE_MS, "limit": 0}
    (result,) = post(http, "publicdata", "/timeseries/data/list", {"items": [item]}).json()["items"]
    assert result["datapoints"] == [] and "nextCursor" not in result
    item = {"externalId": xid, "start": EDGE_MS + 1, "end": NOW_MS, "limit": 10}
    (result,) = post(http, "publicdata", "/timeseries/data/list", {"items": [item]}).json()["items"]
    assert result["datapoints"] == [] and "nextCursor" not in result


# --- outside points -------------------------------------------------------------------------------------


def _with_outside(truth: Truth, xid: str, start: int, end: int) -> Points:
    inside = truth.kept(xid, start, end)
    before = truth.kept(xid, start - 2 * DAY_MS, start)
    after = truth.kept(xid, end, end + 2 * DAY_MS)
    parts = [
        (p.timestamps, p.values, p.status)
        for p in (
            Points(before.timestamps[-1:], before.values[-1:], before.status[-1:]),
            inside,
            Points(after.timestamps[:1], after.values[:1], after.status[:1]),
        )
    ]
    return Points(*(np.concatenate(cols) for cols in zip(*parts, strict=True)))


def test_include_outside_points(source: CogniteClient, truth: Truth) -> None:
    one = kinds(truth, "digital", 1)[0]
    start, end = EDGE_MS - 20 * DAY_MS + 12_345, EDGE_MS - 10 * DAY_MS - 999
    expected = _with_outside(truth, one, start, end)
    assert expected.timestamps[0] < start and expected.timestamps[-1] >= end
    arr = source.time_series.data.retrieve_arrays(
        external_id=one, start=start, end=end, limit=None, include_outside_points=True
    )
    assert_array_equals(arr, expected)  # eager: a separate limit-0 request brings the outside points
    dps = source.time_series.data.retrieve(
        external_id=one, start=start, end=end, limit=None, include_outside_points=True
    )
    assert isinstance(dps, Datapoints) and dps.timestamp == expected.timestamps.tolist()

    many = [*kinds(truth, "analog", 5), *kinds(truth, "string", 2)]  # chunking: outside points in the first batch
    start, end = EDGE_MS - 100 * DAY_MS + 7, EDGE_MS - 40 * DAY_MS + 7
    result = source.time_series.data.retrieve_arrays(
        external_id=many, start=start, end=end, limit=None, include_outside_points=True
    )
    for xid in many:
        arr = result.get(external_id=xid)
        assert arr is not None
        assert_array_equals(arr, _with_outside(truth, xid, start, end))

    # A finite limit: the outside points come on top of it, the one after being the first at or after `end`.
    analog = many[0]
    with pytest.warns(UserWarning, match="the up-to-two outside points come in addition to your given `limit`"):
        limited = source.time_series.data.retrieve_arrays(
            external_id=analog, start=start, end=end, limit=100, include_outside_points=True
        )
    full = _with_outside(truth, analog, start, end)
    np.testing.assert_array_equal(ms(limited), np.concatenate([full.timestamps[:101], full.timestamps[-1:]]))

    # At the edge there is no point after.
    start = EDGE_MS - DAY_MS
    arr = source.time_series.data.retrieve_arrays(
        external_id=one, start=start, end=NOW_MS, limit=None, include_outside_points=True
    )
    before = truth.kept(one, start - 2 * DAY_MS, start)
    inside = truth.kept(one, start, NOW_MS)
    np.testing.assert_array_equal(ms(arr), np.concatenate([before.timestamps[-1:], inside.timestamps]))


def test_outside_point_behind_many_bad_points(target: CogniteClient) -> None:
    target.time_series.create(TimeSeriesWrite(external_id="outside"))
    good_before = [{"timestamp": 1_000, "value": 1.0}]
    bad_run = [{"timestamp": 2_000 + i, "value": 2.0, "status": {"code": BAD}} for i in range(80)]
    inside = [{"timestamp": 10_000 + i, "value": 3.0 + i} for i in range(5)]
    after = [{"timestamp": 20_000, "value": 9.0}]
    target.time_series.data.insert(good_before + bad_run + inside + after, external_id="outside")
    arr = target.time_series.data.retrieve_arrays(
        external_id="outside", start=10_000, end=20_000, limit=None, include_outside_points=True
    )
    assert ms(arr).tolist() == [1_000, *range(10_000, 10_005), 20_000]
    assert arr.value.tolist() == [1.0, 3.0, 4.0, 5.0, 6.0, 7.0, 9.0]


def test_timestamps_from_1900_to_2099(target: CogniteClient, http: httpx2.Client, numeric: str) -> None:
    first, last = -2_208_988_800_000, 4_102_444_799_999  # 1900-01-01 and 2099-12-31 23:59:59.999
    stamps = [first, first + 1, -DAY_MS - 1, -DAY_MS, -1, 0, 1, NOW_MS, last]
    target.time_series.data.insert([(t, float(i)) for i, t in enumerate(stamps)], external_id=numeric)
    arr = target.time_series.data.retrieve_arrays(external_id=numeric, start=first, end=last + 1, limit=None)
    assert isinstance(arr, DatapointsArray)
    assert ms(arr).tolist() == stamps
    assert arr.value.tolist() == [float(i) for i in range(len(stamps))]
    before_1970 = target.time_series.data.retrieve_arrays(external_id=numeric, start=first, end=0, limit=None)
    assert isinstance(before_1970, DatapointsArray) and ms(before_1970).tolist() == stamps[:5]
    for outside in (first - 1, last + 1):  # the SDK refuses these itself, so straight over HTTP
        item = {"externalId": numeric, "datapoints": [{"timestamp": outside, "value": 1.0}]}
        response = http.post(api("target", "/timeseries/data"), json={"items": [item]})
        assert response.status_code == 400
        error_of(response)
    target.time_series.data.delete_range(start=-DAY_MS, end=1, external_id=numeric)
    arr = target.time_series.data.retrieve_arrays(external_id=numeric, start=first, end=last + 1, limit=None)
    assert isinstance(arr, DatapointsArray)
    assert ms(arr).tolist() == [first, first + 1, -DAY_MS - 1, 1, NOW_MS, last]


# --- strings --------------------------------------------------------------------------------------------


def test_string_series_round_trip(target: CogniteClient) -> None:
    target.time_series.create(TimeSeriesWrite(external_id="str", is_string=True))
    values = ["AUTO", "", "ünïcødé €", "x" * 1023, 'with "quotes" and \n newline', "MAN"]
    points = [(1_700_000_000_000 + i * 1000, v) for i, v in enumerate(values)]
    target.time_series.data.insert(points, external_id="str")
    arr = target.time_series.data.retrieve_arrays(external_id="str", start=0, end=NOW_MS, limit=None)
    assert arr.is_string
    assert ms(arr).tolist() == [t for t, _ in points]
    assert arr.value.tolist() == values
    dps = target.time_series.data.retrieve(external_id="str", start=0, end=NOW_MS, limit=None)
    assert isinstance(dps, Datapoints) and dps.value == values
    latest = target.time_series.data.retrieve_latest(external_id="str", before=NOW_MS)
    assert latest is not None and latest.value == "MAN"

    target.time_series.data.insert([(1, "€" * 341)], external_id="str")  # 1023 bytes: the most CDF takes
    for too_long in ("y" * 1024, "€" * 342):
        with pytest.raises(CogniteAPIError) as info:
            target.time_series.data.insert([(2, too_long)], external_id="str")
        assert info.value.code == 400
    stored = target.time_series.data.retrieve_arrays(external_id="str", start=0, end=10, limit=None)
    assert isinstance(stored, DatapointsArray) and stored.value.tolist() == ["€" * 341]


def test_source_string_series(source: CogniteClient, truth: Truth) -> None:
    xids = truth.of_kind("string")
    assert len(xids) == 6
    start, end = EDGE_MS - 60 * DAY_MS, EDGE_MS
    result = source.time_series.data.retrieve_arrays(external_id=xids, start=start, end=end, limit=None)
    for xid in xids:
        arr = result.get(external_id=xid)
        assert arr is not None and arr.is_string
        assert set(arr.value.tolist()) <= set(STRING_MODES)
        assert len(set(arr.value.tolist())) >= 2
        assert_array_equals(arr, truth.kept(xid, start, end))


# --- inserts --------------------------------------------------------------------------------------------


@pytest.fixture
def numeric(target: CogniteClient) -> str:
    target.time_series.create(TimeSeriesWrite(external_id="num"))
    return "num"


def read_all(client: CogniteClient, xid: str, **kwargs: Any) -> DatapointsArray:
    arr = client.time_series.data.retrieve_arrays(
        external_id=xid, start=-10 * 365 * DAY_MS, end=NOW_MS, limit=None, **kwargs
    )
    assert isinstance(arr, DatapointsArray)
    return arr


def test_insert_and_overwrite(target: CogniteClient, numeric: str) -> None:
    base = NOW_MS - 3 * DAY_MS
    target.time_series.data.insert([(base + i * 60_000, float(i)) for i in range(3000)], external_id=numeric)
    arr = read_all(target, numeric)
    assert ms(arr).tolist() == [base + i * 60_000 for i in range(3000)]
    assert arr.value.tolist() == [float(i) for i in range(3000)]

    # Overwrite in the middle (one day block), at a block boundary, and add new points between.
    updates = [(base + 5 * 60_000, -5.0), (base + 2999 * 60_000, -2999.0), (base + 30_000, 0.5)]
    target.time_series.data.insert(updates, external_id=numeric)
    arr = read_all(target, numeric)
    assert len(arr) == 3001
    as_dict = dict(zip(ms(arr).tolist(), arr.value.tolist(), strict=True))
    assert as_dict[base + 5 * 60_000] == -5.0
    assert as_dict[base + 2999 * 60_000] == -2999.0
    assert as_dict[base + 30_000] == 0.5
    assert as_dict[base + 6 * 60_000] == 6.0
    assert np.all(np.diff(ms(arr)) > 0)

    # Within one request the last of duplicate timestamps wins (the SDK sends them in order).
    target.time_series.data.insert([(base, 100.0), (base, 200.0)], external_id=numeric)
    arr = read_all(target, numeric)
    assert len(arr) == 3001 and arr.value[0] == 200.0


def test_non_finite_values_round_trip(target: CogniteClient, http: httpx2.Client, numeric: str) -> None:
    """As in CDF, NaN, +-Infinity and values beyond +-1e100 are accepted only on Bad points, and come back."""
    bad = {"code": BAD}
    target.time_series.data.insert(
        [
            {"timestamp": 1_000, "value": math.nan, "status": bad},
            {"timestamp": 2_000, "value": math.inf, "status": bad},
            {"timestamp": 3_000, "value": -math.inf, "status": bad},
            {"timestamp": 4_000, "value": 1e100},
            {"timestamp": 5_000, "value": -0.0},
            {"timestamp": 6_000, "value": -1e100},
        ],
        external_id=numeric,
    )
    arr = read_all(target, numeric, ignore_bad_datapoints=False, include_status=True)
    assert ms(arr).tolist() == [1_000, 2_000, 3_000, 4_000, 5_000, 6_000]
    assert math.isnan(arr.value[0])
    assert arr.value[1:].tolist() == [math.inf, -math.inf, 1e100, -0.0, -1e100]
    assert math.copysign(1.0, arr.value[4]) == -1.0
    assert arr.status_code.tolist() == [BAD, BAD, BAD, GOOD, GOOD, GOOD]
    assert ms(read_all(target, numeric)).tolist() == [4_000, 5_000, 6_000]  # the Bad ones are dropped by default
    item = {"externalId": numeric, "start": 0, "end": 10_000, "limit": 10, "ignoreBadDataPoints": False}
    (result,) = post(http, "target", "/timeseries/data/list", {"items": [item]}).json()["items"]
    assert [dp["value"] for dp in result["datapoints"][:3]] == ["NaN", "Infinity", "-Infinity"]

    for value in (math.nan, math.inf, -math.inf, 1.1e100, -1.1e100):
        with pytest.raises(CogniteAPIError) as info:
            target.time_series.data.insert([(7_000, value)], external_id=numeric)  # Good: rejected
        assert info.value.code == 400
    assert len(read_all(target, numeric, ignore_bad_datapoints=False)) == 6


def test_status_codes_round_trip(target: CogniteClient, numeric: str) -> None:
    target.time_series.data.insert(
        [
            {"timestamp": 1_000, "value": 1.0},
            {"timestamp": 2_000, "value": 2.0, "status": {"code": UNCERTAIN}},
            {"timestamp": 3_000, "value": 3.0, "status": {"code": BAD}},
            {"timestamp": 4_000, "value": None, "status": {"symbol": "Bad"}},
            {"timestamp": 5_000, "value": 5.0, "status": {"symbol": "Uncertain"}},
            {"timestamp": 6_000, "value": 6.0, "status": {"code": 0}},
        ],
        external_id=numeric,
    )
    everything = read_all(target, numeric, include_status=True, ignore_bad_datapoints=False)
    assert ms(everything).tolist() == [1_000, 2_000, 3_000, 4_000, 5_000, 6_000]
    assert everything.status_code.tolist() == [GOOD, UNCERTAIN, BAD, BAD, UNCERTAIN, GOOD]
    assert everything.status_symbol.tolist() == ["Good", "Uncertain", "Bad", "Bad", "Uncertain", "Good"]
    assert everything.null_timestamps == {4_000}
    lists = target.time_series.data.retrieve(
        external_id=numeric, start=0, end=10_000, include_status=True, ignore_bad_datapoints=False
    )
    assert isinstance(lists, Datapoints)
    assert lists.value == [1.0, 2.0, 3.0, None, 5.0, 6.0]

    assert ms(read_all(target, numeric)).tolist() == [1_000, 6_000]
    assert ms(read_all(target, numeric, treat_uncertain_as_bad=False)).tolist() == [1_000, 2_000, 5_000, 6_000]

    with pytest.raises(CogniteAPIError) as info:  # only Bad points may lack a value
        target.time_series.data.insert([{"timestamp": 7_000, "value": None}], external_id=numeric)
    assert info.value.code == 400


def test_type_mismatches_are_400_and_atomic(target: CogniteClient, numeric: str) -> None:
    target.time_series.create(TimeSeriesWrite(external_id="str", is_string=True))
    with pytest.raises(CogniteAPIError) as info:
        target.time_series.data.insert_multiple(
            [
                {"external_id": numeric, "datapoints": [(1_000, 1.0), (2_000, 2.0)]},
                {"external_id": "str", "datapoints": [(1_000, "ok")]},
                {"external_id": numeric, "datapoints": [(3_000, "not a number")]},
            ]
        )
    assert info.value.code == 400
    assert "not a number" in info.value.message
    assert len(read_all(target, numeric)) == 0  # nothing of that request was written
    assert len(read_all(target, "str")) == 0

    with pytest.raises(CogniteAPIError) as info:
        target.time_series.data.insert([(1_000, 42.0)], external_id="str")
    assert info.value.code == 400
    assert len(read_all(target, "str")) == 0


def test_insert_unknown_series(target: CogniteClient, numeric: str) -> None:
    with pytest.raises(CogniteNotFoundError) as info:
        target.time_series.data.insert([(1_000, 1.0)], external_id="nope")
    assert info.value.not_found == [{"externalId": "nope"}]
    with pytest.raises(CogniteNotFoundError) as info:
        target.time_series.data.insert_multiple(
            [
                {"external_id": numeric, "datapoints": [(1_000, 1.0)]},
                {"external_id": "nope2", "datapoints": [(1_000, 1.0)]},
                {"id": 424242, "datapoints": [(1_000, 1.0)]},
            ]
        )
    assert info.value.not_found == [{"externalId": "nope2"}, {"id": 424242}]
    assert len(read_all(target, numeric)) == 0


def test_insert_multiple_beyond_one_request(local_cdf: RunningLocalCDF, target: CogniteClient, numeric: str) -> None:
    target.time_series.create([TimeSeriesWrite(external_id="big:2"), TimeSeriesWrite(external_id="big:3")])
    n = 90_000
    base = NOW_MS - 200 * DAY_MS
    rng = np.random.default_rng(7)
    expected = {
        xid: (base + np.arange(n, dtype=np.int64) * 10_000 + offset, rng.standard_normal(n))
        for offset, xid in enumerate((numeric, "big:2", "big:3"))
    }
    local_cdf.request_log.clear()
    target.time_series.data.insert_multiple(
        [{"external_id": xid, "datapoints": list(zip(t.tolist(), v.tolist(), strict=True))}
         for xid, (t, v) in expected.items()]
    )  # fmt: skip
    inserts = local_cdf.request_log.matching(r"/timeseries/data$", "POST")
    assert len(inserts) >= 3 and {r.status for r in inserts} == {200}  # 270,000 points: chunked by the SDK
    for xid, (t, v) in expected.items():
        arr = read_all(target, xid)
        np.testing.assert_array_equal(ms(arr), t)
        np.testing.assert_array_equal(arr.value, v)


def _gzip_json(body: Any) -> bytes:
    return gzip.compress(json.dumps(body).encode(), compresslevel=1)


def test_insert_limits_over_http(http: httpx2.Client, target: CogniteClient, numeric: str) -> None:
    headers = {"content-type": "application/json", "content-encoding": "gzip"}

    def insert(items: list[dict[str, Any]]) -> httpx2.Response:
        return http.post(api("target", "/timeseries/data"), content=_gzip_json({"items": items}), headers=headers)

    too_many_points = [{"externalId": numeric, "datapoints": [{"timestamp": i, "value": 1.0} for i in range(100_001)]}]
    response = insert(too_many_points)
    assert response.status_code == 400
    assert "100000" in error_of(response)["message"]

    split = [
        {"externalId": numeric, "datapoints": [{"timestamp": i, "value": 1.0} for i in range(60_000)]},
        {"externalId": numeric, "datapoints": [{"timestamp": i, "value": 1.0} for i in range(60_000, 100_001)]},
    ]
    assert insert(split).status_code == 400  # the limit is over the whole request

    too_many_items = [{"externalId": numeric, "datapoints": [{"timestamp": i, "value": 1.0}]} for i in range(10_001)]
    response = insert(too_many_items)
    assert response.status_code == 400
    error_of(response)
    assert len(read_all(target, numeric)) == 0

    at_limit = [{"externalId": numeric, "datapoints": [{"timestamp": i, "value": float(i)} for i in range(100_000)]}]
    assert insert(at_limit).status_code == 200
    # 10,000 items of distinct series (one series named twice is a 422 of its own).
    target.time_series.create([TimeSeriesWrite(external_id=f"limit:{i}") for i in range(10_000)])
    items_at_limit = [{"externalId": f"limit:{i}", "datapoints": [{"timestamp": 10**6 + i, "value": float(i)}]}
                      for i in range(10_000)]  # fmt: skip
    assert insert(items_at_limit).status_code == 200
    assert len(read_all(target, numeric)) == 100_000
    assert ms(read_all(target, "limit:9999")).tolist() == [10**6 + 9999]

    for bad_body in ({"items": []}, {"items": [{"externalId": numeric, "datapoints": []}]}, {"nope": 1}):
        response = http.post(api("target", "/timeseries/data"), json=bad_body)
        assert response.status_code == 400
        error_of(response)
    response = http.post(api("target", "/timeseries/data"), content=b"not gzip", headers=headers)
    assert response.status_code == 400
    error_of(response)


def test_a_series_named_twice_is_refused_whole(http: httpx2.Client, target: CogniteClient, numeric: str) -> None:
    # CDF: 422 "Duplicate IDs found"; the SDK merges such items itself before sending, so only raw HTTP meets it.
    items = [
        {"externalId": numeric, "datapoints": [{"timestamp": 1_000, "value": 1.0}]},
        {"externalId": numeric, "datapoints": [{"timestamp": 2_000, "value": 2.0}]},
    ]
    response = http.post(api("target", "/timeseries/data"), json={"items": items})
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": 422,
        "message": "Duplicate IDs found. Retry request, keeping only one instance of each duplicated ID.",
        "duplicated": [{"externalId": numeric}],
    }
    assert len(read_all(target, numeric)) == 0


def test_insert_same_series_by_two_identifiers(http: httpx2.Client, target: CogniteClient, numeric: str) -> None:
    series_id = target.time_series.retrieve(external_id=numeric).id
    items = [
        {"externalId": numeric, "datapoints": [{"timestamp": 1_000, "value": 1.0}, {"timestamp": 2_000, "value": 2.0}]},
        {"id": series_id, "datapoints": [{"timestamp": 2_000, "value": 20.0}, {"timestamp": 3_000, "value": 3.0}]},
    ]
    assert http.post(api("target", "/timeseries/data"), json={"items": items}).status_code == 200
    arr = read_all(target, numeric)
    assert ms(arr).tolist() == [1_000, 2_000, 3_000]
    assert arr.value.tolist() == [1.0, 20.0, 3.0]  # request order: the later item wins


# --- delete ranges --------------------------------------------------------------------------------------


def test_delete_ranges_exact(local_cdf: RunningLocalCDF, target: CogniteClient, numeric: str) -> None:
    target.time_series.create(TimeSeriesWrite(external_id="other"))
    day0 = (NOW_MS - 30 * DAY_MS) // DAY_MS * DAY_MS
    stamps = np.arange(day0, day0 + 6 * DAY_MS, 15 * 60_000, dtype=np.int64)  # six day blocks
    points = [(int(t), float(i)) for i, t in enumerate(stamps)]
    target.time_series.data.insert_multiple(
        [{"external_id": numeric, "datapoints": points}, {"external_id": "other", "datapoints": points}]
    )
    cuts = [
        (day0 + 5 * HOUR_MS, day0 + 3 * DAY_MS + 7 * HOUR_MS),  # partial, whole, whole, partial blocks
        (day0 + 4 * DAY_MS + 15 * 60_000, day0 + 4 * DAY_MS + 30 * 60_000),  # exactly one point
        (day0 + 5 * DAY_MS, day0 + 6 * DAY_MS),  # exactly one whole block
    ]
    local_cdf.request_log.clear()
    target.time_series.data.delete_ranges(
        [{"external_id": numeric, "start": a, "end": b} for a, b in cuts]
        + [{"external_id": "other", "start": day0, "end": day0 + 1}]
    )
    assert len(local_cdf.request_log.matching(r"/timeseries/data/delete$")) == 1
    survivors = np.ones(len(stamps), bool)
    for a, b in cuts:
        survivors &= (stamps < a) | (stamps >= b)
    arr = read_all(target, numeric)
    np.testing.assert_array_equal(ms(arr), stamps[survivors])
    np.testing.assert_array_equal(arr.value, np.arange(len(stamps), dtype=np.float64)[survivors])
    other = read_all(target, "other")
    np.testing.assert_array_equal(ms(other), stamps[1:])

    target.time_series.data.delete_range(start=0, end=NOW_MS, external_id="other")
    assert len(read_all(target, "other")) == 0
    with pytest.raises(CogniteNotFoundError) as info:
        target.time_series.data.delete_range(start=0, end=NOW_MS, external_id="nope")
    assert info.value.not_found == [{"externalId": "nope"}]


# --- latest ---------------------------------------------------------------------------------------------


def test_retrieve_latest(target: CogniteClient, numeric: str) -> None:
    base = NOW_MS - 10 * DAY_MS
    target.time_series.data.insert(
        [
            {"timestamp": base - 3 * DAY_MS, "value": 1.0},
            {"timestamp": base, "value": 2.0},
            {"timestamp": base + 1_000, "value": 3.0, "status": {"code": UNCERTAIN}},
            {"timestamp": base + 2_000, "value": 4.0, "status": {"code": BAD}},
        ],
        external_id=numeric,
    )
    latest = target.time_series.data.retrieve_latest(external_id=numeric)
    assert latest is not None and (latest.timestamp_ms, latest.value) == (base, 2.0)  # bad and uncertain skipped
    latest = target.time_series.data.retrieve_latest(external_id=numeric, before=base)  # before is exclusive
    assert latest is not None and (latest.timestamp_ms, latest.value) == (base - 3 * DAY_MS, 1.0)
    latest = target.time_series.data.retrieve_latest(external_id=numeric, before=base - 3 * DAY_MS)
    assert latest is not None and not latest and latest.timestamp is None
    latest = target.time_series.data.retrieve_latest(
        external_id=numeric, ignore_bad_datapoints=False, include_status=True
    )
    assert latest is not None and (latest.timestamp_ms, latest.value, latest.status_code) == (base + 2_000, 4.0, BAD)
    latest = target.time_series.data.retrieve_latest(
        external_id=numeric, treat_uncertain_as_bad=False, include_status=True
    )
    assert latest is not None
    assert (latest.timestamp_ms, latest.status_code, latest.status_symbol) == (base + 1_000, UNCERTAIN, "Uncertain")

    with pytest.raises(CogniteNotFoundError) as info:
        target.time_series.data.retrieve_latest(external_id=[numeric, "nope"])
    assert info.value.not_found == [{"externalId": "nope"}]
    found = target.time_series.data.retrieve_latest(external_id=[numeric, "nope"], ignore_unknown_ids=True)
    assert [x.external_id for x in found] == [numeric]  # type: ignore[union-attr]


def test_retrieve_latest_from_source(source: CogniteClient, truth: Truth) -> None:
    xids = [*kinds(truth, "analog", 2), *kinds(truth, "string", 1)]
    found = source.time_series.data.retrieve_latest(external_id=xids)  # the SDK's "now" is past the edge
    before = EDGE_MS - 5 * DAY_MS + 123
    earlier = source.time_series.data.retrieve_latest(external_id=xids, before=before)
    for xid, latest, previous in zip(xids, found, earlier, strict=True):  # type: ignore[arg-type]
        newest = truth.kept(xid, EDGE_MS - 2 * DAY_MS, EDGE_MS + 1)
        assert (latest.timestamp_ms, latest.value) == (int(newest.timestamps[-1]), newest.values[-1])
        older = truth.kept(xid, before - 2 * DAY_MS, before)
        assert (previous.timestamp_ms, previous.value) == (int(older.timestamps[-1]), older.values[-1])


# --- aggregates -----------------------------------------------------------------------------------------

AGGREGATES = ["count", "average", "min", "max", "sum"]
UNIT_MS = {"h": HOUR_MS, "d": DAY_MS}


def expected_aggregates(points: Points, aligned: int, bucket_ms: int) -> dict[str, list[float]]:
    """Per non-empty bucket from `aligned`, over the Good points; sums exact (fsum)."""
    good = keep(points)
    index = (good.timestamps - aligned) // bucket_ms
    out: dict[str, list[float]] = {"timestamp": [], **{a: [] for a in AGGREGATES}}
    for b in np.unique(index):
        values = good.values[index == b].tolist()
        total = math.fsum(values)
        out["timestamp"].append(float(aligned + b * bucket_ms))
        out["count"].append(float(len(values)))
        out["sum"].append(total)
        out["average"].append(total / len(values))
        out["min"].append(min(values))
        out["max"].append(max(values))
    return out


@pytest.mark.parametrize("granularity", ["1h", "1d", "2h", "3d", "15m"])
def test_aggregates_through_the_sdk(source: CogniteClient, truth: Truth, granularity: str) -> None:
    xids = [*kinds(truth, "analog", 2), kinds(truth, "step", 1)[0], kinds(truth, "digital", 1)[0]]
    multiple, unit = int(granularity[:-1]), granularity[-1]
    unit_ms = UNIT_MS.get(unit, 60_000)
    bucket = multiple * unit_ms
    start = EDGE_MS - 40 * DAY_MS + 10 * HOUR_MS + 17 * 60_000  # 10:17 on some day
    end = start + 12 * DAY_MS
    result = source.time_series.data.retrieve_arrays(
        external_id=xids, start=start, end=end, aggregates=AGGREGATES, granularity=granularity, limit=None
    )
    aligned = start // unit_ms * unit_ms
    span = end - aligned
    aligned_end = aligned + -(-span // bucket) * bucket  # the SDK rounds the end up to whole buckets
    for xid in xids:
        arr = result.get(external_id=xid)
        assert arr is not None
        expected = expected_aggregates(truth.points(xid, aligned, aligned_end), aligned, bucket)
        assert ms(arr).tolist() == [int(t) for t in expected["timestamp"]]
        assert arr.count.tolist() == [int(c) for c in expected["count"]]
        for name in ("sum", "average", "min", "max"):
            assert getattr(arr, name).tolist() == expected[name], (xid, name)


def test_aggregate_start_is_rounded_to_the_unit_over_http(http: httpx2.Client, truth: Truth) -> None:
    """CDF aligns aggregates to the granularity's unit: start 10:17 with 1h or 2h gives buckets from 10:00, with
    3d from midnight. (Ends are whole buckets here, as the SDK sends them.)"""
    xid = kinds(truth, "analog", 1)[0]
    day = (EDGE_MS - 20 * DAY_MS) // DAY_MS * DAY_MS
    start = day + 10 * HOUR_MS + 17 * 60_000  # 10:17
    for granularity, aligned, bucket, end in (
        ("1h", day + 10 * HOUR_MS, HOUR_MS, day + 16 * HOUR_MS),
        ("2h", day + 10 * HOUR_MS, 2 * HOUR_MS, day + 16 * HOUR_MS),  # from 10:00, not from an even hour
        ("3d", day, 3 * DAY_MS, day + 6 * DAY_MS),
    ):
        item = {"externalId": xid, "start": start, "end": end, "granularity": granularity,
                "aggregates": AGGREGATES, "limit": 1000}  # fmt: skip
        response = post(http, "publicdata", "/timeseries/data/list", {"items": [item]})
        assert response.status_code == 200, response.text
        (result,) = response.json()["items"]
        rows = result["datapoints"]
        assert [r["timestamp"] for r in rows] == list(range(aligned, end, bucket)), granularity
        expected = expected_aggregates(truth.points(xid, aligned, end), aligned, bucket)
        assert [r["timestamp"] for r in rows] == [int(t) for t in expected["timestamp"]]
        for name in AGGREGATES:
            assert [r[name] for r in rows] == expected[name], (granularity, name)
        assert all(type(r["count"]) is int for r in rows)  # an integer in CDF's JSON, not 60.0
        # The first bucket holds the points from the rounded start, those before `start` too.
        assert count(keep(truth.points(xid, aligned, start))) > 0
        assert rows[0]["count"] == count(keep(truth.points(xid, aligned, aligned + bucket)))


def test_aggregate_pages_and_limit(http: httpx2.Client, truth: Truth) -> None:
    xid = kinds(truth, "analog", 1)[0]
    start = (EDGE_MS - 100 * DAY_MS) // DAY_MS * DAY_MS
    end = start + 50 * DAY_MS
    item = {"externalId": xid, "start": start, "end": end, "granularity": "1h", "aggregates": ["count"],
            "limit": 500}  # fmt: skip
    rows: list[dict[str, Any]] = []
    while True:
        (result,) = post(http, "publicdata", "/timeseries/data/list", {"items": [item]}).json()["items"]
        assert len(result["datapoints"]) <= 500
        rows += result["datapoints"]
        if "nextCursor" not in result:
            break
        assert len(result["datapoints"]) == 500
        item["cursor"] = result["nextCursor"]
    assert [r["timestamp"] for r in rows] == list(range(start, end, HOUR_MS))
    assert sum(r["count"] for r in rows) == len(truth.kept(xid, start, end).timestamps)


def test_aggregates_of_a_string_series_are_400(source: CogniteClient, truth: Truth) -> None:
    xid = kinds(truth, "string", 1)[0]
    with pytest.raises(CogniteAPIError) as info:
        source.time_series.data.retrieve(
            external_id=xid, start=EDGE_MS - DAY_MS, end=EDGE_MS, aggregates="average", granularity="1h"
        )
    assert info.value.code == 400


def test_read_limits_over_http(http: httpx2.Client, truth: Truth) -> None:
    xids = kinds(truth, "analog", 101)
    start, end = EDGE_MS - DAY_MS, EDGE_MS

    def read(items: Sequence[dict[str, Any]]) -> httpx2.Response:
        return post(http, "publicdata", "/timeseries/data/list", {"items": list(items)})

    raw = [{"externalId": x, "start": start, "end": end, "limit": 1000} for x in xids]
    assert read(raw[:100]).status_code == 200
    response = read(raw)  # 101 items
    assert response.status_code == 400
    error_of(response)

    assert read([{**raw[0], "limit": 60_000}, {**raw[1], "limit": 40_000}]).status_code == 200
    response = read([{**raw[0], "limit": 60_000}, {**raw[1], "limit": 40_001}])
    assert response.status_code == 400
    assert "100000" in error_of(response)["message"]
    assert read([{**raw[0], "limit": 100_001}]).status_code == 400

    agg = {"granularity": "1h", "aggregates": ["average"]}
    assert read([{**raw[0], **agg, "limit": 6000}, {**raw[1], **agg, "limit": 4000}]).status_code == 200
    response = read([{**raw[0], **agg, "limit": 6000}, {**raw[1], **agg, "limit": 4001}])
    assert response.status_code == 400
    assert "10000" in error_of(response)["message"]
    # Raw and aggregate limits are separate budgets.
    assert read([{**raw[0], "limit": 100_000}, {**raw[1], **agg, "limit": 10_000}]).status_code == 200

    for bad in (
        {**raw[0], "start": end, "end": start},
        {**raw[0], "limit": -1},
        {**raw[0], "aggregates": ["average"]},  # no granularity
        {**raw[0], "granularity": "1h", "aggregates": ["median"]},
        {**raw[0], "granularity": "1 fortnight", "aggregates": ["average"]},
        {**raw[0], "unknownField": 1},
    ):
        response = read([bad])
        assert response.status_code == 400, bad
        error_of(response)


# --- the request log and the fault hook ------------------------------------------------------------------


def test_request_log_records_requests(local_cdf: RunningLocalCDF, source: CogniteClient, truth: Truth) -> None:
    local_cdf.request_log.clear()
    wall_before, started = time.time(), time.monotonic()
    source.time_series.list(limit=5)
    source.time_series.data.retrieve_arrays(
        external_id=kinds(truth, "analog", 1)[0], start=EDGE_MS - HOUR_MS, end=EDGE_MS, limit=None
    )
    elapsed, wall_after = time.monotonic() - started, time.time()
    counts = local_cdf.request_log.counts
    assert counts[("POST", "/api/v1/projects/publicdata/timeseries/list")] == 1
    assert counts[("POST", "/api/v1/projects/publicdata/timeseries/data/list")] >= 1
    records = local_cdf.request_log.matching(r"/publicdata/timeseries/")
    assert all(r.status == 200 and not r.fault for r in records)
    assert records[0].path == "/api/v1/projects/publicdata/timeseries/list"
    # The server's time on each request (the middleware's own monotonic clock) lies inside the client's.
    for r in records:
        assert wall_before <= r.started_at <= wall_after and 0 < r.duration_s <= elapsed, r

    # A request the server holds for 0.3 s is logged as taking at least that, and no longer than the client waited.
    stall_s = 0.3
    local_cdf.faults.script(r"/timeseries/list$", [Fault(status=503, stall_s=stall_s)])
    started = time.monotonic()
    assert len(source.time_series.list(limit=5)) == 5  # the SDK retries the 503
    elapsed = time.monotonic() - started
    stalled, served = local_cdf.request_log.matching(r"/timeseries/list$")[-2:]
    assert (stalled.status, stalled.fault, served.status, served.fault) == (503, True, 200, False)
    assert stall_s <= stalled.duration_s <= elapsed, (stalled, elapsed)
    assert 0 < served.duration_s <= elapsed - stall_s, (served, elapsed)


def test_retryable_faults_are_retried(local_cdf: RunningLocalCDF, source: CogniteClient) -> None:
    local_cdf.request_log.clear()
    local_cdf.faults.script("/timeseries/list", [Fault(503), Fault(503)])
    assert len(source.time_series.list(limit=None)) == 363
    records = local_cdf.request_log.matching(r"/timeseries/list$")
    assert [(r.status, r.fault) for r in records] == [(503, True), (503, True), (200, False)]
    assert local_cdf.faults.injected["503"] == 2


def test_plain_500_is_not_retried(local_cdf: RunningLocalCDF, source: CogniteClient) -> None:
    local_cdf.request_log.clear()
    local_cdf.faults.script("/timeseries/list", [Fault(500)])
    with pytest.raises(CogniteAPIError) as info:
        source.time_series.list(limit=None)
    assert info.value.code == 500
    records = local_cdf.request_log.matching(r"/timeseries/list$")
    assert [r.status for r in records] == [500]
    assert info.value.x_request_id == records[0].request_id
    assert len(source.time_series.list(limit=None)) == 363  # the script is used up


def test_auto_retryable_500_is_retried(local_cdf: RunningLocalCDF, source: CogniteClient) -> None:
    local_cdf.request_log.clear()
    local_cdf.faults.script("/timeseries/list", [Fault(500, headers={"cdf-is-auto-retryable": "true"})])
    assert len(source.time_series.list(limit=None)) == 363
    assert [r.status for r in local_cdf.request_log.matching(r"/timeseries/list$")] == [500, 200]


def test_faults_during_a_dense_read_lose_nothing(
    local_cdf: RunningLocalCDF, source: CogniteClient, truth: Truth
) -> None:
    xids = kinds(truth, "analog", 2)
    start, end = EDGE_MS - 60 * DAY_MS, EDGE_MS
    local_cdf.request_log.clear()
    local_cdf.faults.script("/timeseries/data/list", [Fault(503), Fault(502)])
    result = source.time_series.data.retrieve_arrays(external_id=xids, start=start, end=end, limit=None)
    for xid, arr in zip(xids, result, strict=True):
        assert_array_equals(arr, truth.kept(xid, start, end))
    statuses = [r.status for r in local_cdf.request_log.matching(DATA_LIST.format("publicdata"))]
    assert sorted(statuses)[-2:] == [502, 503] and statuses.count(200) >= 2
