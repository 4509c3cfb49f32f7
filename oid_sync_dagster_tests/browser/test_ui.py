"""The UI end to end: a person launches a two-week backfill of one group by clicking through Dagster's UI, and
sees the weeks materialized and their completeness checks passed.

Starts the real `oid-sync dev` (local mode, fresh DAGSTER_HOME, the sensors as shipped) on loopback and drives
Debian's headless Chromium through Playwright: the asset graph shows the series groups; the level group's graph
shows its series; a series' Partitions tab shows its weeks missing; Lineage > the group > Materialize all opens
the backfill dialog, where the two newest closed weeks are typed in and the backfill is launched; the backfill's
page says Succeeded; the series' Partitions tab counts both weeks materialized (each week's detail too) and its
`complete` check's execution history has a Passed evaluation for each. Dagster's record over GraphQL must agree:
one backfill of exactly that group and those weeks, every series of the group materialized and checked.

The history sensor is stopped first (it would sync the same weeks for all series beside the backfill); the
realtime sensor keeps running and materializes the target catalog the series need. Every screenshot is saved in
the test's tmp dir and its path printed (`pytest -s` shows them); a step that does not show fails naming itself
and its screenshot.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from oid_sync_dagster_tests.browser.ui import DagsterUI, chromium_page
from oid_sync_dagster_tests.dev_server import HISTORY_SENSOR, dagster_dev, ensure_target_catalog, quiesce, stop
from oid_sync_dagster_tests.graphql import BACKFILL_SUCCESS

SERIES_GROUPS = ("pressure", "temperature", "flow", "level", "machine", "other")
GROUP = "level"  # 52 series: small enough for a quick backfill, the group test_end_to_end.py syncs too
CHECK = "complete"
BACKFILL_TIMEOUT_S = 300.0
RECORD_TIMEOUT_S = 60.0  # what the series' page shows once the backfill has succeeded


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_backfill_clicked_in_the_ui_shows_its_weeks_materialized_and_checked(tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()

    def mark(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 1)

    with dagster_dev(tmp_path) as server:
        mark("location loaded")
        gql, repo = server.gql, server.repo
        gql.stop_sensor_for_good(repo, HISTORY_SENSOR)
        paths = [asset["path"] for asset in gql.assets_in_group(repo, GROUP)]
        series = paths[0]  # the first in the sidebar and in the backfill's table (both sort by key)
        weeks = gql.partition_keys(series)[-2:]  # the two newest closed weeks (the open week is no partition)
        catalog, catalog_by = ensure_target_catalog(gql, repo)
        assert catalog["metadata"]["oid_sync/series"] >= len(paths), catalog
        mark("catalog")

        with chromium_page(tmp_path / "chromium-profile") as page:
            ui = DagsterUI(page, server.base_url, tmp_path / "screenshots")
            ui.open_asset_graph(SERIES_GROUPS)
            ui.shot("asset-graph")
            ui.filter_to_group(GROUP)
            ui.open_partitions(series)
            ui.shot("partitions-before")
            mark("graph and partitions")
            backfill_id = ui.launch_backfill(GROUP, weeks, len(paths))
            ui.open_backfill(backfill_id)
            ui.shot("backfill")
            mark("backfill launched")
            ui.wait_for_backfill(backfill_id, BACKFILL_TIMEOUT_S)
            mark("backfill succeeded")
            ui.assert_partitions_materialized(series, weeks, RECORD_TIMEOUT_S)
            ui.assert_checks_passed(series, CHECK, weeks, RECORD_TIMEOUT_S)
            mark("partitions and checks seen")

        # What the UI showed for one series, Dagster's record holds for the whole group.
        backfill = gql.backfill(backfill_id)
        assert backfill["status"] in BACKFILL_SUCCESS, backfill
        assert backfill["isAssetBackfill"] and sorted(backfill["partitionNames"]) == weeks, backfill
        assert sorted(key["path"] for key in backfill["assetSelection"]) == paths
        run_ids = {run["runId"] for run in backfill["runs"]}
        for path in paths:
            record = gql.partition_record(path, weeks, CHECK)
            for week in weeks:
                assert any(start <= week <= end for start, end in record["materialized_ranges"]), (path, week)
                latest, check = record["latest"][week], record["check"][week]
                assert latest is not None and latest["runId"] in run_ids, (path, week, latest)
                assert check is not None and check["passed"] is True, (path, week, check)
                assert check["runId"] in run_ids and check["metadata"]["oid_sync/status"] == "complete", (
                    path,
                    week,
                    check,
                )
        mark("record verified")
        quiesce(gql, repo)
        stop(server.running)
        mark("stopped")

    print(
        f"catalog by {catalog_by}; backfill {backfill_id} of {len(paths)} series x {weeks}; timeline (s) {timings}; "
        "screenshots:"
    )
    for path in ui.taken:
        print(f"  {path}")
