"""The synthetic publicdata: the catalog's shape, and datapoints that are a pure, split-invariant function."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oid_sync_dagster.local_cdf import plant, synthetic
from oid_sync_dagster.local_cdf.status import BAD, GOOD, UNCERTAIN
from oid_sync_dagster.local_cdf.synthetic import (
    NAME_PATTERN,
    STRING_MODES,
    Density,
    Points,
    SourceSeries,
    SyntheticSource,
    load_catalog_csv,
    synthetic_catalog,
)

REAL_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "oid_pi_timeseries_metadata.csv"
DAY = 86_400_000
HOUR = 3_600_000
WEEK = 7 * DAY
HISTORY_START = 1_700_006_400_000  # 2023-11-15 00:00 UTC
CATALOG = synthetic_catalog()
SOURCE = SyntheticSource(CATALOG, history_start_ms=HISTORY_START)
BY_KIND = {kind: [s for s in CATALOG if s.kind == kind] for kind in ("analog", "digital", "string", "step")}
# The instrument groups the Dagster layer shards by, read from the tag's instrument code.
GROUPS = {
    "pressure": {"PT", "PDT", "PIC", "PDI", "PC"},
    "temperature": {"TT", "TIC", "TE"},
    "flow": {"FT", "FIC", "FE", "FI"},
    "level": {"LT", "LIC", "LY", "LV"},
    "machine": {"KA", "YA", "YT", "NY", "GK"},
}
# Real tags, underscores and all: VAL_23-PT-92504:X.Value, VAL_23_FIC_92543_02:Z.X.Value.
REAL_CODE = re.compile(r"^VAL_\d+[-_]([A-Z]+)[-_]")


def code_of(series: SourceSeries) -> str:
    match = NAME_PATTERN.match(series.name)
    assert match, series.name
    return match["code"]


def assert_same(a: Points, b: Points) -> None:
    assert a.timestamps.dtype == b.timestamps.dtype == np.int64
    assert a.status.dtype == b.status.dtype == np.uint32
    assert a.values.dtype == b.values.dtype
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.status, b.status)


def concat(a: Points, b: Points) -> Points:
    return Points(
        np.concatenate([a.timestamps, b.timestamps]),
        np.concatenate([a.values, b.values]),
        np.concatenate([a.status, b.status]),
    )


def head(p: Points, n: int) -> Points:
    return Points(p.timestamps[:n], p.values[:n], p.status[:n])


# --- catalog -------------------------------------------------------------------------------------------


def test_catalog_has_the_real_counts() -> None:
    assert len(CATALOG) == 363
    assert Counter(s.metadata["pointtype"] for s in CATALOG) == {"Float32": 292, "Digital": 65, "String": 6}
    assert Counter(s.kind for s in CATALOG) == {"analog": 287, "step": 5, "digital": 65, "string": 6}
    assert sum(s.is_step for s in CATALOG) == 5
    assert sum(s.is_string for s in CATALOG) == 6


def test_step_and_string_series_look_like_controller_points() -> None:
    for s in BY_KIND["step"]:
        assert s.is_step and not s.is_string and s.name.endswith(":Control Module:YR")
        assert s.metadata["pointtype"] == "Float32" and s.metadata["step"] == "1"
    for s in BY_KIND["string"]:
        assert s.is_string and not s.is_step and s.name.endswith(":MODE") and s.unit is None
        assert s.metadata["pointtype"] == "String"
    for s in BY_KIND["analog"]:
        assert not s.is_step and not s.is_string and s.metadata["step"] == "0"


def test_ids_external_ids_and_names_are_unique_and_stable() -> None:
    assert len({s.id for s in CATALOG}) == len({s.external_id for s in CATALOG}) == len({s.name for s in CATALOG})
    assert len({s.id for s in CATALOG}) == 363
    for s in CATALOG:
        assert 0 < s.id < 2**53
        assert re.fullmatch(r"pi:1[6-9]\d{4}", s.external_id), s.external_id
        assert s.metadata["pointid"] == s.external_id.removeprefix("pi:")
        assert s.metadata["tag"] == s.name
        assert s.metadata["descriptor"] == s.description
        assert 0 < s.created_time <= s.last_updated_time


def test_names_follow_the_tag_pattern_and_group_by_instrument() -> None:
    for s in CATALOG:
        assert re.match(r"^VAL_\d+-[A-Z]+-[0-9A-Z-]+:", s.name), s.name
    groups = Counter(next((group for group, codes in GROUPS.items() if code_of(s) in codes), "other") for s in CATALOG)
    assert set(groups) == {*GROUPS, "other"}
    assert all(n >= 10 for n in groups.values()), groups


def test_metadata_is_consistent_with_the_series() -> None:
    pointtype = {"analog": "Float32", "step": "Float32", "digital": "Digital", "string": "String"}
    for s in CATALOG:
        assert all(isinstance(v, str) and v for v in s.metadata.values()), s.name
        assert s.metadata["pointtype"] == pointtype[s.kind]
        assert s.metadata.get("engunits") == s.unit
        if s.kind == "digital":
            assert s.unit is None
            assert s.metadata["digitalset"] in ("Valhall_True_False", "CLOSEDOPEN")
            assert s.metadata["span"] == "1"
        else:
            assert "digitalset" not in s.metadata


def test_units_follow_the_real_shape() -> None:
    units = Counter(s.unit for s in CATALOG)
    assert 0.55 < units[None] / len(CATALOG) < 0.8  # most real series carry no unit
    assert {"degC", "bar", "%", "Kg/m3"} <= set(units)


def test_catalog_is_deterministic_per_seed() -> None:
    assert synthetic_catalog(0) == CATALOG
    other = synthetic_catalog(1)
    assert len(other) == 363
    assert {s.name for s in other} != {s.name for s in CATALOG}


# --- the real catalog, where it is present ----------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> tuple[SourceSeries, ...]:
    if not REAL_CSV.exists():
        pytest.skip(f"{REAL_CSV} is absent")
    return load_catalog_csv(REAL_CSV)


def test_loader_reads_the_real_catalog(real: tuple[SourceSeries, ...]) -> None:
    assert len(real) == 363
    assert Counter(s.metadata["pointtype"] for s in real) == {"Float32": 292, "Digital": 65, "String": 6}
    assert Counter(s.kind for s in real) == {"analog": 287, "step": 5, "digital": 65, "string": 6}
    assert len({s.id for s in real}) == 363
    for s in real:
        assert s.external_id == f"pi:{s.metadata['pointid']}"
        assert all(v for v in s.metadata.values())  # empty cells are dropped, as CDF omits them
        assert not {"externalId", "name", "unit", "isStep", "assetExternalId"} & set(s.metadata)
        assert s.unit is None or s.unit == s.metadata["engunits"]
    assert sum(s.unit is None for s in real) == 249


def test_loader_series_generate_points(real: tuple[SourceSeries, ...]) -> None:
    source = SyntheticSource(real, history_start_ms=HISTORY_START)
    for s in real:
        p = source.points(s, HISTORY_START, HISTORY_START + DAY)
        assert len(p.timestamps) > 0 or s.kind != "analog"


def test_synthetic_catalog_has_the_real_shape(real: tuple[SourceSeries, ...]) -> None:
    def codes(catalog: tuple[SourceSeries, ...]) -> Counter[tuple[str, str]]:
        return Counter((m[1], s.metadata["pointtype"]) for s in catalog if (m := REAL_CODE.match(s.name)))

    assert codes(CATALOG) == codes(real)
    real_keys = set().union(*(s.metadata for s in real))
    assert set().union(*(s.metadata for s in CATALOG)) <= real_keys


# --- datapoints -------------------------------------------------------------------------------------------


def test_same_query_gives_the_same_arrays() -> None:
    other = SyntheticSource(synthetic_catalog(), history_start_ms=HISTORY_START)
    for kind, series in BY_KIND.items():
        s = series[0]
        assert_same(
            SOURCE.points(s, HISTORY_START, HISTORY_START + WEEK),
            other.points(s, HISTORY_START, HISTORY_START + WEEK),
        )
        assert SOURCE.points(s, HISTORY_START, HISTORY_START + WEEK).values.dtype == (
            object if kind == "string" else np.float64
        )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    series=st.sampled_from(CATALOG),
    a=st.integers(-2 * DAY, 60 * DAY),
    ab=st.integers(1, 2 * DAY),
    bc=st.integers(1, 2 * DAY),
)
def test_points_split_anywhere_concatenate_to_the_whole(series: SourceSeries, a: int, ab: int, bc: int) -> None:
    a += HISTORY_START
    b, c = a + ab, a + ab + bc
    whole = SOURCE.points(series, a, c)
    assert_same(whole, concat(SOURCE.points(series, a, b), SOURCE.points(series, b, c)))


@settings(max_examples=60, deadline=None)
@given(
    series=st.sampled_from(CATALOG),
    a=st.integers(-DAY, 60 * DAY),
    span=st.integers(1, 3 * DAY),
    limit=st.integers(0, 5000),
)
def test_limit_gives_the_first_points(series: SourceSeries, a: int, span: int, limit: int) -> None:
    a += HISTORY_START
    whole = SOURCE.points(series, a, a + span)
    assert_same(SOURCE.points(series, a, a + span, limit=limit), head(whole, limit))


def test_split_at_a_point_and_at_slot_edges() -> None:
    s = BY_KIND["analog"][0]
    whole = SOURCE.points(s, HISTORY_START, HISTORY_START + DAY)
    for b in (int(whole.timestamps[10]), int(whole.timestamps[10]) + 1, HISTORY_START + 60_000 * 97):
        left = SOURCE.points(s, HISTORY_START, b)
        assert_same(whole, concat(left, SOURCE.points(s, b, HISTORY_START + DAY)))
    # A point exactly at `start` is in, one exactly at `end` is out.
    t = int(whole.timestamps[5])
    assert SOURCE.points(s, t, t + 1).timestamps.tolist() == [t]
    assert len(SOURCE.points(s, t - 1, t).timestamps) == 0 or SOURCE.points(s, t - 1, t).timestamps[-1] < t


def test_limit_pages_through_a_long_range() -> None:
    s = BY_KIND["analog"][1]
    start, end = HISTORY_START, HISTORY_START + 30 * DAY
    whole = SOURCE.points(s, start, end)
    pages, cursor = [], start
    while True:
        page = SOURCE.points(s, cursor, end, limit=10_000)
        if len(page.timestamps) == 0:
            break
        pages.append(page)
        cursor = int(page.timestamps[-1]) + 1
    stitched = pages[0]
    for page in pages[1:]:
        stitched = concat(stitched, page)
    assert_same(whole, stitched)
    assert_same(SOURCE.points(s, start, end, limit=10**9), whole)


def test_generation_in_small_chunks_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    s = BY_KIND["analog"][2]
    start, end = HISTORY_START + 12_345, HISTORY_START + 5 * DAY
    whole, first = SOURCE.points(s, start, end), SOURCE.points(s, start, end, limit=3000)
    monkeypatch.setattr(synthetic, "_MAX_CHUNK_SLOTS", 777)
    fresh = SyntheticSource(CATALOG, history_start_ms=HISTORY_START)
    assert_same(fresh.points(s, start, end), whole)
    assert_same(fresh.points(s, start, end, limit=3000), first)


@settings(max_examples=40, deadline=None)
@given(
    series=st.sampled_from(CATALOG),
    a=st.integers(0, 60 * DAY),
    reads=st.lists(st.tuples(st.integers(-2 * HOUR, 2 * HOUR), st.integers(1, 2 * HOUR)), min_size=1, max_size=6),
    limit=st.one_of(st.none(), st.integers(1, 40)),
)
def test_small_reads_through_the_block_cache_equal_generating_them(
    series: SourceSeries, a: int, reads: list[tuple[int, int]], limit: int | None
) -> None:
    """The live edge's reads (an hour for the newest point, then minutes) come from cached blocks: whatever the
    order, overlap and limit, they equal a fresh generation of the same range, which never uses the cache."""
    cached = SyntheticSource(CATALOG, history_start_ms=HISTORY_START)
    for offset, span in reads:
        start = HISTORY_START + a + offset
        expected = head(
            SOURCE.points(series, start - 10 * DAY, start + span + 10 * DAY).cut(start, start + span, None),
            limit if limit is not None else 10**9,
        )
        assert_same(cached.points(series, start, start + span, limit), expected)


def test_the_block_cache_is_bounded_and_evicts_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "_CACHE_MAX_BLOCKS", 5)
    s = BY_KIND["analog"][0]
    source = SyntheticSource([s], history_start_ms=HISTORY_START)  # the bound grows with the catalog: 4 blocks each
    span = synthetic._CACHE_BLOCK_SLOTS * 60_000  # one block of an analog series: its period is just under a minute
    for n in range(12):
        source.points(s, HISTORY_START + n * 3 * span, HISTORY_START + n * 3 * span + 1000)
    blocks = source._recent._blocks
    assert len(blocks) == 5
    period = source._plan(s).period
    newest = {(HISTORY_START + n * 3 * span) // period // synthetic._CACHE_BLOCK_SLOTS for n in range(7, 12)}
    assert {b for _, b in blocks} == newest


@pytest.mark.parametrize("kind", ["analog", "digital", "string", "step"])
def test_timestamps_are_ascending_and_inside_the_window(kind: str) -> None:
    start, end = HISTORY_START - 3 * DAY, HISTORY_START + 10 * DAY + 12_345
    for s in BY_KIND[kind][:5]:
        p = SOURCE.points(s, start, end)
        ts = p.timestamps
        assert ts.dtype == np.int64 and len(ts) == len(p.values) == len(p.status)
        assert len(ts) > 0
        assert np.all(np.diff(ts) > 0)
        assert ts[0] >= HISTORY_START and ts[-1] < end


def test_nothing_before_history_start() -> None:
    s = BY_KIND["analog"][0]
    assert len(SOURCE.points(s, HISTORY_START - WEEK, HISTORY_START).timestamps) == 0
    assert SOURCE.points(s, HISTORY_START, HISTORY_START).values.dtype == np.float64
    assert SOURCE.points(BY_KIND["string"][0], 0, HISTORY_START).values.dtype == object
    assert len(SOURCE.points(s, HISTORY_START + DAY, HISTORY_START).timestamps) == 0


def test_density_is_realistic() -> None:
    week = (HISTORY_START, HISTORY_START + WEEK)
    for s in BY_KIND["analog"]:
        assert 9072 <= len(SOURCE.points(s, *week).timestamps) <= 11088, s.name  # 10080 +- 10 %
    for kind, expected in (("digital", 1008), ("step", 336), ("string", 168)):
        counts = [len(SOURCE.points(s, *week).timestamps) for s in BY_KIND[kind]]
        assert all(0.7 * expected <= n <= 1.3 * expected for n in counts), (kind, counts)


def test_density_setting_is_honoured() -> None:
    sparse = SyntheticSource(CATALOG, history_start_ms=HISTORY_START, density=Density(analog_s=300.0))
    n = len(sparse.points(BY_KIND["analog"][0], HISTORY_START, HISTORY_START + WEEK).timestamps)
    assert 0.9 * 2016 <= n <= 1.1 * 2016


def test_timestamps_are_irregular() -> None:
    gaps = np.diff(SOURCE.points(BY_KIND["analog"][0], HISTORY_START, HISTORY_START + DAY).timestamps)
    assert len(np.unique(gaps)) > 100
    assert gaps.max() > 2 * 60_000  # some slots are empty


def test_analog_values_are_float32_and_vary_like_a_process() -> None:
    for s in BY_KIND["analog"][:20] + BY_KIND["step"]:
        v = SOURCE.points(s, HISTORY_START, HISTORY_START + 3 * DAY).values
        assert v.dtype == np.float64 and np.all(np.isfinite(v))
        np.testing.assert_array_equal(v, v.astype(np.float32).astype(np.float64))
    v = SOURCE.points(BY_KIND["analog"][0], HISTORY_START, HISTORY_START + 3 * DAY).values
    assert len(np.unique(v)) > len(v) // 2  # not constant, not quantised to a few levels
    assert np.std(v) > 0


def test_percent_series_stay_in_range() -> None:
    for s in (s for s in BY_KIND["analog"] if s.unit == "%"):
        v = SOURCE.points(s, HISTORY_START, HISTORY_START + 3 * DAY).values
        assert v.min() >= 0.0 and v.max() <= 100.0


def test_digital_values_are_persistent_states() -> None:
    seen: set[float] = set()
    for s in BY_KIND["digital"]:
        v = SOURCE.points(s, HISTORY_START, HISTORY_START + 30 * DAY).values
        assert set(np.unique(v).tolist()) <= {0.0, 1.0}
        assert np.count_nonzero(np.diff(v)) < len(v) / 5  # states hold over many points
        seen |= set(v.tolist())
    assert seen == {0.0, 1.0}


def test_string_values_are_controller_modes() -> None:
    seen: set[str] = set()
    for s in BY_KIND["string"]:
        v = SOURCE.points(s, HISTORY_START, HISTORY_START + 60 * DAY).values
        assert v.dtype == object and all(isinstance(x, str) for x in v)
        assert set(v) <= set(STRING_MODES)
        changes = np.count_nonzero(v[1:] != v[:-1])
        assert changes < len(v) / 3
        seen |= set(v)
    assert seen == set(STRING_MODES)


def test_step_values_hold_and_move_by_whole_steps() -> None:
    for s in BY_KIND["step"]:
        v = SOURCE.points(s, HISTORY_START, HISTORY_START + 30 * DAY).values
        levels = np.unique(v)
        assert 2 <= len(levels) <= 7
        assert np.count_nonzero(np.diff(v)) < len(v) / 4
        steps = np.diff(levels) / np.diff(levels).min()
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)


def test_a_few_bad_and_uncertain_points_over_a_year() -> None:
    s = BY_KIND["analog"][0]
    p = SOURCE.points(s, HISTORY_START, HISTORY_START + 365 * DAY)
    codes = Counter(p.status.tolist())
    assert set(codes) == {GOOD, BAD, UNCERTAIN}
    assert 0 < codes[BAD] < len(p.status) / 2000
    assert 0 < codes[UNCERTAIN] < len(p.status) / 2000


def test_status_rates_follow_the_settings() -> None:
    noisy = SyntheticSource(CATALOG, history_start_ms=HISTORY_START, bad_every=100, uncertain_every=50)
    status = noisy.points(BY_KIND["analog"][0], HISTORY_START, HISTORY_START + 30 * DAY).status
    n = len(status)
    assert 0.5 * n / 100 < np.count_nonzero(status == BAD) < 1.5 * n / 100
    assert 0.5 * n / 50 < np.count_nonzero(status == UNCERTAIN) < 1.5 * n / 50
    clean = SyntheticSource(CATALOG, history_start_ms=HISTORY_START, bad_every=0, uncertain_every=0)
    assert not clean.points(BY_KIND["analog"][0], HISTORY_START, HISTORY_START + 30 * DAY).status.any()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        SOURCE.points(BY_KIND["analog"][0], HISTORY_START, HISTORY_START + DAY, limit=-1)
    with pytest.raises(ValueError, match="density"):
        SyntheticSource(CATALOG, history_start_ms=0, density=Density(analog_s=0.0))
    with pytest.raises(ValueError, match="unique"):
        SyntheticSource([*CATALOG, CATALOG[0]], history_start_ms=0)


# --- the plant behind the points ---------------------------------------------------------------------------

MINUTE = 60_000
YEAR = 365 * DAY
FLOW = next(s for s in CATALOG if code_of(s) == "FT")
STOPPED_FLAG = next(s for s in CATALOG if s.name.endswith("-SEQ-STOPPED:VALUE"))
RUNNING_FLAG = next(s for s in CATALOG if s.name.endswith("-M01-RUNNING:VALUE"))
# Measurements that follow the process (not tuning constants, profiler limits, counters or setpoints).
PROCESS = [
    s
    for s in BY_KIND["analog"]
    if code_of(s) in set().union(*GROUPS.values()) - {"KA", "LY", "GK"} and ":Control Module:" not in s.name
]


def down_ms(start: int, end: int) -> int:
    """How long the machine is stopped within [start, end)."""
    stops = plant.stops(start - 3 * DAY, end)
    return sum(max(0, min(restart, end) - max(stop, start)) for stop, restart, _ in stops)


def on_grid(series: SourceSeries, grid: np.ndarray) -> np.ndarray:
    """Good values resampled onto `grid`: linear for measurements, the last value for flags."""
    if series.kind == "digital":
        p = SOURCE.points(series, int(grid[0]) - DAY, int(grid[-1]) + 1)
        return p.values[np.searchsorted(p.timestamps, grid, side="right") - 1]
    p = SOURCE.points(series, int(grid[0]), int(grid[-1]) + 1)
    good = p.status == GOOD
    return np.interp(grid, p.timestamps[good], p.values[good])


def residual(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """What is left of `v` after a least-squares fit on the plant's load and a daily cycle."""
    phase = 2 * np.pi * (t % DAY) / DAY
    x = np.column_stack([np.ones(len(t)), plant.plant_state(t).load, np.sin(phase), np.cos(phase)])
    beta, *_ = np.linalg.lstsq(x, v, rcond=None)
    return v - x @ beta


