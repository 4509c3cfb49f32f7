"""oid_sync_dagster: mirror Cognite Open Industrial Data into your CDF project, time-shifted to look live.

The Dagster integration's public names, imported lazily: the engine (`oid_sync_dagster.sync`) and the local CDF
(`oid_sync_dagster.local_cdf`) import without Dagster, so a local CDF child process starts in a fraction of the
time Dagster's import takes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oid_sync_dagster.integration.component import OidSyncComponent
    from oid_sync_dagster.integration.decorator import oid_sync_assets
    from oid_sync_dagster.integration.resources import OidSyncResource
    from oid_sync_dagster.integration.translator import OidSyncTranslator

_EXPORTS = {
    "OidSyncComponent": "oid_sync_dagster.integration.component",
    "OidSyncResource": "oid_sync_dagster.integration.resources",
    "OidSyncTranslator": "oid_sync_dagster.integration.translator",
    "oid_sync_assets": "oid_sync_dagster.integration.decorator",
}
__all__ = ["OidSyncComponent", "OidSyncResource", "OidSyncTranslator", "oid_sync_assets"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'oid_sync_dagster' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
