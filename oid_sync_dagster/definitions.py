"""The code location: the project's `defs/` folder (`dg dev`, `dagster dev -w workspace.yaml`, `oid-sync dev`).

It holds one OidSyncComponent (defs/oid_sync/defs.yaml). With no CDF settings in the environment it runs on the
local CDF, started by each run that needs it. The source catalog is fetched once when the code location loads
(Reload in the UI fetches it again).
"""

from pathlib import Path

import dagster as dg

SHIPPED_DEFS_YAML = Path(__file__).parent / "defs" / "oid_sync" / "defs.yaml"


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
