"""The local CDF's protobuf encoder, checked by decoding with the cognite-sdk's own generated classes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

# private: the SDK's generated protobuf classes, the real runtime our hand-written encoder is checked against
from cognite.client._proto.data_point_list_response_pb2 import DataPointListItem, DataPointListResponse
from cognite.client.utils._datapoints import DpsUnpackFns, get_datapoints_from_proto, get_ts_info_from_proto
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oid_sync_dagster.local_cdf import protobuf
from oid_sync_dagster.local_cdf.protobuf import (
    AGGREGATE_FIELDS,
    ItemHeader,
    encode_aggregate_item,
    encode_numeric_item,
    encode_response,
    encode_string_item,
)
from oid_sync_dagster.local_cdf.status import BAD, GOOD, UNCERTAIN, symbol_for

MIN_TS, MAX_TS = -2208988800000, 4102444800000  # CDF's timestamp range: 1900 .. 2100
EDGE_TS = [0, 1, 127, 128, 16383, 16384, 2**31, 2**35 - 1, 2**35, 2**53, MIN_TS, MAX_TS, -1]
# Every varint width boundary, plus the extremes of int64 (wider than CDF allows, but still int64).
BOUNDARY_TS = sorted(
    {b for k in range(1, 10) for b in (2 ** (7 * k) - 1, 2 ** (7 * k)) if b < 2**63} | {-(2**63), 2**63 - 1, -1, 0}
)

HEADER = ItemHeader(
    id=123456789,
    external_id="my-ts",
    instance_id=("my-space", "my-node"),
    is_string=False,
    is_step=True,
    unit="degC",
    next_cursor="cursor-abc",
)
BARE = ItemHeader(id=7, external_id=None, instance_id=None, is_string=False, is_step=False, unit=None, next_cursor=None)


@pytest.fixture(autouse=True, params=["default", "numpy", "python"])
def row_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs through every row encoder: the default mix, numpy only, the Python loop only."""
    if request.param != "default":
        monkeypatch.setattr(protobuf, "_SMALL", 0 if request.param == "numpy" else 10**9)


def parse(*items: bytes) -> list[DataPointListItem]:
    res = DataPointListResponse()
    res.ParseFromString(encode_response(items))
    return list(res.items)


def parse_one(item: bytes) -> DataPointListItem:
    (res,) = parse(item)
    return res


