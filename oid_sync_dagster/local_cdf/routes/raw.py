"""`/raw`: databases, tables and rows (insert/upsert, list with cursors and partitions, retrieve, delete).

Database, table and row names are URL-encoded path segments that may contain an encoded `/`; the server has
already decoded `scope["path"]` (so `%2F` became `/`), hence one catch-all route that splits the *raw* path
itself and dispatches on the segment shape.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from oid_sync_dagster.local_cdf.cursors import decode_cursor, encode_cursor
from oid_sync_dagster.local_cdf.errors import CDFError, bad_request
from oid_sync_dagster.local_cdf.projects import TargetProject
from oid_sync_dagster.local_cdf.requests import Context, endpoint
from oid_sync_dagster.local_cdf.store import raw as store
from oid_sync_dagster.local_cdf.store.db import ProjectDatabase

MAX_DB_NAME = 32
MAX_TABLE_NAME = 64
MAX_KEY = 1024
MAX_NAME_ITEMS = 1000
MAX_LIST_LIMIT = 1000  # databases and tables per page
MAX_ROW_ITEMS = 10_000  # rows per insert
MAX_ROW_DELETE = 1000
MAX_ROWS_LIMIT = 10_000  # rows per page
DEFAULT_LIMIT = 25
MAX_CURSORS = 10_000


# --- plumbing ---


def _segments(request: Request) -> list[str]:
    """The percent-decoded path segments after `/api/v1/projects/{project}/raw`."""
    raw_path: bytes | None = request.scope.get("raw_path")
    if raw_path is None:  # not every ASGI server sends it; names with an encoded "/" then fail to route
        raw_path = request.scope["path"].encode()
    parts = raw_path.split(b"?", 1)[0].split(b"/")
    start = parts.index(b"projects") + 3  # "", api, v1, projects, {project}, raw, ...
    try:
        return [unquote_to_bytes(p).decode("utf-8") for p in parts[start:]]
    except UnicodeDecodeError:
        raise bad_request("The request path is not valid percent-encoded UTF-8.") from None


def _limit(ctx: Context, maximum: int) -> int:
    limit = ctx.query("limit", int, DEFAULT_LIMIT)
    if not 1 <= limit <= maximum:
        raise bad_request(f"limit must be between 1 and {maximum}, got {limit}.")
    return limit


def _readable(ctx: Context) -> ProjectDatabase | None:
    """The project's database for a read; the synthetic source has no RAW data at all."""
    project = ctx.project
    return project.db if isinstance(project, TargetProject) else None


def _db_missing(names: list[str]) -> CDFError:
    # CDF's wording and status; clients (e.g. the Cognite toolkit) match on the message prefix.
    return CDFError(404, f"Following databases not found: {', '.join(names)}.", missing=[{"name": n} for n in names])


def _table_missing(names: list[str]) -> CDFError:
    return CDFError(404, f"Following tables not found: {', '.join(names)}.", missing=[{"name": n} for n in names])


def _require_table(conn: sqlite3.Connection, db_name: str, table_name: str) -> int:
    if not store.existing_databases(conn, [db_name]):
        raise _db_missing([db_name])
    table = store.table_id(conn, db_name, table_name)
    if table is None:
        raise _table_missing([table_name])
    return table


def _names(ctx: Context, max_length: int, what: str) -> list[str]:
    names = []
    for item in ctx.items(max_items=MAX_NAME_ITEMS):
        name = ctx.field("name", str, body=item) if isinstance(item, dict) else None
        if name is None or not 1 <= len(name) <= max_length:
            raise bad_request(f"A {what} name must be a string of 1 to {max_length} characters, got {item!r}.")
        names.append(name)
    return names


def _duplicates(names: list[str]) -> set[str]:
    """Names given more than once."""
    seen: set[str] = set()
    repeated = set()
    for name in names:
        (repeated if name in seen else seen).add(name)
    return repeated


