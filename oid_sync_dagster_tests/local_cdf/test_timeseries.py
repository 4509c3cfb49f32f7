"""`/timeseries`: the synthetic catalog, list filters and cursors, byids, create, update, delete, read-only source."""

from __future__ import annotations

from collections import Counter

import httpx2
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes import DataSetWrite, TimeSeriesUpdate, TimeSeriesWrite
from cognite.client.data_classes.filters import And, Equals, In, Not, Prefix
from cognite.client.exceptions import CogniteAPIError, CogniteDuplicatedError, CogniteNotFoundError

from oid_sync_dagster.local_cdf.server import RunningLocalCDF
from oid_sync_dagster_tests.local_cdf.conftest import NOW_MS, Truth, api, error_of

LIST_PATH = r"^/api/v1/projects/{}/timeseries/list$"


def _list_requests(cdf: RunningLocalCDF, project: str) -> list[int]:
    return [r.status for r in cdf.request_log.matching(LIST_PATH.format(project), "POST")]


# --- the source catalog ---------------------------------------------------------------------------------


def test_source_catalog_is_the_synthetic_oid(local_cdf: RunningLocalCDF, source: CogniteClient, truth: Truth) -> None:
    listed = source.time_series.list(external_id_prefix="pi:", limit=None)
    assert len(listed) == 363
    assert sum(ts.is_string for ts in listed) == 6
    assert sum(ts.is_step for ts in listed) == 5
    assert _list_requests(local_cdf, "publicdata") == [200]  # 363 fit one page of 1000
    by_xid = {ts.external_id: ts for ts in listed}
    assert len(by_xid) == 363
    assert set(by_xid) == {s.external_id for s in truth.catalog}
    for expected in truth.catalog:
        ts = by_xid[expected.external_id]
        assert ts.id == expected.id
        assert ts.name == expected.name
        assert ts.description == expected.description
        assert ts.unit == expected.unit
        assert ts.metadata == expected.metadata
        assert (ts.is_string, ts.is_step) == (expected.is_string, expected.is_step)
        assert (ts.created_time, ts.last_updated_time) == (expected.created_time, expected.last_updated_time)
        assert ts.instance_id is None


def test_partitioned_list_returns_the_same_set(local_cdf: RunningLocalCDF, source: CogniteClient) -> None:
    plain = source.time_series.list(limit=None)
    partitioned = source.time_series.list(limit=None, partitions=3)
    assert len(partitioned) == 363
    assert Counter(ts.id for ts in partitioned) == Counter(ts.id for ts in plain)
    assert _list_requests(local_cdf, "publicdata") == [200] * 4


def test_list_without_prefix_and_default_limit(source: CogniteClient) -> None:
    assert len(source.time_series.list()) == 25  # the SDK's default limit
    assert len(source.time_series.list(limit=363)) == 363
    assert len(source.time_series.list(external_id_prefix="nothing-like-this", limit=None)) == 0


def test_unsupported_list_options_are_refused_not_ignored(source: CogniteClient) -> None:
    """The local CDF lists in id order only: a sort, or a filter it cannot evaluate, is a 400, never a wrong answer."""
    for attempt in (
        lambda: source.time_series.list(sort="name", limit=10),
        lambda: source.time_series.list(asset_subtree_ids=[1], limit=10),
    ):
        with pytest.raises(CogniteAPIError) as info:
            attempt()
        assert info.value.code == 400


# --- cursors --------------------------------------------------------------------------------------------


N_MANY = 2345


@pytest.fixture
def many(target: CogniteClient) -> list[str]:
    xids = [f"many:{i:05d}" for i in range(N_MANY)]
    created = target.time_series.create([TimeSeriesWrite(external_id=x, name=x) for x in xids])
    assert sorted(ts.external_id for ts in created) == xids
    return xids


def test_sdk_pagination_over_several_pages(local_cdf: RunningLocalCDF, target: CogniteClient, many: list[str]) -> None:
    local_cdf.request_log.clear()
    everything = target.time_series.list(limit=None)
    assert sorted(ts.external_id for ts in everything) == many
    assert len({ts.id for ts in everything}) == N_MANY
    assert _list_requests(local_cdf, "target") == [200, 200, 200]  # pages of 1000, 1000, 345

    local_cdf.request_log.clear()
    first = target.time_series.list(limit=1500)
    assert [ts.id for ts in first] == [ts.id for ts in everything][:1500]
    assert _list_requests(local_cdf, "target") == [200, 200]

    chunks = list(target.time_series(chunk_size=1000))
    assert [len(c) for c in chunks] == [1000, 1000, 345]
    assert [ts.id for chunk in chunks for ts in chunk] == [ts.id for ts in everything]

    prefixed = target.time_series.list(external_id_prefix="many:012", limit=None)
    assert sorted(ts.external_id for ts in prefixed) == [x for x in many if x.startswith("many:012")]