def bits(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


def check_header(item: DataPointListItem, header: ItemHeader, ts_type: int) -> None:
    assert item.id == header.id
    assert item.externalId == (header.external_id or "")
    assert item.isString == header.is_string
    assert item.isStep == header.is_step
    assert item.unit == (header.unit or "")
    assert item.nextCursor == (header.next_cursor or "")
    assert item.unitExternalId == (header.unit_external_id or "")
    assert item.HasField("instanceId") == (header.instance_id is not None)
    if header.instance_id is not None:
        assert (item.instanceId.space, item.instanceId.externalId) == header.instance_id
    assert item.type == ts_type


def check_points(
    dps: Sequence,
    timestamps: np.ndarray,
    status: np.ndarray | None,
    null_mask: np.ndarray | None,
) -> None:
    """Timestamps, status (field present exactly when code != 0) and nullValue of decoded datapoints."""
    n = len(timestamps)
    assert len(dps) == n
    np.testing.assert_array_equal(np.array([dp.timestamp for dp in dps], np.int64), timestamps)
    has_status = np.array([dp.HasField("status") for dp in dps], bool)
    codes = np.array([dp.status.code for dp in dps], np.int64)
    symbols = [dp.status.symbol for dp in dps]
    expected_codes = np.zeros(n, np.int64) if status is None else status.astype(np.int64)
    np.testing.assert_array_equal(has_status, expected_codes != 0)
    np.testing.assert_array_equal(codes, expected_codes)
    assert symbols == [symbol_for(c) if c else "" for c in expected_codes.tolist()]
    nulls = np.array([dp.nullValue for dp in dps], bool)
    np.testing.assert_array_equal(nulls, np.zeros(n, bool) if null_mask is None else null_mask)


def check_numeric(
    item: DataPointListItem,
    timestamps: np.ndarray,
    values: np.ndarray,
    status: np.ndarray | None = None,
    null_mask: np.ndarray | None = None,
) -> None:
    assert item.WhichOneof("datapointType") == "numericDatapoints"
    dps = item.numericDatapoints.datapoints
    check_points(dps, timestamps, status, null_mask)
    got = np.array([dp.value for dp in dps], np.float64)
    expected = np.array(values, np.float64)
    if null_mask is not None:
        expected[null_mask] = 0.0  # no value field on the wire: proto3 reads +0.0
    np.testing.assert_array_equal(bits(got), bits(expected))


def encode_and_check(
    timestamps: np.ndarray,
    values: np.ndarray,
    status: np.ndarray | None = None,
    null_mask: np.ndarray | None = None,
    header: ItemHeader = HEADER,
) -> None:
    item = parse_one(encode_numeric_item(header, timestamps, values, status, null_mask))
    check_header(item, header, 1)
    check_numeric(item, timestamps, values, status, null_mask)


# --- numeric


def test_empty_items_still_name_their_datapoint_type() -> None:
    empty_ts = np.empty(0, np.int64)
    numeric, string, aggregate = parse(
        encode_numeric_item(HEADER, empty_ts, np.empty(0)),
        encode_string_item(BARE, empty_ts, []),
        encode_aggregate_item(BARE, empty_ts, {"average": np.empty(0)}),
    )
    assert numeric.WhichOneof("datapointType") == "numericDatapoints"
    assert string.WhichOneof("datapointType") == "stringDatapoints"
    assert aggregate.WhichOneof("datapointType") == "aggregateDatapoints"
    assert len(get_datapoints_from_proto(numeric)) == 0
    check_header(numeric, HEADER, 1)


def test_single_point() -> None:
    encode_and_check(np.array([1_700_000_000_000]), np.array([42.5]))


def test_single_point_at_epoch_with_zero_value() -> None:
    encode_and_check(np.array([0]), np.array([0.0]))
    encode_and_check(np.array([0]), np.array([-0.0]))


@pytest.mark.parametrize("ts", BOUNDARY_TS)
def test_every_varint_width_alone(ts: int) -> None:
    encode_and_check(np.array([ts]), np.array([1.0]), np.array([BAD], np.uint32))


def test_all_varint_widths_mixed() -> None:
    ts = np.array(BOUNDARY_TS * 3, np.int64)
    values = np.arange(len(ts), dtype=np.float64)
    encode_and_check(ts, values)
    status = np.where(np.arange(len(ts)) % 3 == 0, BAD, GOOD).astype(np.uint32)
    encode_and_check(ts, values, status, status == BAD)


def test_special_floats_bit_exact() -> None:
    payload_nan = np.array([0x7FF8_0000_DEAD_BEEF], np.uint64).view(np.float64)[0]
    signalling_nan = np.array([0x7FF0_0000_0000_0001], np.uint64).view(np.float64)[0]
    negative_nan = np.array([0xFFF8_0000_0000_0000], np.uint64).view(np.float64)[0]
    values = np.array(
        [
            np.nan,
            np.inf,
            -np.inf,
            -0.0,
            0.0,
            payload_nan,
            signalling_nan,
            negative_nan,
            5e-324,
            1.7976931348623157e308,
        ]
    )
    encode_and_check(np.arange(len(values), dtype=np.int64), values)


def test_big_endian_and_non_contiguous_inputs() -> None:
    ts = np.arange(0, 200, dtype=np.int64)[::2] * 1000
    values = np.linspace(-1, 1, 100).astype(">f8")
    encode_and_check(ts, values)


def test_100k_random_points() -> None:
    rng = np.random.default_rng(1)
    n = 100_000
    ts = np.sort(rng.integers(MIN_TS, MAX_TS, n))
    ts[: len(EDGE_TS)] = EDGE_TS
    values = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    values[:4] = [np.nan, np.inf, -np.inf, -0.0]
    status = np.zeros(n, np.uint32)
    status[rng.random(n) < 0.05] = BAD
    status[rng.random(n) < 0.02] = UNCERTAIN
    status[rng.random(n) < 0.01] = BAD | 0x00A1_0000
    status[rng.random(n) < 0.01] = UNCERTAIN | 0x0012_0000
    null_mask = (status & BAD != 0) & (rng.random(n) < 0.5)
    values[null_mask] = 99.0  # must not be sent
    encode_and_check(ts, values)
    encode_and_check(ts, values, status)
    encode_and_check(ts, values, status, null_mask)


def test_100k_typical_points_with_rare_statuses() -> None:
    """One timestamp width and a few Bad/Uncertain points, some consecutive, some at the edges."""
    rng = np.random.default_rng(2)
    n = 100_000
    ts = 1_600_000_000_000 + np.arange(n, dtype=np.int64) * 1000
    values = rng.standard_normal(n)
    status = np.zeros(n, np.uint32)
    status[rng.choice(n, 500, replace=False)] = BAD
    status[rng.choice(n, 300, replace=False)] = UNCERTAIN
    status[[0, 1, 2, 50_000, 50_001, n - 2, n - 1]] = BAD
    null_mask = np.zeros(n, bool)
    null_mask[[1, 50_001, n - 1]] = True
    encode_and_check(ts, values, status)
    encode_and_check(ts, values, status, null_mask)
    encode_and_check(ts, values, None, null_mask)


def test_few_points_of_another_width() -> None:
    """A handful of timestamps whose varints are wider or narrower than the rest, beside rare statuses."""
    n = 10_000
    ts = 1_600_000_000_000 + np.arange(n, dtype=np.int64) * 1000
    ts[:5] = [MIN_TS, -1, 0, 5, 2**35 - 1]
    ts[-1] = 2**53
    values = np.random.default_rng(9).standard_normal(n)
    status = np.zeros(n, np.uint32)
    status[[0, 3, 4, 5, 700, 701, n - 1]] = BAD
    encode_and_check(ts, values)
    encode_and_check(ts, values, status, status == BAD)


def test_all_status_points() -> None:
    rng = np.random.default_rng(3)
    n = 5_000
    ts = np.arange(n, dtype=np.int64) * 60_000
    status = rng.choice(np.array([BAD, UNCERTAIN, BAD | 7, UNCERTAIN | 0xFFFF, BAD | 0x3FFFFFFF], np.uint32), n)
    encode_and_check(ts, rng.standard_normal(n), status, rng.random(n) < 0.3)


def test_all_good_status_array_emits_no_status() -> None:
    ts = np.arange(10, dtype=np.int64)
    item = parse_one(encode_numeric_item(HEADER, ts, np.ones(10), np.zeros(10, np.uint32)))
    assert not any(dp.HasField("status") for dp in item.numericDatapoints.datapoints)


def test_nulls_without_status() -> None:
    ts = np.arange(4, dtype=np.int64)
    null_mask = np.array([False, True, False, True])
    encode_and_check(ts, np.array([1.0, 2.0, 3.0, 4.0]), None, null_mask)


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="values"):
        encode_numeric_item(HEADER, np.arange(3), np.ones(2))
    with pytest.raises(ValueError, match="status"):
        encode_numeric_item(HEADER, np.arange(3), np.ones(3), np.zeros(2, np.uint32))