def quiet_week() -> int:
    """The start of the first 7 days from the history start with no event in them or the day before."""
    start = HISTORY_START
    while plant.events(start - DAY, start + WEEK):
        start += DAY
    return start


def test_trips_a_few_times_a_month() -> None:
    # Documented in plant.py: about 0.1 trips a day, so ~3 per 30 days; a year holds 20 to 50.
    per_window = [len(plant.trips(HISTORY_START + i * 30 * DAY, HISTORY_START + (i + 1) * 30 * DAY)) for i in range(24)]
    assert max(per_window) <= 10
    assert 1.5 <= np.mean(per_window) <= 4.5, per_window
    per_year = [len(plant.trips(HISTORY_START + y * YEAR, HISTORY_START + (y + 1) * YEAR)) for y in range(-3, 5)]
    assert all(20 <= n <= 50 for n in per_year), per_year
    durations = [restart - stop for stop, restart in plant.trips(HISTORY_START, HISTORY_START + 2 * YEAR)]
    assert min(durations) >= 10 * MINUTE and max(durations) <= 8 * 3_600_000
    assert min(durations) < 30 * MINUTE and max(durations) > 3 * 3_600_000  # minutes to hours
    planned = [kind for _, _, kind in plant.stops(HISTORY_START, HISTORY_START + 2 * YEAR) if kind == "planned"]
    assert 2 <= len(planned) <= 25


