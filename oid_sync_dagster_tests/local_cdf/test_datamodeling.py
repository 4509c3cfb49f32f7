"""The local CDF's data modeling API, driven by the unmodified cognite-sdk over HTTP.

Covers spaces, containers and views (own and the global cdf_cdm ones), node instances with several views at
once, filters and pagination, and the CogniteTimeSeries <-> time-series mapping CDF keeps.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes import filters
from cognite.client.data_classes.data_modeling import (
    Boolean,
    ContainerApply,
    ContainerId,
    ContainerPropertyApply,
    EdgeApply,
    Float64,
    InstanceSort,
    Int64,
    MappedPropertyApply,
    NodeApply,
    NodeId,
    NodeOrEdgeData,
    SpaceApply,
    Text,
    Timestamp,
    ViewApply,
    ViewId,
)
from cognite.client.data_classes.data_modeling.cdm.v1 import CogniteTimeSeries, CogniteTimeSeriesApply
from cognite.client.exceptions import CogniteAPIError

from oid_sync_dagster_tests.conftest import FROZEN_NOW_S

NOW_MS = int(FROZEN_NOW_S * 1000)
SPACE = "sp_sync"
CDM_TS = ViewId("cdf_cdm", "CogniteTimeSeries", "v1")
PI_CONTAINER = ContainerId(SPACE, "PiTag")
PI_VIEW = ViewId(SPACE, "PiTag", "v1")
PI_TS_VIEW = ViewId(SPACE, "PiTimeSeries", "v1")


@pytest.fixture
def space(target: CogniteClient) -> str:
    target.data_modeling.spaces.apply(SpaceApply(SPACE, name="Sync", description="mirrored series"))
    return SPACE


@pytest.fixture
def pi_schema(target: CogniteClient, space: str) -> None:
    """An own container and view, and a view that implements CogniteTimeSeries and adds the own container."""
    target.data_modeling.containers.apply(
        ContainerApply(
            space,
            "PiTag",
            properties={
                "tag": ContainerPropertyApply(Text(), nullable=False),
                "scale": ContainerPropertyApply(Float64(), default_value=1.0),
                "count": ContainerPropertyApply(Int64()),
                "enabled": ContainerPropertyApply(Boolean()),
                "seen": ContainerPropertyApply(Timestamp()),
                "labels": ContainerPropertyApply(Text(is_list=True)),
            },
            name="PI tag",
        )
    )
    pi_props = {p: MappedPropertyApply(PI_CONTAINER, p) for p in ("tag", "scale", "count", "enabled", "seen")}
    pi_props["tagLabels"] = MappedPropertyApply(PI_CONTAINER, "labels", name="Labels")
    target.data_modeling.views.apply(
        [
            ViewApply(space, "PiTag", "v1", name="PI tag", properties=pi_props),
            ViewApply(
                space,
                "PiTimeSeries",
                "v1",
                implements=[CDM_TS],
                properties={"piTag": MappedPropertyApply(PI_CONTAINER, "tag")},
            ),
        ]
    )


def _ts(space: str, xid: str, kind: str = "numeric", **kwargs: object) -> CogniteTimeSeriesApply:
    return CogniteTimeSeriesApply(space, xid, is_step=False, time_series_type=kind, **kwargs)  # type: ignore[arg-type]


def _status(exc: pytest.ExceptionInfo[CogniteAPIError]) -> tuple[int, str]:
    return exc.value.code, exc.value.message


# --- spaces ---


def test_spaces_apply_list_retrieve_delete(target: CogniteClient) -> None:
    created = target.data_modeling.spaces.apply([SpaceApply("sp_a", name="A", description="first"), SpaceApply("sp_b")])
    assert [(s.space, s.name, s.description, s.is_global) for s in created] == [
        ("sp_a", "A", "first", False),
        ("sp_b", None, None, False),
    ]
    assert created[0].created_time == created[0].last_updated_time == NOW_MS

    updated = target.data_modeling.spaces.apply(SpaceApply("sp_a", name="A2"))
    assert (updated.name, updated.description) == ("A2", None)

    assert [s.space for s in target.data_modeling.spaces.list(limit=None)] == ["sp_a", "sp_b"]
    with_global = target.data_modeling.spaces.list(limit=None, include_global=True)
    assert {s.space: s.is_global for s in with_global} == {"cdf_cdm": True, "sp_a": False, "sp_b": False}
    # A page of one at a time still reaches every space through the cursor.
    assert [s.space for s in target.data_modeling.spaces(chunk_size=None, limit=None)] == ["sp_a", "sp_b"]

    assert target.data_modeling.spaces.retrieve("sp_a").name == "A2"
    assert target.data_modeling.spaces.retrieve("nope") is None
    assert [s.space for s in target.data_modeling.spaces.retrieve(["sp_b", "nope", "cdf_cdm"])] == [
        "sp_b",
        "cdf_cdm",
    ]

    assert target.data_modeling.spaces.delete(["sp_a", "nope"]) == ["sp_a"]
    assert [s.space for s in target.data_modeling.spaces.list()] == ["sp_b"]


def test_space_rules(target: CogniteClient, space: str) -> None:
    with pytest.raises(CogniteAPIError) as exc:
        target.data_modeling.spaces.apply(SpaceApply("cdf_cdm"))
    assert exc.value.code == 403
    with pytest.raises(CogniteAPIError) as exc:
        target.data_modeling.spaces.delete("cdf_cdm")
    assert exc.value.code == 403
    target.data_modeling.instances.apply(NodeApply(space, "n1"))
    with pytest.raises(CogniteAPIError) as exc:
        target.data_modeling.spaces.delete(space)
    assert exc.value.code == 400 and "not empty" in exc.value.message


def test_read_only_source_project_cannot_write(client_factory: object) -> None:
    source = client_factory("publicdata")  # type: ignore[operator]
    assert [s.space for s in source.data_modeling.spaces.list(include_global=True)] == ["cdf_cdm"]
    with pytest.raises(CogniteAPIError) as exc:
        source.data_modeling.spaces.apply(SpaceApply("sp_x"))
    assert exc.value.code == 403


# --- containers and views ---


def test_global_cdm_schema(target: CogniteClient) -> None:
    (view,) = target.data_modeling.views.retrieve(CDM_TS)
    assert view.is_global and view.writable and view.used_for == "node"
    assert view.implements == [
        ViewId("cdf_cdm", "CogniteDescribable", "v1"),
        ViewId("cdf_cdm", "CogniteSourceable", "v1"),
    ]
    describable, sourceable = ["name", "description", "tags", "aliases"], [
        "sourceId", "sourceContext", "source", "sourceCreatedTime", "sourceUpdatedTime", "sourceCreatedUser",
        "sourceUpdatedUser",
    ]  # fmt: skip
    own = ["isStep", "type", "sourceUnit", "unit", "assets", "equipment"]
    expected = {
        **dict.fromkeys(describable, "CogniteDescribable"),
        **dict.fromkeys(sourceable, "CogniteSourceable"),
        **dict.fromkeys(own, "CogniteTimeSeries"),
    }
    assert {name: view.properties[name].container.external_id for name in expected} == expected
    type_prop = view.properties["type"]
    assert (type_prop.nullable, type_prop.immutable) == (False, True)
    assert view.properties["isStep"].nullable is False
    assert view.properties["tags"].type.is_list

    containers = target.data_modeling.containers.list(space="cdf_cdm", include_global=True, limit=None)
    assert {c.external_id for c in containers} >= {
        "CogniteDescribable",
        "CogniteSourceable",
        "CogniteTimeSeries",
    }
    assert target.data_modeling.containers.list(limit=None) == []  # no global ones by default
    ts_container = target.data_modeling.containers.retrieve(ContainerId("cdf_cdm", "CogniteTimeSeries"))
    assert ts_container is not None and ts_container.properties["type"].immutable

    assert target.data_modeling.views.list(limit=None) == []
    own_inherited = target.data_modeling.views.retrieve(CDM_TS, include_inherited_properties=False)[0]
    assert "name" not in own_inherited.properties and "isStep" in own_inherited.properties


def test_own_container_and_view(target: CogniteClient, pi_schema: None) -> None:
    container = target.data_modeling.containers.retrieve(PI_CONTAINER)
    assert container is not None and container.name == "PI tag" and not container.is_global
    assert container.properties["tag"].nullable is False
    assert container.properties["scale"].default_value == 1.0
    assert isinstance(container.properties["labels"].type, Text) and container.properties["labels"].type.is_list
    assert container.as_apply().dump() == target.data_modeling.containers.retrieve(PI_CONTAINER).as_apply().dump()

    (view,) = target.data_modeling.views.retrieve(PI_VIEW)
    assert view.writable and not view.is_global and view.used_for == "node"
    assert set(view.properties) == {"tag", "scale", "count", "enabled", "seen", "tagLabels"}
    labels = view.properties["tagLabels"]
    assert (labels.container, labels.container_property_identifier, labels.name) == (
        PI_CONTAINER,
        "labels",
        "Labels",
    )
    assert isinstance(view.properties["seen"].type, Timestamp)

    (pi_ts,) = target.data_modeling.views.retrieve(PI_TS_VIEW)
    assert pi_ts.implements == [CDM_TS]
    # The inherited CogniteTimeSeries properties are resolved into the implementing view.
    assert {"name", "isStep", "type", "sourceUnit", "piTag"} <= set(pi_ts.properties)
    assert pi_ts.properties["type"].container == ContainerId("cdf_cdm", "CogniteTimeSeries")

    listed = target.data_modeling.views.list(space=SPACE, limit=None)
    assert sorted(v.external_id for v in listed) == ["PiTag", "PiTimeSeries"]
    assert target.data_modeling.containers.list(space=SPACE, limit=None).as_ids() == [PI_CONTAINER]

    # A mapped container cannot go while views use it; the views can.
    with pytest.raises(CogniteAPIError) as exc:
        target.data_modeling.containers.delete(PI_CONTAINER)
    assert exc.value.code == 400
    assert target.data_modeling.views.delete([PI_VIEW, PI_TS_VIEW]) == [PI_VIEW, PI_TS_VIEW]
    assert target.data_modeling.containers.delete(PI_CONTAINER) == [PI_CONTAINER]
    assert target.data_modeling.containers.retrieve(PI_CONTAINER) is None


def test_view_versions(target: CogniteClient, pi_schema: None) -> None:
    target.data_modeling.views.apply(
        ViewApply(SPACE, "PiTag", "v2", properties={"tag": MappedPropertyApply(PI_CONTAINER, "tag")})
    )
    assert len(target.data_modeling.views.retrieve((SPACE, "PiTag"))) == 2
    assert len(target.data_modeling.views.list(space=SPACE, all_versions=True, limit=None)) == 3
    assert len(target.data_modeling.views.list(space=SPACE, limit=None)) == 2


def test_schema_validation(target: CogniteClient, space: str, pi_schema: None) -> None:
    with pytest.raises(CogniteAPIError) as exc:
        target.data_modeling.containers.apply(
            ContainerApply("sp_missing", "C", properties={"p": ContainerPropertyApply(Text())})
        )
    assert exc.value.code == 400 and "sp_missing" in exc.value.message and "does not exist" in exc.value.message
    with pytest.raises(CogniteAPIError) as exc:
        target.data_modeling.views.apply(
            ViewApply(space, "Bad", "v1", properties={"x": MappedPropertyApply(ContainerId(space, "Nope"), "x")})
        )
    assert exc.value.code == 400 and "Nope" in exc.value.message
    with pytest.raises(CogniteAPIError) as exc:
        target.data_modeling.views.apply(
            ViewApply(space, "Bad", "v1", properties={"x": MappedPropertyApply(PI_CONTAINER, "nope")})
        )
    assert exc.value.code == 400 and "'nope'" in exc.value.message
    with pytest.raises(CogniteAPIError) as exc:
        target.data_modeling.views.apply(ViewApply(space, "Bad", "v1", implements=[ViewId(space, "Nope", "v1")]))
    assert exc.value.code == 400
    with pytest.raises(CogniteAPIError) as exc:  # a property's type cannot change
        target.data_modeling.containers.apply(
            ContainerApply(space, "PiTag", properties={"tag": ContainerPropertyApply(Int64())})
        )
    assert exc.value.code == 400


# --- CogniteTimeSeries nodes and the time-series API ---


def test_cognite_time_series_nodes_are_time_series(target: CogniteClient, space: str) -> None:
    applied = target.data_modeling.instances.apply(
        [
            _ts(space, "pi:num", name="Temp", description="inlet", source_unit="degC"),
            _ts(space, "pi:str", "string", name="State"),
        ]
    )
    assert [(n.external_id, n.version, n.was_modified) for n in applied.nodes] == [
        ("pi:num", 1, True),
        ("pi:str", 1, True),
    ]
    numeric = target.time_series.retrieve(instance_id=NodeId(space, "pi:num"))
    assert numeric is not None
    assert (numeric.name, numeric.description, numeric.unit, numeric.is_string, numeric.is_step) == (
        "Temp",
        "inlet",
        "degC",
        False,
        False,
    )
    assert numeric.instance_id == NodeId(space, "pi:num") and numeric.external_id is None
    both = target.time_series.retrieve_multiple(instance_ids=[NodeId(space, "pi:str"), NodeId(space, "pi:num")])
    assert {ts.instance_id.external_id: ts.is_string for ts in both} == {"pi:str": True, "pi:num": False}

    # Properties written later through the CDM view reach the time series too.
    target.data_modeling.instances.apply(_ts(space, "pi:num", name="Temp2", source_unit="K"))
    renamed = target.time_series.retrieve(instance_id=NodeId(space, "pi:num"))
    assert (renamed.name, renamed.unit, renamed.description) == (
        "Temp2",
        "K",
        "inlet",
    )  # merge keeps description

    typed = target.data_modeling.instances.retrieve_nodes(NodeId(space, "pi:num"), node_cls=CogniteTimeSeries)
    assert typed is not None
    assert (typed.name, typed.description, typed.source_unit, typed.time_series_type, typed.is_step) == (
        "Temp2",
        "inlet",
        "K",
        "numeric",
        False,
    )
    assert typed.version == 2


def test_datapoints_by_instance_id(target: CogniteClient, space: str) -> None:
    target.data_modeling.instances.apply([_ts(space, "dp:num"), _ts(space, "dp:str", "string")])
    target.time_series.data.insert_multiple(
        [
            {
                "instance_id": NodeId(space, "dp:num"),
                "datapoints": [(NOW_MS - 2000, 1.5), (NOW_MS - 1000, 2.5)],
            },
            {"instance_id": NodeId(space, "dp:str"), "datapoints": [(NOW_MS - 1000, "on")]},
        ]
    )
    numeric = target.time_series.data.retrieve(instance_id=NodeId(space, "dp:num"), start=0, end=NOW_MS)
    assert (numeric.timestamp, numeric.value) == ([NOW_MS - 2000, NOW_MS - 1000], [1.5, 2.5])
    text = target.time_series.data.retrieve(instance_id=NodeId(space, "dp:str"), start=0, end=NOW_MS)
    assert text.value == ["on"]


def test_view_implementing_cognite_time_series(target: CogniteClient, pi_schema: None) -> None:
    node = NodeApply(
        SPACE,
        "pi:impl",
        sources=[
            NodeOrEdgeData(PI_TS_VIEW, {"piTag": "T-1", "isStep": True, "type": "numeric", "name": "Impl"}),
        ],
    )
    target.data_modeling.instances.apply(node)
    ts = target.time_series.retrieve(instance_id=NodeId(SPACE, "pi:impl"))
    assert ts is not None and (ts.name, ts.is_step, ts.is_string) == ("Impl", True, False)
    result = target.data_modeling.instances.retrieve(NodeId(SPACE, "pi:impl"), sources=[PI_TS_VIEW, CDM_TS, PI_VIEW])
    (read,) = result.nodes
    assert read.properties[PI_TS_VIEW] == {"piTag": "T-1", "isStep": True, "type": "numeric", "name": "Impl"}
    assert read.properties[CDM_TS] == {"isStep": True, "type": "numeric", "name": "Impl"}
    assert read.properties[PI_VIEW] == {"tag": "T-1", "scale": 1.0}  # the container default fills in


def test_node_with_two_views(target: CogniteClient, pi_schema: None) -> None:
    nid = NodeId(SPACE, "pi:both")
    target.data_modeling.instances.apply(_ts(SPACE, "pi:both", name="Both", tags=["a", "b"]))
    target.data_modeling.instances.apply(
        NodeApply(
            SPACE,
            "pi:both",
            sources=[
                NodeOrEdgeData(
                    PI_VIEW,
                    {
                        "tag": "TAG-1",
                        "count": 7,
                        "enabled": True,
                        "seen": datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC),
                        "tagLabels": ["x"],
                    },
                )
            ],
        )
    )
    (node,) = target.data_modeling.instances.retrieve(nid, sources=[CDM_TS, PI_VIEW]).nodes
    assert node.version == 2
    assert node.properties[CDM_TS] == {"isStep": False, "type": "numeric", "name": "Both", "tags": ["a", "b"]}
    assert node.properties[PI_VIEW] == {
        "tag": "TAG-1",
        "scale": 1.0,
        "count": 7,
        "enabled": True,
        "seen": "2024-05-06T07:08:09.123+00:00",
        "tagLabels": ["x"],
    }
    # Only the requested views are answered; without sources there are no properties at all.
    (bare,) = target.data_modeling.instances.retrieve(nid).nodes
    assert dict(bare.properties) == {}
    (only_pi,) = target.data_modeling.instances.retrieve(nid, sources=[PI_VIEW]).nodes
    assert list(only_pi.properties) == [PI_VIEW]

    # As in CDF, `sources` also selects: only nodes with data in every requested view are answered.
    target.data_modeling.instances.apply(_ts(SPACE, "pi:ts-only"))
    ts_only = NodeId(SPACE, "pi:ts-only")
    assert target.data_modeling.instances.retrieve(ts_only, sources=[PI_VIEW]).nodes == []
    assert target.data_modeling.instances.retrieve([nid, ts_only], sources=[CDM_TS]).nodes.as_ids() == [
        nid,
        ts_only,
    ]
    assert target.data_modeling.instances.retrieve([nid, ts_only], sources=[CDM_TS, PI_VIEW]).nodes.as_ids() == [nid]
    listed = target.data_modeling.instances.list(space=SPACE, sources=[PI_VIEW], limit=None)
    assert listed.as_ids() == [nid]
    # The SDK's DM time-series API relies on that to return only time series.
    assert target.data_modeling.time_series.retrieve(ts_only, source=PI_VIEW) is None
    assert target.data_modeling.time_series.list(space=SPACE, limit=None).as_ids() == [nid, ts_only]


def test_apply_semantics(target: CogniteClient, pi_schema: None) -> None:
    first = target.data_modeling.instances.apply(
        NodeApply(SPACE, "n", sources=[NodeOrEdgeData(PI_VIEW, {"tag": "A", "count": 1})])
    ).nodes[0]
    assert (first.version, first.was_modified) == (1, True)
    same = target.data_modeling.instances.apply(
        NodeApply(SPACE, "n", sources=[NodeOrEdgeData(PI_VIEW, {"count": 1})])
    ).nodes[0]
    assert (same.version, same.was_modified) == (1, False)  # nothing changed
    merged = target.data_modeling.instances.apply(
        NodeApply(SPACE, "n", sources=[NodeOrEdgeData(PI_VIEW, {"count": 2})])
    ).nodes[0]
    assert (merged.version, merged.was_modified) == (2, True)
    props = target.data_modeling.instances.retrieve(NodeId(SPACE, "n"), sources=PI_VIEW).nodes[0].properties
    assert props[PI_VIEW] == {"tag": "A", "scale": 1.0, "count": 2}

    replaced = target.data_modeling.instances.apply(
        NodeApply(SPACE, "n", sources=[NodeOrEdgeData(PI_VIEW, {"tag": "B"})]), replace=True
    ).nodes[0]
    assert replaced.version == 3
    props = target.data_modeling.instances.retrieve(NodeId(SPACE, "n"), sources=PI_VIEW).nodes[0].properties
    assert props[PI_VIEW] == {"tag": "B", "scale": 1.0}

    nulled = NodeApply(SPACE, "n", sources=[NodeOrEdgeData(PI_VIEW, {"scale": None})])
    target.data_modeling.instances.apply(nulled)
    props = target.data_modeling.instances.retrieve(NodeId(SPACE, "n"), sources=PI_VIEW).nodes[0].properties
    assert props[PI_VIEW] == {"tag": "B"}

    # existingVersion: an older version than the stored one is a conflict, unless skipped.
    stale = NodeApply(SPACE, "n", existing_version=1, sources=[NodeOrEdgeData(PI_VIEW, {"count": 9})])
    with pytest.raises(CogniteAPIError) as exc:
        target.data_modeling.instances.apply(stale)
    assert exc.value.code == 409
    assert target.data_modeling.instances.apply(stale, skip_on_version_conflict=True).nodes == []
    current = NodeApply(SPACE, "n", existing_version=4, sources=[NodeOrEdgeData(PI_VIEW, {"count": 9})])
    assert target.data_modeling.instances.apply(current).nodes[0].version == 5
    with pytest.raises(CogniteAPIError) as exc:  # existingVersion 0: insert only
        target.data_modeling.instances.apply(NodeApply(SPACE, "n", existing_version=0))
    assert exc.value.code == 409


def test_value_and_property_checks(target: CogniteClient, pi_schema: None) -> None:
    def refused(sources: list[NodeOrEdgeData], xid: str = "bad") -> str:
        with pytest.raises(CogniteAPIError) as exc:
            target.data_modeling.instances.apply(NodeApply(SPACE, xid, sources=sources))
        assert exc.value.code == 400
        return exc.value.message

    assert "'nope'" in refused([NodeOrEdgeData(PI_VIEW, {"tag": "A", "nope": 1})])
    assert "'tag'" in refused([NodeOrEdgeData(PI_VIEW, {"count": 1})])  # required on first write
    assert "count" in refused([NodeOrEdgeData(PI_VIEW, {"tag": "A", "count": "many"})])
    assert "enabled" in refused([NodeOrEdgeData(PI_VIEW, {"tag": "A", "enabled": "yes"})])
    assert "seen" in refused([NodeOrEdgeData(PI_VIEW, {"tag": "A", "seen": "yesterday"})])
    assert "'type'" in refused([NodeOrEdgeData(CDM_TS, {"isStep": False})])
    assert "'isStep'" in refused([NodeOrEdgeData(CDM_TS, {"type": "numeric"})])
    assert "'string'" in refused([NodeOrEdgeData(CDM_TS, {"isStep": False, "type": "text"})])
    assert "'isStep'" in refused([NodeOrEdgeData(CDM_TS, {"isStep": 1, "type": "numeric"})])
    # A user view that implements CogniteTimeSeries needs the CogniteTimeSeries required properties too.
    assert "'type'" in refused([NodeOrEdgeData(PI_TS_VIEW, {"piTag": "T", "isStep": False})])
    assert target.data_modeling.instances.retrieve(NodeId(SPACE, "bad")).nodes == []
    assert target.time_series.list(limit=None) == []

    with pytest.raises(CogniteAPIError) as exc:
        target.data_modeling.instances.apply(_ts("sp_unknown", "x"))
    assert exc.value.code == 400 and "sp_unknown" in exc.value.message
    with pytest.raises(CogniteAPIError) as exc:
        target.data_modeling.instances.apply(
            NodeApply(SPACE, "x", sources=[NodeOrEdgeData(ViewId(SPACE, "No", "v1"), {})])
        )
    assert exc.value.code == 400 and "No/v1" in exc.value.message


def test_type_change_is_refused_and_request_is_atomic(target: CogniteClient, space: str) -> None:
    target.data_modeling.instances.apply(_ts(space, "pi:t", name="T"))
    with pytest.raises(CogniteAPIError) as exc:
        target.data_modeling.instances.apply([_ts(space, "pi:new"), _ts(space, "pi:t", "string", name="changed")])
    assert exc.value.code == 400
    assert "pi:t" in exc.value.message and "type" in exc.value.message
    # Nothing of the request was written: the node, its series and the other new node are as before.
    (node,) = target.data_modeling.instances.retrieve_nodes([NodeId(space, "pi:t")], node_cls=CogniteTimeSeries)
    assert (node.version, node.time_series_type, node.name) == (1, "numeric", "T")
    assert target.time_series.retrieve(instance_id=NodeId(space, "pi:t")).is_string is False
    assert target.data_modeling.instances.retrieve(NodeId(space, "pi:new")).nodes == []
    assert target.time_series.retrieve(instance_id=NodeId(space, "pi:new")) is None


def test_delete_node_removes_its_time_series(target: CogniteClient, space: str) -> None:
    target.data_modeling.instances.apply([_ts(space, "pi:del"), _ts(space, "pi:keep")])
    target.time_series.data.insert([(NOW_MS - 1000, 3.0)], instance_id=NodeId(space, "pi:del"))
    deleted = target.data_modeling.instances.delete([NodeId(space, "pi:del"), NodeId(space, "pi:never")])
    assert deleted.nodes == [NodeId(space, "pi:del")]
    assert target.time_series.retrieve(instance_id=NodeId(space, "pi:del")) is None
    found = target.time_series.retrieve_multiple(
        instance_ids=[NodeId(space, "pi:del"), NodeId(space, "pi:keep")], ignore_unknown_ids=True
    )
    assert [ts.instance_id for ts in found] == [NodeId(space, "pi:keep")]
    assert target.data_modeling.instances.retrieve(NodeId(space, "pi:del")).nodes == []
    # Recreated, the node gets a fresh series without the old datapoints.
    target.data_modeling.instances.apply(_ts(space, "pi:del"))
    assert len(target.time_series.data.retrieve(instance_id=NodeId(space, "pi:del"), start=0, end=NOW_MS)) == 0


# --- listing and filtering ---


def test_list_space_filter_and_pagination(target: CogniteClient, space: str) -> None:
    target.data_modeling.spaces.apply(SpaceApply("sp_other"))
    target.data_modeling.instances.apply([_ts(space, f"pi:{i:05d}") for i in range(1234)])
    target.data_modeling.instances.apply([_ts("sp_other", f"other:{i}") for i in range(3)])

    listed = target.data_modeling.instances.list(space=space, sources=[CDM_TS], limit=None)
    assert len(listed) == 1234
    assert len({n.external_id for n in listed}) == 1234
    assert all(n.properties[CDM_TS]["type"] == "numeric" for n in listed)
    list_posts = target.data_modeling.instances.list(space=[space, "sp_other"], limit=None)
    assert len(list_posts) == 1237
    assert len(target.data_modeling.instances.list(space=space)) == 25  # the SDK's default limit
    typed = target.data_modeling.instances.list(instance_type=CogniteTimeSeries, space="sp_other", limit=None)
    assert sorted(n.external_id for n in typed) == ["other:0", "other:1", "other:2"]
    assert len(target.time_series.list(limit=None)) == 1237
    chunks = list(target.data_modeling.instances(chunk_size=1000, space=space))
    assert [len(c) for c in chunks] == [1000, 234]


def test_filters(target: CogniteClient, pi_schema: None) -> None:
    target.data_modeling.instances.apply(
        [
            _ts(SPACE, "a:1", name="one"),
            _ts(SPACE, "a:2", "string", name="two"),
            _ts(SPACE, "b:1", name="three"),
            NodeApply(SPACE, "p:1", sources=[NodeOrEdgeData(PI_VIEW, {"tag": "X", "count": 5})]),
            NodeApply(SPACE, "empty"),
        ]
    )

    def ids(flt: filters.Filter, **kwargs: object) -> list[str]:
        return sorted(n.external_id for n in target.data_modeling.instances.list(filter=flt, limit=None, **kwargs))

    assert ids(filters.Prefix(["node", "externalId"], "a:")) == ["a:1", "a:2"]
    assert ids(filters.Equals(["node", "externalId"], "b:1")) == ["b:1"]
    assert ids(filters.In(["node", "externalId"], ["a:1", "p:1", "zz"])) == ["a:1", "p:1"]
    assert ids(filters.HasData(views=[CDM_TS])) == ["a:1", "a:2", "b:1"]
    assert ids(filters.HasData(views=[PI_VIEW])) == ["p:1"]
    assert ids(filters.HasData(containers=[PI_CONTAINER])) == ["p:1"]
    assert ids(filters.Not(filters.HasData(views=[CDM_TS])), space=SPACE) == ["empty", "p:1"]
    assert ids(
        filters.Or(filters.Equals(["node", "externalId"], "b:1"), filters.Prefix(["node", "externalId"], "p"))
    ) == ["b:1", "p:1"]
    assert ids(filters.Equals(CDM_TS.as_property_ref("type"), "string")) == ["a:2"]
    assert ids(filters.Range(PI_VIEW.as_property_ref("count"), gte=5)) == ["p:1"]
    assert ids(filters.And(filters.HasData(views=[CDM_TS]), filters.Prefix(CDM_TS.as_property_ref("name"), "t"))) == [
        "a:2",
        "b:1",
    ]
    assert ids(filters.Equals(["node", "space"], "sp_none")) == []


def test_sorted_listing(target: CogniteClient, space: str) -> None:
    names = ["delta", "alpha", "charlie", "bravo"]
    target.data_modeling.instances.apply([_ts(space, f"s:{i}", name=n) for i, n in enumerate(names)])
    target.data_modeling.instances.apply(_ts(space, "s:unnamed"))
    sort = InstanceSort(CDM_TS.as_property_ref("name"), direction="descending", nulls_first=False)
    listed = target.data_modeling.instances.list(sources=[CDM_TS], sort=sort, limit=None)
    assert [n.properties[CDM_TS].get("name") for n in listed] == ["delta", "charlie", "bravo", "alpha", None]
    ascending = target.data_modeling.instances.list(sort=InstanceSort(["node", "externalId"]), limit=3)
    assert [n.external_id for n in ascending] == ["s:0", "s:1", "s:2"]


def test_schema_list_cursors(target: CogniteClient) -> None:
    target.data_modeling.spaces.apply([SpaceApply(f"sp_{i}") for i in range(5)])
    seen, cursor = [], None
    while True:
        params: dict[str, object] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = target.get("/api/v1/projects/target/models/spaces", params=params).json()
        seen += [s["space"] for s in body["items"]]
        if not (cursor := body.get("nextCursor")):
            break
    assert seen == [f"sp_{i}" for i in range(5)]


def test_direct_relations(target: CogniteClient, space: str) -> None:
    node = _ts(space, "pi:rel", assets=[(space, "asset:1")], unit=("cdf_cdm_units", "temperature:deg_c"))
    target.data_modeling.instances.apply(node)
    (read,) = target.data_modeling.instances.retrieve_nodes([NodeId(space, "pi:rel")], node_cls=CogniteTimeSeries)
    assert [a.as_tuple() for a in read.assets] == [(space, "asset:1")]
    assert read.unit.as_tuple() == ("cdf_cdm_units", "temperature:deg_c")
    # The missing target was created as an empty node, as autoCreateDirectRelations does.
    (asset,) = target.data_modeling.instances.retrieve(NodeId(space, "asset:1")).nodes
    assert asset.version == 1
    with pytest.raises(CogniteAPIError) as exc:
        target.data_modeling.instances.apply(
            _ts(space, "pi:rel2", equipment=[(space, "eq:1")]), auto_create_direct_relations=False
        )
    assert exc.value.code == 400 and "eq:1" in exc.value.message


def test_container_sources_and_edges(target: CogniteClient, pi_schema: None) -> None:
    target.data_modeling.instances.apply(
        NodeApply(SPACE, "c:1", sources=[NodeOrEdgeData(PI_CONTAINER, {"tag": "direct", "labels": ["l"]})])
    )
    (node,) = target.data_modeling.instances.retrieve(NodeId(SPACE, "c:1"), sources=[PI_VIEW]).nodes
    assert node.properties[PI_VIEW] == {"tag": "direct", "scale": 1.0, "tagLabels": ["l"]}
    edge = EdgeApply(SPACE, "e:1", type=(SPACE, "t"), start_node=(SPACE, "c:1"), end_node=(SPACE, "c:1"))
    with pytest.raises(CogniteAPIError) as exc:
        target.data_modeling.instances.apply(edges=edge)
    assert exc.value.code == 400 and "Edges" in exc.value.message
    assert target.data_modeling.instances.list(instance_type="edge", limit=None) == []