@pytest.mark.parametrize(
    "header",
    [
        HEADER,
        BARE,
        ItemHeader(0, "", None, False, False, "", ""),
        ItemHeader(
            2**53 - 1,
            "ext ü 日本",
            ("sp", ""),
            True,
            True,
            None,
            "c" * 300,
            unit_external_id="temperature:deg_c",
        ),
        ItemHeader(1, None, ("space", "x" * 200), False, False, "m/s", None),
    ],
)
def test_headers(header: ItemHeader) -> None:
    encode_and_check(np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0]), header=header)


def test_sdk_reads_header_and_arrays() -> None:
    """The SDK's own proto -> numpy conversion, as its datapoints fetch uses it."""
    ts = np.array([-5, 0, 1000, 2000, 3000], np.int64)
    values = np.array([1.5, np.nan, 2.5, 7.0, -np.inf])
    status = np.array([GOOD, GOOD, BAD, UNCERTAIN, GOOD], np.uint32)
    null_mask = status == BAD
    header = ItemHeader(5, "ext", ("sp", "xid"), False, True, "degC", None, unit_external_id="temperature:deg_c")
    item = parse_one(encode_numeric_item(header, ts, values, status, null_mask))
    info = get_ts_info_from_proto(item)
    assert info["id"] == 5 and info["external_id"] == "ext" and info["type"] == "numeric"
    assert info["is_step"] is True and info["unit_external_id"] == "temperature:deg_c"
    assert (info["instance_id"].space, info["instance_id"].external_id) == ("sp", "xid")  # type: ignore[union-attr]
    dps = get_datapoints_from_proto(item)
    np.testing.assert_array_equal(DpsUnpackFns.extract_timestamps_numpy(dps), ts)
    got, missing = DpsUnpackFns.extract_nullable_raw_dps_numpy(dps, np.float64)
    assert missing == [2]
    np.testing.assert_array_equal(bits(got[[0, 1, 3, 4]]), bits(values[[0, 1, 3, 4]]))
    np.testing.assert_array_equal(DpsUnpackFns.extract_status_code_numpy(dps), status)
    assert DpsUnpackFns.extract_status_symbol_numpy(dps).tolist() == [
        "Good",
        "Good",
        "Bad",
        "Uncertain",
        "Good",
    ]


