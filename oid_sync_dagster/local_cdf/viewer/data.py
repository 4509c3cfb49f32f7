"""What the viewer draws, read straight from the projects through the code the API routes use (no HTTP to itself).

A window is sent as raw points while it holds fewer than MAX_RAW_POINTS, else as CDF aggregates (min, max, average
and the status counts per bucket, computed by the local CDF's own aggregates module) in at most MAX_BUCKETS
buckets: a 12-week history of a one-point-a-minute series is a few hundred buckets, not 120,000 points.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from oid_sync_dagster.local_cdf import aggregates as agg
from oid_sync_dagster.local_cdf import status as st
from oid_sync_dagster.local_cdf.points import Points
from oid_sync_dagster.local_cdf.projects import Project, ProjectRegistry, SourceProject, TargetProject
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.local_cdf.store import datapoints as dp_store
from oid_sync_dagster.local_cdf.store.records import TimeSeriesRecord
from oid_sync_dagster.local_cdf.viewer.params import BUCKET_SIZES, DAY_MS, HOUR_MS, WINDOWS, ViewerError

MAX_RAW_POINTS = 5000
MAX_BUCKETS = 1000
AGGREGATES = ["average", "min", "max", "count", "countGood", "countUncertain", "countBad"]
_MIN_TS, _MAX_TS = -2_208_988_800_000, 4_102_444_800_000
# The plant overview: the compressor's key signals, found by the ISA instrument letters in their PI tags.
OVERVIEW_ROLES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("flow", re.compile(r"[-_](FT|FIC)[-_]")),
    ("pressure", re.compile(r"[-_]PT[-_]")),
    ("temperature", re.compile(r"[-_]TT[-_]")),
    ("vibration", re.compile(r"[-_](YA|YT)[-_]|[-_]VIB[-_]")),
    ("stopped", re.compile(r"SEQ-STOPPED")),
)


# ---------- projects and series ----------


def project_of(registry: ProjectRegistry, name: str) -> Project:
    """A project the server has; never creates one (the registry would open a new database for any name)."""
    known = registry.known_projects()
    if name not in known:
        raise ViewerError(404, f"Unknown project={name!r}: this local CDF has {', '.join(known)}.")
    return registry.get(name)


def series_key(record: TimeSeriesRecord) -> tuple[str, str | None]:
    """(xid, space) as viewer URLs name a series: its node's id, else its external id."""
    if record.instance_id is not None:
        return record.instance_id[1], record.instance_id[0]
    return record.external_id or str(record.id), None


def find_series(project: Project, xid: str, space: str | None) -> TimeSeriesRecord:
    """By external id, or by node (`space`, `xid`); without a space, a node whose external id is `xid` will do."""
    record = project.lookup({"instanceId": {"space": space, "externalId": xid}} if space else {"externalId": xid})
    if record is None and space is None and isinstance(project, TargetProject):
        nodes = [r for r in project.list_series() if r.instance_id is not None and r.instance_id[1] == xid]
        record = nodes[0] if len(nodes) == 1 else None
    if record is None:
        where = f" in space {space!r}" if space else ""
        raise ViewerError(404, f"Unknown xid={xid!r}: project {project.name!r} has no such series{where}.")
    return record


def source_of(registry: ProjectRegistry, project: Project, record: TimeSeriesRecord) -> TimeSeriesRecord | None:
    """The source series a target series mirrors: the same external id (the node's) in the source project."""
    if isinstance(project, SourceProject):
        return None
    return registry.source.lookup({"externalId": series_key(record)[0]})


def project_now(project: Project, settings: LocalCDFSettings) -> int:
    """Where a live window ends: now for a target, the published edge for the source (which lags a week)."""
    if isinstance(project, SourceProject):
        return project.published_edge() + 1
    return settings.now_ms() + 1


