"""OidSyncComponent and the public surface, as a Dagster team meets them.

* the package's public names import lazily: the engine and the local CDF import without Dagster;
* a user's own asset with `@oid_sync_assets` and `yield from oid_sync.sync_weeks(context)` writes exact weeks and
  exact per-week records;
* bad attributes fail at load with the attribute's path, the value and the reason, before any request;
* the attributes reach the definitions (translation, automation, checks, config).
"""

# No `from __future__ import annotations`: Dagster inspects the user asset's annotations at runtime.

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes import DataSetWrite, TimeSeriesWrite
from cognite.client.data_classes.data_modeling import NodeId

from oid_sync_dagster import OidSyncComponent, OidSyncResource, OidSyncTranslator, oid_sync_assets
from oid_sync_dagster.integration.catalog_state import CatalogState
from oid_sync_dagster.integration.component import ComponentAttributeError
from oid_sync_dagster.integration.keys import CATALOG_KEY
from oid_sync_dagster.integration.partitions import key_of, weekly_partitions
from oid_sync_dagster.local_cdf.server import RunningLocalCDF
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.windows import MINUTE_MS, WEEK_MS, Window, history_weeks, shift
from oid_sync_dagster_tests.conftest import make_client
from oid_sync_dagster_tests.dagster.conftest import materialize
from oid_sync_dagster_tests.sync.conftest import assert_same_points, read_points

OFFSET = WEEK_MS + 10 * MINUTE_MS
SPACE = "oid_sync"


def test_the_engine_and_the_local_cdf_import_without_dagster_and_the_public_names_import_lazily() -> None:
    probe = textwrap.dedent(
        """
        import sys
        import oid_sync_dagster
        import oid_sync_dagster.sync.engine
        import oid_sync_dagster.local_cdf.server
        before = "dagster" in sys.modules
        component = oid_sync_dagster.OidSyncComponent
        print(before, "dagster" in sys.modules, component.__module__, sorted(oid_sync_dagster.__all__))
        """
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out[:3] == ["False", "True", "oid_sync_dagster.integration.component"]
    assert " ".join(out[3:]) == str(["OidSyncComponent", "OidSyncResource", "OidSyncTranslator", "oid_sync_assets"])


# ---------- a user's own asset ----------


@pytest.mark.clock  # weeks from the wall clock: also run under faketime at four instants (Makefile)
def test_a_users_own_asset_syncs_exact_weeks_through_the_resource(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resource: OidSyncResource,
    small_catalog: list[CatalogSeries],
    source: CogniteClient,
    target: CogniteClient,
    now_ms: int,
) -> None:
    assert materialize(defs, instance, resource, [CATALOG_KEY]).success  # the target's nodes
    chosen = [s for s in small_catalog if not s.is_string][:2] + [s for s in small_catalog if s.is_string][:1]
    translator = OidSyncTranslator(key_prefix=("mine",))
    seen: list[str] = []

    @oid_sync_assets(name="my_series", series=chosen, partitions_def=weekly_partitions(3, now_ms), deps=())
    def my_series(context: dg.AssetExecutionContext, oid_sync: OidSyncResource):  # type: ignore[no-untyped-def]
        seen.extend(context.partition_keys)  # the user's own code around the sync
        yield from oid_sync.sync_weeks(context)

    weeks = sorted(history_weeks(now_ms, 2))
    result = dg.materialize(
        [my_series],
        instance=instance,
        resources={"oid_sync": resource},
        tags={
            "dagster/asset_partition_range_start": key_of(weeks[0]),
            "dagster/asset_partition_range_end": key_of(weeks[1]),
        },
    )
    assert result.success
    assert seen == [key_of(w) for w in weeks]
    expected_records = {}
    for item in chosen:
        for week in weeks:
            window = Window(week, week + WEEK_MS)
            wanted = read_points(source, item.external_id, shift(window, -OFFSET))
            wanted.timestamps = wanted.timestamps + OFFSET
            got = read_points(target, NodeId(SPACE, item.external_id), window)
            assert_same_points(got, wanted)
            assert len(got) > 0
            expected_records[(OidSyncTranslator().get_asset_key(item), key_of(week))] = len(got)
    records = {
        (e.asset_key, e.partition): e.materialization.metadata["oid_sync/points_written"].value  # type: ignore[misc]
        for e in result.get_asset_materialization_events()
    }
    assert records == expected_records
    checks = {(e.asset_key, e.partition): e.passed for e in result.get_asset_check_evaluations()}
    assert checks == dict.fromkeys(expected_records, True)
    assert translator.get_asset_key(chosen[0]).path[0] == "mine"  # a translator is the user's to choose


def test_an_asset_without_series_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="oid_sync_assets 'empty': series: no series given"):
        oid_sync_assets(name="empty", series=[], partitions_def=weekly_partitions(1, 0))