def test_several_items_in_order() -> None:
    rng = np.random.default_rng(4)
    specs = []
    encoded = []
    for i in range(6):
        n = int(rng.integers(0, 3000))
        ts = np.sort(rng.integers(MIN_TS, MAX_TS, n))
        values = rng.standard_normal(n)
        header = ItemHeader(i + 1, f"ts-{i}", None, False, bool(i % 2), None, f"cur-{i}" if i % 3 else None)
        specs.append((header, ts, values))
        encoded.append(encode_numeric_item(header, ts, values))
    encoded.append(encode_string_item(ItemHeader(99, "s", None, True, False, None, None), np.array([1]), ["x"]))
    items = parse(*encoded)
    assert len(items) == 7
    for item, (header, ts, values) in zip(items[:-1], specs, strict=True):
        check_header(item, header, 1)
        check_numeric(item, ts, values)
    assert items[-1].id == 99 and items[-1].stringDatapoints.datapoints[0].value == "x"


def test_empty_response() -> None:
    assert encode_response([]) == b""
    assert parse() == []


def test_results_do_not_share_memory() -> None:
    """Encoding reuses scratch buffers; earlier results must be unaffected by later calls."""
    ts = np.arange(1000, dtype=np.int64)
    first = encode_numeric_item(HEADER, ts, np.ones(1000))
    snapshot = bytes(first)
    encode_numeric_item(HEADER, ts, np.full(1000, 2.0), np.full(1000, BAD, np.uint32))
    encode_string_item(HEADER, ts, ["x"] * 1000)
    assert first == snapshot


def test_threads_encode_independently() -> None:
    rng = np.random.default_rng(5)
    jobs = []
    for _ in range(16):
        n = int(rng.integers(1, 20_000))
        ts = np.sort(rng.integers(MIN_TS, MAX_TS, n))
        status = np.where(rng.random(n) < 0.02, BAD, GOOD).astype(np.uint32)
        jobs.append((ts, rng.standard_normal(n), status))
    expected = [encode_numeric_item(HEADER, *job) for job in jobs]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda job: encode_numeric_item(HEADER, *job), jobs * 3))
    assert got == expected * 3