def newest(project: Project, record: TimeSeriesRecord) -> int | None:
    if isinstance(project, SourceProject):
        # A short span first: a whole day per series makes an index of the 363 source series slow.
        edge = project.published_edge() + 1
        recent = project.read_points(record, edge - 6 * HOUR_MS, edge, None)
        if len(recent):
            return int(recent.timestamps[-1])
    found = project.read_points_before(record, _MAX_TS, 1)
    return int(found.timestamps[-1]) if len(found) else None


def oldest(project: Project, record: TimeSeriesRecord) -> int | None:
    found = project.read_points(record, _MIN_TS, _MAX_TS, 1)
    return int(found.timestamps[0]) if len(found) else None


def summaries(project: Project, settings: LocalCDFSettings) -> list[dict[str, Any]]:
    """The index's rows: name, unit, type, point count (None for the synthetic source: made on demand) and newest."""
    counts = dp_store.point_counts(project.db.connection()) if isinstance(project, TargetProject) else None
    now = settings.now_ms()
    rows = []
    for record in sorted(project.list_series(), key=lambda r: (r.name or "", r.id)):
        latest = newest(project, record)
        xid, space = series_key(record)
        rows.append({
            "xid": xid,
            "space": space,
            "name": record.name or xid,
            "unit": record.unit or "",
            "type": record.type,
            "count": None if counts is None else counts.get(record.id, 0),
            "newest": latest,
            "lag_ms": None if latest is None else now - latest,
        })  # fmt: skip
    return rows


def overview_series(project: Project) -> list[tuple[str, TimeSeriesRecord]]:
    """One series per overview role (the first by name, one with a unit if any): what the plant overview draws."""
    records = sorted(project.list_series(), key=lambda r: (r.name or "", r.id))
    chosen = []
    for role, pattern in OVERVIEW_ROLES:
        matches = [r for r in records if not r.is_string and pattern.search(r.name or "")]
        if matches:
            chosen.append((role, next((r for r in matches if r.unit), matches[0])))
    return chosen


# ---------- windows ----------


@dataclass(frozen=True)
class Window:
    name: str
    start: int
    end: int
    live: bool  # ends at now and moves with it (no explicit end)


def resolve_window(name: str, end: int | None, now: int, extent: tuple[int | None, int | None]) -> Window:
    """[start, end) for a window name: ending at `end`, else at now (or the newest point, if that is later)."""
    first, last = extent
    live = end is None
    if end is None:
        end = max(now, last + 1) if last is not None else now
    width = WINDOWS[name]
    start = (first if first is not None else end - DAY_MS) if width is None else end - width
    if start >= end:
        start = end - DAY_MS
    if not live and first is not None and last is not None and (end <= first or start > last):
        raise ViewerError(
            404,
            f"No data in the window ending at end={end!r}: the points span {first} to {last} "
            f"({_iso(first)} to {_iso(last)}).",
        )
    return Window(name, start, end, live)


def _iso(ms: int) -> str:
    return np.datetime64(ms, "ms").astype(str) + "Z"


def pick_granularity(width_ms: int) -> tuple[str, int]:
    """The finest bucket size that cuts the window into at most MAX_BUCKETS buckets."""
    for text in BUCKET_SIZES:
        if width_ms / (bucket := bucket_ms(text)) <= MAX_BUCKETS:
            return text, bucket
    return BUCKET_SIZES[-1], bucket_ms(BUCKET_SIZES[-1])


def bucket_ms(text: str) -> int:
    """The width in ms of one of BUCKET_SIZES."""
    return _bucket_ms(agg.Granularity.parse(text))


def _bucket_ms(granularity: agg.Granularity) -> int:
    return int(granularity.bucket_start(0, np.array([1]))[0])


# ---------- traces ----------


@dataclass
class Trace:
    """One line of a chart: a series' points in [start, end), shifted by `shift` ms (the source overlay)."""

    label: str
    record: TimeSeriesRecord
    points: Points
    shift: int = 0