# ---------- attributes ----------

BAD_ATTRIBUTES = [
    ({"config": {"sync_configuration": {"history_weeks": 0}}}, "config.sync_configuration.history_weeks", "0"),
    ({"config": {"time_offset": {"offset": "soon"}}}, "config.time_offset.offset", "'soon'"),
    ({"config": {"sync_configurations": {}}}, "config.sync_configurations", "Extra inputs are not permitted"),
    ({"config_file": "/nonexistent/ep_oid_sync.config.yaml"}, "config_file", "no such file"),
    (
        {
            "target": {
                "project": "Bad Project",
                "cluster": "westeurope-1",
                "token_url": "https://idp/token",
                "client_id": "x",
            }
        },
        "target.project",
        "'Bad Project'",
    ),
    (
        {"target": {"project": "demo", "token_url": "https://idp/token", "client_id": "x"}},
        "target.base_url",
        "give a cluster or a base_url",
    ),
    (
        {
            "target": {
                "project": "demo",
                "cluster": "w1",
                "token_url": "https://idp/t",
                "client_id": "x",
                "client_secret_env": "not a name",
            }
        },
        "target.client_secret_env",
        "should match pattern '^[A-Za-z_][A-Za-z0-9_]*$' (got '<redacted>')",  # a pasted secret is never echoed
    ),
    ({"automation": {"realtime_interval_s": 0}}, "automation.realtime_interval_s", "must be positive (got 0)"),
    ({"automation": {"history_max_attempts": -1}}, "automation.history_max_attempts", "must be positive (got -1)"),
    ({"automation": {"history_sensor": "paused"}}, "automation.history_sensor", "'running' or 'stopped'"),
    (
        {"checks": {"realtime_warn_lag_s": 600, "realtime_error_lag_s": 60}},
        "checks.realtime_error_lag_s",
        "must be at least checks.realtime_warn_lag_s (600) (got 60)",
    ),
    ({"translation": {"key_prefix": ["my prefix"]}}, "translation.key_prefix", "['my prefix']"),
    ({"translation": {"group_name": "all series"}}, "translation.group_name", "(got 'all series')"),
    ({"config_file": "a.yaml", "config": {}}, "config_file and config", "give one of them, not both"),
    ({"checks": {"realtime_warn_lag_s": 30}}, "checks.realtime_warn_lag_s", "must be at least 60 (got 30)"),
    ({"name": "oid"}, "name", "'oid' is the unnamed instance's prefix"),
    (
        {"config": {"sync_configuration": {"external_ids": ["pi:1"], "data_set_external_id": "pumps"}}},
        "config.sync_configuration",
        "give exact external ids, or a data set (with the prefix), not both",
    ),
]


