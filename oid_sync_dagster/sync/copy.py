"""Streaming copy: read source arrays, shift them, insert them into the target by instance id (rules 1, 2, 6, 7).

The shape of it: one reader walks (series batch, window chunk) units in order and hands each series' shifted
arrays, cut into insert batches of at most `points_per_insert`, to a small pool of writer threads; a
semaphore bounds the batches in flight, so reads overlap writes and memory does not grow with the window.
Each batch is one insert request (at most 100k points and 10k items, so the SDK never splits it), which is
what makes the counts exact: CDF applies a request entirely or not at all, and a point is counted written
only when its request succeeded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from cognite.client.data_classes import DatapointsArray
from cognite.client.data_classes.data_modeling import NodeId
from cognite.client.exceptions import (
    CogniteAPIError,
    CogniteNotFoundError,
    CogniteOAuthError,
    CogniteProjectAccessError,
)

from oid_sync_dagster.sync.inserts import InsertEncoding, Inserter
from oid_sync_dagster.sync.model import CDF_ERRORS, CatalogSeries, SyncResult
from oid_sync_dagster.sync.reads import SourceReader
from oid_sync_dagster.sync.windows import DAY_MS, WEEK_MS, Window, week_start

_MONDAY_EPOCH_MS = week_start(0) + WEEK_MS  # 1970-01-05, the first Monday after the epoch
# The IdP's refusals of the client itself (RFC 6749 section 5.2): a wrong secret or client id does not heal.
_REFUSED_CLIENT = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)


def is_fatal(error: BaseException) -> bool:
    """Credentials refused (by the IdP, or a token CDF answers 401 to) fail every request alike.

    Not a series' problem, so the engine raises them at once rather than repeating one error per series and a
    token request per chunk (rule 7 is about bad series, not a sync that cannot authenticate). An IdP that is
    down (5xx: raw httpx2 errors) or throttling is not fatal: a retry may heal it.
    """
    if isinstance(error, CogniteProjectAccessError):
        return True
    # `error` is whatever the IdP put there: RFC 6749 says a string, but an odd IdP may send an object.
    return isinstance(error, CogniteOAuthError) and isinstance(error.error, str) and error.error in _REFUSED_CLIENT


# 4xx that a later attempt may pass: timeout, conflict (concurrent data-modeling writes), too early, throttling.
_TRANSIENT_4XX = frozenset({408, 409, 425, 429})


def is_refusal(error: BaseException) -> bool:
    """CDF refused the request itself (a 4xx that is no throttling, conflict or timeout): sending it again gets
    the same answer."""
    return isinstance(error, CogniteAPIError) and 400 <= error.code < 500 and error.code not in _TRANSIENT_4XX


@dataclass(frozen=True, slots=True)
class CopySettings:
    insert_encoding: InsertEncoding = "protobuf"
    points_per_insert: int = 100_000
    items_per_insert: int = 10_000  # CDF's limit of items per insert request
    series_per_read: int = 100
    writers: int = 4
    # Longer windows are read in chunks of this much source time, which is what bounds memory: one chunk
    # of 100 series at OID's density of one point a minute is ~100k points a day.
    read_chunk_ms: int = DAY_MS


@dataclass(frozen=True, slots=True)
class CopyTask:
    """Copy one series' source window (already clipped to what is due and published)."""

    series: CatalogSeries
    source_window: Window


@dataclass(frozen=True, slots=True)
class Progress:
    points_written: int
    units_done: int
    units_total: int
    seconds: float


@dataclass(slots=True)
class _Piece:
    """A slice of one series' shifted points, bound for one insert request."""

    series: CatalogSeries
    array: DatapointsArray
    weeks: dict[int, int]  # target week start -> points in this piece

    def __len__(self) -> int:
        return len(self.array.timestamp)


def _chunks(window: Window, chunk_ms: int) -> Iterator[Window]:
    start = window.start
    while start < window.end:
        end = min(window.end, start + chunk_ms)
        yield Window(start, end)
        start = end


def _week_counts(target_ms: np.ndarray) -> dict[int, int]:
    if not len(target_ms):
        return {}
    weeks = target_ms - (target_ms - _MONDAY_EPOCH_MS) % WEEK_MS
    starts, counts = np.unique(weeks, return_counts=True)
    return {int(w): int(c) for w, c in zip(starts, counts, strict=True)}


