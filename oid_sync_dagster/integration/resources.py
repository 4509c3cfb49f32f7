"""OidSyncResource: the source (OID) and target CDF clients, and the engine over them.

Settings mirror the environment variables that configure real CDF (the CDF Toolkit's names, config.ENV_VARS);
OidSyncComponent fills them with dg.EnvVar (or the `target` attribute's plain values and its secret's EnvVar), so
secrets stay environment references in Dagster's config and never become values in it. The resource resolves its
fields once into typed models (SyncConfig, Connections) that build the clients. With neither OID nor
target credentials configured, the resource runs in local mode and starts the local CDF for the duration of each run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from oid_sync_dagster.clients import clients_for
from oid_sync_dagster.config import ENV_VARS, ConfigError, Connections, SyncConfig, load_config
from oid_sync_dagster.integration.keys import series_of_specs
from oid_sync_dagster.integration.local_mode import LocalCDF, LocalMode, serving_local_cdf
from oid_sync_dagster.integration.steps import refusals_fail_at_once, sync_realtime_edge, sync_series_weeks
from oid_sync_dagster.sync.engine import SyncEngine
from oid_sync_dagster.sync.model import CatalogSeries

# Resource field -> the environment variable it stands for (its EnvVar, and the name errors use): config.ENV_VARS.
ENV_FIELDS = ENV_VARS


class OidSyncResource(dg.ConfigurableResource):
    """Source and target CDF clients plus the sync engine; local mode when no CDF is configured."""

    config_path: str | None = Field(None, description="YAML config in the predecessor's schema (optional).")
    config_json: str | None = Field(
        None, description="The config itself, as JSON (the component's `config` attribute)."
    )
    # repr=False: once Dagster resolves the EnvVar, pydantic's repr and str would print the value.
    oid_client_secret: str | None = Field(None, repr=False, description="OID client secret (an EnvVar).")
    target_project: str | None = None
    target_cluster: str | None = None
    target_base_url: str | None = None
    target_token_url: str | None = None
    target_tenant_id: str | None = None
    target_client_id: str | None = None
    target_client_secret: str | None = Field(None, repr=False, description="Target IdP client secret (an EnvVar).")
    target_scopes: str | None = None
    target_audience: str | None = None
    local_cdf_url: str | None = Field(None, description="Use a running local CDF instead of starting one.")
    local_target_project: str = Field("oid-sync", description="Target project name on the local CDF.")
    local_cdf_dir: str | None = Field(None, description="Local CDF data directory (default $DAGSTER_HOME/local-cdf).")
    local_cdf_mode: LocalMode = Field("process", description="Start the local CDF as a child process or a thread.")

    _stack: ExitStack | None = PrivateAttr(None)
    _engine: SyncEngine | None = PrivateAttr(None)
    _local: LocalCDF | None = PrivateAttr(None)  # the local CDF this execution started, if it started one
    _config: SyncConfig | None = PrivateAttr(None)
    _connections: Connections | None = PrivateAttr(None)

    def sync_config(self) -> SyncConfig:
        """The typed configuration, loaded once per resource object (its settings never change)."""
        if self._config is None:
            self._config = self._load_config()
        return self._config

    def _load_config(self) -> SyncConfig:
        if self.config_json is not None:
            return load_config(self.config_json)
        if not self.config_path:
            return SyncConfig()
        if not Path(self.config_path).is_file():
            env = ENV_FIELDS["config_path"]
            raise ConfigError(f"config_path ({env}): no such file {self.config_path!r}")
        return load_config(Path(self.config_path))

    def connections(self) -> Connections:
        """The source's secret and the typed target, resolved from the fields once per resource object."""
        if self._connections is None:
            self._connections = Connections.from_settings({name: getattr(self, name) for name in ENV_FIELDS})
        return self._connections

    @property
    def needs_local_cdf(self) -> bool:
        connections = self.connections()
        return (not connections.source_real or connections.target is None) and self.local_cdf_url is None

    @property
    def mode(self) -> str:
        return self.connections().mode

    @contextmanager
    def open_engine(self, *, local_mode: LocalMode | None = None) -> Iterator[SyncEngine]:
        """An engine over fresh clients; starts (and afterwards stops) the local CDF when one is needed."""
        with self._open(local_mode) as (engine, _local):
            yield engine

    @contextmanager
    def _open(self, local_mode: LocalMode | None = None) -> Iterator[tuple[SyncEngine, LocalCDF | None]]:
        config = self.sync_config()
        logging.getLogger("oid_sync").setLevel(config.logging.log_level)
        local: object = nullcontext(None)
        if self.needs_local_cdf:
            data_dir = Path(self.local_cdf_dir) if self.local_cdf_dir else None
            local = serving_local_cdf(data_dir, local_mode or self.local_cdf_mode)
        with local as started:  # type: ignore[attr-defined]
            url = started.base_url if started is not None else self.local_cdf_url
            clients = clients_for(
                config, self.connections(), local_cdf_url=url, target_project=self.local_target_project
            )
            engine = SyncEngine.from_config(clients.source, clients.target, config)
            try:
                yield engine, started
            finally:
                engine.close()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._stack = ExitStack()
        self._engine, self._local = self._stack.enter_context(self._open())

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack, self._engine, self._local = None, None, None

    @property
    def engine(self) -> SyncEngine:
        if self._engine is None:
            raise dg.DagsterInvariantViolationError("OidSyncResource.engine is only available during execution")
        if self._local is not None and (line := self._local.revive()):
            # The local CDF this execution started died under it (killed, out of memory); it serves again at the
            # same address on the same data (SQLite kept every acknowledged write), so a step's retry in this
            # process heals instead of failing against a dead port until the run ends.
            logging.getLogger("oid_sync").warning(line)
        return self._engine

    # ---------- the sync, for an asset's body ----------

    def sync_weeks(
        self, context: dg.AssetExecutionContext
    ) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
        """Sync the run's weeks (one, or a range) of the selected series of an `@oid_sync_assets` asset, newest
        first; per (series, week) a materialization (only when the week is complete) and its `complete` check.
        Raises dg.Failure naming the series and weeks that failed, after yielding what succeeded."""
        series_by_key = series_of_specs(context.assets_def.specs_by_key)
        with refusals_fail_at_once():
            yield from sync_series_weeks(context, self.engine, series_by_key)

    def sync_realtime(
        self,
        context: dg.AssetExecutionContext,
        series: Sequence[CatalogSeries],
        *,
        warn_lag_s: float = 15 * 60,
        error_lag_s: float = 60 * 60,
    ) -> dg.MaterializeResult:
        """One realtime pass over `series`: each from its synced-through mark to the source's edge, cut at now. The
        result carries the pass's metadata and the `fresh` and `no_future_points` check results (the asset must
        declare those checks)."""
        return sync_realtime_edge(context, self.engine, list(series), warn_lag_s=warn_lag_s, error_lag_s=error_lag_s)


def environment_fields(environ: Mapping[str, str] | None = None) -> dict[str, dg.EnvVar]:
    """A dg.EnvVar for every resource field whose environment variable is set now (so none is required)."""
    environ = os.environ if environ is None else environ
    return {name: dg.EnvVar(env) for name, env in ENV_FIELDS.items() if environ.get(env)}


def resource_from_environment(environ: Mapping[str, str] | None = None) -> OidSyncResource:
    """The resource configured by the environment alone, as `oid-sync` and the tests build it."""
    return OidSyncResource(**environment_fields(environ))
