"""Encoder for the protobuf `DataPointListResponse` the cognite-sdk reads from `POST /timeseries/data/list`.

Stands alone (stdlib + numpy, not the SDK's generated classes): building 100k message objects in Python would
cost far more than the request itself, so datapoints are written straight to bytes with whole-array numpy ops.

Every datapoint is one length-delimited `datapoints` entry. Points sharing a layout (varint widths, value
or null, status) form a class whose rows all have one length R, so a class is filled as an (m, R) byte matrix
with one strided store per field. Usually one class holds every point and its matrix is the payload. A few
exceptions (the odd Bad point) are encoded apart and spliced between slices of the dominant class's rows by
the final join; many are scattered to their offsets in one buffer. A few dozen rows, or rows in many tiny
classes, take a plain Python loop instead, where numpy's per-call overhead would dominate. Field order
inside a message is free on the wire, so variable-width parts go wherever is convenient.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from oid_sync_dagster.local_cdf.status import symbol_for

# DataPointListItem.type (TimeSeriesType enum)
_TYPE_NUMERIC = 1
_TYPE_STRING = 2

# AggregateDatapoint field numbers (all doubles); field 1 is the timestamp.
AGGREGATE_FIELDS: dict[str, int] = {
    "average": 2,
    "max": 3,
    "min": 4,
    "count": 5,
    "sum": 6,
    "interpolation": 7,
    "stepInterpolation": 8,
    "continuousVariance": 9,
    "discreteVariance": 10,
    "totalVariation": 11,
    "countGood": 12,
    "countUncertain": 13,
    "countBad": 14,
    "durationGood": 15,
    "durationUncertain": 16,
    "durationBad": 17,
}


@dataclass(frozen=True, slots=True)
class ItemHeader:
    id: int
    external_id: str | None
    instance_id: tuple[str, str] | None  # (space, externalId)
    is_string: bool
    is_step: bool
    unit: str | None
    next_cursor: str | None
    unit_external_id: str | None = None  # the SDK prefers it over `unit` when set


# --- Scalar helpers (headers: a handful of fields per item, plain Python is fastest)


def _varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF  # negative int64 -> two's complement, 10 bytes
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varint_size(value: int) -> int:
    value &= 0xFFFFFFFFFFFFFFFF
    return max(1, (value.bit_length() + 6) // 7)


def _len_field(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _str_field(field: int, value: str) -> bytes:
    return _len_field(field, value.encode())


def _status_field(code: int) -> bytes:
    """`status = 3` of a datapoint; only called for codes != 0 (the SDK reads a missing status as Good)."""
    return _len_field(3, b"\x08" + _varint(code) + _str_field(2, symbol_for(code)))


# --- Scratch memory


class _Scratch(threading.local):
    """Per-thread buffers reused across calls. Fresh multi-MB arrays page-fault on every request (glibc hands
    large freed blocks back to the kernel), which here costs more than the encoding itself."""

    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, nbytes: int) -> np.ndarray:
        buf = self.buffers.get(name)
        if buf is None or len(buf) < nbytes:
            buf = np.empty(max(nbytes, 4096, 0 if buf is None else len(buf) * 5 // 4), np.uint8)
            if nbytes <= _SCRATCH_MAX:
                self.buffers[name] = buf
        return buf[:nbytes]

    def array(self, name: str, m: int, dtype: np.dtype | str) -> np.ndarray:
        dt = np.dtype(dtype)
        return self.get(name, m * dt.itemsize).view(dt)


_U64 = struct.Struct("<Q")
_SCRATCH_MAX = 1 << 27  # larger one-off requests allocate and release
_scratch = _Scratch()


# --- Vectorised row engine

# A row spec lists a class's wire layout. Segments: bytes = constant; str = 8-byte little-endian word from
# that uint64 column (double bit patterns); (str, n) = varint of that uint64 column, exactly n bytes long.
_Segment = bytes | str | tuple[str, int]
_Spec = tuple[_Segment, ...]
_Piece = np.ndarray | memoryview | bytes

# Continuation bits for the first min(n - 1, 8) bytes of an n-byte varint.
_CONT = [np.uint64(sum(0x80 << (8 * k) for k in range(min(n - 1, 8)))) for n in range(11)]
# u >= _THRESH[k] <=> the varint of u needs more than k bytes.
_THRESH = [np.uint64(1 << (7 * k)) for k in range(10)]


def _varint_lengths(u: np.ndarray) -> int | np.ndarray:
    """Byte length of each uint64's varint: an int when all are equal (usual: a request's timestamps share a
    width), else an int64 array. Monotonic in u, so only thresholds inside [min, max] need comparing."""
    if len(u) == 0:
        return 1
    lo, hi = _varint_size(int(u.min())), _varint_size(int(u.max()))
    if lo == hi:
        return lo
    out = np.full(len(u), lo, np.int64)
    for k in range(lo, hi):
        out += u >= _THRESH[k]
    return out


def _spread7(u: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The 7-bit groups 0..7 of u moved into bytes 0..7 (no continuation bits) for n-byte varints, and a spare
    scratch array of the same shape."""
    x = _scratch.array("x", len(u), np.uint64)
    t = _scratch.array("t", len(u), np.uint64)
    if n > 8:
        np.bitwise_and(u, np.uint64((1 << 56) - 1), out=x)
    else:
        x[...] = u
    if n > 4:  # 28-bit halves into 32-bit lanes
        np.bitwise_and(x, np.uint64(0x00FFFFFFF0000000), out=t)
        t <<= np.uint64(4)
        x &= np.uint64(0x0FFFFFFF)
        x |= t
    if n > 2:  # 14-bit quarters into 16-bit lanes
        np.bitwise_and(x, np.uint64(0x0FFFC0000FFFC000), out=t)
        t <<= np.uint64(2)
        x &= np.uint64(0x00003FFF00003FFF)
        x |= t
    np.bitwise_and(x, np.uint64(0x3F803F803F803F80), out=t)  # 7-bit groups into bytes
    t <<= np.uint64(1)
    x &= np.uint64(0x007F007F007F007F)
    x |= t
    return x, t


