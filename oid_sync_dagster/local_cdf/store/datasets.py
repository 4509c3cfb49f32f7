"""Data sets of a target project. CDF never deletes a data set, so there is no delete here either.

The user-settable text fields (name, description, metadata) are one JSON document, read and written whole;
externalId is a column for its uniqueness (SQLite's UNIQUE allows any number of NULLs: the externalId is
optional), writeProtected a column for filtering.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

DDL = """
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY,
    external_id TEXT UNIQUE,
    fields TEXT NOT NULL,
    write_protected INTEGER NOT NULL,
    created_time INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL
);
"""

_COLUMNS = "id, external_id, fields, write_protected, created_time, last_updated_time"


@dataclass
class DataSet:
    id: int
    external_id: str | None
    fields: dict[str, Any]  # name, description, metadata
    write_protected: bool
    created_time: int
    last_updated_time: int

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id}
        if self.external_id is not None:
            body["externalId"] = self.external_id
        for key in ("name", "description"):
            if self.fields.get(key) is not None:
                body[key] = self.fields[key]
        body["metadata"] = self.fields.get("metadata") or {}
        body["writeProtected"] = self.write_protected
        body["createdTime"] = self.created_time
        body["lastUpdatedTime"] = self.last_updated_time
        return body


def new_id() -> int:
    # CDF ids are opaque, JavaScript-safe (53-bit) integers.
    return secrets.randbelow(2**52) + 1


def _data_set(row: tuple) -> DataSet:
    id_, xid, fields, protected, created, updated = row
    return DataSet(id_, xid, json.loads(fields), bool(protected), created, updated)


def get(conn: sqlite3.Connection, *, id: int | None = None, external_id: str | None = None) -> DataSet | None:
    if id is not None:
        row = conn.execute(f"SELECT {_COLUMNS} FROM datasets WHERE id = ?", (id,)).fetchone()
    else:
        row = conn.execute(f"SELECT {_COLUMNS} FROM datasets WHERE external_id = ?", (external_id,)).fetchone()
    return _data_set(row) if row else None


def list_after(conn: sqlite3.Connection, after_id: int) -> list[DataSet]:
    """All data sets with id > after_id in id order; callers filter and page (data sets are few)."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM datasets WHERE id > ? ORDER BY id", (after_id,))
    return [_data_set(r) for r in rows]


def insert(conn: sqlite3.Connection, data_set: DataSet) -> None:
    conn.execute(
        f"INSERT INTO datasets ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        (
            data_set.id,
            data_set.external_id,
            json.dumps(data_set.fields),
            int(data_set.write_protected),
            data_set.created_time,
            data_set.last_updated_time,
        ),
    )


def save(conn: sqlite3.Connection, data_set: DataSet) -> None:
    """Write back the user fields of an existing data set (an update)."""
    conn.execute(
        "UPDATE datasets SET external_id = ?, fields = ?, write_protected = ?, last_updated_time = ? WHERE id = ?",
        (
            data_set.external_id,
            json.dumps(data_set.fields),
            int(data_set.write_protected),
            data_set.last_updated_time,
            data_set.id,
        ),
    )
