"""The engine's insert paths over real HTTP: protobuf by default with the SDK's contract (headers, retries, errors),
JSON as a setting, and the fallback to JSON when the target refuses protobuf."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
from cognite.client import CogniteClient, global_config
from cognite.client import __version__ as sdk_version

from oid_sync_dagster.local_cdf.faults import Fault
from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.sync.engine import SyncEngine
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.windows import history_weeks, target_week_window
from oid_sync_dagster_tests.conftest import make_client
from oid_sync_dagster_tests.sync.conftest import Clock, engine_for
from oid_sync_dagster_tests.sync.test_engine import assert_exact_copy

INSERTS = r"/target/timeseries/data$"


def _insert_records(cdf: RunningLocalCDF) -> list:
    return cdf.request_log.matching(INSERTS, "POST")


def _sync_one_week(engine: SyncEngine, series: list[CatalogSeries], clock: Clock) -> int:
    engine.sync_catalog(series)
    week = history_weeks(clock.ms(), 1)[0]
    result = engine.sync_weeks(series, [week])
    assert result.failed == {}
    return week


def test_protobuf_inserts_carry_the_sdks_headers_and_land_exactly(
    engine: SyncEngine,
    subset: list[CatalogSeries],
    source_client: CogniteClient,
    target_client: CogniteClient,
    cdf: RunningLocalCDF,
    clock: Clock,
) -> None:
    assert engine.settings.copy.insert_encoding == "protobuf"
    week = _sync_one_week(engine, subset, clock)
    for series in subset:
        assert assert_exact_copy(source_client, target_client, series, target_week_window(week)) > 0
    inserts = _insert_records(cdf)
    assert inserts and {r.status for r in inserts} == {200}
    for record in inserts:
        headers = record.headers
        assert headers["content-type"] == "application/protobuf"
        # gzip as the SDK's own requests have it (process-wide; clients.configure_sdk turns it off on loopback).
        assert headers.get("content-encoding") == (None if global_config.disable_gzip else "gzip")
        assert (headers["x-cdp-app"], headers["x-cdp-sdk"], headers["cdf-version"]) == (
            target_client.config.client_name,
            f"CognitePythonSDK:{sdk_version}",
            "20230101",
        )
        assert f"CognitePythonSDK/{sdk_version}" in headers["user-agent"]


def test_json_is_a_setting(
    source_client: CogniteClient,
    target_client: CogniteClient,
    subset: list[CatalogSeries],
    cdf: RunningLocalCDF,
    clock: Clock,
) -> None:
    engine = engine_for(source_client, target_client, clock)
    engine = engine_for(source_client, target_client, clock, copy=replace(engine.settings.copy, insert_encoding="json"))
    week = _sync_one_week(engine, subset, clock)
    for series in subset:
        assert assert_exact_copy(source_client, target_client, series, target_week_window(week)) > 0
    assert {r.headers["content-type"] for r in _insert_records(cdf)} == {"application/json"}


def test_a_target_that_refuses_protobuf_gets_json_after_one_log_line(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = LocalCDFSettings(data_dir=tmp_path / "cdf", clock=clock.seconds, accept_protobuf_inserts=False)
    with serve_in_thread(settings) as cdf:
        source, target = make_client(cdf, "publicdata"), make_client(cdf, "target")
        engine = engine_for(source, target, clock)
        series = engine.list_catalog()[:8]
        with caplog.at_level(logging.INFO, logger="oid_sync"):
            week = _sync_one_week(engine, series, clock)
            realtime = engine.sync_realtime(series)
        assert realtime.failed == {}
        for item in series:
            assert assert_exact_copy(source, target, item, target_week_window(week)) > 0
        refusals = [r for r in caplog.records if "refused a protobuf insert" in r.getMessage()]
        assert [r.getMessage() for r in refusals] == [
            "The target refused a protobuf insert (415 Unsupported content-type 'application/protobuf': this "
            "endpoint takes application/json.): inserting as JSON from now on"
        ]
        kinds = [(r.headers["content-type"], r.status) for r in _insert_records(cdf)]
        # Each writer thread may have sent one protobuf body before the first refusal came back; after it, only JSON.
        refused = [k for k in kinds if k[0] == "application/protobuf"]
        assert refused and all(status == 415 for _, status in refused)
        assert len(refused) <= engine.settings.copy.writers
        first_json = kinds.index(("application/json", 200))
        assert all(k == ("application/json", 200) for k in kinds[first_json + len(refused) :])
        assert engine.inserter.encoding == "json"


@pytest.mark.parametrize(
    ("faults", "retried"),
    [
        ([Fault(status=503), Fault(status=502), Fault(status=429), Fault(status=504)], True),
        ([Fault(status=500, headers={"cdf-is-auto-retryable": "true"})], True),
        ([Fault(drop=True), Fault(drop=True)], True),
        ([Fault(status=500, message="disk full")], False),
    ],
    ids=["429-5xx", "auto-retryable", "broken-connection", "plain-500"],
)
def test_protobuf_inserts_are_retried_as_the_sdk_retries(
    source_client: CogniteClient,
    target_client: CogniteClient,
    subset: list[CatalogSeries],
    cdf: RunningLocalCDF,
    clock: Clock,
    faults: list[Fault],
    retried: bool,
) -> None:
    engine = engine_for(source_client, target_client, clock)
    one_writer = engine_for(
        source_client, target_client, clock, copy=replace(engine.settings.copy, points_per_insert=5_000, writers=1)
    )
    one_writer.sync_catalog(subset)
    cdf.request_log.clear()
    cdf.faults.script(INSERTS, faults, method="POST")
    week = history_weeks(clock.ms(), 1)[0]
    result = one_writer.sync_weeks(subset, [week])
    inserts = _insert_records(cdf)
    assert [r.fault for r in inserts[: len(faults)]] == [True] * len(faults)
    if retried:
        assert result.failed == {}
        assert all(r.status == 200 for r in inserts[len(faults) :])
        for series in subset:
            assert assert_exact_copy(source_client, target_client, series, target_week_window(week)) > 0
    else:
        # Not retried: the batch's series fail (honestly counted), the rest land; the next sync heals.
        assert len(result.failed) >= 1
        assert all("insert failed: 500 disk full" in errors[0] for errors in result.failed.values())
        assert all(r.status == 200 for r in inserts[1:])
        healed = one_writer.sync_weeks(subset, [week])
        assert healed.failed == {}
        for series in subset:
            assert assert_exact_copy(source_client, target_client, series, target_week_window(week)) > 0
