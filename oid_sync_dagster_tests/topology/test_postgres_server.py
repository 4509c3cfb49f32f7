"""The throwaway PostgreSQL server picks another port when the one it picked is taken before postgres binds it."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from oid_sync_dagster_tests.topology import postgres_server
from oid_sync_dagster_tests.topology.postgres_server import running_postgres


def test_a_port_taken_before_postgres_binds_it_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bound, not listening: postgres cannot bind it (EADDRINUSE), and a connection to it is refused at once.
    with socket.socket() as taken:
        taken.bind((postgres_server.HOST, 0))
        taken_port = taken.getsockname()[1]
        picks: Iterator[int] = iter([taken_port])
        real_free_port = postgres_server.free_port
        monkeypatch.setattr(
            postgres_server, "free_port", lambda host=postgres_server.HOST: next(picks, 0) or real_free_port(host)
        )
        with running_postgres() as pg:
            assert pg.port != taken_port
            connection = pg.connect()
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                    assert cursor.fetchone() == (1,)
            finally:
                connection.close()
            log = pg.log_path.read_text()
    assert log.count("Address already in use") == 1, log
