"""Configuration: pydantic models loaded from YAML in the predecessor's schema, plus our additions.

An existing `ep_oid_sync.config.yaml` of the CDF Toolkit module loads as is (also wrapped in the Toolkit's
`externalId`/`config` envelope). Every bad value fails here, naming the field and the value, before any
network call. The OID client secret is never a field: only the name of the env var that holds it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

# Imports flow dagster layer -> engine -> config, so the units are spelled out here, not imported from sync.
SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
_UNIT_MS = {"s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS, "w": WEEK_MS}
# One or more <int><unit> terms ("15m", "1w10m"), optionally "-ago" as the predecessor writes "168h-ago".
_RELATIVE_RE = re.compile(r"^(?:\d+[smhdw])+(?:-ago)?$")
_TERM_RE = re.compile(r"(\d+)([smhdw])")
# CDF space / external-id shapes for data modeling identifiers.
_SPACE_RE = r"^[a-zA-Z][a-zA-Z0-9_-]{0,41}[a-zA-Z0-9]?$"
_DM_ID_RE = r"^[a-zA-Z]([a-zA-Z0-9_]{0,253}[a-zA-Z0-9])?$"
_UUID_RE = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
MAX_POINTS_PER_INSERT = 100_000  # CDF's limit per datapoints insert request.
MAX_SERIES_PER_READ = 100  # CDF's limit of items per datapoints retrieve request.


class ConfigError(ValueError):
    """An unusable configuration; the message has one `field.path: problem (got value)` line per problem."""


def parse_relative_ms(text: str) -> int:
    """Parse a relative time such as "15m", "2d", "1w10m" or "168h-ago" into integer ms (a duration >= 0).

    Units: s, m (minutes), h, d, w. "-ago" is accepted because the predecessor's YAML writes it; it does not
    change the sign. Integers are exact: no float ever touches the arithmetic.
    """
    if not isinstance(text, str):
        raise ValueError(f"relative time must be text like '15m', '2d' or '12w-ago', got {text!r}")
    cleaned = text.strip().lower()
    if not _RELATIVE_RE.fullmatch(cleaned):
        raise ValueError(
            f"invalid relative time {text!r}: expected <integer><unit>[...] with unit s, m, h, d or w, "
            "optionally followed by '-ago' (e.g. '15m', '1w10m', '168h-ago')"
        )
    return sum(int(n) * _UNIT_MS[unit] for n, unit in _TERM_RE.findall(cleaned))


def format_relative_ms(ms: int) -> str:
    """The inverse of parse_relative_ms for messages: 605400000 -> '1w10m'."""
    if ms == 0:
        return "0s"
    parts = []
    for unit in "wdhms":
        count, ms = divmod(ms, _UNIT_MS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) + (f"+{ms}ms" if ms else "")


# CDF stores timestamps from 1900-01-01 to 2099-12-31, so no duration or offset longer than that span (about 200
# years) can mean anything: 10000 weeks (about 190 years) is the round bound below it. Longer ones only fail later,
# at the first request (reads before 1900) or never visibly (an edge ceiling before all data).
MAX_DURATION_MS = 10_000 * WEEK_MS
MAX_HISTORY_WEEKS = 520


def _bounded_relative_ms(limit_ms: int, *, positive: bool) -> Callable[[object], int]:
    # Bounds are checked here, not with gt/le, so the error shows the text as written rather than the parsed ms.
    def parse(text: object) -> int:
        ms = parse_relative_ms(text)  # type: ignore[arg-type]  # it refuses anything but text itself
        if positive and ms <= 0:
            raise ValueError(f"must be a positive duration, got {text!r}")
        if ms > limit_ms:
            raise ValueError(f"must be at most {format_relative_ms(limit_ms)}, got {text!r}")
        return ms

    return parse


# Only text is a relative time: a bare YAML number (15: minutes? ms?) is ambiguous and rejected.
RelativeMs = Annotated[int, BeforeValidator(_bounded_relative_ms(MAX_DURATION_MS, positive=False))]
PositiveRelativeMs = Annotated[int, BeforeValidator(_bounded_relative_ms(MAX_DURATION_MS, positive=True))]
StrictInt = Annotated[int, Field(strict=True)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _default_scopes(value: object, info: ValidationInfo) -> object:
    """['<base_url>/.default'], as CDF on Entra ID expects, when no scopes are given."""
    if value is None:
        # Without a valid base_url (its error is reported) any placeholder will do: the model fails anyway.
        return [f"{info.data.get('base_url') or '<base_url>'}/.default"]
    return value


class OidConnection(_Model):
    """Where the source lives and how to authenticate to it: OID (`publicdata`) by default, or any CDF project
    through any OAuth2 client-credentials IdP (give base_url or cluster, and token_url or tenant_id)."""

    tenant_id: str = Field(
        "48d5043c-cf70-4c49-881c-c638f5796997", pattern=_UUID_RE, description="Entra ID tenant of OID."
    )
    client_id: str = Field(
        "1b90ede3-271e-401b-81a0-a4d52bea3273", min_length=1, description="OID's public application id."
    )
    cluster: str = Field("api", pattern=r"^[a-z0-9][a-z0-9-]*$", description="CDF cluster, e.g. api.")
    project: str = Field("publicdata", pattern=r"^[a-z0-9][a-z0-9-]*$", description="Source CDF project.")
    client_secret_env: str = Field(
        "OPEN_ID_CLIENT_SECRET",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the env var holding the OID client secret; the secret itself is never config.",
    )
    # Field order matters: each default is derived from the fields above it.
    base_url: str = Field(
        None,  # https://<cluster>.cognitedata.com
        validate_default=True,
        description="The source's API URL, e.g. https://westeurope-1.cognitedata.com; wins over cluster.",
    )
    token_url: str = Field(
        None,  # Entra ID's endpoint of tenant_id
        validate_default=True,
        description="The IdP's OAuth2 token endpoint; default Entra ID's for tenant_id.",
    )
    scopes: list[Annotated[str, Field(min_length=1)]] = Field(
        None, validate_default=True, min_length=1, description="OAuth2 scopes; default ['<base_url>/.default']."
    )

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, value: object, info: ValidationInfo) -> object:
        if value is None:
            return f"https://{info.data.get('cluster', 'api')}.cognitedata.com"
        return normalize_base_url(value)  # type: ignore[arg-type]

    @field_validator("token_url", mode="before")
    @classmethod
    def _token_url(cls, value: object, info: ValidationInfo) -> object:
        if value is None:
            return f"https://login.microsoftonline.com/{info.data.get('tenant_id', '')}/oauth2/v2.0/token"
        if not isinstance(value, str) or not re.fullmatch(r"https?://\S+", value):
            raise ValueError(f"must be an http(s) URL (got {value!r})")
        return value

    _scopes = field_validator("scopes", mode="before")(lambda value, info: _default_scopes(value, info))

    @property
    def scope(self) -> str:
        return self.scopes[0]


_PROJECT_RE = r"^[a-z0-9][a-z0-9-]*$"
_ENV_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
# What the SDK's URL check accepts as a host (`validate_url_and_return_retryability`: `[a-z\d.:\-]+`).
_HOST_RE = re.compile(r"^[a-z0-9.:-]+$")


def normalize_base_url(url: str) -> str:
    """`scheme://host[:port]`, lower-cased, no trailing slash; anything the SDK would mishandle is refused here.

    The SDK raises `ValueError: URL ... is not valid` on an upper-case host, but only at the first request;
    host names are case-insensitive, so lower-casing is safe. A host with `_` or a path prefix does not fail in
    the SDK, but its URL then no longer parses, so non-idempotent POSTs (e.g. `/extpipes/runs`) get retried:
    refused rather than risk duplicates.
    """
    if not isinstance(url, str):
        raise ValueError(f"must be a URL like https://api.cognitedata.com, got {url!r}")
    parts = urlsplit(url.strip())
    scheme, netloc = parts.scheme.lower(), parts.netloc.lower()
    if scheme not in ("http", "https") or not netloc:
        raise ValueError(f"must be an http(s) URL like https://api.cognitedata.com, got {url!r}")
    if "@" in netloc:
        # The user info may be a password: the URL is shown without it.
        shown = urlunsplit((parts.scheme, netloc.rsplit("@", 1)[1], parts.path, parts.query, parts.fragment))
        raise ValueError(
            f"must not carry user info; credentials come from the environment (got {shown!r} with user info)"
        )
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(
            f"must be scheme://host[:port] with no path, query or fragment (got {url!r}); with a path prefix the "
            "SDK misclassifies which requests are safe to retry"
        )
    if not _HOST_RE.fullmatch(netloc):
        raise ValueError(
            f"host must be letters, digits, '.', '-' and an optional :port (got {url!r}); the SDK's URL check "
            "rejects anything else, e.g. '_' or an IPv6 literal"
        )
    return f"{scheme}://{netloc}"


def _lower_strip(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


class TargetConnection(_Model):
    """The user's CDF project and its IdP (any OAuth2 client-credentials IdP). The secret is never a field."""

    project: str = Field(pattern=_PROJECT_RE, description="Target CDF project.")
    # Field order matters: base_url is derived from cluster, scopes from base_url.
    cluster: Annotated[str | None, BeforeValidator(_lower_strip)] = Field(
        None, pattern=r"^[a-z0-9][a-z0-9-]*$", description="CDF cluster, e.g. westeurope-1; or give base_url."
    )
    base_url: str = Field(
        None,  # derived from cluster when not given; the validator always leaves a str
        validate_default=True,
        description="e.g. https://westeurope-1.cognitedata.com; wins over cluster.",
    )
    token_url: str = Field(pattern=r"^https?://\S+$", description="The IdP's OAuth2 token endpoint.")
    client_id: str = Field(min_length=1, description="The IdP's client (application) id.")
    client_secret_env: str = Field(
        "IDP_CLIENT_SECRET",
        pattern=_ENV_NAME_RE,
        description="Name of the env var holding the client secret; the secret itself is never config.",
    )
    scopes: list[Annotated[str, Field(min_length=1)]] = Field(
        None,  # default [f"{base_url}/.default"], as CDF on Entra ID expects
        validate_default=True,
        min_length=1,
        description="OAuth2 scopes; default ['<base_url>/.default'].",
    )
    audience: str | None = Field(None, min_length=1, description="Token audience, for IdPs that need one.")

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, value: object, info: ValidationInfo) -> object:
        if value is None:
            if "cluster" not in info.data:
                return ""  # cluster itself failed and is reported; the model fails anyway
            if (cluster := info.data["cluster"]) is None:
                raise ValueError("give a cluster or a base_url")
            return f"https://{cluster}.cognitedata.com"
        return normalize_base_url(value)  # type: ignore[arg-type]

    _scopes = field_validator("scopes", mode="before")(lambda value, info: _default_scopes(value, info))


