"""Configuration: pydantic models loaded from YAML in the predecessor's schema, plus our additions.

An existing `ep_oid_sync.config.yaml` of the CDF Toolkit module loads as is (also wrapped in the Toolkit's
`externalId`/`config` envelope). Every bad value fails here, naming the field and the value, before any
network call. The OID client secret is never a field: only the name of the env var that holds it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

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


# Only text is a relative time: a bare YAML number (15: minutes? ms?) is ambiguous and rejected.
RelativeMs = Annotated[int, BeforeValidator(parse_relative_ms)]


def _positive_relative_ms(text: str) -> int:
    # Checked here, not with gt=0, so the error shows the text as written rather than the parsed 0.
    ms = parse_relative_ms(text)
    if ms <= 0:
        raise ValueError(f"must be a positive duration, got {text!r}")
    return ms


PositiveRelativeMs = Annotated[int, BeforeValidator(_positive_relative_ms)]
StrictInt = Annotated[int, Field(strict=True)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OidConnection(_Model):
    """Where the source (OID `publicdata` by default) lives and how to authenticate to it."""

    tenant_id: str = Field(
        "48d5043c-cf70-4c49-881c-c638f5796997", pattern=_UUID_RE, description="Entra ID tenant of OID."
    )
    client_id: str = Field(
        "1b90ede3-271e-401b-81a0-a4d52bea3273", pattern=_UUID_RE, description="OID's public application id."
    )
    cluster: str = Field("api", pattern=r"^[a-z0-9][a-z0-9-]*$", description="CDF cluster, e.g. api.")
    project: str = Field("publicdata", pattern=r"^[a-z0-9][a-z0-9-]*$", description="Source CDF project.")
    client_secret_env: str = Field(
        "OPEN_ID_CLIENT_SECRET",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the env var holding the OID client secret; the secret itself is never config.",
    )

    @property
    def token_url(self) -> str:
        return f"https://login.microsoftonline.com/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def scopes(self) -> list[str]:
        return [self.scope]

    @property
    def scope(self) -> str:
        return f"https://{self.cluster}.cognitedata.com/.default"

    @property
    def base_url(self) -> str:
        return f"https://{self.cluster}.cognitedata.com"


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
    history_weeks: StrictInt = Field(12, ge=1, le=520, description="Closed target weeks of history to sync.")
    realtime_catch_up_limit: PositiveRelativeMs = Field(
        DAY_MS,  # 1d
        description="How far back realtime reaches (from its window's end); older gaps heal by week sealing.",
    )
    external_id_prefix: str = Field("pi:", min_length=1, description="Source series selected by prefix.")
    extraction_pipeline_external_id: str | None = Field(
        None, min_length=1, max_length=255, description="Extraction pipeline to report runs to; None: none."
    )
    points_per_insert: StrictInt = Field(MAX_POINTS_PER_INSERT, ge=1, le=MAX_POINTS_PER_INSERT)
    series_per_read: StrictInt = Field(MAX_SERIES_PER_READ, ge=1, le=MAX_SERIES_PER_READ)
    max_workers: StrictInt = Field(4, ge=1, le=64)

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
            if "history_weeks" not in self.model_fields_set:
                self.history_weeks = max(weeks, 1)
            elif self.history_weeks != weeks:
                problems.append(
                    f"sync_configuration.sync_random_start ({weeks} weeks) conflicts with "
                    f"sync_configuration.history_weeks ({self.history_weeks})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class TimeOffset(_Model):
    """How far source data is shifted forward: offset = offset_weeks * 7d + offset_minutes * 1min."""

    offset_weeks: StrictInt = 1
    offset_minutes: StrictInt = 10

    @model_validator(mode="after")
    def _non_negative(self) -> Self:
        if self.offset_ms < 0:
            raise ValueError(
                f"time_offset.offset_weeks={self.offset_weeks} and time_offset.offset_minutes="
                f"{self.offset_minutes} give a negative offset ({self.offset_ms} ms); shifting back would "
                "not make data look live"
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


def _redact(loc: tuple[int | str, ...], value: Any) -> Any:
    # A secret pasted into the file must not be echoed into logs by the very error that rejects it.
    return "<redacted>" if any("secret" in str(part).lower() for part in loc) else value


def _format(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        path = ".".join(str(part) for part in loc) or "<root>"
        message = item["msg"].removeprefix("Value error, ")
        if isinstance(item.get("input"), dict) and item["type"] == "value_error":
            # Cross-field problems already name their fields and values.
            lines.append(f"{path}: {message}")
        else:
            lines.append(f"{path}: {message} (got {_redact(loc, item.get('input'))!r})")
    return "invalid configuration:\n" + "\n".join(f"  {line}" for line in lines)


def load_config(path_or_text: str | Path) -> SyncConfig:
    """Load a SyncConfig from a YAML file path or YAML text; raises ConfigError listing every problem."""
    source = "text"
    text: str
    if isinstance(path_or_text, Path) or ("\n" not in path_or_text and Path(path_or_text).is_file()):
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
        raise ConfigError(_format(exc)) from None
