"""The catalog: which source series exist, and their CogniteTimeSeries nodes in the target.

A node that already exists with the other type (string vs numeric) is reported and skipped, never written
into: CDF fixes a time series' type at creation, and the predecessor's string-into-numeric inserts failed
whole batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeApply, NodeId, NodeOrEdgeData, SpaceApply, ViewId

from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.retry import on_transport_errors

# CDF's limit of nodes per instances apply / retrieve request.
_INSTANCES_PER_REQUEST = 1000


@on_transport_errors
def list_source_series(
    source: CogniteClient,
    external_id_prefix: str,
    *,
    external_ids: Sequence[str] | None = None,
    data_set_external_id: str | None = None,
) -> list[CatalogSeries]:
    """The selected source series with their metadata, sorted by external id: those of `external_ids` the source
    has (the caller compares, to refuse a missing one at load and report one removed later as drift), else every
    series whose external id starts with the prefix, in the data set when one is given."""
    if external_ids is not None:
        found = source.time_series.retrieve_multiple(external_ids=list(external_ids), ignore_unknown_ids=True)
    else:
        found = source.time_series.list(
            external_id_prefix=external_id_prefix,
            data_set_external_ids=[data_set_external_id] if data_set_external_id else None,
            limit=None,
        )
    series = [
        CatalogSeries(
            external_id=ts.external_id,
            name=ts.name,
            description=ts.description,
            is_string=bool(ts.is_string),
            is_step=bool(ts.is_step),
            unit=ts.unit,
            metadata=dict(ts.metadata or {}),
        )
        for ts in found
        if ts.external_id  # the prefix filter implies one; guard against odd servers all the same
    ]
    return sorted(series, key=lambda s: s.external_id)


@dataclass(frozen=True, slots=True)
class TargetNode:
    """What the target holds for one series: its CogniteTimeSeries properties as read."""

    external_id: str
    type: str | None
    name: str | None
    description: str | None
    is_step: bool | None
    source_unit: str | None


@dataclass
class CatalogSync:
    """The outcome of reconciling the source catalog with the target's nodes."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)  # external id -> why it is skipped
    missing: list[str] = field(default_factory=list)  # absent, and creating nodes is left to the user

    @property
    def ready(self) -> list[str]:
        """Series whose node exists with the right type: the ones a sync may write."""
        return sorted(self.created + self.updated + self.unchanged)

    @property
    def problems(self) -> dict[str, str]:
        out = dict(self.conflicts)
        out.update({xid: "no CogniteTimeSeries node in the target (node creation is off)" for xid in self.missing})
        return out


@on_transport_errors
def read_target_nodes(
    target: CogniteClient, external_ids: Iterable[str], *, instance_space: str, view: ViewId
) -> dict[str, TargetNode]:
    """The target's nodes for these series (absent ones are left out), with the time-series view's properties."""
    ids = [NodeId(instance_space, xid) for xid in external_ids]
    nodes: dict[str, TargetNode] = {}
    for start in range(0, len(ids), _INSTANCES_PER_REQUEST):
        chunk = ids[start : start + _INSTANCES_PER_REQUEST]
        for node in target.data_modeling.instances.retrieve(nodes=chunk, sources=[view]).nodes:
            props = node.properties.get(view) or {}
            nodes[node.external_id] = TargetNode(
                external_id=node.external_id,
                type=props.get("type"),
                name=props.get("name"),
                description=props.get("description"),
                is_step=props.get("isStep"),
                source_unit=props.get("sourceUnit"),
            )
    return nodes


def _conflict(series: CatalogSeries, node: TargetNode) -> str | None:
    if node.type is None:
        return None  # a node without time-series data yet: writing the view gives it our type
    if node.type != series.type:
        return (
            f"{series.external_id}: the target node {series.external_id!r} is a {node.type} time series but the "
            f"source series is {series.type}; skipped (CDF cannot change a time series' type: delete the node or "
            "sync into another instance space)"
        )
    return None


def _properties(series: CatalogSeries) -> dict[str, object]:
    return {
        "name": series.name,
        "description": series.description,
        "type": series.type,
        "isStep": series.is_step,
        "sourceUnit": series.unit,
    }


def _differs(series: CatalogSeries, node: TargetNode) -> bool:
    return (node.type, node.name, node.description, node.is_step, node.source_unit) != (
        series.type,
        series.name,
        series.description,
        series.is_step,
        series.unit,
    )


def upsert_target_nodes(
    target: CogniteClient,
    series: Sequence[CatalogSeries],
    *,
    instance_space: str,
    view: ViewId,
    create: bool = True,
) -> CatalogSync:
    """Make every series' node exist with the source's name, description, type, step flag and unit.

    create=False leaves node creation (and the space) to the user: absent nodes are reported as missing and
    existing ones are only checked. Conflicting types are reported and never written.
    """
    outcome = CatalogSync()
    if create:
        on_transport_errors(target.data_modeling.spaces.apply)(SpaceApply(instance_space, name=instance_space))
    existing = read_target_nodes(target, (s.external_id for s in series), instance_space=instance_space, view=view)
    to_apply: list[NodeApply] = []
    for item in series:
        node = existing.get(item.external_id)
        if node is not None and (problem := _conflict(item, node)):
            outcome.conflicts[item.external_id] = problem
            continue
        if node is not None and not _differs(item, node):
            outcome.unchanged.append(item.external_id)
            continue
        if node is None and not create:
            outcome.missing.append(item.external_id)
            continue
        if node is not None and not create:
            outcome.unchanged.append(item.external_id)  # checked only: the user owns these nodes
            continue
        (outcome.created if node is None else outcome.updated).append(item.external_id)
        to_apply.append(NodeApply(instance_space, item.external_id, sources=[NodeOrEdgeData(view, _properties(item))]))
    for start in range(0, len(to_apply), _INSTANCES_PER_REQUEST):
        apply = on_transport_errors(target.data_modeling.instances.apply)
        apply(to_apply[start : start + _INSTANCES_PER_REQUEST], replace=False)
    return outcome
