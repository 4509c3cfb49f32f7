"""Config: defaults, the predecessor's YAML, and every bad value failing with its field and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from oid_sync_dagster.config import (
    ConfigError,
    SyncConfig,
    format_relative_ms,
    load_config,
    parse_relative_ms,
)

# The predecessor's ep_oid_sync.config.yaml shape, as its README documents it.
LEGACY_YAML = """
oid_connection:
  tenant_id: 48d5043c-cf70-4c49-881c-c638f5796997
  client_id: 1b90ede3-271e-401b-81a0-a4d52bea3273
  cluster: api
  project: publicdata
sync_configuration:
  sync_realtime_start: 15m-ago
  sync_all_end: 168h-ago
  sync_random_start: 12w-ago
  instance_space: springfield_instances
  reset_backfill: false
time_offset:
  offset_weeks: 1
  offset_minutes: 10
logging:
  log_level: INFO
"""

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
WEEK = 7 * DAY


def test_defaults_out_of_the_box() -> None:
    for empty in ("", "# nothing\n", "{}"):
        cfg = load_config(empty)
        assert cfg == SyncConfig()
    conn = cfg.oid_connection
    assert conn.tenant_id == "48d5043c-cf70-4c49-881c-c638f5796997"
    assert conn.client_id == "1b90ede3-271e-401b-81a0-a4d52bea3273"
    assert conn.project == "publicdata"
    assert conn.token_url == "https://login.microsoftonline.com/48d5043c-cf70-4c49-881c-c638f5796997/oauth2/v2.0/token"
    assert conn.scope == "https://api.cognitedata.com/.default"
    assert conn.base_url == "https://api.cognitedata.com"
    assert conn.client_secret_env == "OPEN_ID_CLIENT_SECRET"
    sync = cfg.sync_configuration
    assert (sync.timeseries_view_space, sync.timeseries_view_external_id, sync.timeseries_view_version) == (
        "cdf_cdm",
        "CogniteTimeSeries",
        "v1",
    )
    assert sync.history_weeks == 12
    assert sync.realtime_catch_up_limit == DAY
    assert sync.external_id_prefix == "pi:"
    assert sync.extraction_pipeline_external_id is None
    assert sync.points_per_insert == 100_000
    assert sync.reset_backfill is False
    assert sync.sync_realtime_start is sync.sync_all_end is sync.sync_random_start is None
    assert cfg.time_offset.offset_ms == WEEK + 10 * MIN
    assert isinstance(cfg.time_offset.offset_ms, int)
    assert cfg.logging.log_level == "INFO"


def test_legacy_yaml_loads_with_stated_meanings(tmp_path: Path) -> None:
    path = tmp_path / "ep_oid_sync.config.yaml"
    path.write_text(LEGACY_YAML)
    for source in (path, str(path), LEGACY_YAML):
        cfg = load_config(source)
        sync = cfg.sync_configuration
        assert sync.instance_space == "springfield_instances"
        assert sync.sync_all_end == 168 * HOUR
        # Legacy keys map onto the new design: catch-up limit and history depth.
        assert sync.realtime_catch_up_limit == 15 * MIN
        assert sync.history_weeks == 12
        assert cfg.time_offset.offset_ms == WEEK + 10 * MIN


def test_toolkit_envelope_unwrapped() -> None:
    wrapped = "externalId: ep_oid_sync\nconfig:\n" + "".join(f"  {line}\n" for line in LEGACY_YAML.splitlines())
    assert load_config(wrapped) == load_config(LEGACY_YAML)


def test_new_keys_and_consistent_legacy_keys() -> None:
    cfg = load_config(
        "sync_configuration:\n  sync_random_start: 8w-ago\n  history_weeks: 8\n"
        "  sync_realtime_start: 2h-ago\n  realtime_catch_up_limit: 2h\n"
        "  extraction_pipeline_external_id: ep_oid_sync\n  points_per_insert: 5000\n"
        "logging:\n  log_level: debug\n"
    )
    assert cfg.sync_configuration.history_weeks == 8
    assert cfg.sync_configuration.realtime_catch_up_limit == 2 * HOUR
    assert cfg.sync_configuration.extraction_pipeline_external_id == "ep_oid_sync"
    assert cfg.logging.log_level == "DEBUG"
    # A partial week of history rounds up to whole weeks.
    assert load_config("sync_configuration: {sync_random_start: 80d-ago}").sync_configuration.history_weeks == 12


def test_zero_offset_allowed_and_minutes_compensate() -> None:
    assert load_config("time_offset: {offset_weeks: 0, offset_minutes: 0}").time_offset.offset_ms == 0
    cfg = load_config("time_offset: {offset_weeks: 1, offset_minutes: -10}")
    assert cfg.time_offset.offset_ms == WEEK - 10 * MIN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0s", 0),
        ("45s", 45_000),
        ("15m", 15 * MIN),
        ("3h", 3 * HOUR),
        ("2d", 2 * DAY),
        ("1w", WEEK),
        ("168h-ago", 168 * HOUR),
        ("12w-ago", 12 * WEEK),
        ("3w-ago", 3 * WEEK),
        ("1w10m", WEEK + 10 * MIN),
        ("3d7h13m", 3 * DAY + 7 * HOUR + 13 * MIN),
        (" 15M ", 15 * MIN),
        ("1000000w", 1_000_000 * WEEK),
    ],
)
def test_parse_relative_ms(text: str, expected: int) -> None:
    result = parse_relative_ms(text)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize("text", ["", "15", "m", "15x", "1.5h", "-15m", "15m-", "15 m", "ago", "15m-ago-ago", "1y"])
def test_parse_relative_ms_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid relative time") as info:
        parse_relative_ms(text)
    assert repr(text) in str(info.value)


def test_parse_relative_ms_rejects_non_text() -> None:
    with pytest.raises(ValueError, match="15"):
        parse_relative_ms(15)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0s"),
        (1, "+1ms"),
        (999, "+999ms"),
        (15 * MIN, "15m"),
        (WEEK + 10 * MIN, "1w10m"),
        (3 * DAY + 7 * HOUR + 13 * MIN + 5_000, "3d7h13m5s"),
        (WEEK + 1, "1w+1ms"),
    ],
)
def test_format_relative_round_trips(ms: int, text: str) -> None:
    assert format_relative_ms(ms) == text
    if ms % 1_000 == 0:
        assert parse_relative_ms(text) == ms
    else:  # sub-second remainders are for messages only: no config value is written in ms
        with pytest.raises(ValueError, match="invalid relative time"):
            parse_relative_ms(text)


# (yaml, dotted field name expected in the message, bad value expected in the message)
INVALID = [
    ("sync_configuration: {sync_all_end: 168x-ago}", "sync_configuration.sync_all_end", "168x-ago"),
    (
        "sync_configuration: {sync_realtime_start: 15min-ago}",
        "sync_configuration.sync_realtime_start",
        "15min-ago",
    ),
    ("sync_configuration: {sync_random_start: 1.5w-ago}", "sync_configuration.sync_random_start", "1.5w-ago"),
    ("sync_configuration: {realtime_catch_up_limit: 1y}", "sync_configuration.realtime_catch_up_limit", "1y"),
    ("sync_configuration: {sync_realtime_start: 0m-ago}", "sync_configuration.sync_realtime_start", "0m-ago"),
    ("sync_configuration: {realtime_catch_up_limit: 0s}", "sync_configuration.realtime_catch_up_limit", "0s"),
    ("sync_configuration: {realtime_catch_up_limit: 15}", "sync_configuration.realtime_catch_up_limit", "15"),
    ("time_offset: {offset_weeks: -1}", "time_offset.offset_weeks", "-1"),
    ("time_offset: {offset_weeks: 0, offset_minutes: -5}", "time_offset.offset_minutes", "-5"),
    ("time_offset: {offset_weeks: one}", "time_offset.offset_weeks", "one"),
    ("time_offset: {offset_minutes: 1.5}", "time_offset.offset_minutes", "1.5"),
    ("time_offset: {offset_seconds: 3}", "time_offset.offset_seconds", "3"),
    ("sync_configuration: {sync_interval: 10m}", "sync_configuration.sync_interval", "10m"),
    ("unknown_section: {a: 1}", "unknown_section", "'a': 1"),
    ("oid_connection: {client_secret: hunter2}", "oid_connection.client_secret", "<redacted>"),
    ("oid_connection: {tenant_id: not-a-uuid}", "oid_connection.tenant_id", "not-a-uuid"),
    ("oid_connection: {cluster: 'West Europe'}", "oid_connection.cluster", "West Europe"),
    ("oid_connection: {project: [a, b]}", "oid_connection.project", "['a', 'b']"),
    ("logging: {log_level: TRACE}", "logging.log_level", "TRACE"),
    ("logging: {log_level: verbose}", "logging.log_level", "verbose"),
    ("sync_configuration: {points_per_insert: 100001}", "sync_configuration.points_per_insert", "100001"),
    ("sync_configuration: {points_per_insert: 0}", "sync_configuration.points_per_insert", "0"),
    ("sync_configuration: {series_per_read: 101}", "sync_configuration.series_per_read", "101"),
    ("sync_configuration: {max_workers: many}", "sync_configuration.max_workers", "many"),
    ("sync_configuration: {history_weeks: 0}", "sync_configuration.history_weeks", "0"),
    ("sync_configuration: {reset_backfill: maybe}", "sync_configuration.reset_backfill", "maybe"),
    ("sync_configuration: {instance_space: 'bad space!'}", "sync_configuration.instance_space", "bad space!"),
    ("sync_configuration: {external_id_prefix: ''}", "sync_configuration.external_id_prefix", "''"),
    (
        "sync_configuration: {sync_random_start: 1d-ago, sync_all_end: 168h-ago}",
        "sync_configuration.sync_random_start",
        "1d-ago",
    ),
    (
        "sync_configuration: {sync_realtime_start: 15m-ago, realtime_catch_up_limit: 1d}",
        "sync_configuration.sync_realtime_start",
        "15m",
    ),
    (
        "sync_configuration: {sync_random_start: 12w-ago, history_weeks: 4}",
        "sync_configuration.history_weeks",
        "4",
    ),
    ("sync_configuration: [1, 2]", "sync_configuration", "[1, 2]"),
    ("time_offset: 5", "time_offset", "5"),
]


@pytest.mark.parametrize(("text", "field", "value"), INVALID, ids=[row[1] + "=" + row[2] for row in INVALID])
def test_invalid_config_names_field_and_value(text: str, field: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(text)
    message = str(info.value)
    line = next((ln for ln in message.splitlines() if field in ln), None)
    assert line is not None, message
    assert value in line, message


def test_secret_never_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        load_config("oid_connection: {client_secret: hunter2}")
    assert "hunter2" not in str(info.value)


def test_all_problems_listed_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        load_config("logging: {log_level: x}\ntime_offset: {offset_weeks: y}\nsync_configuration: {foo: 1}")
    message = str(info.value)
    for field in ("logging.log_level", "time_offset.offset_weeks", "sync_configuration.foo"):
        assert field in message


@pytest.mark.parametrize("text", ["a: [unclosed", "- just\n- a list\n", "no_such_file.yaml"])
def test_unusable_documents(text: str) -> None:
    with pytest.raises(ConfigError):
        load_config(text)
