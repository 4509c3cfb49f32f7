"""OidSyncComponent: the whole OID sync as a `dg` component, the way a Dagster team adds an integration.

    # defs/oid_sync/defs.yaml: this line alone loads the whole sync against the local CDF
    type: oid_sync_dagster.OidSyncComponent

It is state-backed: the source catalog (which series exist, their names, types and units) is the state. With the
default management type, LEGACY_CODE_SERVER_SNAPSHOTS, the catalog is fetched once when a code server starts and
run and step workers rebuild the same definitions from the stored snapshot without calling the source; Reload in
the UI fetches it again. Attributes are validated before any network call, and an error names the attribute's
path, the value it got (never a secret's: secrets are environment variable *names* here) and the reason.
"""

# No `from __future__ import annotations`: Dagster resolves the component's annotations at runtime.

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import yaml
from dagster.components import DefsStateConfig, DefsStateConfigArgs, ResolvedDefsStateConfig
from pydantic import Field, ValidationError

from oid_sync_dagster.config import (
    ENV_VARS,
    ConfigError,
    SyncConfig,
    TargetConnection,
    format_validation_error,
    load_config,
)
from oid_sync_dagster.integration.build import build_definitions
from oid_sync_dagster.integration.catalog_state import CatalogState, fetch_catalog_state
from oid_sync_dagster.integration.keys import Names
from oid_sync_dagster.integration.resources import OidSyncResource, environment_fields
from oid_sync_dagster.integration.translator import OidSyncTranslator

CONFIG_ENV = ENV_VARS["config_path"]  # a YAML file in the predecessor's schema, when no attribute names one
HISTORY_SENSOR_ENV = "OID_SYNC_HISTORY_SENSOR"  # automation.history_sensor, when the attribute is not given


class ComponentAttributeError(ValueError):
    """A bad attribute of the component: its path, the value it got and why it is refused."""


class TargetAttributes(dg.Model):
    """The target CDF project and its IdP. The secret is the *name* of an environment variable."""

    project: str = Field(description="Target CDF project.")
    cluster: str | None = Field(None, description="CDF cluster, e.g. westeurope-1; or give base_url.")
    base_url: str | None = Field(None, description="e.g. https://westeurope-1.cognitedata.com; wins over cluster.")
    token_url: str = Field(description="The IdP's OAuth2 token endpoint.")
    client_id: str = Field(description="The IdP's client (application) id.")
    client_secret_env: str = Field(
        "IDP_CLIENT_SECRET", description="Name of the environment variable holding the client secret."
    )
    scopes: list[str] | None = Field(None, description="OAuth2 scopes; default ['<base_url>/.default'].")
    audience: str | None = Field(None, description="Token audience, for IdPs that need one.")


class TranslationAttributes(dg.Model):
    key_prefix: list[str] | None = Field(
        None, description="Asset key prefix of the series assets; default [name], or [oid] for an unnamed instance."
    )
    group_name: str | None = Field(
        None,
        description="Put every series in this one group (one step per run); default: the instrument group read "
        "from the tag (pressure, temperature, flow, level, machine, other), one step each.",
    )


class AutomationAttributes(dg.Model):
    realtime_interval_s: int = Field(60, description="Seconds between realtime sensor ticks.")
    history_interval_s: int = Field(30, description="Seconds between history sensor ticks.")
    history_max_attempts: int = Field(3, description="Syncs of a week whose check fails before a cooldown.")
    history_weeks_per_run: int | None = Field(
        None, description="Most weeks one history run syncs (a range, newest first); unset: every missing week."
    )
    history_sensor: Literal["running", "stopped"] | None = Field(
        None,
        description="The history sensor's status until toggled in the UI; stopped: only backfills fill history. "
        f"Default: ${HISTORY_SENSOR_ENV}, else running.",
    )

    def history_sensor_running(self) -> bool:
        status = self.history_sensor or os.environ.get(HISTORY_SENSOR_ENV, "").strip() or "running"
        if status not in ("running", "stopped"):
            raise ComponentAttributeError(f"{HISTORY_SENSOR_ENV}: running or stopped (got {status!r})")
        return status == "running"


class ChecksAttributes(dg.Model):
    realtime_warn_lag_s: float = Field(15 * 60, description="Realtime lag above which `fresh` warns.")
    realtime_error_lag_s: float = Field(60 * 60, description="Realtime lag above which `fresh` fails.")


