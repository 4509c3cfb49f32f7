"""Decoding protobuf datapoint rows into numpy columns, shared by the insert and list messages, and the schema.

Rows (`0x0A len 0x08 <timestamp> [value] [status] [nullValue]`) are found and read with whole-array operations where
the layout allows (protobuf's field order, what Cognite's SDKs, CDF and this project write); any other layout is
parsed by the protobuf runtime (upb, in C) from the schema below, Cognite's, built in code so that nothing imports
the SDK's private generated modules.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "com.cognite.v1.timeseries.proto"
CONTENT_TYPE = "application/protobuf"
_U64 = np.uint64
FAST_ROW = 18  # 0x0A 0x10 0x08 <6-byte varint> 0x11 <8-byte double>: a Good point, a millisecond timestamp 1971-2109


# ---------- the schema, for decoding (and for tests against the runtime) ----------


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="oid_sync_datapoint_insertion.proto", package=PACKAGE, syntax="proto3"
    )

    def message(name: str, *fields: tuple[str, int, int, str | None, int | None], oneofs: tuple[str, ...] = ()) -> None:
        msg = file.message_type.add(name=name)
        for oneof in oneofs:
            msg.oneof_decl.add(name=oneof)
        for field_name, number, kind, type_name, oneof_index in fields:
            label = F.LABEL_REPEATED if field_name in ("datapoints", "items") else F.LABEL_OPTIONAL
            field = msg.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = f".{PACKAGE}.{type_name}"
            if oneof_index is not None:
                field.oneof_index = oneof_index

    message("Status", ("code", 1, F.TYPE_INT64, None, None), ("symbol", 2, F.TYPE_STRING, None, None))
    for kind, value_type in (("Numeric", F.TYPE_DOUBLE), ("String", F.TYPE_STRING)):
        message(
            f"{kind}Datapoint",
            ("timestamp", 1, F.TYPE_INT64, None, None),
            ("value", 2, value_type, None, None),
            ("status", 3, F.TYPE_MESSAGE, "Status", None),
            ("nullValue", 4, F.TYPE_BOOL, None, None),
        )
        message(f"{kind}Datapoints", ("datapoints", 1, F.TYPE_MESSAGE, f"{kind}Datapoint", None))
    message("InstanceId", ("space", 1, F.TYPE_STRING, None, None), ("externalId", 2, F.TYPE_STRING, None, None))
    message(
        "DataPointInsertionItem",
        ("id", 1, F.TYPE_INT64, None, 0),
        ("externalId", 2, F.TYPE_STRING, None, 0),
        ("instanceId", 5, F.TYPE_MESSAGE, "InstanceId", 0),
        ("numericDatapoints", 3, F.TYPE_MESSAGE, "NumericDatapoints", 1),
        ("stringDatapoints", 4, F.TYPE_MESSAGE, "StringDatapoints", 1),
        oneofs=("timeSeriesReference", "datapointType"),
    )
    message("DataPointInsertionRequest", ("items", 1, F.TYPE_MESSAGE, "DataPointInsertionItem", None))
    return file


@cache
def message_class(name: str) -> Any:
    """A message class of the schema (e.g. "DataPointInsertionRequest"), from the protobuf runtime."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))


# ---------- decoding ----------


class DecodeError(ValueError):
    """The bytes are not the protobuf message expected."""


