"""`oid-sync status`: completeness per group and week, and the live edge's lag, read from the persistent instance
(the record the UI shows). A (series, week) is complete when its partition is materialized and its latest `complete`
check did not fail: the same rule the history sensor uses to decide what to sync again."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from oid_sync_dagster.sync.engine import wall_clock_ms
from oid_sync_dagster.terminal import EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE
from oid_sync_dagster.terminal.location import (
    SeriesAsset,
    UsageError,
    groups_of,
    load_failure,
    load_location,
    quiet_dagster,
    use_dagster_home,
)

if TYPE_CHECKING:
    import dagster as dg

    from oid_sync_dagster.integration.keys import Names

ALL = "all"
NOTHING = "—"
DONE = "✓"


@dataclass(frozen=True)
class Cell:
    complete: int
    total: int
    recorded: bool  # any materialization or check of the column's series in the week

    def text(self) -> str:
        if not self.recorded:
            return NOTHING
        return f"{self.complete}/{self.total}" + (f" {DONE}" if self.complete == self.total else "")


@dataclass
class LiveEdge:
    lag_s: float | None
    at: float  # unix seconds of the materialization
    points: int
    failed_series: int
    run_id: str | None

    def line(self, now: float) -> str:
        age = max(0.0, now - self.at)
        at = datetime.fromtimestamp(self.at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        lag = "unknown" if self.lag_s is None else duration(self.lag_s)
        now_lag = "" if self.lag_s is None else f"; about {duration(self.lag_s + age)} now"
        return (
            f"Live edge: lag {lag} at the last realtime pass ({at}, {duration(age)} ago){now_lag}; "
            f"{self.points:,} points, {self.failed_series} failed series (run {(self.run_id or '?')[:8]})"
        )


@dataclass
class Report:
    groups: list[str]
    weeks: list[str]  # newest first
    rows: dict[str, dict[str, Cell]] = field(default_factory=dict)  # week -> column -> cell
    live: LiveEdge | None = None
    anything: bool = False  # the instance has any record of the location at all

    @property
    def columns(self) -> list[str]:
        return [*self.groups, ALL]

    @property
    def complete(self) -> bool:
        cells = [row[ALL] for row in self.rows.values()]
        history = all(c.complete == c.total for c in cells)
        return history and self.live is not None and not self.live.failed_series

    def table_rows(self) -> list[list[str]]:
        return [[week, *(self.rows[week][c].text() for c in self.columns)] for week in self.weeks]


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600:02d}h"


def read_report(
    instance: dg.DagsterInstance, series: Sequence[SeriesAsset], weeks: Sequence[str], names: Names | None = None
) -> Report:
    import dagster as dg

    from oid_sync_dagster.integration.evaluations import CHECK_FAILED, COMPLETE_CHECK, check_statuses
    from oid_sync_dagster.integration.keys import DEFAULT_NAMES
    from oid_sync_dagster.integration.records import RealtimeRecord

    names = names or DEFAULT_NAMES
    report = Report(groups=groups_of(series), weeks=list(reversed(weeks)))
    materialized = {s.key: instance.get_materialized_partitions(s.key) for s in series}
    check_keys = [dg.AssetCheckKey(s.key, COMPLETE_CHECK) for s in series]
    checks = check_statuses(instance, check_keys, list(weeks))
    for week in report.weeks:
        complete: dict[str, int] = dict.fromkeys(report.columns, 0)
        total: dict[str, int] = dict.fromkeys(report.columns, 0)
        recorded: dict[str, bool] = dict.fromkeys(report.columns, False)
        for item in series:
            done = week in materialized[item.key]
            status = checks.get((item.key, week))
            ok = done and status != CHECK_FAILED
            for column in (item.group, ALL):
                total[column] += 1
                complete[column] += ok
                recorded[column] |= done or status is not None
        report.rows[week] = {c: Cell(complete[c], total[c], recorded[c]) for c in report.columns}
    report.anything = any(materialized.values()) or bool(checks)
    entry = instance.get_latest_materialization_event(names.realtime)
    materialization = entry.asset_materialization if entry is not None else None
    # None too for a pass recorded before this version's records: the next pass shows.
    record = RealtimeRecord.read(materialization.metadata) if materialization is not None else None
    if entry is not None and record is not None:
        report.live = LiveEdge(
            lag_s=record.lag_s,
            at=entry.timestamp,
            points=record.points_written,
            failed_series=record.failed_series,
            run_id=entry.run_id,
        )
    catalog = instance.get_latest_materialization_event(names.target_catalog)
    report.anything |= report.live is not None or catalog is not None
    return report


def render_plain(report: Report, header: str, now: float) -> list[str]:
    rows = [["week", *report.columns], *report.table_rows()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [header]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.append(report.live.line(now) if report.live else "Live edge: no realtime pass recorded yet")
    return lines


def render_rich(report: Report, header: str, now: float, console: Console) -> None:
    console.print(Text(header), highlight=False)
    table = Table(show_edge=False, header_style="bold")
    table.add_column("week", no_wrap=True)
    for column in report.columns:
        table.add_column(column, justify="right", no_wrap=True)
    for week in report.weeks:
        cells = []
        for column in report.columns:
            cell = report.rows[week][column]
            style = "dim" if not cell.recorded else "green" if cell.complete == cell.total else "yellow"
            cells.append(Text(cell.text(), style=style))
        table.add_row(Text(week), *cells)
    console.print(table)
    live = report.live.line(now) if report.live else "Live edge: no realtime pass recorded yet"
    console.print(Text(live), highlight=False)


def run(args: argparse.Namespace, *, clock: Callable[[], int] = wall_clock_ms) -> int:
    """clock (ms) is read once: the weeks shown and the live edge's age are of one instant (tests set it)."""
    now_ms = clock()
    if args.weeks is not None and args.weeks < 0:
        return _usage(f"--weeks must be 0 or more, got {args.weeks}")
    try:
        home = use_dagster_home(args.dagster_home, create=False)
    except FileNotFoundError as missing:
        print(
            f"oid-sync status: no Dagster instance at {missing.args[0]} yet: run `oid-sync sync` or `oid-sync dev`",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        location = load_location()
        series = location.select(args.series)
        weeks = location.newest_weeks(args.weeks, now_ms=now_ms)
    except UsageError as error:
        return _usage(str(error))
    except Exception as error:
        print(f"oid-sync status: could not load the code location: {load_failure(error)}", file=sys.stderr)
        return EXIT_INCOMPLETE

    import dagster as dg

    from oid_sync_dagster.integration.liveness import abandoned_runs, describe

    with quiet_dagster(), dg.DagsterInstance.get() as instance:
        report = read_report(instance, series, weeks, location.names)
        abandoned = [f"Abandoned: {describe(run)}; the sensors mark it failed" for run in abandoned_runs(instance)]
    if not report.anything:
        print(
            f"oid-sync status: nothing recorded yet in {home}: run `oid-sync sync` or `oid-sync dev`", file=sys.stderr
        )
        return EXIT_USAGE
    selected = f" matching {args.series!r}" if args.series != "*" else ""
    header = f"{len(series)} series{selected}: complete / series per group and week (DAGSTER_HOME {home})"
    now = now_ms / 1000
    console = Console(file=sys.stdout)
    if console.is_terminal and not console.is_dumb_terminal:
        render_rich(report, header, now, console)
    else:
        print("\n".join(render_plain(report, header, now)), flush=True)
    if abandoned:  # in flight in the record, but nothing runs them: the live edge may be stuck behind them
        print("\n".join(abandoned), flush=True)
    return EXIT_OK if report.complete and not abandoned else EXIT_INCOMPLETE


def _usage(message: str) -> int:
    print(f"oid-sync status: {message}", file=sys.stderr)
    return EXIT_USAGE
