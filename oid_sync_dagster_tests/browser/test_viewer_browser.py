"""The local CDF's data viewer in a real browser (Debian's headless Chromium, as test_ui.py drives it): log in
through the form, open the index and a series from it, and read what plotly drew straight off the graph div:
the window's points equal what the target holds (read back through the SDK), Bad and Uncertain points carry
distinct markers, the plant overview shows a trip (the SEQ-STOPPED flag up, the flow fallen), and points written
afterwards move the newest point on the page forward by polling alone (the page is never reloaded: a value set on
`window` survives).

No Dagster stack: one local CDF in a thread with a frozen clock, the target series written through the SDK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeId, SpaceApply
from cognite.client.data_classes.data_modeling.cdm.v1 import CogniteTimeSeriesApply
from playwright.sync_api import Page, expect

from oid_sync_dagster.local_cdf import plant
from oid_sync_dagster.local_cdf.server import RunningLocalCDF
from oid_sync_dagster.local_cdf.status import BAD, UNCERTAIN
from oid_sync_dagster_tests.browser.ui import chromium_page
from oid_sync_dagster_tests.conftest import FROZEN_NOW_S

NOW_MS = int(FROZEN_NOW_S * 1000)
MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
SOURCE_LAG_MS = 7 * DAY_MS  # the synthetic source publishes a week behind (LocalCDFSettings.source_lag_ms)
XID = "pi:160030"
NAME = "VAL_23-PT-96155:Z.X.Value"
WAIT_MS = 20_000
DRAWN = "() => { const c = document.getElementById('chart'); return !!(c && c.data && c.data.length); }"


def _traces(page: Page) -> list[dict[str, Any]]:
    """Name, x, y and marker symbol of every trace plotly holds for the chart."""
    return page.evaluate(
        "() => document.getElementById('chart').data.map("
        "t => ({name: t.name, x: t.x, y: t.y, symbol: t.marker && t.marker.symbol}))"
    )


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_viewer_draws_what_the_target_holds_and_follows_the_live_edge(
    tmp_path: Path, local_cdf: RunningLocalCDF, target: CogniteClient
) -> None:
    target.data_modeling.spaces.apply(SpaceApply("oid_sync"))
    target.data_modeling.instances.apply(
        CogniteTimeSeriesApply(
            "oid_sync", XID, time_series_type="numeric", is_step=False, name=NAME, source_unit="barg"
        )
    )
    node = NodeId("oid_sync", XID)
    timestamps = np.arange(NOW_MS - 6 * HOUR_MS, NOW_MS - 10 * MINUTE_MS + 1, MINUTE_MS)
    points: list[dict[str, Any]] = [{"timestamp": int(t), "value": float(i % 13)} for i, t in enumerate(timestamps)]
    points[-30]["status"] = {"code": BAD}
    points[-20]["status"] = {"code": UNCERTAIN}
    target.time_series.data.insert(points, instance_id=node)

    with chromium_page(tmp_path / "chromium-profile") as page:
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{local_cdf.base_url}/")
        expect(page).to_have_url(f"{local_cdf.base_url}/login?next=%2F")
        page.get_by_label("Client id").fill(local_cdf.client_id)
        page.get_by_label("Client secret").fill(local_cdf.client_secret)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Projects")).to_be_visible()

        # The target's section of the index (publicdata lists a series of the same name too).
        section = page.locator("section", has=page.get_by_role("heading", name="target", exact=True))
        section.get_by_role("link", name=NAME).click()
        expect(page.get_by_role("heading", name=NAME)).to_be_visible()
        assert "project=target" in page.url
        page.goto(page.url + "&window=hour&poll=1")
        page.wait_for_function(DRAWN)
        page.evaluate("() => { window.notReloaded = true; }")

        # What the page drew for the hour is what the target holds for it, Bad and Uncertain points included.
        window_start = NOW_MS + 1 - HOUR_MS
        held = target.time_series.data.retrieve_arrays(
            instance_id=node, start=window_start, end=NOW_MS + 1, limit=None, include_status=True,
            ignore_bad_datapoints=False, treat_uncertain_as_bad=False,
        )  # fmt: skip
        traces = _traces(page)
        assert traces[0]["name"] == "target"
        assert traces[0]["x"] == held.timestamp.astype("datetime64[ms]").astype(np.int64).tolist()
        assert traces[0]["y"] == held.value.tolist()
        assert traces[1]["name"] == "publicdata, shifted by 1w10m" and traces[1]["x"]
        by_name = {t["name"]: t for t in traces}
        assert by_name["Bad"]["x"] == [int(timestamps[-30])]
        assert by_name["Uncertain"]["x"] == [int(timestamps[-20])]
        assert by_name["Bad"]["symbol"] != by_name["Uncertain"]["symbol"]

        # The live edge: newer points land in the target; the page shows them without a reload.
        newest = page.locator("#newest")
        expect(newest).to_have_attribute("data-t", str(int(timestamps[-1])))
        later = np.arange(int(timestamps[-1]) + MINUTE_MS, NOW_MS + 1, MINUTE_MS)
        target.time_series.data.insert([(int(t), 5.0) for t in later], instance_id=node)
        expect(newest).to_have_attribute("data-t", str(NOW_MS))
        assert page.evaluate("() => window.notReloaded") is True
        assert _traces(page)[0]["x"][-len(later) :] == later.tolist()

        # The plant overview: the compressor's signals on one time axis. Around the newest trip of at least half an
        # hour that the source has published, the SEQ-STOPPED flag is up and the flow has fallen.
        published = NOW_MS - SOURCE_LAG_MS
        trip_stop, trip_restart = [t for t in plant.trips(published - 60 * DAY_MS, published) if
                                   t[1] - t[0] >= 30 * MINUTE_MS and t[1] + 3 * HOUR_MS <= published][-1]  # fmt: skip
        page.goto(f"{local_cdf.base_url}/overview?project=publicdata&window=day&end={trip_restart + 3 * HOUR_MS}")
        page.wait_for_function(DRAWN)
        traces = {t["name"].split(":")[0]: t for t in _traces(page)}
        assert {"flow", "pressure", "temperature", "vibration", "stopped"} <= set(traces), list(traces)
        stopped_x, stopped_y = np.array(traces["stopped"]["x"], dtype=np.int64), np.array(traces["stopped"]["y"])
        during = (stopped_x >= trip_stop) & (stopped_x < trip_restart)
        assert during.any() and (stopped_y[during] == 1).all() and (stopped_y[~during] == 0).any()
        flow_x, flow_y = np.array(traces["flow"]["x"], dtype=np.int64), np.array(traces["flow"]["y"], dtype=float)
        tripped = (flow_x >= trip_stop + 10 * MINUTE_MS) & (flow_x < trip_restart)
        running = flow_x < trip_stop - HOUR_MS
        assert np.nanmean(flow_y[tripped]) < 0.2 * np.nanmean(flow_y[running]), (trip_stop, trip_restart)