# Every environment variable the product reads, by the resource setting it stands for: the one table. The target's
# are the CDF Toolkit's names, so one `.env` serves both `cdf deploy` and this code location; the OID secret's name
# is the default of oid_connection.client_secret_env.
ENV_VARS = {
    "oid_client_secret": "OPEN_ID_CLIENT_SECRET",
    "target_project": "CDF_PROJECT",
    "target_cluster": "CDF_CLUSTER",
    "target_base_url": "CDF_URL",
    "target_token_url": "IDP_TOKEN_URL",
    "target_tenant_id": "IDP_TENANT_ID",
    "target_client_id": "IDP_CLIENT_ID",
    "target_client_secret": "IDP_CLIENT_SECRET",
    "target_scopes": "IDP_SCOPES",
    "target_audience": "IDP_AUDIENCE",
    "local_cdf_url": "OID_SYNC_LOCAL_CDF_URL",
    "config_path": "OID_SYNC_CONFIG",
}
# TargetConnection field -> its env var (the secret and the tenant are read separately).
TARGET_ENV_VARS = {
    field: ENV_VARS[f"target_{field}"]
    for field in ("project", "cluster", "base_url", "token_url", "client_id", "scopes", "audience")
}
TARGET_SECRET_ENV = ENV_VARS["target_client_secret"]
TENANT_ENV = ENV_VARS["target_tenant_id"]