def test_events_never_overlap_and_are_found_from_anywhere() -> None:
    evs = plant.events(HISTORY_START, HISTORY_START + YEAR)
    assert all(a.up < b.down for a, b in itertools.pairwise(evs))
    assert all(e.down <= e.stop < e.restart < e.up for e in evs)
    for e in evs[:10]:  # a narrow query finds the same event as the wide one
        assert plant.events(e.restart, e.restart + 1) == [e]


def test_plant_state_is_a_function_of_each_timestamp() -> None:
    ts = np.sort(np.random.default_rng(7).integers(HISTORY_START, HISTORY_START + 90 * DAY, 5000))
    whole = plant.plant_state(ts)
    for i in (0, 1, 777, 4999):
        one = plant.plant_state(ts[i : i + 1])
        assert one.running[0] == whole.running[i] and one.load[0] == whole.load[i]
    for stop, restart in plant.trips(HISTORY_START, HISTORY_START + 90 * DAY):
        inside = (ts >= stop) & (ts < restart)
        assert not whole.running[inside].any() and not whole.load[inside].any()
    running = whole.load[whole.running]
    assert 0.5 < np.median(running) < 1.05 and running.std() > 0.005  # the load moves, within limits


def test_flow_falls_with_the_stopped_flag() -> None:
    """The flow and the compressor's stopped flag: strongly anti-correlated wherever there is downtime to see.
    (A 30-day window with only a short trip holds too few stopped minutes for any flow to correlate -0.8.)"""
    first = np.arange(HISTORY_START, HISTORY_START + 30 * DAY, MINUTE)
    r_first = np.corrcoef(on_grid(FLOW, first), on_grid(STOPPED_FLAG, first))[0, 1]
    assert r_first < -0.8, r_first
    year = np.arange(HISTORY_START, HISTORY_START + YEAR, MINUTE)
    flow, flag = on_grid(FLOW, year), on_grid(STOPPED_FLAG, year)
    assert np.corrcoef(flow, flag)[0, 1] < -0.9
    windows = [slice(i * 30 * 1440, (i + 1) * 30 * 1440) for i in range(12)]
    downtime = [down_ms(int(year[w][0]), int(year[w][-1]) + MINUTE) for w in windows]
    checked = [
        np.corrcoef(flow[w], flag[w])[0, 1] for w, d in zip(windows, downtime, strict=True) if d >= 4 * 3_600_000
    ]
    assert len(checked) >= 4 and max(checked) < -0.8, checked
    # In a stop the flow is near zero; running, it is well above.
    assert np.median(flow[flag == 1]) < 0.05 * np.median(flow[flag == 0])


