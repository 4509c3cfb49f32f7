"""The synthetic publicdata: the catalog's shape, and datapoints that are a pure, split-invariant function."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oid_sync_dagster.local_cdf import synthetic
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