def _column(buf: np.ndarray, stride: int, offset: int, dtype: str, m: int) -> np.ndarray:
    """A writable view of one (possibly unaligned) field in each of m rows of `stride` bytes."""
    return np.ndarray((m,), dtype=dtype, buffer=buf, offset=offset, strides=(stride,))


def _chunks(width: int) -> list[tuple[int, str]]:
    """(offset, dtype) stores covering `width` bytes; where they overlap they write identical bytes."""
    if width == 1:
        return [(0, "u1")]
    size = 8 if width >= 8 else 4 if width >= 4 else 2
    starts = list(range(0, width - size + 1, size))
    if starts[-1] + size < width:
        starts.append(width - size)
    return [(s, f"<u{size}") for s in starts]


def _put_const(buf: np.ndarray, stride: int, offset: int, data: bytes, m: int) -> None:
    for start, dtype in _chunks(len(data)):
        col = _column(buf, stride, offset + start, dtype, m)
        value = int.from_bytes(data[start : start + col.itemsize], "little")
        if col.itemsize == 1:
            col.fill(value)
        else:  # a scalar fill into unaligned memory is ~10x slower than copying from an aligned array
            src = _scratch.array("const", m, dtype)
            src.fill(value)
            col[...] = src


def _put_varint(buf: np.ndarray, stride: int, offset: int, u: np.ndarray, n: int, m: int) -> None:
    if n == 1:
        _column(buf, stride, offset, "u1", m)[...] = u
        return
    lo, tmp = _spread7(u, n)
    lo |= _CONT[n]
    if n >= 8:
        _column(buf, stride, offset, "<u8", m)[...] = lo
        if n > 8:  # byte 8: bits 56..62; byte 9 (10-byte varints, i.e. negative int64): bit 63
            np.right_shift(u, np.uint64(56), out=tmp)
            if n == 10:
                tmp &= np.uint64(0x7F)
                tmp |= np.uint64(0x180)
            _column(buf, stride, offset + 8, "<u2" if n == 10 else "u1", m)[...] = tmp
        return
    size = 4 if n >= 4 else 2
    dtype = f"<u{size}"
    _column(buf, stride, offset, dtype, m)[...] = lo
    if n > size:
        np.right_shift(lo, np.uint64(8 * (n - size)), out=tmp)
        _column(buf, stride, offset + n - size, dtype, m)[...] = tmp


