"""The transient-fault campaign: catalog, 4 weeks of history and realtime run through Dagster while the local CDF
injects seeded 503s, bursts of 429 with Retry-After, stalls beyond the client timeout, dropped connections, 500s
with and without `cdf-is-auto-retryable`, and a token-endpoint outage. Every run completes (the SDK's retries
plus Dagster's step retries) and the target then holds exactly the shifted source, every (series, timestamp,
value, status), from the oldest week to the realtime mark, and nothing after now.

Run with `-s` to see the campaign's figures (requests, faults, retries, points verified): docs/reliability.md.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeId

from oid_sync_dagster.config import load_config
from oid_sync_dagster.integration.assets import CATALOG_KEY, REALTIME_KEY
from oid_sync_dagster.integration.build import build_definitions
from oid_sync_dagster.integration.catalog_state import state_of
from oid_sync_dagster.integration.partitions import key_of
from oid_sync_dagster.integration.resources import OidSyncResource
from oid_sync_dagster.integration.translator import OidSyncTranslator, instrument_group
from oid_sync_dagster.local_cdf.faults import Fault
from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.sync import state as sync_state
from oid_sync_dagster.sync.catalog import list_source_series
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.windows import DAY_MS, MINUTE_MS, WEEK_MS, Window, history_weeks
from oid_sync_dagster_tests.conftest import make_client
from oid_sync_dagster_tests.dagster.conftest import materialize
from oid_sync_dagster_tests.sync.conftest import Points, assert_same_points, read_points

TARGET = "target"
SPACE = "oid_sync"
OFFSET_MS = WEEK_MS + 10 * MINUTE_MS
WEEKS = 4
SEED = 20261201
CLIENT_TIMEOUT_S = 2  # the config's request_timeout: stalls of 3 s are read timeouts
# With a 40 s token lifetime the SDK (30 s leeway) fetches a new token every ~10 s, so the outage bites.
TOKEN_TTL_S = 40
THROTTLE_BURST = 4
# The shipped step retries (10/30/70 s) against a 30 s outage, scaled down by five to keep CI short: the same
# policy shape (integration/assets.py STEP_RETRY) with 2/6/14 s waits against a 6 s outage.
TOKEN_OUTAGE_S = 6.0
STEP_RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


@dataclass
class Campaign:
    cdf: RunningLocalCDF
    resource: OidSyncResource
    catalog: list[CatalogSeries]
    defs: dg.Definitions
    now_ms: int  # the test's one reading of the wall clock: the catalog's anchor and the weeks


@pytest.fixture
def campaign(tmp_path: Path) -> Iterator[Campaign]:
    settings = LocalCDFSettings(data_dir=tmp_path / "local-cdf", token_ttl_s=TOKEN_TTL_S)
    with serve_in_thread(settings) as cdf:
        config_file = tmp_path / "oid_sync.yaml"
        config_file.write_text(
            f"sync_configuration:\n  history_weeks: {WEEKS}\n  request_timeout: {CLIENT_TIMEOUT_S}s\n"
        )
        resource = OidSyncResource(
            config_path=str(config_file), local_cdf_url=cdf.base_url, local_target_project=TARGET
        )
        source = list_source_series(make_client(cdf, "publicdata"), "pi:")
        catalog: list[CatalogSeries] = []  # two series of every group, and two string series
        for group in ("pressure", "temperature", "flow", "level", "machine", "other"):
            catalog += [s for s in source if instrument_group(s) == group and not s.is_string][:2]
        catalog += [s for s in source if s.is_string][:2]
        now_ms = int(time.time() * 1000)
        defs = build_definitions(
            state_of(catalog, now_ms),
            config=load_config(config_file),
            resource=resource,
            step_retry=STEP_RETRY,
            clock=lambda: now_ms,
        )
        yield Campaign(cdf, resource, catalog, defs, now_ms)


def _inject_background_faults(cdf: RunningLocalCDF) -> None:
    """The weather every run meets: seeded, so a campaign repeats request for request."""
    faults = cdf.faults
    faults.reseed(SEED)
    api = r"^/api/v1/projects/"
    faults.rate(api, Fault(status=503, message="Service Unavailable"), rate=0.05)
    faults.rate(api, Fault(drop=True), rate=0.02)
    faults.rate(r"/timeseries/data(/list)?$", Fault(stall_s=CLIENT_TIMEOUT_S + 1.0), rate=0.02)
    faults.rate(api, Fault(status=500, headers={"cdf-is-auto-retryable": "true"}), rate=0.02)
    # Writes that CDF applies and then loses the answer to (5% of them): the client writes again (test_applied_faults).
    writes = r"/timeseries/data(/delete)?$|/models/instances$"
    faults.rate(writes, Fault(status=503, applied=True), rate=0.025, method="POST")
    faults.rate(writes, Fault(drop=True, applied=True), rate=0.025, method="POST")
    # There are few writes, so each kind is also scripted once: the first node upsert and the first insert.
    faults.script(r"/models/instances$", [Fault(status=503, applied=True)], method="POST")
    faults.script(r"/timeseries/data$", [Fault(drop=True, applied=True)], method="POST")
    # A burst of throttling: CDF says when to come back; the client backs off on its own schedule instead. Four in a
    # row wait ~4 s (full jitter, doubling from 0.5 s); eight would wait ~47 s, for no more coverage.
    faults.script(r"/timeseries/data/list$", [Fault(status=429, headers={"Retry-After": "1"})] * THROTTLE_BURST)


def _step_retries(instance: dg.DagsterInstance, run_id: str) -> int:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY).records
    return len(records)


def _expected_and_actual(
    source: CogniteClient, target: CogniteClient, series: CatalogSeries, start: int, mark: int
) -> tuple[Points, Points]:
    """The source from the oldest week (source time) to the realtime mark, shifted; and what the target holds."""
    expected = read_points(source, series.external_id, Window(start - OFFSET_MS, mark))
    expected.timestamps = expected.timestamps + OFFSET_MS
    return expected, read_points(target, NodeId(SPACE, series.external_id), Window(start, mark + OFFSET_MS))


@pytest.mark.slow
def test_transient_faults_lose_nothing(campaign: Campaign, caplog: pytest.LogCaptureFixture) -> None:
    cdf, resource, catalog, defs = campaign.cdf, campaign.resource, campaign.catalog, campaign.defs
    translator = OidSyncTranslator()
    weeks = history_weeks(campaign.now_ms, WEEKS)  # newest first
    caplog.set_level(logging.INFO, logger="oid_sync")
    _inject_background_faults(cdf)
    figures: dict[str, object] = {}
    with dg.instance_for_test() as instance:
        catalog_run = materialize(defs, instance, resource, [CATALOG_KEY])
        assert catalog_run.success, "the catalog run failed under transient faults"

        # The token endpoint goes down as the history run fetches its first token, for TOKEN_OUTAGE_S from then.
        outage = Fault(status=503, message="IdP unavailable")
        cdf.faults.outage(r"^/oauth2/token$", outage, TOKEN_OUTAGE_S, from_first_match=True)
        outage_started = time.monotonic()
        history_run = materialize(
            defs,
            instance,
            resource,
            [translator.get_asset_key(s) for s in catalog],
            tags={
                "dagster/asset_partition_range_start": key_of(weeks[-1]),
                "dagster/asset_partition_range_end": key_of(weeks[0]),
            },
        )
        history_s = time.monotonic() - outage_started
        assert history_run.success, "the history run failed under transient faults"
        # A plain 500 is not retried by the SDK on a realtime insert: Dagster's step retry heals it.
        cdf.faults.script(r"/timeseries/data$", [Fault(status=500, message="Internal Server Error")], method="POST")
        realtime_run = materialize(defs, instance, resource, [CATALOG_KEY, REALTIME_KEY])
        assert realtime_run.success, "the realtime run failed under transient faults"
        injected = dict(cdf.faults.injected)
        cdf.faults.clear()
        realtime_record = instance.get_run_record_by_id(realtime_run.run_id)
        assert realtime_record is not None and realtime_record.end_time is not None
        last_run_end_ms = int(realtime_record.end_time * 1000)  # no run may have written past its own end

        retries = {
            "catalog": _step_retries(instance, catalog_run.run_id),
            "history": _step_retries(instance, history_run.run_id),
            "realtime": _step_retries(instance, realtime_run.run_id),
        }
        # The outage failed the history step at least once, the plain 500 the realtime step exactly once.
        assert retries["history"] >= 1 and retries["realtime"] == 1
        assert history_s > TOKEN_OUTAGE_S  # the run outlasted the outage: it did not give up inside it
        materialized = {
            (e.asset_key, e.partition) for e in history_run.get_asset_materialization_events() if e.partition
        }
        assert materialized == {(translator.get_asset_key(s), key_of(w)) for s in catalog for w in weeks}
        checks = [e for e in history_run.get_asset_check_evaluations() if e.partition]
        assert len(checks) >= len(catalog) * WEEKS and all(e.passed for e in checks)
        # What the Dagster record says was written: every (series, week) materialization of every attempt (a
        # retried step rewrites whole weeks, so each one must count the whole week once), and realtime's total.
        history_written = [
            (e.asset_key, e.partition, e.materialization.metadata)
            for e in history_run.get_asset_materialization_events()
        ]
        realtime_written = [
            e.materialization.metadata["oid_sync/points_written"].value
            for e in realtime_run.get_asset_materialization_events()
            if e.asset_key == REALTIME_KEY
        ]
        assert len(realtime_written) == 1, realtime_written

    source, target = make_client(cdf, "publicdata"), make_client(cdf, TARGET)
    marks = sync_state.read_states(target, SPACE, [s.external_id for s in catalog])
    open_week = weeks[0] + WEEK_MS  # target time from here on is realtime's alone
    held_by_week: dict[tuple[dg.AssetKey, str], int] = {}
    realtime_floor_to_mark = 0  # target points in the final realtime attempt's windows (each series from its floor)
    realtime_open_week = 0  # target points in the open week, which only realtime writes
    verified = 0
    for series in catalog:
        mark = marks[series.external_id].synced_through
        assert mark is not None, f"{series.external_id}: realtime left no mark"
        expected, actual = _expected_and_actual(source, target, series, weeks[-1], mark)
        assert len(expected) > 0, f"{series.external_id}: the source has no points to compare"
        assert_same_points(actual, expected)
        ts = actual.timestamps
        for week in weeks:
            held = int(np.count_nonzero((ts >= week) & (ts < week + WEEK_MS)))
            held_by_week[(translator.get_asset_key(series), key_of(week))] = held
        # Realtime's window ends at the mark and starts no earlier than min(end - catch-up limit (1 d), the open
        # week's source start) (windows.realtime_source_window): its target range is [floor, mark) + offset.
        floor = min(mark - DAY_MS, open_week - OFFSET_MS) + OFFSET_MS
        realtime_floor_to_mark += int(np.count_nonzero(ts >= floor))
        realtime_open_week += int(np.count_nonzero(ts >= open_week))
        everything = read_points(
            target, NodeId(SPACE, series.external_id), Window(0, last_run_end_ms + 365 * 24 * 3_600_000)
        )
        assert everything.timestamps.max() <= last_run_end_ms, f"{series.external_id}: a point lies in the future"
        assert len(everything) == len(actual), f"{series.external_id}: points outside the synced range"
        verified += len(actual)

    # Every history materialization, of every attempt, counts exactly the points its (series, week) holds: a point
    # credited twice (an insert retried after a fault) or not at all shows here, though the target cannot hold it.
    assert {(key, partition) for key, partition, _ in history_written} == set(held_by_week)
    for key, partition, metadata in history_written:
        held = held_by_week[(key, partition)]
        assert metadata["oid_sync/points_written"].value == held, f"{key.to_user_string()} {partition}: written != held"
        assert metadata["oid_sync/target_points"].value == held, f"{key.to_user_string()} {partition}: checked != held"
    # Realtime ran twice (the plain 500 failed the first attempt): the engine logs each attempt's points written.
    attempts = [
        int(m.group(1).replace(",", ""))
        for r in caplog.records
        if (m := re.match(r"realtime sync: .*\| DPs: ([\d,]+) \|", r.getMessage()))
    ]
    assert len(attempts) == 2 and attempts[1] == realtime_written[0], (attempts, realtime_written)
    # Every open-week point was credited by some attempt; the final attempt credited no more than its windows hold,
    # and exactly that when the first attempt credited nothing (its one insert failed: every series read again).
    assert sum(attempts) >= realtime_open_week, (attempts, realtime_open_week)
    assert realtime_written[0] <= realtime_floor_to_mark, (realtime_written, realtime_floor_to_mark)
    assert attempts[0] > 0 or realtime_written[0] == realtime_floor_to_mark, (attempts, realtime_floor_to_mark)

    log = cdf.request_log
    statuses = Counter(r.status for r in log.records)
    figures = {
        "series": len(catalog),
        "weeks": WEEKS,
        "requests": len(log.records),
        "token_requests": len(log.matching(r"^/oauth2/token$")),
        "faults_injected": sum(injected.values()),
        "faults_by_kind": dict(sorted(injected.items())),
        # Calls repeated by sync/retry.py after a connection broke mid-response (the SDK does not retry those).
        "transport_retries": sum(1 for r in caplog.records if r.getMessage().startswith("Retrying ")),
        "responses_by_status": {str(k): v for k, v in sorted(statuses.items())},
        "dagster_step_retries": retries,
        "history_run_s": round(history_s, 1),
        "points_verified": verified,
    }
    print("transient-fault campaign:", json.dumps(figures, sort_keys=True))
    # The weather was real: every kind of fault met the runs, dozens of them.
    assert sum(injected.values()) > 50 and injected["429"] == THROTTLE_BURST
    assert all(injected.get(kind, 0) > 0 for kind in ("503", "500", "drop", "stall", "applied-503", "applied-drop"))
