"""The source and target `CogniteClient`s, built from config and the environment.

Source: the real OID (`publicdata`, OAuth client credentials with OID's public tenant and client id) when the
env var named by `oid_connection.client_secret_env` (default OPEN_ID_CLIENT_SECRET) is set; else the local
CDF's synthetic `publicdata`. Target: the CDF project given by the CDF Toolkit's env vars (CDF_PROJECT, ...)
when CDF_PROJECT is set; else a project on the local CDF. The Dagster layer starts the in-process local CDF
and passes its URL.

Secrets come resolved in `Connections` (from the resource's EnvVar fields or the environment) and are handed
straight to the SDK's credential provider; nothing here stores, logs or formats one. A missing URL fails with a
ConfigError naming the env var, before any network call.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cognite.client import ClientConfig, CogniteClient, global_config
from cognite.client.credentials import OAuthClientCredentials

from oid_sync_dagster.config import (
    ENV_VARS,
    ConfigError,
    Connections,
    OidConnection,
    SyncConfig,
    TargetConnection,
    env_value,
    normalize_base_url,
    settings_from_env,
)
from oid_sync_dagster.local_cdf.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET

if TYPE_CHECKING:  # the server module pulls in uvicorn and Starlette; only its type is needed here
    from oid_sync_dagster.local_cdf.server import RunningLocalCDF

CLIENT_NAME = "oid-sync-dagster"  # sent as x-cdp-app, so CDF's request logs tell this app apart
LOCAL_CDF_URL_ENV = ENV_VARS["local_cdf_url"]
LOCAL_SOURCE_PROJECT = "publicdata"  # the local CDF's stand-in for OID
DEFAULT_LOCAL_TARGET_PROJECT = "oid-sync"
PROJECT_PATTERN = r"^[a-z0-9][a-z0-9-]*$"  # CDF project names; also what the local CDF accepts

# Per request (ClientConfig.timeout; the SDK's default, stated so it is a decision, not an accident; the
# config's `request_timeout` overrides it). The
# slowest legitimate request is a 100k-point insert or read, a few seconds even on a slow link, so 60 s never
# cuts one off, yet a stalled connection is dropped and (for idempotent requests) retried within a minute.
# Shorter would turn slow-but-fine large requests into retries that redo the work.
REQUEST_TIMEOUT_S = 60
# The token fetch bypasses the SDK's retries entirely, and httpx's default timeout there is 5 s: one slow IdP
# response would fail the whole run. 30 s rides out a sluggish IdP; a token is fetched about once an hour.
TOKEN_TIMEOUT_S = 30.0
# Retries are process-wide (global_config). max_retries stays at the SDK's 10: together with CDF's
# `cdf-is-auto-retryable` and 429/502/503/504 it is what heals throttling. The backoff cap drops from 60 s to
# 30 s: the SDK ignores Retry-After, so longer waits honour nothing, and with full jitter ten retries then wait
# at most ~150 s (mean ~75 s) instead of ~245 s; a run that still fails is healed by the next one (rule 4).
MAX_RETRIES = 10
MAX_RETRY_BACKOFF_S = 30


def configure_sdk(*, loopback: bool) -> None:
    """Set the cognite-sdk's process-wide settings; idempotent.

    These live in `global_config`, which is per process, not per client: every CogniteClient in the process,
    ours or a user's, shares them. Retry settings are read on every request; `disable_pypi_version_check`
    is read when a ClientConfig is built, so call this before building clients.

    `loopback`: the target (the side that receives the big JSON bodies, i.e. inserts) is on this machine.
    The SDK gzips every JSON body at level 9: 0.25-0.37 s of client CPU per 100k points (docs/benchmarks.md:
    inserts took 3.10 s with gzip vs 2.03 s without for 423k points). It shrinks an insert body about 4.7x
    (5.8 MB -> 1.25 MB per 100k points), which pays over the internet; on loopback bandwidth is free and gzip
    only costs, so it is switched off there.
    """
    global_config.disable_pypi_version_check = True  # the SDK would probe pypi.org from a thread; no internet here
    global_config.disable_gzip = loopback
    global_config.max_retries = MAX_RETRIES
    global_config.max_retry_backoff = MAX_RETRY_BACKOFF_S


def is_loopback_url(url: str) -> bool:
    """Whether a URL's host is this machine (localhost or a loopback address)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _client(
    *,
    project: str,
    base_url: str,
    token_url: str,
    client_id: str,
    client_secret: str,
    scopes: list[str],
    timeout_s: float = REQUEST_TIMEOUT_S,
    **token_args: str,
) -> CogniteClient:
    # Building a client makes no request: the token is fetched on the first API call.
    global_config.disable_pypi_version_check = True  # ClientConfig() reads it; even if configure_sdk was skipped
    credentials = OAuthClientCredentials(
        token_url=token_url,
        client_id=client_id,
        client_secret=client_secret,
        scopes=scopes,
        timeout=TOKEN_TIMEOUT_S,
        **token_args,
    )
    return CogniteClient(
        ClientConfig(
            client_name=CLIENT_NAME,
            project=project,
            credentials=credentials,
            base_url=normalize_base_url(base_url),
            timeout=timeout_s,
        )
    )


def oid_source_client(conn: OidConnection, secret: str, *, timeout_s: float = REQUEST_TIMEOUT_S) -> CogniteClient:
    """The real OID (or any CDF project the connection names): client credentials with its IdP."""
    return _client(
        project=conn.project,
        base_url=conn.base_url,
        token_url=conn.token_url,
        client_id=conn.client_id,
        client_secret=secret,
        scopes=conn.scopes,
        timeout_s=timeout_s,
    )


