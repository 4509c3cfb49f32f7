"""`DataPointInsertionRequest`: the protobuf body of `POST /timeseries/data`, encoded from numpy, decoded to numpy.

The schema is Cognite's (package `com.cognite.v1.timeseries.proto`, as cognite-sdk ships it); it lives here as a
descriptor built in code, so neither side imports the SDK's private generated modules.

Encoding never makes a Python object per point. Every datapoint is one length-delimited row
`0x0A len 0x08 <timestamp varint> [value] [status] [nullValue]`; the rows of a block are laid out in one uint8 buffer
by whole-array numpy stores: constants at computed offsets, varints as (n, width) byte matrices, doubles as an
(n, 8) view, string bytes by one repeat-and-add gather. The usual block (Good points with a value, millisecond
timestamps from 1971 to 2109, a 6-byte varint) is one fixed-stride (n, 18) matrix. Decoding parses with the protobuf
runtime (upb, in C) and reads fixed-stride numeric blocks straight from the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from oid_sync_dagster.wire.rows import FAST_ROW, DecodeError, decode_points, fields, message_items, text

_U64 = np.uint64
_FAST_MIN_TS, _FAST_MAX_TS = 1 << 35, 1 << 42  # timestamps whose varint is exactly 6 bytes


@dataclass(frozen=True, slots=True)
class InsertItem:
    """One series' datapoints for one request. Exactly one identifier; columns as the engine holds them."""

    timestamps: np.ndarray  # int64 ms
    values: np.ndarray  # float64, or object (str) for a string series; ignored where `nulls` is set
    is_string: bool
    status: np.ndarray | None = None  # uint32/int64 codes; None: every point Good
    nulls: np.ndarray | None = None  # bool: the point has no value (a Bad point)
    instance_id: tuple[str, str] | None = None  # (space, externalId)
    external_id: str | None = None
    id: int | None = None


# ---------- encoding ----------


def _varint_widths(values: np.ndarray) -> np.ndarray:
    """Bytes per varint of each uint64 value (1..10)."""
    widths = np.ones(len(values), np.int64)
    for k in range(1, 10):
        widths += values >= _U64(1 << (7 * k))
    return widths


def _varint_matrix(values: np.ndarray, widths: np.ndarray, columns: int) -> np.ndarray:
    """(n, columns) varint bytes, continuation bit on every byte before the last; bytes past a width are junk."""
    shifts = (np.arange(columns, dtype=_U64) * _U64(7))[None, :]
    groups = ((values[:, None] >> shifts) & _U64(0x7F)).astype(np.uint8)
    groups[np.arange(columns)[None, :] < (widths - 1)[:, None]] |= 0x80
    return groups


def _varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + _varint(len(payload)) + payload


def _put(out: np.ndarray, positions: np.ndarray, matrix: np.ndarray, widths: np.ndarray | int) -> None:
    """Store each row's first `widths` bytes of `matrix` at its position."""
    columns = matrix.shape[1]
    index = positions[:, None] + np.arange(columns)[None, :]
    if isinstance(widths, int):
        out[index] = matrix
        return
    keep = np.arange(columns)[None, :] < widths[:, None]
    out[index[keep]] = matrix[keep]


def _fast_numeric(timestamps: np.ndarray, values: np.ndarray) -> bytes:
    rows = np.empty((len(timestamps), FAST_ROW), np.uint8)
    rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 9] = 0x0A, FAST_ROW - 2, 0x08, 0x11
    rows[:, 3:9] = _varint_matrix(timestamps.astype(_U64), np.full(len(timestamps), 6), 6)
    rows[:, 10:18] = np.ascontiguousarray(values, dtype="<f8").view(np.uint8).reshape(-1, 8)
    return rows.tobytes()


