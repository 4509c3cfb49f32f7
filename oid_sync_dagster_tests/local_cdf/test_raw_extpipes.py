"""RAW and extraction pipelines of the local CDF, driven by the unmodified cognite-sdk over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes import (
    DataSetWrite,
    ExtractionPipelineConfigWrite,
    ExtractionPipelineRunWrite,
    ExtractionPipelineUpdate,
    ExtractionPipelineWrite,
)
from cognite.client.data_classes.raw import RowWrite
from cognite.client.exceptions import CogniteAPIError, CogniteDuplicatedError, CogniteNotFoundError

from oid_sync_dagster.local_cdf.server import RunningLocalCDF
from oid_sync_dagster_tests.conftest import FROZEN_NOW_S

NOW_MS = int(FROZEN_NOW_S * 1000)
API = "/api/v1/projects/target"  # CogniteClient.get/post take paths from the base URL


@pytest.fixture
def clock(local_cdf: RunningLocalCDF) -> Iterator[list[float]]:
    """A settable server clock (seconds): rows and runs get distinct times within one test."""
    now = [FROZEN_NOW_S]
    original = local_cdf.settings.clock
    local_cdf.settings.clock = lambda: now[0]
    yield now
    local_cdf.settings.clock = original


def _posts(cdf: RunningLocalCDF, suffix: str) -> int:
    return len(cdf.request_log.matching(f"{suffix}$", method="POST"))


# --- RAW databases and tables ---


def test_databases_and_tables_lifecycle(target: CogniteClient) -> None:
    created = target.raw.databases.create("db1")
    assert (created.name, created.created_time) == ("db1", NOW_MS)
    target.raw.databases.create(["db2", "db3"])
    assert [db.name for db in target.raw.databases.list(limit=None)] == ["db1", "db2", "db3"]

    # 409 + duplicated, CDF's convention for duplicates: the SDK surfaces it as CogniteDuplicatedError.
    with pytest.raises(CogniteDuplicatedError) as duplicate:
        target.raw.databases.create("db1")
    assert duplicate.value.code == 409
    assert duplicate.value.duplicated == [{"name": "db1"}]

    tables = target.raw.tables.create("db1", ["t1", "t2"])
    assert [(t.name, t.created_time) for t in tables] == [("t1", NOW_MS), ("t2", NOW_MS)]
    assert [t.name for t in target.raw.tables.list("db1", limit=None)] == ["t1", "t2"]
    assert target.raw.tables.list("db2", limit=None).as_names() == []
    with pytest.raises(CogniteDuplicatedError) as duplicate_table:
        target.raw.tables.create("db1", "t1")
    assert duplicate_table.value.duplicated == [{"name": "t1"}]

    with pytest.raises(CogniteNotFoundError) as unknown_db:
        target.raw.tables.list("nope")
    assert unknown_db.value.code == 404
    assert unknown_db.value.message.startswith("Following databases not found")
    with pytest.raises(CogniteNotFoundError):
        target.raw.tables.create("nope", "t")

    target.raw.tables.delete("db1", "t2")
    assert target.raw.tables.list("db1", limit=None).as_names() == ["t1"]
    with pytest.raises(CogniteNotFoundError):
        target.raw.tables.delete("db1", "t2")

    # A database with tables is only deleted recursively, and then its tables and rows go with it.
    with pytest.raises(CogniteAPIError) as not_empty:
        target.raw.databases.delete("db1")
    assert not_empty.value.code == 400
    target.raw.rows.insert("db1", "t1", {"k": {"a": 1}})
    target.raw.databases.delete(["db1", "db2"], recursive=True)
    assert target.raw.databases.list(limit=None).as_names() == ["db3"]
    with pytest.raises(CogniteNotFoundError):
        target.raw.databases.delete("db1")
    target.raw.databases.create("db1")
    target.raw.tables.create("db1", "t1")
    assert target.raw.rows.list("db1", "t1", limit=None) == []


def test_database_and_table_listing_pages_with_cursors(target: CogniteClient) -> None:
    names = [f"db{i:02d}" for i in range(23)]
    target.raw.databases.create(names)
    seen, cursor = [], None
    while True:
        page = target.get(f"{API}/raw/dbs", params={"limit": 10, **({"cursor": cursor} if cursor else {})}).json()
        seen += [item["name"] for item in page["items"]]
        if not (cursor := page.get("nextCursor")):
            break
    assert seen == names
    assert [db.name for db in target.raw.databases(chunk_size=None, limit=None)] == names

    target.raw.tables.create("db00", [f"t{i:04d}" for i in range(1500)])
    assert len(target.raw.tables.list("db00", limit=None)) == 1500  # two pages of 1000


def test_tables_create_with_ensure_parent(target: CogniteClient) -> None:
    with pytest.raises(CogniteNotFoundError):
        target.post(f"{API}/raw/dbs/fresh/tables", json={"items": [{"name": "t"}]})
    answer = target.post(f"{API}/raw/dbs/fresh/tables", json={"items": [{"name": "t"}]}, params={"ensureParent": True})
    assert answer.json()["items"] == [{"name": "t", "createdTime": NOW_MS}]
    assert target.raw.databases.list(limit=None).as_names() == ["fresh"]


# --- RAW rows ---


def test_rows_insert_chunked_list_retrieve_delete(target: CogniteClient, local_cdf: RunningLocalCDF) -> None:
    target.raw.databases.create("db")
    target.raw.tables.create("db", "t")
    rows = {f"key-{i:06d}": {"i": i, "name": f"row {i}", "nested": {"even": i % 2 == 0}} for i in range(12_345)}
    target.raw.rows.insert("db", "t", rows)
    assert _posts(local_cdf, "/raw/dbs/db/tables/t/rows") == 3  # the SDK chunks at 5,000 rows

    # limit=None reads in parallel partitions from /cursors; every row arrives exactly once.
    listed = target.raw.rows.list("db", "t", limit=None)
    assert len(listed) == 12_345
    assert {r.key: r.columns for r in listed} == rows
    assert {r.last_updated_time for r in listed} == {NOW_MS}
    assert local_cdf.request_log.matching("/cursors$", method="GET")

    # A finite limit reads serially in key order, paging with cursors (10,000 per page).
    first = target.raw.rows.list("db", "t", limit=10_500)
    assert [r.key for r in first] == sorted(rows)[:10_500]
    assert [r.key for r in target.raw.rows.list("db", "t", limit=3)] == [
        "key-000000",
        "key-000001",
        "key-000002",
    ]
    iterated = [r.key for r in target.raw.rows("db", "t", chunk_size=None)]
    assert iterated == sorted(rows)

    row = target.raw.rows.retrieve("db", "t", "key-000042")
    assert row is not None
    assert (row.key, row.columns, row.last_updated_time) == ("key-000042", rows["key-000042"], NOW_MS)
    assert target.raw.rows.retrieve("db", "t", "no-such-key") is None
    assert target.raw.rows.retrieve("db", "no-such-table", "key-000042") is None

    only_name = target.raw.rows.list("db", "t", columns=["name"], limit=2)
    assert [r.columns for r in only_name] == [{"name": "row 0"}, {"name": "row 1"}]
    keys_only = target.raw.rows.list("db", "t", columns=[], limit=2)
    assert [(r.key, r.columns) for r in keys_only] == [("key-000000", {}), ("key-000001", {})]

    target.raw.rows.delete("db", "t", [f"key-{i:06d}" for i in range(0, 12_345, 2)] + ["never-there"])
    remaining = target.raw.rows.list("db", "t", limit=None)
    assert sorted(r.key for r in remaining) == [f"key-{i:06d}" for i in range(1, 12_345, 2)]
    assert target.raw.rows.retrieve("db", "t", "key-000000") is None


def test_rows_upsert_replaces_all_columns(target: CogniteClient, clock: list[float]) -> None:
    target.raw.rows.insert(
        "db", "t", [RowWrite("a", {"x": 1, "y": "old"}), RowWrite("b", {"x": 2})], ensure_parent=True
    )
    clock[0] += 60
    target.raw.rows.insert("db", "t", RowWrite("a", {"z": [1, 2, 3], "y": None}))
    a, b = target.raw.rows.retrieve("db", "t", "a"), target.raw.rows.retrieve("db", "t", "b")
    assert a is not None and b is not None
    assert (a.columns, a.last_updated_time) == ({"z": [1, 2, 3], "y": None}, NOW_MS + 60_000)
    assert (b.columns, b.last_updated_time) == ({"x": 2}, NOW_MS)
    # min is exclusive, max inclusive; the partitioned read keeps the time filter in its cursors.
    newer = target.raw.rows.list("db", "t", min_last_updated_time=NOW_MS, limit=None)
    assert [r.key for r in newer] == ["a"]
    older = target.raw.rows.list("db", "t", max_last_updated_time=NOW_MS, limit=25)
    assert [r.key for r in older] == ["b"]


def test_rows_need_their_table_unless_ensure_parent(target: CogniteClient) -> None:
    with pytest.raises(CogniteNotFoundError) as missing_db:
        target.raw.rows.insert("nodb", "t", {"k": {"v": 1}})
    assert "databases not found" in missing_db.value.message
    target.raw.databases.create("nodb")
    with pytest.raises(CogniteNotFoundError) as missing_table:
        target.raw.rows.insert("nodb", "t", {"k": {"v": 1}})
    assert "tables not found" in missing_table.value.message
    with pytest.raises(CogniteNotFoundError):
        target.raw.rows.list("nodb", "t")

    target.raw.rows.insert("nodb", "t", {"k": {"v": 1}}, ensure_parent=True)
    target.raw.rows.insert("other", "t2", {"k": {"v": 2}}, ensure_parent=True)
    assert target.raw.databases.list(limit=None).as_names() == ["nodb", "other"]
    assert target.raw.tables.list("other", limit=None).as_names() == ["t2"]
    assert [(r.key, r.columns) for r in target.raw.rows.list("other", "t2", limit=None)] == [("k", {"v": 2})]


def test_raw_names_with_unicode_spaces_and_slashes(target: CogniteClient) -> None:
    db, table = "Ødegård db/å 数据", "table ?#%/&= 1"
    keys = ["key with spaces", "slash/in/key", "ünïcødé ☃", "query?x=1&y=2#frag", "percent %2F"]
    target.raw.rows.insert(db, table, {k: {"k": k} for k in keys}, ensure_parent=True)
    assert target.raw.databases.list(limit=None).as_names() == [db]
    assert target.raw.tables.list(db, limit=None).as_names() == [table]
    assert sorted(r.key for r in target.raw.rows.list(db, table, limit=None)) == sorted(keys)
    for key in keys:
        row = target.raw.rows.retrieve(db, table, key)
        assert row is not None and row.columns == {"k": key}
    target.raw.rows.delete(db, table, keys[:2])
    assert sorted(r.key for r in target.raw.rows.list(db, table, limit=None)) == sorted(keys[2:])
    target.raw.tables.delete(db, table)
    target.raw.databases.delete(db)
    assert target.raw.databases.list(limit=None).as_names() == []


# --- extraction pipelines ---


@pytest.fixture
def data_set_id(target: CogniteClient) -> int:
    """A data set of the target: CDF refuses an extraction pipeline whose data set does not exist."""
    return target.data_sets.create(DataSetWrite(external_id="ds-oid-sync", name="OID sync")).id


def _pipeline(data_set_id: int, external_id: str = "oid-sync", **kwargs: object) -> ExtractionPipelineWrite:
    return ExtractionPipelineWrite(
        external_id=external_id,
        name=str(kwargs.pop("name", "OID sync")),
        data_set_id=data_set_id,
        **kwargs,  # type: ignore[arg-type]
    )


def test_extraction_pipeline_create_retrieve_update_delete(target: CogniteClient, data_set_id: int) -> None:
    created = target.extraction_pipelines.create(
        _pipeline(
            data_set_id,
            description="Copies OID time series",
            raw_tables=[{"dbName": "db", "tableName": "state"}],
            schedule="Continuous",
            metadata={"owner": "team"},
            source="pi",
            created_by="tests",
        )
    )
    assert created.id > 0 and created.external_id == "oid-sync"
    assert (created.created_time, created.last_updated_time) == (NOW_MS, NOW_MS)

    with pytest.raises(CogniteDuplicatedError) as duplicate:
        target.extraction_pipelines.create(_pipeline(data_set_id, name="again"))
    assert duplicate.value.duplicated == [{"externalId": "oid-sync"}]

    found = target.extraction_pipelines.retrieve(external_id="oid-sync")
    assert found is not None
    assert found.dump() == created.dump()
    assert (found.name, found.data_set_id, found.description) == ("OID sync", data_set_id, "Copies OID time series")
    assert (found.raw_tables, found.schedule, found.metadata) == (
        [{"dbName": "db", "tableName": "state"}],
        "Continuous",
        {"owner": "team"},
    )
    assert (found.source, found.created_by, found.last_success, found.last_failure) == (
        "pi",
        "tests",
        None,
        None,
    )
    assert target.extraction_pipelines.retrieve(id=created.id).external_id == "oid-sync"  # type: ignore[union-attr]
    assert target.extraction_pipelines.retrieve(external_id="nope") is None
    assert target.get(f"{API}/extpipes/{created.id}").json()["externalId"] == "oid-sync"

    target.extraction_pipelines.create(
        [_pipeline(data_set_id, "second", name="Second"), _pipeline(data_set_id, "third", name="Third")]
    )
    with pytest.raises(CogniteNotFoundError) as missing:
        target.extraction_pipelines.retrieve_multiple(external_ids=["second", "nope"])
    assert missing.value.not_found == [{"externalId": "nope"}]
    some = target.extraction_pipelines.retrieve_multiple(external_ids=["second", "nope"], ignore_unknown_ids=True)
    assert some.as_external_ids() == ["second"]
    assert sorted(target.extraction_pipelines.list(limit=None).as_external_ids()) == [
        "oid-sync",
        "second",
        "third",
    ]
    listed = target.post(f"{API}/extpipes/list", json={"filter": {"externalIdPrefix": "th"}, "limit": 10}).json()
    assert [p["externalId"] for p in listed["items"]] == ["third"]

    updated = target.extraction_pipelines.update(
        ExtractionPipelineUpdate(external_id="second").name.set("Renamed").metadata.add({"k": "v"})
    )
    assert (updated.name, updated.metadata) == ("Renamed", {"k": "v"})

    target.extraction_pipelines.delete(external_id=["second", "third"])
    assert target.extraction_pipelines.list(limit=None).as_external_ids() == ["oid-sync"]
    with pytest.raises(CogniteNotFoundError):
        target.extraction_pipelines.delete(external_id="second")


def test_extraction_pipeline_runs(target: CogniteClient, clock: list[float], data_set_id: int) -> None:
    target.extraction_pipelines.create(_pipeline(data_set_id))
    runs = target.extraction_pipelines.runs
    first = runs.create(ExtractionPipelineRunWrite("oid-sync", "success"))
    assert (first.status, first.created_time, first.extpipe_external_id) == ("success", NOW_MS, "oid-sync")
    clock[0] += 10
    runs.create(ExtractionPipelineRunWrite("oid-sync", "failure", message="PI is down"))
    clock[0] += 10
    runs.create(
        [
            ExtractionPipelineRunWrite("oid-sync", "seen"),
            ExtractionPipelineRunWrite("oid-sync", "success", message="caught up"),
        ]
    )

    listed = runs.list("oid-sync", limit=None)
    assert [(r.status, r.message, r.created_time) for r in listed] == [
        ("success", "caught up", NOW_MS + 20_000),
        ("seen", None, NOW_MS + 20_000),
        ("failure", "PI is down", NOW_MS + 10_000),
        ("success", None, NOW_MS),
    ]
    assert all(r.id > 0 for r in listed)
    assert [r.status for r in runs.list("oid-sync", limit=2)] == ["success", "seen"]
    failures = runs.list("oid-sync", statuses=["failure"], limit=None)
    assert [(r.status, r.message) for r in failures] == [("failure", "PI is down")]
    assert [r.message for r in runs.list("oid-sync", message_substring="caught")] == ["caught up"]
    recent = runs.list("oid-sync", created_time={"min": NOW_MS + 10_000, "max": NOW_MS + 10_000})
    assert [r.status for r in recent] == ["failure"]

    # Paging newest-first through a cursor keeps the order and loses nothing.
    for i in range(30):
        clock[0] += 1
        runs.create(ExtractionPipelineRunWrite("oid-sync", "seen", message=f"tick {i}"))
    page = target.get(f"{API}/extpipes/runs", params={"externalId": "oid-sync", "limit": 20}).json()
    rest = target.get(
        f"{API}/extpipes/runs", params={"externalId": "oid-sync", "limit": 20, "cursor": page["nextCursor"]}
    ).json()
    times = [r["createdTime"] for r in page["items"] + rest["items"]]
    assert len(times) == 34 and times == sorted(times, reverse=True) and rest["nextCursor"] is None

    pipeline = target.extraction_pipelines.retrieve(external_id="oid-sync")
    assert pipeline is not None
    assert (pipeline.last_success, pipeline.last_failure, pipeline.last_message) == (
        NOW_MS + 20_000,
        NOW_MS + 10_000,
        "PI is down",
    )
    assert pipeline.last_seen == NOW_MS + 50_000

    with pytest.raises(CogniteNotFoundError) as unknown:
        runs.create(ExtractionPipelineRunWrite("no-such-pipeline", "success"))
    assert unknown.value.not_found == [{"externalId": "no-such-pipeline"}]
    with pytest.raises(CogniteAPIError) as bad_status:
        runs.create(ExtractionPipelineRunWrite("oid-sync", "running"))  # type: ignore[arg-type]
    assert bad_status.value.code == 400
    with pytest.raises(CogniteNotFoundError):
        runs.list("no-such-pipeline")


def test_extraction_pipeline_config_revisions(target: CogniteClient, clock: list[float], data_set_id: int) -> None:
    target.extraction_pipelines.create(_pipeline(data_set_id))
    configs = target.extraction_pipelines.config
    first = configs.create(ExtractionPipelineConfigWrite("oid-sync", config="batch: 100\n", description="v1"))
    assert (first.revision, first.config, first.description, first.created_time) == (
        1,
        "batch: 100\n",
        "v1",
        NOW_MS,
    )
    clock[0] += 5
    second = configs.create(ExtractionPipelineConfigWrite("oid-sync", config="batch: 500\nlag: 7d\n"))
    assert (second.revision, second.config, second.description) == (2, "batch: 500\nlag: 7d\n", None)

    latest = configs.retrieve("oid-sync")
    assert (latest.external_id, latest.revision, latest.config, latest.created_time) == (
        "oid-sync",
        2,
        "batch: 500\nlag: 7d\n",
        NOW_MS + 5000,
    )
    by_revision = configs.retrieve("oid-sync", revision=1)
    assert (by_revision.revision, by_revision.config, by_revision.description) == (1, "batch: 100\n", "v1")
    assert configs.retrieve("oid-sync", active_at_time=NOW_MS + 4999).revision == 1
    assert [(r.revision, r.description) for r in configs.list("oid-sync")] == [(2, None), (1, "v1")]

    reverted = configs.revert("oid-sync", revision=1)
    assert (reverted.revision, reverted.config, reverted.description) == (3, "batch: 100\n", "v1")
    assert configs.retrieve("oid-sync").revision == 3

    with pytest.raises(CogniteNotFoundError):
        configs.retrieve("oid-sync", revision=9)
    with pytest.raises(CogniteNotFoundError):
        configs.create(ExtractionPipelineConfigWrite("no-such-pipeline", config="x"))


# --- the read-only source ---


def test_writes_to_publicdata_are_refused(source: CogniteClient) -> None:
    attempts = [
        lambda: source.raw.databases.create("db"),
        lambda: source.raw.rows.insert("db", "t", {"k": {"v": 1}}, ensure_parent=True),
        lambda: source.extraction_pipelines.create(_pipeline(123)),  # refused before the data set is looked at
        lambda: source.extraction_pipelines.runs.create(ExtractionPipelineRunWrite("oid-sync", "success")),
        lambda: source.extraction_pipelines.config.create(ExtractionPipelineConfigWrite("oid-sync", config="x")),
    ]
    for attempt in attempts:
        with pytest.raises(CogniteAPIError) as refused:
            attempt()
        assert refused.value.code == 403
    # Reads answer as an empty project.
    assert source.raw.databases.list(limit=None).as_names() == []
    assert source.extraction_pipelines.list(limit=None).as_external_ids() == []
    assert source.raw.rows.retrieve("db", "t", "k") is None