def target_client(conn: TargetConnection, secret: str, *, timeout_s: float = REQUEST_TIMEOUT_S) -> CogniteClient:
    """The user's CDF project, through any OAuth2 client-credentials IdP."""
    return _client(
        project=conn.project,
        base_url=conn.base_url,
        token_url=conn.token_url,
        client_id=conn.client_id,
        client_secret=secret,
        scopes=conn.scopes,
        timeout_s=timeout_s,
        **({"audience": conn.audience} if conn.audience else {}),
    )


def local_client(
    cdf: str | RunningLocalCDF,
    project: str,
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    timeout_s: float = REQUEST_TIMEOUT_S,
) -> CogniteClient:
    """A client of a local CDF, given its base URL (token endpoint `{base_url}/oauth2/token`) or a running one.

    Credentials default to the running server's, else the local CDF's development credential (not a secret:
    the server prints it on start).
    """
    if isinstance(cdf, str):
        base_url = normalize_base_url(cdf)
        token_url = f"{base_url}/oauth2/token"
        default_id, default_secret = DEV_CLIENT_ID, DEV_CLIENT_SECRET
    else:
        base_url, token_url = normalize_base_url(cdf.base_url), cdf.token_url
        default_id, default_secret = cdf.client_id, cdf.client_secret
    return _client(
        project=project,
        base_url=base_url,
        token_url=token_url,
        client_id=client_id if client_id is not None else default_id,
        client_secret=client_secret if client_secret is not None else default_secret,
        scopes=[f"{base_url}/.default"],  # the local CDF ignores scopes; CDF's shape for symmetry
        timeout_s=timeout_s,
    )


@dataclass(frozen=True)
class CDFClients:
    """The pair of clients a sync runs over, and whether each side is the local CDF."""

    source: CogniteClient
    target: CogniteClient
    source_local: bool
    target_local: bool

    @property
    def local(self) -> bool:
        """Both sides are the local CDF: the default, no credentials configured."""
        return self.source_local and self.target_local


def clients_from_env(
    config: SyncConfig,
    environ: Mapping[str, str],
    *,
    local_cdf_url: str | None = None,
    target_project: str = DEFAULT_LOCAL_TARGET_PROJECT,
) -> CDFClients:
    """clients_for the connections the environment gives; the local CDF's URL is `local_cdf_url`, else
    $OID_SYNC_LOCAL_CDF_URL (the terminal and the benchmarks build clients so)."""
    return clients_for(
        config,
        Connections.from_settings(settings_from_env(environ, config)),
        local_cdf_url=local_cdf_url or env_value(environ, LOCAL_CDF_URL_ENV),
        target_project=target_project,
    )


def clients_for(
    config: SyncConfig,
    connections: Connections,
    *,
    local_cdf_url: str | None = None,
    target_project: str = DEFAULT_LOCAL_TARGET_PROJECT,
) -> CDFClients:
    """Source and target clients, and the SDK's process-wide settings to match.

    Source: `oid_connection` (OID, or any CDF project) when the connections hold its secret, else the project
    `oid_connection.project` (default `publicdata`, synthetic) on the local CDF. Target: `connections.target`, else
    `target_project` on the local CDF. A side that is local needs `local_cdf_url`. A missing URL fails before any
    request and before the process-wide settings change; building the clients makes no request (the first API
    call fetches a token).
    """
    if not re.fullmatch(PROJECT_PATTERN, target_project):
        raise ConfigError(f"target_project: must match {PROJECT_PATTERN} (got {target_project!r})")
    source_secret, target_conn, target_secret = connections.source_secret, connections.target, connections.target_secret
    local_url = ""
    if source_secret is None or target_conn is None:
        if local_cdf_url is None:
            local_sides = [
                *(
                    [f"the source ({config.oid_connection.client_secret_env} is unset)"]
                    if source_secret is None
                    else []
                ),
                *(["the target (CDF_PROJECT is unset)"] if target_conn is None else []),
            ]
            raise ConfigError(
                f"{' and '.join(local_sides)} would be the local CDF, but no local CDF URL was given: pass "
                f"local_cdf_url or set {LOCAL_CDF_URL_ENV} (e.g. http://127.0.0.1:8765 from `oid-sync local-cdf`)"
            )
        try:
            local_url = normalize_base_url(local_cdf_url)
        except ValueError as exc:
            raise ConfigError(f"local CDF URL (local_cdf_url or {LOCAL_CDF_URL_ENV}): {exc}") from None
    timeout_s = config.sync_configuration.request_timeout / 1000
    if source_secret is not None:
        source = oid_source_client(config.oid_connection, source_secret, timeout_s=timeout_s)
    else:
        # The local CDF's synthetic `publicdata` by default; any other project on it (one a test or a user wrote)
        # when oid_connection.project names one.
        source = local_client(local_url, config.oid_connection.project, timeout_s=timeout_s)
    if target_conn is not None:
        assert target_secret is not None  # Connections.from_settings refuses a target without its secret
        target = target_client(target_conn, target_secret, timeout_s=timeout_s)
    else:
        target = local_client(local_url, target_project, timeout_s=timeout_s)
    # gzip follows the target: it receives the big bodies (inserts); requests to the source are small queries.
    configure_sdk(loopback=is_loopback_url(target.config.base_url))
    return CDFClients(
        source=source, target=target, source_local=source_secret is None, target_local=target_conn is None
    )
