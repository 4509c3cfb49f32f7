"""`DataPointListResponse`: what `POST /timeseries/data/list` answers with `accept: application/protobuf`, decoded
to numpy columns without a Python object per point (rows.py), whatever the status codes and symbols it carries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oid_sync_dagster.wire.rows import (
    DecodeError,
    fields,
    fixed_stride_numeric,
    message_class,
    numeric_rows,
    runtime_columns,
    text,
)


@dataclass(frozen=True, slots=True)
class ListItem:
    id: int
    external_id: str | None
    instance_id: tuple[str, str] | None
    is_string: bool
    is_step: bool
    next_cursor: str | None
    timestamps: np.ndarray  # int64 ms
    values: np.ndarray  # float64, or object (str)
    status: np.ndarray  # int64 codes, 0 = Good
    nulls: np.ndarray | None  # bool: the point has no value


def _points(block: bytes, is_string: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    if not is_string:
        if (fast := fixed_stride_numeric(block)) is not None:
            timestamps, values = fast
            return timestamps, values, np.zeros(len(timestamps), np.int64), None
        if (rows := numeric_rows(block, symbols=True)) is not None:
            return rows
    message = message_class("StringDatapoints" if is_string else "NumericDatapoints")()
    try:
        message.ParseFromString(block)
    except Exception as error:  # the runtime's DecodeError (its module differs between upb and pure Python)
        raise DecodeError(f"bad datapoints: {error}") from None
    timestamps, values, status, nulls, _symbols = runtime_columns(message.datapoints, is_string)
    return timestamps, values, status, nulls


def _item(body: bytes) -> ListItem:
    header: dict[str, object] = {"id": 0, "external_id": None, "instance_id": None, "next_cursor": None}
    is_string = is_step = False
    block, kind = b"", None
    for number, _wire, value in fields(body):
        if number == 1:
            header["id"] = value
        elif number == 2:
            header["external_id"] = text(value, "externalId")
        elif number == 6:
            is_string = bool(value)
        elif number == 7:
            is_step = bool(value)
        elif number == 9:
            header["next_cursor"] = text(value, "nextCursor")
        elif number == 11:
            parts = {n: v for n, _, v in fields(value)}
            header["instance_id"] = (text(parts.get(1, b""), "space"), text(parts.get(2, b""), "externalId"))
        elif number in (3, 4):
            block, kind = value, number
        elif number == 5:
            raise DecodeError("aggregates are not raw datapoints")
    if kind is not None:
        is_string = kind == 4
    timestamps, values, status, nulls = _points(block, is_string)
    return ListItem(
        id=int(header["id"]),  # type: ignore[call-overload]
        external_id=header["external_id"],  # type: ignore[arg-type]
        instance_id=header["instance_id"],  # type: ignore[arg-type]
        is_string=is_string,
        is_step=is_step,
        next_cursor=header["next_cursor"],  # type: ignore[arg-type]
        timestamps=timestamps,
        values=values,
        status=status,
        nulls=nulls,
    )


def decode_list_response(body: bytes) -> list[ListItem]:
    """Every item of the response, in request order."""
    items = []
    for number, _wire, value in fields(body):
        if number != 1 or not isinstance(value, bytes):
            raise DecodeError(f"unexpected field {number} in a DataPointListResponse")
        items.append(_item(value))
    return items
