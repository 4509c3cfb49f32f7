"""Datapoints stored as per-series day blocks of numpy columns in SQLite.

A row per point would make SQLite the bottleneck at tens of millions of points; a day block keeps rows few and
reads/writes vectorised, while SQLite still gives us transactions, crash safety and multi-process locking.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from oid_sync_dagster.local_cdf.points import Points

BLOCK_MS = 86_400_000

DDL = """
CREATE TABLE IF NOT EXISTS dp_blocks (
    ts_id INTEGER NOT NULL,
    block INTEGER NOT NULL,
    n INTEGER NOT NULL,
    t BLOB NOT NULL,
    v BLOB NOT NULL,
    s BLOB,
    nulls BLOB,
    UNIQUE (ts_id, block)
);
"""


def _decode(row: tuple, is_string: bool) -> Points:
    _, t, v, s, nulls = row
    timestamps = np.frombuffer(t, np.int64)
    values = np.array(json.loads(v), dtype=object) if is_string else np.frombuffer(v, np.float64)
    status = np.frombuffer(s, np.uint32) if s is not None else np.zeros(len(timestamps), np.uint32)
    null_mask = np.frombuffer(nulls, np.bool_) if nulls is not None else None
    return Points(timestamps, values, status, null_mask)


def _encode(points: Points, is_string: bool) -> tuple[bytes, bytes | str, bytes | None, bytes | None]:
    if is_string:
        values: bytes | str = json.dumps(points.values.tolist())
    else:
        values = np.ascontiguousarray(points.values, np.float64).tobytes()
    status = points.status.astype(np.uint32).tobytes() if points.status.any() else None
    nulls = points.nulls.tobytes() if points.nulls is not None and points.nulls.any() else None
    return np.ascontiguousarray(points.timestamps, np.int64).tobytes(), values, status, nulls


def read_points(
    conn: sqlite3.Connection, ts_id: int, is_string: bool, start: int, end: int, limit: int | None = None
) -> Points:
    """Stored points with start <= t < end, ascending; at most `limit`, reading only the blocks it needs."""
    parts: list[Points] = []
    count = 0
    rows = conn.execute(
        "SELECT block, t, v, s, nulls FROM dp_blocks WHERE ts_id = ? AND block >= ? AND block <= ? ORDER BY block",
        (ts_id, start // BLOCK_MS, (end - 1) // BLOCK_MS),
    )
    for row in rows:
        block = _decode(row, is_string)
        lo, hi = np.searchsorted(block.timestamps, [start, end])
        if hi > lo:
            part = block.take(slice(lo, hi))
            if limit is not None and count + len(part) >= limit:
                parts.append(part.take(slice(0, limit - count)))
                break
            parts.append(part)
            count += len(part)
    return Points.concat(parts, is_string)


def read_points_reverse(conn: sqlite3.Connection, ts_id: int, is_string: bool, before: int, limit: int) -> Points:
    """The last `limit` stored points with t < before, ascending."""
    parts: list[Points] = []
    count = 0
    rows = conn.execute(
        "SELECT block, t, v, s, nulls FROM dp_blocks WHERE ts_id = ? AND block <= ? ORDER BY block DESC",
        (ts_id, (before - 1) // BLOCK_MS),
    )
    for row in rows:
        block = _decode(row, is_string)
        hi = int(np.searchsorted(block.timestamps, before))
        if hi:
            take = min(hi, limit - count)
            parts.append(block.take(slice(hi - take, hi)))
            count += take
            if count >= limit:
                break
    return Points.concat(parts[::-1], is_string)


def write_points(conn: sqlite3.Connection, ts_id: int, is_string: bool, points: Points) -> None:
    """Merge points into their blocks; a timestamp that exists is overwritten, the last of duplicates wins.

    Call inside a write transaction: the read-merge-write of a block must not interleave with another writer.
    """
    if not len(points):
        return
    order = np.argsort(points.timestamps, kind="stable")
    points = points.take(order)
    blocks = points.timestamps // BLOCK_MS
    bounds = np.flatnonzero(np.diff(blocks)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(points)]])
    existing = {
        row[0]: row
        for row in conn.execute(
            "SELECT block, t, v, s, nulls FROM dp_blocks WHERE ts_id = ? AND block >= ? AND block <= ?",
            (ts_id, int(blocks[0]), int(blocks[-1])),
        )
    }
    writes = []
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        block_id = int(blocks[lo])
        new = points.take(slice(lo, hi))
        if block_id in existing:
            new = Points.concat([_decode(existing[block_id], is_string), new], is_string)
            new = new.take(np.argsort(new.timestamps, kind="stable"))
        keep_last = np.append(new.timestamps[1:] != new.timestamps[:-1], True)
        if not keep_last.all():
            new = new.take(keep_last)
        writes.append((ts_id, block_id, len(new), *_encode(new, is_string)))
    conn.executemany(
        "INSERT OR REPLACE INTO dp_blocks (ts_id, block, n, t, v, s, nulls) VALUES (?, ?, ?, ?, ?, ?, ?)",
        writes,
    )


def delete_range(conn: sqlite3.Connection, ts_id: int, is_string: bool, begin: int, end: int) -> None:
    """Delete points with begin <= t < end."""
    if end <= begin:
        return
    first, last = begin // BLOCK_MS, (end - 1) // BLOCK_MS
    # Whole blocks inside the range go without decoding.
    conn.execute("DELETE FROM dp_blocks WHERE ts_id = ? AND block > ? AND block < ?", (ts_id, first, last))
    for row in conn.execute(
        "SELECT block, t, v, s, nulls FROM dp_blocks WHERE ts_id = ? AND block IN (?, ?)",
        (ts_id, first, last),
    ).fetchall():
        block = _decode(row, is_string)
        keep = (block.timestamps < begin) | (block.timestamps >= end)
        if keep.all():
            continue
        if not keep.any():
            conn.execute("DELETE FROM dp_blocks WHERE ts_id = ? AND block = ?", (ts_id, row[0]))
            continue
        remaining = block.take(keep)
        conn.execute(
            "INSERT OR REPLACE INTO dp_blocks (ts_id, block, n, t, v, s, nulls) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (ts_id, row[0], len(remaining), *_encode(remaining, is_string)),
        )


def delete_series(conn: sqlite3.Connection, ts_id: int) -> None:
    conn.execute("DELETE FROM dp_blocks WHERE ts_id = ?", (ts_id,))


def point_counts(conn: sqlite3.Connection) -> dict[int, int]:
    """Stored points per series id, from the blocks' counts alone (nothing decoded)."""
    return dict(conn.execute("SELECT ts_id, SUM(n) FROM dp_blocks GROUP BY ts_id").fetchall())