def env_value(environ: Mapping[str, str], name: str) -> str | None:
    """An env var's value, stripped; None when unset or blank (a `.env` line `X=` means unset, not empty)."""
    return setting_value(environ.get(name))


def setting_value(value: str | None) -> str | None:
    """A setting stripped; None when unset or blank. A CRLF `.env` file would otherwise send a trailing '\\r' to the
    IdP, and `X=` means unset, not empty."""
    return (value or "").strip() or None


Settings = Mapping[str, "str | None"]  # ENV_VARS' keys -> values: the resource's fields, or the environment's


def settings_from_env(environ: Mapping[str, str], config: SyncConfig) -> dict[str, str | None]:
    """The settings the environment gives (ENV_VARS), the source's secret read from the variable the config names
    (oid_connection.client_secret_env)."""
    names = {**ENV_VARS, "oid_client_secret": config.oid_connection.client_secret_env}
    return {name: environ.get(env) for name, env in names.items()}


@dataclass(frozen=True)
class Connections:
    """Where a sync reads and writes, resolved once from the settings. The secrets are values here (they are handed
    to the SDK's credential provider and nowhere else), so repr leaves them out."""

    source_secret: str | None = field(default=None, repr=False)  # set: the source is real (OID or any CDF)
    target: TargetConnection | None = None  # None: the target is a project on the local CDF
    target_secret: str | None = field(default=None, repr=False)

    @property
    def source_real(self) -> bool:
        return self.source_secret is not None

    @property
    def mode(self) -> str:
        source = "oid" if self.source_real else "local"
        return f"source={source} target={'cdf' if self.target is not None else 'local'}"

    @classmethod
    def from_settings(cls, settings: Settings) -> Connections:
        """The source's secret (its presence makes the source real) and the target (target_connection)."""
        target = target_connection(settings)
        return cls(
            source_secret=setting_value(settings.get("oid_client_secret")),
            target=target,
            target_secret=setting_value(settings.get("target_client_secret")) if target is not None else None,
        )


