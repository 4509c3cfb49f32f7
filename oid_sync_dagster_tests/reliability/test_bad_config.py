"""Bad configuration fails before any network call, naming the field (YAML key or env var) and the value as given.

Every case runs the path a Dagster run takes (OidSyncResource.open_engine: YAML file, env values, clients,
engine) and then the first call of each side, against a local CDF that both sides (and the IdP) point at. That
local CDF's request log is the proof: it stays empty for every bad case, while the valid control case, through
the same harness, leaves requests in it. test_config.py checks the parsing rules one by one (fields and values
as substrings); this table is end to end, with each whole message asserted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from pydantic import BaseModel

from oid_sync_dagster.config import (
    ConfigError,
    Connections,
    SyncConfig,
    load_config,
    settings_from_env,
    target_connection_from_env,
)
from oid_sync_dagster.integration.resources import ENV_FIELDS, OidSyncResource
from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.sync.windows import WEEK_MS, history_weeks
from oid_sync_dagster_tests.conftest import FROZEN_NOW_S, make_client
from oid_sync_dagster_tests.sync.conftest import Clock, engine_for

UNSET = None  # an env var the case removes
RELATIVE = "expected <integer><unit>[...] with unit s, m, h, d or w, optionally followed by '-ago' (e.g. '15m', '1w10m', '168h-ago')"  # noqa: E501
REAL_TARGET_MISSING = (
    "CDF_PROJECT='target' selects a real target CDF project, but these env vars are unset or empty: {}. Set them "
    "(the CDF Toolkit's names), or unset CDF_PROJECT to write to the local CDF."
)
ENV_HEADER = "invalid target connection in the environment:\n  "
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

# (case id, YAML, env changes from the valid base, the whole error message). "{base}" is the local CDF's URL.
YAML_CASES: list[tuple[str, str, str]] = [
    ("unit-y", "sync_configuration: {sync_all_end: 168y-ago}",
     f"sync_configuration.sync_all_end: invalid relative time '168y-ago': {RELATIVE}"),
    ("unit-words", "sync_configuration: {sync_realtime_start: 15 minutes}",
     f"sync_configuration.sync_realtime_start: invalid relative time '15 minutes': {RELATIVE}"),
    ("unit-fraction", "sync_configuration: {realtime_catch_up_limit: 1.5h}",
     f"sync_configuration.realtime_catch_up_limit: invalid relative time '1.5h': {RELATIVE}"),
    ("unit-missing", "sync_configuration: {sync_all_end: 168}",
     "sync_configuration.sync_all_end: relative time must be text like '15m', '2d' or '12w-ago', got 168"),
    ("duration-zero", "sync_configuration: {realtime_catch_up_limit: 0s}",
     "sync_configuration.realtime_catch_up_limit: must be a positive duration, got '0s'"),
    ("duration-beyond-cdf", "sync_configuration: {realtime_catch_up_limit: 20000w}",
     "sync_configuration.realtime_catch_up_limit: must be at most 10000w, got '20000w'"),
    ("timeout-too-long", "sync_configuration: {request_timeout: 11m}",
     "sync_configuration.request_timeout: must be at most 10m, got '11m'"),
    ("offset-negative", "time_offset: {offset_weeks: -1}",
     "time_offset: time_offset.offset_weeks=-1 and time_offset.offset_minutes=10 give a negative offset "
     "(-604200000 ms); shifting back would not make data look live"),
    ("offset-negative-minutes", "time_offset: {offset_weeks: 0, offset_minutes: -1}",
     "time_offset: time_offset.offset_weeks=0 and time_offset.offset_minutes=-1 give a negative offset (-60000 ms); "
     "shifting back would not make data look live"),
    ("offset-beyond-cdf", "time_offset: {offset_weeks: 20000}",
     "time_offset: time_offset.offset_weeks=20000 and time_offset.offset_minutes=10 give an offset over 10000w; "
     "CDF's timestamps span 1900-01-01 to 2099-12-31, so no source point could land in the target"),
    ("offset-with-unit", "time_offset: {offset_minutes: 10m}",
     "time_offset.offset_minutes: Input should be a valid integer (got '10m')"),
    ("offset-bool", "time_offset: {offset_weeks: true}",
     "time_offset.offset_weeks: Input should be a valid integer (got True)"),
    ("start-after-end", "sync_configuration: {sync_random_start: 1w-ago, sync_all_end: 2w-ago}",
     "sync_configuration: sync_configuration.sync_random_start (1w-ago) must be older than "
     "sync_configuration.sync_all_end (2w-ago)"),
    ("legacy-history-too-deep", "sync_configuration: {sync_random_start: 600w-ago}",
     "sync_configuration: sync_configuration.sync_random_start (600w-ago) asks for 600 weeks of history; at most "
     "520 (the bound of sync_configuration.history_weeks)"),
    ("legacy-conflict", "sync_configuration: {sync_realtime_start: 2h-ago, realtime_catch_up_limit: 3h}",
     "sync_configuration: sync_configuration.sync_realtime_start (2h) conflicts with "
     "sync_configuration.realtime_catch_up_limit (3h): give one, or equal values"),
    ("unknown-key", "sync_configuration: {instance_spaces: springfield}",
     "sync_configuration.instance_spaces: Extra inputs are not permitted (got 'springfield')"),
    ("unknown-section", "loging: {log_level: DEBUG}",
     "loging: Extra inputs are not permitted (got {'log_level': 'DEBUG'})"),
    ("type-int-as-text", "sync_configuration: {history_weeks: '12'}",
     "sync_configuration.history_weeks: Input should be a valid integer (got '12')"),
    ("type-bool-as-text", "sync_configuration: {create_target_nodes: 'yes'}",
     "sync_configuration.create_target_nodes: Input should be a valid boolean (got 'yes')"),
    ("insert-encoding", "sync_configuration: {insert_encoding: msgpack}",
     "sync_configuration.insert_encoding: Input should be 'protobuf' or 'json' (got 'msgpack')"),
    ("limit-points", "sync_configuration: {points_per_insert: 100001}",
     "sync_configuration.points_per_insert: Input should be less than or equal to 100000 (got 100001)"),
    ("pipeline-without-data-set",
     "sync_configuration: {create_extraction_pipeline: true, extraction_pipeline_external_id: ep_oid_sync}",
     "sync_configuration: sync_configuration.create_extraction_pipeline is true, but "
     "sync_configuration.extraction_pipeline_data_set_id is not set (CDF requires every extraction pipeline to "
     "belong to a data set)"),
    ("view-id", "sync_configuration: {timeseries_view_external_id: Cognite-TimeSeries}",
     "sync_configuration.timeseries_view_external_id: String should match pattern "
     "'^[a-zA-Z]([a-zA-Z0-9_]{0,253}[a-zA-Z0-9])?$' (got 'Cognite-TimeSeries')"),
    ("log-level", "logging: {log_level: TRACE}",
     "logging.log_level: Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR' (got 'TRACE')"),
    # Anything under a key naming a secret is redacted: a secret pasted into the file must not reach the logs.
    ("secret-pasted", "oid_connection: {client_secret: hunter2}",
     "oid_connection.client_secret: Extra inputs are not permitted (got '<redacted>')"),
    ("secret-env-name", "oid_connection: {client_secret_env: 'my secret'}",
     "oid_connection.client_secret_env: String should match pattern '^[A-Za-z_][A-Za-z0-9_]*$' (got '<redacted>')"),
    ("oid-tenant", "oid_connection: {tenant_id: contoso.onmicrosoft.com}",
     f"oid_connection.tenant_id: String should match pattern '{UUID_PATTERN}' (got 'contoso.onmicrosoft.com')"),
    ("oid-client-id", "oid_connection: {client_id: ''}",
     "oid_connection.client_id: String should have at least 1 character (got '')"),
    ("oid-base-url", "oid_connection: {base_url: 'ftp://x'}",
     "oid_connection.base_url: must be an http(s) URL like https://api.cognitedata.com, got 'ftp://x'"),
    ("oid-token-url", "oid_connection: {token_url: not a url}",
     "oid_connection.token_url: must be an http(s) URL (got 'not a url')"),
    ("oid-scopes", "oid_connection: {scopes: []}",
     "oid_connection.scopes: List should have at least 1 item after validation, not 0 (got [])"),
    ("external-ids-empty", "sync_configuration: {external_ids: []}",
     "sync_configuration.external_ids: List should have at least 1 item after validation, not 0 (got [])"),
    ("data-set-empty", "sync_configuration: {data_set_external_id: ''}",
     "sync_configuration.data_set_external_id: String should have at least 1 character (got '')"),
    ("oid-cluster", "oid_connection: {cluster: West Europe}",
     "oid_connection.cluster: String should match pattern '^[a-z0-9][a-z0-9-]*$' (got 'West Europe')"),
    ("oid-project", "oid_connection: {project: Public_Data}",
     "oid_connection.project: String should match pattern '^[a-z0-9][a-z0-9-]*$' (got 'Public_Data')"),
    ("type-bool-as-int", "sync_configuration: {reset_backfill: 1}",
     "sync_configuration.reset_backfill: Input should be a valid boolean (got 1)"),
    ("instance-space", "sync_configuration: {instance_space: oid sync}",
     "sync_configuration.instance_space: String should match pattern "
     "'^[a-zA-Z][a-zA-Z0-9_-]{0,41}[a-zA-Z0-9]?$' (got 'oid sync')"),
    ("view-space", "sync_configuration: {timeseries_view_space: cdf cdm}",
     "sync_configuration.timeseries_view_space: String should match pattern "
     "'^[a-zA-Z][a-zA-Z0-9_-]{0,41}[a-zA-Z0-9]?$' (got 'cdf cdm')"),
    ("view-version", "sync_configuration: {timeseries_view_version: v1.}",
     "sync_configuration.timeseries_view_version: String should match pattern "
     "'^[a-zA-Z0-9]([.a-zA-Z0-9_-]{0,41}[a-zA-Z0-9])?$' (got 'v1.')"),
    ("prefix-empty", "sync_configuration: {external_id_prefix: ''}",
     "sync_configuration.external_id_prefix: String should have at least 1 character (got '')"),
    ("pipeline-id-empty", "sync_configuration: {extraction_pipeline_external_id: ''}",
     "sync_configuration.extraction_pipeline_external_id: String should have at least 1 character (got '')"),
    ("limit-series", "sync_configuration: {series_per_read: 101}",
     "sync_configuration.series_per_read: Input should be less than or equal to 100 (got 101)"),
    ("workers-zero", "sync_configuration: {max_workers: 0}",
     "sync_configuration.max_workers: Input should be greater than or equal to 1 (got 0)"),
]  # fmt: skip
ENV_CASES: list[tuple[str, dict[str, str | None], str]] = [
    ("secret-unset", {"IDP_CLIENT_SECRET": UNSET}, REAL_TARGET_MISSING.format("IDP_CLIENT_SECRET")),
    ("secret-blank", {"IDP_CLIENT_SECRET": " \r\n"}, REAL_TARGET_MISSING.format("IDP_CLIENT_SECRET")),
    ("client-id-and-url-unset", {"IDP_CLIENT_ID": UNSET, "CDF_URL": UNSET},
     REAL_TARGET_MISSING.format("CDF_CLUSTER or CDF_URL, IDP_CLIENT_ID")),
    ("cluster", {"CDF_URL": UNSET, "CDF_CLUSTER": "West Europe"},
     ENV_HEADER + "CDF_CLUSTER: String should match pattern '^[a-z0-9][a-z0-9-]*$' (got 'West Europe')"),
    ("url-with-path", {"CDF_URL": "{base}/api/v1"},
     ENV_HEADER + "CDF_URL: must be scheme://host[:port] with no path, query or fragment (got '{base}/api/v1'); "
     "with a path prefix the SDK misclassifies which requests are safe to retry (got '{base}/api/v1')"),
    ("token-url", {"IDP_TOKEN_URL": "login.example.com/token"},
     ENV_HEADER + "IDP_TOKEN_URL: String should match pattern '^https?://\\S+$' (got 'login.example.com/token')"),
    ("tenant", {"IDP_TOKEN_URL": UNSET, "IDP_TENANT_ID": "my tenant"},
     "IDP_TENANT_ID: must be a tenant id or domain, e.g. contoso.onmicrosoft.com (got 'my tenant')"),
    ("project", {"CDF_PROJECT": "My_Project"},
     ENV_HEADER + "CDF_PROJECT: String should match pattern '^[a-z0-9][a-z0-9-]*$' (got 'My_Project')"),
    ("local-url", {"CDF_PROJECT": UNSET, "OID_SYNC_LOCAL_CDF_URL": "127.0.0.1:8765"},
     "local CDF URL (local_cdf_url or OID_SYNC_LOCAL_CDF_URL): must be an http(s) URL like "
     "https://api.cognitedata.com, got '127.0.0.1:8765'"),
    ("scopes-empty", {"IDP_SCOPES": " , "},
     ENV_HEADER + "IDP_SCOPES: String should have at least 1 character (got ',')"),
    ("config-missing", {"OID_SYNC_CONFIG": "/nonexistent/oid_sync.yaml"},
     "config_path (OID_SYNC_CONFIG): no such file '/nonexistent/oid_sync.yaml'"),
]  # fmt: skip
# Env vars the resource reads (ENV_FIELDS) for which every non-blank value is valid (blank means unset, which is
# allowed): no bad case can exist. test_every_config_field_and_env_var_has_a_bad_case proves each one.
ANY_VALUE_ACCEPTED = {"IDP_AUDIENCE", "OPEN_ID_CLIENT_SECRET"}


@pytest.fixture(scope="module")
def cdf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLocalCDF]:
    settings = LocalCDFSettings(data_dir=tmp_path_factory.mktemp("local-cdf"), clock=lambda: FROZEN_NOW_S)
    with serve_in_thread(settings) as running:
        yield running


def valid_env(cdf: RunningLocalCDF) -> dict[str, str]:
    """A real-target configuration whose CDF and IdP are the local CDF: a leak to the network lands in its log."""
    return {
        "OID_SYNC_LOCAL_CDF_URL": cdf.base_url,  # the source: the local CDF's publicdata
        "CDF_PROJECT": "target",
        "CDF_URL": cdf.base_url,
        "IDP_TOKEN_URL": cdf.token_url,
        "IDP_CLIENT_ID": cdf.client_id,
        "IDP_CLIENT_SECRET": cdf.client_secret,
    }


def first_calls(cdf: RunningLocalCDF, tmp_path: Path, yaml_text: str, changes: dict[str, str | None]) -> None:
    """What a run does first: resource -> config and clients -> engine, then one request on each side."""
    config_file = tmp_path / "oid_sync.yaml"
    config_file.write_text(yaml_text)
    environ: dict[str, str | None] = {**valid_env(cdf), "OID_SYNC_CONFIG": str(config_file)}
    environ.update({k: v.replace("{base}", cdf.base_url) if v else v for k, v in changes.items()})
    fields = {field: environ[var] for field, var in ENV_FIELDS.items() if environ.get(var) is not None}
    resource = OidSyncResource(**fields)  # type: ignore[arg-type]
    with resource.open_engine(local_mode="thread") as engine:
        engine.list_catalog()
        engine.target.data_modeling.spaces.list(limit=1)


def test_the_valid_control_case_reaches_the_network(cdf: RunningLocalCDF, tmp_path: Path) -> None:
    # The proof can fail: the same harness with a valid configuration leaves both sides' requests in the log.
    cdf.request_log.clear()
    first_calls(cdf, tmp_path, "sync_configuration: {history_weeks: 4}\n", {})
    assert cdf.request_log.counts == {
        ("POST", "/oauth2/token"): 2,  # a token per client: source and target
        ("POST", "/api/v1/projects/publicdata/timeseries/list"): 1,
        ("GET", "/api/v1/projects/target/models/spaces"): 1,
    }


@pytest.mark.parametrize(("yaml_text", "message"), [c[1:] for c in YAML_CASES], ids=[c[0] for c in YAML_CASES])
def test_bad_yaml_fails_naming_field_and_value_before_any_request(
    cdf: RunningLocalCDF, tmp_path: Path, yaml_text: str, message: str
) -> None:
    cdf.request_log.clear()
    with pytest.raises(ConfigError) as info:
        first_calls(cdf, tmp_path, yaml_text, {})
    assert str(info.value) == f"invalid configuration:\n  {message}"
    assert list(cdf.request_log.records) == []


@pytest.mark.parametrize(("changes", "message"), [c[1:] for c in ENV_CASES], ids=[c[0] for c in ENV_CASES])
def test_bad_env_fails_naming_variable_and_value_before_any_request(
    cdf: RunningLocalCDF, tmp_path: Path, changes: dict[str, str | None], message: str
) -> None:
    cdf.request_log.clear()
    with pytest.raises(ConfigError) as info:
        first_calls(cdf, tmp_path, "", changes)
    assert str(info.value) == message.replace("{base}", cdf.base_url)
    assert cdf.client_secret not in str(info.value)
    assert list(cdf.request_log.records) == []


def _leaf_fields(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """The dotted name of every leaf field of a config model, as error messages name them."""
    for name, info in model.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            yield from _leaf_fields(info.annotation, f"{prefix}{name}.")
        else:
            yield prefix + name


def _names(message: str, name: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message) is not None


def test_every_config_field_and_env_var_has_a_bad_case() -> None:
    # Discovered from the product: a field or env var added without a bad case here fails this test.
    fields = list(_leaf_fields(SyncConfig))
    assert {f.split(".")[0] for f in fields} == set(SyncConfig.model_fields)  # every section was descended into
    unnamed = [f for f in fields if not any(_names(message, f) for _, _, message in YAML_CASES)]
    assert unnamed == [], f"config fields no bad YAML case names: {unnamed}"
    env_vars = set(ENV_FIELDS.values())
    assert env_vars > ANY_VALUE_ACCEPTED
    uncovered = sorted(
        var
        for var in env_vars - ANY_VALUE_ACCEPTED
        if not any(var in changes and _names(message, var) for _, changes, message in ENV_CASES)
    )
    assert uncovered == [], f"env vars no bad env case sets and names: {uncovered}"
    # The exempt ones really take any value: an odd audience is a valid target, an odd OID secret a real source.
    odd = "x y, !"
    env = {"CDF_PROJECT": "target", "CDF_CLUSTER": "api", "IDP_TOKEN_URL": "https://idp.example.com/token"}
    env |= {"IDP_CLIENT_ID": "id", "IDP_CLIENT_SECRET": "secret", "IDP_AUDIENCE": odd}
    target = target_connection_from_env(env)
    assert target is not None and target.audience == odd
    assert Connections.from_settings(settings_from_env({"OPEN_ID_CLIENT_SECRET": odd}, SyncConfig())).source_real
    assert len({c[0] for c in YAML_CASES + ENV_CASES}) == len(YAML_CASES) + len(ENV_CASES)  # type: ignore[operator]


def test_an_env_var_named_in_dagster_but_unset_fails_before_any_request(
    cdf: RunningLocalCDF, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dagster resolves EnvVar references when the resource is initialized, before the engine exists.
    monkeypatch.delenv("OID_SYNC_TEST_UNSET_SECRET", raising=False)
    env = valid_env(cdf)
    resource = OidSyncResource(
        local_cdf_url=env["OID_SYNC_LOCAL_CDF_URL"],
        target_project=env["CDF_PROJECT"],
        target_base_url=env["CDF_URL"],
        target_token_url=env["IDP_TOKEN_URL"],
        target_client_id=env["IDP_CLIENT_ID"],
        target_client_secret=dg.EnvVar("OID_SYNC_TEST_UNSET_SECRET"),
    )
    cdf.request_log.clear()
    with pytest.raises(dg.DagsterInvalidConfigError) as info, resource.process_config_and_initialize_cm():
        pass
    errors = [e.message.split("\nStack Trace:")[0] for e in info.value.errors]  # the trace varies by install
    assert errors == [
        "Post processing at path root:target_client_secret of original value {'env': "
        "'OID_SYNC_TEST_UNSET_SECRET'} failed:\ndagster._config.errors.PostProcessingError: You have attempted to "
        'fetch the environment variable "OID_SYNC_TEST_UNSET_SECRET" which is not set. In order for this execution to '
        "succeed it must be set in this environment.\n"
    ]
    assert list(cdf.request_log.records) == []


def test_a_changed_offset_is_refused_before_any_write(cdf: RunningLocalCDF) -> None:
    """A changed offset is bad configuration only against what the target holds, so it is found by reading the
    target's sync state (a network call by necessity); it is refused before any datapoint is written."""
    clock = Clock()
    source, target = make_client(cdf, "publicdata"), make_client(cdf, "changed-offset")
    before = engine_for(source, target, clock)
    series = before.list_catalog()[:2]
    before.sync_catalog(series)
    week = history_weeks(clock.ms(), 1)[0]
    assert before.sync_weeks(series, [week]).failed == {}
    changed = engine_for(source, target, clock, load_config("time_offset: {offset_weeks: 2, offset_minutes: 10}"))
    assert changed.settings.offset_ms == 2 * WEEK_MS + 600_000
    cdf.request_log.clear()
    result = changed.sync_weeks(series, [week])
    assert result.failed == {
        s.external_id: [
            f"{s.external_id}: the target holds data written with offset 1w10m, but the configured offset is 2w10m; "
            "syncing would duplicate every point at a new timestamp. Purge the series' synced data and state first "
            "(oid-sync purge), or restore the old time_offset."
        ]
        for s in series
    }
    assert not result.retryable and result.points_written == result.points_read == 0
    writes = [r.path for r in cdf.request_log.records if r.method == "POST" and r.path.endswith("/timeseries/data")]
    assert writes == []