_timestamps = st.one_of(
    st.integers(MIN_TS, MAX_TS), st.sampled_from(EDGE_TS + BOUNDARY_TS), st.integers(-(2**63), 2**63 - 1)
)
_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(0, 2**64 - 1).map(lambda b: float(np.array([b], np.uint64).view(np.float64)[0])),
)
_codes = st.sampled_from([GOOD, GOOD, GOOD, BAD, UNCERTAIN, BAD | 0x1234, BAD | 0x3FFFFFFF])


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(st.tuples(_timestamps, _values, _codes, st.booleans()), max_size=60),
    st.booleans(),
    st.booleans(),
)
def test_numeric_round_trip_property(
    points: list[tuple[int, float, int, bool]], with_status: bool, with_nulls: bool
) -> None:
    ts = np.array([p[0] for p in points], np.int64)
    # Keep NaN payloads: build the array from bit patterns, not via Python float equality.
    values = np.array([p[1] for p in points], np.float64)
    status = np.array([p[2] for p in points], np.uint32) if with_status else None
    null_mask = np.array([p[3] for p in points], bool) if with_nulls else None
    encode_and_check(ts, values, status, null_mask)


# --- strings


def check_strings(
    item: DataPointListItem,
    timestamps: np.ndarray,
    values: Sequence[str | None],
    status: np.ndarray | None = None,
    null_mask: np.ndarray | None = None,
) -> None:
    assert item.WhichOneof("datapointType") == "stringDatapoints"
    dps = item.stringDatapoints.datapoints
    nulls = np.array([v is None for v in values]) | (np.zeros(len(values), bool) if null_mask is None else null_mask)
    check_points(dps, timestamps, status, nulls)
    assert [dp.value for dp in dps] == ["" if null else v for v, null in zip(values, nulls, strict=True)]


def test_strings_unicode_and_empty() -> None:
    values = [
        "plain",
        "",
        "héllo wörld",
        "日本語テキスト",
        "emoji 🚀🛰️",
        "\x00nul\x00",
        "x" * 200,
        "é" * 10_000,
        "",
    ]
    ts = np.arange(len(values), dtype=np.int64) * 1000 - 3000
    header = ItemHeader(3, "str-ts", ("sp", "s"), True, False, None, "next")
    item = parse_one(encode_string_item(header, ts, values))
    check_header(item, header, 2)
    check_strings(item, ts, values)


def test_strings_status_and_nulls() -> None:
    rng = np.random.default_rng(6)
    n = 20_000
    words = ["on", "off", "", "ümlaut", "長い" * 40, "z" * 130]
    values: list[str | None] = [words[i] for i in rng.integers(0, len(words), n)]
    ts = np.sort(rng.integers(MIN_TS, MAX_TS, n))
    status = np.where(rng.random(n) < 0.1, BAD, np.where(rng.random(n) < 0.05, UNCERTAIN, GOOD)).astype(np.uint32)
    null_mask = (status == BAD) & (rng.random(n) < 0.5)
    values[5] = None  # None counts as null too
    item = parse_one(encode_string_item(BARE, ts, values, status, null_mask))
    check_strings(item, ts, values, status, null_mask)


@pytest.mark.parametrize("kind", ["list", "object", "unicode"])
def test_string_input_kinds(kind: str) -> None:
    values = ["a", "bb", "ccc", "ü"]
    arg: Sequence[str] | np.ndarray = {
        "list": values,
        "object": np.array(values, dtype=object),
        "unicode": np.array(values),
    }[kind]
    ts = np.array([10, 20, 30, 40])
    check_strings(parse_one(encode_string_item(BARE, ts, arg)), ts, values)


def test_all_null_strings() -> None:
    ts = np.array([1, 2, 3])
    item = parse_one(encode_string_item(BARE, ts, ["a", "b", "c"], None, np.array([True, True, True])))
    check_strings(item, ts, ["a", "b", "c"], None, np.array([True, True, True]))


def test_100k_ascii_strings() -> None:
    n = 100_000
    ts = 1_600_000_000_000 + np.arange(n, dtype=np.int64)
    values = [f"state-{i % 977}" for i in range(n)]
    check_strings(parse_one(encode_string_item(BARE, ts, values)), ts, values)


# --- aggregates