class OidSyncComponent(dg.StateBackedComponent, dg.Model, dg.Resolvable):
    """Mirrors a CDF source (Open Industrial Data by default) into a target CDF project, shifted in time.

    Builds the target catalog, one weekly-partitioned asset per source series (sharded by instrument group) with
    its per-week completeness check, the realtime edge, the realtime and history sensors, a realtime schedule and
    the purge job. With no attributes it runs against the local CDF, or against what the environment configures
    (the CDF Toolkit's variables, OPEN_ID_CLIENT_SECRET for OID).
    """

    name: str | None = Field(
        None,
        description="Names this instance: its asset keys, jobs, sensors, resource and pool start with it, so two "
        "instances (two targets, two selections) load side by side. Default: the `oid` names.",
    )
    config_file: str | None = Field(
        None, description=f"A YAML file in the predecessor's schema (ep_oid_sync.config.yaml); else ${CONFIG_ENV}."
    )
    config: dict[str, Any] | None = Field(
        None, description="The same settings inline (oid_connection, sync_configuration, time_offset, logging)."
    )
    target: TargetAttributes | None = Field(
        None, description="The target CDF project; default: the environment's, else the local CDF."
    )
    translation: TranslationAttributes = Field(default_factory=TranslationAttributes)
    automation: AutomationAttributes = Field(default_factory=AutomationAttributes)
    checks: ChecksAttributes = Field(default_factory=ChecksAttributes)
    defs_state: ResolvedDefsStateConfig = Field(
        default_factory=DefsStateConfigArgs.legacy_code_server_snapshots,
        description="How the source catalog is kept; default: fetched once per code-server start.",
    )

    @property
    def defs_state_config(self) -> DefsStateConfig:
        return DefsStateConfig.from_args(self.defs_state, default_key=f"OidSyncComponent[{self.names().root}]")

    def names(self) -> Names:
        try:
            return Names(self.name)
        except ValueError as error:
            raise ComponentAttributeError(str(error)) from None

    # ---------- what the attributes resolve to ----------

    def sync_config(self) -> SyncConfig:
        if self.config_file is not None and self.config is not None:
            raise ComponentAttributeError("config_file and config: give one of them, not both")
        if self.config is not None:
            try:
                return SyncConfig.model_validate(self.config)
            except ValidationError as error:
                raise ComponentAttributeError(format_validation_error(error, prefix="config.")) from None
        path = self.config_file or os.environ.get(CONFIG_ENV) or None
        if path is None:
            return SyncConfig()
        where = "config_file" if self.config_file is not None else CONFIG_ENV
        if not Path(path).is_file():
            raise ComponentAttributeError(f"{where}: no such file (got {path!r})")
        try:
            return load_config(Path(path))
        except ConfigError as error:
            raise ComponentAttributeError(f"{where} ({path}): {error}") from None

    def target_connection(self) -> TargetConnection | None:
        if self.target is None:
            return None
        try:
            return TargetConnection.model_validate(self.target.model_dump(exclude_none=True))
        except ValidationError as error:
            raise ComponentAttributeError(format_validation_error(error, prefix="target.")) from None

    def get_resource(self) -> OidSyncResource:
        """The resource the assets use: credentials stay environment references (dg.EnvVar), never values."""
        config = self.sync_config()
        fields: dict[str, Any] = environment_fields()
        fields.pop("config_path", None)
        if self.config is not None:  # as given: the resource validates the same text the same way
            fields["config_json"] = json.dumps(self.config)
        elif (path := self.config_file or os.environ.get(CONFIG_ENV) or None) is not None:
            fields["config_path"] = str(Path(path).resolve())
        source_secret = config.oid_connection.client_secret_env
        fields.pop("oid_client_secret", None)
        if os.environ.get(source_secret):
            fields["oid_client_secret"] = dg.EnvVar(source_secret)
        target = self.target_connection()
        if target is not None:
            fields = {name: value for name, value in fields.items() if not name.startswith("target_")}
            fields |= {
                "target_project": target.project,
                "target_base_url": target.base_url,
                "target_token_url": target.token_url,
                "target_client_id": target.client_id,
                "target_client_secret": dg.EnvVar(target.client_secret_env),
                "target_scopes": " ".join(target.scopes),
            }
            if target.audience is not None:
                fields["target_audience"] = target.audience
        return OidSyncResource(**fields)

    def get_translator(self) -> OidSyncTranslator:
        """Override to change keys, groups or descriptions (see OidSyncTranslator)."""
        prefix = self.translation.key_prefix or [self.names().root]
        return OidSyncTranslator(key_prefix=tuple(prefix), group_name=self.translation.group_name)

    def validate_attributes(self) -> None:
        """Every attribute, checked before the catalog is fetched (so a bad one costs no request)."""
        self.names()
        self.sync_config()
        self.target_connection()
        self._check_positive("automation.realtime_interval_s", self.automation.realtime_interval_s)
        self._check_positive("automation.history_interval_s", self.automation.history_interval_s)
        self._check_positive("automation.history_max_attempts", self.automation.history_max_attempts)
        if self.automation.history_weeks_per_run is not None:
            self._check_positive("automation.history_weeks_per_run", self.automation.history_weeks_per_run)
        self.automation.history_sensor_running()
        if self.checks.realtime_warn_lag_s < 60:  # Dagster's freshness windows are whole minutes at least
            raise ComponentAttributeError(
                f"checks.realtime_warn_lag_s: must be at least 60 (got {self.checks.realtime_warn_lag_s:g})"
            )
        if self.checks.realtime_error_lag_s < self.checks.realtime_warn_lag_s:
            raise ComponentAttributeError(
                f"checks.realtime_error_lag_s: must be at least checks.realtime_warn_lag_s "
                f"({self.checks.realtime_warn_lag_s:g}) (got {self.checks.realtime_error_lag_s:g})"
            )
        group = self.translation.group_name
        if group is not None and not group.isidentifier():  # the same rule as the key prefix's parts
            raise ComponentAttributeError(
                f"translation.group_name: letters, digits and underscores, not starting with a digit (got {group!r})"
            )
        prefix = self.translation.key_prefix
        if prefix is not None and (not prefix or any(not part.isidentifier() for part in prefix)):
            raise ComponentAttributeError(
                "translation.key_prefix: must be a non-empty list of names of letters, digits and underscores "
                f"(got {self.translation.key_prefix!r})"
            )

    @staticmethod
    def _check_positive(path: str, value: float) -> None:
        if value <= 0:
            raise ComponentAttributeError(f"{path}: must be positive (got {value!r})")

    @classmethod
    def from_defs_yaml(cls, path: Path) -> "OidSyncComponent":
        """The component a `defs.yaml` of this type declares, outside a code server (`oid-sync sync`, `status`).

        Attributes are read as written: `{{ ... }}` templates are left to `dg`, and refused here.
        """
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if document.get("type") not in (f"{cls.__module__}.{cls.__name__}", f"oid_sync_dagster.{cls.__name__}"):
            raise ComponentAttributeError(f"{path}: type: not {cls.__name__} (got {document.get('type')!r})")
        attributes = document.get("attributes") or {}
        if "{{" in json.dumps(attributes):
            raise ComponentAttributeError(f"{path}: attributes: templates are resolved by `dg` only")
        try:
            return cls.model_validate(attributes)
        except ValidationError as error:
            raise ComponentAttributeError(format_validation_error(error)) from None

    def load_definitions(self, **overrides: Any) -> dg.Definitions:
        """The definitions with the catalog fetched now: what a code server builds, without one."""
        self.validate_attributes()
        return self.build_definitions(fetch_catalog_state(self.get_resource()), **overrides)

    # ---------- the state-backed component ----------

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        self.validate_attributes()
        return super().build_defs(context)

    def write_state_to_path(self, state_path: Path) -> None:
        state_path.write_text(fetch_catalog_state(self.get_resource()).to_json(), encoding="utf-8")

    def build_defs_from_state(self, context: dg.ComponentLoadContext, state_path: Path | None) -> dg.Definitions:
        if state_path is None:  # state kept elsewhere and never refreshed: nothing to build yet
            return dg.Definitions()
        return self.build_definitions(CatalogState.from_json(state_path.read_text(encoding="utf-8")))

    def build_definitions(self, state: CatalogState, **overrides: Any) -> dg.Definitions:
        """The definitions for a catalog state (tests pass a clock or a retry policy through `overrides`)."""
        settings: Mapping[str, Any] = {
            "translator": self.get_translator(),
            "realtime_interval_s": self.automation.realtime_interval_s,
            "history_interval_s": self.automation.history_interval_s,
            "history_max_attempts": self.automation.history_max_attempts,
            "history_weeks_per_run": self.automation.history_weeks_per_run,
            "history_sensor_running": self.automation.history_sensor_running(),
            "realtime_warn_lag_s": self.checks.realtime_warn_lag_s,
            "realtime_error_lag_s": self.checks.realtime_error_lag_s,
            "names": self.names(),
        }
        return build_definitions(
            state, config=self.sync_config(), resource=self.get_resource(), **{**settings, **overrides}
        )
