"""A throwaway PostgreSQL server for tests: initdb in a fresh directory, `postgres` on loopback, stopped after.

Uses the server binaries of the machine (Debian's `postgresql` package: /usr/lib/postgresql/<major>/bin; or
$OID_SYNC_PG_BINDIR; or `pg_ctl` on PATH). It never touches a cluster the distribution may have started: its own
data directory, its own free port on 127.0.0.1 and its own socket directory, so nothing listens beyond loopback.

PostgreSQL refuses to run as root; as root the server runs as the `postgres` system user, in a directory under
the system temp dir that user owns (pytest's tmp_path is private to root). Password authentication (SCRAM) on
every connection, so clients must send what the test gives them, as in a deployment.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions

HOST = "127.0.0.1"
SUPERUSER = "postgres"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
POLL_S = 0.1
BINDIR_ENV = "OID_SYNC_PG_BINDIR"
PORT_ATTEMPTS = 4
# What postgres logs when its port is taken (then: "could not create any TCP/IP sockets", and it exits).
_ADDRESS_IN_USE = "Address already in use"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (or no user to run them as)."""


def find_bindir() -> Path:
    """The directory holding initdb and postgres: $OID_SYNC_PG_BINDIR, Debian's newest major, else PATH."""
    candidates: list[Path] = []
    if explicit := os.environ.get(BINDIR_ENV):
        candidates.append(Path(explicit))
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += debian
    if on_path := shutil.which("pg_ctl"):
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, postgres) found in /usr/lib/postgresql/*/bin, on PATH or in "
        f"${BINDIR_ENV}; install them (Debian: apt-get install postgresql; `make test` does)"
    )


def free_port(host: str = HOST) -> int:
    """Free now, but another process may bind it before a server does: retry on that (see `running_postgres`)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class _RunAs:
    """Who runs initdb and postgres: the current user, or (as root) the `postgres` system user."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def choose(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls()
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError as missing:
            raise PostgresUnavailable("running as root, and there is no `postgres` user to run the server") from missing
        return cls(entry.pw_uid, entry.pw_gid)

    def popen_args(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.gid or -1)


@dataclass(frozen=True)
class PostgresServer:
    """A running server: where it listens and the superuser's credentials (the password is never printed)."""

    host: str
    port: int
    password: str
    root: Path  # data directory, socket directory and log live under here
    process: subprocess.Popen[bytes]

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def connect(
        self, dbname: str = "postgres", *, user: str = SUPERUSER, password: str | None = None
    ) -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            dbname=dbname,
            user=user,
            password=self.password if password is None else password,
            connect_timeout=5,
        )

    def create_database(self, name: str, owner: str, owner_password: str) -> None:
        """A login role and a database it owns: what a deployment gives Dagster (no superuser)."""
        connection = self.connect()
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with connection.cursor() as cursor:
                # Identifiers cannot be parameters; psycopg2 quotes the password as a literal.
                cursor.execute(f'CREATE ROLE "{owner}" LOGIN PASSWORD %s', (owner_password,))
                cursor.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        finally:
            connection.close()


def _run(command: list[str], run_as: _RunAs, what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, **run_as.popen_args())
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed with code {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


class _PortTaken(RuntimeError):
    """postgres could not bind its port: another process took it after `free_port` picked it."""


def _wait_until_ready(server: PostgresServer, log_offset: int) -> None:
    """Connect until the server accepts us; fail early (with its log) if it exits instead.

    `log_offset`: where this start's lines begin in the log (a retry appends to the same file).
    """
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if server.process.poll() is not None:
            with server.log_path.open("rb") as log:
                log.seek(log_offset)
                if _ADDRESS_IN_USE in log.read().decode(errors="replace"):
                    raise _PortTaken(f"port {server.port} on {server.host} is in use")
            raise RuntimeError(
                f"postgres exited with code {server.process.returncode} at startup; its log:\n{server.log_tail()}"
            )
        try:
            server.connect(dbname="postgres").close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"postgres did not accept connections on {server.host}:{server.port} within "
                    f"{START_TIMEOUT_S:.0f} s; its log:\n{server.log_tail()}"
                ) from None
        time.sleep(POLL_S)  # polling readiness; the successful connect is the synchronisation


def stop_server(server: PostgresServer) -> None:
    """Fast shutdown (SIGINT: roll back open transactions, checkpoint, exit); SIGKILL if it hangs."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """initdb a fresh cluster and serve it on a free loopback port for the block; remove it afterwards."""
    bindir = find_bindir()
    run_as = _RunAs.choose()
    root = Path(tempfile.mkdtemp(prefix="oid-sync-pg-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        run_as.own(root)
        data_dir, socket_dir = root / "data", root / "socket"
        socket_dir.mkdir()
        run_as.own(socket_dir)
        password = secrets.token_urlsafe(24)
        password_file = root / "superuser-password"
        password_file.write_text(password)
        password_file.chmod(0o600)
        run_as.own(password_file)
        initdb = [str(bindir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, f"--pwfile={password_file}"]
        # SCRAM for local and TCP connections alike; C locale: no dependency on the machine's locales.
        initdb += ["--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync"]
        _run(initdb, run_as, "initdb")
        password_file.unlink()

        # postgres cannot bind port 0 and report it: pick a free port, and pick again if it is taken before
        # postgres binds it (parallel test workers).
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = free_port()
            command = [str(bindir / "postgres"), "-D", str(data_dir), "-p", str(port), "-k", str(socket_dir)]
            command += ["-c", f"listen_addresses={HOST}"]
            # A throwaway cluster: durability buys nothing here, and fsync on a shared 2-core CI box costs seconds.
            command += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
            log_path = root / "postgres.log"
            with log_path.open("ab") as log:
                run_as.own(log_path)
                log_offset = log.tell()
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    process_group=0,  # a terminal's Ctrl-C reaches the test, which stops the server itself
                    **run_as.popen_args(),
                )
            server = PostgresServer(host=HOST, port=port, password=password, root=root, process=process)
            try:
                _wait_until_ready(server, log_offset)
            except _PortTaken:
                if attempt == PORT_ATTEMPTS:
                    raise
                continue
            break
        yield server
    finally:
        if process is not None and process.poll() is None:
            stop_server(PostgresServer(host=HOST, port=0, password="", root=root, process=process))
        shutil.rmtree(root, ignore_errors=True)
