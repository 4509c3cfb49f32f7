"""`/extpipes`: extraction pipelines (create, list, byids, update, delete), their runs and config revisions.

`POST /extpipes`, `/extpipes/runs` and `/extpipes/config` are not retried by the SDK (non-idempotent), so each
is one transaction that either fully happens or fully fails.
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
from oid_sync_dagster.local_cdf.store import datasets as data_set_store
from oid_sync_dagster.local_cdf.store import extpipes as store
from oid_sync_dagster.local_cdf.store.extpipes import Pipeline

MAX_ITEMS = 1000
MAX_LIST_LIMIT = 1000
DEFAULT_LIST_LIMIT = 100
MAX_EXTERNAL_ID = 255
MAX_NAME = 140
MAX_MESSAGE = 1000
RUN_STATUSES = ("success", "failure", "seen")
_DEFAULT_CREATED_BY = "unknown"  # what CDF reports when a pipeline is created without createdBy

# The user-settable fields and their JSON types, as ExtractionPipelineWrite dumps them.
_FIELDS: dict[str, type] = {
    "name": str,
    "description": str,
    "dataSetId": int,
    "rawTables": list,
    "schedule": str,
    "contacts": list,
    "metadata": dict,
    "source": str,
    "documentation": str,
    "notificationConfig": dict,
    "createdBy": str,
}
_REQUIRED = ("externalId", "name", "dataSetId")
_UPDATABLE = {k: v for k, v in _FIELDS.items() if k != "createdBy"} | {"externalId": str}
_NULLABLE = {"description", "schedule", "source", "documentation", "notificationConfig"}


def _typed(key: str, value: Any, kind: type) -> Any:
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise bad_request(f"Field {key!r} must be of type {kind.__name__}, got {value!r}.")
    if key == "externalId" and not 1 <= len(value) <= MAX_EXTERNAL_ID:
        raise bad_request(f"externalId must be 1 to {MAX_EXTERNAL_ID} characters, got {value!r}.")
    if key == "name" and not 1 <= len(value) <= MAX_NAME:
        raise bad_request(f"name must be 1 to {MAX_NAME} characters, got {value!r}.")
    if key == "rawTables" and not all(
        isinstance(t, dict) and set(t) == {"dbName", "tableName"} and all(isinstance(v, str) for v in t.values())
        for t in value
    ):
        raise bad_request(f"rawTables must be a list of {{dbName, tableName}}, got {value!r}.")
    if key == "metadata" and not all(isinstance(v, str) for v in value.values()):
        raise bad_request(f"metadata values must be strings, got {value!r}.")
    return value


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


def _lookup(conn: sqlite3.Connection, identifier: dict[str, Any]) -> Pipeline | None:
    if "id" in identifier:
        return store.get(conn, id=identifier["id"])
    return store.get(conn, external_id=identifier["externalId"])


def _resolve(conn: sqlite3.Connection | None, items: list[Any], *, ignore_unknown: bool) -> list[Pipeline]:
    found, missing = [], []
    for item in items:
        identifier = _identifier(item)
        pipeline = _lookup(conn, identifier) if conn is not None else None
        if pipeline is None:
            missing.append(identifier)
        else:
            found.append(pipeline)
    if missing and not ignore_unknown:
        raise not_found("Extraction pipelines not found.", missing)
    return found


def _by_external_id(conn: sqlite3.Connection | None, external_id: Any) -> Pipeline:
    if not isinstance(external_id, str) or not external_id:
        raise bad_request(f"externalId must be a non-empty string, got {external_id!r}.")
    pipeline = store.get(conn, external_id=external_id) if conn is not None else None
    if pipeline is None:
        raise not_found(f"Extraction pipeline {external_id!r} not found.", [{"externalId": external_id}])
    return pipeline


def _read_conn(ctx: Context) -> sqlite3.Connection | None:
    """The project's connection for a read; the synthetic source has no extraction pipelines."""
    project = ctx.project
    return project.db.connection() if isinstance(project, TargetProject) else None


def _check_data_sets(conn: sqlite3.Connection, pipelines: list[Pipeline], project: str) -> None:
    """Every pipeline belongs to an existing data set of its project; CDF answers 400 otherwise."""
    wanted = dict.fromkeys(p.fields["dataSetId"] for p in pipelines if "dataSetId" in p.fields)
    if unknown := [d for d in wanted if data_set_store.get(conn, id=d) is None]:
        ids = ", ".join(map(str, unknown))
        raise bad_request(f"Data set ids not found in project {project!r}: {ids}. Create the data set first.")


