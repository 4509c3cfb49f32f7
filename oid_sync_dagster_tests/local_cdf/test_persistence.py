"""The target store on disk: restarts, several OS processes writing at once, and a SIGKILL in mid-insert."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cognite.client import ClientConfig, CogniteClient
from cognite.client.credentials import OAuthClientCredentials
from cognite.client.data_classes import TimeSeriesWrite

from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET, LocalCDFSettings
from oid_sync_dagster.local_cdf.status import BAD, UNCERTAIN
from oid_sync_dagster_tests.conftest import FROZEN_NOW_S, make_client
from oid_sync_dagster_tests.local_cdf.conftest import DAY_MS, NOW_MS

REPO = Path(__file__).resolve().parents[2]
BASE = NOW_MS - 30 * DAY_MS


def frozen_clock() -> float:
    return FROZEN_NOW_S


def settings_for(data_dir: Path) -> LocalCDFSettings:
    return LocalCDFSettings(data_dir=data_dir, clock=frozen_clock)


@contextmanager
def served(data_dir: Path) -> Iterator[tuple[RunningLocalCDF, CogniteClient]]:
    with serve_in_thread(settings_for(data_dir)) as cdf:
        yield cdf, make_client(cdf, "target")


def read_all(client: CogniteClient, xid: str) -> Any:
    return client.time_series.data.retrieve_arrays(
        external_id=xid,
        start=0,
        end=NOW_MS,
        limit=None,
        include_status=True,
        ignore_bad_datapoints=False,
    )


def ms(arr: Any) -> np.ndarray:
    return arr.timestamp.astype("datetime64[ms]").astype(np.int64)


# --- restart --------------------------------------------------------------------------------------------


def test_a_new_server_on_the_same_data_dir_serves_the_same_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "cdf"
    stamps = BASE + np.arange(50_000, dtype=np.int64) * 37_000  # ~21 days of day blocks
    values = np.sin(np.arange(50_000) / 100.0)
    status = [{"code": UNCERTAIN} if i % 997 == 0 else {"code": BAD} if i % 1009 == 0 else None for i in range(50_000)]
    numeric = [
        {"timestamp": int(t), "value": float(v), **({"status": s} if s else {})}
        for t, v, s in zip(stamps, values, status, strict=True)
    ]
    numeric[10]["value"] = None  # a Bad point without a value
    numeric[10]["status"] = {"code": BAD}
    strings = [(int(t), f"s{i}") for i, t in enumerate(stamps[:2000])]
    with served(data_dir) as (_, client):
        created = client.time_series.create(
            [
                TimeSeriesWrite(external_id="p:num", name="Numeric", unit="bar", metadata={"k": "v"}),
                TimeSeriesWrite(external_id="p:str", is_string=True, description="strings"),
            ]
        )
        client.time_series.data.insert_multiple(
            [{"external_id": "p:num", "datapoints": numeric}, {"external_id": "p:str", "datapoints": strings}]
        )
        client.time_series.data.delete_range(start=int(stamps[100]), end=int(stamps[200]), external_id="p:num")
        before_num, before_str = read_all(client, "p:num"), read_all(client, "p:str")
        before_series = {ts.external_id: ts.dump() for ts in client.time_series.list(limit=None)}

    with served(data_dir) as (_, client):
        after_num, after_str = read_all(client, "p:num"), read_all(client, "p:str")
        after_series = {ts.external_id: ts.dump() for ts in client.time_series.list(limit=None)}

    assert after_series == before_series
    assert {ts.external_id: ts.id for ts in created} == {x: s["id"] for x, s in after_series.items()}
    keep = np.ones(50_000, bool)
    keep[100:200] = False
    np.testing.assert_array_equal(ms(after_num), stamps[keep])
    np.testing.assert_array_equal(ms(after_num), ms(before_num))
    np.testing.assert_array_equal(after_num.value[11:], values[keep][11:])
    assert np.isnan(after_num.value[10]) and after_num.null_timestamps == {int(stamps[10])}
    expected_codes = [(s or {"code": 0})["code"] for s in status]
    expected_codes[10] = BAD
    assert after_num.status_code.tolist() == list(np.asarray(expected_codes)[keep])
    assert after_num.status_code.tolist() == before_num.status_code.tolist()
    assert after_str.value.tolist() == [f"s{i}" for i in range(2000)] == before_str.value.tolist()
    np.testing.assert_array_equal(ms(after_str), stamps[:2000])


# --- several processes ----------------------------------------------------------------------------------

RANGE = 400  # points per insert and process; both processes' ranges interleave in the same day blocks
ROUNDS = 30
STEP_MS = 1_000


def shared_range(proc: int, round_: int) -> np.ndarray:
    first = (2 * round_ + proc) * RANGE
    return BASE + (first + np.arange(RANGE, dtype=np.int64)) * STEP_MS


def own_range(proc: int, round_: int) -> np.ndarray:
    return BASE + (round_ * RANGE + np.arange(RANGE, dtype=np.int64)) * STEP_MS * 3 + proc


def value_of(timestamps: np.ndarray, proc: int) -> np.ndarray:
    return (timestamps - BASE) / 1000.0 + proc * 0.25


def pairs(timestamps: np.ndarray, values: np.ndarray) -> list[tuple[int, float]]:
    return list(zip(timestamps.tolist(), values.tolist(), strict=True))


def writer(data_dir: str, base_url: str | None, proc: int, barrier: Any) -> None:
    """A separate OS process: serve its own local CDF on the data dir (or use `base_url`'s), then insert."""

    def run(client: CogniteClient) -> None:
        barrier.wait(timeout=120)  # both processes start inserting together
        for round_ in range(ROUNDS):
            shared, own = shared_range(proc, round_), own_range(proc, round_)
            client.time_series.data.insert_multiple(
                [
                    {"external_id": "shared", "datapoints": pairs(shared, value_of(shared, proc))},
                    {"external_id": f"own:{proc}", "datapoints": pairs(own, value_of(own, proc))},
                ]
            )

    if base_url is None:
        with serve_in_thread(settings_for(Path(data_dir))) as cdf:
            run(make_client(cdf, "target"))
    else:
        credentials = OAuthClientCredentials(
            token_url=f"{base_url}/oauth2/token", client_id=DEV_CLIENT_ID, client_secret=DEV_CLIENT_SECRET, scopes=[]
        )
        run(
            CogniteClient(
                ClientConfig(client_name="oid-sync-tests", project="target", credentials=credentials, base_url=base_url)
            )
        )


def _run_writers(data_dir: Path, base_url: str | None) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    processes = [ctx.Process(target=writer, args=(str(data_dir), base_url, p, barrier)) for p in (0, 1)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(180)
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    assert [p.exitcode for p in processes] == [0, 0]


def _check_everything_is_there(client: CogniteClient) -> None:
    shared = read_all(client, "shared")
    expected_t = np.concatenate([shared_range(p, r) for r in range(ROUNDS) for p in (0, 1)])
    expected_v = np.concatenate([value_of(shared_range(p, r), p) for r in range(ROUNDS) for p in (0, 1)])
    assert len(shared) == 2 * ROUNDS * RANGE
    np.testing.assert_array_equal(ms(shared), expected_t)  # already ascending: the ranges interleave
    np.testing.assert_array_equal(shared.value, expected_v)
    for proc in (0, 1):
        own = read_all(client, f"own:{proc}")
        expected_own = np.concatenate([own_range(proc, r) for r in range(ROUNDS)])
        assert len(own) == ROUNDS * RANGE
        np.testing.assert_array_equal(ms(own), expected_own)
        np.testing.assert_array_equal(own.value, value_of(expected_own, proc))


def _create_series(client: CogniteClient) -> None:
    client.time_series.create([TimeSeriesWrite(external_id=x) for x in ("shared", "own:0", "own:1")])


def test_two_processes_each_serving_the_same_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "cdf"
    with served(data_dir) as (_, client):
        _create_series(client)
    _run_writers(data_dir, None)
    with served(data_dir) as (_, client):
        _check_everything_is_there(client)


def test_two_processes_writing_through_one_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "cdf"
    with served(data_dir) as (cdf, client):
        _create_series(client)
        _run_writers(data_dir, cdf.base_url)
        _check_everything_is_there(client)
        inserts = cdf.request_log.matching(r"/timeseries/data$", "POST")
        assert len(inserts) == 2 * ROUNDS and {r.status for r in inserts} == {200}


# --- SIGKILL in mid-insert ------------------------------------------------------------------------------

CRASH_BATCH = 5_000

CRASH_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from oid_sync_dagster_tests.conftest import make_client
    from oid_sync_dagster_tests.local_cdf.test_persistence import CRASH_BATCH, crash_batch, settings_for
    from oid_sync_dagster.local_cdf.server import serve_in_thread

    with serve_in_thread(settings_for(Path(sys.argv[1]))) as cdf:
        client = make_client(cdf, "target")
        batch = 0
        while True:
            t, v = crash_batch(batch)
            pairs = list(zip(t.tolist(), v.tolist()))
            client.time_series.data.insert_multiple(
                [{"external_id": "crash:a", "datapoints": pairs}, {"external_id": "crash:b", "datapoints": pairs}]
            )
            print(f"ack {batch}", flush=True)  # only after the server answered 200
            batch += 1
    """
)


def crash_batch(batch: int) -> tuple[np.ndarray, np.ndarray]:
    t = BASE + (batch * CRASH_BATCH + np.arange(CRASH_BATCH, dtype=np.int64)) * 10_000  # new blocks as it goes
    return t, np.cos(t / 1e7)


def test_sigkill_in_mid_insert_keeps_every_acknowledged_insert(tmp_path: Path) -> None:
    data_dir = tmp_path / "cdf"
    with served(data_dir) as (_, client):
        client.time_series.create([TimeSeriesWrite(external_id="crash:a"), TimeSeriesWrite(external_id="crash:b")])
    script = tmp_path / "serve_and_insert.py"
    script.write_text(CRASH_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, str(script), str(data_dir)], stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path
    )
    acked = -1
    try:
        assert child.stdout is not None
        while acked < 25:
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"the inserting process ended early (exit code {child.wait()})")
            assert line.startswith("ack "), line
            acked = int(line.split()[1])
        os.kill(child.pid, signal.SIGKILL)  # inserts are still streaming: this lands at an arbitrary point
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        if child.stdout is not None:
            for line in child.stdout:  # acks printed before the kill and not read yet
                acked = max(acked, int(line.split()[1]))
    assert child.returncode == -signal.SIGKILL

    database = data_dir / "projects" / "target.sqlite"
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    with served(data_dir) as (_, client):
        a, b = read_all(client, "crash:a"), read_all(client, "crash:b")
    assert len(a) % CRASH_BATCH == 0  # whole batches only: the in-flight one is all or nothing
    batches = len(a) // CRASH_BATCH
    assert acked + 1 <= batches <= acked + 2  # every acknowledged batch, and at most the one in flight
    expected_t = np.concatenate([crash_batch(i)[0] for i in range(batches)])
    expected_v = np.concatenate([crash_batch(i)[1] for i in range(batches)])
    for arr in (a, b):  # one request wrote both series: both or neither
        np.testing.assert_array_equal(ms(arr), expected_t)
        np.testing.assert_array_equal(arr.value, expected_v)
