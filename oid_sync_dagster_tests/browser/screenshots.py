"""Regenerate the README's pictures of the UI in docs/images (`make screenshots`).

    python -m oid_sync_dagster_tests.browser.screenshots [--out docs/images] [--group temperature] [--weeks 4]

Runs what the browser test runs, on a fresh `oid-sync dev` in local mode (nothing of an existing instance is
used or changed), with the same UI steps, and saves six pictures at 1440x900:

* asset-graph.png   the global asset graph: the catalog feeding the six series groups and the realtime edge;
* partitions.png    a series' Partitions tab after the backfill: its newest weeks materialized, one selected;
* backfill.png      the backfill's page while its one run is in progress;
* realtime-lag.png  oid/realtime's metadata plots from `lag_s` on, after several realtime runs;
* viewer-overview.png  the data viewer's plant overview over a day with a trip of the (synthetic) compressor;
* viewer-series.png    the data viewer's chart of the backfilled series over a week, the source overlaid.

About four minutes on two cores. Each picture is checked for what it must show before it is taken.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from oid_sync_dagster.integration.translator import GROUPS as SERIES_GROUPS
from oid_sync_dagster.local_cdf import plant
from oid_sync_dagster_tests.browser.ui import DagsterUI, chromium_page
from oid_sync_dagster_tests.dev_server import (
    HISTORY_STOPPED,
    KIND_TAG,
    REALTIME,
    REALTIME_JOB,
    DevServer,
    dagster_dev,
    ensure_target_catalog,
    stop,
)
from oid_sync_dagster_tests.graphql import DagsterGraphQL, poll

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
BACKFILL_TIMEOUT_S = 600.0
RUN_TIMEOUT_S = 180.0
LAG_PLOT = "oid_sync/lag_s"
SOURCE_LAG_MS = 7 * plant.DAY_MS  # the synthetic source publishes a week behind now
DRAWN = "() => { const c = document.getElementById('chart'); return !!(c && c.data && c.data.length > 1); }"


def materialization_count(gql: DagsterGraphQL, asset: Sequence[str], limit: int = 100) -> int:
    data = gql.execute(
        """query Count($key: AssetKeyInput!, $limit: Int) { assetNodeOrError(assetKey: $key) { __typename
            ... on AssetNode { assetMaterializations(limit: $limit) { timestamp } } ... on Error { message } } }""",
        {"key": {"path": list(asset)}, "limit": limit},
    )
    return len(gql.unwrap(data["assetNodeOrError"], "AssetNode")["assetMaterializations"])


def started_run(gql: DagsterGraphQL, backfill_id: str) -> dict[str, Any] | None:
    """The backfill's run once it is executing (None before; raises if the backfill already ended)."""
    backfill = gql.backfill(backfill_id)
    running = [run for run in backfill["runs"] if run["status"] == "STARTED"]
    if running:
        return running[0]
    if backfill["status"] != "REQUESTED":
        raise AssertionError(f"backfill {backfill_id} ended ({backfill['status']}) before its run was seen running")
    return None


def shoot_backfill_in_progress(ui: DagsterUI, gql: DagsterGraphQL, backfill_id: str, out: Path) -> Path:
    with ui.step("show the backfill in progress"):
        poll(f"a run of backfill {backfill_id} to start", lambda: started_run(gql, backfill_id), BACKFILL_TIMEOUT_S)
        ui.page.reload()  # the page refreshes itself every few seconds; a reload shows the run's progress now
        expect(ui.backfill_status()).to_have_text("In progress")
        expect(ui.page.get_by_role("link", name=re.compile(r"^oid \/ ")).first).to_be_visible()
        expect(ui.page.get_by_text(re.compile(r"^\d+% completed$")).first).to_be_visible()
        return ui.shot("backfill", out / "backfill.png", clean=True)


def realtime_idle(gql: DagsterGraphQL) -> bool | None:
    return True if not gql.runs(tags={KIND_TAG: "realtime"}, statuses=["QUEUED", "STARTING", "STARTED"]) else None


def materialize_realtime(server: DevServer, points: int) -> int:
    """Realtime runs, launched as the UI's Materialize button does, until oid/realtime has `points`
    materializations (the points of its plots); returns how many it has.

    The realtime sensor keeps running, as shipped: its runs, a minute apart through the whole script, spread
    the plots' points over minutes (the plots' time axis labels collide when all points fall within two or
    three minutes). Each run is launched only once no realtime run is in flight, as the sensor itself does.
    """
    gql, repo = server.gql, server.repo
    while True:
        poll("no realtime run in flight", lambda: realtime_idle(gql), RUN_TIMEOUT_S)
        if (count := materialization_count(gql, REALTIME)) >= points:
            return count
        run_id = gql.launch_run(repo, REALTIME_JOB, asset_selection=[REALTIME], tags={KIND_TAG: "realtime"})
        finished = gql.wait_for_run(run_id, RUN_TIMEOUT_S)
        if finished["status"] != "SUCCESS":
            raise RuntimeError(f"realtime run {run_id} ended {finished['status']}: {gql.run_errors(run_id)}")


