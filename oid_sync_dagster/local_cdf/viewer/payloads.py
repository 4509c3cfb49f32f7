"""The JSON the charts load and poll: one series with its source overlay, or the plant overview's panels.

A first load picks raw points or a bucket size for the window (data.choose_mode); a poll (`since`, `granularity`)
keeps that choice and answers only from `from` on, so the page replaces its tail and extends the chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oid_sync_dagster.local_cdf.projects import Project, ProjectRegistry
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster.local_cdf.store.records import TimeSeriesRecord
from oid_sync_dagster.local_cdf.viewer import data, params
from oid_sync_dagster.local_cdf.viewer.params import ViewerError


@dataclass(frozen=True)
class SeriesRequest:
    project: Project
    record: TimeSeriesRecord
    source: TimeSeriesRecord | None
    window: str
    end: int | None
    offset_ms: int


def series_request(registry: ProjectRegistry, query: Mapping[str, str]) -> SeriesRequest:
    """Everything a series page or its data names, validated (the page checks before it renders; `window`
    then checks that an explicit end still meets the data)."""
    project = data.project_of(registry, params.required(query, "project"))
    record = data.find_series(project, params.required(query, "xid"), query.get("space") or None)
    return SeriesRequest(
        project=project,
        record=record,
        source=data.source_of(registry, project, record),
        window=params.window(query),
        end=params.timestamp(query, "end"),
        offset_ms=params.offset_ms(query),
    )


def overview_request(registry: ProjectRegistry, query: Mapping[str, str]) -> tuple[Project, list[Any], str, int | None]:
    project = data.project_of(registry, params.required(query, "project"))
    chosen = data.overview_series(project)
    if not chosen:
        raise ViewerError(
            404,
            f"Project {project.name!r} has no series for the overview: none whose tag names a flow (FT, FIC), "
            "pressure (PT), temperature (TT), vibration (YA, YT) or SEQ-STOPPED.",
        )
    return project, chosen, params.window(query), params.timestamp(query, "end")


def extent(project: Project, records: list[TimeSeriesRecord]) -> tuple[int | None, int | None]:
    """The oldest and the newest point over `records`."""
    firsts = [t for r in records if (t := data.oldest(project, r)) is not None]
    lasts = [t for r in records if (t := data.newest(project, r)) is not None]
    return (min(firsts) if firsts else None, max(lasts) if lasts else None)


def _panels(
    window: data.Window,
    groups: list[tuple[dict[str, Any], list[tuple[str, Project, TimeSeriesRecord, int]]]],
    query: Mapping[str, str],
) -> tuple[str, list[dict[str, Any]]]:
    since = params.timestamp(query, "since")
    mode = params.granularity(query) if since is not None else None
    start = window.start
    if mode is not None:  # a poll: read only the tail (from the bucket that holds the page's newest point)
        start = data.cut_of(mode, since, window.start)
        # A first load never draws more than MAX_BUCKETS buckets, so neither does a poll: one that would (a crafted
        # granularity, or the whole-history window, which grows with the clock) is answered as a first load, and the
        # page replaces its chart when the mode changes.
        if mode != "raw" and -(-(window.end - start) // data.bucket_ms(mode)) > data.MAX_BUCKETS + 1:
            mode, since, start = None, None, window.start
    read = [
        (meta, [data.read_trace(label, p, r, start, window.end, shift) for label, p, r, shift in traces])
        for meta, traces in groups
    ]
    if mode is None:
        mode = data.choose_mode([t for _, traces in read for t in traces], window.end - window.start)
    cut = data.cut_of(mode, since, window.start)
    panels = []
    for meta, traces in read:
        encoded = [data.encode_trace(t, mode, cut if not t.record.is_string else max(window.start, (since or -1) + 1))
                   for t in traces]  # fmt: skip
        panels.append({**meta, "traces": encoded})
    return mode, panels


def _series_meta(project: Project, record: TimeSeriesRecord, role: str) -> dict[str, Any]:
    xid, space = data.series_key(record)
    return {
        "role": role,
        "project": project.name,
        "xid": xid,
        "space": space,
        "name": record.name or xid,
        "unit": record.unit or "",
        "isString": record.is_string,
        "newest": data.newest(project, record),
    }


def series_window(request: SeriesRequest, settings: LocalCDFSettings) -> tuple[int, data.Window]:
    now = data.project_now(request.project, settings)
    return now, data.resolve_window(request.window, request.end, now, extent(request.project, [request.record]))


def overview_window(
    project: Project, chosen: list[Any], window_name: str, end: int | None, settings: LocalCDFSettings
) -> tuple[int, data.Window]:
    now = data.project_now(project, settings)
    return now, data.resolve_window(window_name, end, now, extent(project, [r for _, r in chosen]))


def series_payload(registry: ProjectRegistry, settings: LocalCDFSettings, query: Mapping[str, str]) -> dict[str, Any]:
    request = series_request(registry, query)
    project, record = request.project, request.record
    now, window = series_window(request, settings)
    traces = [(f"{project.name}", project, record, 0)]
    if request.source is not None:
        label = f"{registry.source.name}, shifted by {query.get('offset') or params.DEFAULT_OFFSET}"
        traces.append((label, registry.source, request.source, request.offset_ms))
    mode, panels = _panels(window, [(_series_meta(project, record, "series"), traces)], query)
    return _envelope(project, window, now, mode, panels, request.offset_ms)


def overview_payload(registry: ProjectRegistry, settings: LocalCDFSettings, query: Mapping[str, str]) -> dict[str, Any]:
    project, chosen, window_name, end = overview_request(registry, query)
    now, window = overview_window(project, chosen, window_name, end, settings)
    groups = [(_series_meta(project, record, role), [(role, project, record, 0)]) for role, record in chosen]
    mode, panels = _panels(window, groups, query)
    return _envelope(project, window, now, mode, panels, 0)


def _envelope(
    project: Project, window: data.Window, now: int, mode: str, panels: list[dict[str, Any]], offset_ms: int
) -> dict[str, Any]:
    return {
        "project": project.name,
        "window": {"name": window.name, "start": window.start, "end": window.end, "live": window.live},
        "now": now,
        "mode": mode,
        "offsetMs": offset_ms,
        "panels": panels,
    }