@pytest.mark.parametrize(("attributes", "path", "shown"), BAD_ATTRIBUTES, ids=[case[1] for case in BAD_ATTRIBUTES])
def test_a_bad_attribute_fails_at_load_naming_path_value_and_reason_with_no_request(
    tmp_path: Path, live_cdf: RunningLocalCDF, monkeypatch: pytest.MonkeyPatch, attributes: dict, path: str, shown: str
) -> None:
    monkeypatch.setenv("OID_SYNC_LOCAL_CDF_URL", live_cdf.base_url)
    defs_yaml = tmp_path / "defs.yaml"
    defs_yaml.write_text(json.dumps({"type": "oid_sync_dagster.OidSyncComponent", "attributes": attributes}))
    live_cdf.request_log.clear()
    with pytest.raises(ComponentAttributeError) as raised:
        OidSyncComponent.from_defs_yaml(defs_yaml).load_definitions()
    message = str(raised.value)
    line = next((ln for ln in message.splitlines() if path in ln), None)
    assert line is not None, message
    assert shown in line, message
    assert list(live_cdf.request_log.records) == []


def test_a_secret_is_named_never_resolved_and_never_shown(
    live_cdf: RunningLocalCDF, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_TARGET_SECRET", "s3cr3t-value-never-shown")
    component = OidSyncComponent.model_validate(
        {
            "target": {
                "project": "demo",
                "cluster": "westeurope-1",
                "token_url": "https://idp/token",
                "client_id": "app",
                "client_secret_env": "MY_TARGET_SECRET",
            }
        }
    )
    resource = component.get_resource()
    assert resource.target_client_secret == dg.EnvVar("MY_TARGET_SECRET")
    assert resource.target_base_url == "https://westeurope-1.cognitedata.com"
    assert resource.target_scopes == "https://westeurope-1.cognitedata.com/.default"
    assert "s3cr3t" not in repr(resource) and "s3cr3t" not in component.model_dump_json()


@pytest.mark.clock
def test_attributes_reach_the_definitions(
    state: object, live_cdf: RunningLocalCDF, monkeypatch: pytest.MonkeyPatch, now_ms: int
) -> None:
    monkeypatch.setenv("OID_SYNC_LOCAL_CDF_URL", live_cdf.base_url)
    component = OidSyncComponent.model_validate(
        {
            "config": {"sync_configuration": {"history_weeks": 3}},
            "translation": {"key_prefix": ["plant", "valhall"], "group_name": "valhall"},
            "automation": {"realtime_interval_s": 45, "history_interval_s": 20},
        }
    )
    defs = component.build_definitions(state, clock=lambda: now_ms)  # type: ignore[arg-type]
    series_specs = [s for s in defs.resolve_all_asset_specs() if s.partitions_def is not None]
    assert series_specs and all(s.key.path[:2] == ["plant", "valhall"] for s in series_specs)
    assert {s.group_name for s in series_specs} == {"valhall"}  # one group, so one shard: one step per run
    shards = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition) and len(a.keys) > 1]
    assert [shard.node_def.name for shard in shards] == ["oid_valhall_series"]
    at = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    weeks = series_specs[0].partitions_def.get_partition_keys(current_time=at)  # type: ignore[union-attr]
    assert weeks == [key_of(w) for w in sorted(history_weeks(now_ms, 3))]
    intervals = {sensor.name: sensor.minimum_interval_seconds for sensor in defs.sensors or []}
    assert intervals == {"oid_realtime_sensor": 45, "oid_history_sensor": 20}
    assert component.get_resource().sync_config().sync_configuration.history_weeks == 3


def history_sensor_status(component: OidSyncComponent, state: object) -> dg.DefaultSensorStatus:
    defs = component.build_definitions(state)  # type: ignore[arg-type]
    return defs.resolve_sensor_def("oid_history_sensor").default_status