def _spec_len(spec: Iterable[_Segment]) -> int:
    return sum(len(s) if isinstance(s, bytes) else 8 if isinstance(s, str) else s[1] for s in spec)


def _merge_consts(parts: Iterable[_Segment]) -> _Spec:
    out: list[_Segment] = []
    for part in parts:
        if isinstance(part, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += part
        elif part != b"":
            out.append(part)
    return tuple(out)


def _gather(col: np.ndarray, rows: np.ndarray | None, m: int, name: str) -> np.ndarray:
    if rows is None:
        return col
    out = _scratch.array("g" + name, m, col.dtype)
    if rows.dtype == bool:
        np.compress(rows, col, out=out)
    else:
        np.take(col, rows, out=out)
    return out


def _fill(
    spec: _Spec, cols: Mapping[str, np.ndarray], rows: np.ndarray | None, m: int, scratch: str | None
) -> np.ndarray:
    """The m rows (selected by `rows`, a mask or indices, or all) of one class as m * R contiguous bytes, in
    the named scratch buffer or a fresh array."""
    stride = _spec_len(spec)
    buf = np.empty(m * stride, np.uint8) if scratch is None else _scratch.get(scratch, m * stride)
    if m == 0:
        return buf
    offset = 0
    for seg in spec:
        if isinstance(seg, bytes):
            _put_const(buf, stride, offset, seg, m)
            offset += len(seg)
        elif isinstance(seg, str):
            _column(buf, stride, offset, "<u8", m)[...] = _gather(cols[seg], rows, m, seg)
            offset += 8
        else:
            name, n = seg
            _put_varint(buf, stride, offset, _gather(cols[name], rows, m, name), n, m)
            offset += n
    return buf


def _classes(key: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, list[int]]:
    """Dense class ids per row (None when all rows share one), rows per class, and each class's key."""
    kmin, kmax = int(key.min()), int(key.max())
    if kmin == kmax:
        return None, np.array([len(key)]), [kmin]
    if kmax - kmin < 1 << 16:
        shifted = key - kmin
        counts = np.bincount(shifted)
        present = np.flatnonzero(counts)
        lut = np.zeros(len(counts), np.intp)
        lut[present] = np.arange(len(present))
        return lut[shifted], counts[present], (present + kmin).tolist()
    uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return inverse, counts, uniq.tolist()


_SMALL = 24  # below this many rows, numpy's per-call overhead outweighs a plain Python loop


def _rows(
    n: int,
    spec_for: Callable[[int], _Spec],
    cols: Mapping[str, np.ndarray],
    base: int | np.ndarray,
    exc_idx: np.ndarray | None = None,
    exc_add: np.ndarray | None = None,
    contiguous: bool = False,
) -> tuple[list[_Piece], int]:
    """Every row's bytes in order as pieces to concatenate (one piece if `contiguous`), and their total size.

    Row i is laid out by spec_for(key[i]), key = base (an int: shared by all rows) plus exc_add at the sorted
    row indices exc_idx (exceptions such as the odd Bad point, passed sparsely so the common case never builds
    a per-row key). Pieces live in scratch memory: valid until the next encode on this thread."""
    has_exc = exc_idx is not None and exc_add is not None and len(exc_idx) > 0
    if isinstance(base, int) and n > _SMALL:
        if not has_exc:
            spec = spec_for(base)
            return [_fill(spec, cols, None, n, "main")], n * _spec_len(spec)
        assert exc_idx is not None and exc_add is not None
        if not contiguous and 20 * len(exc_idx) <= n:
            return _rows_runs(n, spec_for, cols, base, exc_idx, base + exc_add)
    key = np.full(n, base, np.int64) if isinstance(base, int) else base.astype(np.int64)
    if has_exc:
        key[exc_idx] += exc_add
    if n <= _SMALL:
        row_bytes = b"".join(_rows_small(spec_for, cols, key.tolist()))
        return [row_bytes], len(row_bytes)
    ids, counts, keys = _classes(key)
    if ids is None:
        spec = spec_for(keys[0])
        return [_fill(spec, cols, None, n, "main")], n * _spec_len(spec)
    if 16 * len(keys) > n:  # classes of a handful of rows each (say aggregates with ragged gaps)
        row_bytes = b"".join(_rows_small(spec_for, cols, key.tolist()))
        return [row_bytes], len(row_bytes)
    dominant = int(np.argmax(counts))
    if not contiguous and 20 * (n - counts[dominant]) <= n:
        exc = np.flatnonzero(ids != dominant)
        return _rows_runs(n, spec_for, cols, keys[dominant], exc, key[exc])
    out = _rows_scatter(ids, counts, [spec_for(k) for k in keys], cols)
    return [out], len(out)


def _rows_small(spec_for: Callable[[int], _Spec], cols: Mapping[str, np.ndarray], keys: list[int]) -> list[bytes]:
    """Each row's bytes, one Python step per field: for the few rows where that beats numpy's overhead."""
    values = {name: col.tolist() for name, col in cols.items()}
    specs: dict[int, _Spec] = {}
    rows = []
    for i, key in enumerate(keys):
        spec = specs.get(key) or specs.setdefault(key, spec_for(key))
        row = bytearray()
        for seg in spec:
            if isinstance(seg, bytes):
                row += seg
            elif isinstance(seg, str):
                row += _U64.pack(values[seg][i])
            else:  # the class's varint width is this value's own minimal width
                row += _varint(values[seg[0]][i])
        rows.append(bytes(row))
    return rows


def _rows_runs(
    n: int,
    spec_for: Callable[[int], _Spec],
    cols: Mapping[str, np.ndarray],
    dom_key: int,
    exc_idx: np.ndarray,
    exc_key: np.ndarray,
) -> tuple[list[_Piece], int]:
    """Few exception rows: every row is first written with the dominant layout, then slices of that buffer
    alternate with runs of properly encoded exception rows, leaving the one copy to the final join."""
    dom_spec = spec_for(dom_key)
    dom_len = _spec_len(dom_spec)
    dom_view = memoryview(_fill(dom_spec, cols, None, n, "main"))
    pieces: list[_Piece] = []
    prev = 0
    if len(exc_idx) <= _SMALL:
        exc_cols = {name: col[exc_idx] for name, col in cols.items()}
        exc_rows_small = _rows_small(spec_for, exc_cols, exc_key.tolist())
        for row, encoded in zip(exc_idx.tolist(), exc_rows_small, strict=True):
            pieces += (dom_view[prev : row * dom_len], encoded)
            prev = (row + 1) * dom_len
        pieces.append(dom_view[prev:])
        return pieces, (n - len(exc_idx)) * dom_len + sum(map(len, exc_rows_small))
    exc_keys, exc_cls = np.unique(exc_key, return_inverse=True)
    specs = [spec_for(k) for k in exc_keys.tolist()]
    lengths = np.array([_spec_len(s) for s in specs], np.int64)
    exc_len = lengths[exc_cls]
    exc_ends = np.cumsum(exc_len)
    exc_rows = np.empty(int(exc_ends[-1]), np.uint8)
    for cls, spec in enumerate(specs):
        sel = np.flatnonzero(exc_cls == cls)
        pos = (exc_ends[sel] - lengths[cls])[:, None] + np.arange(lengths[cls])
        exc_rows[pos.ravel()] = _fill(spec, cols, exc_idx[sel], len(sel), None)
    exc_view = memoryview(exc_rows)
    first = np.flatnonzero(np.diff(exc_idx, prepend=-2) != 1)  # where runs of consecutive exceptions start
    last = np.append(first[1:], len(exc_idx)) - 1
    for row0, row1, start, end in zip(
        (exc_idx[first] * dom_len).tolist(),
        ((exc_idx[last] + 1) * dom_len).tolist(),
        (exc_ends[first] - exc_len[first]).tolist(),
        exc_ends[last].tolist(),
        strict=True,
    ):
        pieces += (dom_view[prev:row0], exc_view[start:end])
        prev = row1
    pieces.append(dom_view[prev:])
    return pieces, (n - len(exc_idx)) * dom_len + len(exc_rows)


def _rows_scatter(
    ids: np.ndarray, counts: np.ndarray, specs: Sequence[_Spec], cols: Mapping[str, np.ndarray]
) -> np.ndarray:
    """General case: each class's rows written to their offsets in one output buffer."""
    lengths = np.array([_spec_len(s) for s in specs], np.int64)
    n = len(ids)
    row_len = lengths[ids]
    ends = np.cumsum(row_len)
    out = _scratch.get("out", int(ends[-1]))
    # Many classes: one sort finds every class's rows, instead of a full comparison per class.
    order = np.argsort(ids, kind="stable") if len(specs) > 8 else None
    class_end = np.cumsum(counts).tolist()
    for cls, (spec, m) in enumerate(zip(specs, counts.tolist(), strict=True)):
        if 4 * m >= n:  # big class: a byte mask over the output beats index arrays
            member = ids == cls
            out[np.repeat(member, row_len)] = _fill(spec, cols, member, m, "cls")
        else:
            idx = np.flatnonzero(ids == cls) if order is None else order[class_end[cls] - m : class_end[cls]]
            pos = (ends[idx] - lengths[cls])[:, None] + np.arange(lengths[cls])
            out[pos.ravel()] = _fill(spec, cols, idx, m, "cls")
    return out


# --- Inputs


def _timestamps(timestamps: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(timestamps, dtype=np.int64).view(np.uint64)


def _check_len(name: str, arr: np.ndarray | Sequence[object] | None, n: int) -> None:
    if arr is not None and len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} entries, timestamps {n}")


@dataclass(frozen=True, slots=True)
class _Statuses:
    rows: np.ndarray  # sorted indices of the points with a status field (code != 0)
    variant: np.ndarray  # per such point: index into templates, >= 1
    templates: list[bytes]  # encoded status fields; templates[0] = b"" (no field)


def _statuses(status: np.ndarray | None, n: int) -> _Statuses:
    codes = None if status is None else np.asarray(status)
    _check_len("status", codes, n)
    rows = np.empty(0, np.intp) if codes is None else np.flatnonzero(codes)
    if len(rows) == 0:
        return _Statuses(rows, rows, [b""])
    uniq, inverse = np.unique(codes[rows].astype(np.int64), return_inverse=True)
    return _Statuses(rows, inverse + 1, [b""] + [_status_field(c) for c in uniq.tolist()])


def _nulls(null_mask: np.ndarray | None, n: int) -> np.ndarray:
    """Sorted indices of the null points."""
    if null_mask is None:
        return np.empty(0, np.intp)
    mask = np.asarray(null_mask, dtype=bool)
    _check_len("null_mask", mask, n)
    return np.flatnonzero(mask)


# --- Items


def _item(header: ItemHeader, container_field: int, rows: tuple[list[_Piece], int], ts_type: int) -> bytes:
    parts: list[_Piece] = []
    if header.id:
        parts += (b"\x08", _varint(header.id))
    if header.external_id is not None:
        parts.append(_str_field(2, header.external_id))
    if header.is_string:
        parts.append(b"\x30\x01")
    if header.is_step:
        parts.append(b"\x38\x01")
    if header.unit is not None:
        parts.append(_str_field(8, header.unit))
    if header.next_cursor is not None:
        parts.append(_str_field(9, header.next_cursor))
    if header.unit_external_id is not None:
        parts.append(_str_field(10, header.unit_external_id))
    if header.instance_id is not None:
        space, external_id = header.instance_id
        parts.append(_len_field(11, _str_field(1, space) + _str_field(2, external_id)))
    parts += (b"\x60", _varint(ts_type))
    # Written even when empty: the SDK finds the datapoints through the `datapointType` oneof.
    pieces, size = rows
    parts += (_varint(container_field << 3 | 2), _varint(size), *pieces)
    return b"".join(parts)


_NO_ROWS: tuple[list[_Piece], int] = ([], 0)


def encode_numeric_item(
    header: ItemHeader,
    timestamps: np.ndarray,
    values: np.ndarray,
    status: np.ndarray | None = None,
    null_mask: np.ndarray | None = None,
) -> bytes:
    """A DataPointListItem body with `numericDatapoints`. status: uint32 codes, None for no status fields at
    all; null_mask: points sent with nullValue=true and no value."""
    ts = _timestamps(timestamps)
    n = len(ts)
    vals = np.ascontiguousarray(values, dtype="<f8").view("<u8")  # bit patterns: NaN payloads survive
    _check_len("values", vals, n)
    nulls = _nulls(null_mask, n)
    st = _statuses(status, n)
    if n == 0:
        return _item(header, 3, _NO_ROWS, _TYPE_NUMERIC)

    # key = ts varint length (1..10) + 11 * (null + 2 * status variant)
    def spec_for(key: int) -> _Spec:
        extra, n_ts = divmod(key, 11)
        variant, is_null = divmod(extra, 2)
        tmpl = st.templates[variant]
        value: tuple[_Segment, ...] = (b"\x20\x01",) if is_null else (b"\x11", "v")
        body = 1 + n_ts + (2 if is_null else 9) + len(tmpl)  # < 128: one length byte
        return _merge_consts((bytes((0x0A, body, 0x08)), ("t", n_ts), *value, tmpl))

    exc_idx = np.union1d(nulls, st.rows) if len(nulls) and len(st.rows) else nulls if len(nulls) else st.rows
    exc_add = np.zeros(len(exc_idx), np.int64)
    exc_add[np.searchsorted(exc_idx, nulls)] += 11
    exc_add[np.searchsorted(exc_idx, st.rows)] += 22 * st.variant
    rows = _rows(n, spec_for, {"t": ts, "v": vals}, _varint_lengths(ts), exc_idx, exc_add)
    return _item(header, 3, rows, _TYPE_NUMERIC)


def _utf8(values: Sequence[str] | np.ndarray, nulls: np.ndarray) -> tuple[bytes, np.ndarray, np.ndarray]:
    """All non-null values as one utf-8 blob, each one's byte length (0 for nulls), and the null indices (None
    values count as null)."""
    vals: list = values.tolist() if isinstance(values, np.ndarray) else list(values)
    for i in nulls.tolist():
        vals[i] = ""
    try:
        joined = "".join(vals)
    except TypeError:
        nones = []
        for i, v in enumerate(vals):
            if v is None:
                vals[i] = ""
                nones.append(i)
            elif not isinstance(v, str):
                raise TypeError(f"string datapoint {i} is {type(v).__name__}, not str") from None
        nulls = np.union1d(nulls, np.array(nones, np.intp))
        joined = "".join(vals)
    blob = joined.encode()
    # ASCII: byte length == character length; else measure each value's utf-8 (C-level maps, no bytecode loop)
    sizes = map(len, vals) if len(blob) == len(joined) else map(len, map(str.encode, vals))
    return blob, np.fromiter(sizes, np.int64, count=len(vals)), nulls


def encode_string_item(
    header: ItemHeader,
    timestamps: np.ndarray,
    values: Sequence[str] | np.ndarray,
    status: np.ndarray | None = None,
    null_mask: np.ndarray | None = None,
) -> bytes:
    """A DataPointListItem body with `stringDatapoints` (same status/null semantics as numeric)."""
    ts = _timestamps(timestamps)
    n = len(ts)
    _check_len("values", values, n)
    st = _statuses(status, n)
    if n == 0:
        return _item(header, 4, _NO_ROWS, _TYPE_STRING)
    blob, str_len, nulls = _utf8(values, _nulls(null_mask, n))
    is_null = np.zeros(n, np.int64)
    is_null[nulls] = 1
    ts_len = _varint_lengths(ts)
    sl_len = _varint_lengths(str_len.view(np.uint64))
    # Row: tag, body length, timestamp, status, then nullValue or the value's tag and length; the value's
    # bytes are spliced in after the engine, whose rows are fixed-length per class.
    body = 1 + ts_len + 1 + sl_len + str_len
    body[nulls] = 1 + (ts_len if isinstance(ts_len, int) else ts_len[nulls]) + 2
    body[st.rows] += np.array([len(t) for t in st.templates])[st.variant]
    body_len = _varint_lengths(body.view(np.uint64))
    n_tmpl = len(st.templates)
    # key = (((ts length * 11 + body length) * 11 + value length length) * 2 + null) * templates + variant
    base = (((ts_len * 11 + body_len) * 11 + sl_len) * 2 + is_null) * n_tmpl

    def spec_for(key: int) -> _Spec:
        key, variant = divmod(key, n_tmpl)
        key, null = divmod(key, 2)
        key, n_sl = divmod(key, 11)
        n_ts, n_body = divmod(key, 11)
        value: tuple[_Segment, ...] = (b"\x20\x01",) if null else (b"\x12", ("s", n_sl))
        return _merge_consts((b"\x0a", ("b", n_body), b"\x08", ("t", n_ts), st.templates[variant], *value))

    cols = {"t": ts, "b": body.view(np.uint64), "s": str_len.view(np.uint64)}
    (prefix,), size = _rows(n, spec_for, cols, base, st.rows, st.variant, contiguous=True)
    if not blob:
        return _item(header, 4, ([prefix], size), _TYPE_STRING)
    # Interleave each row's prefix with its value's bytes.
    pieces = np.empty((n, 2), np.int64)
    pieces[:, 0] = 1 + body_len + body - str_len
    pieces[:, 1] = str_len
    is_prefix = np.repeat(np.tile(np.array([True, False]), n), pieces.ravel())
    payload = _scratch.get("payload", size + len(blob))
    payload[is_prefix] = np.frombuffer(prefix, np.uint8)
    payload[~is_prefix] = np.frombuffer(blob, np.uint8)
    return _item(header, 4, ([payload], len(payload)), _TYPE_STRING)


def encode_aggregate_item(header: ItemHeader, timestamps: np.ndarray, aggregates: Mapping[str, np.ndarray]) -> bytes:
    """A DataPointListItem body with `aggregateDatapoints`; keys are AggregateDatapoint field names, NaN marks
    an aggregate absent for that bucket (the field is left out)."""
    ts = _timestamps(timestamps)
    n = len(ts)
    unknown = set(aggregates) - AGGREGATE_FIELDS.keys()
    if unknown:
        raise ValueError(f"unknown aggregates {sorted(unknown)}")
    names = sorted(aggregates, key=AGGREGATE_FIELDS.__getitem__)
    cols: dict[str, np.ndarray] = {"t": ts}
    pattern = np.zeros(n, np.int64)  # bit i: names[i] present
    for bit, name in enumerate(names):
        arr = np.ascontiguousarray(aggregates[name], dtype="<f8")
        _check_len(name, arr, n)
        cols[name] = arr.view("<u8")
        pattern |= (~np.isnan(arr)).astype(np.int64) << bit
    if n == 0:
        return _item(header, 5, _NO_ROWS, _TYPE_NUMERIC)

    def spec_for(key: int) -> _Spec:
        bits, n_ts = divmod(key, 11)
        fields: list[_Segment] = [b"\x08", ("t", n_ts)]
        for bit, name in enumerate(names):
            if bits >> bit & 1:
                fields += (_varint(AGGREGATE_FIELDS[name] << 3 | 1), name)
        return _merge_consts((b"\x0a", _varint(_spec_len(fields)), *fields))

    rows = _rows(n, spec_for, cols, pattern * 11 + _varint_lengths(ts))
    return _item(header, 5, rows, _TYPE_NUMERIC)


def encode_response(items: Iterable[bytes]) -> bytes:
    """The DataPointListResponse: each encoded item as `items = 1`, in order."""
    parts: list[bytes] = []
    for item in items:
        parts += (b"\x0a", _varint(len(item)), item)
    return b"".join(parts)