def target_connection_from_env(environ: Mapping[str, str]) -> TargetConnection | None:
    """The target from the CDF Toolkit's env vars (target_connection over the environment)."""
    return target_connection({name: environ.get(env) for name, env in ENV_VARS.items()})


def target_connection(settings: Settings) -> TargetConnection | None:
    """The target from the settings (ENV_VARS' keys); None when target_project is unset (the target is the local
    CDF). Errors name each setting by its env var, the CDF Toolkit's names the resource's fields stand for.

    CDF_PROJECT; CDF_URL or CDF_CLUSTER (CDF_URL wins); IDP_TOKEN_URL, or IDP_TENANT_ID for Entra ID's token
    URL; IDP_CLIENT_ID; IDP_CLIENT_SECRET (only checked to be set); optional IDP_SCOPES (comma or space separated,
    default `<base_url>/.default`) and IDP_AUDIENCE. Errors show values, never the secret's.
    """

    def get(field: str) -> str | None:
        return setting_value(settings.get(f"target_{field}"))

    E = TARGET_ENV_VARS
    project = get("project")
    if project is None:
        return None
    token_url = get("token_url")
    if token_url is None and (tenant := get("tenant_id")) is not None:
        if not re.fullmatch(r"[A-Za-z0-9.-]+", tenant):
            raise ConfigError(
                f"{TENANT_ENV}: must be a tenant id or domain, e.g. contoso.onmicrosoft.com (got {tenant!r})"
            )
        token_url = f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
    missing = []
    if get("base_url") is None and get("cluster") is None:
        missing.append(f"{E['cluster']} or {E['base_url']}")
    if token_url is None:
        missing.append(f"{E['token_url']} (or {TENANT_ENV} for Entra ID)")
    if get("client_id") is None:
        missing.append(E["client_id"])
    if get("client_secret") is None:
        missing.append(TARGET_SECRET_ENV)
    if missing:
        raise ConfigError(
            f"{E['project']}={project!r} selects a real target CDF project, but these env vars are unset or empty: "
            f"{', '.join(missing)}. Set them (the CDF Toolkit's names), or unset {E['project']} to write to the "
            "local CDF."
        )
    scopes = get("scopes")
    data = {
        "project": project,
        "cluster": get("cluster"),
        "base_url": get("base_url"),
        "token_url": token_url,
        "client_id": get("client_id"),
        "client_secret_env": TARGET_SECRET_ENV,
        "scopes": re.split(r"[\s,]+", scopes.strip(" ,")) if scopes else None,
        "audience": get("audience"),
    }
    try:
        return TargetConnection.model_validate(data)
    except ValidationError as exc:
        lines = []
        for item in exc.errors(include_url=False):
            field = str(item["loc"][0]) if item["loc"] else ""
            name = TARGET_ENV_VARS.get(field, field)
            if field == "token_url" and get("token_url") is None:
                name = f"{TENANT_ENV} (gives the token URL)"
            if field == "base_url" and data["base_url"] is None:
                name, field = E["cluster"], "cluster"
            message = item["msg"].removeprefix("Value error, ")
            # What the user set, not the normalized value pydantic saw (CDF_CLUSTER 'West Europe', not 'west europe').
            raw = get(field) if field in TARGET_ENV_VARS else None
            shown = repr(raw if raw is not None else item.get("input"))
            lines.append(f"{name}: {message} (got {shown})")
        text = "\n".join(f"  {line}" for line in lines)
        raise ConfigError(f"invalid target connection in the environment:\n{text}") from None