def shoot_viewer(page: Page, viewer_link: str, chart_url: str, out: Path) -> dict[str, Path]:
    """The data viewer: the source plant's overview around its newest trip of half an hour or more, and the chart
    of a backfilled series (the link its asset carries) over the last week, the shifted source overlaid."""
    pictures: dict[str, Path] = {}
    page.goto(viewer_link)  # the printed link logs this browser in
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    published = int(time.time() * 1000) - SOURCE_LAG_MS
    stop_ms, restart_ms = [t for t in plant.trips(published - 90 * plant.DAY_MS, published - 6 * plant.HOUR_MS)
                           if t[1] - t[0] >= 30 * plant.MINUTE_MS][-1]  # fmt: skip
    base = viewer_link.split("/?token=")[0]
    page.goto(f"{base}/overview?project=publicdata&window=day&end={restart_ms + 6 * plant.HOUR_MS}")
    page.wait_for_function(DRAWN)
    page.screenshot(path=str(out / "viewer-overview.png"))
    pictures["viewer-overview"] = out / "viewer-overview.png"
    page.goto(f"{chart_url}&window=week")
    page.wait_for_function(DRAWN)
    page.screenshot(path=str(out / "viewer-series.png"))
    pictures["viewer-series"] = out / "viewer-series.png"
    print(f"viewer: overview around the trip {stop_ms}..{restart_ms} (ms), series {chart_url}")
    return pictures


def regenerate(out: Path, workdir: Path, group: str, n_weeks: int, realtime_points: int) -> dict[str, Path]:
    started = time.monotonic()
    with dagster_dev(workdir, extra_env=HISTORY_STOPPED) as server:  # only the backfill syncs history: pictures of it
        gql, repo = server.gql, server.repo
        assets = gql.assets_in_group(repo, group)
        paths = [asset["path"] for asset in assets]
        series = paths[0]
        weeks = gql.partition_keys(series)[-n_weeks:]
        ensure_target_catalog(gql, repo)
        pictures: dict[str, Path] = {}
        with chromium_page(workdir / "chromium-profile") as page:
            ui = DagsterUI(page, server.base_url, workdir / "steps")
            ui.open_asset_graph(SERIES_GROUPS)
            ui.filter_to_group(group)
            ui.open_partitions(series)
            backfill_id = ui.launch_backfill(group, weeks, len(paths))
            ui.open_backfill(backfill_id)
            pictures["backfill"] = shoot_backfill_in_progress(ui, gql, backfill_id, out)
            ui.wait_for_backfill(backfill_id, BACKFILL_TIMEOUT_S)
            ui.assert_partitions_materialized(series, weeks, BACKFILL_TIMEOUT_S)
            pictures["partitions"] = ui.shot("partitions", out / "partitions.png", clean=True)

            count = materialize_realtime(server, realtime_points)
            ui.open_metadata_plots(REALTIME, LAG_PLOT)
            pictures["realtime-lag"] = ui.shot("realtime-lag", out / "realtime-lag.png", clean=True)
            [viewer_line] = [line for line in server.running.seen if line.startswith("Data viewer: ")]
            chart_url = str(assets[0]["metadata"]["oid_sync/chart"])
            pictures |= shoot_viewer(page, viewer_line.removeprefix("Data viewer: "), chart_url, out)
        # Last, in a browser of its own: the sidebar as on a first visit (the one above remembers the group it
        # opened), every status final, the realtime edge's included.
        with chromium_page(workdir / "chromium-profile-graph") as page:
            ui = DagsterUI(page, server.base_url, workdir / "steps")
            ui.open_asset_graph(SERIES_GROUPS)
            pictures["asset-graph"] = ui.shot("asset-graph", out / "asset-graph.png", clean=True)
        stop(server.running)
    print(
        f"{len(pictures)} pictures in {time.monotonic() - started:.0f} s: backfill {backfill_id} of {len(paths)} "
        f"{group} series x {len(weeks)} weeks, {count} realtime materializations"
    )
    return pictures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS_IMAGES, help="where the PNGs go (default: docs/images)")
    parser.add_argument("--group", default="temperature", help="the group to backfill (default: temperature)")
    parser.add_argument("--weeks", type=int, default=4, help="how many of the newest weeks (default: 4)")
    parser.add_argument("--realtime-points", type=int, default=6, help="realtime materializations to plot")
    parser.add_argument("--keep", action="store_true", help="keep the scratch DAGSTER_HOME and step screenshots")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="oid-sync-screenshots-"))
    try:
        pictures = regenerate(out, scratch, args.group, args.weeks, args.realtime_points)
    finally:
        if args.keep:
            print(f"scratch kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    for picture in pictures.values():
        print(f"{picture}  {picture.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
