"""Series assets link to their chart and the realtime asset to the plant overview (definition-time metadata):
the local CDF's viewer in local mode, CDF's UI for a real target. No Dagster stack, no server: definitions only."""

from __future__ import annotations

import dagster as dg
import pytest

from oid_sync_dagster.config import SyncConfig
from oid_sync_dagster.integration.build import build_definitions
from oid_sync_dagster.integration.catalog_state import state_of
from oid_sync_dagster.integration.links import CHART_KEY
from oid_sync_dagster.integration.resources import OidSyncResource
from oid_sync_dagster.sync.model import CatalogSeries

NOW_MS = 1_795_521_600_000
CATALOG = [
    CatalogSeries("pi:160030", name="VAL_23-PT-96155:Z.X.Value", unit="barg"),
    CatalogSeries("pi:160813", name="VAL_23-KA-9109-SEQ-STOPPED:VALUE"),
]


def _chart_urls(resource: OidSyncResource, config: SyncConfig | None = None) -> dict[str, str]:
    defs = build_definitions(state_of(CATALOG, NOW_MS), config=config or SyncConfig(), resource=resource)
    urls = {}
    for spec in defs.resolve_all_asset_specs():
        if CHART_KEY in spec.metadata:
            value = spec.metadata[CHART_KEY]
            assert isinstance(value, dg.UrlMetadataValue)
            urls[spec.key.to_user_string()] = value.url
    return urls


def test_local_mode_links_to_the_local_viewer() -> None:
    urls = _chart_urls(OidSyncResource())
    assert urls == {
        "oid/pressure/pi_160030": "http://127.0.0.1:8765/series?project=oid-sync&xid=pi%3A160030&space=oid_sync"
        "&offset=605400000",
        "oid/machine/pi_160813": "http://127.0.0.1:8765/series?project=oid-sync&xid=pi%3A160813&space=oid_sync"
        "&offset=605400000",
        "oid/realtime": "http://127.0.0.1:8765/overview?project=oid-sync",
    }


def test_a_running_local_cdf_and_the_configured_space_and_offset() -> None:
    config = SyncConfig.model_validate(
        {"sync_configuration": {"instance_space": "plant"}, "time_offset": {"offset_weeks": 2, "offset_minutes": 0}}
    )
    urls = _chart_urls(OidSyncResource(local_cdf_url="http://127.0.0.1:9999", local_target_project="t1"), config)
    assert urls["oid/pressure/pi_160030"] == (
        "http://127.0.0.1:9999/series?project=t1&xid=pi%3A160030&space=plant&offset=1209600000"
    )
    assert urls["oid/realtime"] == "http://127.0.0.1:9999/overview?project=t1"


def test_a_real_target_links_to_fusion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDF_PROJECT", "my-project")
    resource = OidSyncResource(target_project=dg.EnvVar("CDF_PROJECT"), target_cluster="westeurope-1")
    urls = _chart_urls(resource)
    assert urls["oid/pressure/pi_160030"] == (
        "https://fusion.cognite.com/my-project/search/oid_sync/pi%3A160030?cluster=westeurope-1.cognitedata.com"
    )
    assert urls["oid/realtime"] == "https://fusion.cognite.com/my-project/charts?cluster=westeurope-1.cognitedata.com"
