"""`/datasets`: data sets (create, list, byids, aggregate, update). CDF has no way to delete a data set.

`POST /datasets` is not retried by the SDK (non-idempotent), so it is one transaction that either fully happens
or fully fails. The synthetic source has no data sets: reads answer as an empty project, writes are refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute, Route

from oid_sync_dagster.local_cdf.cursors import decode_cursor, encode_cursor
from oid_sync_dagster.local_cdf.errors import CDFError, bad_request, not_found
from oid_sync_dagster.local_cdf.projects import TargetProject
from oid_sync_dagster.local_cdf.requests import Context, endpoint
from oid_sync_dagster.local_cdf.store import datasets as store
from oid_sync_dagster.local_cdf.store.datasets import DataSet

MAX_CREATE_ITEMS = 10  # CDF's limit for data sets, far below the usual 1000
MAX_ITEMS = 1000
MAX_LIST_LIMIT = 1000
DEFAULT_LIST_LIMIT = 25
MAX_EXTERNAL_ID = 255
MAX_NAME = 50
MAX_DESCRIPTION = 1000
MAX_METADATA_KEY_BYTES = 128
MAX_METADATA_VALUE_BYTES = 10240
MAX_METADATA_PAIRS = 256
MAX_METADATA_BYTES = 10240

# The user-settable fields and their JSON types, as DataSetWrite dumps them.
_FIELDS: dict[str, type] = {
    "externalId": str,
    "name": str,
    "description": str,
    "metadata": dict,
    "writeProtected": bool,
}
_NULLABLE = {"externalId", "name", "description"}
_FILTERS = {"metadata", "createdTime", "lastUpdatedTime", "externalIdPrefix", "writeProtected"}


def _typed(key: str, value: Any, kind: type) -> Any:
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise bad_request(f"Field {key!r} must be of type {kind.__name__}, got {value!r}.")
    if key == "externalId" and not 1 <= len(value) <= MAX_EXTERNAL_ID:
        raise bad_request(f"externalId must be 1 to {MAX_EXTERNAL_ID} characters, got {value!r}.")
    if key == "name" and len(value) > MAX_NAME:
        raise bad_request(f"name must be at most {MAX_NAME} characters, got {len(value)}.")
    if key == "description" and len(value) > MAX_DESCRIPTION:
        raise bad_request(f"description must be at most {MAX_DESCRIPTION} characters, got {len(value)}.")
    if key == "metadata":
        _check_metadata(value)
    return value


def _check_metadata(metadata: dict[str, Any]) -> None:
    if not all(isinstance(v, str) for v in metadata.values()):
        raise bad_request(f"metadata values must be strings, got {metadata!r}.")
    if len(metadata) > MAX_METADATA_PAIRS:
        raise bad_request(f"metadata may have at most {MAX_METADATA_PAIRS} keys, got {len(metadata)}.")
    total = 0
    for key, value in metadata.items():
        key_bytes, value_bytes = len(key.encode()), len(value.encode())
        if key_bytes > MAX_METADATA_KEY_BYTES:
            raise bad_request(f"metadata keys must be at most {MAX_METADATA_KEY_BYTES} bytes, got {key!r}.")
        if value_bytes > MAX_METADATA_VALUE_BYTES:
            raise bad_request(f"metadata values must be at most {MAX_METADATA_VALUE_BYTES} bytes (key {key!r}).")
        total += key_bytes + value_bytes
    if total > MAX_METADATA_BYTES:
        raise bad_request(f"metadata must be at most {MAX_METADATA_BYTES} bytes in total, got {total}.")


def _identifier(item: Any) -> dict[str, Any]:
    """{"id": int} | {"externalId": str}, exactly one."""
    if not isinstance(item, dict):
        raise bad_request(f"An identifier must be an object, got {item!r}.")
    keys = [k for k in ("id", "externalId") if item.get(k) is not None]
    if len(keys) != 1:
        raise bad_request(f"An item must have exactly one of id and externalId, got {item!r}.")
    key = keys[0]
    value = item[key]
    if key == "id" and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise bad_request(f"Invalid id {value!r}.")
    if key == "externalId" and not (isinstance(value, str) and value):
        raise bad_request(f"Invalid externalId {value!r}.")
    return {key: value}


def _resolve(conn: sqlite3.Connection | None, items: list[Any], *, ignore_unknown: bool) -> list[DataSet]:
    found, missing = [], []
    for item in items:
        identifier = _identifier(item)
        data_set = None
        if conn is not None:
            data_set = store.get(conn, id=identifier.get("id"), external_id=identifier.get("externalId"))
        if data_set is None:
            missing.append(identifier)
        else:
            found.append(data_set)
    if missing and not ignore_unknown:
        raise not_found("Data sets not found.", missing)
    return found


def resolve_identifiers(ctx: Context, items: list[Any]) -> list[DataSet]:
    """Data sets named by id or externalId, as a filter on another resource names them; unknown ones: an error."""
    return _resolve(_read_conn(ctx), items, ignore_unknown=False)


def _read_conn(ctx: Context) -> sqlite3.Connection | None:
    """The project's connection for a read; the synthetic source has no data sets."""
    project = ctx.project
    return project.db.connection() if isinstance(project, TargetProject) else None