def test_http_cursor_pages_are_full_and_end_exactly(http: httpx2.Client, many: list[str]) -> None:
    limit = N_MANY // 5  # 469: five full pages, and no cursor after the fifth
    pages, cursor = [], None
    while True:
        body: dict[str, object] = {"limit": limit}
        if cursor:
            body["cursor"] = cursor
        response = http.post(api("target", "/timeseries/list"), json=body)
        assert response.status_code == 200
        page = response.json()
        pages.append([ts["externalId"] for ts in page["items"]])
        cursor = page["nextCursor"]
        if cursor is None:
            break
        assert len(pages) < 10
    assert [len(p) for p in pages] == [limit] * 5
    assert sorted(x for p in pages for x in p) == many

    limit = 1000
    sizes = []
    body = {"limit": limit, "filter": {"externalIdPrefix": "many:"}}
    while True:
        page = http.post(api("target", "/timeseries/list"), json=body).json()
        sizes.append(len(page["items"]))
        if not page["nextCursor"]:
            break
        body["cursor"] = page["nextCursor"]
    assert sizes == [1000, 1000, 345]


def test_http_list_limits_are_enforced(http: httpx2.Client) -> None:
    for limit in (0, 1001, -1, "10"):
        response = http.post(api("publicdata", "/timeseries/list"), json={"limit": limit})
        assert response.status_code == 400, limit
        error_of(response)
    response = http.post(api("publicdata", "/timeseries/list"), json={"limit": 10, "cursor": "!!not-a-cursor"})
    assert response.status_code == 400
    response = http.post(api("publicdata", "/timeseries/list"), json={"limit": 10, "partition": "4/3"})
    assert response.status_code == 400


# --- filters --------------------------------------------------------------------------------------------


def _xids(items: object) -> set[str]:
    return {ts.external_id for ts in items}  # type: ignore[attr-defined]


def test_advanced_filter_prefix(source: CogniteClient, truth: Truth) -> None:
    xids = sorted(s.external_id for s in truth.catalog)
    prefix = xids[100][:8]  # e.g. "pi:16010": a run of consecutive point ids
    expected = {x for x in xids if x.startswith(prefix)}
    assert 1 < len(expected) < 363
    found = source.time_series.list(advanced_filter=Prefix("externalId", prefix), limit=None)
    assert _xids(found) == expected

    combined = And(Prefix("externalId", "pi:"), Equals("isString", True))
    assert _xids(source.time_series.list(advanced_filter=combined, limit=None)) == set(truth.of_kind("string"))
    digital = Equals(["metadata", "pointtype"], "Digital")
    assert _xids(source.time_series.list(advanced_filter=digital, limit=None)) == set(truth.of_kind("digital"))
    not_analog = Not(In(["metadata", "pointtype"], ["Float32"]))
    assert len(source.time_series.list(advanced_filter=not_analog, limit=None)) == 65 + 6


def test_classic_filters(source: CogniteClient, truth: Truth) -> None:
    assert _xids(source.time_series.list(is_string=True, limit=None)) == set(truth.of_kind("string"))
    assert _xids(source.time_series.list(is_step=True, limit=None)) == set(truth.of_kind("step"))
    assert len(source.time_series.list(is_string=False, limit=None)) == 357
    assert len(source.time_series.list(is_step=False, limit=None)) == 358
    degc = {s.external_id for s in truth.catalog if s.unit == "degC"}
    assert degc
    assert _xids(source.time_series.list(unit="degC", limit=None)) == degc
    assert _xids(source.time_series.list(metadata={"pointtype": "Digital"}, limit=None)) == set(
        truth.of_kind("digital")
    )
    assert len(source.time_series.list(metadata={"pointtype": "Digital"}, limit=None)) == 65
    both = {s.external_id for s in truth.catalog if s.unit == "%" and not s.is_string}
    assert _xids(source.time_series.list(unit="%", is_string=False, limit=None)) == both
    assert len(source.time_series.list(metadata={"pointtype": "NoSuchType"}, limit=None)) == 0


# --- byids ----------------------------------------------------------------------------------------------


