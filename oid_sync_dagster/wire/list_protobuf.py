"""`DataPointListResponse`: what `POST /timeseries/data/list` answers with `accept: application/protobuf`, decoded
to numpy columns without a Python object per point (rows.py), whatever the status codes and symbols it carries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oid_sync_dagster.wire.rows import DecodeError, decode_points, fields, message_items, text


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
    timestamps, values, status, nulls, _symbols = decode_points(block, is_string, symbols=True)
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
    return [_item(item) for item in message_items(body, "DataPointListResponse")]