def _limit(value: Any) -> int:
    limit = DEFAULT_LIST_LIMIT if value is None else value
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise bad_request(f"limit must be an integer between 1 and {MAX_LIST_LIMIT}, got {value!r}.")
    return limit


def _check_unique(conn: sqlite3.Connection, data_sets: list[DataSet]) -> None:
    """409 + duplicated for an externalId used by another data set, or twice in the request."""
    seen: dict[str, int] = {}
    duplicated = []
    for d in data_sets:
        if d.external_id is None:
            continue
        other = store.get(conn, external_id=d.external_id)
        if seen.get(d.external_id, d.id) != d.id or (other is not None and other.id != d.id):
            duplicated.append({"externalId": d.external_id})
        seen[d.external_id] = d.id
    if duplicated:
        raise CDFError(409, "Data sets with these externalIds already exist.", duplicated=duplicated)


# --- data sets ---


def create(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    data_sets = []
    for item in ctx.items(max_items=MAX_CREATE_ITEMS):
        if not isinstance(item, dict):
            raise bad_request(f"A data set must be an object, got {item!r}.")
        if unknown := set(item) - set(_FIELDS):
            raise bad_request(f"Unrecognized fields: {', '.join(sorted(unknown))}.")
        values = {k: _typed(k, v, _FIELDS[k]) for k, v in item.items() if v is not None}
        external_id = values.pop("externalId", None)
        write_protected = values.pop("writeProtected", False)
        data_sets.append(DataSet(store.new_id(), external_id, values, write_protected, ctx.now_ms, ctx.now_ms))
    with project.db.write() as conn:
        _check_unique(conn, data_sets)
        for d in data_sets:
            store.insert(conn, d)
    return {"items": [d.to_json() for d in data_sets]}


def _in_range(value: int, wanted: Any, key: str) -> bool:
    if not isinstance(wanted, dict) or set(wanted) - {"min", "max"}:
        raise bad_request(f"{key} must be a range {{min, max}}, got {wanted!r}.")
    return bool(wanted.get("min", value) <= value <= wanted.get("max", value))


def _matches(data_set: DataSet, spec: dict[str, Any]) -> bool:
    for key, wanted in spec.items():
        if wanted is None:
            continue
        if key == "externalIdPrefix":
            ok = data_set.external_id is not None and data_set.external_id.startswith(wanted)
        elif key == "writeProtected":
            ok = data_set.write_protected == wanted
        elif key == "metadata":
            metadata = data_set.fields.get("metadata") or {}
            ok = all(metadata.get(k) == v for k, v in wanted.items())
        elif key == "createdTime":
            ok = _in_range(data_set.created_time, wanted, key)
        else:  # lastUpdatedTime, checked by _matching
            ok = _in_range(data_set.last_updated_time, wanted, key)
        if not ok:
            return False
    return True


def _matching(ctx: Context, spec: Any, after: int = 0) -> list[DataSet]:
    if not isinstance(spec, dict):
        raise bad_request(f"filter must be an object, got {spec!r}.")
    if unknown := set(spec) - _FILTERS:
        raise bad_request(f"Unsupported data set filter {', '.join(sorted(unknown))}.")
    if not isinstance(spec.get("metadata") or {}, dict):
        raise bad_request(f"The metadata filter must be an object, got {spec['metadata']!r}.")
    conn = _read_conn(ctx)
    candidates = store.list_after(conn, after) if conn is not None else []
    return [d for d in candidates if _matches(d, spec)]


def list_post(ctx: Context) -> dict[str, Any]:
    body = ctx.body or {}
    spec = ctx.field("filter", dict, {}, body=body)
    limit = _limit(body.get("limit"))
    cursor = ctx.field("cursor", str, None, body=body)
    after = decode_cursor(cursor).get("after", 0) if cursor else 0
    matching = _matching(ctx, spec, after)
    page = matching[:limit]
    more = len(matching) > limit
    return {
        "items": [d.to_json() for d in page],
        "nextCursor": encode_cursor({"after": page[-1].id}) if more else None,
    }


def aggregate(ctx: Context) -> dict[str, Any]:
    body = ctx.body or {}
    spec = ctx.field("filter", dict, {}, body=body)
    return {"items": [{"count": len(_matching(ctx, spec))}]}


def by_ids(ctx: Context) -> dict[str, Any]:
    items = ctx.items(max_items=MAX_ITEMS)
    ignore = ctx.field("ignoreUnknownIds", bool, False)
    return {"items": [d.to_json() for d in _resolve(_read_conn(ctx), items, ignore_unknown=ignore)]}


def _apply(data_set: DataSet, update: Any) -> None:
    """Apply one CDF update object ({field: {set | setNull} | {add?, remove?}}) in place."""
    if not isinstance(update, dict):
        raise bad_request(f"update must be an object, got {update!r}.")
    for key, change in update.items():
        if key not in _FIELDS:
            raise bad_request(f"Field {key!r} cannot be updated.")
        if key == "metadata" and isinstance(change, dict) and change and set(change) <= {"add", "remove"}:
            # add and remove may come together: the removed keys go first, then the added ones are merged in.
            merged = dict(data_set.fields.get("metadata") or {})
            for removed in _typed("metadata.remove", change.get("remove", []), list):
                merged.pop(removed, None)
            merged.update(_typed("metadata.add", change.get("add", {}), dict))
            data_set.fields[key] = _typed(key, merged, dict)
            continue
        if not isinstance(change, dict) or len(change) != 1:
            raise bad_request(f"The update of {key!r} must be one of set, setNull, add and remove, got {change!r}.")
        op, value = next(iter(change.items()))
        if op == "set":
            value = _typed(key, value, _FIELDS[key])
            if key == "externalId":
                data_set.external_id = value
            elif key == "writeProtected":
                data_set.write_protected = value
            else:
                data_set.fields[key] = value
        elif op == "setNull" and value is True and key in _NULLABLE:
            if key == "externalId":
                data_set.external_id = None
            else:
                data_set.fields.pop(key, None)
        else:
            raise bad_request(f"Operation {op!r} is not supported for {key!r}.")


def update(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    items = ctx.items(max_items=MAX_ITEMS)
    with project.db.write() as conn:
        data_sets = _resolve(conn, items, ignore_unknown=False)
        if len({d.id for d in data_sets}) != len(data_sets):
            raise bad_request("A data set may only be updated once per request.")
        for data_set, item in zip(data_sets, items, strict=True):
            _apply(data_set, item.get("update"))
            data_set.last_updated_time = ctx.now_ms
        _check_unique(conn, data_sets)
        for data_set in data_sets:
            store.save(conn, data_set)
    return {"items": [d.to_json() for d in data_sets]}


def routes() -> list[BaseRoute]:
    def route(path: str, impl: Callable[[Context], Any], method: str) -> Route:
        return Route(path, endpoint(impl), methods=[method])

    return [
        route("/datasets", create, "POST"),
        route("/datasets/list", list_post, "POST"),
        route("/datasets/byids", by_ids, "POST"),
        route("/datasets/aggregate", aggregate, "POST"),
        route("/datasets/update", update, "POST"),
    ]
