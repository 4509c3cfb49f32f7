"""The production topology, run for real: Dagster on PostgreSQL with the shipped `dagster_home/postgres.yaml`.

What runs, all on loopback: a fresh PostgreSQL server (its own cluster in a temp dir) with a database and a
login role for Dagster; a DAGSTER_HOME whose dagster.yaml is the shipped postgres.yaml, unchanged, configured
only by DAGSTER_PG_* variables; the local CDF as its own process (`oid-sync local-cdf`), which the code location
reaches through OID_SYNC_LOCAL_CDF_URL; `dagster-daemon run` and `dagster-webserver` as two separate services on
the repository's workspace.yaml, as on a VM or in two pods. Through the webserver's GraphQL API (what the UI
sends) the test stops the history sensor, waits for the realtime sensor to materialize the target catalog, and
launches a partition backfill of the two newest closed weeks for three series of every group (all six shards);
the realtime sensor keeps launching runs of all 363 series beside it, as in production, so the run and pool
limits have something to limit. It proves that

* the instance is what the file says: Postgres run, event-log and schedule storage, QueuedRunCoordinator with
  the shipped limits, DefaultRunLauncher, and the code location's multiprocess executor (steps in their own
  processes, under the `cdf_api` pool);
* the backfill succeeds in one run (the shards' BackfillPolicy.single_run()); every (series, week) is
  materialized by it and its `complete` check passed, as GraphQL reports it;
* the target holds exactly the source's points for each of those weeks shifted by the offset (1 week + 10 min),
  for every series: timestamps, status codes and values, and as many as the materialization and check say;
* it is all in Postgres: every run GraphQL lists is a row of `runs`, the backfill run's materializations and
  check evaluations are rows of `event_logs` (one per asset and week), the backfill is in `bulk_actions`, the
  sensor states and ticks in the schedule tables, and no SQLite database appeared under DAGSTER_HOME; and the
  event log shows the limits held across all runs: at most 2 steps in pool `cdf_api`, at most 2 runs at once;
* SIGTERM stops the webserver and the daemon cleanly (exit code 0, nothing left of their process groups or of
  any process they had spawned), then the local CDF and PostgreSQL stop too.

On failure the last lines of the daemon's (which includes the run workers' output), the webserver's, the local
CDF's and PostgreSQL's logs are appended to the error.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import numpy as np
import pytest
from cognite.client import ClientConfig, CogniteClient, global_config
from cognite.client.credentials import OAuthClientCredentials
from cognite.client.data_classes.data_modeling import NodeId

from oid_sync_dagster.integration.keys import DEFAULT_NAMES
from oid_sync_dagster.launcher import live_group_members, server_info
from oid_sync_dagster.local_cdf.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET
from oid_sync_dagster_tests.graphql import (
    BACKFILL_SUCCESS,
    BACKFILL_TAG,
    BACKFILL_TERMINAL,
    DagsterGraphQL,
    WaitTimeout,
    poll,
)
from oid_sync_dagster_tests.topology.postgres_server import PostgresServer, free_port, running_postgres, stop_server
from oid_sync_dagster_tests.topology.services import Service, Supervisor

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = REPO_ROOT / "workspace.yaml"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"

DB_NAME, DB_USER = "dagster", "dagster"
SERIES_GROUPS = ("flow", "level", "machine", "other", "pressure", "temperature")  # the translator's groups
CATALOG = ["oid", "target_catalog"]
REALTIME_JOB = "oid_realtime"
HISTORY_SENSOR, REALTIME_SENSOR = "oid_history_sensor", "oid_realtime_sensor"
KIND_TAG = "oid_sync/kind"
CHECK = "complete"
POOL = "cdf_api"
BACKFILL_PER_GROUP = 3  # series of each group in the backfill
SPACE = "oid_sync"  # the target's instance space (the config's default)
SOURCE_PROJECT, TARGET_PROJECT = "publicdata", "oid-sync"  # the local CDF's source; the resource's local target
WEEK_MS = 7 * 24 * 3600 * 1000
OFFSET_MS = WEEK_MS + 10 * 60 * 1000  # 605_400_000: the default time shift, source -> target
# Variables that would point the services at something other than this topology (or at real CDF).
NOT_INHERITED = ("DAGSTER_", "CDF_", "IDP_", "OID_SYNC_", "OPEN_ID_", "PG")
IN_FLIGHT = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]

LOCAL_CDF_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 120.0  # webserver answering, its code location loaded, the daemon's heartbeats in
SENSOR_CATALOG_TIMEOUT_S = 120.0  # the realtime sensor's first run; the test launches the catalog after that
CATALOG_RUN_TIMEOUT_S = 120.0
BACKFILL_TIMEOUT_S = 600.0  # 4-5 min measured on a 2-core machine shared with other jobs (load 5-8)
DRAIN_TIMEOUT_S = 120.0  # a realtime run still in flight when the test is done
STOP_TIMEOUT_S = 30.0


# ---------- setup ----------


def _dagster_home(root: Path) -> Path:
    """DAGSTER_HOME with the shipped postgres.yaml, read as package data, as its dagster.yaml."""
    home = root / "dagster_home"
    home.mkdir()
    shipped = resources.files("oid_sync_dagster").joinpath("dagster_home", "postgres.yaml").read_text("utf-8")
    (home / "dagster.yaml").write_text(shipped, encoding="utf-8")
    return home


def _environment(home: Path, pg: PostgresServer, db_password: str, local_cdf_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(NOT_INHERITED)}
    return {
        **env,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": pg.host,
        "DAGSTER_PG_PORT": str(pg.port),
        "DAGSTER_PG_USERNAME": DB_USER,
        "DAGSTER_PG_PASSWORD": db_password,
        "DAGSTER_PG_DB": DB_NAME,
        "OID_SYNC_LOCAL_CDF_URL": local_cdf_url,
        "PYTHONUNBUFFERED": "1",
    }


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """The services' environment in this process too, for loading the same instance in-process."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _assert_instance_is_the_shipped_topology(env: dict[str, str]) -> None:
    """Load the instance as the services will (this also creates Dagster's tables before they race to)."""
    with _environ(env), dg.DagsterInstance.get() as instance:
        kinds = {
            "run storage": type(instance.run_storage).__name__,
            "event log storage": type(instance.event_log_storage).__name__,
            "schedule storage": type(instance.schedule_storage).__name__,
            "run coordinator": type(instance.run_coordinator).__name__,
            "run launcher": type(instance.run_launcher).__name__,
        }
        assert kinds == {
            "run storage": "PostgresRunStorage",
            "event log storage": "PostgresEventLogStorage",
            "schedule storage": "PostgresScheduleStorage",
            "run coordinator": "QueuedRunCoordinator",
            "run launcher": "DefaultRunLauncher",
        }, kinds
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None and queue.max_concurrent_runs == 2, queue
        assert [(limit["key"], limit["limit"]) for limit in queue.tag_concurrency_limits] == [(BACKFILL_TAG, 1)]
        assert instance.global_op_concurrency_default_limit == 2
        assert instance.run_coordinator.dequeue_interval_seconds == 1
        assert instance.get_settings("sensors") == {"use_threads": True}
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2