def test_flags_equal_the_plant_state() -> None:
    start, end = HISTORY_START, HISTORY_START + 60 * DAY
    for flag, when_running in ((STOPPED_FLAG, 0.0), (RUNNING_FLAG, 1.0)):
        p = SOURCE.points(flag, start, end)
        running = plant.plant_state(p.timestamps).running
        np.testing.assert_array_equal(p.values, np.where(running, when_running, 1.0 - when_running))
    trip_flags = [s for s in BY_KIND["digital"] if "TRIP" in s.name]
    trips = plant.trips(start - DAY, end)
    on_in_trips = 0
    for s in trip_flags:
        p = SOURCE.points(s, start, end)
        in_trip = np.zeros(len(p.timestamps), bool)
        for stop, restart in trips:
            in_trip |= (p.timestamps >= stop) & (p.timestamps < restart)
        assert not p.values[~in_trip].any(), s.name  # a trip flag is on only in a trip (of its cause)
        on_in_trips += int(p.values[in_trip].sum())
    assert on_in_trips > 0


def test_process_values_respond_to_a_trip() -> None:
    stop, restart = next((a, b) for a, b in plant.trips(HISTORY_START, HISTORY_START + YEAR) if b - a > 2 * 3_600_000)

    def level(pattern: str, t: int) -> float:
        s = next(s for s in BY_KIND["analog"] if re.search(pattern, s.name))
        p = SOURCE.points(s, t - 10 * MINUTE, t + 10 * MINUTE)
        return float(np.median(p.values))

    before, late = stop - 20 * MINUTE, stop + 100 * MINUTE
    assert level(r"-FT-", late) < 0.05 * level(r"-FT-", before)  # flow stops
    assert level(r"-M01-ACTIVE-POWER", late) < 0.05 * level(r"-M01-ACTIVE-POWER", before)
    assert level(r"-YA-", late) < 0.2 * level(r"-YA-", before)  # vibration dies away
    assert level(r"-PT-96155", late) < 0.8 * level(r"-PT-96155", before)  # discharge falls toward suction
    assert level(r"-PT-92691", late) > level(r"-PT-92691", before)  # suction settles out higher
    # A temperature decays with a time constant: part of the way down early on, further later, back after.
    temp = [level(r"-TT-96293-01", t) for t in (before, stop + 15 * MINUTE, late, restart + 12 * 3_600_000)]
    assert temp[0] > temp[1] > temp[2] and temp[3] > temp[2]