class SyncConfiguration(_Model):
    """What is synced where. Legacy keys keep a stated meaning; none brings back a fixed read window."""

    # Field order matters: validators compare with fields declared before them.
    sync_realtime_start: PositiveRelativeMs | None = Field(
        None,
        description=(
            "Legacy (predecessor: realtime re-read the fixed window [now - this, now - sync_all_end)). Here: "
            "the legacy spelling of realtime_catch_up_limit, i.e. how far back realtime reaches after an "
            "outage; realtime always resumes at each series' synced-through mark. If both are given they "
            "must be equal."
        ),
    )
    sync_all_end: RelativeMs | None = Field(
        None,
        description=(
            "Legacy (predecessor: the assumed source lag, end of every read, e.g. 168h-ago). Here: an "
            "optional ceiling on the source edge, edge = min(measured edge, now - this); never a "
            "substitute for measuring it. None: the measured edge alone."
        ),
    )
    sync_random_start: RelativeMs | None = Field(
        None,
        description=(
            "Legacy (predecessor: start of the random per-series backfill, e.g. 12w-ago). Here: the legacy "
            "spelling of history_weeks, rounded up to whole weeks; must be older than sync_all_end. If both "
            "are given they must agree."
        ),
    )
    instance_space: str = Field(
        "oid_sync", pattern=_SPACE_RE, description="Target instance space of the CogniteTimeSeries nodes."
    )
    reset_backfill: bool = Field(
        False,
        strict=True,
        description=(
            "Legacy (predecessor: cleared its backfill tags, on every run). Here: a one-shot request to "
            "re-sync all history weeks; the Dagster layer acts on it once per config change, never per run. "
            "Rewriting is idempotent (rule 5) and nothing is deleted."
        ),
    )
    timeseries_view_space: str = Field("cdf_cdm", pattern=_SPACE_RE)
    timeseries_view_external_id: str = Field("CogniteTimeSeries", pattern=_DM_ID_RE)
    timeseries_view_version: str = Field("v1", pattern=r"^[a-zA-Z0-9]([.a-zA-Z0-9_-]{0,41}[a-zA-Z0-9])?$")
    history_weeks: StrictInt = Field(
        12, ge=1, le=MAX_HISTORY_WEEKS, description="Closed target weeks of history to sync."
    )
    realtime_catch_up_limit: PositiveRelativeMs = Field(
        DAY_MS,  # 1d
        description="How far back realtime reaches (from its window's end); older gaps heal by week sealing.",
    )
    external_id_prefix: str = Field("pi:", min_length=1, description="Source series selected by prefix.")
    external_ids: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None, min_length=1, description="Exactly these source series (the prefix is then not used)."
    )
    data_set_external_id: str | None = Field(
        None, min_length=1, description="Only source series in this data set (with the prefix)."
    )

    @model_validator(mode="after")
    def _one_selection(self) -> Self:
        if self.external_ids is not None and self.data_set_external_id is not None:
            raise ValueError(
                "external_ids and data_set_external_id: give exact external ids, or a data set (with the prefix), "
                "not both"
            )
        return self

    extraction_pipeline_external_id: str | None = Field(
        None, min_length=1, max_length=255, description="Extraction pipeline to report runs to; None: none."
    )
    create_extraction_pipeline: bool = Field(
        False, strict=True, description="Create the extraction pipeline if it does not exist (needs extpipes:write)."
    )
    extraction_pipeline_data_set_id: StrictInt | None = Field(
        None, ge=1, description="Data set of a pipeline created here; CDF requires one."
    )
    create_target_nodes: bool = Field(
        True,
        strict=True,
        description=(
            "Upsert the target's CogniteTimeSeries nodes (and the instance space). False: the user owns them; "
            "the sync only checks that they exist with the right type."
        ),
    )
    insert_encoding: Literal["protobuf", "json"] = Field(
        "protobuf",
        description=(
            "How datapoints go to the target: protobuf bodies built from the arrays (fast), or JSON through the "
            "SDK. A target that refuses protobuf gets JSON from then on (one log line)."
        ),
    )
    points_per_insert: StrictInt = Field(MAX_POINTS_PER_INSERT, ge=1, le=MAX_POINTS_PER_INSERT)
    series_per_read: StrictInt = Field(MAX_SERIES_PER_READ, ge=1, le=MAX_SERIES_PER_READ)
    max_workers: StrictInt = Field(4, ge=1, le=64)
    request_timeout: Annotated[int, BeforeValidator(_bounded_relative_ms(600_000, positive=True))] = Field(
        60_000,
        description=(
            "Per-request timeout of both clients (e.g. 60s). A stalled request is dropped after this and, when "
            "idempotent, retried by the SDK."
        ),
    )

    @model_validator(mode="after")
    def _reconcile_legacy(self) -> Self:
        problems: list[str] = []
        fmt = format_relative_ms
        if (
            self.sync_random_start is not None
            and self.sync_all_end is not None
            and self.sync_random_start <= self.sync_all_end
        ):
            problems.append(
                f"sync_configuration.sync_random_start ({fmt(self.sync_random_start)}-ago) must be older "
                f"than sync_configuration.sync_all_end ({fmt(self.sync_all_end)}-ago)"
            )
        if self.sync_realtime_start is not None:
            if "realtime_catch_up_limit" not in self.model_fields_set:
                self.realtime_catch_up_limit = self.sync_realtime_start
            elif self.realtime_catch_up_limit != self.sync_realtime_start:
                problems.append(
                    f"sync_configuration.sync_realtime_start ({fmt(self.sync_realtime_start)}) conflicts "
                    f"with sync_configuration.realtime_catch_up_limit ({fmt(self.realtime_catch_up_limit)}): "
                    "give one, or equal values"
                )
        if self.sync_random_start is not None:
            weeks = math.ceil(self.sync_random_start / WEEK_MS)
            if weeks > MAX_HISTORY_WEEKS:  # assigned below without validation, so history_weeks' bound is checked here
                problems.append(
                    f"sync_configuration.sync_random_start ({fmt(self.sync_random_start)}-ago) asks for {weeks} weeks "
                    f"of history; at most {MAX_HISTORY_WEEKS} (the bound of sync_configuration.history_weeks)"
                )
            elif "history_weeks" not in self.model_fields_set:
                self.history_weeks = max(weeks, 1)
            elif self.history_weeks != weeks:
                problems.append(
                    f"sync_configuration.sync_random_start ({weeks} weeks) conflicts with "
                    f"sync_configuration.history_weeks ({self.history_weeks})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _pipeline_to_create(self) -> Self:
        # Checked here, not at the first report: that comes after a whole sync, and then fails every run.
        if not self.create_extraction_pipeline:
            return self
        missing = [
            f"sync_configuration.{name} is not set{why}"
            for name, value, why in (
                ("extraction_pipeline_external_id", self.extraction_pipeline_external_id, " (the pipeline to create)"),
                (
                    "extraction_pipeline_data_set_id",
                    self.extraction_pipeline_data_set_id,
                    " (CDF requires every extraction pipeline to belong to a data set)",
                ),
            )
            if value is None
        ]
        if missing:
            raise ValueError("sync_configuration.create_extraction_pipeline is true, but " + " and ".join(missing))
        return self


class TimeOffset(_Model):
    """How far source data is shifted forward: offset = offset_weeks * 7d + offset_minutes * 1min."""

    offset_weeks: StrictInt = 1
    offset_minutes: StrictInt = 10

    @model_validator(mode="after")
    def _non_negative(self) -> Self:
        given = f"time_offset.offset_weeks={self.offset_weeks} and time_offset.offset_minutes={self.offset_minutes}"
        if self.offset_ms < 0:
            raise ValueError(
                f"{given} give a negative offset ({self.offset_ms} ms); shifting back would not make data look live"
            )
        if self.offset_ms > MAX_DURATION_MS:
            raise ValueError(
                f"{given} give an offset over {format_relative_ms(MAX_DURATION_MS)}; CDF's timestamps span "
                "1900-01-01 to 2099-12-31, so no source point could land in the target"
            )
        return self

    @property
    def offset_ms(self) -> int:
        return self.offset_weeks * WEEK_MS + self.offset_minutes * MINUTE_MS


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _upper(value: object) -> object:
    # Accept "info"; leave a bad value untouched so the error shows it as written.
    return value.upper() if isinstance(value, str) and value.upper() in _LOG_LEVELS else value


class LoggingConfig(_Model):
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)] = "INFO"