def test_retrieve_by_id_and_external_id(source: CogniteClient, truth: Truth) -> None:
    series = truth.catalog[:5]
    by_id = source.time_series.retrieve_multiple(ids=[s.id for s in series])
    assert [ts.external_id for ts in by_id] == [s.external_id for s in series]  # request order
    by_xid = source.time_series.retrieve_multiple(external_ids=[s.external_id for s in reversed(series)])
    assert [ts.id for ts in by_xid] == [s.id for s in reversed(series)]
    one = source.time_series.retrieve(external_id=series[0].external_id)
    assert one is not None and one.id == series[0].id
    assert source.time_series.retrieve(id=series[1].id).external_id == series[1].external_id  # type: ignore[union-attr]
    assert source.time_series.retrieve(external_id="pi:nope") is None


def test_retrieve_unknown_ids(source: CogniteClient, truth: Truth) -> None:
    known = truth.catalog[0]
    with pytest.raises(CogniteNotFoundError) as info:
        source.time_series.retrieve_multiple(external_ids=[known.external_id, "pi:nope1", "pi:nope2"])
    assert info.value.code == 400
    assert info.value.not_found == [{"externalId": "pi:nope1"}, {"externalId": "pi:nope2"}]

    with pytest.raises(CogniteNotFoundError) as info:
        source.time_series.retrieve_multiple(ids=[known.id, 12345])
    assert info.value.not_found == [{"id": 12345}]

    found = source.time_series.retrieve_multiple(
        ids=[known.id, 12345], external_ids=["pi:nope1", truth.catalog[1].external_id], ignore_unknown_ids=True
    )
    assert sorted(ts.id for ts in found) == sorted([known.id, truth.catalog[1].id])


# --- create, update, delete -----------------------------------------------------------------------------


def test_create_returns_the_stored_resource(target: CogniteClient) -> None:
    created = target.time_series.create(
        TimeSeriesWrite(
            external_id="c:1",
            name="Created",
            description="d",
            unit="degC",
            is_step=True,
            metadata={"k": "v"},
        )
    )
    assert created.id > 0
    assert (created.external_id, created.name, created.description, created.unit) == ("c:1", "Created", "d", "degC")
    assert (created.is_string, created.is_step, created.metadata) == (False, True, {"k": "v"})
    assert created.created_time == created.last_updated_time == NOW_MS
    again = target.time_series.retrieve(external_id="c:1")
    assert again is not None and again.dump() == created.dump()
    plain = target.time_series.create(TimeSeriesWrite(external_id="c:2"))
    assert (plain.is_string, plain.is_step, plain.metadata, plain.unit) == (False, False, {}, None)


def test_create_duplicate_external_id(target: CogniteClient) -> None:
    target.time_series.create(TimeSeriesWrite(external_id="dup:a"))
    with pytest.raises(CogniteDuplicatedError) as info:
        target.time_series.create([TimeSeriesWrite(external_id="dup:new"), TimeSeriesWrite(external_id="dup:a")])
    assert info.value.code == 409
    assert info.value.duplicated == [{"externalId": "dup:a"}]
    assert target.time_series.retrieve(external_id="dup:new") is None  # the request was not half applied

    with pytest.raises(CogniteDuplicatedError) as info:
        target.time_series.create([TimeSeriesWrite(external_id="dup:b"), TimeSeriesWrite(external_id="dup:b")])
    assert info.value.duplicated == [{"externalId": "dup:b"}]
    assert target.time_series.retrieve(external_id="dup:b") is None
    assert _xids(target.time_series.list(limit=None)) == {"dup:a"}


def test_update_metadata_and_scalars(target: CogniteClient) -> None:
    target.time_series.create(
        TimeSeriesWrite(external_id="u:1", description="old", unit="bar", metadata={"a": "1", "b": "2"})
    )
    updated = target.time_series.update(
        TimeSeriesUpdate(external_id="u:1").metadata.add({"c": "3", "b": "22"}).metadata.remove(["a"])
    )
    assert updated.metadata == {"b": "22", "c": "3"}
    assert (updated.description, updated.unit) == ("old", "bar")

    updated = target.time_series.update(TimeSeriesUpdate(external_id="u:1").metadata.set({"z": "9"}))
    assert updated.metadata == {"z": "9"}

    updated = target.time_series.update(
        TimeSeriesUpdate(external_id="u:1").description.set("new").unit.set("degC").name.set("N")
    )
    assert (updated.description, updated.unit, updated.name) == ("new", "degC", "N")

    updated = target.time_series.update(TimeSeriesUpdate(external_id="u:1").description.set(None).unit.set(None))
    assert updated.description is None and updated.unit is None
    assert updated.name == "N" and updated.metadata == {"z": "9"}

    stored = target.time_series.retrieve(external_id="u:1")
    assert stored is not None and stored.dump() == updated.dump()
    assert stored.last_updated_time == NOW_MS

    by_id = target.time_series.update(TimeSeriesUpdate(id=stored.id).metadata.remove(["z", "not-there"]))
    assert by_id.metadata == {}

    with pytest.raises(CogniteNotFoundError) as info:
        target.time_series.update(TimeSeriesUpdate(external_id="u:nope").metadata.add({"x": "y"}))
    assert info.value.not_found == [{"externalId": "u:nope"}]


