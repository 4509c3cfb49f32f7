"""Where a series asset's chart is, for the Dagster UI: the local CDF's viewer in local mode, CDF's own UI (Fusion)
for a real target project. Definition-time metadata: no run and no network call is needed to build the links.

In local mode the links point at the local CDF the resource names (`local_cdf_url`: the one `oid-sync dev` serves, or
one of the user's), or else at `oid-sync local-cdf`'s default address (LOCAL_VIEWER_URL): a local CDF a run starts
for itself lives only as long as the run, and `dg dev` starts none.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import dagster as dg

from oid_sync_dagster.config import SyncConfig
from oid_sync_dagster.integration.resources import OidSyncResource
from oid_sync_dagster.local_cdf.viewer.links import overview_url, series_url  # standard library only

# `oid-sync local-cdf` with its default --port (cli.DEFAULT_PORT; not imported: the CLI module is the entry point).
LOCAL_VIEWER_URL = "http://127.0.0.1:8765"
# CDF's UI for a data-modeling time series. The organization's own subdomain (<org>.fusion.cognite.com) is not in
# our settings; the bare host asks for the organization at sign-in. The path is the Fusion search app's instance
# page as we understand it, not a documented contract: if it moves, this template is the one place to change.
FUSION_SERIES_URL = "https://fusion.cognite.com/{project}/search/{space}/{external_id}?cluster={host}"
FUSION_CHARTS_URL = "https://fusion.cognite.com/{project}/charts?cluster={host}"
CHART_KEY = "oid_sync/chart"


def _value(field: object) -> str | None:
    """A resource field's value: an EnvVar read now (definition time), a plain value as it is."""
    if isinstance(field, dg.EnvVar):
        return field.get_value()
    return field if isinstance(field, str) and field else None


@dataclass(frozen=True)
class ChartLinks:
    """The chart URLs of one code location's target."""

    project: str
    space: str
    offset_ms: int
    viewer_base: str | None  # local mode: the viewer's base URL
    cdf_host: str | None  # a real target: its API host, e.g. westeurope-1.cognitedata.com

    def series(self, external_id: str) -> str:
        if self.viewer_base is not None:
            return series_url(self.viewer_base, self.project, external_id, space=self.space, offset_ms=self.offset_ms)
        return FUSION_SERIES_URL.format(
            project=quote(self.project), space=quote(self.space), external_id=quote(external_id, safe=""),
            host=self.cdf_host,
        )  # fmt: skip

    def overview(self) -> str:
        if self.viewer_base is not None:
            return overview_url(self.viewer_base, self.project)
        return FUSION_CHARTS_URL.format(project=quote(self.project), host=self.cdf_host)

    def series_metadata(self, external_id: str) -> dict[str, object]:
        return {CHART_KEY: dg.MetadataValue.url(self.series(external_id))}

    def overview_metadata(self) -> dict[str, object]:
        return {CHART_KEY: dg.MetadataValue.url(self.overview())}


def chart_links(resource: OidSyncResource, config: SyncConfig) -> ChartLinks:
    """The links for this resource's target: the one place their kind (local viewer or Fusion) is decided."""
    space = config.sync_configuration.instance_space
    offset_ms = config.time_offset.offset_ms
    project = _value(resource.target_project)
    if project is None:  # local mode: the target is a project on the local CDF
        base = _value(resource.local_cdf_url) or LOCAL_VIEWER_URL
        return ChartLinks(resource.local_target_project, space, offset_ms, base, None)
    base_url = _value(resource.target_base_url)
    cluster = _value(resource.target_cluster)
    host = urlsplit(base_url).hostname if base_url else f"{cluster or 'api'}.cognitedata.com"
    return ChartLinks(project, space, offset_ms, None, host)