def test_the_history_sensor_starts_as_the_attribute_or_the_environment_says(
    state: object, live_cdf: RunningLocalCDF, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OID_SYNC_LOCAL_CDF_URL", live_cdf.base_url)
    monkeypatch.delenv("OID_SYNC_HISTORY_SENSOR", raising=False)
    running, stopped = dg.DefaultSensorStatus.RUNNING, dg.DefaultSensorStatus.STOPPED
    default = OidSyncComponent.model_validate({})
    assert history_sensor_status(default, state) == running
    paused = OidSyncComponent.model_validate({"automation": {"history_sensor": "stopped"}})
    assert history_sensor_status(paused, state) == stopped
    monkeypatch.setenv("OID_SYNC_HISTORY_SENSOR", "stopped")  # `OID_SYNC_HISTORY_SENSOR=stopped oid-sync dev`
    assert history_sensor_status(default, state) == stopped
    forced = OidSyncComponent.model_validate({"automation": {"history_sensor": "running"}})
    assert history_sensor_status(forced, state) == running  # the attribute wins over the environment
    # The realtime sensor keeps running either way: the live edge is never paused with history.
    defs = default.build_definitions(state)  # type: ignore[arg-type]
    assert defs.resolve_sensor_def("oid_realtime_sensor").default_status == running
    monkeypatch.setenv("OID_SYNC_HISTORY_SENSOR", "off")
    with pytest.raises(ComponentAttributeError, match=r"^OID_SYNC_HISTORY_SENSOR: running or stopped \(got 'off'\)$"):
        default.validate_attributes()


# ---------- two instances ----------


@pytest.mark.clock  # weeks from the wall clock: also run under faketime at four instants (Makefile)
def test_two_instances_load_side_by_side_and_sync_apart(
    state: CatalogState,
    live_cdf: RunningLocalCDF,
    monkeypatch: pytest.MonkeyPatch,
    instance: dg.DagsterInstance,
    source: CogniteClient,
    now_ms: int,
) -> None:
    monkeypatch.setenv("OID_SYNC_LOCAL_CDF_URL", live_cdf.base_url)
    default = OidSyncComponent.model_validate({})
    site_b = OidSyncComponent.model_validate(
        {"name": "site_b", "config": {"sync_configuration": {"instance_space": "site_b_space"}}}
    )
    both = dg.Definitions.merge(
        default.build_definitions(state, clock=lambda: now_ms), site_b.build_definitions(state, clock=lambda: now_ms)
    )
    dg.Definitions.validate_loadable(both)
    sensors = {sensor.name for sensor in both.sensors or []}
    assert sensors == {"oid_realtime_sensor", "oid_history_sensor", "site_b_realtime_sensor", "site_b_history_sensor"}
    assert {job.name for job in both.jobs or []} >= {"oid_realtime", "site_b_realtime", "oid_history", "site_b_history"}
    keys = [spec.key for spec in both.resolve_all_asset_specs()]
    assert len(keys) == len(set(keys)) == 2 * (len(state.series) + 3)
    assert {k.path[0] for k in keys} == {"oid", "site_b"}
    assert set((both.resources or {}).keys()) == {"oid_sync", "site_b_oid_sync"}

    week = history_weeks(now_ms, 1)[0]
    catalog_b = dg.AssetKey(["site_b", "target_catalog"])
    group_b = [s for s in both.resolve_all_asset_specs() if s.key.path[0] == "site_b" and s.group_name == "pressure"]
    run = dg.materialize(
        [a for a in both.assets or [] if isinstance(a, dg.AssetsDefinition)],
        selection=[catalog_b],
        instance=instance,
        resources=both.resources,
    )
    assert run.success
    run = dg.materialize(
        [a for a in both.assets or [] if isinstance(a, dg.AssetsDefinition)],
        selection=[s.key for s in group_b],
        partition_key=key_of(week),
        instance=instance,
        resources=both.resources,
    )
    assert run.success
    assert {e.asset_key for e in run.get_asset_materialization_events()} == {s.key for s in group_b}
    # site_b wrote into its own instance space; the default instance's nodes do not exist.
    target = make_client(live_cdf, "oid-sync")
    window = Window(week, week + WEEK_MS)
    for spec in group_b:
        value = spec.metadata["external_id"]
        xid = str(value.value if isinstance(value, dg.MetadataValue) else value)
        wanted = read_points(source, xid, shift(window, -OFFSET))
        wanted.timestamps = wanted.timestamps + OFFSET
        assert_same_points(read_points(target, NodeId("site_b_space", xid), window), wanted)
    assert target.data_modeling.instances.retrieve(nodes=[NodeId("oid_sync", xid)]).nodes == []
    # Each instance's jobs carry its own kind: one instance's sensors never wait on the other's runs.
    assert both.resolve_job_def("site_b_history").tags["oid_sync/kind"] == "site_b/history"
    assert both.resolve_job_def("oid_history").tags["oid_sync/kind"] == "history"


def test_a_bad_instance_name_is_refused_by_attribute() -> None:
    with pytest.raises(ComponentAttributeError, match=r"^name: lower-case letters.*\(got 'Site B'\)$"):
        OidSyncComponent.model_validate({"name": "Site B"}).validate_attributes()


# ---------- any CDF source ----------


@pytest.mark.clock  # weeks from the wall clock: also run under faketime at four instants (Makefile)
def test_a_selection_from_a_second_source_project_is_copied_exactly(
    live_cdf: RunningLocalCDF, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance, now_ms: int
) -> None:
    """A written project on the local CDF is the source: series picked by external ids, or by data set."""
    monkeypatch.setenv("OID_SYNC_LOCAL_CDF_URL", live_cdf.base_url)
    plant = make_client(live_cdf, "plant-b")
    data_set = plant.data_sets.create(DataSetWrite(external_id="plant-b-pumps", name="pumps"))
    plant.time_series.create(
        [
            TimeSeriesWrite(external_id="pump:1:flow", name="P1 flow", unit="m3/h", data_set_id=data_set.id),
            TimeSeriesWrite(external_id="pump:2:flow", name="P2 flow", unit="m3/h", data_set_id=data_set.id),
            TimeSeriesWrite(external_id="pump:1:mode", name="P1 mode", is_string=True),
        ]
    )
    # Five weeks of points up to the publication edge a week behind now, like OID's.
    start, edge = now_ms - 5 * WEEK_MS, now_ms - WEEK_MS
    stamps = np.arange(start - start % MINUTE_MS, edge, 5 * MINUTE_MS, dtype=np.int64)
    plant.time_series.data.insert(
        list(zip(stamps.tolist(), np.sin(stamps / 1e7).tolist(), strict=True)), external_id="pump:1:flow"
    )
    plant.time_series.data.insert(
        list(zip(stamps.tolist(), (stamps % 97).astype(float).tolist(), strict=True)), external_id="pump:2:flow"
    )
    modes = ["AUTO" if (t // (6 * 3600_000)) % 2 else "MAN" for t in stamps.tolist()]
    plant.time_series.data.insert(list(zip(stamps.tolist(), modes, strict=True)), external_id="pump:1:mode")

    def component(selection: dict[str, object]) -> OidSyncComponent:
        config = {"oid_connection": {"project": "plant-b"}, "sync_configuration": {"history_weeks": 2, **selection}}
        return OidSyncComponent.model_validate({"name": "plant_b", "config": config})

    def external_ids(defs: dg.Definitions) -> set[str]:
        found = set()
        for spec in defs.resolve_all_asset_specs():
            if (value := spec.metadata.get("external_id")) is not None:
                found.add(str(value.value if isinstance(value, dg.MetadataValue) else value))
        return found

    by_data_set = component({"external_id_prefix": "pump:", "data_set_external_id": "plant-b-pumps"})
    assert external_ids(by_data_set.load_definitions()) == {"pump:1:flow", "pump:2:flow"}
    with pytest.raises(ValueError, match=r"sync_configuration.external_ids: not in the source: pump:9:flow"):
        component({"external_ids": ["pump:1:flow", "pump:9:flow"]}).load_definitions()

    chosen = component({"external_ids": ["pump:1:flow", "pump:1:mode"]})
    defs = chosen.load_definitions(clock=lambda: now_ms)
    assert external_ids(defs) == {"pump:1:flow", "pump:1:mode"}
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    resources = defs.resources or {}
    assert dg.materialize(
        assets, selection=[dg.AssetKey(["plant_b", "target_catalog"])], instance=instance, resources=resources
    ).success
    week = history_weeks(now_ms, 1)[0]
    series_keys = [s.key for s in defs.resolve_all_asset_specs() if s.partitions_def is not None]
    run = dg.materialize(
        assets, selection=series_keys, partition_key=key_of(week), instance=instance, resources=resources
    )
    assert run.success
    target = make_client(live_cdf, "oid-sync")
    window = Window(week, week + WEEK_MS)
    written = {}
    for xid in ("pump:1:flow", "pump:1:mode"):
        wanted = read_points(plant, xid, shift(window, -OFFSET))
        wanted.timestamps = wanted.timestamps + OFFSET
        got = read_points(target, NodeId("oid_sync", xid), window)
        assert_same_points(got, wanted)
        assert len(got) == 7 * 24 * 12  # a point every 5 minutes, the whole week
        written[xid] = len(got)
    records = {
        e.asset_key.path[-1]: e.materialization.metadata["oid_sync/points_written"].value  # type: ignore[misc]
        for e in run.get_asset_materialization_events()
    }
    assert records == {"pump_1_flow": written["pump:1:flow"], "pump_1_mode": written["pump:1:mode"]}


@pytest.mark.clock  # weeks from the wall clock: also run under faketime at four instants (Makefile)
def test_a_one_week_run_logs_nothing_to_ignore_and_realtime_has_a_freshness_policy(
    defs: dg.Definitions, instance: dg.DagsterInstance, resource: OidSyncResource, now_ms: int
) -> None:
    assert materialize(defs, instance, resource, [CATALOG_KEY]).success
    week = key_of(history_weeks(now_ms, 1)[0])
    run = materialize(defs, instance, resource, dg.AssetSelection.groups("pressure"), partition_key=week)
    assert run.success
    lines = [entry.user_message for entry in instance.all_logs(run.run_id)]
    assert not [line for line in lines if "did not yield or return expected outputs" in line]
    checks = run.get_asset_check_evaluations()
    assert checks and all(e.partition == week and e.passed for e in checks)
    # Each check names the week's materialization it checked (Dagster links a check result to it).
    latest = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=checks[0].asset_key), limit=1)
    stored = {record.asset_key: record.storage_id for record in latest.records}
    assert checks[0].target_materialization_data is not None
    assert checks[0].target_materialization_data.storage_id == stored[checks[0].asset_key]
    (realtime,) = [s for s in defs.resolve_all_asset_specs() if s.key == dg.AssetKey(["oid", "realtime"])]
    assert realtime.freshness_policy == dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=1), warn_window=timedelta(minutes=15)
    )


def test_a_secret_pasted_into_an_attribute_is_never_echoed(tmp_path: Path) -> None:
    defs_yaml = tmp_path / "defs.yaml"
    target = {"project": "demo", "cluster": "w1", "client_secret": "S3CR3T-pasted", "base_url": "https://u:S3CR3T@h.io"}
    defs_yaml.write_text(json.dumps({"type": "oid_sync_dagster.OidSyncComponent", "attributes": {"target": target}}))
    with pytest.raises(ComponentAttributeError) as raised:
        OidSyncComponent.from_defs_yaml(defs_yaml).load_definitions()
    message = str(raised.value)
    assert "target.client_secret: Extra inputs are not permitted (got '<redacted>')" in message
    assert "target.token_url: Field required" in message
    assert "S3CR3T" not in message


def test_a_long_inline_config_loads(live_cdf: RunningLocalCDF, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OID_SYNC_LOCAL_CDF_URL", live_cdf.base_url)
    ids = [f"pi:{160000 + i}" for i in range(40)]  # one line of JSON far longer than a file name may be
    component = OidSyncComponent.model_validate({"config": {"sync_configuration": {"external_ids": ids}}})
    assert component.get_resource().sync_config().sync_configuration.external_ids == ids
