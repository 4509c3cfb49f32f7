"""The vectorized DataPointInsertionRequest encoder and decoder against the protobuf runtime (pure logic)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from google.protobuf import descriptor_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from oid_sync_dagster.wire.insert_protobuf import InsertItem, decode_insert_request, encode_insert_request
from oid_sync_dagster.wire.rows import DecodeError, _file_descriptor, message_class

GOOD, UNCERTAIN, BAD = 0, 0x40000000, 0x80000000
STATUS_CODES = [GOOD, UNCERTAIN, BAD, 0x80120000, 0x40C10000, 2**32 - 1, 1]


def parsed(body: bytes) -> object:
    request = message_class("DataPointInsertionRequest")()
    request.ParseFromString(body)
    return request


def test_the_schema_is_cognites() -> None:
    # The SDK's generated module is the only copy of Cognite's schema installed here (private; tests only).
    from cognite.client._proto import data_point_insertion_request_pb2, data_points_pb2

    ours = {m.name: m for m in _file_descriptor().message_type}
    for module in (data_points_pb2, data_point_insertion_request_pb2):
        theirs = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(theirs)
        for message in theirs.message_type:
            if message.name not in ours:
                continue
            shape = {(f.name, f.number, f.type, f.label, f.type_name) for f in message.field}
            mine = {(f.name, f.number, f.type, f.label, f.type_name) for f in ours[message.name].field}
            # Ours leaves out state datapoints (field 6), which the sync never writes.
            assert mine == {s for s in shape if s[0] != "stateDatapoints"}, message.name
    assert set(ours) >= {"DataPointInsertionRequest", "DataPointInsertionItem", "NumericDatapoint", "StringDatapoint"}


def _numeric_items(draw: st.DrawFn) -> InsertItem:
    n = draw(st.integers(1, 300))
    regular = draw(st.booleans())
    low, high = (1 << 35, (1 << 42) - 1) if regular else (-(2**62), 2**62)
    timestamps = np.array(sorted(draw(st.sets(st.integers(low, high), min_size=n, max_size=n))), np.int64)
    values = np.array(draw(st.lists(st.floats(allow_nan=True), min_size=n, max_size=n)), np.float64)
    status = None if regular else np.array(draw(st.lists(st.sampled_from(STATUS_CODES), min_size=n, max_size=n)))
    nulls = None
    if status is not None and draw(st.booleans()):
        nulls = (status >= BAD) & np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return InsertItem(timestamps, values, False, status, nulls, instance_id=("sp", draw(st.text(max_size=20))))


def _string_items(draw: st.DrawFn) -> InsertItem:
    n = draw(st.integers(1, 100))
    timestamps = np.array(sorted(draw(st.sets(st.integers(0, 2**45), min_size=n, max_size=n))), np.int64)
    values = np.array([*draw(st.lists(st.text(max_size=200), min_size=n, max_size=n)), None], dtype=object)[:-1]
    status = np.array(draw(st.lists(st.sampled_from(STATUS_CODES), min_size=n, max_size=n)))
    nulls = (status >= BAD) & np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return InsertItem(timestamps, values, True, status, nulls, external_id=draw(st.text(min_size=1, max_size=20)))


@st.composite
def requests(draw: st.DrawFn) -> list[InsertItem]:
    return [
        _string_items(draw) if draw(st.booleans()) else _numeric_items(draw) for _ in range(draw(st.integers(1, 4)))
    ]


def _same_values(got: list[float], want: np.ndarray) -> bool:
    return all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(got, want.tolist(), strict=True))


@settings(max_examples=150, deadline=None)
@given(requests())
def test_the_runtime_reads_exactly_what_was_encoded(items: list[InsertItem]) -> None:
    request = parsed(encode_insert_request(items))
    assert len(request.items) == len(items)
    for message, item in zip(request.items, items, strict=True):
        kind = "stringDatapoints" if item.is_string else "numericDatapoints"
        assert message.WhichOneof("datapointType") == kind
        points = getattr(message, kind).datapoints
        nulls = np.zeros(len(item.timestamps), bool) if item.nulls is None else item.nulls
        status = np.zeros(len(item.timestamps), np.int64) if item.status is None else item.status
        assert [p.timestamp for p in points] == item.timestamps.tolist()
        assert [p.nullValue for p in points] == nulls.tolist()
        assert [p.status.code for p in points] == status.astype(np.int64).tolist()
        assert [p.HasField("status") for p in points] == (status != 0).tolist()
        if item.is_string:
            assert [p.value for p in points] == np.where(nulls, "", item.values).tolist()
            assert message.externalId == item.external_id
        else:
            assert _same_values([p.value for p in points], np.where(nulls, 0.0, item.values))
            assert (message.instanceId.space, message.instanceId.externalId) == item.instance_id


@settings(max_examples=150, deadline=None)
@given(requests())
def test_decoding_gives_back_the_columns(items: list[InsertItem]) -> None:
    decoded = decode_insert_request(encode_insert_request(items))
    assert len(decoded) == len(items)
    for got, item in zip(decoded, items, strict=True):
        n = len(item.timestamps)
        nulls = np.zeros(n, bool) if item.nulls is None else item.nulls
        assert got.is_string == item.is_string
        np.testing.assert_array_equal(got.timestamps, item.timestamps)
        np.testing.assert_array_equal(got.status, np.zeros(n) if item.status is None else item.status)
        np.testing.assert_array_equal(np.zeros(n, bool) if got.nulls is None else got.nulls, nulls)
        if item.is_string:
            assert got.values.tolist() == np.where(nulls, "", item.values).tolist()
            assert got.identifier == {"externalId": item.external_id}
        else:
            assert _same_values(got.values.tolist(), np.where(nulls, 0.0, item.values))
            assert got.identifier == {"instanceId": {"space": "sp", "externalId": item.instance_id[1]}}


def test_bodies_from_the_runtime_decode_whatever_their_field_order() -> None:
    # Another writer (CDF's own SDKs) may lay out fields otherwise: the decoder falls back to the runtime then.
    request = message_class("DataPointInsertionRequest")()
    item = request.items.add(id=42)
    item.numericDatapoints.datapoints.add(timestamp=1_700_000_000_000, value=1.5)
    point = item.numericDatapoints.datapoints.add(timestamp=1_700_000_060_000, nullValue=True)
    point.status.code = BAD
    (decoded,) = decode_insert_request(request.SerializeToString())
    assert decoded.identifier == {"id": 42}
    assert decoded.timestamps.tolist() == [1_700_000_000_000, 1_700_000_060_000]
    assert decoded.values.tolist() == [1.5, 0.0] and decoded.status.tolist() == [GOOD, BAD]
    assert decoded.nulls is not None and decoded.nulls.tolist() == [False, True]
    reordered = message_class("NumericDatapoint")(timestamp=5, value=2.0)
    raw = reordered.SerializeToString()  # 08 05 11 <8 bytes>
    backwards = raw[2:] + raw[:2]  # value first, then timestamp: valid protobuf
    body = b"\x0a" + bytes([2 + 2 + 2 + len(backwards)]) + b"\x08\x07" + b"\x1a" + bytes([2 + len(backwards)])
    body += b"\x0a" + bytes([len(backwards)]) + backwards
    (decoded,) = decode_insert_request(body)
    assert decoded.identifier == {"id": 7}
    assert decoded.timestamps.tolist() == [5] and decoded.values.tolist() == [2.0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x0a\x05\x08", "runs past the end"),
        (b"\x12\x00", "unexpected field 2"),
        (b"\x0a\x02\x12\xff", "truncated or overlong varint"),
        (b"\x0a\x03\x12\x01\xff", "externalId is not valid UTF-8"),
        (b"\x0b", "unsupported wire type 3"),
        (b"\x0a\x04\x1a\x02\x0a\x05", "bad datapoints"),
        (b"\x0a\x03\x0a\x01\x07", "field 1 of a DataPointInsertionItem has the wrong wire type 2"),
        (b"\x0a\x02\x18\x05", "field 3 of a DataPointInsertionItem has the wrong wire type 0"),
    ],
)
def test_a_body_that_is_no_insert_request_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_insert_request(body)


def test_long_strings_and_repeated_datapoint_fields() -> None:
    # A row longer than 16 KB has a 3-byte length varint (CDF refuses such values, with its own message).
    long = "x" * 20_000
    item = InsertItem(np.array([5, 6]), np.array([long, "y"], dtype=object), True, external_id="s")
    request = parsed(encode_insert_request([item]))
    assert [p.value for p in request.items[0].stringDatapoints.datapoints] == [long, "y"]
    (decoded,) = decode_insert_request(encode_insert_request([item]))
    assert decoded.values.tolist() == [long, "y"]
    # Protobuf merges a repeated message field: two numericDatapoints blocks in one item are one series of points.
    one = encode_insert_request([InsertItem(np.array([1]), np.array([1.0]), False, id=3)])
    two = encode_insert_request([InsertItem(np.array([2]), np.array([2.0]), False, id=3)])
    blocks = one[2:][2:] + two[2:][2:]  # each item's datapoints field, without the item's and id's headers
    body = b"\x0a" + bytes([2 + len(blocks)]) + b"\x08\x03" + blocks
    runtime = parsed(body).items[0].numericDatapoints.datapoints
    (decoded,) = decode_insert_request(body)
    assert [p.timestamp for p in runtime] == decoded.timestamps.tolist() == [1, 2]
    assert decoded.values.tolist() == [1.0, 2.0]
