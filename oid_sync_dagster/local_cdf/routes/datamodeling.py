"""`/models/...`: spaces, containers, views and nodes; CogniteTimeSeries nodes are mirrored as time series.

A node keeps one row of values per container. Writing through a view touches every container the view maps
(so the node "has data" in that view afterwards, as in CDF). Reading with `sources` answers only the nodes
that have data in every requested view, with each view's mapped values.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.routing import BaseRoute, Route

from oid_sync_dagster.local_cdf.cursors import decode_cursor, encode_cursor
from oid_sync_dagster.local_cdf.errors import CDFError, bad_request, forbidden
from oid_sync_dagster.local_cdf.projects import TargetProject
from oid_sync_dagster.local_cdf.requests import Context, endpoint
from oid_sync_dagster.local_cdf.store import models
from oid_sync_dagster.local_cdf.store import timeseries as ts_store
from oid_sync_dagster.local_cdf.store.models import ContainerKey, NodeRecord, SchemaRecord, ViewKey

SCHEMA_ITEMS = 100  # spaces, containers and views per request
INSTANCE_ITEMS = 1000
MAX_LIST_LIMIT = 1000
SCHEMA_DEFAULT_LIMIT = 10
INSTANCE_DEFAULT_LIMIT = 1000
_SCAN_BATCH = 1000
_USED_FOR = ("node", "edge", "record", "all")
_NODE_PROPERTIES = ("space", "externalId", "version", "createdTime", "lastUpdatedTime", "type")


# ------------------------------------------------------------------------------------------------------------
# Shared helpers.


@contextmanager
def _reading(ctx: Context) -> Iterator[sqlite3.Connection]:
    """A read snapshot; the read-only source project has no data modeling data, only the global schema."""
    project = ctx.project
    if isinstance(project, TargetProject):
        with project.db.read() as conn:
            yield conn
        return
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(models.DDL)
        yield conn
    finally:
        conn.close()


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise bad_request(f"{what} must be a non-empty string, got {value!r}.")
    return value


def _optional_string(item: dict[str, Any], key: str, what: str) -> str | None:
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{what}: {key} must be a string, got {value!r}.")
    return value


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"{what} must be an object, got {value!r}.")
    return value


def _user_space(conn: sqlite3.Connection, space: str, what: str) -> None:
    """The space must exist and be writable."""
    if models.is_global_space(space):
        raise forbidden(f"{what}: space {space!r} is a global system space and read only.")
    if models.get_space(conn, space) is None:
        raise bad_request(f"{what}: space {space!r} does not exist. Create it first with POST /models/spaces.")


def _limit(value: Any, default: int) -> int:
    limit = default if value is None else value
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise bad_request(f"limit must be an integer between 1 and {MAX_LIST_LIMIT}, got {value!r}.")
    return limit


def _schema_page(
    ctx: Context,
    records: list[SchemaRecord],
    key: Callable[[dict[str, Any]], list[str]],
    render: Callable[[SchemaRecord], dict[str, Any]],
) -> dict[str, Any]:
    """One page of a schema listing in key order; the cursor is the last key answered."""
    limit = _limit(ctx.query("limit", int), SCHEMA_DEFAULT_LIMIT)
    ordered = sorted(records, key=lambda r: key(r.definition))
    if cursor := ctx.query("cursor"):
        after = decode_cursor(cursor).get("after")
        if not isinstance(after, list):
            raise bad_request(f"Invalid cursor {cursor!r}.")
        ordered = [r for r in ordered if key(r.definition) > after]
    page = ordered[:limit]
    more = len(ordered) > limit
    return {
        "items": [render(r) for r in page],
        "nextCursor": encode_cursor({"after": key(page[-1].definition)}) if more else None,
    }


def _include_global(ctx: Context) -> bool:
    return bool(ctx.query("includeGlobal", bool, False))


def _space_param(ctx: Context) -> str | None:
    return ctx.query("space") or None


def _view_ref(raw: Any, what: str) -> ViewKey:
    ref = _object(raw, what)
    if ref.get("type", "view") != "view":
        raise bad_request(f"{what}: expected a view reference, got {raw!r}.")
    return (
        _string(ref.get("space"), f"{what}: space"),
        _string(ref.get("externalId"), f"{what}: externalId"),
        _string(ref.get("version"), f"{what}: version"),
    )


def _fmt_view(key: ViewKey) -> str:
    return f"{key[0]}:{key[1]}/{key[2]}"


def _fmt_container(key: ContainerKey) -> str:
    return f"{key[0]}:{key[1]}"


class Schema:
    """Containers and views looked up once per request."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._containers: dict[ContainerKey, dict[str, Any] | None] = {}
        self._views: dict[ViewKey, dict[str, Any] | None] = {}
        self._view_filters: dict[ViewKey, Callable[[NodeRecord], bool]] = {}

    def container(self, key: ContainerKey) -> dict[str, Any] | None:
        if key not in self._containers:
            record = models.get_container(self.conn, key)
            self._containers[key] = record.definition if record else None
        return self._containers[key]

    def view(self, key: ViewKey) -> dict[str, Any] | None:
        if key not in self._views:
            record = models.get_view(self.conn, key)
            self._views[key] = record.definition if record else None
        return self._views[key]

    def forget_view(self, key: ViewKey) -> None:
        """Drop a cached lookup once the view is written in this request."""
        self._views.pop(key, None)
        self._view_filters.pop(key, None)

    def require_view(self, key: ViewKey, what: str) -> dict[str, Any]:
        view = self.view(key)
        if view is None:
            raise bad_request(f"{what}: view {_fmt_view(key)} does not exist.")
        return view

    def has_data(self, node: NodeRecord, key: ViewKey, view: dict[str, Any]) -> bool:
        """CDF's hasData for a view: its filter if it has one, else data in every container it maps."""
        if view.get("filter"):
            if key not in self._view_filters:
                self._view_filters[key] = compile_filter(view["filter"], self)
            return self._view_filters[key](node)
        containers = models.mapped_containers(view)
        return bool(containers) and all(c in node.data for c in containers)


# ------------------------------------------------------------------------------------------------------------
# Spaces.


