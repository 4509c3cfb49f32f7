"""Per-series sync state in the target, on the series' own node, in a container and view of our own.

Why a container on the node and not a RAW table: the state then lives and dies with the node (a purge that
deletes the node deletes its state, so the two can never disagree), one byids read returns it for all
series, it needs only the data-modeling ACLs the sync needs anyway, and CogniteTimeSeries' own properties
(no free metadata; `tags` are shared with other writers) stay untouched. The schema lives in the instance
space, so one space holds everything the sync owns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import (
    ContainerApply,
    ContainerId,
    ContainerProperty,
    Int64,
    MappedPropertyApply,
    NodeApply,
    NodeId,
    NodeOrEdgeData,
    ViewApply,
    ViewId,
)

from oid_sync_dagster.config import format_relative_ms
from oid_sync_dagster.sync.model import SeriesState
from oid_sync_dagster.sync.retry import on_transport_errors

STATE_EXTERNAL_ID = "OidSyncState"
STATE_VERSION = "v1"
_OFFSET = "offsetMs"
_SYNCED_THROUGH = "syncedThroughMs"
_INSTANCES_PER_REQUEST = 1000


def state_view(instance_space: str) -> ViewId:
    return ViewId(instance_space, STATE_EXTERNAL_ID, STATE_VERSION)


@on_transport_errors
def ensure_state_schema(target: CogniteClient, instance_space: str) -> ViewId:
    """Create (idempotently) the state container and its view in the instance space."""
    container = ContainerApply(
        space=instance_space,
        external_id=STATE_EXTERNAL_ID,
        name="OID sync state",
        description="Per-series sync state of oid_sync_dagster: the offset in use and the synced-through mark.",
        used_for="node",
        properties={
            _OFFSET: ContainerProperty(type=Int64(), nullable=True, description="Offset of the target data, ms."),
            _SYNCED_THROUGH: ContainerProperty(
                type=Int64(), nullable=True, description="Exclusive source-time mark realtime has synced to, ms."
            ),
        },
    )
    target.data_modeling.containers.apply(container)
    container_id = ContainerId(instance_space, STATE_EXTERNAL_ID)
    view = state_view(instance_space)
    target.data_modeling.views.apply(
        ViewApply(
            space=view.space,
            external_id=view.external_id,
            version=view.version,
            name="OID sync state",
            properties={name: MappedPropertyApply(container_id, name) for name in (_OFFSET, _SYNCED_THROUGH)},
        )
    )
    return view


@on_transport_errors
def read_states(target: CogniteClient, instance_space: str, external_ids: Iterable[str]) -> dict[str, SeriesState]:
    """The state of every given series; a series without a node or without state gets an empty state."""
    ids = [NodeId(instance_space, xid) for xid in external_ids]
    view = state_view(instance_space)
    states = {node_id.external_id: SeriesState(node_id.external_id) for node_id in ids}
    if not ids or not target.data_modeling.views.retrieve(view):
        return states  # no schema yet (nothing synced into this target): CDF would refuse the unknown view
    for start in range(0, len(ids), _INSTANCES_PER_REQUEST):
        chunk = ids[start : start + _INSTANCES_PER_REQUEST]
        for node in target.data_modeling.instances.retrieve(nodes=chunk, sources=[view]).nodes:
            props = node.properties.get(view) or {}
            offset, mark = props.get(_OFFSET), props.get(_SYNCED_THROUGH)
            states[node.external_id] = SeriesState(
                node.external_id,
                offset_ms=None if offset is None else int(offset),
                synced_through=None if mark is None else int(mark),
            )
    return states


@on_transport_errors
def write_states(target: CogniteClient, instance_space: str, states: Sequence[SeriesState]) -> None:
    """Write the states onto the existing nodes; only our view's properties change (replace=False)."""
    view = state_view(instance_space)
    applies = [
        NodeApply(
            instance_space,
            state.external_id,
            sources=[NodeOrEdgeData(view, {_OFFSET: state.offset_ms, _SYNCED_THROUGH: state.synced_through})],
        )
        for state in states
    ]
    for start in range(0, len(applies), _INSTANCES_PER_REQUEST):
        target.data_modeling.instances.apply(applies[start : start + _INSTANCES_PER_REQUEST], replace=False)


def offset_conflict(state: SeriesState, offset_ms: int) -> str | None:
    """Rule 5: a changed offset would duplicate every point; say so, and how to get out of it."""
    if state.offset_ms is None or state.offset_ms == offset_ms:
        return None
    return (
        f"{state.external_id}: the target holds data written with offset {format_relative_ms(state.offset_ms)}, "
        f"but the configured offset is {format_relative_ms(offset_ms)}; syncing would duplicate every point "
        "at a new timestamp. Purge the series' synced data and state first (oid-sync purge), or restore the "
        "old time_offset."
    )
