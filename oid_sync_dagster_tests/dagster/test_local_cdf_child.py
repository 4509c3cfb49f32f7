"""kill -9 of the local CDF child under a running step: the step fails retryably, its retry heals.

In local mode each run starts the local CDF as a child process on the data directory and stops it at the end. Here
the child is killed while a series step holds an insert (committed, its answer stalled by the child's fault
injector): the step fails with broken connections, the resource finds its local CDF gone and starts it again on the
same data, and the step's retry (in the same process: the in-process executor, as the realtime job runs) completes
the week. Afterwards the target holds exactly the shifted source, and Dagster's record has one retry and one
materialization per series.
"""

# No `from __future__ import annotations`: Dagster inspects annotations of what it wraps at runtime.

import os
import signal
import threading
import time
from pathlib import Path

import dagster as dg
import httpx2
from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeId

from oid_sync_dagster import OidSyncResource
from oid_sync_dagster.config import SyncConfig
from oid_sync_dagster.integration.build import build_definitions
from oid_sync_dagster.integration.catalog_state import CatalogState
from oid_sync_dagster.integration.keys import CATALOG_KEY
from oid_sync_dagster.integration.partitions import key_of
from oid_sync_dagster.local_cdf.server import serve_in_thread
from oid_sync_dagster.local_cdf.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET, LocalCDFSettings
from oid_sync_dagster.sync.windows import MINUTE_MS, WEEK_MS, Window, history_weeks, shift
from oid_sync_dagster_tests.conftest import make_client
from oid_sync_dagster_tests.dagster.conftest import materialize
from oid_sync_dagster_tests.sync.conftest import assert_same_points, read_points

GROUP = "flow"
OFFSET = WEEK_MS + 10 * MINUTE_MS
HOLD_S = 60.0  # the held insert's answer comes this late: the kill lands in that wait
WAIT_S = 60.0


def _child_of(data_dir: Path) -> tuple[int, Path]:
    """The local CDF child serving `data_dir` (pid, the file it reports its base URL in), once it runs."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode().split("\0")
            except OSError:
                continue
            if "local-cdf" in argv and str(data_dir) in argv and "--ready-file" in argv:
                return int(entry), Path(argv[argv.index("--ready-file") + 1])
        time.sleep(0.01)  # a process appears; there is no event to wait on
    raise AssertionError(f"no local CDF child on {data_dir} within {WAIT_S} s")


def _admin(base_url: str, method: str, body: object = None) -> dict[str, object]:
    token = httpx2.post(
        f"{base_url}/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": DEV_CLIENT_ID, "client_secret": DEV_CLIENT_SECRET},
    ).json()["access_token"]
    response = httpx2.request(
        method, f"{base_url}/_local/faults", json=body, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_local_cdf_child_killed_under_a_running_step_is_started_again_and_the_retry_heals(
    tmp_path: Path, state: CatalogState, instance: dg.DagsterInstance, source: CogniteClient, now_ms: int
) -> None:
    data_dir = tmp_path / "child-cdf"
    resource = OidSyncResource(local_cdf_dir=str(data_dir))  # local mode; the local CDF as a child process
    defs = build_definitions(
        state, config=SyncConfig(), resource=resource, clock=lambda: now_ms, step_retry=dg.RetryPolicy(max_retries=1)
    )
    specs = [s for s in defs.resolve_all_asset_specs() if s.group_name == GROUP]
    assert len(specs) == 2
    week = history_weeks(now_ms, 1)[0]
    # One run: the target catalog's step, then the series step. The insert is held from the catalog step on.
    runs: list[dg.ExecuteInProcessResult] = []
    run = threading.Thread(
        target=lambda: runs.append(
            materialize(defs, instance, resource, [CATALOG_KEY, *(s.key for s in specs)], partition_key=key_of(week))
        )
    )
    run.start()
    try:
        pid, ready_file = _child_of(data_dir)
        deadline = time.monotonic() + WAIT_S
        while not ready_file.exists():
            assert time.monotonic() < deadline, "the local CDF child never reported its address"
            time.sleep(0.01)
        base_url = ready_file.read_text().strip()
        hold = {"path": "/timeseries/data$", "method": "POST", "stall_s": HOLD_S, "applied": True, "count": 1}
        _admin(base_url, "POST", {"rules": [hold]})
        deadline = time.monotonic() + WAIT_S
        while not _admin(base_url, "GET")["injected"]:
            assert time.monotonic() < deadline, "no datapoint insert reached the local CDF child"
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    finally:
        run.join()

    (result,) = runs
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    retried = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert [e.step_key for e in retried] == [f"oid_{GROUP}_series"]
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {CATALOG_KEY, *(s.key for s in specs)}
    # The restarted child's writes and the killed one's acknowledged writes: exactly the shifted source.
    with serve_in_thread(LocalCDFSettings(data_dir=data_dir)) as cdf:
        target = make_client(cdf, "oid-sync")
        window = Window(week, week + WEEK_MS)
        for spec in specs:
            xid = str(spec.metadata["external_id"])
            wanted = read_points(source, xid, shift(window, -OFFSET))
            wanted.timestamps = wanted.timestamps + OFFSET
            assert len(wanted.timestamps) > 0
            assert_same_points(read_points(target, NodeId("oid_sync", xid), window), wanted)