def _string_bytes(values: np.ndarray, has_value: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The UTF-8 bytes of the values that are set, joined, and each one's byte length (0 where unset)."""
    texts = values[has_value].tolist()
    joined = "".join(texts)
    lengths = np.zeros(len(values), np.int64)
    if joined.isascii():  # the usual case: lengths in characters are lengths in bytes
        lengths[has_value] = np.fromiter(map(len, texts), np.int64, len(texts))
        return joined.encode("ascii"), lengths
    encoded = [text.encode() for text in texts]  # rare: non-ASCII text needs each value's byte length
    lengths[has_value] = np.fromiter(map(len, encoded), np.int64, len(encoded))
    return b"".join(encoded), lengths


def encode_points(item: InsertItem) -> bytes:
    """The item's datapoints as the body of a NumericDatapoints / StringDatapoints message."""
    n = len(item.timestamps)
    timestamps = np.asarray(item.timestamps, np.int64)
    status = None if item.status is None else np.asarray(item.status, np.int64)
    if status is not None and not status.any():
        status = None
    nulls = None if item.nulls is None or not np.any(item.nulls) else np.asarray(item.nulls, bool)
    if (
        not item.is_string
        and status is None
        and nulls is None
        and n
        and timestamps.min() >= _FAST_MIN_TS
        and timestamps.max() < _FAST_MAX_TS
    ):
        return _fast_numeric(timestamps, item.values)

    has_value = np.ones(n, bool) if nulls is None else ~nulls
    ts64 = timestamps.astype(_U64)  # two's complement: a negative timestamp is a 10-byte varint, as protobuf has it
    ts_width = _varint_widths(ts64)
    value_width = np.zeros(n, np.int64)
    if item.is_string:
        text, text_len = _string_bytes(np.asarray(item.values, object), has_value)
        text_len_width = _varint_widths(text_len.astype(_U64))
        value_width[has_value] = (1 + text_len_width + text_len)[has_value]
    else:
        value_width[has_value] = 9
    code_width = np.zeros(n, np.int64)
    status_width = np.zeros(n, np.int64)
    if status is not None:
        flagged = status != 0
        codes = status.astype(_U64)
        code_width = _varint_widths(codes)
        status_width[flagged] = 3 + code_width[flagged]  # 0x1A len 0x08 <code varint>
    null_width = np.zeros(n, np.int64) if nulls is None else np.where(nulls, 2, 0)
    payload = 1 + ts_width + value_width + status_width + null_width
    payload_width = _varint_widths(payload.astype(_U64))
    row_len = 1 + payload_width + payload
    starts = np.zeros(n, np.int64)
    np.cumsum(row_len[:-1], out=starts[1:])
    out = np.empty(int(row_len.sum()), np.uint8)

    out[starts] = 0x0A
    widest = int(payload_width.max(initial=1))  # 1 for numeric rows; more for long strings
    _put(out, starts + 1, _varint_matrix(payload.astype(_U64), payload_width, widest), payload_width)
    at = starts + 1 + payload_width
    out[at] = 0x08
    _put(out, at + 1, _varint_matrix(ts64, ts_width, 10), ts_width)
    at = at + 1 + ts_width
    rows = np.flatnonzero(has_value)
    if item.is_string:
        out[at[rows]] = 0x12
        _put(
            out,
            at[rows] + 1,
            _varint_matrix(text_len[rows].astype(_U64), text_len_width[rows], 10),
            text_len_width[rows],
        )
        text_at = at[rows] + 1 + text_len_width[rows]
        lengths = text_len[rows]
        if len(text):
            # Byte j of the joined text goes to its value's start plus its offset inside the value.
            first = np.zeros(len(rows), np.int64)
            np.cumsum(lengths[:-1], out=first[1:])
            out[np.repeat(text_at - first, lengths) + np.arange(len(text))] = np.frombuffer(text, np.uint8)
    else:
        out[at[rows]] = 0x11
        doubles = np.ascontiguousarray(np.asarray(item.values)[rows], dtype="<f8").view(np.uint8).reshape(-1, 8)
        _put(out, at[rows] + 1, doubles, 8)
    at = at + value_width
    if status is not None:
        rows = np.flatnonzero(status != 0)
        out[at[rows]] = 0x1A
        out[at[rows] + 1] = (1 + code_width[rows]).astype(np.uint8)
        out[at[rows] + 2] = 0x08
        _put(out, at[rows] + 3, _varint_matrix(codes[rows], code_width[rows], 10), code_width[rows])
    at = at + status_width
    if nulls is not None:
        rows = np.flatnonzero(nulls)
        out[at[rows]] = 0x20
        out[at[rows] + 1] = 0x01
    return out.tobytes()


def encode_item(item: InsertItem) -> bytes:
    """One DataPointInsertionItem: the identifier, then the datapoints."""
    if item.instance_id is not None:
        space, external_id = item.instance_id
        ref = _length_delimited(
            0x2A, _length_delimited(0x0A, space.encode()) + _length_delimited(0x12, external_id.encode())
        )
    elif item.external_id is not None:
        ref = _length_delimited(0x12, item.external_id.encode())
    elif item.id is not None:
        ref = b"\x08" + _varint(item.id)
    else:
        raise ValueError("an insert item needs an instance_id, an external_id or an id")
    points = _length_delimited(0x22 if item.is_string else 0x1A, encode_points(item))
    return ref + points


def encode_insert_request(items: list[InsertItem]) -> bytes:
    """The whole DataPointInsertionRequest body."""
    return b"".join(_length_delimited(0x0A, encode_item(item)) for item in items)


# ---------- decoding ----------


@dataclass(frozen=True, slots=True)
class DecodedItem:
    identifier: dict[str, Any]  # as JSON names it: {"instanceId": {...}} | {"externalId": ...} | {"id": ...}
    is_string: bool | None  # None: the item carried no datapoints (or state datapoints, which are not supported)
    timestamps: np.ndarray
    values: np.ndarray
    status: np.ndarray  # int64 codes as sent (validated by the receiver)
    nulls: np.ndarray | None
    symbols: list[tuple[int, str]]  # (row, symbol) of the rare point that names its status by symbol


def _decode_item(body: bytes) -> DecodedItem:
    identifier: dict[str, Any] = {}
    kind: str | None = None
    block = b""
    for number, wire, value in fields(body):
        if (number == 1) != (wire == 0) and number in (1, 2, 3, 4, 5, 6):
            raise DecodeError(f"field {number} of a DataPointInsertionItem has the wrong wire type {wire}")
        if number == 1:
            identifier = {"id": value - (1 << 64) if value >= 1 << 63 else value}
        elif number == 2:
            identifier = {"externalId": text(value, "externalId")}
        elif number == 5:
            parts = {n: v for n, _, v in fields(value)}
            identifier = {
                "instanceId": {
                    "space": text(parts.get(1, b""), "space"),
                    "externalId": text(parts.get(2, b""), "externalId"),
                }
            }
        elif number in (3, 4, 6):
            field_kind = {3: "numeric", 4: "string", 6: "state"}[number]
            # A repeated message field merges (its datapoints add up); another datapoint kind replaces (a oneof).
            block = block + value if field_kind == kind else value
            kind = field_kind
    if kind is None or kind == "state":
        empty = np.empty(0, np.int64)
        return DecodedItem(identifier, None, empty, np.empty(0), empty, None, [])
    is_string = kind == "string"
    # Without symbols on the fast path: a status symbol in an insert must be checked against its code.
    timestamps, values, status, nulls, symbols = decode_points(block, is_string, symbols=False)
    return DecodedItem(identifier, is_string, timestamps, values, status, nulls, symbols)


def decode_insert_request(body: bytes) -> list[DecodedItem]:
    """Every item of the body, its datapoints as columns; DecodeError when the bytes are no such message."""
    return [_decode_item(item) for item in message_items(body, "DataPointInsertionRequest")]