def _limit(value: Any) -> int:
    limit = DEFAULT_LIST_LIMIT if value is None else value
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise bad_request(f"limit must be an integer between 1 and {MAX_LIST_LIMIT}, got {value!r}.")
    return limit


# --- pipelines ---


def create(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    pipelines = []
    for item in ctx.items(max_items=MAX_ITEMS):
        if not isinstance(item, dict):
            raise bad_request(f"An extraction pipeline must be an object, got {item!r}.")
        if unknown := set(item) - set(_FIELDS) - {"externalId"}:
            raise bad_request(f"Unrecognized fields: {', '.join(sorted(unknown))}.")
        for key in _REQUIRED:
            if item.get(key) is None:
                raise bad_request(f"Missing required field {key!r}.")
        fields = {k: _typed(k, v, _FIELDS[k]) for k, v in item.items() if k != "externalId" and v is not None}
        fields.setdefault("createdBy", _DEFAULT_CREATED_BY)
        external_id = _typed("externalId", item["externalId"], str)
        pipelines.append(Pipeline(store.new_id(), external_id, fields, ctx.now_ms, ctx.now_ms))
    with project.db.write() as conn:
        _check_data_sets(conn, pipelines, project.name)
        seen: set[str] = set()
        duplicated = []
        for p in pipelines:
            if p.external_id in seen or store.get(conn, external_id=p.external_id) is not None:
                duplicated.append({"externalId": p.external_id})
            seen.add(p.external_id)
        if duplicated:
            raise CDFError(409, "Extraction pipelines with these externalIds already exist.", duplicated=duplicated)
        for p in pipelines:
            store.insert(conn, p)
    return {"items": [p.to_json() for p in pipelines]}


def _matches(pipeline: Pipeline, spec: dict[str, Any]) -> bool:
    fields = pipeline.fields
    for key, wanted in spec.items():
        if wanted is None:
            continue
        if key == "externalIdPrefix":
            ok = pipeline.external_id.startswith(wanted)
        elif key in ("name", "description", "schedule", "source", "createdBy"):
            ok = fields.get(key) == wanted
        elif key == "dataSetIds":
            ok = any(fields.get("dataSetId") == d.get("id") for d in wanted)
        elif key == "metadata":
            ok = all((fields.get("metadata") or {}).get(k) == v for k, v in wanted.items())
        elif key == "rawTables":
            ok = all(t in (fields.get("rawTables") or []) for t in wanted)
        elif key in ("createdTime", "lastUpdatedTime"):
            value = pipeline.created_time if key == "createdTime" else pipeline.last_updated_time
            ok = wanted.get("min", value) <= value <= wanted.get("max", value)
        else:
            raise bad_request(f"Unsupported extraction pipeline filter {key!r}.")
        if not ok:
            return False
    return True


def _page(ctx: Context, spec: dict[str, Any], limit: Any, cursor: str | None) -> dict[str, Any]:
    limit = _limit(limit)
    conn = _read_conn(ctx)
    after = decode_cursor(cursor).get("after", 0) if cursor else 0
    candidates = store.list_after(conn, after) if conn is not None else []
    matching = [p for p in candidates if _matches(p, spec)]
    page = matching[:limit]
    more = len(matching) > limit
    return {
        "items": [p.to_json() for p in page],
        "nextCursor": encode_cursor({"after": page[-1].id}) if more else None,
    }


def list_get(ctx: Context) -> dict[str, Any]:
    return _page(ctx, {}, ctx.query("limit", int), ctx.query("cursor"))


def list_post(ctx: Context) -> dict[str, Any]:
    body = ctx.body or {}
    spec = ctx.field("filter", dict, {}, body=body)
    return _page(ctx, spec, body.get("limit"), ctx.field("cursor", str, None, body=body))


def by_ids(ctx: Context) -> dict[str, Any]:
    items = ctx.items(max_items=MAX_ITEMS)
    ignore = ctx.field("ignoreUnknownIds", bool, False)
    return {"items": [p.to_json() for p in _resolve(_read_conn(ctx), items, ignore_unknown=ignore)]}


def retrieve(ctx: Context) -> dict[str, Any]:
    pipeline_id = ctx.request.path_params["id"]
    conn = _read_conn(ctx)
    pipeline = store.get(conn, id=pipeline_id) if conn is not None else None
    if pipeline is None:
        raise CDFError(404, f"Extraction pipeline {pipeline_id} not found.", missing=[{"id": pipeline_id}])
    return pipeline.to_json()


def _apply(pipeline: Pipeline, update: Any) -> None:
    """Apply one CDF update object ({field: {set | setNull | add | remove}}) in place."""
    if not isinstance(update, dict):
        raise bad_request(f"update must be an object, got {update!r}.")
    for key, change in update.items():
        if key not in _UPDATABLE:
            raise bad_request(f"Field {key!r} cannot be updated.")
        kind = _UPDATABLE[key]
        if not isinstance(change, dict) or len(change) != 1:
            raise bad_request(f"The update of {key!r} must be one of set, setNull, add and remove, got {change!r}.")
        op, value = next(iter(change.items()))
        current = pipeline.fields.get(key)
        if op == "set":
            if key == "externalId":
                pipeline.external_id = _typed(key, value, str)
            else:
                pipeline.fields[key] = _typed(key, value, kind)
        elif op == "setNull" and value is True and key in _NULLABLE:
            pipeline.fields.pop(key, None)
        elif op in ("add", "remove") and kind is dict:
            merged = dict(current or {})
            if op == "add":
                merged.update(_typed(key, value, dict))
            else:
                for removed in _typed(key, value, list):
                    merged.pop(removed, None)
            pipeline.fields[key] = merged
        elif op in ("add", "remove") and kind is list:
            items = list(current or [])
            changes = _typed(key, value, list)
            if op == "add":
                items.extend(c for c in changes if c not in items)
            else:
                items = [i for i in items if i not in changes]
            pipeline.fields[key] = items
        else:
            raise bad_request(f"Operation {op!r} is not supported for {key!r}.")


def update(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    items = ctx.items(max_items=MAX_ITEMS)
    with project.db.write() as conn:
        pipelines = _resolve(conn, items, ignore_unknown=False)
        moved: list[Pipeline] = []  # pipelines given another data set: only those are checked
        for pipeline, item in zip(pipelines, items, strict=True):
            old_external_id, old_data_set = pipeline.external_id, pipeline.fields.get("dataSetId")
            _apply(pipeline, item.get("update"))
            if pipeline.fields.get("dataSetId") != old_data_set:
                moved.append(pipeline)
            if pipeline.external_id != old_external_id:
                other = store.get(conn, external_id=pipeline.external_id)
                if other is not None and other.id != pipeline.id:
                    raise CDFError(409, "externalId already in use.", duplicated=[{"externalId": pipeline.external_id}])
            pipeline.last_updated_time = ctx.now_ms
            store.save(conn, pipeline)
        _check_data_sets(conn, moved, project.name)
        # Read back: runs may have moved the last-run fields since this request resolved them.
        saved = [store.get(conn, id=p.id) for p in pipelines]
    return {"items": [p.to_json() for p in saved if p is not None]}


def delete(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    items = ctx.items(max_items=MAX_ITEMS)
    ignore = ctx.field("ignoreUnknownIds", bool, False)
    with project.db.write() as conn:
        for pipeline in _resolve(conn, items, ignore_unknown=ignore):
            store.delete(conn, pipeline.id)
    return {}


# --- runs ---


def create_runs(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    runs = []
    for item in ctx.items(max_items=MAX_ITEMS):
        if not isinstance(item, dict):
            raise bad_request(f"A run must be an object, got {item!r}.")
        external_id = ctx.field("externalId", str, body=item)
        status = ctx.field("status", str, body=item)
        if status not in RUN_STATUSES:
            raise bad_request(f"status must be one of {', '.join(RUN_STATUSES)}, got {status!r}.")
        message = ctx.field("message", str, None, body=item)
        if message is not None and len(message) > MAX_MESSAGE:
            raise bad_request(f"message must be at most {MAX_MESSAGE} characters, got {len(message)}.")
        created = ctx.field("createdTime", int, ctx.now_ms, body=item)
        runs.append((external_id, status, message, created))
    with project.db.write() as conn:
        pipelines: dict[str, Pipeline | None] = {x: store.get(conn, external_id=x) for x, *_ in runs}
        if missing := [{"externalId": x} for x, p in pipelines.items() if p is None]:
            raise not_found("Extraction pipelines not found.", missing)
        created_runs = [
            store.add_run(conn, pipelines[x], status, message, created)  # type: ignore[arg-type]
            for x, status, message, created in runs
        ]
    return {"items": [r.to_json() for r in created_runs]}


def _list_runs(ctx: Context, spec: dict[str, Any], limit: Any, cursor: str | None) -> dict[str, Any]:
    limit = _limit(limit)
    if unknown := set(spec) - {"externalId", "statuses", "createdTime", "message"}:
        raise bad_request(f"Unsupported run filter {', '.join(sorted(unknown))}.")
    conn = _read_conn(ctx)
    pipeline = _by_external_id(conn, spec.get("externalId"))
    statuses = spec.get("statuses")
    if statuses is not None and (not isinstance(statuses, list) or any(s not in RUN_STATUSES for s in statuses)):
        raise bad_request(f"statuses must be a list of {', '.join(RUN_STATUSES)}, got {statuses!r}.")
    created = spec.get("createdTime") or {}
    message = (spec.get("message") or {}).get("substring")
    position = decode_cursor(cursor) if cursor else {}
    before = (position["created"], position["id"]) if position else None
    runs = store.list_runs(
        conn,  # type: ignore[arg-type]  # a pipeline was found, so this is a target project
        pipeline,
        statuses=statuses,
        message_substring=message,
        min_created=created.get("min"),
        max_created=created.get("max"),
        before=before,
        limit=limit + 1,
    )
    page = runs[:limit]
    more = len(runs) > limit
    return {
        "items": [r.to_json() for r in page],
        "nextCursor": encode_cursor({"created": page[-1].created_time, "id": page[-1].id}) if more else None,
    }


def list_runs_get(ctx: Context) -> dict[str, Any]:
    return _list_runs(ctx, {"externalId": ctx.query("externalId")}, ctx.query("limit", int), ctx.query("cursor"))


def list_runs_post(ctx: Context) -> dict[str, Any]:
    body = ctx.body or {}
    spec = ctx.field("filter", dict, body=body)
    return _list_runs(ctx, spec, body.get("limit"), ctx.field("cursor", str, None, body=body))


# --- config revisions ---


def create_config(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    body = ctx.body
    external_id = ctx.field("externalId", str)
    config = ctx.field("config", str, None)
    description = ctx.field("description", str, None)
    if unknown := set(body) - {"externalId", "config", "description"}:
        raise bad_request(f"Unrecognized fields: {', '.join(sorted(unknown))}.")
    with project.db.write() as conn:
        pipeline = _by_external_id(conn, external_id)
        revision = store.add_config(conn, pipeline, config, description, ctx.now_ms)
        return store.get_config(conn, pipeline, revision=revision, active_at=None)  # type: ignore[return-value]


def retrieve_config(ctx: Context) -> dict[str, Any]:
    conn = _read_conn(ctx)
    pipeline = _by_external_id(conn, ctx.query("externalId"))
    revision = ctx.query("revision", int)
    active_at = ctx.query("activeAtTime", int)
    found = store.get_config(conn, pipeline, revision=revision, active_at=active_at)  # type: ignore[arg-type]
    if found is None:
        wanted = f"revision {revision}" if revision is not None else "configuration"
        raise CDFError(404, f"No {wanted} found for extraction pipeline {pipeline.external_id!r}.")
    return found


def list_config_revisions(ctx: Context) -> dict[str, Any]:
    conn = _read_conn(ctx)
    pipeline = _by_external_id(conn, ctx.query("externalId"))
    return {"items": store.list_config_revisions(conn, pipeline)}  # type: ignore[arg-type]


def revert_config(ctx: Context) -> dict[str, Any]:
    """A new revision with the content of an old one: history is never rewritten."""
    project = ctx.target()
    external_id = ctx.field("externalId", str)
    revision = ctx.field("revision", int)
    with project.db.write() as conn:
        pipeline = _by_external_id(conn, external_id)
        old = store.get_config(conn, pipeline, revision=revision, active_at=None)
        if old is None:
            raise CDFError(404, f"No revision {revision} found for extraction pipeline {external_id!r}.")
        new = store.add_config(conn, pipeline, old.get("config"), old.get("description"), ctx.now_ms)
        return store.get_config(conn, pipeline, revision=new, active_at=None)  # type: ignore[return-value]


def routes() -> list[BaseRoute]:
    def route(path: str, impl: Callable[[Context], Any], method: str) -> Route:
        return Route(path, endpoint(impl), methods=[method])

    # Starlette keeps looking when only the method differs, so one path may carry a GET and a POST route.
    return [
        route("/extpipes", create, "POST"),
        route("/extpipes", list_get, "GET"),
        route("/extpipes/list", list_post, "POST"),
        route("/extpipes/byids", by_ids, "POST"),
        route("/extpipes/update", update, "POST"),
        route("/extpipes/delete", delete, "POST"),
        route("/extpipes/runs", create_runs, "POST"),
        route("/extpipes/runs", list_runs_get, "GET"),
        route("/extpipes/runs/list", list_runs_post, "POST"),
        route("/extpipes/config", create_config, "POST"),
        route("/extpipes/config", retrieve_config, "GET"),
        route("/extpipes/config/revisions", list_config_revisions, "GET"),
        route("/extpipes/config/revert", revert_config, "POST"),
        route("/extpipes/{id:int}", retrieve, "GET"),
    ]