def check_aggregates(item: DataPointListItem, timestamps: np.ndarray, aggregates: dict[str, np.ndarray]) -> None:
    assert item.WhichOneof("datapointType") == "aggregateDatapoints"
    dps = item.aggregateDatapoints.datapoints
    assert len(dps) == len(timestamps)
    np.testing.assert_array_equal(np.array([dp.timestamp for dp in dps], np.int64), timestamps)
    for dp, i in zip(dps, range(len(dps)), strict=True):
        present = {f.name for f, _ in dp.ListFields()}
        for name in AGGREGATE_FIELDS:
            want = aggregates[name][i] if name in aggregates else math.nan
            got = getattr(dp, name)
            if math.isnan(want):  # absent: proto3 reads 0.0, and nothing was on the wire
                assert got == 0.0 and math.copysign(1, got) == 1 and name not in present
            else:
                assert np.float64(got).view(np.uint64) == np.float64(want).view(np.uint64), name


def test_aggregates_all_fields_with_absent_entries() -> None:
    rng = np.random.default_rng(7)
    n = 2_000
    ts = np.sort(rng.choice(np.arange(MIN_TS // 3_600_000, MAX_TS // 3_600_000), n, replace=False)) * 3_600_000
    aggregates = {name: rng.standard_normal(n) * 1e6 for name in AGGREGATE_FIELDS}
    aggregates["count"] = rng.integers(0, 5000, n).astype(np.float64)
    empty = aggregates["count"] == 0
    for name in ("average", "min", "max", "continuousVariance"):
        aggregates[name][empty] = np.nan
    aggregates["interpolation"][rng.random(n) < 0.2] = np.nan
    aggregates["durationBad"][rng.random(n) < 0.5] = np.nan
    aggregates["sum"][:3] = [0.0, -0.0, np.inf]
    header = ItemHeader(11, "agg", None, False, False, "kW", None)
    item = parse_one(encode_aggregate_item(header, ts, aggregates))
    check_header(item, header, 1)
    check_aggregates(item, ts, aggregates)


def test_aggregates_subset_and_all_absent() -> None:
    ts = np.array([0, 3_600_000, 7_200_000, -3_600_000 * 24 * 365 * 60])
    aggregates = {
        "average": np.array([1.5, np.nan, 3.0, np.nan]),
        "count": np.array([2.0, 0.0, 1.0, np.nan]),
        "durationUncertain": np.array([np.nan, 5.0, 7.0, np.nan]),
    }
    item = parse_one(encode_aggregate_item(BARE, ts, aggregates))
    check_aggregates(item, ts, aggregates)
    values = DpsUnpackFns.extract_numeric_aggregates_numpy(
        item.aggregateDatapoints.datapoints,
        ["average", "count"],
        DpsUnpackFns.custom_from_aggregates(["average", "count"]),
        np.dtype((np.float64, 2)),
    )
    np.testing.assert_array_equal(values, [[1.5, 2.0], [0.0, 0.0], [3.0, 1.0], [0.0, 0.0]])


def test_aggregates_many_patterns() -> None:
    rng = np.random.default_rng(8)
    n = 10_000
    ts = np.arange(n, dtype=np.int64) * 60_000
    aggregates = {name: np.where(rng.random(n) < 0.5, np.nan, rng.random(n)) for name in AGGREGATE_FIELDS}
    check_aggregates(parse_one(encode_aggregate_item(BARE, ts, aggregates)), ts, aggregates)


def test_aggregates_a_few_dozen_patterns() -> None:
    """Enough distinct gap patterns that the encoder sorts rows by class, each class still sizeable."""
    rng = np.random.default_rng(10)
    n = 6_000
    ts = np.arange(n, dtype=np.int64) * 60_000 - 10**9
    patterns = rng.random((30, len(AGGREGATE_FIELDS))) < 0.3
    absent = patterns[rng.integers(0, len(patterns), n)]
    absent[: n // 2] = False  # one big class beside the small ones
    names = list(AGGREGATE_FIELDS)
    values = rng.standard_normal((n, len(names)))
    aggregates = {name: np.where(absent[:, i], np.nan, values[:, i]) for i, name in enumerate(names)}
    check_aggregates(parse_one(encode_aggregate_item(BARE, ts, aggregates)), ts, aggregates)


def test_unknown_aggregate_raises() -> None:
    with pytest.raises(ValueError, match="unknown aggregates"):
        encode_aggregate_item(BARE, np.array([1]), {"avg": np.array([1.0])})
