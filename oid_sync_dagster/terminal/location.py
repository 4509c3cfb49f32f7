"""What both terminal commands need: the persistent instance, the code location as Dagster loads it, and the
series assets and weeks it defines."""

from __future__ import annotations

import fnmatch
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from oid_sync_dagster import launcher
from oid_sync_dagster.config import ENV_VARS, ConfigError

LOCAL_CDF_URL_ENV = ENV_VARS["local_cdf_url"]

if TYPE_CHECKING:
    import dagster as dg

    from oid_sync_dagster.config import SyncConfig
    from oid_sync_dagster.integration.keys import Names


class UsageError(Exception):
    """A bad argument or configuration: exit code 2, the message on stderr."""


@dataclass(frozen=True)
class SeriesAsset:
    key: dg.AssetKey
    external_id: str
    group: str  # also its shard: build_series_assets makes one multi-asset per group


@dataclass(frozen=True)
class Location:
    defs: dg.Definitions
    config: SyncConfig
    series: tuple[SeriesAsset, ...]
    partitions_def: dg.PartitionsDefinition | None
    names: Names  # the instance's asset keys, jobs and kind tags (the defs.yaml's `name`)

    def select(self, pattern: str) -> list[SeriesAsset]:
        """The series whose source external id matches the glob, as `oid-sync purge` selects them."""
        chosen = [s for s in self.series if fnmatch.fnmatchcase(s.external_id, pattern)]
        if not chosen:
            raise UsageError(
                f"--series {pattern!r} matches none of the {len(self.series)} loaded series "
                "(external ids look like 'pi:160696')"
            )
        return chosen

    def newest_weeks(self, n: int | None, *, now_ms: int | None = None) -> list[str]:
        """The partition keys of the n newest closed weeks at now_ms (default: the wall clock), oldest first (None:
        every history week)."""
        at = None if now_ms is None else datetime.fromtimestamp(now_ms / 1000, tz=UTC)
        keys = self.partitions_def.get_partition_keys(current_time=at) if self.partitions_def is not None else []
        if n is None:
            return list(keys)
        if n < 0:
            raise UsageError(f"--weeks must be 0 or more, got {n}")
        if n > len(keys):
            raise UsageError(
                f"--weeks {n}: the location has {len(keys)} closed weeks of history "
                f"(sync_configuration.history_weeks is {self.config.sync_configuration.history_weeks})"
            )
        return list(keys[len(keys) - n :]) if n else []


def use_dagster_home(explicit: str | None, *, create: bool) -> Path:
    """DAGSTER_HOME resolved as `oid-sync dev` and `oid-sync purge` do, exported for Dagster and local mode.

    create=False (status) never makes a directory: a missing home is reported, not silently created.
    """
    home = launcher.resolve_dagster_home(explicit)
    if create:
        launcher.ensure_instance_config(home)
    elif not home.is_dir():
        raise FileNotFoundError(home)
    os.environ["DAGSTER_HOME"] = str(home)  # the instance, and the local CDF's data under it
    return home


@contextmanager
def one_local_cdf(home: Path) -> Iterator[None]:
    """Local mode starts a local CDF per run and for the catalog fetch (about a second each); a command that makes
    several runs serves one for its whole duration instead, pointing the location at it the documented way
    (OID_SYNC_LOCAL_CDF_URL), on the same data directory ($DAGSTER_HOME/local-cdf)."""
    from oid_sync_dagster.integration.resources import ENV_FIELDS, OidSyncResource

    if os.environ.get(LOCAL_CDF_URL_ENV):
        yield
        return
    # Plain values, not the EnvVars the location binds: whether local mode applies depends on what is set.
    settings = OidSyncResource(**{name: os.environ[env] for name, env in ENV_FIELDS.items() if os.environ.get(env)})
    try:
        needed = settings.needs_local_cdf
    except ConfigError as error:
        raise UsageError(f"configuration: {error}") from error
    if not needed:
        yield
        return
    from oid_sync_dagster.integration.local_mode import running_local_cdf

    with running_local_cdf(home / "local-cdf", "process") as url:
        os.environ[LOCAL_CDF_URL_ENV] = url
        try:
            yield
        finally:
            os.environ.pop(LOCAL_CDF_URL_ENV, None)


@contextmanager
def quiet_dagster() -> Iterator[None]:
    """Dagster's preview/beta notices are for code authors, not for someone running a command."""
    import dagster as dg

    with warnings.catch_warnings():
        for category in (dg.PreviewWarning, dg.BetaWarning):
            warnings.simplefilter("ignore", category)
        yield


def _config_error(error: BaseException) -> ConfigError | None:
    seen: BaseException | None = error
    while seen is not None:  # Dagster wraps errors raised while a resource initializes
        if isinstance(seen, ConfigError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def load_location() -> Location:
    """The code location as `dagster dev` builds it (the project's OidSyncComponent, its catalog fetched now), from
    the environment as it is now: every call builds afresh, so a second command in one process (tests) never
    reuses stale definitions."""
    import dagster as dg

    from oid_sync_dagster.definitions import SHIPPED_DEFS_YAML
    from oid_sync_dagster.integration.component import ComponentAttributeError, OidSyncComponent

    try:
        with quiet_dagster():
            component = OidSyncComponent.from_defs_yaml(SHIPPED_DEFS_YAML)
            defs = component.load_definitions()
            config = component.sync_config()
            names = component.names()
    except ComponentAttributeError as error:
        raise UsageError(f"configuration: {error}") from error
    except Exception as error:
        if (config_error := _config_error(error)) is not None:
            raise UsageError(f"configuration: {config_error}") from error
        raise
    series = []
    partitions_def = None
    for spec in defs.resolve_all_asset_specs():
        external_id = spec.metadata.get("external_id")
        if spec.partitions_def is None or external_id is None or spec.group_name is None:
            continue  # not a series asset (catalog, realtime, source)
        partitions_def = spec.partitions_def
        text = external_id.value if isinstance(external_id, dg.MetadataValue) else external_id
        series.append(SeriesAsset(spec.key, str(text), spec.group_name))
    series.sort(key=lambda s: s.external_id)
    return Location(defs=defs, config=config, series=tuple(series), partitions_def=partitions_def, names=names)


def groups_of(series: Sequence[SeriesAsset]) -> list[str]:
    return sorted({s.group for s in series})


def load_failure(error: BaseException) -> str:
    """One line for a location that could not load (the source unreachable, say)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
