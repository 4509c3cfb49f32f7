"""Clients: env parsing, the real OID and target client configs (no network), secrets kept out of every text,
the SDK's process-wide settings, and real clients built from env against the local CDF over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cognite.client import CogniteClient, global_config
from cognite.client.credentials import OAuthClientCredentials
from cognite.client.exceptions import CogniteOAuthError
from pydantic import ValidationError

from oid_sync_dagster.clients import (
    CLIENT_NAME,
    MAX_RETRY_BACKOFF_S,
    REQUEST_TIMEOUT_S,
    TOKEN_TIMEOUT_S,
    CDFClients,
    clients_from_env,
    configure_sdk,
    is_loopback_url,
    local_client,
    oid_source_client,
    target_client,
)
from oid_sync_dagster.config import (
    ConfigError,
    Connections,
    OidConnection,
    SyncConfig,
    TargetConnection,
    load_config,
    normalize_base_url,
    settings_from_env,
    target_connection_from_env,
)
from oid_sync_dagster.local_cdf.server import RunningLocalCDF
from oid_sync_dagster.local_cdf.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET

OID_SECRET = "oid-Secret~value.123"
IDP_SECRET = "idp-Secret~value.456"
OID_TOKEN_URL = "https://login.microsoftonline.com/48d5043c-cf70-4c49-881c-c638f5796997/oauth2/v2.0/token"
OID_CLIENT_ID = "1b90ede3-271e-401b-81a0-a4d52bea3273"
TARGET_ENV = {
    "CDF_PROJECT": "my-project",
    "CDF_CLUSTER": "westeurope-1",
    "IDP_TOKEN_URL": "https://idp.example.com/oauth2/token",
    "IDP_CLIENT_ID": "sync-app",
    "IDP_CLIENT_SECRET": IDP_SECRET,
}
REAL_ENV = {**TARGET_ENV, "OPEN_ID_CLIENT_SECRET": OID_SECRET}
_SETTINGS = ("disable_gzip", "disable_pypi_version_check", "max_retries", "max_retry_backoff", "max_retries_connect")


@pytest.fixture(autouse=True)
def restore_global_config() -> Iterator[None]:
    # global_config is process-wide: leave it as the other tests expect it.
    saved = {name: getattr(global_config, name) for name in _SETTINGS}
    yield
    for name, value in saved.items():
        setattr(global_config, name, value)


def oauth(client: CogniteClient) -> OAuthClientCredentials:
    credentials = client.config.credentials
    assert isinstance(credentials, OAuthClientCredentials)
    return credentials


def texts(*objects: object) -> list[str]:
    return [text for obj in objects for text in (repr(obj), str(obj))]


# --- target connection from the CDF Toolkit's env names ---


def test_no_cdf_project_means_local_target() -> None:
    assert target_connection_from_env({}) is None
    assert target_connection_from_env({"CDF_PROJECT": "  ", "IDP_CLIENT_ID": "x"}) is None


def test_target_from_env_with_cluster_and_defaults() -> None:
    conn = target_connection_from_env(TARGET_ENV)
    assert conn == TargetConnection(
        project="my-project",
        cluster="westeurope-1",
        base_url="https://westeurope-1.cognitedata.com",
        token_url="https://idp.example.com/oauth2/token",
        client_id="sync-app",
        client_secret_env="IDP_CLIENT_SECRET",
        scopes=["https://westeurope-1.cognitedata.com/.default"],
        audience=None,
    )


def test_cdf_url_wins_is_normalised_and_scopes_parse_on_commas_and_spaces() -> None:
    env = {
        **TARGET_ENV,
        "CDF_URL": " HTTPS://Proxy.Example.COM:8443/ ",
        "IDP_SCOPES": " a/.default, b  c,\td ,",
        "IDP_AUDIENCE": "https://aud.example.com",
    }
    conn = target_connection_from_env(env)
    assert conn is not None
    assert conn.base_url == "https://proxy.example.com:8443"
    assert conn.cluster == "westeurope-1"  # kept, but base_url is what clients use
    assert conn.scopes == ["a/.default", "b", "c", "d"]
    assert conn.audience == "https://aud.example.com"
    single = target_connection_from_env({**TARGET_ENV, "IDP_SCOPES": "https://x.cognitedata.com/.default"})
    assert single is not None and single.scopes == ["https://x.cognitedata.com/.default"]


def test_cluster_is_lower_cased_and_entra_tenant_gives_token_url() -> None:
    env = {**TARGET_ENV, "CDF_CLUSTER": "WestEurope-1"}
    del env["IDP_TOKEN_URL"]
    env["IDP_TENANT_ID"] = "contoso.onmicrosoft.com"
    conn = target_connection_from_env(env)
    assert conn is not None
    assert conn.base_url == "https://westeurope-1.cognitedata.com"
    assert conn.token_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    # An explicit IDP_TOKEN_URL wins over the tenant.
    both = target_connection_from_env({**env, "IDP_TOKEN_URL": "https://idp.example.com/t"})
    assert both is not None and both.token_url == "https://idp.example.com/t"


def test_missing_env_vars_are_all_named_never_valued() -> None:
    with pytest.raises(ConfigError) as info:
        target_connection_from_env({"CDF_PROJECT": "my-project", "IDP_CLIENT_SECRET": " "})
    assert str(info.value) == (
        "CDF_PROJECT='my-project' selects a real target CDF project, but these env vars are unset or empty: "
        "CDF_CLUSTER or CDF_URL, IDP_TOKEN_URL (or IDP_TENANT_ID for Entra ID), IDP_CLIENT_ID, IDP_CLIENT_SECRET. "
        "Set them (the CDF Toolkit's names), or unset CDF_PROJECT to write to the local CDF."
    )
    for name in TARGET_ENV:
        if name == "CDF_PROJECT":
            continue
        env = {k: v for k, v in TARGET_ENV.items() if k != name}
        with pytest.raises(ConfigError) as info:
            target_connection_from_env(env)
        expected = {
            "CDF_CLUSTER": "CDF_CLUSTER or CDF_URL",
            "IDP_TOKEN_URL": "IDP_TOKEN_URL (or IDP_TENANT_ID for Entra ID)",
        }.get(name, name)
        assert f"unset or empty: {expected}. " in str(info.value)
        assert IDP_SECRET not in str(info.value)


def test_bad_env_values_name_the_env_var() -> None:
    cases = {
        "CDF_PROJECT": ("My Project", "CDF_PROJECT: String should match pattern '^[a-z0-9][a-z0-9-]*$'"),
        "CDF_CLUSTER": ("west_europe", "CDF_CLUSTER: String should match pattern '^[a-z0-9][a-z0-9-]*$'"),
        "CDF_URL": ("https://cdf_proxy.example.com", "CDF_URL: host must be letters, digits"),
        "IDP_TOKEN_URL": ("idp.example.com/token", "IDP_TOKEN_URL: String should match pattern"),
    }
    for name, (value, start) in cases.items():
        with pytest.raises(ConfigError) as info:
            target_connection_from_env({**TARGET_ENV, name: value})
        lines = str(info.value).splitlines()
        assert lines[0] == "invalid target connection in the environment:"
        assert len(lines) == 2, lines
        assert lines[1].startswith(f"  {start}"), lines
        assert lines[1].endswith(f"(got {value!r})"), lines
        assert IDP_SECRET not in str(info.value)
    env = {k: v for k, v in TARGET_ENV.items() if k != "IDP_TOKEN_URL"}
    with pytest.raises(ConfigError, match=r"^IDP_TENANT_ID: must be a tenant id or domain"):
        target_connection_from_env({**env, "IDP_TENANT_ID": "a/b"})


def test_target_connection_model_needs_cluster_or_base_url() -> None:
    with pytest.raises(ValidationError, match="give a cluster or a base_url"):
        TargetConnection(project="p", token_url="https://idp/t", client_id="c")
    conn = TargetConnection(project="p", base_url="http://LocalHost:8765", token_url="https://idp/t", client_id="c")
    assert (conn.base_url, conn.scopes, conn.client_secret_env) == (
        "http://localhost:8765",
        ["http://localhost:8765/.default"],
        "IDP_CLIENT_SECRET",
    )


def test_normalize_base_url() -> None:
    assert normalize_base_url("HTTP://LOCALHOST:8765/") == "http://localhost:8765"
    assert normalize_base_url("https://api.cognitedata.com") == "https://api.cognitedata.com"
    for bad, message in [
        ("api.cognitedata.com", "must be an http(s) URL"),
        ("ftp://api.cognitedata.com", "must be an http(s) URL"),
        ("https://api.cognitedata.com/prefix", "no path, query or fragment"),
        ("https://api.cognitedata.com?x=1", "no path, query or fragment"),
        ("http://cdf_emu:8765", "host must be letters, digits"),
        ("http://[::1]:8765", "host must be letters, digits"),
        ("https://user:pw@api.cognitedata.com", "must not carry user info"),
    ]:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
            normalize_base_url(bad)


def test_the_source_is_real_iff_its_secret_is_set() -> None:
    config = SyncConfig()

    def source_real(environ: dict[str, str], config: SyncConfig = config) -> bool:
        return Connections.from_settings(settings_from_env(environ, config)).source_real

    assert source_real({"OPEN_ID_CLIENT_SECRET": OID_SECRET}) is True
    assert source_real({}) is False
    assert source_real({"OPEN_ID_CLIENT_SECRET": " \r\n"}) is False
    custom = load_config("oid_connection:\n  client_secret_env: MY_OID_SECRET\n")
    assert source_real({"OPEN_ID_CLIENT_SECRET": OID_SECRET}, custom) is False
    assert source_real({"MY_OID_SECRET": OID_SECRET}, custom) is True


def test_connections_hold_stripped_secrets_and_never_show_them() -> None:
    # The resource's fields (ENV_VARS' keys), as Dagster resolves its EnvVars: a CRLF .env must not send '\r'.
    settings = {f"target_{k}": v for k, v in [("project", "my-project"), ("cluster", "westeurope-1")]}
    settings |= {"target_token_url": "https://idp.example.com/t", "target_client_id": "sync-app"}
    settings |= {"target_client_secret": f" {IDP_SECRET}\r\n", "oid_client_secret": f"{OID_SECRET}\r"}
    connections = Connections.from_settings(settings)
    assert (connections.source_secret, connections.target_secret) == (OID_SECRET, IDP_SECRET)
    assert connections.target == target_connection_from_env(
        {**TARGET_ENV, "IDP_TOKEN_URL": "https://idp.example.com/t"}
    )
    assert connections.mode == "source=oid target=cdf"
    assert OID_SECRET not in repr(connections) and IDP_SECRET not in repr(connections)
    assert Connections.from_settings({}) == Connections() and Connections().mode == "source=local target=local"
    with pytest.raises(ConfigError) as info:
        Connections.from_settings({**settings, "target_client_secret": " "})
    assert str(info.value) == (
        "CDF_PROJECT='my-project' selects a real target CDF project, but these env vars are unset or empty: "
        "IDP_CLIENT_SECRET. Set them (the CDF Toolkit's names), or unset CDF_PROJECT to write to the local CDF."
    )


# --- client configs, inspected without a request ---


def test_oid_source_client_config() -> None:
    client = oid_source_client(OidConnection(), OID_SECRET)
    config = client.config
    assert (config.project, config.base_url, config.client_name, config.timeout) == (
        "publicdata",
        "https://api.cognitedata.com",
        "oid-sync-dagster",
        60,
    )
    credentials = oauth(client)
    assert credentials.token_url == OID_TOKEN_URL
    assert credentials.client_id == OID_CLIENT_ID
    assert credentials.scopes == ["https://api.cognitedata.com/.default"]
    assert credentials.client_secret == OID_SECRET
    assert credentials.token_custom_args == {"timeout": 30.0}
    assert (CLIENT_NAME, REQUEST_TIMEOUT_S, TOKEN_TIMEOUT_S) == ("oid-sync-dagster", 60, 30.0)
    other = oid_source_client(OidConnection(cluster="westeurope-1", project="other"), "s")
    assert (other.config.project, other.config.base_url, oauth(other).scopes) == (
        "other",
        "https://westeurope-1.cognitedata.com",
        ["https://westeurope-1.cognitedata.com/.default"],
    )


def test_target_client_config() -> None:
    conn = target_connection_from_env({**TARGET_ENV, "IDP_AUDIENCE": "https://aud.example.com"})
    assert conn is not None
    client = target_client(conn, IDP_SECRET)
    assert (client.config.project, client.config.base_url, client.config.timeout) == (
        "my-project",
        "https://westeurope-1.cognitedata.com",
        60,
    )
    credentials = oauth(client)
    assert (credentials.token_url, credentials.client_id, credentials.scopes) == (
        "https://idp.example.com/oauth2/token",
        "sync-app",
        ["https://westeurope-1.cognitedata.com/.default"],
    )
    assert credentials.client_secret == IDP_SECRET
    assert credentials.token_custom_args == {"timeout": 30.0, "audience": "https://aud.example.com"}


def test_local_client_from_url_and_from_running_server() -> None:
    client = local_client("HTTP://127.0.0.1:8765/", "oid-sync")
    assert (client.config.project, client.config.base_url) == ("oid-sync", "http://127.0.0.1:8765")
    credentials = oauth(client)
    assert (credentials.token_url, credentials.client_id, credentials.client_secret, credentials.scopes) == (
        "http://127.0.0.1:8765/oauth2/token",
        DEV_CLIENT_ID,
        DEV_CLIENT_SECRET,
        ["http://127.0.0.1:8765/.default"],
    )
    other = oauth(local_client("http://localhost:9000", "p", client_id="me", client_secret="mine"))
    assert (other.token_url, other.client_id, other.client_secret) == (
        "http://localhost:9000/oauth2/token",
        "me",
        "mine",
    )
    with pytest.raises(ValueError, match="host must be letters, digits"):
        local_client("http://cdf_emu:8765", "p")


def test_secrets_appear_in_no_repr_str_or_error() -> None:
    clients = clients_from_env(SyncConfig(), REAL_ENV)
    conn = target_connection_from_env(REAL_ENV)
    shown = texts(
        clients,
        clients.source,
        clients.target,
        clients.source.config,
        clients.target.config,
        oauth(clients.source),
        oauth(clients.target),
        conn,
        SyncConfig(),
    )
    for env in ({**REAL_ENV, "CDF_CLUSTER": "bad_cluster"}, {**REAL_ENV, "IDP_CLIENT_ID": ""}):
        with pytest.raises(ConfigError) as info:
            clients_from_env(SyncConfig(), env)
        shown.append(str(info.value))
    for text in shown:
        assert OID_SECRET not in text
        assert IDP_SECRET not in text


# --- process-wide SDK settings ---


def test_configure_sdk_sets_global_config_idempotently() -> None:
    global_config.disable_pypi_version_check = False
    global_config.max_retry_backoff = 60
    for _ in range(2):
        configure_sdk(loopback=True)
        assert global_config.disable_gzip is True
        assert global_config.disable_pypi_version_check is True
        assert (global_config.max_retries, global_config.max_retry_backoff) == (10, 30)
        assert global_config.max_retries_connect == 3  # untouched SDK default
    configure_sdk(loopback=False)
    assert global_config.disable_gzip is False
    assert global_config.disable_pypi_version_check is True
    assert (global_config.max_retries, global_config.max_retry_backoff) == (10, MAX_RETRY_BACKOFF_S)


def test_is_loopback_url() -> None:
    for url in ("http://127.0.0.1:8765", "http://localhost:1", "http://127.5.0.1", "http://api.localhost"):
        assert is_loopback_url(url) is True, url
    for url in ("https://api.cognitedata.com", "http://10.0.0.1:8765", "http://localhost.example.com"):
        assert is_loopback_url(url) is False, url


# --- clients_from_env: which side is real ---


def test_all_real_from_env() -> None:
    global_config.disable_gzip = True
    clients = clients_from_env(SyncConfig(), REAL_ENV, local_cdf_url="http://127.0.0.1:1")
    assert (clients.source_local, clients.target_local, clients.local) == (False, False, False)
    assert (clients.source.config.project, clients.source.config.base_url) == (
        "publicdata",
        "https://api.cognitedata.com",
    )
    assert oauth(clients.source).token_url == OID_TOKEN_URL
    assert (clients.target.config.project, clients.target.config.base_url) == (
        "my-project",
        "https://westeurope-1.cognitedata.com",
    )
    assert global_config.disable_gzip is False  # the target is across the internet: gzip pays


def test_local_side_needs_a_local_url() -> None:
    with pytest.raises(ConfigError) as info:
        clients_from_env(SyncConfig(), {})
    assert str(info.value) == (
        "the source (OPEN_ID_CLIENT_SECRET is unset) and the target (CDF_PROJECT is unset) would be the local CDF, "
        "but no local CDF URL was given: pass local_cdf_url or set OID_SYNC_LOCAL_CDF_URL "
        "(e.g. http://127.0.0.1:8765 from `oid-sync local-cdf`)"
    )
    with pytest.raises(ConfigError, match=r"^the target \(CDF_PROJECT is unset\) would be the local CDF"):
        clients_from_env(SyncConfig(), {"OPEN_ID_CLIENT_SECRET": OID_SECRET})
    with pytest.raises(ConfigError, match=r"^the source \(OPEN_ID_CLIENT_SECRET is unset\) would be the local CDF"):
        clients_from_env(SyncConfig(), TARGET_ENV)
    with pytest.raises(
        ConfigError, match=r"^local CDF URL \(local_cdf_url or OID_SYNC_LOCAL_CDF_URL\): host must be letters, digits"
    ):
        clients_from_env(SyncConfig(), {}, local_cdf_url="http://cdf_emu:8765")
    with pytest.raises(ConfigError, match=r"^target_project: must match"):
        clients_from_env(SyncConfig(), {}, local_cdf_url="http://127.0.0.1:1", target_project="Bad Name")


def test_mixed_modes_and_url_from_env() -> None:
    env = {"OPEN_ID_CLIENT_SECRET": OID_SECRET, "OID_SYNC_LOCAL_CDF_URL": "http://127.0.0.1:8765"}
    clients = clients_from_env(SyncConfig(), env, target_project="t1")
    assert (clients.source_local, clients.target_local) == (False, True)
    assert (clients.source.config.base_url, clients.target.config.base_url) == (
        "https://api.cognitedata.com",
        "http://127.0.0.1:8765",
    )
    assert clients.target.config.project == "t1"
    assert global_config.disable_gzip is True  # the target is on loopback
    # An explicit URL wins over the env var.
    clients = clients_from_env(
        SyncConfig(), {**TARGET_ENV, **env, "OPEN_ID_CLIENT_SECRET": ""}, local_cdf_url="http://localhost:9"
    )
    assert (clients.source_local, clients.target_local) == (True, False)
    assert (clients.source.config.project, clients.source.config.base_url) == ("publicdata", "http://localhost:9")
    assert global_config.disable_gzip is False


def test_missing_oid_secret_with_custom_env_name_is_named() -> None:
    config = load_config("oid_connection:\n  client_secret_env: MY_OID_SECRET\n")
    with pytest.raises(ConfigError, match=r"^the source \(MY_OID_SECRET is unset\)"):
        clients_from_env(config, {**TARGET_ENV, "OPEN_ID_CLIENT_SECRET": OID_SECRET})


# --- against the local CDF over real HTTP ---


def test_local_clients_list_the_source_catalog(local_cdf: RunningLocalCDF) -> None:
    clients = clients_from_env(SyncConfig(), {}, local_cdf_url=local_cdf.base_url)
    assert isinstance(clients, CDFClients)
    assert (clients.source_local, clients.target_local, clients.local) == (True, True, True)
    assert (clients.source.config.project, clients.target.config.project) == ("publicdata", "oid-sync")
    assert global_config.disable_gzip is True
    series = clients.source.time_series.list(external_id_prefix="pi:", limit=None)
    assert len(series) == 363
    assert len({ts.external_id for ts in series}) == 363
    assert local_cdf.request_log.counts == {
        ("POST", "/oauth2/token"): 1,
        ("POST", "/api/v1/projects/publicdata/timeseries/list"): 1,
    }


def test_target_env_pointing_at_the_local_cdf(local_cdf: RunningLocalCDF) -> None:
    # The real-target path (TargetConnection, IDP_* names) end to end, with the local CDF as the IdP and CDF.
    env = {
        "CDF_PROJECT": "env-target",
        "CDF_URL": local_cdf.base_url,
        "IDP_TOKEN_URL": local_cdf.token_url,
        "IDP_CLIENT_ID": local_cdf.client_id,
        "IDP_CLIENT_SECRET": local_cdf.client_secret,
    }
    clients = clients_from_env(SyncConfig(), env, local_cdf_url=local_cdf.base_url)
    assert (clients.source_local, clients.target_local) == (True, False)
    assert global_config.disable_gzip is True  # CDF_URL is on loopback
    assert clients.target.time_series.list(limit=None) == []
    assert local_cdf.request_log.counts == {
        ("POST", "/oauth2/token"): 1,
        ("POST", "/api/v1/projects/env-target/timeseries/list"): 1,
    }


def test_a_rejected_secret_stays_out_of_the_error(local_cdf: RunningLocalCDF) -> None:
    wrong = "wrong-Secret~789"
    client = local_client(local_cdf, "publicdata", client_secret=wrong)
    with pytest.raises(CogniteOAuthError) as info:
        client.time_series.list(limit=1)
    assert wrong not in str(info.value) and wrong not in repr(info.value)
    assert local_cdf.request_log.matching(r"/timeseries/list") == []