def _named_page(rows: list[tuple[str, int]], limit: int) -> dict[str, Any]:
    page = rows[:limit]
    more = len(rows) > limit
    return {
        "items": [{"name": name, "createdTime": created} for name, created in page],
        "nextCursor": encode_cursor({"after": page[-1][0]}) if more else None,
    }


def _after(ctx: Context) -> str | None:
    cursor = ctx.query("cursor")
    return decode_cursor(cursor).get("after") if cursor else None


# --- databases ---


def list_databases(ctx: Context) -> dict[str, Any]:
    limit = _limit(ctx, MAX_LIST_LIMIT)
    db = _readable(ctx)
    if db is None:
        return {"items": [], "nextCursor": None}
    return _named_page(store.list_databases(db.connection(), _after(ctx), limit + 1), limit)


def create_databases(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    names = _names(ctx, MAX_DB_NAME, "database")
    with project.db.write() as conn:
        duplicated = sorted(store.existing_databases(conn, names) | _duplicates(names))
        if duplicated:
            raise CDFError(
                409,
                f"Databases already created: {', '.join(duplicated)}.",
                duplicated=[{"name": n} for n in duplicated],
            )
        created = [(name, store.create_database(conn, name, ctx.now_ms)) for name in names]
    return {"items": [{"name": name, "createdTime": ts} for name, ts in created]}


def delete_databases(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    names = _names(ctx, MAX_DB_NAME, "database")
    recursive = ctx.field("recursive", bool, False)
    with project.db.write() as conn:
        existing = store.existing_databases(conn, names)
        if missing := [n for n in dict.fromkeys(names) if n not in existing]:
            raise _db_missing(missing)
        if not recursive and (full := [n for n in names if store.database_has_tables(conn, n)]):
            raise bad_request(f"Databases are not empty; delete them with recursive=true: {', '.join(full)}.")
        for name in dict.fromkeys(names):
            store.delete_database(conn, name)
    return {}


# --- tables ---


def list_tables(ctx: Context, db_name: str) -> dict[str, Any]:
    limit = _limit(ctx, MAX_LIST_LIMIT)
    db = _readable(ctx)
    if db is None:
        raise _db_missing([db_name])
    with db.read() as conn:
        if not store.existing_databases(conn, [db_name]):
            raise _db_missing([db_name])
        return _named_page(store.list_tables(conn, db_name, _after(ctx), limit + 1), limit)


def create_tables(ctx: Context, db_name: str) -> dict[str, Any]:
    project = ctx.target()
    names = _names(ctx, MAX_TABLE_NAME, "table")
    ensure_parent = ctx.query("ensureParent", bool, False)
    with project.db.write() as conn:
        if not store.existing_databases(conn, [db_name]):
            if not ensure_parent:
                raise _db_missing([db_name])
            _check_name(db_name, MAX_DB_NAME, "database")
            store.create_database(conn, db_name, ctx.now_ms)
        existing = {n for n in names if store.table_id(conn, db_name, n) is not None}
        duplicated = sorted(existing | _duplicates(names))
        if duplicated:
            raise CDFError(
                409,
                f"Tables already created: {', '.join(duplicated)}.",
                duplicated=[{"name": n} for n in duplicated],
            )
        created = [(name, store.create_table(conn, db_name, name, ctx.now_ms)[1]) for name in names]
    return {"items": [{"name": name, "createdTime": ts} for name, ts in created]}


def delete_tables(ctx: Context, db_name: str) -> dict[str, Any]:
    project = ctx.target()
    names = _names(ctx, MAX_TABLE_NAME, "table")
    with project.db.write() as conn:
        if not store.existing_databases(conn, [db_name]):
            raise _db_missing([db_name])
        ids = {n: store.table_id(conn, db_name, n) for n in names}
        if missing := [n for n, table in ids.items() if table is None]:
            raise _table_missing(missing)
        for table in ids.values():
            store.delete_table(conn, table)  # type: ignore[arg-type]
    return {}


def _check_name(name: str, max_length: int, what: str) -> None:
    if not 1 <= len(name) <= max_length:
        raise bad_request(f"A {what} name must be 1 to {max_length} characters, got {name!r}.")


# --- rows ---


def _columns_json(key: str, columns: Any) -> str:
    if not isinstance(columns, dict):
        raise bad_request(f"The columns of row {key!r} must be a JSON object, got {columns!r}.")
    try:
        return json.dumps(columns, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        raise bad_request(f"Row {key!r} has a non-finite number; JSON has no NaN or Infinity.") from None


def insert_rows(ctx: Context, db_name: str, table_name: str) -> dict[str, Any]:
    project = ctx.target()
    ensure_parent = ctx.query("ensureParent", bool, False)
    rows: dict[str, str] = {}  # a key given twice: the last one wins
    for item in ctx.items(max_items=MAX_ROW_ITEMS):
        if not isinstance(item, dict):
            raise bad_request(f"A row must be an object with key and columns, got {item!r}.")
        key = ctx.field("key", str, body=item)
        if not 1 <= len(key) <= MAX_KEY:
            raise bad_request(f"A row key must be 1 to {MAX_KEY} characters, got {key!r}.")
        rows[key] = _columns_json(key, ctx.field("columns", dict, body=item))
    with project.db.write() as conn:
        if ensure_parent:
            _check_name(db_name, MAX_DB_NAME, "database")
            _check_name(table_name, MAX_TABLE_NAME, "table")
            store.create_database(conn, db_name, ctx.now_ms)
            table, _ = store.create_table(conn, db_name, table_name, ctx.now_ms)
        else:
            table = _require_table(conn, db_name, table_name)
        store.upsert_rows(conn, table, list(rows.items()), ctx.now_ms)
    return {}


def delete_rows(ctx: Context, db_name: str, table_name: str) -> dict[str, Any]:
    project = ctx.target()
    keys = []
    for item in ctx.items(max_items=MAX_ROW_DELETE):
        if not isinstance(item, dict):
            raise bad_request(f"A row to delete must be an object with a key, got {item!r}.")
        keys.append(ctx.field("key", str, body=item))
    with project.db.write() as conn:
        # Unknown keys are no error: deleting rows is idempotent.
        store.delete_rows(conn, _require_table(conn, db_name, table_name), keys)
    return {}


def _row_json(key: str, columns: str, updated: int, keep: set[str] | None) -> str:
    if keep is not None:
        columns = json.dumps(
            {k: v for k, v in json.loads(columns).items() if k in keep},
            ensure_ascii=False,
            separators=(",", ":"),
        )
    return f'{{"key":{json.dumps(key, ensure_ascii=False)},"columns":{columns},"lastUpdatedTime":{updated}}}'


def _time_filters(ctx: Context, state: dict[str, Any]) -> tuple[int | None, int | None]:
    # Partition cursors carry the time filters: the SDK does not repeat them when it reads partitions.
    lower = ctx.query("minLastUpdatedTime", int, state.get("min"))
    upper = ctx.query("maxLastUpdatedTime", int, state.get("max"))
    return lower, upper


def list_rows(ctx: Context, db_name: str, table_name: str) -> Response:
    limit = _limit(ctx, MAX_ROWS_LIMIT)
    cursor = ctx.query("cursor")
    state = decode_cursor(cursor) if cursor else {}
    columns = ctx.query("columns")
    # Absent or empty means every column (the SDK's partitioned read sends `columns=`); "," means none.
    keep = {c for c in columns.split(",") if c} if columns else None
    lower, upper = _time_filters(ctx, state)
    span = store.KeyRange(state.get("after"), state.get("start"), state.get("end"), lower, upper)
    db = _readable(ctx)
    if db is None:
        raise _db_missing([db_name])
    with db.read() as conn:
        rows = store.list_rows(conn, _require_table(conn, db_name, table_name), span, limit + 1)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_state = {"after": page[-1][0], "end": span.end, "min": lower, "max": upper}
        next_cursor = encode_cursor({k: v for k, v in next_state.items() if v is not None})
    # Assembled as text: the stored columns are JSON already, so 10,000 rows are not parsed and re-serialised.
    items = ",".join(_row_json(key, cols, updated, keep) for key, cols, updated in page)
    text = f'{{"items":[{items}],"nextCursor":{json.dumps(next_cursor)}}}'
    return Response(text.encode(), media_type="application/json")


def retrieve_row(ctx: Context, db_name: str, table_name: str, key: str) -> Response:
    db = _readable(ctx)
    if db is None:
        raise _db_missing([db_name])
    with db.read() as conn:
        row = store.get_row(conn, _require_table(conn, db_name, table_name), key)
    if row is None:
        # 404: the SDK's rows.retrieve turns it into None.
        raise CDFError(404, f"Row not found: {key}.", missing=[{"key": key}])
    return Response(_row_json(*row, keep=None).encode(), media_type="application/json")


def partition_cursors(ctx: Context, db_name: str, table_name: str) -> dict[str, Any]:
    """Cursors that split the table into key ranges the SDK reads in parallel (`rows.list(limit=None)`)."""
    count = ctx.query("numberOfCursors", int, 10)
    if not 1 <= count <= MAX_CURSORS:
        raise bad_request(f"numberOfCursors must be between 1 and {MAX_CURSORS}, got {count}.")
    lower, upper = _time_filters(ctx, {})
    db = _readable(ctx)
    if db is None:
        raise _db_missing([db_name])
    with db.read() as conn:
        table = _require_table(conn, db_name, table_name)
        starts = store.partition_starts(conn, table, store.KeyRange(min_updated=lower, max_updated=upper), count)
    cursors = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else None
        state = {"start": start, "end": end, "min": lower, "max": upper}
        cursors.append(encode_cursor({k: v for k, v in state.items() if v is not None}))
    return {"items": cursors}


# --- dispatch ---


def _dispatch(ctx: Context) -> Any:
    method = ctx.request.method
    handlers: dict[str, Callable[[], Any]]
    match _segments(ctx.request):
        case ["dbs"]:
            handlers = {"GET": lambda: list_databases(ctx), "POST": lambda: create_databases(ctx)}
        case ["dbs", "delete"]:
            handlers = {"POST": lambda: delete_databases(ctx)}
        case ["dbs", db, "tables"]:
            handlers = {"GET": lambda: list_tables(ctx, db), "POST": lambda: create_tables(ctx, db)}
        case ["dbs", db, "tables", "delete"]:
            handlers = {"POST": lambda: delete_tables(ctx, db)}
        case ["dbs", db, "tables", table, "rows"]:
            handlers = {"GET": lambda: list_rows(ctx, db, table), "POST": lambda: insert_rows(ctx, db, table)}
        case ["dbs", db, "tables", table, "rows", "delete"] if method == "POST":
            handlers = {"POST": lambda: delete_rows(ctx, db, table)}
        case ["dbs", db, "tables", table, "rows", key]:
            handlers = {"GET": lambda: retrieve_row(ctx, db, table, key)}
        case ["dbs", db, "tables", table, "cursors"]:
            handlers = {"GET": lambda: partition_cursors(ctx, db, table)}
        case _:
            raise CDFError(404, f"No RAW endpoint at {ctx.request.url.path}.")
    if method not in handlers:
        raise CDFError(405, f"Method {method} is not allowed on {ctx.request.url.path}.")
    return handlers[method]()


def routes() -> list[BaseRoute]:
    return [Route("/raw/{rest:path}", endpoint(_dispatch), methods=["GET", "POST"])]
