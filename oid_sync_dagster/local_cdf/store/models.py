"""Data modeling storage of a target project (spaces, containers, views, nodes), plus the global `cdf_cdm`.

Schema definitions are kept as JSON documents in CDF's own (normalised) shape; a node keeps one JSON row of
property values per container it has data in, so one node can carry the data of several views at once.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from oid_sync_dagster.local_cdf.errors import bad_request

DDL = """
CREATE TABLE IF NOT EXISTS dm_spaces (
    space TEXT PRIMARY KEY,
    name TEXT,
    description TEXT,
    created_time INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dm_containers (
    space TEXT NOT NULL,
    external_id TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_time INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL,
    PRIMARY KEY (space, external_id)
);
CREATE TABLE IF NOT EXISTS dm_views (
    space TEXT NOT NULL,
    external_id TEXT NOT NULL,
    version TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_time INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL,
    PRIMARY KEY (space, external_id, version)
);
CREATE TABLE IF NOT EXISTS dm_nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    space TEXT NOT NULL,
    external_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    type_space TEXT,
    type_external_id TEXT,
    created_time INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL,
    UNIQUE (space, external_id)
);
CREATE TABLE IF NOT EXISTS dm_node_data (
    node_id INTEGER NOT NULL,
    container_space TEXT NOT NULL,
    container_external_id TEXT NOT NULL,
    properties TEXT NOT NULL,
    PRIMARY KEY (node_id, container_space, container_external_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dm_node_data_by_container ON dm_node_data (container_space, container_external_id)
"""
# AUTOINCREMENT: node ids are never reused, so an id-based list cursor stays valid across deletes.

ContainerKey = tuple[str, str]
ViewKey = tuple[str, str, str]

CDM_SPACE = "cdf_cdm"
TIME_SERIES_CONTAINER: ContainerKey = (CDM_SPACE, "CogniteTimeSeries")
DESCRIBABLE_CONTAINER: ContainerKey = (CDM_SPACE, "CogniteDescribable")
# The global schema is older than any local data; a fixed time keeps responses reproducible.
GLOBAL_TIME_MS = 1_719_792_000_000

# Identifier rules as the DMS API documents them.
SPACE_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,41}[a-zA-Z0-9]?$")
RESERVED_SPACES = frozenset({"space", "cdf", "dms", "pg3", "shared", "system", "node", "edge"})
SCHEMA_XID_PATTERN = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_]{0,253}[a-zA-Z0-9])?$")
VERSION_PATTERN = re.compile(r"^[a-zA-Z0-9]([.a-zA-Z0-9_-]{0,41}[a-zA-Z0-9])?$")
PROPERTY_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,253}[a-zA-Z0-9]?$")
RESERVED_PROPERTIES = frozenset(
    {
        "space",
        "externalId",
        "createdTime",
        "lastUpdatedTime",
        "deletedTime",
        "edge_id",
        "node_id",
        "project_id",
        "property_group",
        "seq",
        "tg_table_name",
        "extensions",
    }
)

PRIMITIVE_TYPES = frozenset(
    {
        "text",
        "boolean",
        "float32",
        "float64",
        "int32",
        "int64",
        "timestamp",
        "date",
        "json",
        "timeseries",
        "file",
        "sequence",
    }
)
ALL_TYPES = PRIMITIVE_TYPES | {"direct", "enum"}
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


# ------------------------------------------------------------------------------------------------------------
# The global Core Data Model subset: what CogniteTimeSeries v1 needs.


def _cdm_prop(
    type_: dict[str, Any],
    *,
    nullable: bool = True,
    immutable: bool = False,
    name: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    prop: dict[str, Any] = {
        "type": normalize_type(type_, "cdm"),
        "nullable": nullable,
        "autoIncrement": False,
        "immutable": immutable,
    }
    if name is not None:
        prop["name"] = name
    if description is not None:
        prop["description"] = description
    return prop


def _text(is_list: bool = False) -> dict[str, Any]:
    return {"type": "text", "list": is_list, **({"maxListSize": 1000} if is_list else {})}


def _direct(is_list: bool = False) -> dict[str, Any]:
    return {"type": "direct", "list": is_list, **({"maxListSize": 1200} if is_list else {})}


def _container(xid: str, used_for: str, properties: dict[str, dict[str, Any]], description: str) -> dict[str, Any]:
    return {
        "space": CDM_SPACE,
        "externalId": xid,
        "name": xid,
        "description": description,
        "usedFor": used_for,
        "properties": properties,
        "constraints": {},
        "indexes": {},
    }


def _global_containers() -> dict[ContainerKey, dict[str, Any]]:
    describable = _container(
        "CogniteDescribable",
        "all",
        {
            "name": _cdm_prop(_text(), name="Name", description="Name of the instance"),
            "description": _cdm_prop(_text(), name="Description", description="Description of the instance"),
            "tags": _cdm_prop(_text(True), name="Tags", description="Text based labels for generic use"),
            "aliases": _cdm_prop(_text(True), name="Aliases", description="Alternative names for the node"),
        },
        "The describable core concept is used as a standard way of holding the bare minimum of information.",
    )
    sourceable = _container(
        "CogniteSourceable",
        "all",
        {
            "sourceId": _cdm_prop(_text(), description="Identifier from the source system"),
            "sourceContext": _cdm_prop(_text(), description="Context of the source id"),
            "source": _cdm_prop(_direct(), description="Direct relation to a source system"),
            "sourceCreatedTime": _cdm_prop({"type": "timestamp"}, description="When created in the source"),
            "sourceUpdatedTime": _cdm_prop({"type": "timestamp"}, description="When updated in the source"),
            "sourceCreatedUser": _cdm_prop(_text(), description="Who created the source data"),
            "sourceUpdatedUser": _cdm_prop(_text(), description="Who last updated the source data"),
        },
        "Holds the source system metadata of an instance.",
    )
    time_series = _container(
        "CogniteTimeSeries",
        "node",
        {
            "isStep": _cdm_prop(
                {"type": "boolean"},
                nullable=False,
                name="Is step",
                description="Whether the time series is a step time series",
            ),
            "type": _cdm_prop(
                {"type": "enum", "values": {"numeric": {}, "string": {}, "state": {}}},
                nullable=False,
                immutable=True,
                name="Time series type",
                description="The data type of the data points",
            ),
            "sourceUnit": _cdm_prop(_text(), name="Source unit", description="The unit in the source system"),
            "unit": _cdm_prop(_direct(), name="Unit", description="The unit of the time series"),
            "assets": _cdm_prop(_direct(True), name="Assets", description="Assets the time series relates to"),
            "equipment": _cdm_prop(_direct(True), name="Equipment", description="Related equipment"),
            "stateSet": _cdm_prop(_direct(), name="State set", description="The state set of a state series"),
        },
        "Represents a series of data points in time order.",
    )
    return {(c["space"], c["externalId"]): c for c in (describable, sourceable, time_series)}


def _global_views() -> dict[ViewKey, dict[str, Any]]:
    def mapped(container: str, prop: str, source: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "container": {"space": CDM_SPACE, "externalId": container},
            "containerPropertyIdentifier": prop,
        }
        if source is not None:
            out["source"] = {"space": CDM_SPACE, "externalId": source, "version": "v1"}
        return out

    describable_props = {p: mapped("CogniteDescribable", p) for p in ("name", "description", "tags", "aliases")}
    sourceable_props = {
        p: mapped("CogniteSourceable", p, "CogniteSourceSystem" if p == "source" else None)
        for p in (
            "sourceId",
            "sourceContext",
            "source",
            "sourceCreatedTime",
            "sourceUpdatedTime",
            "sourceCreatedUser",
            "sourceUpdatedUser",
        )
    }
    ts_own = {
        "isStep": mapped("CogniteTimeSeries", "isStep"),
        "type": mapped("CogniteTimeSeries", "type"),
        "sourceUnit": mapped("CogniteTimeSeries", "sourceUnit"),
        "unit": mapped("CogniteTimeSeries", "unit", "CogniteUnit"),
        "assets": mapped("CogniteTimeSeries", "assets", "CogniteAsset"),
        "equipment": mapped("CogniteTimeSeries", "equipment", "CogniteEquipment"),
        "stateSet": mapped("CogniteTimeSeries", "stateSet", "CogniteStateSet"),
    }

    def view(xid: str, props: dict[str, Any], own: list[str], implements: list[str], description: str) -> dict:
        return {
            "space": CDM_SPACE,
            "externalId": xid,
            "version": "v1",
            "name": xid,
            "description": description,
            "filter": None,
            "implements": [{"space": CDM_SPACE, "externalId": i, "version": "v1"} for i in implements],
            "properties": props,
            "ownProperties": own,
        }

    views = [
        view(
            "CogniteDescribable",
            describable_props,
            list(describable_props),
            [],
            "The describable core concept is a standard way of holding the bare minimum of information.",
        ),
        view(
            "CogniteSourceable",
            sourceable_props,
            list(sourceable_props),
            [],
            "Holds the source system metadata of an instance.",
        ),
        view(
            "CogniteTimeSeries",
            {**describable_props, **sourceable_props, **ts_own},
            list(ts_own),
            ["CogniteDescribable", "CogniteSourceable"],
            "Represents a series of data points in time order.",
        ),
    ]
    return {(v["space"], v["externalId"], v["version"]): v for v in views}


def is_global_space(space: str) -> bool:
    return space == CDM_SPACE


# ------------------------------------------------------------------------------------------------------------
# Property types and values.


def normalize_type(raw: Any, where: str) -> dict[str, Any]:
    """A container property type in CDF's read shape (with `list` and the text collation made explicit)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise bad_request(f"{where}: a property type must be an object with a 'type', got {raw!r}.")
    kind = raw["type"]
    if kind not in ALL_TYPES:
        raise bad_request(f"{where}: unknown property type {kind!r}; expected one of {', '.join(sorted(ALL_TYPES))}.")
    out = {k: v for k, v in raw.items() if v is not None}
    if kind == "enum":
        values = raw.get("values")
        if not isinstance(values, dict) or not values:
            raise bad_request(f"{where}: an enum type needs a non-empty 'values' object.")
        out.pop("list", None)
        return out
    out["list"] = bool(raw.get("list", False))
    if kind == "text":
        out.setdefault("collation", "ucs_basic")
    if "maxListSize" in out and not out["list"]:
        raise bad_request(f"{where}: maxListSize requires list=true.")
    return out


def _timestamp(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise bad_request(f"{where}: expected a timestamp string (ISO 8601), got {value!r}.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(f"{where}: {value!r} is not a valid ISO 8601 timestamp.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # CDF answers timestamps in UTC with millisecond precision.
    return parsed.astimezone(UTC).isoformat(timespec="milliseconds")


def _scalar(kind: str, ptype: dict[str, Any], value: Any, where: str) -> Any:
    if kind == "text":
        if not isinstance(value, str):
            raise bad_request(f"{where}: expected a text value, got {value!r}.")
        if (size := ptype.get("maxTextSize")) is not None and len(value.encode()) > size:
            raise bad_request(f"{where}: text is longer than maxTextSize {size}.")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise bad_request(f"{where}: expected a boolean, got {value!r}.")
        return value
    if kind in ("float32", "float64"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise bad_request(f"{where}: expected a finite number, got {value!r}.")
        return float(value)
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise bad_request(f"{where}: expected an {kind} integer, got {value!r}.")
        return value
    if kind == "timestamp":
        return _timestamp(value, where)
    if kind == "date":
        try:
            return date.fromisoformat(value).isoformat()
        except (TypeError, ValueError):
            raise bad_request(f"{where}: expected a date 'YYYY-MM-DD', got {value!r}.") from None
    if kind == "direct":
        if not (
            isinstance(value, dict) and isinstance(value.get("space"), str) and isinstance(value.get("externalId"), str)
        ):
            raise bad_request(f"{where}: expected a direct relation {{space, externalId}}, got {value!r}.")
        return {"space": value["space"], "externalId": value["externalId"]}
    if kind in ("timeseries", "file", "sequence"):
        if not isinstance(value, str):
            raise bad_request(f"{where}: expected the external id of a {kind}, got {value!r}.")
        return value
    return value  # json: any JSON value


def normalize_value(ptype: dict[str, Any], value: Any, where: str) -> Any:
    """A property value checked against its type, in the shape CDF answers with. `None` passes through."""
    if value is None:
        return None
    kind = ptype["type"]
    if kind == "enum":
        allowed = ptype["values"]
        if not isinstance(value, str) or value not in allowed:
            raise bad_request(f"{where}: {value!r} is not one of the allowed values {', '.join(map(repr, allowed))}.")
        return value
    if ptype.get("list"):
        if not isinstance(value, list):
            raise bad_request(f"{where}: expected a list, got {value!r}.")
        if (size := ptype.get("maxListSize")) is not None and len(value) > size:
            raise bad_request(f"{where}: the list has {len(value)} elements, more than maxListSize {size}.")
        return [_scalar(kind, ptype, v, where) for v in value]
    return _scalar(kind, ptype, value, where)


def direct_targets(ptype: dict[str, Any], value: Any) -> list[tuple[str, str]]:
    """The nodes a (normalised) direct-relation value points to."""
    if ptype["type"] != "direct" or value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [(v["space"], v["externalId"]) for v in values]


# ------------------------------------------------------------------------------------------------------------
# Schema records.


@dataclass
class SchemaRecord:
    """A space, container or view: its definition (CDF's shape) and the fields CDF maintains."""

    definition: dict[str, Any]
    created_time: int
    last_updated_time: int
    is_global: bool = False


_GLOBAL_SPACES = {
    CDM_SPACE: SchemaRecord(
        {"space": CDM_SPACE, "name": "CDF Core Data Model", "description": "The Cognite Core Data Model"},
        GLOBAL_TIME_MS,
        GLOBAL_TIME_MS,
        True,
    )
}
GLOBAL_CONTAINERS = {k: SchemaRecord(v, GLOBAL_TIME_MS, GLOBAL_TIME_MS, True) for k, v in _global_containers().items()}
GLOBAL_VIEWS = {k: SchemaRecord(v, GLOBAL_TIME_MS, GLOBAL_TIME_MS, True) for k, v in _global_views().items()}


def get_space(conn: sqlite3.Connection, space: str) -> SchemaRecord | None:
    if space in _GLOBAL_SPACES:
        return _GLOBAL_SPACES[space]
    row = conn.execute(
        "SELECT name, description, created_time, last_updated_time FROM dm_spaces WHERE space = ?", (space,)
    ).fetchone()
    if row is None:
        return None
    return SchemaRecord({"space": space, "name": row[0], "description": row[1]}, row[2], row[3])


def list_spaces(conn: sqlite3.Connection, include_global: bool) -> list[SchemaRecord]:
    rows = conn.execute(
        "SELECT space, name, description, created_time, last_updated_time FROM dm_spaces ORDER BY space"
    ).fetchall()
    records = [SchemaRecord({"space": r[0], "name": r[1], "description": r[2]}, r[3], r[4]) for r in rows]
    return [*(_GLOBAL_SPACES.values() if include_global else ()), *records]


def put_space(conn: sqlite3.Connection, space: str, name: str | None, description: str | None, now: int) -> None:
    conn.execute(
        "INSERT INTO dm_spaces (space, name, description, created_time, last_updated_time) "
        "VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (space) DO UPDATE SET name = excluded.name, description = excluded.description, "
        "last_updated_time = excluded.last_updated_time",
        (space, name, description, now, now),
    )


def space_contents(conn: sqlite3.Connection, space: str) -> dict[str, int]:
    """How many containers, views and nodes live in a space (a non-empty space cannot be deleted)."""
    return {
        table: conn.execute(f"SELECT COUNT(*) FROM dm_{table} WHERE space = ?", (space,)).fetchone()[0]
        for table in ("containers", "views", "nodes")
    }


def delete_space(conn: sqlite3.Connection, space: str) -> bool:
    return conn.execute("DELETE FROM dm_spaces WHERE space = ?", (space,)).rowcount > 0


def _schema_record(row: tuple) -> SchemaRecord:
    return SchemaRecord(json.loads(row[0]), row[1], row[2])


def get_container(conn: sqlite3.Connection, key: ContainerKey) -> SchemaRecord | None:
    if key in GLOBAL_CONTAINERS:
        return GLOBAL_CONTAINERS[key]
    row = conn.execute(
        "SELECT definition, created_time, last_updated_time FROM dm_containers WHERE space = ? AND external_id = ?",
        key,
    ).fetchone()
    return _schema_record(row) if row else None


def list_containers(conn: sqlite3.Connection, space: str | None, include_global: bool) -> list[SchemaRecord]:
    sql = "SELECT definition, created_time, last_updated_time FROM dm_containers"
    rows = conn.execute(
        sql + (" WHERE space = ?" if space else "") + " ORDER BY space, external_id",
        (space,) if space else (),
    ).fetchall()
    found = [r for k, r in sorted(GLOBAL_CONTAINERS.items()) if include_global and (space is None or k[0] == space)]
    return [*found, *map(_schema_record, rows)]


def put_container(conn: sqlite3.Connection, definition: dict[str, Any], now: int) -> SchemaRecord:
    key = (definition["space"], definition["externalId"])
    conn.execute(
        "INSERT INTO dm_containers (space, external_id, definition, created_time, last_updated_time) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (space, external_id) DO UPDATE SET "
        "definition = excluded.definition, "
        "last_updated_time = excluded.last_updated_time",
        (*key, json.dumps(definition), now, now),
    )
    record = get_container(conn, key)
    assert record is not None
    return record


def delete_container(conn: sqlite3.Connection, key: ContainerKey) -> bool:
    """Drop a container and every node's data in it, as CDF does."""
    conn.execute("DELETE FROM dm_node_data WHERE container_space = ? AND container_external_id = ?", key)
    return conn.execute("DELETE FROM dm_containers WHERE space = ? AND external_id = ?", key).rowcount > 0


def get_view(conn: sqlite3.Connection, key: ViewKey) -> SchemaRecord | None:
    if key in GLOBAL_VIEWS:
        return GLOBAL_VIEWS[key]
    row = conn.execute(
        "SELECT definition, created_time, last_updated_time FROM dm_views "
        "WHERE space = ? AND external_id = ? AND version = ?",
        key,
    ).fetchone()
    return _schema_record(row) if row else None


def view_versions(conn: sqlite3.Connection, space: str, external_id: str) -> list[SchemaRecord]:
    found = [r for k, r in GLOBAL_VIEWS.items() if k[:2] == (space, external_id)]
    rows = conn.execute(
        "SELECT definition, created_time, last_updated_time FROM dm_views "
        "WHERE space = ? AND external_id = ? "
        "ORDER BY created_time, version",
        (space, external_id),
    ).fetchall()
    return [*found, *map(_schema_record, rows)]


def list_views(conn: sqlite3.Connection, space: str | None, include_global: bool) -> list[SchemaRecord]:
    sql = "SELECT definition, created_time, last_updated_time FROM dm_views"
    rows = conn.execute(
        sql + (" WHERE space = ?" if space else "") + " ORDER BY space, external_id, version",
        (space,) if space else (),
    ).fetchall()
    found = [r for k, r in sorted(GLOBAL_VIEWS.items()) if include_global and (space is None or k[0] == space)]
    return [*found, *map(_schema_record, rows)]


def views_using(conn: sqlite3.Connection, container: ContainerKey) -> list[ViewKey]:
    """The stored views that map a container."""
    return [
        (d["space"], d["externalId"], d["version"])
        for d in (r.definition for r in list_views(conn, None, include_global=False))
        if container in mapped_containers(d)
    ]


def put_view(conn: sqlite3.Connection, definition: dict[str, Any], now: int) -> SchemaRecord:
    key = (definition["space"], definition["externalId"], definition["version"])
    conn.execute(
        "INSERT INTO dm_views (space, external_id, version, definition, created_time, last_updated_time) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (space, external_id, version) DO UPDATE SET "
        "definition = excluded.definition, last_updated_time = excluded.last_updated_time",
        (*key, json.dumps(definition), now, now),
    )
    record = get_view(conn, key)
    assert record is not None
    return record


def delete_view(conn: sqlite3.Connection, key: ViewKey) -> bool:
    return conn.execute("DELETE FROM dm_views WHERE space = ? AND external_id = ? AND version = ?", key).rowcount > 0


def mapped_containers(view: dict[str, Any]) -> list[ContainerKey]:
    """The containers a (resolved) view definition maps, in order of first use."""
    seen: dict[ContainerKey, None] = {}
    for prop in view["properties"].values():
        if "container" in prop:
            seen[prop["container"]["space"], prop["container"]["externalId"]] = None
    return list(seen)


# ------------------------------------------------------------------------------------------------------------
# Nodes.


@dataclass
class NodeRecord:
    id: int
    space: str
    external_id: str
    version: int
    type: dict[str, str] | None
    created_time: int
    last_updated_time: int
    data: dict[ContainerKey, dict[str, Any]] = field(default_factory=dict)


_NODE_COLUMNS = "id, space, external_id, version, type_space, type_external_id, created_time, last_updated_time"


def _node(row: tuple) -> NodeRecord:
    id_, space, xid, version, type_space, type_xid, created, updated = row
    node_type = {"space": type_space, "externalId": type_xid} if type_space is not None else None
    return NodeRecord(id_, space, xid, version, node_type, created, updated)


def _attach_data(conn: sqlite3.Connection, nodes: list[NodeRecord]) -> list[NodeRecord]:
    by_id = {n.id: n for n in nodes}
    ids = list(by_id)
    for start in range(0, len(ids), 500):  # stay below SQLite's bound-parameter limit
        chunk = ids[start : start + 500]
        rows = conn.execute(
            "SELECT node_id, container_space, container_external_id, properties FROM dm_node_data "
            f"WHERE node_id IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        for node_id, c_space, c_xid, props in rows:
            by_id[node_id].data[c_space, c_xid] = json.loads(props)
    return nodes


def get_nodes(conn: sqlite3.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], NodeRecord]:
    """The stored nodes among `keys`, with their data; unknown keys are absent."""
    found: list[NodeRecord] = []
    for space, xid in dict.fromkeys(keys):
        row = conn.execute(
            f"SELECT {_NODE_COLUMNS} FROM dm_nodes WHERE space = ? AND external_id = ?", (space, xid)
        ).fetchone()
        if row is not None:
            found.append(_node(row))
    return {(n.space, n.external_id): n for n in _attach_data(conn, found)}


def existing_node_keys(conn: sqlite3.Connection, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    return {
        key
        for key in dict.fromkeys(keys)
        if conn.execute("SELECT 1 FROM dm_nodes WHERE space = ? AND external_id = ?", key).fetchone()
    }


def scan_nodes(
    conn: sqlite3.Connection, where: str, params: list[Any], batch: int, after: int = 0
) -> Iterator[list[NodeRecord]]:
    """Nodes with id > `after` matching an SQL condition, in id order, in batches with their data."""
    while True:
        rows = conn.execute(
            f"SELECT {_NODE_COLUMNS} FROM dm_nodes WHERE id > ? AND ({where}) ORDER BY id LIMIT ?",
            [after, *params, batch],
        ).fetchall()
        if not rows:
            return
        nodes = _attach_data(conn, [_node(r) for r in rows])
        yield nodes
        after = nodes[-1].id


def insert_node(conn: sqlite3.Connection, node: NodeRecord) -> None:
    node_type = node.type or {}
    cursor = conn.execute(
        "INSERT INTO dm_nodes (space, external_id, version, type_space, type_external_id, created_time, "
        "last_updated_time) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            node.space,
            node.external_id,
            node.version,
            node_type.get("space"),
            node_type.get("externalId"),
            node.created_time,
            node.last_updated_time,
        ),
    )
    assert cursor.lastrowid is not None
    node.id = cursor.lastrowid
    _write_data(conn, node, node.data)


def update_node(conn: sqlite3.Connection, node: NodeRecord, changed: Iterable[ContainerKey]) -> None:
    """Write back the node's header and the data rows of the `changed` containers."""
    node_type = node.type or {}
    conn.execute(
        "UPDATE dm_nodes SET version = ?, type_space = ?, type_external_id = ?, last_updated_time = ? WHERE id = ?",
        (node.version, node_type.get("space"), node_type.get("externalId"), node.last_updated_time, node.id),
    )
    _write_data(conn, node, {key: node.data[key] for key in changed})


def _write_data(conn: sqlite3.Connection, node: NodeRecord, data: dict[ContainerKey, dict[str, Any]]) -> None:
    conn.executemany(
        "INSERT INTO dm_node_data (node_id, container_space, container_external_id, properties) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (node_id, container_space, container_external_id) "
        "DO UPDATE SET properties = excluded.properties",
        [(node.id, space, xid, json.dumps(props)) for (space, xid), props in data.items()],
    )


def delete_node(conn: sqlite3.Connection, node: NodeRecord) -> None:
    conn.execute("DELETE FROM dm_node_data WHERE node_id = ?", (node.id,))
    conn.execute("DELETE FROM dm_nodes WHERE id = ?", (node.id,))


def next_auto_increment(conn: sqlite3.Connection, container: ContainerKey, prop: str) -> int:
    row = conn.execute(
        "SELECT MAX(CAST(json_extract(properties, ?) AS INTEGER)) FROM dm_node_data "
        "WHERE container_space = ? AND container_external_id = ?",
        (f'$."{prop}"', *container),
    ).fetchone()
    return (row[0] or 0) + 1