def test_modes_go_to_manual_around_trips() -> None:
    modes = BY_KIND["string"]
    stops = plant.stops(HISTORY_START, HISTORY_START + YEAR)
    manual_near_stop = 0
    for s in modes:
        p = SOURCE.points(s, HISTORY_START, HISTORY_START + YEAR)
        man = p.timestamps[p.values == "MAN"]
        manual_near_stop += sum(bool(((man >= a) & (man < b + 3 * 3_600_000)).any()) for a, b, _ in stops)
    assert manual_near_stop > len(stops)  # most stops see some loop in manual


def test_unrelated_series_are_not_in_phase() -> None:
    """Beyond the load they share, the series move independently: their residuals barely correlate."""
    start = quiet_week()
    grid = np.arange(start, start + WEEK, 5 * MINUTE)
    residuals = np.array([residual(grid, on_grid(s, grid)) for s in PROCESS])
    r = np.corrcoef(residuals)[np.triu_indices(len(PROCESS), 1)]
    assert len(PROCESS) > 150
    assert np.median(np.abs(r)) < 0.15, np.median(np.abs(r))
    assert 0.3 < np.mean(r > 0) < 0.7  # as many pairs move against each other as with each other


def test_noise_is_coloured() -> None:
    start = quiet_week()
    lag1 = []
    for s in PROCESS[::5]:
        p = SOURCE.points(s, start, start + WEEK)
        good = p.status == GOOD
        e = residual(p.timestamps[good], p.values[good])
        lag1.append(np.corrcoef(e[:-1], e[1:])[0, 1])
    assert min(lag1) > 0.5, min(lag1)  # white noise would give about 0


