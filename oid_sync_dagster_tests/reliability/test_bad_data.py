"""Odd and bad source data: NaN and +-Infinity, huge and tiny values, strings in a numeric series, duplicate
timestamps, empty weeks, long gaps. docs/reliability.md (section 5) has the table (input, CDF's rule, ours, sources).

The source here is a writable project on the local CDF (`source`), seeded through the ordinary datapoints API
with the unmodified SDK: the local CDF applies CDF's insert rules to it, so the source can hold exactly what a
real CDF project such as OID can hold, and a seed CDF refuses is refused here too, with the reason. The engine
reads that project as it reads OID (time_series.list by prefix, retrieve_arrays with Bad points included) and
every target point is compared with the seed: timestamp + offset, value bit for bit (NaN, -0.0, 5e-324),
status code, and whether the value is missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes import DatapointsArray, TimeSeriesWrite
from cognite.client.data_classes.data_modeling import NodeId
from cognite.client.exceptions import CogniteAPIError

from oid_sync_dagster.local_cdf.server import RunningLocalCDF
from oid_sync_dagster.sync import state as sync_state
from oid_sync_dagster.sync.engine import SyncEngine
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.verify import COMPLETE, EMPTY_SOURCE
from oid_sync_dagster.sync.windows import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    WEEK_MS,
    Window,
    history_weeks,
    source_window_for_week,
    week_start,
)
from oid_sync_dagster_tests.conftest import make_client
from oid_sync_dagster_tests.sync.conftest import Clock, engine_for

SPACE = "oid_sync"
OFFSET = WEEK_MS + 10 * MINUTE_MS
GOOD, UNCERTAIN, BAD = 0, 0x40000000, 0x80000000
EDGE = "pi:1000"  # a dense-enough series whose newest point sets the source's published edge
ODD = "pi:1001"  # NaN, +-Infinity and beyond +-1e100 on Bad points; the extremes CDF allows on Good ones
TEXT = "pi:1002"  # a string series whose strings look like numbers, or like nothing
DUPLICATES = "pi:1003"  # duplicate timestamps within one insert, and an overwrite by a later one
GAPPY = "pi:1004"  # a point three weeks before another: an empty week between them
REFUSED = "pi:1005"  # what CDF refuses to store; the few valid points around it
ALL = [EDGE, ODD, TEXT, DUPLICATES, GAPPY, REFUSED]


@dataclass(frozen=True)
class Point:
    ts: int
    value: float | str | None
    status: int = GOOD

    def insert(self) -> dict[str, object]:
        point: dict[str, object] = {"timestamp": self.ts, "value": self.value}
        if self.status:
            point["status"] = {"code": self.status}
        return point


@dataclass
class Seeded:
    """What the source holds after seeding (what was accepted, after CDF's overwrite rule), per series."""

    points: dict[str, list[Point]]
    weeks: list[int]  # target weeks, newest first
    refusals: dict[str, str]  # what was refused -> the whole message


@pytest.fixture
def source(cdf: RunningLocalCDF) -> CogniteClient:
    return make_client(cdf, "source")


def refusal(source: CogniteClient, external_id: str, points: list[Point]) -> str:
    with pytest.raises(CogniteAPIError) as info:
        source.time_series.data.insert([p.insert() for p in points], external_id=external_id)
    assert info.value.code == 400
    return info.value.message


@pytest.fixture
def seeded(source: CogniteClient, clock: Clock) -> Seeded:
    source.time_series.create([TimeSeriesWrite(external_id=xid, name=xid, is_string=xid == TEXT) for xid in ALL])
    weeks = history_weeks(clock.ms(), 3)
    start = {week: source_window_for_week(week, OFFSET).start for week in weeks}
    w1, w3 = start[weeks[0]], start[weeks[2]]
    odd = [
        Point(w1 + 1_000, 1.5),
        Point(w1 + 2_000, math.nan, BAD),
        Point(w1 + 3_000, math.inf, BAD),
        Point(w1 + 4_000, -math.inf, BAD),
        Point(w1 + 5_000, 1e300, BAD),
        Point(w1 + 6_000, -1e300, BAD),
        Point(w1 + 7_000, None, BAD),  # a Bad point may have no value at all
        Point(w1 + 8_000, 1e100),  # CDF's largest Good magnitude, both signs
        Point(w1 + 9_000, -1e100),
        Point(w1 + 10_000, -0.0),
        Point(w1 + 11_000, 5e-324),  # the smallest positive double: JSON's shortest repr round-trips it
        Point(w1 + 12_000, 2.5, UNCERTAIN),
        Point(w1 + 13_000, 1e99, UNCERTAIN),
    ]
    text = [Point(w1 + 1_000 * (i + 1), v) for i, v in enumerate(["NaN", "Infinity", "-Infinity", "", "1e300"])]
    points = {
        EDGE: [Point(clock.ms() - OFFSET - HOUR_MS, 7.0)],  # in the open week's source window
        ODD: odd,
        TEXT: text,
        GAPPY: [Point(w3 + DAY_MS, 3.0), Point(w1 + DAY_MS, 1.0)],
        DUPLICATES: [Point(w1 + 60_000, 2.0), Point(w1 + 120_000, 4.0)],
        REFUSED: [Point(w1 + 1_000, 1.0), Point(w1 + 3_000, 3.0)],
    }
    for xid in (EDGE, ODD, TEXT, GAPPY):
        source.time_series.data.insert([p.insert() for p in points[xid]], external_id=xid)
    # One request with a timestamp twice (the last wins), then a later request overwriting a point.
    source.time_series.data.insert(
        [(w1 + 60_000, 1.0), (w1 + 60_000, 2.0), (w1 + 120_000, 3.0)], external_id=DUPLICATES
    )
    source.time_series.data.insert([(w1 + 120_000, 4.0)], external_id=DUPLICATES)
    source.time_series.data.insert([p.insert() for p in points[REFUSED]], external_id=REFUSED)
    bad_ts = w1 + 2_000
    refused = {
        f"Good {value!r}": refusal(source, REFUSED, [Point(bad_ts, value)])
        for value in (math.nan, math.inf, -math.inf, 1e300, -1e300, 1.0000000000000002e100)
    }
    refused["Uncertain nan"] = refusal(source, REFUSED, [Point(bad_ts, math.nan, UNCERTAIN)])
    refused["Good None"] = refusal(source, REFUSED, [Point(bad_ts, None)])
    refused["the string 'abc'"] = refusal(source, REFUSED, [Point(bad_ts, "abc")])
    # CDF applies a request whole or not at all: the valid point next to a refused one is not stored either.
    refused["a valid point, then Good nan"] = refusal(
        source, REFUSED, [Point(w1 + 2_500, 2.5), Point(bad_ts, math.nan)]
    )
    return Seeded(points, weeks, refused)


def read_all(client: CogniteClient, ident: str | NodeId, window: Window) -> DatapointsArray:
    key = {"instance_id": ident} if isinstance(ident, NodeId) else {"external_id": ident}
    array = client.time_series.data.retrieve_arrays(
        **key,
        start=window.start,
        end=window.end,
        limit=None,
        include_status=True,
        ignore_bad_datapoints=False,
        treat_uncertain_as_bad=False,
    )
    assert isinstance(array, DatapointsArray)
    return array


def assert_holds(array: DatapointsArray, points: list[Point], shift_ms: int) -> None:
    """The array is exactly these points, shifted: timestamps, values bit for bit, status codes, missing values."""
    timestamps = array.timestamp.astype("datetime64[ms]").astype(np.int64)
    assert timestamps.tolist() == [p.ts + shift_ms for p in points]
    status = array.status_code if array.status_code is not None else np.zeros(len(points), np.uint32)
    assert status.tolist() == [p.status for p in points]
    assert set(array.null_timestamps or ()) == {p.ts + shift_ms for p in points if p.value is None}
    if array.is_string:
        assert array.value.tolist() == [p.value for p in points]
        return
    expected = np.array([math.nan if p.value is None else p.value for p in points], dtype=np.float64)
    assert array.value.view(np.uint64).tolist() == expected.view(np.uint64).tolist()  # bits: NaN, -0.0, 5e-324


def catalog_of(engine: SyncEngine) -> list[CatalogSeries]:
    catalog = engine.list_catalog()
    assert [s.external_id for s in catalog] == ALL
    return catalog


def test_cdf_refuses_what_it_cannot_store(seeded: Seeded) -> None:
    ts = seeded.points[REFUSED][0].ts + 1_000
    beyond = "NaN, Infinity and values beyond +-1e100 are only allowed on Bad datapoints."
    assert seeded.refusals == {
        "Good nan": f"Datapoint at {ts} of {REFUSED!r} has value nan: {beyond}",
        "Good inf": f"Datapoint at {ts} of {REFUSED!r} has value inf: {beyond}",
        "Good -inf": f"Datapoint at {ts} of {REFUSED!r} has value -inf: {beyond}",
        "Good 1e+300": f"Datapoint at {ts} of {REFUSED!r} has value 1e+300: {beyond}",
        "Good -1e+300": f"Datapoint at {ts} of {REFUSED!r} has value -1e+300: {beyond}",
        "Good 1.0000000000000002e+100": f"Datapoint at {ts} of {REFUSED!r} has value 1.0000000000000002e+100: {beyond}",
        "Uncertain nan": f"Datapoint at {ts} of {REFUSED!r} has value nan: {beyond}",
        "Good None": f"Datapoint at {ts} of {REFUSED!r} has no value; only Bad points may omit it.",
        "the string 'abc'": (
            f"Numeric time series {REFUSED!r} only accepts numbers, got the string 'abc' at timestamp {ts}."
        ),
        "a valid point, then Good nan": f"Datapoint at {ts} of {REFUSED!r} has value nan: {beyond}",
    }


def test_odd_values_are_copied_exactly_and_refused_ones_never_exist(
    seeded: Seeded, source: CogniteClient, target: CogniteClient, clock: Clock
) -> None:
    engine = engine_for(source, target, clock)
    catalog = catalog_of(engine)
    assert sorted(engine.sync_catalog(catalog).created) == [s.external_id for s in catalog]
    weeks = seeded.weeks
    result = engine.sync_weeks(catalog, weeks)
    assert result.failed == {}
    newest, middle, oldest = weeks
    assert {xid: dict(r.points_by_week) for xid, r in result.series.items()} == {
        EDGE: {},  # its one point lies in the open week: realtime's
        ODD: {newest: 13},
        TEXT: {newest: 5},
        DUPLICATES: {newest: 2},
        GAPPY: {oldest: 1, newest: 1},
        REFUSED: {newest: 2},  # only what CDF accepted exists in the source
    }
    assert result.points_written == result.points_read == 13 + 5 + 2 + 2 + 2
    span = Window(oldest, newest + WEEK_MS)
    for xid, points in seeded.points.items():
        if xid == EDGE:
            continue
        assert_holds(read_all(source, xid, Window(span.start - OFFSET, span.end - OFFSET)), points, 0)
        assert_holds(read_all(target, NodeId(SPACE, xid), span), points, OFFSET)
    # The empty week is no gap: the check says there was nothing to compare, and every other week is complete.
    statuses = {week: {xid: v.status for xid, v in engine.verify_week(catalog, week).series.items()} for week in weeks}
    assert statuses == {
        newest: {EDGE: EMPTY_SOURCE, ODD: COMPLETE, TEXT: COMPLETE, DUPLICATES: COMPLETE, GAPPY: COMPLETE,
                 REFUSED: COMPLETE},
        middle: dict.fromkeys(ALL, EMPTY_SOURCE),
        oldest: {EDGE: EMPTY_SOURCE, ODD: EMPTY_SOURCE, TEXT: EMPTY_SOURCE, DUPLICATES: EMPTY_SOURCE,
                 GAPPY: COMPLETE, REFUSED: EMPTY_SOURCE},
    }  # fmt: skip
    assert (
        engine.sync_weeks(catalog, weeks).points_written == result.points_written
    )  # idempotent: the same points again
    assert_holds(read_all(target, NodeId(SPACE, ODD), span), seeded.points[ODD], OFFSET)


def test_realtime_over_a_long_gap_copies_the_new_point_and_no_error(
    seeded: Seeded, source: CogniteClient, target: CogniteClient, clock: Clock
) -> None:
    engine = engine_for(source, target, clock)
    catalog = catalog_of(engine)
    engine.sync_catalog(catalog)
    first = engine.sync_realtime(catalog)
    assert first.failed == {}
    # Only the edge series has a point in the open week; the others have none for weeks, which is no error.
    assert {xid: r.points_written for xid, r in first.series.items()} == {
        EDGE: 1, ODD: 0, TEXT: 0, DUPLICATES: 0, GAPPY: 0, REFUSED: 0
    }  # fmt: skip
    edge = seeded.points[EDGE][0].ts
    marks = sync_state.read_states(target, SPACE, [s.external_id for s in catalog])
    assert {m.synced_through for m in marks.values()} == {edge + 1}  # sparse series advance too

    # Three days on (longer than the 1-day catch-up limit, within the open week), one new point after the gap.
    clock.now_ms += 3 * DAY_MS
    assert week_start(clock.ms()) == week_start(clock.ms() - 3 * DAY_MS)
    new = Point(clock.ms() - OFFSET - MINUTE_MS, 9.0)
    source.time_series.data.insert([new.insert()], external_id=GAPPY)
    second = engine.sync_realtime(catalog)
    assert second.failed == {}
    assert {xid: r.points_written for xid, r in second.series.items() if r.points_written} == {GAPPY: 1}
    open_week = Window(week_start(clock.ms()), clock.ms() + 1)
    assert_holds(read_all(target, NodeId(SPACE, GAPPY), open_week), [new], OFFSET)
    assert_holds(read_all(target, NodeId(SPACE, EDGE), open_week), seeded.points[EDGE], OFFSET)
