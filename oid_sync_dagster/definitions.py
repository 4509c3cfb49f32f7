"""The Dagster code location (`dagster dev -w workspace.yaml`, or `oid-sync dev`).

With no CDF settings in the environment it runs on the local CDF, started by each run that needs it. The
source catalog is fetched once when the code location loads (Reload in the UI fetches it again).
"""

from __future__ import annotations

import os
import warnings

import dagster as dg

from oid_sync_dagster.config import SyncConfig, load_config
from oid_sync_dagster.defs.build import build_definitions
from oid_sync_dagster.defs.catalog_state import OidCatalogLoader
from oid_sync_dagster.defs.resources import resource_from_environment

config = load_config(os.environ["OID_SYNC_CONFIG"]) if os.environ.get("OID_SYNC_CONFIG") else SyncConfig()
resource = resource_from_environment()
with warnings.catch_warnings():
    # Dagster's state-backed loader calls its own preview API; the warning would be noise in every Dagster process.
    warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*with_reconstruction_metadata")
    defs = OidCatalogLoader(
        resource, lambda state: build_definitions(state, config=config, resource=resource)
    ).build_defs()