def test_bad_points_come_in_bursts() -> None:
    noisy = SyntheticSource(CATALOG, history_start_ms=HISTORY_START, bad_every=100, uncertain_every=50)
    status = noisy.points(BY_KIND["analog"][0], HISTORY_START, HISTORY_START + 30 * DAY).status
    bad = status == BAD
    runs = np.count_nonzero(np.diff(bad.astype(np.int8), prepend=0) == 1)
    assert runs < np.count_nonzero(bad) / 3
    # A Bad burst is preceded by Uncertain points more often than chance would have it.
    starts = np.flatnonzero(np.diff(bad.astype(np.int8), prepend=0) == 1)
    before = status[starts[starts > 0] - 1]
    assert np.mean(before == UNCERTAIN) > 0.5


def test_default_bad_and_uncertain_share_over_a_year() -> None:
    counts = Counter[int]()
    for s in BY_KIND["analog"][:20]:
        counts.update(SOURCE.points(s, HISTORY_START, HISTORY_START + YEAR).status.tolist())
    total = sum(counts.values())
    assert 0.5 / 20_000 < counts[BAD] / total < 1.5 / 20_000
    assert 0.5 / 20_000 < counts[UNCERTAIN] / total < 1.5 / 20_000


def test_counters_count_the_plant() -> None:
    hours = next(s for s in BY_KIND["analog"] if "RUN-HOURS" in s.name)
    starts = next(s for s in BY_KIND["analog"] if s.name.endswith("-M01-STARTS:VALUE"))
    start, end = HISTORY_START, HISTORY_START + 90 * DAY
    h, n = SOURCE.points(hours, start, end), SOURCE.points(starts, start, end)
    assert np.all(np.diff(h.values) >= 0) and np.all(np.diff(n.values) >= 0)
    restarts = [e.restart for e in plant.events(start, end) if start < e.restart < end]
    assert n.values[-1] - n.values[0] == len(restarts)
    running_hours = (end - start - down_ms(start, end)) / 3_600_000
    assert h.values[-1] - h.values[0] == pytest.approx(running_hours, abs=0.5)


