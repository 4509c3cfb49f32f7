"""RAW databases, tables and rows of a target project.

Rows keep their columns as the JSON text they arrived as, so a list page is assembled without parsing rows.
Keys are ordered by SQLite's BINARY collation (UTF-8 bytes), which matches Python's code-point order; pages
and partitions are key ranges over that order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DDL = """
CREATE TABLE IF NOT EXISTS raw_databases (
    name TEXT PRIMARY KEY,
    created_time INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS raw_tables (
    id INTEGER PRIMARY KEY,
    db_name TEXT NOT NULL,
    name TEXT NOT NULL,
    created_time INTEGER NOT NULL,
    UNIQUE (db_name, name)
);
CREATE TABLE IF NOT EXISTS raw_rows (
    table_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    columns TEXT NOT NULL,
    last_updated_time INTEGER NOT NULL,
    PRIMARY KEY (table_id, key)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class KeyRange:
    """Which rows a page or partition covers: keys after `after` (exclusive) or from `start` (inclusive),
    below `end` (exclusive), last updated in (min_updated, max_updated]."""

    after: str | None = None
    start: str | None = None
    end: str | None = None
    min_updated: int | None = None
    max_updated: int | None = None

    def where(self) -> tuple[str, list[object]]:
        clauses, args = ["table_id = ?"], []
        for clause, value in (
            ("key > ?", self.after),
            ("key >= ?", self.start),
            ("key < ?", self.end),
            ("last_updated_time > ?", self.min_updated),
            ("last_updated_time <= ?", self.max_updated),
        ):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        return " AND ".join(clauses), args


# --- databases ---


def list_databases(conn: sqlite3.Connection, after: str | None, limit: int) -> list[tuple[str, int]]:
    return conn.execute(
        "SELECT name, created_time FROM raw_databases WHERE name > ? ORDER BY name LIMIT ?",
        (after if after is not None else "", limit),
    ).fetchall()


def existing_databases(conn: sqlite3.Connection, names: Iterable[str]) -> set[str]:
    return {n for n in names if conn.execute("SELECT 1 FROM raw_databases WHERE name = ?", (n,)).fetchone()}


def create_database(conn: sqlite3.Connection, name: str, now: int) -> int:
    """Create `name` unless it exists; returns its created time."""
    conn.execute("INSERT OR IGNORE INTO raw_databases (name, created_time) VALUES (?, ?)", (name, now))
    return conn.execute("SELECT created_time FROM raw_databases WHERE name = ?", (name,)).fetchone()[0]


def database_has_tables(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM raw_tables WHERE db_name = ? LIMIT 1", (name,)).fetchone() is not None


def delete_database(conn: sqlite3.Connection, name: str) -> None:
    """The database with all its tables and rows."""
    table_ids = [r[0] for r in conn.execute("SELECT id FROM raw_tables WHERE db_name = ?", (name,))]
    for table_id in table_ids:
        delete_table(conn, table_id)
    conn.execute("DELETE FROM raw_databases WHERE name = ?", (name,))


# --- tables ---


def list_tables(conn: sqlite3.Connection, db_name: str, after: str | None, limit: int) -> list[tuple[str, int]]:
    return conn.execute(
        "SELECT name, created_time FROM raw_tables WHERE db_name = ? AND name > ? ORDER BY name LIMIT ?",
        (db_name, after if after is not None else "", limit),
    ).fetchall()


def table_id(conn: sqlite3.Connection, db_name: str, name: str) -> int | None:
    row = conn.execute("SELECT id FROM raw_tables WHERE db_name = ? AND name = ?", (db_name, name)).fetchone()
    return row[0] if row else None


def create_table(conn: sqlite3.Connection, db_name: str, name: str, now: int) -> tuple[int, int]:
    """Create the table unless it exists; returns (id, created time). The database must exist."""
    conn.execute(
        "INSERT OR IGNORE INTO raw_tables (db_name, name, created_time) VALUES (?, ?, ?)",
        (db_name, name, now),
    )
    return conn.execute(
        "SELECT id, created_time FROM raw_tables WHERE db_name = ? AND name = ?", (db_name, name)
    ).fetchone()


def delete_table(conn: sqlite3.Connection, table: int) -> None:
    conn.execute("DELETE FROM raw_rows WHERE table_id = ?", (table,))
    conn.execute("DELETE FROM raw_tables WHERE id = ?", (table,))


# --- rows ---


def upsert_rows(conn: sqlite3.Connection, table: int, rows: Sequence[tuple[str, str]], now: int) -> None:
    """(key, columns JSON) pairs; an existing row's columns are replaced as a whole, as RAW does."""
    conn.executemany(
        "INSERT INTO raw_rows (table_id, key, columns, last_updated_time) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (table_id, key) DO UPDATE SET columns = excluded.columns, "
        "last_updated_time = excluded.last_updated_time",
        [(table, key, columns, now) for key, columns in rows],
    )


def delete_rows(conn: sqlite3.Connection, table: int, keys: Iterable[str]) -> None:
    conn.executemany("DELETE FROM raw_rows WHERE table_id = ? AND key = ?", [(table, k) for k in keys])


def get_row(conn: sqlite3.Connection, table: int, key: str) -> tuple[str, str, int] | None:
    return conn.execute(
        "SELECT key, columns, last_updated_time FROM raw_rows WHERE table_id = ? AND key = ?", (table, key)
    ).fetchone()


def list_rows(conn: sqlite3.Connection, table: int, span: KeyRange, limit: int) -> list[tuple[str, str, int]]:
    """At most `limit` (key, columns JSON, last updated time) in key order."""
    where, args = span.where()
    return conn.execute(
        f"SELECT key, columns, last_updated_time FROM raw_rows WHERE {where} ORDER BY key LIMIT ?",
        [table, *args, limit],
    ).fetchall()


def partition_starts(conn: sqlite3.Connection, table: int, span: KeyRange, count: int) -> list[str | None]:
    """Up to `count` ascending start keys that split the matching rows into ranges of about equal size; the
    first is None (open). Fewer rows than partitions give fewer ranges, never overlapping ones."""
    where, args = span.where()
    total = conn.execute(f"SELECT COUNT(*) FROM raw_rows WHERE {where}", [table, *args]).fetchone()[0]
    starts: list[str | None] = [None]
    for index in range(1, count):
        offset = index * total // count
        if offset == 0:
            continue
        key = conn.execute(
            f"SELECT key FROM raw_rows WHERE {where} ORDER BY key LIMIT 1 OFFSET ?", [table, *args, offset]
        ).fetchone()[0]
        if key != starts[-1]:
            starts.append(key)
    return starts