def read_trace(label: str, project: Project, record: TimeSeriesRecord, start: int, end: int, shift: int = 0) -> Trace:
    points = project.read_points(record, start - shift, end - shift, None)
    if shift:
        points = Points(points.timestamps + shift, points.values, points.status, points.nulls)
    return Trace(label, record, points, shift)


def choose_mode(traces: list[Trace], width_ms: int) -> str:
    """'raw' when every numeric trace holds few enough points, else a bucket size for all (one shared look)."""
    if all(len(t.points) < MAX_RAW_POINTS for t in traces if not t.record.is_string):
        return "raw"
    return pick_granularity(width_ms)[0]


def cut_of(mode: str, since: int | None, start: int) -> int:
    """Where a poll's answer starts: right after the newest point the page has, or at the bucket holding it."""
    if since is None:
        return start
    if mode == "raw":
        return max(start, since + 1)
    bucket = bucket_ms(mode)
    return max(since // bucket * bucket, start // bucket * bucket)


def encode_trace(trace: Trace, mode: str, cut: int) -> dict[str, Any]:
    points = trace.points
    keep = int(np.searchsorted(points.timestamps, cut))
    points = points.take(slice(keep, None))
    base: dict[str, Any] = {"label": trace.label, "isString": trace.record.is_string, "from": cut}
    if trace.record.is_string:
        return {**base, "mode": "states", **_states(points)}
    if mode == "raw":
        return {**base, "mode": "raw", **_raw(points)}
    return {**base, "mode": "aggregate", "granularity": mode, **_aggregate(points, mode, cut)}


def _floats(values: np.ndarray) -> list[float | None]:
    """JSON numbers; NaN and infinities (allowed on Bad points) become null, a gap in the line."""
    out: list[float | None] = values.tolist()
    if not np.isfinite(values).all():
        out = [v if math.isfinite(v) else None for v in out]  # type: ignore[arg-type]
    return out


def _raw(points: Points) -> dict[str, Any]:
    values = _floats(points.values.astype(np.float64))
    if points.nulls is not None and points.nulls.any():
        values = [None if null else v for v, null in zip(values, points.nulls.tolist(), strict=True)]
    return {"t": points.timestamps.tolist(), "v": values, "status": points.status.tolist()}


def _states(points: Points) -> dict[str, Any]:
    """A string series as a state lane: every point while few, else only the changes (and every non-Good point)."""
    thinned = False
    if len(points) >= MAX_RAW_POINTS:
        changed = np.ones(len(points), bool)
        changed[1:] = points.values[1:] != points.values[:-1]
        points = points.take(changed | (points.status != 0))
        thinned = True
        if len(points) > MAX_RAW_POINTS:
            points = points.take(slice(len(points) - MAX_RAW_POINTS, None))
    values = points.values.tolist()
    if points.nulls is not None:
        values = [None if null else v for v, null in zip(values, points.nulls.tolist(), strict=True)]
    return {"t": points.timestamps.tolist(), "v": values, "status": points.status.tolist(), "thinned": thinned}


def _aggregate(points: Points, granularity: str, cut: int) -> dict[str, Any]:
    """CDF's aggregates per bucket, as the datapoints endpoint computes them (Uncertain treated as bad)."""
    size = agg.Granularity.parse(granularity)
    bucket = _bucket_ms(size)
    status = points.status
    bad, uncertain = st.is_bad(status), st.is_uncertain(status)
    good = ~(bad | uncertain)
    value_mask = good if points.nulls is None else good & ~points.nulls
    starts, values = agg.compute(
        size,
        cut // bucket * bucket,
        points.timestamps,
        points.values,
        value_mask,
        {"countGood": good, "countUncertain": uncertain, "countBad": bad},
        AGGREGATES,
    )
    out: dict[str, Any] = {"t": starts.tolist()}
    for name, column in values.items():
        out[name] = column.astype(np.int64).tolist() if name.startswith("count") else _floats(column)
    return out