def shifted(array: DatapointsArray, series: CatalogSeries, node: NodeId, offset_ms: int, now: int) -> DatapointsArray:
    """The source array moved by offset_ms (rule 1, in integer ms) and cut at now (rule 2), for the target node.

    Values, status codes and symbols are copied unchanged; a Bad point without a value stays without one.
    """
    target_ms = array.timestamp.astype("datetime64[ms]").astype(np.int64) + offset_ms
    due = target_ms <= now
    if due.all():
        due = slice(None)  # the usual case: keep views, copy nothing

    def kept(column: np.ndarray | None) -> np.ndarray | None:
        return None if column is None else column[due]

    nulls = {ts + offset_ms for ts in array.null_timestamps if ts + offset_ms <= now} if array.null_timestamps else None
    return DatapointsArray(
        id=0,
        instance_id=node,
        is_string=series.is_string,
        is_step=series.is_step,
        type=series.type,
        timestamp=target_ms[due].astype("datetime64[ms]"),
        value=kept(array.value),
        status_code=kept(array.status_code),
        status_symbol=kept(array.status_symbol),
        null_timestamps=nulls,
    )


def _slice(array: DatapointsArray, start: int, end: int) -> DatapointsArray:
    timestamps = array.timestamp[start:end]
    nulls = None
    if array.null_timestamps:
        lo, hi = int(timestamps[0].astype(np.int64)), int(timestamps[-1].astype(np.int64))
        nulls = {ts for ts in array.null_timestamps if lo <= ts <= hi}
    return DatapointsArray(
        id=0,
        instance_id=array.instance_id,
        is_string=array.is_string,
        is_step=array.is_step,
        type=array.type,
        timestamp=timestamps,
        value=array.value[start:end],
        status_code=None if array.status_code is None else array.status_code[start:end],
        status_symbol=None if array.status_symbol is None else array.status_symbol[start:end],
        null_timestamps=nulls,
    )


class _Batcher:
    """Packs pieces of many series into insert batches of at most `limit` points and `items` pieces (one request
    each)."""

    def __init__(self, limit: int, submit: Callable[[list[_Piece]], None], items: int) -> None:
        self._limit, self._submit, self._items = limit, submit, items
        self._pending: list[_Piece] = []
        self._size = 0

    def add(self, series: CatalogSeries, array: DatapointsArray) -> None:
        n, start = len(array.timestamp), 0
        target_ms = array.timestamp.astype(np.int64)
        while start < n:
            take = min(n - start, self._limit - self._size)
            end = start + take
            piece_array = array if (start == 0 and end == n) else _slice(array, start, end)
            self._pending.append(_Piece(series, piece_array, _week_counts(target_ms[start:end])))
            self._size += take
            start = end
            if self._size >= self._limit or len(self._pending) >= self._items:
                self.flush()

    def flush(self) -> None:
        if self._pending:
            batch, self._pending, self._size = self._pending, [], 0
            self._submit(batch)


def _missing_external_ids(error: CogniteNotFoundError) -> set[str]:
    missing = set()
    for item in error.missing or []:
        if isinstance(item, dict):
            ident = item.get("instanceId") or item.get("instance_id")
            if isinstance(ident, dict) and "externalId" in ident:
                missing.add(str(ident["externalId"]))
    return missing


def describe_error(error: Exception) -> str:
    """One line per error: the SDK's str() of an API error appends a multi-line item summary."""
    if isinstance(error, CogniteAPIError):
        return f"{error.code} {error.message} (request id {error.x_request_id})"
    return f"{type(error).__name__}: {error}"


class _Writer:
    """Inserts batches and credits points to their series only when the request succeeded (rule 6)."""

    def __init__(self, inserter: Inserter, result: SyncResult) -> None:
        self._inserter, self._result = inserter, result
        self._lock = threading.Lock()
        self.points_written = 0
        self.fatal: BaseException | None = None  # an is_fatal error: the reader stops and copy_windows raises it

    def insert(self, batch: list[_Piece]) -> None:
        if self.fatal is not None:
            return  # the run is failing anyway: no request (and no token fetch) per remaining batch
        try:
            self._inserter.insert([piece.array for piece in batch])
        except CogniteNotFoundError as error:
            missing = _missing_external_ids(error)
            if not missing:
                self._fail(batch, f"insert failed: {describe_error(error)}")
                return
            gone = [p for p in batch if p.series.external_id in missing]
            self._fail(
                gone,
                "no time series for the target node (the node is missing or is not a time series)",
                permanent=True,
            )
            rest = [p for p in batch if p.series.external_id not in missing]
            if rest:
                self.insert(rest)
        except CogniteAPIError as error:
            names = {p.series.external_id for p in batch}
            if is_refusal(error) and error.code != 403 and len(names) > 1:
                # One bad series makes CDF refuse the whole request: retry each series alone to find it (rule 7).
                # Not on throttling or a missing ACL (403): those would only multiply the requests.
                for name in sorted(names):
                    self.insert([p for p in batch if p.series.external_id == name])
            else:
                # CDF refusing one series' points (4xx other than throttling) will refuse them again.
                self._fail(batch, f"insert failed: {describe_error(error)}", permanent=is_refusal(error))
        except CDF_ERRORS as error:
            if is_fatal(error):
                self.fatal = error
                return
            self._fail(batch, f"insert failed: {describe_error(error)}")
        else:
            self._credit(batch)

    def _credit(self, batch: list[_Piece]) -> None:
        with self._lock:
            for piece in batch:
                series = self._result.for_series(piece.series.external_id)
                series.points_written += len(piece)
                for week, count in piece.weeks.items():
                    series.points_by_week[week] += count
                self.points_written += len(piece)

    def _fail(self, batch: list[_Piece], message: str, *, permanent: bool = False) -> None:
        with self._lock:
            for name in sorted({p.series.external_id for p in batch}):
                self._result.fail(name, f"{name}: {message}", permanent=permanent)


