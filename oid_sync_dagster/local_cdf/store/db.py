"""One SQLite database per target project, opened per thread, in WAL mode for concurrent readers and writers."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from oid_sync_dagster.local_cdf.store import datapoints, datasets, extpipes, models, raw, timeseries

# Each store module owns its tables; they are created together when a project database is first opened.
_SCHEMA_PARTS: tuple[str, ...] = (timeseries.DDL, datapoints.DDL, raw.DDL, extpipes.DDL, models.DDL, datasets.DDL)


class ProjectDatabase:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.write() as conn:
            for ddl in _SCHEMA_PARTS:
                for statement in filter(str.strip, ddl.split(";")):
                    conn.execute(statement)

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: we issue BEGIN ourselves, so a write transaction takes the lock up front.
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=60.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (kill -9); only an OS crash may lose the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute("PRAGMA cache_size=-65536")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: BEGIN IMMEDIATE serialises writers across threads and processes."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot across several statements."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")
