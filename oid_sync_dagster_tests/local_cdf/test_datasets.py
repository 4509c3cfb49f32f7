"""Data sets of the local CDF, and extraction pipelines needing one, driven by the unmodified cognite-sdk over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes import (
    DataSetUpdate,
    DataSetWrite,
    ExtractionPipelineUpdate,
    ExtractionPipelineWrite,
)
from cognite.client.exceptions import CogniteAPIError, CogniteDuplicatedError, CogniteNotFoundError

from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster_tests.conftest import FROZEN_NOW_S, make_client

NOW_MS = int(FROZEN_NOW_S * 1000)
API = "/api/v1/projects/target"  # CogniteClient.get/post take paths from the base URL


@pytest.fixture
def clock(local_cdf: RunningLocalCDF) -> Iterator[list[float]]:
    """A settable server clock (seconds): creates and updates get distinct times within one test."""
    now = [FROZEN_NOW_S]
    original = local_cdf.settings.clock
    local_cdf.settings.clock = lambda: now[0]
    yield now
    local_cdf.settings.clock = original


def _full(external_id: str = "ds-oid", **kwargs: object) -> DataSetWrite:
    return DataSetWrite(
        external_id=external_id,
        name=str(kwargs.pop("name", "OID sync")),
        description=str(kwargs.pop("description", "Time series copied from OID")),
        metadata=kwargs.pop("metadata", {"owner": "team", "source": "pi"}),  # type: ignore[arg-type]
        write_protected=bool(kwargs.pop("write_protected", False)),
    )


# --- create and read ---


def test_create_and_retrieve_exact_fields(target: CogniteClient) -> None:
    created = target.data_sets.create(_full(write_protected=True))
    assert created.id > 0
    expected = {
        "id": created.id,
        "externalId": "ds-oid",
        "name": "OID sync",
        "description": "Time series copied from OID",
        "metadata": {"owner": "team", "source": "pi"},
        "writeProtected": True,
        "createdTime": NOW_MS,
        "lastUpdatedTime": NOW_MS,
    }
    assert created.dump() == expected
    # The wire body itself, as CDF sends it: every field of the data set, nothing else.
    wire = target.post(f"{API}/datasets/byids", json={"items": [{"id": created.id}]}).json()
    assert wire == {"items": [expected]}

    by_id, by_xid = target.data_sets.retrieve(id=created.id), target.data_sets.retrieve(external_id="ds-oid")
    assert by_id is not None and by_xid is not None
    assert by_id.dump() == by_xid.dump() == expected
    assert target.data_sets.retrieve(id=123) is None
    assert target.data_sets.retrieve(external_id="nope") is None

    # Every field but the server's own is optional; writeProtected defaults to false and metadata to {}.
    bare = target.data_sets.create(DataSetWrite())
    assert bare.dump() == {
        "id": bare.id,
        "metadata": {},
        "writeProtected": False,
        "createdTime": NOW_MS,
        "lastUpdatedTime": NOW_MS,
    }
    assert bare.id != created.id
    assert target.data_sets.create(DataSetWrite(name="also without externalId")).external_id is None


def test_retrieve_multiple_and_unknown_ids(target: CogniteClient) -> None:
    a, b, c = target.data_sets.create([_full("a"), _full("b"), _full("c")])
    found = target.data_sets.retrieve_multiple(ids=[c.id, a.id], external_ids=["b"])
    assert [(d.id, d.external_id) for d in found] == [(c.id, "c"), (a.id, "a"), (b.id, "b")]
    assert [d.dump() for d in found] == [c.dump(), a.dump(), b.dump()]

    with pytest.raises(CogniteNotFoundError) as missing:
        target.data_sets.retrieve_multiple(ids=[a.id, 999], external_ids=["nope"])
    assert missing.value.code == 400
    assert missing.value.not_found == [{"id": 999}, {"externalId": "nope"}]
    some = target.data_sets.retrieve_multiple(ids=[a.id, 999], external_ids=["nope"], ignore_unknown_ids=True)
    assert some.as_ids() == [a.id]


def test_list_pages_and_filters(target: CogniteClient, local_cdf: RunningLocalCDF, clock: list[float]) -> None:
    first = target.data_sets.create([_full(f"ds-{i:02d}", metadata={"i": str(i)}) for i in range(12)])
    assert len(local_cdf.request_log.matching("/datasets$", method="POST")) == 2  # CDF takes 10 per create
    clock[0] += 60
    later = target.data_sets.create([_full("other-1", write_protected=True), _full("other-2", metadata={"i": "3"})])

    everything = target.data_sets.list(limit=None)
    assert len(everything) == 14
    assert {d.id for d in everything} == {d.id for d in [*first, *later]}
    assert len(target.data_sets.list()) == 14  # the SDK's default limit is 25
    assert len(target.data_sets.list(limit=5)) == 5
    assert sorted(d.external_id for d in target.data_sets(chunk_size=None)) == sorted(  # type: ignore[misc]
        d.external_id for d in everything
    )

    # Raw paging: cursors lose nothing and repeat nothing.
    seen, cursor = [], None
    while True:
        page = target.post(f"{API}/datasets/list", json={"limit": 4, **({"cursor": cursor} if cursor else {})}).json()
        seen += [d["id"] for d in page["items"]]
        if not (cursor := page.get("nextCursor")):
            break
    assert seen == [d.id for d in everything]

    assert sorted(target.data_sets.list(external_id_prefix="other", limit=None).as_external_ids()) == [
        "other-1",
        "other-2",
    ]
    assert target.data_sets.list(write_protected=True, limit=None).as_external_ids() == ["other-1"]
    assert len(target.data_sets.list(write_protected=False, limit=None)) == 13
    assert sorted(target.data_sets.list(metadata={"i": "3"}, limit=None).as_external_ids()) == ["ds-03", "other-2"]
    assert target.data_sets.list(metadata={"i": "3", "owner": "nobody"}, limit=None).as_external_ids() == []
    newer = target.data_sets.list(created_time={"min": NOW_MS + 1}, limit=None)
    assert sorted(newer.as_external_ids()) == ["other-1", "other-2"]
    assert len(target.data_sets.list(last_updated_time={"max": NOW_MS}, limit=None)) == 12
    assert target.data_sets.aggregate_count() == 14
    assert target.data_sets.aggregate_count(filter={"write_protected": True}) == 1


# --- errors ---


def test_a_duplicate_external_id_is_refused_whole(target: CogniteClient) -> None:
    target.data_sets.create(_full("ds-oid"))
    with pytest.raises(CogniteDuplicatedError) as duplicate:
        target.data_sets.create(_full("ds-oid", name="again"))
    assert duplicate.value.code == 409
    assert duplicate.value.duplicated == [{"externalId": "ds-oid"}]
    with pytest.raises(CogniteDuplicatedError) as twice:
        target.data_sets.create([_full("fresh"), _full("new"), _full("new")])
    assert twice.value.duplicated == [{"externalId": "new"}]
    # All or nothing: "fresh" was not created either, and the first data set is untouched.
    assert target.data_sets.list(limit=None).as_external_ids() == ["ds-oid"]
    assert target.data_sets.retrieve(external_id="ds-oid").name == "OID sync"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "item",
    [
        {"name": "x" * 51},
        {"description": "x" * 1001},
        {"externalId": "x" * 256},
        {"externalId": ""},
        {"metadata": {"k": 1}},
        {"metadata": {"k" * 129: "v"}},
        {"writeProtected": "yes"},
        {"unknownField": 1},
    ],
)
def test_invalid_data_sets_are_400(target: CogniteClient, item: dict[str, object]) -> None:
    with pytest.raises(CogniteAPIError) as invalid:
        target.post(f"{API}/datasets", json={"items": [item]})
    assert invalid.value.code == 400
    assert target.data_sets.list(limit=None) == []


def test_create_takes_at_most_ten_per_request(target: CogniteClient) -> None:
    with pytest.raises(CogniteAPIError) as too_many:
        target.post(f"{API}/datasets", json={"items": [{"externalId": f"ds-{i}"} for i in range(11)]})
    assert too_many.value.code == 400


def test_data_sets_cannot_be_deleted(target: CogniteClient) -> None:
    created = target.data_sets.create(_full())
    assert not hasattr(target.data_sets, "delete")
    with pytest.raises(CogniteAPIError) as no_such_endpoint:
        target.post(f"{API}/datasets/delete", json={"items": [{"id": created.id}]})
    assert no_such_endpoint.value.code == 404
    assert target.data_sets.retrieve(id=created.id) is not None


# --- update ---


def test_update(target: CogniteClient, clock: list[float]) -> None:
    created = target.data_sets.create(_full())
    other = target.data_sets.create(_full("ds-other"))
    clock[0] += 30
    updated = target.data_sets.update(
        DataSetUpdate(id=created.id).description.set("Renamed").metadata.add({"k": "v"}).metadata.remove(["source"])
    )
    assert (updated.description, updated.metadata, updated.name) == ("Renamed", {"owner": "team", "k": "v"}, "OID sync")
    assert (updated.created_time, updated.last_updated_time) == (NOW_MS, NOW_MS + 30_000)

    by_xid = target.data_sets.update(
        DataSetUpdate(external_id="ds-oid").external_id.set("ds-new").write_protected.set(True).name.set(None)
    )
    assert (by_xid.id, by_xid.external_id, by_xid.write_protected, by_xid.name) == (created.id, "ds-new", True, None)
    # A whole object replaces what it sets (the SDK's default mode, replace_ignore_null).
    replaced = target.data_sets.update(DataSetWrite(external_id="ds-other", name="Replaced", metadata={"a": "b"}))
    assert (replaced.id, replaced.name, replaced.metadata, replaced.description) == (
        other.id,
        "Replaced",
        {"a": "b"},
        "Time series copied from OID",
    )
    assert target.data_sets.retrieve(id=other.id).dump() == replaced.dump()  # type: ignore[union-attr]

    with pytest.raises(CogniteDuplicatedError) as taken:
        target.data_sets.update(DataSetUpdate(id=other.id).external_id.set("ds-new"))
    assert taken.value.duplicated == [{"externalId": "ds-new"}]
    with pytest.raises(CogniteNotFoundError) as unknown:
        target.data_sets.update(DataSetUpdate(id=999).name.set("x"))
    assert unknown.value.not_found == [{"id": 999}]
    with pytest.raises(CogniteAPIError) as too_long:
        target.data_sets.update(DataSetUpdate(id=other.id).name.set("x" * 51))
    assert too_long.value.code == 400
    assert target.data_sets.retrieve(id=other.id).dump() == replaced.dump()  # type: ignore[union-attr]


# --- the read-only source ---


def test_publicdata_has_no_data_sets_and_refuses_writes(source: CogniteClient) -> None:
    for attempt in (
        lambda: source.data_sets.create(_full()),
        lambda: source.data_sets.update(DataSetUpdate(id=1).name.set("x")),
    ):
        with pytest.raises(CogniteAPIError) as refused:
            attempt()
        assert refused.value.code == 403
    assert source.data_sets.list(limit=None) == []
    assert source.data_sets.retrieve(id=1) is None
    with pytest.raises(CogniteNotFoundError):
        source.data_sets.retrieve_multiple(ids=[1])


# --- extraction pipelines belong to an existing data set ---


def test_an_extraction_pipeline_needs_an_existing_data_set(
    target: CogniteClient, client_factory: Callable[..., CogniteClient]
) -> None:
    with pytest.raises(CogniteAPIError) as unknown:
        target.extraction_pipelines.create(ExtractionPipelineWrite("oid-sync", "OID sync", data_set_id=4242))
    assert unknown.value.code == 400
    assert not isinstance(unknown.value, CogniteNotFoundError)
    assert "4242" in unknown.value.message and "data set" in unknown.value.message.lower()
    assert target.extraction_pipelines.list(limit=None) == []

    # A data set of another project does not count.
    elsewhere = client_factory("other").data_sets.create(DataSetWrite(external_id="ds-oid"))
    with pytest.raises(CogniteAPIError) as other_project:
        target.extraction_pipelines.create(ExtractionPipelineWrite("oid-sync", "OID sync", data_set_id=elsewhere.id))
    assert other_project.value.code == 400 and str(elsewhere.id) in other_project.value.message

    # One unknown data set refuses the whole request.
    data_set = target.data_sets.create(DataSetWrite(external_id="ds-oid"))
    with pytest.raises(CogniteAPIError):
        target.extraction_pipelines.create(
            [
                ExtractionPipelineWrite("first", "First", data_set_id=data_set.id),
                ExtractionPipelineWrite("second", "Second", data_set_id=77),
            ]
        )
    assert target.extraction_pipelines.list(limit=None) == []

    created = target.extraction_pipelines.create(ExtractionPipelineWrite("oid-sync", "OID sync", data_set.id))
    assert created.data_set_id == data_set.id
    # Moving it to another data set is checked the same way.
    with pytest.raises(CogniteAPIError) as moved:
        target.extraction_pipelines.update(ExtractionPipelineUpdate(external_id="oid-sync").data_set_id.set(31337))
    assert moved.value.code == 400 and "31337" in moved.value.message
    second = target.data_sets.create(DataSetWrite(external_id="ds-second"))
    updated = target.extraction_pipelines.update(
        ExtractionPipelineUpdate(external_id="oid-sync").data_set_id.set(second.id)
    )
    assert updated.data_set_id == second.id
    assert target.extraction_pipelines.update(
        ExtractionPipelineUpdate(external_id="oid-sync").name.set("Renamed")
    ).data_set_id == (second.id)


# --- restart ---


def test_data_sets_survive_a_restart(tmp_path: Path) -> None:
    settings = LocalCDFSettings(data_dir=tmp_path / "cdf", clock=lambda: FROZEN_NOW_S)
    with serve_in_thread(settings) as cdf:
        client = make_client(cdf, "target")
        created = client.data_sets.create([_full("ds-a", write_protected=True), _full("ds-b"), DataSetWrite()])
        client.data_sets.update(DataSetUpdate(external_id="ds-b").metadata.set({"after": "update"}))
        before = sorted((d.dump() for d in client.data_sets.list(limit=None)), key=lambda d: d["id"])
        client.extraction_pipelines.create(ExtractionPipelineWrite("oid-sync", "OID sync", created[0].id))

    with serve_in_thread(LocalCDFSettings(data_dir=tmp_path / "cdf", clock=lambda: FROZEN_NOW_S)) as cdf:
        client = make_client(cdf, "target")
        after = sorted((d.dump() for d in client.data_sets.list(limit=None)), key=lambda d: d["id"])
        assert after == before
        assert {d["id"] for d in after} == {d.id for d in created}
        assert next(d for d in after if d.get("externalId") == "ds-b")["metadata"] == {"after": "update"}
        with pytest.raises(CogniteDuplicatedError):
            client.data_sets.create(DataSetWrite(external_id="ds-a"))
        pipeline = client.extraction_pipelines.retrieve(external_id="oid-sync")
        assert pipeline is not None and pipeline.data_set_id == created[0].id