def _read_units(tasks: Sequence[CopyTask], settings: CopySettings) -> list[tuple[Window, list[CatalogSeries]]]:
    """(source window chunk, series) read units: same-window series share reads, at most series_per_read each."""
    by_window: dict[Window, list[CatalogSeries]] = {}
    for task in tasks:
        by_window.setdefault(task.source_window, []).append(task.series)
    units = []
    for window, members in by_window.items():
        for chunk in _chunks(window, settings.read_chunk_ms):
            for start in range(0, len(members), settings.series_per_read):
                units.append((chunk, members[start : start + settings.series_per_read]))
    return units


def copy_windows(
    reader: SourceReader,
    inserter: Inserter,
    tasks: Sequence[CopyTask],
    *,
    offset_ms: int,
    instance_space: str,
    now: int,
    result: SyncResult,
    settings: CopySettings | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> SyncResult:
    """Copy every task's source window into the target, shifted; per-series outcomes go into `result`."""
    settings = settings or CopySettings()
    for task in tasks:
        record = result.for_series(task.series.external_id)
        span = record.source_window
        record.source_window = (
            task.source_window
            if span is None
            else Window(min(span.start, task.source_window.start), max(span.end, task.source_window.end))
        )
    units = _read_units(tasks, settings)
    writer = _Writer(inserter, result)
    in_flight = threading.BoundedSemaphore(settings.writers * 2)
    started = time.monotonic()
    timings: dict[str, float] = {}

    with ThreadPoolExecutor(max_workers=settings.writers, thread_name_prefix="oid-sync-insert") as pool:
        futures: list[Future[None]] = []

        def submit(batch: list[_Piece]) -> None:
            in_flight.acquire()  # blocks the reader while enough batches are queued: bounded memory
            future = pool.submit(writer.insert, batch)
            future.add_done_callback(lambda _: in_flight.release())
            futures.append(future)

        batcher = _Batcher(settings.points_per_insert, submit, settings.items_per_insert)
        for done, (window, members) in enumerate(units, start=1):
            if writer.fatal is not None:
                break
            read_started = time.monotonic()
            arrays = _read(reader, members, window, result)
            for series in members:
                array = arrays.get(series.external_id)
                if array is None or not len(array.timestamp):
                    continue
                result.for_series(series.external_id).points_read += len(array.timestamp)
                batcher.add(series, shifted(array, series, series.node_id(instance_space), offset_ms, now))
            elapsed = time.monotonic() - read_started
            for series in members:
                timings[series.external_id] = timings.get(series.external_id, 0.0) + elapsed / len(members)
            if on_progress is not None:
                on_progress(Progress(writer.points_written, done, len(units), time.monotonic() - started))
        batcher.flush()
        for future in futures:
            future.result()  # _Writer.insert records errors itself; this surfaces only real bugs
    if writer.fatal is not None:
        raise writer.fatal
    for name, seconds in timings.items():
        result.for_series(name).seconds += seconds
    if on_progress is not None:
        on_progress(Progress(writer.points_written, len(units), len(units), time.monotonic() - started))
    return result


def _read(
    reader: SourceReader, members: list[CatalogSeries], window: Window, result: SyncResult
) -> dict[str, DatapointsArray]:
    """One read for a batch of series; a series the source lacks, or a failed read, is that series' error."""
    names = [s.external_id for s in members]
    try:
        arrays = reader.read(names, window)
    except CDF_ERRORS as error:
        if is_fatal(error):
            raise
        message = f"read of source [{window.start}, {window.end}) failed: {describe_error(error)}"
        for name in names:
            result.fail(name, f"{name}: {message}", permanent=is_refusal(error))
        return {}
    found = {array.external_id: array for array in arrays if array.external_id}
    for name in names:
        if name not in found:
            result.fail(name, f"{name}: not found in the source", permanent=True)
    return found