def fixed_stride_numeric(block: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """Timestamps and values of a block of 18-byte rows only (the usual block), else None."""
    if not block or len(block) % FAST_ROW:
        return None
    rows = np.frombuffer(block, np.uint8).reshape(-1, FAST_ROW)
    head = rows[:, [0, 1, 2, 9]]
    if not (head == np.array([0x0A, FAST_ROW - 2, 0x08, 0x11], np.uint8)).all():
        return None
    varint = rows[:, 3:9]
    if not ((varint[:, :5] & 0x80).all() and (varint[:, 5] < 0x80).all()):
        return None
    shifts = (np.arange(6, dtype=_U64) * _U64(7))[None, :]
    timestamps = ((varint & 0x7F).astype(_U64) << shifts).sum(axis=1).astype(np.int64)
    values = np.ascontiguousarray(rows[:, 10:18]).view("<f8").reshape(-1).astype(np.float64)
    return timestamps, values


def row_starts(buf: np.ndarray) -> np.ndarray | None:
    """The start of every `0x0A len payload` row of a block whose rows are all shorter than 128 bytes (numeric
    points always are), found without a loop per row, else None.

    Every row starts with 0x0A, but so may any byte inside a row. From each such candidate, the next row would start
    at candidate + 2 + len: a function on the candidates (plus the end of the block). The rows are its orbit from 0,
    built by doubling: with the k-step jump known for every candidate, the first m orbit entries give the next m,
    and the jump squares; log2(rows) rounds of whole-array gathers.
    """
    size = len(buf)
    candidates = np.flatnonzero(buf[:-1] == 0x0A)
    if not len(candidates) or candidates[0] != 0:
        return None
    following = candidates + 2 + buf[candidates + 1].astype(np.int64)
    end = len(candidates)  # the sentinel node: the end of the block; it jumps to itself
    index = np.searchsorted(candidates, following)
    inside = index < len(candidates)
    hit = np.zeros(len(candidates), bool)
    hit[inside] = candidates[index[inside]] == following[inside]
    dead = end + 1  # a candidate whose jump leads neither to a candidate nor exactly to the end: never a row
    jump = np.where(hit, index, np.where(following == size, end, dead))
    jump = np.concatenate([jump, [end, dead]])
    orbit = np.zeros(1, np.int64)
    while orbit[-1] < end:  # the sentinels jump to themselves, so the orbit ends in a run of one of them
        orbit = np.concatenate([orbit, jump[orbit]])
        jump = jump[jump]
    stop = int(np.flatnonzero(orbit >= end)[0])
    if orbit[stop] == dead:
        return None
    orbit = orbit[:stop]
    starts = candidates[orbit]
    if (buf[starts + 1] >= 0x80).any():
        return None
    return starts


def numeric_rows(
    block: bytes, *, symbols: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Timestamps, values, status codes and nulls of a numeric block whose rows keep protobuf's field order
    (timestamp, value, status, nullValue, each at most once; what Cognite's SDKs, CDF and this project write),
    decoded with whole-array operations; None for any other layout, which the runtime then parses. With `symbols`
    (a read: CDF sends each status's symbol beside its code) a status may carry more after its code, skipped;
    without (an insert, whose symbols must be checked against the codes) only the code."""
    if not block:
        return None
    buf = np.frombuffer(block, np.uint8)
    starts = row_starts(buf)
    if starts is None:
        return None
    padded = np.concatenate([buf, np.zeros(24, np.uint8)])  # reads past a short last row land here, never raise
    n = len(starts)
    ends = starts + 2 + buf[starts + 1].astype(np.int64)
    at = starts + 2
    if not (padded[at] == 0x08).all():
        return None
    timestamps, width = read_varints(padded, at + 1)
    if width is None:
        return None
    at = at + 1 + width
    has_value = padded[at] == 0x11
    values = np.zeros(n, np.float64)
    rows = np.flatnonzero(has_value)
    values[rows] = padded[(at[rows] + 1)[:, None] + np.arange(8)].view("<f8").reshape(-1)
    at = at + np.where(has_value, 9, 0)
    has_status = (padded[at] == 0x1A) & (at < ends)
    status = np.zeros(n, np.int64)
    rows = np.flatnonzero(has_status)
    if len(rows):
        if not (padded[at[rows] + 2] == 0x08).all():
            return None
        codes, code_width = read_varints(padded, at[rows] + 3)
        length = padded[at[rows] + 1].astype(np.int64)
        if code_width is None or (length >= 0x80).any():
            return None
        if not ((length >= 1 + code_width) if symbols else (length == 1 + code_width)).all():
            return None
        status[rows] = codes
        at[rows] += 2 + length
    has_null = (padded[at] == 0x20) & (at < ends)
    nulls = None
    rows = np.flatnonzero(has_null)
    if len(rows):
        if not (padded[at[rows] + 1] <= 1).all():
            return None
        nulls = np.zeros(n, bool)
        nulls[rows] = padded[at[rows] + 1] == 1
        at[rows] += 2
    if not (at == ends).all():
        return None
    return timestamps, values, status, nulls


def read_varints(padded: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The varint at each position (as int64, two's complement) and its width; width None if one is longer than 10."""
    window = padded[at[:, None] + np.arange(10)]
    last = window < 0x80
    if not last.any(axis=1).all():
        return np.empty(0, np.int64), None
    width = last.argmax(axis=1) + 1
    groups = (window & 0x7F).astype(_U64)
    groups[np.arange(10)[None, :] >= width[:, None]] = 0
    shifts = (np.arange(10, dtype=_U64) * _U64(7))[None, :]
    return (groups << shifts).sum(axis=1, dtype=_U64).astype(np.int64), width


def runtime_columns(points: Any, is_string: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, list]:
    n = len(points)
    timestamps = np.fromiter((p.timestamp for p in points), np.int64, n)
    values = (
        np.array([p.value for p in points], dtype=object)
        if is_string
        else np.fromiter((p.value for p in points), np.float64, n)
    )
    status = np.zeros(n, np.int64)
    symbols: list[tuple[int, str]] = []
    flagged = [i for i, p in enumerate(points) if p.HasField("status")]
    for i in flagged:
        status[i] = points[i].status.code
        if points[i].status.symbol:
            symbols.append((i, points[i].status.symbol))
    null_rows = [i for i, p in enumerate(points) if p.nullValue]
    nulls = None
    if null_rows:
        nulls = np.zeros(n, bool)
        nulls[null_rows] = True
    return timestamps, values, status, nulls, symbols


def read_varint(body: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(body) or shift > 63:
            raise DecodeError("truncated or overlong varint")
        byte = body[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7


def fields(body: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message level: an int for varints and fixed widths, bytes for
    length-delimited fields. Few fields per level here (items, identifiers), so plain Python."""
    fields, at = [], 0
    while at < len(body):
        key, at = read_varint(body, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = read_varint(body, at)
        elif wire == 2:
            size, at = read_varint(body, at)
            if at + size > len(body):
                raise DecodeError(f"field {number} runs past the end of its message")
            value, at = body[at : at + size], at + size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if at + width > len(body):
                raise DecodeError(f"field {number} runs past the end of its message")
            value, at = int.from_bytes(body[at : at + width], "little"), at + width
        else:
            raise DecodeError(f"unsupported wire type {wire} (field {number})")
        if number == 0:
            raise DecodeError("field number 0")
        fields.append((number, wire, value))
    return fields


def text(value: Any, what: str) -> str:
    if not isinstance(value, bytes):
        raise DecodeError(f"{what} must be a string")
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise DecodeError(f"{what} is not valid UTF-8") from None


def decode_points(
    block: bytes, is_string: bool, *, symbols: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, list[tuple[int, str]]]:
    """A NumericDatapoints / StringDatapoints body as columns: timestamps, values, status codes, nulls, and the
    (row, symbol) of points the runtime parsed with a symbol. Fixed-stride and field-ordered numeric blocks are read
    with numpy (numeric_rows; `symbols` as there); anything else by the protobuf runtime."""
    if not is_string:
        if (fast := fixed_stride_numeric(block)) is not None:
            timestamps, values = fast
            return timestamps, values, np.zeros(len(timestamps), np.int64), None, []
        if (rows := numeric_rows(block, symbols=symbols)) is not None:
            return (*rows, [])
    message = message_class("StringDatapoints" if is_string else "NumericDatapoints")()
    try:
        message.ParseFromString(block)
    except Exception as error:  # the runtime's DecodeError (its module differs between upb and pure Python)
        raise DecodeError(f"bad datapoints: {error}") from None
    return runtime_columns(message.datapoints, is_string)


def message_items(body: bytes, message: str) -> list[bytes]:
    """The `items = 1` entries of a request or response body, each still encoded."""
    items = []
    for number, _wire, value in fields(body):
        if number != 1 or not isinstance(value, bytes):
            raise DecodeError(f"unexpected field {number} in a {message}")
        items.append(value)
    return items