EDGES = [t for stop, restart, _ in plant.stops(HISTORY_START, HISTORY_START + 60 * DAY) for t in (stop, restart)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    series=st.sampled_from(CATALOG),
    near=st.sampled_from(EDGES),
    a=st.integers(-2 * DAY, DAY),
    ab=st.integers(1, DAY),
    bc=st.integers(1, 2 * DAY),
    limit=st.one_of(st.none(), st.integers(0, 4000)),
)
def test_split_around_events_with_a_limit(
    series: SourceSeries, near: int, a: int, ab: int, bc: int, limit: int | None
) -> None:
    """Reading [a, c) equals [a, b) then [b, c), also near trips (where lags and flags change) and with a limit."""
    a += near
    b, c = a + ab, a + ab + bc
    whole = SOURCE.points(series, a, c, limit=limit)
    fresh = SyntheticSource(CATALOG, history_start_ms=HISTORY_START)  # its own plans
    joined = concat(fresh.points(series, a, b), fresh.points(series, b, c))
    assert_same(whole, joined if limit is None else head(joined, limit))


def test_a_range_that_ends_just_before_a_trip_reads_what_a_longer_one_does() -> None:
    """Warnings come on minutes before their trip: a read that stops short of the trip sees them all the same (a
    realtime pass or a page that ends there must copy what a later whole-week read would)."""
    flags = [s for s in CATALOG if s.kind == "digital"]
    stops = [stop for stop, _ in plant.trips(HISTORY_START + DAY, HISTORY_START + 200 * DAY)]
    assert len(stops) >= 5, stops
    compared = 0
    for stop in stops:
        for series in flags:
            short = SOURCE.points(series, stop - HOUR, stop)
            whole = SOURCE.points(series, stop - HOUR, stop + HOUR)
            assert_same(short, head(whole, len(short.timestamps)))
            compared += len(short.timestamps)
    assert compared > 0


@pytest.mark.parametrize("xid_index", [0, 100, 200])
def test_bad_bursts_read_the_same_split_at_any_point(xid_index: int) -> None:
    """With bursts in most blocks, every split of a day reads the same: the Uncertain slot or two before a Bad
    burst that opens a block lie at the end of the block before, whether or not the read reaches the burst."""
    series = [s for s in CATALOG if s.kind == "analog"][xid_index]
    source = SyntheticSource(CATALOG, history_start_ms=HISTORY_START, bad_every=100, uncertain_every=100)
    a, c = HISTORY_START + 10 * DAY, HISTORY_START + 11 * DAY
    whole = source.points(series, a, c)
    assert (whole.status == BAD).sum() > 0 and (whole.status == UNCERTAIN).sum() > 0
    for b in whole.timestamps.tolist():
        assert_same(whole, concat(source.points(series, a, b), source.points(series, b, c)))