class SyncConfig(_Model):
    """The whole configuration file."""

    oid_connection: OidConnection = Field(default_factory=OidConnection)
    sync_configuration: SyncConfiguration = Field(default_factory=SyncConfiguration)
    time_offset: TimeOffset = Field(default_factory=TimeOffset)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)


_USER_INFO = re.compile(r"://[^/@\s]+@")


def _redact(loc: tuple[int | str, ...], value: Any) -> Any:
    # A secret pasted into the file must not be echoed into logs by the very error that rejects it: not under a key
    # naming a secret, and not inside a mapping shown whole (a missing field's error shows its parent).
    if any("secret" in str(part).lower() for part in loc):
        return "<redacted>"
    if isinstance(value, dict):
        return {key: _redact((*loc, key), item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(loc, item) for item in value]
    if isinstance(value, str):  # a URL's user info may be a password
        return _USER_INFO.sub("://<redacted>@", value)
    return value


def format_validation_error(error: ValidationError, *, prefix: str = "") -> str:
    """One line per problem: the field's dotted path (after `prefix`), the reason, the value (never a secret)."""
    lines = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        path = prefix + ".".join(str(part) for part in loc) if loc else prefix.rstrip(".") or "<root>"
        message = item["msg"].removeprefix("Value error, ")
        shown = repr(_redact(loc, item.get("input")))
        if item["type"] == "value_error" and (isinstance(item.get("input"), dict) or shown in message):
            # Cross-field problems already name their fields and values; so do our validators' messages that quote
            # the value (pydantic's own messages never do).
            lines.append(f"{path}: {message}")
        else:
            lines.append(f"{path}: {message} (got {shown})")
    return "\n".join(lines)


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except OSError:  # e.g. a one-line JSON config longer than a file name may be
        return False


def load_config(path_or_text: str | Path) -> SyncConfig:
    """Load a SyncConfig from a YAML file path or YAML text; raises ConfigError listing every problem."""
    source = "text"
    text: str
    if isinstance(path_or_text, Path) or ("\n" not in path_or_text and _is_file(path_or_text)):
        path = Path(path_or_text)
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {source}: {exc}") from exc
    else:
        text = path_or_text
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {source} is not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        hint = " (if this was a file path, the file does not exist)" if isinstance(data, str) else ""
        raise ConfigError(f"<root>: the config must be a mapping (got {data!r}){hint}")
    # The Toolkit stores extraction-pipeline config as {externalId: ..., config: {...}}; accept the envelope.
    if "config" in data and "externalId" in data:
        inner = data["config"]
        data = (yaml.safe_load(inner) if isinstance(inner, str) else inner) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"config: must be a mapping (got {inner!r})")
    try:
        return SyncConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            "invalid configuration:\n" + "\n".join(f"  {line}" for line in format_validation_error(exc).splitlines())
        ) from None
