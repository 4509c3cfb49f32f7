"""Extraction pipelines of a target project, with their runs and configuration revisions.

A pipeline's user-settable fields are kept as one JSON document (they are only ever read and written whole);
the fields CDF maintains itself (times, last run states) are columns.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

DDL = """
CREATE TABLE IF NOT EXISTS extpipes (
    id INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    fields TEXT NOT NULL,
    created_time INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL,
    last_success INTEGER,
    last_failure INTEGER,
    last_seen INTEGER,
    last_message TEXT
);
CREATE TABLE IF NOT EXISTS extpipe_runs (
    id INTEGER PRIMARY KEY,
    extpipe_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    created_time INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS extpipe_runs_by_time ON extpipe_runs (extpipe_id, created_time, id);
CREATE TABLE IF NOT EXISTS extpipe_configs (
    extpipe_id INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    config TEXT,
    description TEXT,
    created_time INTEGER NOT NULL,
    PRIMARY KEY (extpipe_id, revision)
);
"""

_COLUMNS = (
    "id, external_id, fields, created_time, last_updated_time, last_success, last_failure, last_seen, last_message"
)


@dataclass
class Pipeline:
    id: int
    external_id: str
    fields: dict[str, Any]  # name, dataSetId, description, rawTables, schedule, contacts, metadata, ...
    created_time: int
    last_updated_time: int
    last_success: int | None = None
    last_failure: int | None = None
    last_seen: int | None = None
    last_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "externalId": self.external_id, **self.fields}
        for key, value in (
            ("lastSuccess", self.last_success),
            ("lastFailure", self.last_failure),
            ("lastSeen", self.last_seen),
            ("lastMessage", self.last_message),
        ):
            if value is not None:
                body[key] = value
        body["createdTime"] = self.created_time
        body["lastUpdatedTime"] = self.last_updated_time
        return body


@dataclass
class Run:
    id: int
    external_id: str
    status: str
    message: str | None
    created_time: int

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "externalId": self.external_id, "status": self.status}
        if self.message is not None:
            body["message"] = self.message
        body["createdTime"] = self.created_time
        return body


def new_id() -> int:
    # CDF ids are opaque, JavaScript-safe (53-bit) integers.
    return secrets.randbelow(2**52) + 1


def _pipeline(row: tuple) -> Pipeline:
    id_, xid, fields, created, updated, success, failure, seen, message = row
    return Pipeline(id_, xid, json.loads(fields), created, updated, success, failure, seen, message)


# --- pipelines ---


def get(conn: sqlite3.Connection, *, id: int | None = None, external_id: str | None = None) -> Pipeline | None:
    if id is not None:
        row = conn.execute(f"SELECT {_COLUMNS} FROM extpipes WHERE id = ?", (id,)).fetchone()
    else:
        row = conn.execute(f"SELECT {_COLUMNS} FROM extpipes WHERE external_id = ?", (external_id,)).fetchone()
    return _pipeline(row) if row else None


def list_after(conn: sqlite3.Connection, after_id: int) -> list[Pipeline]:
    """All pipelines with id > after_id in id order; callers filter and page (pipelines are few)."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM extpipes WHERE id > ? ORDER BY id", (after_id,))
    return [_pipeline(r) for r in rows]


def insert(conn: sqlite3.Connection, pipeline: Pipeline) -> None:
    conn.execute(
        f"INSERT INTO extpipes ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            pipeline.id,
            pipeline.external_id,
            json.dumps(pipeline.fields),
            pipeline.created_time,
            pipeline.last_updated_time,
            pipeline.last_success,
            pipeline.last_failure,
            pipeline.last_seen,
            pipeline.last_message,
        ),
    )


def save(conn: sqlite3.Connection, pipeline: Pipeline) -> None:
    """Write back the user fields of an existing pipeline (an update)."""
    conn.execute(
        "UPDATE extpipes SET external_id = ?, fields = ?, last_updated_time = ? WHERE id = ?",
        (pipeline.external_id, json.dumps(pipeline.fields), pipeline.last_updated_time, pipeline.id),
    )


def delete(conn: sqlite3.Connection, pipeline_id: int) -> None:
    conn.execute("DELETE FROM extpipe_runs WHERE extpipe_id = ?", (pipeline_id,))
    conn.execute("DELETE FROM extpipe_configs WHERE extpipe_id = ?", (pipeline_id,))
    conn.execute("DELETE FROM extpipes WHERE id = ?", (pipeline_id,))


# --- runs ---