def _space_json(record: SchemaRecord) -> dict[str, Any]:
    d = record.definition
    out: dict[str, Any] = {"space": d["space"]}
    for key in ("name", "description"):
        if d.get(key) is not None:
            out[key] = d[key]
    out.update(isGlobal=record.is_global, createdTime=record.created_time, lastUpdatedTime=record.last_updated_time)
    return out


def _space_id(raw: Any) -> str:
    space = _string(_object(raw, "A space item").get("space"), "space")
    return space


def apply_spaces(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    items = [_object(i, "A space") for i in ctx.items(max_items=SCHEMA_ITEMS)]
    for item in items:
        space = _space_id(item)
        if models.is_global_space(space) or space.startswith("cdf_"):
            raise forbidden(f"Space {space!r} is reserved for CDF's global schema.")
        if not models.SPACE_PATTERN.match(space) or space in models.RESERVED_SPACES:
            raise bad_request(f"Invalid space identifier {space!r}.")
        _optional_string(item, "name", f"Space {space!r}")
        _optional_string(item, "description", f"Space {space!r}")
    with project.db.write() as conn:
        for item in items:
            models.put_space(conn, item["space"], item.get("name"), item.get("description"), ctx.now_ms)
        records = [models.get_space(conn, item["space"]) for item in items]
    return {"items": [_space_json(r) for r in records if r is not None]}


def list_spaces(ctx: Context) -> dict[str, Any]:
    with _reading(ctx) as conn:
        records = models.list_spaces(conn, _include_global(ctx))
    return _schema_page(ctx, records, lambda d: [d["space"]], _space_json)


def retrieve_spaces(ctx: Context) -> dict[str, Any]:
    spaces = [_space_id(i) for i in ctx.items(max_items=SCHEMA_ITEMS)]
    with _reading(ctx) as conn:
        records = [models.get_space(conn, s) for s in dict.fromkeys(spaces)]
    return {"items": [_space_json(r) for r in records if r is not None]}


def delete_spaces(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    spaces = [_space_id(i) for i in ctx.items(max_items=SCHEMA_ITEMS)]
    deleted = []
    with project.db.write() as conn:
        for space in dict.fromkeys(spaces):
            if models.is_global_space(space):
                raise forbidden(f"Space {space!r} is a global system space and cannot be deleted.")
            contents = {k: n for k, n in models.space_contents(conn, space).items() if n}
            if contents:
                listed = ", ".join(f"{n} {k}" for k, n in contents.items())
                raise bad_request(f"Space {space!r} is not empty ({listed}); delete its contents first.")
            if models.delete_space(conn, space):
                deleted.append({"space": space})
    return {"items": deleted}


# ------------------------------------------------------------------------------------------------------------
# Containers.


def _container_key(raw: Any, what: str = "A container reference") -> ContainerKey:
    ref = _object(raw, what)
    return _string(ref.get("space"), f"{what}: space"), _string(ref.get("externalId"), f"{what}: externalId")


def _parse_container_property(name: str, raw: Any, where: str) -> dict[str, Any]:
    if not models.PROPERTY_PATTERN.match(name) or name in models.RESERVED_PROPERTIES:
        raise bad_request(f"{where}: invalid property identifier {name!r}.")
    prop = _object(raw, f"{where}: property {name!r}")
    out: dict[str, Any] = {
        "type": models.normalize_type(prop.get("type"), f"{where}: property {name!r}"),
        "nullable": prop.get("nullable", True),
        "autoIncrement": prop.get("autoIncrement", False),
        "immutable": prop.get("immutable", False),
    }
    for flag in ("nullable", "autoIncrement", "immutable"):
        if not isinstance(out[flag], bool):
            raise bad_request(f"{where}: property {name!r}: {flag} must be a boolean.")
    if out["autoIncrement"] and out["type"]["type"] not in ("int32", "int64"):
        raise bad_request(f"{where}: property {name!r}: only int32/int64 properties can auto-increment.")
    if prop.get("defaultValue") is not None:
        out["defaultValue"] = models.normalize_value(
            out["type"], prop["defaultValue"], f"{where}: defaultValue of {name!r}"
        )
    for key in ("name", "description"):
        if (value := _optional_string(prop, key, f"{where}: property {name!r}")) is not None:
            out[key] = value
    return out


def _parse_container(conn: sqlite3.Connection, raw: Any) -> dict[str, Any]:
    item = _object(raw, "A container")
    key = _container_key(item, "A container")
    where = f"Container {_fmt_container(key)}"
    _user_space(conn, key[0], where)
    if not models.SCHEMA_XID_PATTERN.match(key[1]):
        raise bad_request(f"{where}: invalid externalId {key[1]!r}.")
    raw_props = _object(item.get("properties"), f"{where}: properties")
    if not raw_props:
        raise bad_request(f"{where}: a container needs at least one property.")
    properties = {name: _parse_container_property(name, p, where) for name, p in raw_props.items()}
    used_for = item.get("usedFor") or "node"
    if used_for not in _USED_FOR:
        raise bad_request(f"{where}: usedFor must be one of {', '.join(_USED_FOR)}, got {used_for!r}.")
    constraints = _object(item.get("constraints") or {}, f"{where}: constraints")
    for cname, constraint in constraints.items():
        kind = _object(constraint, f"{where}: constraint {cname!r}").get("constraintType")
        if kind == "uniqueness":
            unknown = [p for p in constraint.get("properties", []) if p not in properties]
            if unknown:
                raise bad_request(f"{where}: constraint {cname!r} names unknown properties {unknown}.")
        elif kind == "requires":
            _container_key(constraint.get("require"), f"{where}: constraint {cname!r} require")
        else:
            raise bad_request(f"{where}: constraint {cname!r} has unknown constraintType {kind!r}.")
    indexes = _object(item.get("indexes") or {}, f"{where}: indexes")
    for iname, index in indexes.items():
        index = _object(index, f"{where}: index {iname!r}")
        if index.get("indexType") not in ("btree", "inverted"):
            raise bad_request(f"{where}: index {iname!r} has unknown indexType {index.get('indexType')!r}.")
        unknown = [p for p in index.get("properties", []) if p not in properties]
        if unknown:
            raise bad_request(f"{where}: index {iname!r} names unknown properties {unknown}.")
    existing = models.get_container(conn, key)
    if existing is not None:
        for name, prop in existing.definition["properties"].items():
            if name in properties and properties[name]["type"]["type"] != prop["type"]["type"]:
                raise bad_request(
                    f"{where}: cannot change the type of property {name!r} from {prop['type']['type']!r} "
                    f"to {properties[name]['type']['type']!r}."
                )
    definition: dict[str, Any] = {"space": key[0], "externalId": key[1]}
    for field_ in ("name", "description"):
        if (value := _optional_string(item, field_, where)) is not None:
            definition[field_] = value
    definition.update(usedFor=used_for, properties=properties, constraints=constraints, indexes=indexes)
    return definition


def _container_json(record: SchemaRecord) -> dict[str, Any]:
    d = record.definition
    out = {k: v for k, v in d.items() if k not in ("properties", "constraints", "indexes")}
    # The read shape carries state: constraints and indexes are always built at once locally.
    out["properties"] = {n: {**p, "constraintState": {}} for n, p in d["properties"].items()}
    out["constraints"] = {n: {**c, "state": "current"} for n, c in d.get("constraints", {}).items()}
    out["indexes"] = {n: {**i, "state": "current"} for n, i in d.get("indexes", {}).items()}
    out.update(isGlobal=record.is_global, createdTime=record.created_time, lastUpdatedTime=record.last_updated_time)
    return out


def apply_containers(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    items = ctx.items(max_items=SCHEMA_ITEMS)
    with project.db.write() as conn:
        records = [models.put_container(conn, _parse_container(conn, item), ctx.now_ms) for item in items]
    return {"items": [_container_json(r) for r in records]}


def list_containers(ctx: Context) -> dict[str, Any]:
    used_for = set(ctx.request.query_params.getlist("usedFor")) or set(_USED_FOR)
    with _reading(ctx) as conn:
        records = models.list_containers(conn, _space_param(ctx), _include_global(ctx))
    records = [r for r in records if r.definition.get("usedFor", "node") in used_for]
    return _schema_page(ctx, records, lambda d: [d["space"], d["externalId"]], _container_json)


def retrieve_containers(ctx: Context) -> dict[str, Any]:
    keys = [_container_key(i) for i in ctx.items(max_items=SCHEMA_ITEMS)]
    with _reading(ctx) as conn:
        records = [models.get_container(conn, k) for k in dict.fromkeys(keys)]
    return {"items": [_container_json(r) for r in records if r is not None]}


def delete_containers(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    keys = [_container_key(i) for i in ctx.items(max_items=SCHEMA_ITEMS)]
    deleted = []
    with project.db.write() as conn:
        for key in dict.fromkeys(keys):
            if models.is_global_space(key[0]):
                raise forbidden(f"Container {_fmt_container(key)} is global and cannot be deleted.")
            if users := models.views_using(conn, key):
                raise bad_request(
                    f"Container {_fmt_container(key)} is mapped by the views "
                    f"{', '.join(map(_fmt_view, users))}; delete them first."
                )
            if models.delete_container(conn, key):
                deleted.append({"space": key[0], "externalId": key[1]})
    return {"items": deleted}


# ------------------------------------------------------------------------------------------------------------
# Views.


def _parse_view_property(schema: Schema, name: str, raw: Any, where: str) -> dict[str, Any]:
    if not models.PROPERTY_PATTERN.match(name) or name in models.RESERVED_PROPERTIES:
        raise bad_request(f"{where}: invalid property identifier {name!r}.")
    prop = _object(raw, f"{where}: property {name!r}")
    if "connectionType" in prop:
        # Edge and reverse-direct-relation connections only document the graph; they hold no values.
        return {k: v for k, v in prop.items() if v is not None}
    if "container" not in prop:
        raise bad_request(f"{where}: property {name!r} must map a container property or be a connection.")
    ckey = _container_key(prop["container"], f"{where}: property {name!r} container")
    container = schema.container(ckey)
    if container is None:
        raise bad_request(f"{where}: property {name!r} maps container {_fmt_container(ckey)}, which does not exist.")
    cpid = _string(prop.get("containerPropertyIdentifier"), f"{where}: property {name!r} containerPropertyIdentifier")
    if cpid not in container["properties"]:
        raise bad_request(
            f"{where}: property {name!r} maps {cpid!r}, which container {_fmt_container(ckey)} does not have."
        )
    out: dict[str, Any] = {
        "container": {"space": ckey[0], "externalId": ckey[1]},
        "containerPropertyIdentifier": cpid,
    }
    for key in ("name", "description"):
        if (value := _optional_string(prop, key, f"{where}: property {name!r}")) is not None:
            out[key] = value
    if prop.get("source") is not None:
        source = _view_ref(prop["source"], f"{where}: property {name!r} source")
        out["source"] = {"space": source[0], "externalId": source[1], "version": source[2]}
    return out


def _parse_view(schema: Schema, raw: Any) -> dict[str, Any]:
    item = _object(raw, "A view")
    key = _view_ref({**item, "type": "view"}, "A view")
    where = f"View {_fmt_view(key)}"
    _user_space(schema.conn, key[0], where)
    if not models.SCHEMA_XID_PATTERN.match(key[1]):
        raise bad_request(f"{where}: invalid externalId {key[1]!r}.")
    if not models.VERSION_PATTERN.match(key[2]):
        raise bad_request(f"{where}: invalid version {key[2]!r}.")
    if "streamId" in item:
        raise bad_request(f"{where}: record views are not supported by the local CDF.")
    implements = [_view_ref(v, f"{where}: implements") for v in item.get("implements") or []]
    resolved: dict[str, Any] = {}
    for parent in implements:
        # Later parents win over earlier ones; the view's own properties win over all of them.
        resolved.update(schema.require_view(parent, f"{where}: implements")["properties"])
    own = {
        name: _parse_view_property(schema, name, p, where)
        for name, p in _object(item.get("properties") or {}, f"{where}: properties").items()
    }
    resolved.update(own)
    flt = item.get("filter")
    if flt is not None:
        compile_filter(_object(flt, f"{where}: filter"), schema)  # reject what the local CDF cannot evaluate
    definition: dict[str, Any] = {"space": key[0], "externalId": key[1], "version": key[2]}
    for field_ in ("name", "description"):
        if (value := _optional_string(item, field_, where)) is not None:
            definition[field_] = value
    definition.update(
        filter=flt,
        implements=[{"space": s, "externalId": x, "version": v} for s, x, v in implements],
        properties=resolved,
        ownProperties=list(own),
    )
    return definition


def _view_json(schema: Schema, record: SchemaRecord, include_inherited: bool = True) -> dict[str, Any]:
    d = record.definition
    names = d["properties"] if include_inherited else d["ownProperties"]
    properties: dict[str, Any] = {}
    used_for: set[str] = set()
    covered: dict[ContainerKey, set[str]] = {}
    for name in names:
        prop = d["properties"][name]
        if "container" not in prop:
            properties[name] = prop
            continue
        ckey = (prop["container"]["space"], prop["container"]["externalId"])
        container = schema.container(ckey)
        cprop = container["properties"].get(prop["containerPropertyIdentifier"]) if container else None
        if container is None or cprop is None:
            continue  # the container changed under the view: skip the dangling mapping
        used_for.add(container.get("usedFor", "node"))
        covered.setdefault(ckey, set()).add(prop["containerPropertyIdentifier"])
        out: dict[str, Any] = {
            "container": {**prop["container"], "type": "container"},
            "containerPropertyIdentifier": prop["containerPropertyIdentifier"],
            "type": dict(cprop["type"]),
            "nullable": cprop["nullable"],
            "autoIncrement": cprop["autoIncrement"],
            "immutable": cprop["immutable"],
            "constraintState": {},
        }
        for key in ("defaultValue", "name", "description"):
            value = prop.get(key, cprop.get(key))
            if value is not None:
                out[key] = value
        if "source" in prop:
            out["type"]["source"] = {**prop["source"], "type": "view"}
        properties[name] = out
    containers = models.mapped_containers(d)
    # Writable when every required (non-nullable, no default) container property is mapped by the view.
    writable = all(
        pid in covered.get(ckey, set())
        for ckey in containers
        if (container := schema.container(ckey)) is not None
        for pid, p in container["properties"].items()
        if not p["nullable"] and p.get("defaultValue") is None and not p["autoIncrement"]
    )
    specific = used_for - {"all"}
    out_view: dict[str, Any] = {"space": d["space"], "externalId": d["externalId"], "version": d["version"]}
    for key in ("name", "description", "filter"):
        if d.get(key) is not None:
            out_view[key] = d[key]
    out_view.update(
        implements=[{**i, "type": "view"} for i in d["implements"]],
        properties=properties,
        writable=writable,
        queryable=True,
        usedFor=specific.pop() if len(specific) == 1 else ("all" if used_for else "node"),
        isGlobal=record.is_global,
        createdTime=record.created_time,
        lastUpdatedTime=record.last_updated_time,
        mappedContainers=[{"space": s, "externalId": x, "type": "container"} for s, x in containers],
    )
    return out_view


def apply_views(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    items = ctx.items(max_items=SCHEMA_ITEMS)
    with project.db.write() as conn:
        schema = Schema(conn)
        records = []
        for item in items:
            record = models.put_view(conn, _parse_view(schema, item), ctx.now_ms)
            d = record.definition
            schema.forget_view((d["space"], d["externalId"], d["version"]))
            records.append(record)
        return {"items": [_view_json(schema, r) for r in records]}


def _latest_versions(records: list[SchemaRecord]) -> list[SchemaRecord]:
    latest: dict[tuple[str, str], SchemaRecord] = {}
    for record in records:
        key = (record.definition["space"], record.definition["externalId"])
        if key not in latest or record.created_time >= latest[key].created_time:
            latest[key] = record
    return list(latest.values())


def list_views(ctx: Context) -> dict[str, Any]:
    include_inherited = ctx.query("includeInheritedProperties", bool, True)
    used_for = set(ctx.request.query_params.getlist("usedFor"))
    with _reading(ctx) as conn:
        schema = Schema(conn)
        records = models.list_views(conn, _space_param(ctx), _include_global(ctx))
        if not ctx.query("allVersions", bool, False):
            records = _latest_versions(records)
        if used_for:
            records = [r for r in records if _view_json(schema, r)["usedFor"] in used_for]
        return _schema_page(
            ctx,
            records,
            lambda d: [d["space"], d["externalId"], d["version"]],
            lambda r: _view_json(schema, r, include_inherited),
        )


def retrieve_views(ctx: Context) -> dict[str, Any]:
    include_inherited = ctx.query("includeInheritedProperties", bool, True)
    refs = []
    for raw in ctx.items(max_items=SCHEMA_ITEMS):
        ref = _object(raw, "A view reference")
        refs.append(
            (
                _string(ref.get("space"), "A view reference: space"),
                _string(ref.get("externalId"), "A view reference: externalId"),
                ref.get("version"),
            )
        )
    with _reading(ctx) as conn:
        schema = Schema(conn)
        found: dict[ViewKey, SchemaRecord] = {}
        for space, xid, version in refs:
            if version is None:
                found.update({(space, xid, r.definition["version"]): r for r in models.view_versions(conn, space, xid)})
            elif (record := models.get_view(conn, (space, xid, version))) is not None:
                found[space, xid, version] = record
        return {"items": [_view_json(schema, r, include_inherited) for r in found.values()]}


def delete_views(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    keys = [_view_ref(i, "A view reference") for i in ctx.items(max_items=SCHEMA_ITEMS)]
    deleted = []
    with project.db.write() as conn:
        for key in dict.fromkeys(keys):
            if models.is_global_space(key[0]):
                raise forbidden(f"View {_fmt_view(key)} is global and cannot be deleted.")
            if models.delete_view(conn, key):
                deleted.append({"space": key[0], "externalId": key[1], "version": key[2]})
    return {"items": deleted}


# ------------------------------------------------------------------------------------------------------------
# Filters over nodes.

Getter = Callable[[NodeRecord], Any]


def _property_getter(ref: Any, schema: Schema) -> tuple[Getter, dict[str, Any] | None]:
    """A value getter for a property reference, and the property's type when it is a container property."""
    if not isinstance(ref, list) or not all(isinstance(p, str) for p in ref):
        raise bad_request(f"A property reference must be a list of strings, got {ref!r}.")
    if len(ref) == 2 and ref[0] in ("node", "edge"):
        if ref[1] not in _NODE_PROPERTIES:
            raise bad_request(f"Unknown instance property {ref!r}.")
        if ref[0] == "edge":
            return (lambda _: None), None  # the local CDF stores no edges
        attr = {
            "externalId": "external_id",
            "createdTime": "created_time",
            "lastUpdatedTime": "last_updated_time",
        }
        name = attr.get(ref[1], ref[1])
        return (lambda n: getattr(n, name)), None
    if len(ref) != 3:
        raise bad_request(f"Unsupported property reference {ref!r}.")
    space, source, prop = ref
    if "/" in source:
        xid, version = source.split("/", 1)
        view = schema.require_view((space, xid, version), f"Property reference {ref!r}")
        mapped = view["properties"].get(prop)
        if mapped is None or "container" not in mapped:
            raise bad_request(f"Property reference {ref!r}: view {space}:{source} has no property {prop!r}.")
        ckey = (mapped["container"]["space"], mapped["container"]["externalId"])
        cpid = mapped["containerPropertyIdentifier"]
    else:
        ckey, cpid = (space, source), prop
    container = schema.container(ckey)
    if container is None or cpid not in container["properties"]:
        raise bad_request(f"Property reference {ref!r} does not resolve to a container property.")
    return (lambda n: n.data.get(ckey, {}).get(cpid)), container["properties"][cpid]["type"]


def _filter_value(value: Any, ptype: dict[str, Any] | None) -> Any:
    if isinstance(value, dict) and ("parameter" in value or "property" in value):
        raise bad_request(f"Filter values referring to parameters or properties are not supported: {value!r}.")
    if ptype is not None and ptype["type"] == "timestamp" and isinstance(value, str):
        return models.normalize_value({"type": "timestamp"}, value, "Filter value")
    return value


def _comparable(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _range_check(actual: Any, op: str, bound: Any) -> bool:
    if actual is None:
        return False
    a, b = _comparable(actual), _comparable(bound)
    try:
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
    except TypeError:
        return False


def compile_filter(flt: Any, schema: Schema) -> Callable[[NodeRecord], bool]:
    """A predicate for DMS's filter language (the subset the local CDF supports)."""
    if not isinstance(flt, dict) or len(flt) != 1:
        raise bad_request(f"A filter must be an object with exactly one key, got {flt!r}.")
    ((kind, body),) = flt.items()
    if kind in ("and", "or"):
        if not isinstance(body, list) or not body:
            raise bad_request(f"'{kind}' needs a non-empty list of filters.")
        parts = [compile_filter(f, schema) for f in body]
        return (lambda n: all(p(n) for p in parts)) if kind == "and" else (lambda n: any(p(n) for p in parts))
    if kind == "not":
        inner = compile_filter(body, schema)
        return lambda n: not inner(n)
    if kind == "matchAll":
        return lambda _: True
    if kind == "hasData":
        if not isinstance(body, list):
            raise bad_request("'hasData' needs a list of view or container references.")
        checks: list[Callable[[NodeRecord], bool]] = []
        for ref in body:
            ref = _object(ref, "A hasData reference")
            if ref.get("type") == "container":
                ckey = _container_key(ref)
                checks.append(lambda n, c=ckey: c in n.data)
            else:
                vkey = _view_ref(ref, "A hasData reference")
                view = schema.require_view(vkey, "hasData")
                checks.append(lambda n, k=vkey, v=view: schema.has_data(n, k, v))
        return lambda n: all(c(n) for c in checks)
    body = _object(body, f"Filter {kind!r}")
    getter, ptype = _property_getter(body.get("property"), schema)
    if kind == "equals":
        value = _filter_value(body.get("value"), ptype)
        return lambda n: getter(n) == value
    if kind == "in":
        values = [_filter_value(v, ptype) for v in body.get("values") or []]
        return lambda n: (actual := getter(n)) is not None and actual in values
    if kind == "prefix":
        prefix = _filter_value(body.get("value"), ptype)

        def has_prefix(n: NodeRecord) -> bool:
            actual = getter(n)
            if isinstance(actual, str) and isinstance(prefix, str):
                return actual.startswith(prefix)
            if isinstance(actual, list) and isinstance(prefix, list):
                return actual[: len(prefix)] == prefix
            return False

        return has_prefix
    if kind == "exists":
        return lambda n: getter(n) is not None
    if kind == "range":
        bounds = {op: _filter_value(body[op], ptype) for op in ("gt", "gte", "lt", "lte") if body.get(op) is not None}
        return lambda n: all(_range_check(getter(n), op, b) for op, b in bounds.items())
    if kind in ("containsAny", "containsAll"):
        values = [_filter_value(v, ptype) for v in body.get("values") or []]

        def contains(n: NodeRecord) -> bool:
            actual = getter(n)
            actual = actual if isinstance(actual, list) else [] if actual is None else [actual]
            found = [v in actual for v in values]
            return any(found) if kind == "containsAny" else all(found)

        return contains
    raise bad_request(f"Filter {kind!r} is not supported by the local CDF.")


def _pushdown(flt: Any) -> tuple[str, list[Any]]:
    """An SQL pre-filter from top-level space/externalId conditions; the predicate still decides."""
    if not isinstance(flt, dict):
        return "1", []
    conjuncts = flt.get("and") if isinstance(flt.get("and"), list) else [flt]
    clauses, params = [], []
    columns = {"space": "space", "externalId": "external_id"}
    for part in conjuncts:
        if not isinstance(part, dict) or len(part) != 1:
            continue
        ((kind, body),) = part.items()
        if not isinstance(body, dict) or not isinstance(body.get("property"), list):
            continue
        ref = body["property"]
        if len(ref) != 2 or ref[0] != "node" or ref[1] not in columns:
            continue
        column = columns[ref[1]]
        if kind == "equals" and isinstance(body.get("value"), str):
            clauses.append(f"{column} = ?")
            params.append(body["value"])
        elif kind == "in" and isinstance(body.get("values"), list) and all(isinstance(v, str) for v in body["values"]):
            clauses.append(f"{column} IN ({','.join('?' * len(body['values']))})" if body["values"] else "0")
            params.extend(body["values"])
        elif kind == "prefix" and isinstance(body.get("value"), str):
            clauses.append(f"substr({column}, 1, ?) = ?")
            params.extend([len(body["value"]), body["value"]])
    return (" AND ".join(clauses) or "1"), params


# ------------------------------------------------------------------------------------------------------------
# Instances: reading.


def _sources(ctx: Context, schema: Schema) -> list[tuple[ViewKey, dict[str, Any]]]:
    raw = ctx.field("sources", list, [])
    out = []
    for selector in raw:
        key = _view_ref(_object(selector, "A source selector").get("source"), "A source selector")
        out.append((key, schema.require_view(key, "sources")))
    return out


def _in_sources(node: NodeRecord, schema: Schema, sources: list[tuple[ViewKey, dict[str, Any]]]) -> bool:
    """CDF answers only instances with data in every requested source (the SDK relies on it to pick types)."""
    return all(schema.has_data(node, key, view) for key, view in sources)


def _node_json(node: NodeRecord, schema: Schema, sources: list[tuple[ViewKey, dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "instanceType": "node",
        "space": node.space,
        "externalId": node.external_id,
        "version": node.version,
        "createdTime": node.created_time,
        "lastUpdatedTime": node.last_updated_time,
        "properties": {},
    }
    if node.type is not None:
        out["type"] = node.type
    for key, view in sources:
        values = {}
        for name, prop in view["properties"].items():
            if "container" in prop:
                ckey = (prop["container"]["space"], prop["container"]["externalId"])
                value = node.data.get(ckey, {}).get(prop["containerPropertyIdentifier"])
                if value is not None:
                    values[name] = value
        out["properties"].setdefault(key[0], {})[f"{key[1]}/{key[2]}"] = values
    return out


def _instance_id(raw: Any) -> tuple[str, str, str]:
    item = _object(raw, "An instance identifier")
    instance_type = item.get("instanceType", "node")
    if instance_type not in ("node", "edge"):
        raise bad_request(f"instanceType must be 'node' or 'edge', got {instance_type!r}.")
    return (
        instance_type,
        _string(item.get("space"), "An instance identifier: space"),
        _string(item.get("externalId"), "An instance identifier: externalId"),
    )


def _sort_key(getter: Getter, descending: bool, nulls_first: bool) -> Callable[[NodeRecord], Any]:
    def key(node: NodeRecord) -> Any:
        value = getter(node)
        if value is None:
            # Nulls sort by themselves before or after all values, whatever the direction.
            return (0 if nulls_first != descending else 2, 0)
        value = _comparable(value)
        if isinstance(value, dict):
            value = (value.get("space"), value.get("externalId"))
        return (1, value)

    return key


def list_instances(ctx: Context) -> dict[str, Any]:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    instance_type = body.get("instanceType", "node")
    if instance_type not in ("node", "edge"):
        raise bad_request(f"instanceType must be 'node' or 'edge', got {instance_type!r}.")
    limit = _limit(body.get("limit"), INSTANCE_DEFAULT_LIMIT)
    cursor = decode_cursor(body["cursor"]) if body.get("cursor") else {}
    with _reading(ctx) as conn:
        schema = Schema(conn)
        sources = _sources(ctx, schema)
        flt = body.get("filter")
        matches = compile_filter(flt, schema) if flt else (lambda _: True)

        def predicate(node: NodeRecord) -> bool:
            return matches(node) and _in_sources(node, schema, sources)

        if instance_type == "edge":
            return {"items": [], "nextCursor": None}  # the local CDF stores no edges
        where, params = _pushdown(flt)
        sort = ctx.field("sort", list, [])
        if sort:
            return _sorted_page(conn, schema, sources, predicate, where, params, sort, limit, cursor)
        after = cursor.get("after", 0)
        if not isinstance(after, int):
            raise bad_request("Invalid cursor.")
        page: list[NodeRecord] = []
        more = False
        for batch in models.scan_nodes(conn, where, params, _SCAN_BATCH, after=after):
            for node in batch:
                if predicate(node):
                    if len(page) == limit:
                        more = True
                        break
                    page.append(node)
            if more:
                break
        return {
            "items": [_node_json(n, schema, sources) for n in page],
            "nextCursor": encode_cursor({"after": page[-1].id}) if more else None,
        }


def _sorted_page(
    conn: sqlite3.Connection,
    schema: Schema,
    sources: list[tuple[ViewKey, dict[str, Any]]],
    predicate: Callable[[NodeRecord], bool],
    where: str,
    params: list[Any],
    sort: list[Any],
    limit: int,
    cursor: dict[str, Any],
) -> dict[str, Any]:
    """Sorted listing: every match is sorted, and the cursor is an offset into that order."""
    matches = [n for batch in models.scan_nodes(conn, where, params, _SCAN_BATCH) for n in batch if predicate(n)]
    for spec in reversed(sort):  # stable sorts, least significant first
        spec = _object(spec, "A sort specification")
        getter, _ = _property_getter(spec.get("property"), schema)
        descending = spec.get("direction", "ascending") == "descending"
        matches.sort(key=_sort_key(getter, descending, bool(spec.get("nullsFirst", False))), reverse=descending)
    offset = cursor.get("offset", 0)
    if not isinstance(offset, int) or offset < 0:
        raise bad_request("Invalid cursor.")
    page = matches[offset : offset + limit]
    more = offset + limit < len(matches)
    return {
        "items": [_node_json(n, schema, sources) for n in page],
        "nextCursor": encode_cursor({"offset": offset + limit}) if more else None,
    }


def retrieve_instances(ctx: Context) -> dict[str, Any]:
    ids = [_instance_id(i) for i in ctx.items(max_items=INSTANCE_ITEMS)]
    with _reading(ctx) as conn:
        schema = Schema(conn)
        sources = _sources(ctx, schema)
        keys = [(space, xid) for kind, space, xid in ids if kind == "node"]
        nodes = models.get_nodes(conn, keys)
        found = [nodes[k] for k in dict.fromkeys(keys) if k in nodes]
        return {"items": [_node_json(n, schema, sources) for n in found if _in_sources(n, schema, sources)]}


# ------------------------------------------------------------------------------------------------------------
# Instances: writing.


@dataclass
class NodeWrite:
    space: str
    external_id: str
    existing_version: int | None
    sources: list[dict[str, Any]]
    type: dict[str, str] | None
    sets_type: bool

    @property
    def key(self) -> tuple[str, str]:
        return self.space, self.external_id

    @property
    def label(self) -> str:
        return f"node {self.space}:{self.external_id}"


def _parse_node_write(raw: Any) -> NodeWrite:
    item = _object(raw, "An instance")
    if item.get("instanceType") == "edge":
        raise bad_request("Edges are not supported by the local CDF; only nodes can be written.")
    if item.get("instanceType") != "node":
        raise bad_request(f"instanceType must be 'node', got {item.get('instanceType')!r}.")
    space = _string(item.get("space"), "An instance: space")
    external_id = _string(item.get("externalId"), "An instance: externalId")
    if len(external_id) > 255 or "\x00" in external_id:
        raise bad_request(f"Invalid node externalId {external_id!r}: at most 255 characters, no NUL.")
    version = item.get("existingVersion")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
        raise bad_request(f"existingVersion must be a non-negative integer, got {version!r}.")
    sources = item.get("sources") or []
    if not isinstance(sources, list):
        raise bad_request(f"node {space}:{external_id}: sources must be a list.")
    node_type = item.get("type")
    if node_type is not None:
        node_type = models.normalize_value({"type": "direct"}, node_type, f"node {space}:{external_id}: type")
    return NodeWrite(space, external_id, version, [_object(s, "A source") for s in sources], node_type, "type" in item)


@dataclass
class _Target:
    """Where one written value goes."""

    container: ContainerKey
    property: str
    value: Any
    where: str


@dataclass
class ApplyState:
    """What one apply request has done so far, shared by its nodes."""

    replace: bool
    now: int
    written: set[tuple[str, str]] = field(default_factory=set)
    direct_refs: dict[tuple[str, str], str] = field(default_factory=dict)  # target -> where it was referenced


def _source_targets(
    schema: Schema, write: NodeWrite, source: dict[str, Any]
) -> tuple[list[ContainerKey], list[_Target]]:
    """The containers a source touches and the values it writes into them."""
    ref = _object(source.get("source"), f"{write.label}: source")
    properties = _object(source.get("properties") or {}, f"{write.label}: properties")
    if ref.get("type") == "container":
        ckey = _container_key(ref, f"{write.label}: source")
        container = schema.container(ckey)
        if container is None:
            raise bad_request(f"{write.label}: container {_fmt_container(ckey)} does not exist.")
        targets = []
        for name, value in properties.items():
            if name not in container["properties"]:
                raise bad_request(f"{write.label}: container {_fmt_container(ckey)} has no property {name!r}.")
            targets.append(_Target(ckey, name, value, f"{write.label}: property {name!r} of {_fmt_container(ckey)}"))
        return [ckey], targets
    vkey = _view_ref(ref, f"{write.label}: source")
    view = schema.require_view(vkey, write.label)
    targets = []
    for name, value in properties.items():
        prop = view["properties"].get(name)
        if prop is None:
            raise bad_request(f"{write.label}: property {name!r} does not exist in view {_fmt_view(vkey)}.")
        if "container" not in prop:
            raise bad_request(
                f"{write.label}: property {name!r} of view {_fmt_view(vkey)} is a connection, "
                "which has no value to write."
            )
        ckey = (prop["container"]["space"], prop["container"]["externalId"])
        where = f"{write.label}: property {name!r} of view {_fmt_view(vkey)}"
        targets.append(_Target(ckey, prop["containerPropertyIdentifier"], value, where))
    return models.mapped_containers(view), targets


def _apply_node(
    conn: sqlite3.Connection,
    schema: Schema,
    write: NodeWrite,
    node: NodeRecord | None,
    state: ApplyState,
    skip_on_conflict: bool,
) -> dict[str, Any] | None:
    if write.existing_version is not None and node is not None and node.version > write.existing_version:
        if skip_on_conflict:
            return None
        raise CDFError(
            409,
            f"A version conflict caused the ingest to fail: {write.label} has version {node.version}, "
            f"existingVersion was {write.existing_version}.",
        )
    old = node.data if node is not None else {}
    data = {k: dict(v) for k, v in old.items()}
    fresh: set[ContainerKey] = set()  # rows started in this write: defaults and required properties apply
    touched: dict[ContainerKey, None] = {}
    for source in write.sources:
        containers, targets = _source_targets(schema, write, source)
        for ckey in containers:
            touched[ckey] = None
            if ckey not in data or (state.replace and ckey not in fresh):
                data[ckey] = {}
                fresh.add(ckey)
        for target in targets:
            container = schema.container(target.container)
            assert container is not None
            ptype = container["properties"][target.property]["type"]
            value = models.normalize_value(ptype, target.value, target.where)
            data[target.container][target.property] = value
            for ref in models.direct_targets(ptype, value):
                state.direct_refs.setdefault(ref, target.where)
    for ckey in touched:
        container = schema.container(ckey)
        assert container is not None
        row = data[ckey]
        for pid, prop in container["properties"].items():
            if ckey in fresh and row.get(pid) is None:
                if prop.get("defaultValue") is not None:
                    row[pid] = prop["defaultValue"]
                elif prop["autoIncrement"]:
                    row[pid] = models.next_auto_increment(conn, ckey, pid)
            if row.get(pid) is None and not prop["nullable"]:
                raise bad_request(
                    f"{write.label}: missing required property {pid!r} of container {_fmt_container(ckey)}; "
                    "it is not nullable and has no default."
                )
            previous = old.get(ckey, {}).get(pid)
            if prop["immutable"] and previous is not None and row.get(pid) != previous:
                if ckey == models.TIME_SERIES_CONTAINER and pid == "type":
                    raise bad_request(
                        f"{write.label}: the type of a time series cannot change after creation "
                        f"(is {previous!r}, got {row.get(pid)!r})."
                    )
                raise bad_request(
                    f"{write.label}: property {pid!r} of container {_fmt_container(ckey)} is immutable "
                    f"(is {previous!r}, got {row.get(pid)!r})."
                )
        # Nulls are not stored: an unset property and a null one read the same.
        data[ckey] = {k: v for k, v in row.items() if v is not None}
    node_type = write.type if write.sets_type else (node.type if node else None)
    if node_type is not None:
        state.direct_refs.setdefault((node_type["space"], node_type["externalId"]), f"{write.label}: type")
    changed_containers = [k for k in data if data[k] != old.get(k)]
    modified = node is None or bool(changed_containers) or node_type != node.type
    if node is None:
        node = NodeRecord(0, write.space, write.external_id, 1, node_type, state.now, state.now, data)
        models.insert_node(conn, node)
    elif modified:
        node.version += 1
        node.type, node.data, node.last_updated_time = node_type, data, state.now
        models.update_node(conn, node, changed_containers)
    state.written.add(write.key)
    # The series mirrors the CogniteTimeSeries and CogniteDescribable rows; other changes leave it alone.
    mirrored = {models.TIME_SERIES_CONTAINER, models.DESCRIBABLE_CONTAINER}
    if models.TIME_SERIES_CONTAINER in node.data and mirrored & set(changed_containers):
        _sync_time_series(conn, write, node, state.now)
    return {
        "instanceType": "node",
        "space": node.space,
        "externalId": node.external_id,
        "version": node.version,
        "wasModified": modified,
        "createdTime": node.created_time,
        "lastUpdatedTime": node.last_updated_time,
    }


def _sync_time_series(conn: sqlite3.Connection, write: NodeWrite, node: NodeRecord, now: int) -> None:
    """The time series CDF keeps behind a node with CogniteTimeSeries data, in the same transaction."""
    ts = node.data[models.TIME_SERIES_CONTAINER]
    if ts["type"] == "state":
        raise bad_request(f"{write.label}: state time series are not supported by the local CDF.")
    describable = node.data.get(models.DESCRIBABLE_CONTAINER, {})
    ts_store.upsert_for_instance(
        conn,
        node.space,
        node.external_id,
        is_string=ts["type"] == "string",
        is_step=bool(ts["isStep"]),
        name=describable.get("name"),
        description=describable.get("description"),
        unit=ts.get("sourceUnit"),
        now=now,
    )


def _create_direct_targets(conn: sqlite3.Connection, state: ApplyState, auto_create: bool) -> None:
    """Direct relations must point at nodes; missing ones are created empty when autoCreateDirectRelations."""
    candidates = {
        ref: where
        for ref, where in state.direct_refs.items()
        if ref not in state.written and not models.is_global_space(ref[0]) and not ref[0].startswith("cdf_")
    }  # targets in CDF's system spaces (units, source systems, ...) are taken to exist
    missing = [ref for ref in candidates if ref not in models.existing_node_keys(conn, [ref])]
    for ref in missing:
        where = candidates[ref]
        if not auto_create:
            raise bad_request(f"{where}: the direct relation target node {ref[0]}:{ref[1]} does not exist.")
        if models.get_space(conn, ref[0]) is None:
            raise bad_request(f"{where}: the direct relation target space {ref[0]!r} does not exist.")
        models.insert_node(conn, NodeRecord(0, ref[0], ref[1], 1, None, state.now, state.now))


def apply_instances(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    writes = [_parse_node_write(item) for item in ctx.items(max_items=INSTANCE_ITEMS)]
    seen: set[tuple[str, str]] = set()
    duplicated = []
    for write in writes:
        if write.key in seen:
            duplicated.append({"instanceType": "node", "space": write.space, "externalId": write.external_id})
        seen.add(write.key)
    if duplicated:
        raise bad_request("Duplicate instances in the request.", duplicated=duplicated)
    flags = {}
    for key, default in (
        ("replace", False),
        ("skipOnVersionConflict", False),
        ("autoCreateDirectRelations", True),
    ):
        flags[key] = ctx.field(key, bool, default)
    state = ApplyState(replace=flags["replace"], now=ctx.now_ms)
    # One transaction: any error leaves the project as it was (CDF's applies are atomic too).
    with project.db.write() as conn:
        schema = Schema(conn)
        for space in dict.fromkeys(w.space for w in writes):
            _user_space(conn, space, f"Nodes in space {space!r}")
        existing = models.get_nodes(conn, seen)
        results = [
            _apply_node(conn, schema, write, existing.get(write.key), state, flags["skipOnVersionConflict"])
            for write in writes
        ]
        _create_direct_targets(conn, state, flags["autoCreateDirectRelations"])
    return {"items": [r for r in results if r is not None]}


def delete_instances(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    ids = [_instance_id(i) for i in ctx.items(max_items=INSTANCE_ITEMS)]
    deleted = []
    with project.db.write() as conn:
        keys = [(space, xid) for kind, space, xid in ids if kind == "node"]
        nodes = models.get_nodes(conn, keys)
        for key in dict.fromkeys(keys):
            if (node := nodes.get(key)) is None:
                continue
            models.delete_node(conn, node)
            # The time series behind a CogniteTimeSeries node goes with it, datapoints included.
            ts_store.delete_for_instance(conn, node.space, node.external_id)
            deleted.append({"instanceType": "node", "space": node.space, "externalId": node.external_id})
    return {"items": deleted}


def routes() -> list[BaseRoute]:
    return [
        Route("/models/spaces", endpoint(apply_spaces), methods=["POST"]),
        Route("/models/spaces", endpoint(list_spaces), methods=["GET"]),
        Route("/models/spaces/byids", endpoint(retrieve_spaces), methods=["POST"]),
        Route("/models/spaces/delete", endpoint(delete_spaces), methods=["POST"]),
        Route("/models/containers", endpoint(apply_containers), methods=["POST"]),
        Route("/models/containers", endpoint(list_containers), methods=["GET"]),
        Route("/models/containers/byids", endpoint(retrieve_containers), methods=["POST"]),
        Route("/models/containers/delete", endpoint(delete_containers), methods=["POST"]),
        Route("/models/views", endpoint(apply_views), methods=["POST"]),
        Route("/models/views", endpoint(list_views), methods=["GET"]),
        Route("/models/views/byids", endpoint(retrieve_views), methods=["POST"]),
        Route("/models/views/delete", endpoint(delete_views), methods=["POST"]),
        Route("/models/instances", endpoint(apply_instances), methods=["POST"]),
        Route("/models/instances/list", endpoint(list_instances), methods=["POST"]),
        Route("/models/instances/byids", endpoint(retrieve_instances), methods=["POST"]),
        Route("/models/instances/delete", endpoint(delete_instances), methods=["POST"]),
    ]
