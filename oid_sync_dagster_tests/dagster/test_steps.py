"""The history step's pipeline on its own: the copy runs at most one week ahead of the events Dagster is handed.

Pure logic: a stand-in engine that records which weeks it was asked to copy, and the few context attributes the
step reads. No server, no Dagster run: what is under test is the order of work in `sync_series_weeks`.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import dagster as dg

from oid_sync_dagster.integration.partitions import key_of
from oid_sync_dagster.integration.steps import sync_series_weeks
from oid_sync_dagster.sync.model import CatalogSeries, SyncResult
from oid_sync_dagster.sync.windows import WEEK_MS, history_weeks

NOW_MS = 1_795_000_000_000  # any instant: the weeks below are the 12 closed weeks before it
WEEKS = history_weeks(NOW_MS, 12)  # newest first
SERIES = {dg.AssetKey(["oid", "other", f"pi_{n}"]): CatalogSeries(f"pi:{n}") for n in (1, 2, 3)}


class RecordingEngine:
    """Copies instantly and records the weeks asked for, in order, from whichever thread asks."""

    settings = SimpleNamespace(offset_ms=WEEK_MS)

    def __init__(self) -> None:
        self.copied: list[int] = []
        self._lock = threading.Lock()

    def now(self) -> int:
        return NOW_MS

    def source_edge(self, series: list[CatalogSeries], now: int) -> int:
        return now  # everything is published: every week is final

    def sync_weeks(self, series: list[CatalogSeries], weeks: list[int], *, now: int, source_edge: int) -> SyncResult:
        with self._lock:
            self.copied += weeks
        result = SyncResult(kind="history", now=now, offset_ms=WEEK_MS, source_edge=source_edge)
        for item in series:
            result.for_series(item.external_id)
        return result.finish()


def step_context() -> SimpleNamespace:
    log = SimpleNamespace(info=lambda *_: None, warning=lambda *_: None, error=lambda *_: None)
    return SimpleNamespace(
        selected_asset_keys=set(SERIES),
        selected_asset_check_keys=set(),  # no verification: only the copy and the events
        partition_keys=[key_of(w) for w in sorted(WEEKS)],
        instance=None,
        run=SimpleNamespace(run_id="test-run"),
        log=log,
    )


def join_copy_threads() -> None:
    """The step's copy thread ends once the week it holds is done: wait for exactly that, no longer."""
    for thread in threading.enumerate():
        if thread.name.startswith("oid-sync-copy"):
            thread.join(timeout=30)
            assert not thread.is_alive(), "the copy thread outlived its week"


def test_all_weeks_are_copied_newest_first_and_each_materialized_once() -> None:
    engine = RecordingEngine()
    events = list(sync_series_weeks(step_context(), engine, SERIES))  # type: ignore[arg-type]
    assert engine.copied == WEEKS
    assert [(e.asset_key, e.partition) for e in events] == [(key, key_of(w)) for w in WEEKS for key in SERIES]


def test_a_step_stopped_at_its_first_event_copies_at_most_one_week_beyond_the_next() -> None:
    """Dagster stops a step between events (Ctrl-C in `oid-sync sync` raises in its event handling): the generator
    is closed there. By its first event the newest week and the next one are copied and the third is queued; that
    one may still finish, and nothing after it starts."""
    engine = RecordingEngine()
    steps = sync_series_weeks(step_context(), engine, SERIES)  # type: ignore[arg-type]
    first = next(steps)
    assert (first.asset_key, first.partition) == (next(iter(SERIES)), key_of(WEEKS[0]))
    assert engine.copied[:2] == WEEKS[:2]
    steps.close()
    join_copy_threads()
    assert engine.copied in (WEEKS[:2], WEEKS[:3]), [key_of(w) for w in engine.copied]