def _local_cdf_healthy(base_url: str) -> bool | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{base_url}/_local/health", timeout=2) as response:
            return True if response.status == 200 else None
    except OSError:
        return None


def _alive(service: Service, probe: Callable[[], T | None]) -> Callable[[], T | None]:
    """`probe()` for `poll`, failing at once (not at the timeout) if the service has died."""

    def checked() -> T | None:
        if service.process.poll() is not None:
            raise AssertionError(f"{service.name} exited with code {service.process.returncode}")
        return probe()

    return checked


# ---------- reading the target ----------


def _client(base_url: str, project: str) -> CogniteClient:
    global_config.disable_pypi_version_check = True  # no internet here
    credentials = OAuthClientCredentials(
        token_url=f"{base_url}/oauth2/token",
        client_id=DEV_CLIENT_ID,
        client_secret=DEV_CLIENT_SECRET,
        scopes=[f"{base_url}/.default"],
    )
    return CogniteClient(
        ClientConfig(client_name="oid-sync-tests", project=project, credentials=credentials, base_url=base_url)
    )


def _points(array: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Timestamps (ms), status codes and values of one DatapointsArray."""
    timestamps = array.timestamp.astype("datetime64[ms]").astype(np.int64)
    status = array.status_code if array.status_code is not None else np.zeros(len(timestamps), dtype=np.uint32)
    return timestamps, status, array.value


def _week_points(client: CogniteClient, window: tuple[int, int], **idents: Any) -> Any:
    """Every point of many series in [start, end), Bad and Uncertain ones included, in one SDK call."""
    return client.time_series.data.retrieve_arrays(
        **idents,
        start=window[0],
        end=window[1],
        limit=None,
        include_status=True,
        ignore_bad_datapoints=False,
        treat_uncertain_as_bad=False,
    )


def _week_ms(partition_key: str) -> int:
    return int(datetime.strptime(partition_key, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()) * 1000


# ---------- Postgres ----------


def _query(pg: PostgresServer, password: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    connection = pg.connect(DB_NAME, user=DB_USER, password=password)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        connection.close()


# ---------- the test ----------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_backfill_of_every_series_on_the_postgres_topology(tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()

    def mark(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 1)
        print(f"[topology] {name}: {timings[name]} s", flush=True)  # shown with -s, and with a failure

    db_password = os.urandom(18).hex()
    with running_postgres() as pg:
        pg.create_database(DB_NAME, DB_USER, db_password)
        mark("postgres")
        home = _dagster_home(tmp_path)
        cdf_port, web_port = free_port(), free_port()
        cdf_url, web_url = f"http://{HOST}:{cdf_port}", f"http://{HOST}:{web_port}"
        env = _environment(home, pg, db_password, cdf_url)
        _assert_instance_is_the_shipped_topology(env)
        mark("instance")

        with Supervisor(tmp_path / "logs", env, secrets=(db_password, pg.password)) as services:
            services.watch_log("postgres", pg.log_path)
            local_cdf = services.start(
                "local-cdf",
                [str(BIN / "oid-sync"), "local-cdf", "--port", str(cdf_port), "--data-dir", str(tmp_path / "cdf")],
                cwd=tmp_path,
            )
            poll(
                "the local CDF to answer",
                _alive(local_cdf, lambda: _local_cdf_healthy(cdf_url)),
                LOCAL_CDF_TIMEOUT_S,
                interval_s=0.1,
            )
            webserver = services.start(
                "webserver",
                [str(BIN / "dagster-webserver"), "-h", HOST, "-p", str(web_port), "-w", str(WORKSPACE)],
                cwd=tmp_path,
            )
            poll("the webserver to answer", _alive(webserver, lambda: server_info(web_port)), READY_TIMEOUT_S)
            gql = DagsterGraphQL(web_url)
            repo = poll("the code location to load", _alive(webserver, gql.repository), READY_TIMEOUT_S)
            mark("webserver")
            # The history sensor is stopped before the daemon starts: stopped later, it races the daemon's first
            # tick, which stores the sensor's state as declared in code (running) if it has none yet.
            assert gql.stop_sensor(repo, HISTORY_SENSOR) == "STOPPED"
            daemon = services.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(WORKSPACE)], cwd=tmp_path)

            # The daemon's heartbeats reach the webserver only through the shared storage: Postgres.
            def daemons_healthy() -> dict[str, Any] | None:
                statuses = gql.daemon_statuses()
                needed = ("SENSOR", "BACKFILL", "QUEUED_RUN_COORDINATOR")
                return statuses if all(statuses.get(kind, {}).get("healthy") for kind in needed) else None

            daemons = poll("the daemon's heartbeats", _alive(daemon, daemons_healthy), READY_TIMEOUT_S)
            mark("daemon")

            assert gql.sensor(repo, REALTIME_SENSOR)["state"]["status"] == "RUNNING"
            assert gql.sensor(repo, HISTORY_SENSOR)["state"]["status"] == "STOPPED"

            nodes = [node for node in gql.asset_nodes() if node["groupName"] in SERIES_GROUPS]
            assert all(node["isPartitioned"] for node in nodes), [n["path"] for n in nodes if not n["isPartitioned"]]
            source = _client(cdf_url, SOURCE_PROJECT)
            listed = {ts.external_id for ts in source.time_series.list(external_id_prefix="pi:", limit=None)}
            assert {str(node["metadata"]["external_id"]) for node in nodes} == listed, "the assets are not the catalog"
            # The location and realtime span the whole catalog; the backfill takes a few series of every group
            # (every shard's step still runs): all 363 series would only multiply the points, not the topology.
            by_group = {group: [node for node in nodes if node["groupName"] == group] for group in SERIES_GROUPS}
            backfilled = [node for group in SERIES_GROUPS for node in by_group[group][:BACKFILL_PER_GROUP]]
            paths = [node["path"] for node in backfilled]
            external_ids = {tuple(node["path"]): str(node["metadata"]["external_id"]) for node in backfilled}
            partitions = gql.partition_keys(paths[0])
            weeks = partitions[-2:]  # the two newest closed weeks (the open week is no partition)
            assert len(weeks) == 2 and _week_ms(weeks[1]) - _week_ms(weeks[0]) == WEEK_MS, partitions[-3:]

            # The series need their target nodes: the realtime sensor's first run materializes the catalog.
            try:
                catalog = poll(
                    "the realtime sensor to materialize the target catalog",
                    _alive(daemon, lambda: gql.latest_materialization(CATALOG)),
                    SENSOR_CATALOG_TIMEOUT_S,
                )
            except WaitTimeout:
                run_id = gql.launch_run(repo, REALTIME_JOB, asset_selection=[CATALOG], tags={KIND_TAG: "realtime"})
                finished = gql.wait_for_run(run_id, CATALOG_RUN_TIMEOUT_S)
                assert finished["status"] == "SUCCESS", gql.run_errors(run_id)
                catalog = gql.latest_materialization(CATALOG)
            assert catalog is not None and catalog["metadata"]["oid_sync/series"] == len(nodes), catalog
            mark("catalog")

            launched = gql.launch_partition_backfill(
                asset_selection=paths, partition_names=weeks, title=f"postgres topology: all series {weeks}"
            )
            backfill_id = launched["backfillId"]
            backfill = poll(
                f"backfill {backfill_id} to finish",
                _alive(daemon, lambda: b if (b := gql.backfill(backfill_id))["status"] in BACKFILL_TERMINAL else None),
                BACKFILL_TIMEOUT_S,
            )
            mark("backfill done")
            if backfill["status"] not in BACKFILL_SUCCESS:
                errors = {run["runId"]: gql.run_errors(run["runId"]) for run in backfill["runs"]}
                pytest.fail(f"backfill {backfill_id} ended {backfill['status']}: {backfill['error']}\nruns: {errors}")
            assert len(backfill["runs"]) == 1, f"expected one run (single_run policy), got {backfill['runs']}"
            run = gql.run(backfill["runs"][0]["runId"])
            run_id = run["runId"]
            assert run["status"] == "SUCCESS", gql.run_errors(run_id)
            tags = run["tags"]
            span = (tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end"))
            assert span == (weeks[0], weeks[1]), f"not one range run over both weeks: {tags}"
            # Where the backfill's wall time goes: the daemon's tick to submit, the queue, the run, the daemon again.
            phases = {
                "submit": run["creationTime"] - backfill["timestamp"],
                "queue": run["startTime"] - run["creationTime"],
                "run": run["endTime"] - run["startTime"],
                "complete": backfill["endTimestamp"] - run["endTime"],
            }

            # Dagster's record of every (series, week), as the asset pages show it.
            record = gql.partition_records(paths, weeks, CHECK)
            problems = []
            for path, seen in record.items():
                for week in weeks:
                    latest, check = seen["latest"][week], seen["check"][week]
                    if not any(start <= week <= end for start, end in seen["materialized_ranges"]):
                        problems.append(f"{'/'.join(path)} {week}: not materialized")
                    elif latest is None or latest["runId"] != run_id:
                        problems.append(f"{'/'.join(path)} {week}: latest materialization {latest}")
                    elif check is None or (check["runId"], check["status"], check["passed"]) != (
                        run_id,
                        "SUCCEEDED",
                        True,
                    ):
                        problems.append(f"{'/'.join(path)} {week}: check {check}")
            assert not problems, f"{len(problems)} of {len(paths) * 2} partitions wrong:\n" + "\n".join(problems[:20])
            mark("record verified")

            # The target, every series and week, point by point against the source shifted by the offset.
            target = _client(cdf_url, TARGET_PROJECT)
            counts: dict[tuple[str, str], int] = {}
            mismatches = []
            ids = sorted(external_ids.values())
            for week in weeks:
                start = _week_ms(week)
                wanted = _week_points(source, (start - OFFSET_MS, start + WEEK_MS - OFFSET_MS), external_id=ids)
                got = _week_points(target, (start, start + WEEK_MS), instance_id=[NodeId(SPACE, xid) for xid in ids])
                for xid in ids:
                    want = _points(wanted.get(external_id=xid))
                    have = _points(got.get(instance_id=NodeId(SPACE, xid)))
                    counts[xid, week] = len(have[0])
                    if len(want[0]) == 0:
                        mismatches.append(f"{xid} {week}: the source has no points")
                    elif len(have[0]) != len(want[0]):
                        mismatches.append(f"{xid} {week}: {len(have[0])} target points, {len(want[0])} source points")
                    elif not (
                        np.array_equal(have[0], want[0] + OFFSET_MS)
                        and np.array_equal(have[1], want[1])
                        and (
                            have[2].tolist() == want[2].tolist()
                            if want[2].dtype == object
                            else np.array_equal(have[2], want[2], equal_nan=True)
                        )
                    ):
                        mismatches.append(f"{xid} {week}: points differ from the shifted source")
            for path, xid in external_ids.items():
                for week in weeks:
                    written = record[path]["latest"][week]["metadata"]["oid_sync/points_written"]
                    checked = record[path]["check"][week]["metadata"]
                    if (
                        not written
                        == checked["oid_sync/source_points"]
                        == checked["oid_sync/target_points"]
                        == counts[xid, week]
                    ):
                        mismatches.append(f"{xid} {week}: {counts[xid, week]} points, record {written} / {checked}")
            assert not mismatches, f"{len(mismatches)} (series, week) wrong:\n" + "\n".join(mismatches[:20])
            mark("target verified")

            # No new runs from here on (as an operator stops a deployment): the record is then final.
            gql.stop_sensor_for_good(repo, REALTIME_SENSOR)
            poll("in-flight runs to finish", lambda: None if gql.runs(statuses=IN_FLIGHT) else True, DRAIN_TIMEOUT_S)
            graphql_runs = {r["runId"]: r["status"] for r in gql.runs(limit=1000)}
            failed = {rid: status for rid, status in graphql_runs.items() if status != "SUCCESS"}
            assert failed == {}, f"runs that did not succeed: {failed}"
            in_postgres = _verify_postgres(pg, db_password, graphql_runs, run_id, backfill_id, paths, weeks)
            sqlite = [str(p.relative_to(home)) for p in home.rglob("*") if p.suffix in (".db", ".sqlite")]
            assert sqlite == [], f"SQLite databases under DAGSTER_HOME: {sqlite}"
            mark("postgres verified")

            # SIGTERM, as Kubernetes and systemd stop a service.
            for service in (webserver, daemon):
                service.terminate()  # both at once: they stop independently
            # Each stop waits for the service's process group and every process it had spawned to be gone.
            stopped = {service.name: service.stop(STOP_TIMEOUT_S) for service in (webserver, daemon)}
            assert {name: code for name, (code, _) in stopped.items()} == {"webserver": 0, "daemon": 0}, stopped
            code, _ = local_cdf.stop(STOP_TIMEOUT_S)
            # uvicorn shuts down gracefully, then re-raises the signal it caught (so the exit status tells why).
            assert code in (0, -signal.SIGTERM), f"the local CDF exited with {code}"
            mark("services stopped")

        stop_server(pg)
        assert pg.process.returncode == 0, pg.log_tail()
        assert live_group_members(pg.process.pid) == [], "PostgreSQL processes outlived the server"
        mark("postgres stopped")

    total_points = sum(counts.values())
    print(
        f"\npostgres topology: {len(paths)} series x {len(weeks)} weeks = {total_points:,} points in 1 run; "
        f"backfill phases (s) { {name: round(seconds, 1) for name, seconds in phases.items()} }; "
        f"{len(graphql_runs)} runs in Postgres, at most {in_postgres['runs_at_once']} at once and "
        f"{in_postgres['steps_at_once']} steps in pool {POOL}; daemons {sorted(daemons)}; "
        f"stop (s) { {name: round(seconds, 1) for name, (_, seconds) in stopped.items()} }; timeline (s) {timings}; "
        f"load average at the end {os.getloadavg()[1]:.1f} (5 min) on {os.cpu_count()} CPUs"
    )
    shutil.rmtree(tmp_path / "cdf", ignore_errors=True)  # the target's data: pytest would keep it for three runs


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an interval ending when another starts does not overlap it)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, step in edges:  # at equal times -1 sorts first
        current += step
        most = max(most, current)
    return most


def _verify_postgres(
    pg: PostgresServer,
    password: str,
    graphql_runs: dict[str, str],
    run_id: str,
    backfill_id: str,
    paths: list[list[str]],
    weeks: list[str],
) -> dict[str, int]:
    """Dagster's record is in Postgres: the tables of run, event-log and schedule storage, read with psycopg2."""
    stored = dict(_query(pg, password, "SELECT run_id, status FROM runs"))
    assert stored == graphql_runs, f"runs table {stored} is not what GraphQL lists {graphql_runs}"

    def event(name: str) -> str:
        return dg.DagsterEventType[name].value  # stored under legacy names: RUN_SUCCESS is PIPELINE_SUCCESS

    counts = dict(
        _query(
            pg, password, "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s GROUP BY 1", (run_id,)
        )
    )
    n = len(paths) * len(weeks)
    expected = {"ASSET_MATERIALIZATION": n, "ASSET_CHECK_EVALUATION": n, "RUN_SUCCESS": 1}
    # Queued by the QueuedRunCoordinator, then started by the run launcher (from the daemon).
    expected |= {"RUN_ENQUEUED": 1, "RUN_STARTING": 1}
    # The multiprocess executor: one process per step (the six series shards).
    expected |= {"STEP_WORKER_STARTED": 6, "STEP_SUCCESS": 6}
    got = {name: counts.get(event(name)) for name in expected}
    assert got == expected, f"events of the backfill run in event_logs: {got}, want {expected}; all: {counts}"
    materialized = {
        (tuple(json.loads(key)), partition)
        for key, partition in _query(
            pg,
            password,
            "SELECT asset_key, partition FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
            (run_id, event("ASSET_MATERIALIZATION")),
        )
    }
    assert materialized == {(tuple(path), week) for path in paths for week in weeks}, "materializations differ"

    # The limits held across all runs: the series shards' steps take the `cdf_api` pool, the catalog and realtime
    # steps `cdf_api_live` (default_limit 2 each): at most 2 of each at once; runs at most 2.
    spans: dict[tuple[str, str], dict[str, float]] = {}
    rows = _query(
        pg,
        password,
        "SELECT run_id, step_key, dagster_event_type, timestamp FROM event_logs WHERE dagster_event_type IN %s",
        ((event("STEP_START"), event("STEP_SUCCESS"), event("STEP_FAILURE")),),
    )
    for run, step, kind, at in rows:
        # `timestamp` is UTC without a zone.
        spans.setdefault((run, step), {})["start" if kind == event("STEP_START") else "end"] = at.replace(
            tzinfo=UTC
        ).timestamp()
    shards = {key for key in spans if key[1] in {DEFAULT_NAMES.shard(group) for group in SERIES_GROUPS}}
    assert {step for run, step in shards if run == run_id}, f"no shard step of the backfill run among {list(spans)}"
    steps_at_once = _max_overlap([(s["start"], s["end"]) for key, s in spans.items() if key in shards])
    assert steps_at_once <= 2, f"{steps_at_once} steps held pool {POOL} at once (limit 2)"
    live_at_once = _max_overlap([(s["start"], s["end"]) for key, s in spans.items() if key not in shards])
    assert live_at_once <= 2, f"{live_at_once} steps held pool {DEFAULT_NAMES.live_pool} at once (limit 2)"
    runs = _query(pg, password, "SELECT start_time, end_time FROM runs WHERE start_time IS NOT NULL")
    runs_at_once = _max_overlap([(start, end) for start, end in runs])
    assert runs_at_once <= 2, f"{runs_at_once} runs at once (max_concurrent_runs 2)"

    # Run storage also holds backfills and daemon heartbeats; schedule storage the sensors' state and ticks.
    backfills = _query(pg, password, "SELECT status FROM bulk_actions WHERE key = %s", (backfill_id,))
    assert backfills == [("COMPLETED_SUCCESS",)], backfills
    heartbeats = {row[0] for row in _query(pg, password, "SELECT daemon_type FROM daemon_heartbeats")}
    assert {"SENSOR", "BACKFILL", "QUEUED_RUN_COORDINATOR"} <= heartbeats, heartbeats
    sensors = "SELECT status FROM instigators WHERE instigator_type = 'SENSOR' AND instigator_body LIKE %s"
    for sensor in (HISTORY_SENSOR, REALTIME_SENSOR):
        state = _query(pg, password, sensors, (f'%"{sensor}"%',))
        assert state == [("STOPPED",)], f"{sensor} in instigators: {state}"
    ticks = _query(pg, password, "SELECT count(*) FROM job_ticks WHERE type = 'SENSOR'")[0][0]
    assert ticks > 0, "no sensor ticks in the schedule storage"
    return {"runs_at_once": runs_at_once, "steps_at_once": steps_at_once}
