"""Time-series rows of a target project, including those that back CogniteTimeSeries nodes (instance ids)."""

from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from oid_sync_dagster.local_cdf.store.datapoints import delete_series
from oid_sync_dagster.local_cdf.store.records import TimeSeriesRecord

DDL = """
CREATE TABLE IF NOT EXISTS timeseries (
    id INTEGER PRIMARY KEY,
    external_id TEXT UNIQUE,
    instance_space TEXT,
    instance_external_id TEXT,
    name TEXT,
    description TEXT,
    is_string INTEGER NOT NULL,
    is_step INTEGER NOT NULL,
    unit TEXT,
    unit_external_id TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    asset_id INTEGER,
    data_set_id INTEGER,
    security_categories TEXT NOT NULL DEFAULT '[]',
    created_time INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL,
    UNIQUE (instance_space, instance_external_id)
);
"""

_COLUMNS = (
    "id, external_id, instance_space, instance_external_id, name, description, is_string, is_step, unit, "
    "unit_external_id, metadata, asset_id, data_set_id, security_categories, created_time, last_updated_time"
)


def _record(row: tuple) -> TimeSeriesRecord:
    (id_, xid, space, ixid, name, desc, is_string, is_step, unit, unit_xid, meta, asset, ds, sec, ct, lut) = row
    return TimeSeriesRecord(
        id=id_,
        external_id=xid,
        instance_id=(space, ixid) if space is not None else None,
        name=name,
        description=desc,
        is_string=bool(is_string),
        is_step=bool(is_step),
        unit=unit,
        unit_external_id=unit_xid,
        metadata=json.loads(meta),
        asset_id=asset,
        data_set_id=ds,
        security_categories=json.loads(sec),
        created_time=ct,
        last_updated_time=lut,
    )


def new_id() -> int:
    # CDF ids are opaque 53-bit-safe integers.
    return secrets.randbelow(2**52) + 1


def all_series(conn: sqlite3.Connection) -> list[TimeSeriesRecord]:
    return [_record(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM timeseries ORDER BY id")]


def lookup(conn: sqlite3.Connection, identifier: dict[str, Any]) -> TimeSeriesRecord | None:
    """One series by {"id"} | {"externalId"} | {"instanceId": {"space", "externalId"}}."""
    if "id" in identifier:
        row = conn.execute(f"SELECT {_COLUMNS} FROM timeseries WHERE id = ?", (identifier["id"],)).fetchone()
    elif "externalId" in identifier:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM timeseries WHERE external_id = ?", (identifier["externalId"],)
        ).fetchone()
    else:
        iid = identifier["instanceId"]
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM timeseries WHERE instance_space = ? AND instance_external_id = ?",
            (iid["space"], iid["externalId"]),
        ).fetchone()
    return _record(row) if row else None


def _row(record: TimeSeriesRecord) -> tuple:
    """The record's values in `_COLUMNS` order."""
    space, instance_external_id = record.instance_id or (None, None)
    return (
        record.id,
        record.external_id,
        space,
        instance_external_id,
        record.name,
        record.description,
        int(record.is_string),
        int(record.is_step),
        record.unit,
        record.unit_external_id,
        json.dumps(record.metadata),
        record.asset_id,
        record.data_set_id,
        json.dumps(record.security_categories),
        record.created_time,
        record.last_updated_time,
    )


_PLACEHOLDERS = ", ".join("?" * len(_COLUMNS.split(",")))


def insert(conn: sqlite3.Connection, record: TimeSeriesRecord) -> None:
    conn.execute(f"INSERT INTO timeseries ({_COLUMNS}) VALUES ({_PLACEHOLDERS})", _row(record))


def save(conn: sqlite3.Connection, record: TimeSeriesRecord) -> None:
    """Write back an existing row. Type and identity never change, so writing every column is safe."""
    conn.execute(f"UPDATE timeseries SET ({_COLUMNS}) = ({_PLACEHOLDERS}) WHERE id = ?", (*_row(record), record.id))


def delete(conn: sqlite3.Connection, ts_id: int) -> None:
    conn.execute("DELETE FROM timeseries WHERE id = ?", (ts_id,))
    delete_series(conn, ts_id)


def upsert_for_instance(
    conn: sqlite3.Connection,
    space: str,
    external_id: str,
    *,
    is_string: bool,
    is_step: bool,
    name: str | None,
    description: str | None,
    unit: str | None,
    now: int,
) -> TimeSeriesRecord:
    """The time series that CDF keeps behind a CogniteTimeSeries node. Its type is fixed at creation."""
    existing = lookup(conn, {"instanceId": {"space": space, "externalId": external_id}})
    if existing is None:
        record = TimeSeriesRecord(
            id=new_id(),
            external_id=None,
            instance_id=(space, external_id),
            name=name,
            description=description,
            is_string=is_string,
            is_step=is_step,
            unit=unit,
            created_time=now,
            last_updated_time=now,
        )
        insert(conn, record)
        return record
    existing.name, existing.description, existing.is_step, existing.unit = name, description, is_step, unit
    existing.last_updated_time = now
    save(conn, existing)
    return existing


def delete_for_instance(conn: sqlite3.Connection, space: str, external_id: str) -> None:
    existing = lookup(conn, {"instanceId": {"space": space, "externalId": external_id}})
    if existing is not None:
        delete(conn, existing.id)