def test_update_to_a_taken_external_id_conflicts(target: CogniteClient) -> None:
    target.time_series.create([TimeSeriesWrite(external_id="x:1"), TimeSeriesWrite(external_id="x:2")])
    with pytest.raises(CogniteDuplicatedError) as info:
        target.time_series.update(TimeSeriesUpdate(external_id="x:1").external_id.set("x:2"))
    assert info.value.duplicated == [{"externalId": "x:2"}]
    assert _xids(target.time_series.list(limit=None)) == {"x:1", "x:2"}


def test_delete(target: CogniteClient) -> None:
    target.time_series.create([TimeSeriesWrite(external_id="d:1"), TimeSeriesWrite(external_id="d:2")])
    target.time_series.data.insert([(1_000, 1.0), (2_000, 2.0)], external_id="d:1")
    target.time_series.delete(external_id="d:1")
    assert target.time_series.retrieve(external_id="d:1") is None
    assert list(target.time_series.retrieve_multiple(external_ids=["d:1"], ignore_unknown_ids=True)) == []
    assert _xids(target.time_series.list(limit=None)) == {"d:2"}

    with pytest.raises(CogniteNotFoundError) as info:
        target.time_series.delete(external_id=["d:2", "d:nope"])
    assert info.value.not_found == [{"externalId": "d:nope"}]
    assert target.time_series.retrieve(external_id="d:2") is not None  # not half deleted
    target.time_series.delete(external_id=["d:2", "d:nope"], ignore_unknown_ids=True)
    assert list(target.time_series.list(limit=None)) == []

    # A series created again under the same external id starts without the old datapoints.
    target.time_series.create(TimeSeriesWrite(external_id="d:1"))
    fresh = target.time_series.data.retrieve_arrays(external_id="d:1", start=0, end=10_000, limit=None)
    assert fresh is not None and len(fresh) == 0


def test_publicdata_is_read_only(source: CogniteClient, truth: Truth) -> None:
    xid = truth.catalog[0].external_id
    attempts = [
        lambda: source.time_series.create(TimeSeriesWrite(external_id="new")),
        lambda: source.time_series.update(TimeSeriesUpdate(external_id=xid).metadata.add({"a": "b"})),
        lambda: source.time_series.delete(external_id=xid),
        lambda: source.time_series.data.insert([(NOW_MS, 1.0)], external_id=xid),
        lambda: source.time_series.data.delete_range(start=0, end=NOW_MS, external_id=xid),
    ]
    for attempt in attempts:
        with pytest.raises(CogniteAPIError) as info:
            attempt()
        assert info.value.code == 403
        assert "read only" in info.value.message
    assert len(source.time_series.list(limit=None)) == 363
    unchanged = source.time_series.retrieve(external_id=xid)
    assert unchanged is not None and unchanged.metadata == truth.catalog[0].metadata


def test_list_by_data_set_external_id_resolves_it_and_refuses_an_unknown_one(target: CogniteClient) -> None:
    pumps = target.data_sets.create(DataSetWrite(external_id="pumps", name="pumps"))
    other = target.data_sets.create(DataSetWrite(external_id="other", name="other"))
    target.time_series.create(
        [
            TimeSeriesWrite(external_id="a", data_set_id=pumps.id),
            TimeSeriesWrite(external_id="b", data_set_id=other.id),
            TimeSeriesWrite(external_id="c"),
        ]
    )
    listed = target.time_series.list(data_set_external_ids=["pumps"], limit=None)
    assert [ts.external_id for ts in listed] == ["a"]
    listed = target.time_series.list(data_set_ids=[other.id], data_set_external_ids=["pumps"], limit=None)
    assert sorted(ts.external_id for ts in listed) == ["a", "b"]
    with pytest.raises(CogniteAPIError) as raised:
        target.time_series.list(data_set_external_ids=["nope"], limit=None)
    assert raised.value.code == 400 and raised.value.missing == [{"externalId": "nope"}]