def add_run(conn: sqlite3.Connection, pipeline: Pipeline, status: str, message: str | None, created: int) -> Run:
    """Record a run and fold it into the pipeline's last-run state, which never moves backwards in time."""
    cursor = conn.execute(
        "INSERT INTO extpipe_runs (extpipe_id, status, message, created_time) VALUES (?, ?, ?, ?)",
        (pipeline.id, status, message, created),
    )
    # Every report counts as a sign of life; success and failure also set their own timestamp.
    conn.execute(
        "UPDATE extpipes SET last_seen = MAX(COALESCE(last_seen, ?), ?) WHERE id = ?",
        (created, created, pipeline.id),
    )
    if status == "success":
        conn.execute(
            "UPDATE extpipes SET last_success = MAX(COALESCE(last_success, ?), ?) WHERE id = ?",
            (created, created, pipeline.id),
        )
    elif status == "failure":
        # lastMessage is the message of the newest failure.
        conn.execute(
            "UPDATE extpipes SET last_message = CASE WHEN last_failure IS NULL OR last_failure <= ? THEN ? "
            "ELSE last_message END, last_failure = MAX(COALESCE(last_failure, ?), ?) WHERE id = ?",
            (created, message, created, created, pipeline.id),
        )
    return Run(int(cursor.lastrowid or 0), pipeline.external_id, status, message, created)


def list_runs(
    conn: sqlite3.Connection,
    pipeline: Pipeline,
    *,
    statuses: list[str] | None,
    message_substring: str | None,
    min_created: int | None,
    max_created: int | None,
    before: tuple[int, int] | None,
    limit: int,
) -> list[Run]:
    """Newest first (by created time, then id); `before` is the (created time, id) of the last one seen."""
    clauses, args = ["extpipe_id = ?"], [pipeline.id]
    if statuses is not None:
        clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
        args.extend(statuses)
    if message_substring is not None:
        clauses.append("instr(message, ?) > 0")
        args.append(message_substring)
    if min_created is not None:
        clauses.append("created_time >= ?")
        args.append(min_created)
    if max_created is not None:
        clauses.append("created_time <= ?")
        args.append(max_created)
    if before is not None:
        clauses.append("(created_time < ? OR (created_time = ? AND id < ?))")
        args.extend([before[0], before[0], before[1]])
    rows = conn.execute(
        f"SELECT id, status, message, created_time FROM extpipe_runs WHERE {' AND '.join(clauses)} "
        "ORDER BY created_time DESC, id DESC LIMIT ?",
        [*args, limit],
    )
    return [Run(id_, pipeline.external_id, status, msg, created) for id_, status, msg, created in rows]


# --- configuration revisions ---


def add_config(
    conn: sqlite3.Connection, pipeline: Pipeline, config: str | None, description: str | None, created: int
) -> int:
    """Store the next revision (1, 2, 3, ...) and return its number."""
    latest = conn.execute(
        "SELECT COALESCE(MAX(revision), 0) FROM extpipe_configs WHERE extpipe_id = ?", (pipeline.id,)
    ).fetchone()[0]
    revision = latest + 1
    conn.execute(
        "INSERT INTO extpipe_configs (extpipe_id, revision, config, description, created_time) VALUES (?, ?, ?, ?, ?)",
        (pipeline.id, revision, config, description, created),
    )
    return revision


def get_config(
    conn: sqlite3.Connection, pipeline: Pipeline, *, revision: int | None, active_at: int | None
) -> dict[str, Any] | None:
    """One revision: the given number, else the newest created at or before `active_at`, else the newest."""
    query = "SELECT revision, config, description, created_time FROM extpipe_configs WHERE extpipe_id = ?"
    args: list[Any] = [pipeline.id]
    if revision is not None:
        query += " AND revision = ?"
        args.append(revision)
    elif active_at is not None:
        query += " AND created_time <= ?"
        args.append(active_at)
    row = conn.execute(query + " ORDER BY revision DESC LIMIT 1", args).fetchone()
    if row is None:
        return None
    rev, config, description, created = row
    body: dict[str, Any] = {"externalId": pipeline.external_id, "revision": rev, "createdTime": created}
    if config is not None:
        body["config"] = config
    if description is not None:
        body["description"] = description
    return body


def list_config_revisions(conn: sqlite3.Connection, pipeline: Pipeline) -> list[dict[str, Any]]:
    """Every revision without its config text, newest first."""
    rows = conn.execute(
        "SELECT revision, description, created_time FROM extpipe_configs WHERE extpipe_id = ? ORDER BY revision DESC",
        (pipeline.id,),
    )
    revisions = []
    for rev, description, created in rows:
        body: dict[str, Any] = {"externalId": pipeline.external_id, "revision": rev, "createdTime": created}
        if description is not None:
            body["description"] = description
        revisions.append(body)
    return revisions
