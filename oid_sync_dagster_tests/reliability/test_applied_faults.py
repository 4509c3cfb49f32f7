"""Writes that a CDF applies and then loses the answer to (a 503 or a dropped connection after the commit): the
client cannot tell them from writes never made, so it writes again. Under a seeded 5% of them on every kind of
write the engine makes (datapoint inserts and deletes, node upserts, state upserts), the target ends exactly equal
to the shifted source, every point is counted once, and no synced-through mark is ahead of the data written.
The same faults through Dagster are in test_transient_faults.py."""

from __future__ import annotations

from cognite.client import CogniteClient

from oid_sync_dagster.local_cdf.faults import Fault
from oid_sync_dagster.local_cdf.server import RunningLocalCDF
from oid_sync_dagster.sync import state as sync_state
from oid_sync_dagster.sync.copy import CopySettings
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.windows import HOUR_MS, MINUTE_MS, WEEK_MS, Window, history_weeks
from oid_sync_dagster_tests.sync.conftest import (  # noqa: F401 (fixtures)
    Clock,
    engine,
    engine_for,
    read_points,
    source_client,
    subset,
    target_client,
)
from oid_sync_dagster_tests.sync.test_engine import assert_exact_copy, node

SPACE = "oid_sync"
OFFSET = WEEK_MS + 10 * MINUTE_MS
RATE = 0.05
# Every write the engine makes: datapoint inserts, datapoint deletes (a purge), node and state upserts.
WRITES = r"/timeseries/data(/delete)?$|/models/instances$"
LOST_ANSWERS = (Fault(status=503, applied=True), Fault(drop=True, applied=True))


def test_applied_writes_whose_answer_is_lost_leave_an_exact_target(
    cdf: RunningLocalCDF,
    clock: Clock,
    subset: list[CatalogSeries],  # noqa: F811
    source_client: CogniteClient,  # noqa: F811
    target_client: CogniteClient,  # noqa: F811
) -> None:
    # Small inserts, so that 5% of them is many; the first node/state upserts and deletes lose their answer too
    # (scripted: there are only a few of those requests).
    writer = engine_for(source_client, target_client, clock, copy=CopySettings(points_per_insert=2_000))
    cdf.faults.reseed(13)
    for fault in LOST_ANSWERS:
        cdf.faults.rate(WRITES, fault, RATE / len(LOST_ANSWERS), method="POST")
        for path in (r"/models/instances$", r"/timeseries/data/delete$"):
            cdf.faults.script(path, [fault], method="POST")
    names = [s.external_id for s in subset]
    # A node upsert applied but answered 503 is retried: the retry finds the node and reports it unchanged, so
    # created + unchanged is every series, each once.
    catalog = writer.sync_catalog(subset)
    assert sorted(catalog.created + catalog.updated + catalog.unchanged) == sorted(names)
    weeks = history_weeks(clock.ms(), 2)
    history = writer.sync_weeks(subset, weeks)
    assert history.failed == {}
    # Counted once: each (series, week) wrote exactly the points the target holds for it.
    for item in subset:
        held = sum(len(read_points(target_client, node(item), Window(w, w + WEEK_MS))) for w in weeks)
        assert history.series[item.external_id].points_written == held > 0, item.external_id
    # A purge of the newest week (deletes), then it is synced again.
    purged = writer.purge(subset[:3], [weeks[0]])
    assert purged.series == [s.external_id for s in subset[:3]] and purged.absent == []
    assert all(len(read_points(target_client, node(s), Window(weeks[0], weeks[0] + WEEK_MS))) == 0 for s in subset[:3])
    assert writer.sync_weeks(subset[:3], [weeks[0]]).failed == {}
    # Realtime twice, the clock moving between: state upserts under the same faults.
    first = writer.sync_realtime(subset)
    clock.now_ms += 3 * HOUR_MS
    second = writer.sync_realtime(subset)
    assert first.failed == {} and second.failed == {}
    cdf.faults.clear()

    injected = cdf.faults.describe()["injected"]
    assert isinstance(injected, dict) and injected.get("applied-503", 0) > 0 and injected.get("applied-drop", 0) > 0
    lost = {r.path.split("/api/v1/projects/target")[-1] for r in cdf.request_log.matching(WRITES, "POST") if r.fault}
    assert lost == {"/timeseries/data", "/timeseries/data/delete", "/models/instances"}, lost

    marks = sync_state.read_states(target_client, SPACE, names)
    for item in subset:
        mark = marks[item.external_id].synced_through
        assert mark is not None and mark + OFFSET == clock.ms() + 1  # realtime reached now, and no further
        # Exact from the oldest week to the mark: nothing lost, nothing doubled, nothing beyond the mark.
        assert assert_exact_copy(source_client, target_client, item, Window(weeks[-1], mark + OFFSET)) > 0
        assert len(read_points(target_client, node(item), Window(mark + OFFSET, mark + OFFSET + WEEK_MS))) == 0
        # Realtime counted each point once: its two passes together wrote what the open weeks hold.
        written = first.series[item.external_id].points_written + second.series[item.external_id].points_written
        opened = first.series[item.external_id].source_window
        assert opened is not None and opened.start + OFFSET >= weeks[0] + WEEK_MS  # after the history weeks
        start = opened.start + OFFSET
        assert written == len(read_points(target_client, node(item), Window(start, mark + OFFSET)))
