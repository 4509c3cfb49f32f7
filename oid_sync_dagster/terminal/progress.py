"""Progress of `oid-sync sync`, fed by the runs' own Dagster events.

Each run executes in-process on the persistent instance, and `DagsterInstance.add_event_listener(run_id, callback)`
hands the callback every event of the run right after the instance has stored it (the hook Dagster's external-step
machinery uses; it is called in the run's thread). So the bar shows what the event log, and so the UI, holds: a
(series, week) is done when its materialization (with `points_written`) or its `complete` check evaluation has
arrived. No polling thread and no extra event-log queries while the run writes.

The bar is rich's rather than tqdm's (both come with Dagster): `oid-sync status` needs rich for its table anyway,
and rich gives one live display for the three stages with columns of our own (points/s, ETA from our counts),
re-rendered a few times a second so rate and ETA move between events, while anything printed meanwhile goes above
it. On a non-terminal (a pipe, CI) nothing is redrawn: one plain line per finished (group, week) and per stage.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TaskID, TextColumn
from rich.text import Text

from oid_sync_dagster.integration.evaluations import COMPLETE_CHECK
from oid_sync_dagster.integration.records import FailureRecord, SeriesFailure, WeekRecord
from oid_sync_dagster.terminal.location import SeriesAsset

if TYPE_CHECKING:
    import dagster as dg

Unit = tuple["dg.AssetKey", str]  # (series asset, week partition key)


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


@dataclass
class RunEvents:
    """What one run reported that the terminal shows: step failures, and warning and error log lines (the engine
    logs each failed series as '<external id>: why', the instance's dagster.yaml capturing its `oid_sync` logger)."""

    step_failures: list[str] = field(default_factory=list)
    series_failures: list[SeriesFailure] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def observe(self, entry: dg.EventLogEntry) -> None:
        event = entry.dagster_event
        if event is None:
            if entry.level >= logging.WARNING and entry.user_message:
                self.messages.append(entry.user_message)
            return
        if event.is_step_failure:
            data = event.step_failure_data
            user = data.user_failure_data
            described = user.description if user else None
            self.step_failures.append(described or (data.error.message.strip() if data.error else event.message or ""))
            if user is not None:
                self.series_failures.extend(FailureRecord.from_metadata(user.metadata).failures)

    def about(self, external_id: str) -> str | None:
        """The first message naming this series: a log line, else its part of a step failure."""
        prefix = f"{external_id}:"
        for message in self.messages:
            if message.startswith(prefix):
                return message
        for failure in self.series_failures:  # without those log lines: the step failure's structured record
            if failure.series == external_id:
                return failure.line()
        return None


class HistoryTally:
    """The history run's progress over (series, week) units, from its materializations and `complete` checks.

    Counters are kept incrementally: the display thread reads them while the run's thread updates them.
    """

    def __init__(self, series: Sequence[SeriesAsset], weeks: Sequence[str]) -> None:
        self.series = {s.key: s for s in series}
        self.weeks = list(weeks)
        self.total = len(self.series) * len(self.weeks)
        self.group_size: dict[str, int] = defaultdict(int)
        for item in series:
            self.group_size[item.group] += 1
        self.points = 0
        self.done = 0
        self.weeks_done = 0
        self.series_done = 0
        self.materialized: dict[Unit, int] = {}
        self.checks: dict[Unit, tuple[bool, str]] = {}  # passed, description
        self._reported: set[Unit] = set()
        self._per_week: dict[str, int] = defaultdict(int)
        self._per_series: dict[dg.AssetKey, int] = defaultdict(int)
        self._per_group_week: dict[tuple[str, str], int] = defaultdict(int)
        self.started = time.monotonic()
        self.finished: float | None = None
        self._stepping = False
        self._lock = threading.Lock()

    def start(self) -> None:
        self.started = time.monotonic()

    def observe(self, entry: dg.EventLogEntry) -> tuple[str, str] | None:
        """Count one event; returns (group, week) when that event completed the group's week."""
        import dagster as dg

        event = entry.dagster_event
        if event is None:
            return None
        if event.event_type == dg.DagsterEventType.STEP_START and not self._stepping:
            # The rate counts from the first step: run setup and resource start-up (the local CDF) are not syncing.
            self.started, self._stepping = time.monotonic(), True
            return None
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.step_materialization_data.materialization
            unit = (materialization.asset_key, materialization.partition or "")
            if unit[0] not in self.series:
                return None
            points = WeekRecord.from_metadata(materialization.metadata).points_written
            with self._lock:
                # A step retry materializes the same (series, week) again: count its points once.
                self.points += points - self.materialized.get(unit, 0)
                self.materialized[unit] = points
            return self._report(unit)
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            unit = (evaluation.asset_key, evaluation.partition or "")  # type: ignore[union-attr]
            if evaluation.check_name != COMPLETE_CHECK or unit[0] not in self.series:  # type: ignore[union-attr]
                return None
            self.checks[unit] = (evaluation.passed, evaluation.description or "")  # type: ignore[union-attr]
            return self._report(unit)
        return None

    def _report(self, unit: Unit) -> tuple[str, str] | None:
        with self._lock:
            if unit in self._reported or unit[1] not in self.weeks:
                return None
            self._reported.add(unit)
            self.done += 1
            key, week = unit
            self._per_week[week] += 1
            self.weeks_done += self._per_week[week] == len(self.series)
            self._per_series[key] += 1
            self.series_done += self._per_series[key] == len(self.weeks)
            group = self.series[key].group
            self._per_group_week[group, week] += 1
            return (group, week) if self._per_group_week[group, week] == self.group_size[group] else None

    def group_week_points(self, group: str, week: str) -> int:
        return sum(p for (k, w), p in list(self.materialized.items()) if w == week and self.series[k].group == group)

    # ---------- derived ----------

    def complete(self) -> set[Unit]:
        """Materialized, and its completeness check passed (a materialization is only emitted once it has)."""
        return {unit for unit in self.materialized if self.checks.get(unit, (True, ""))[0]}

    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def points_per_s(self) -> float:
        elapsed = self.elapsed()
        return self.points / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        if not self.done:
            return None
        return self.elapsed() / self.done * (self.total - self.done)

    def counts(self) -> str:
        return (
            f"{self.done}/{self.total} series-weeks | weeks {self.weeks_done}/{len(self.weeks)} | "
            f"series {self.series_done}/{len(self.series)} | {self.points:,} points"
        )

    def progress_line(self) -> str:
        return f"{self.counts()} | {self.points_per_s():,.0f} points/s | ETA {clock(self.eta())}"

    def final_line(self) -> str:
        return (
            f"{self.counts()} | complete {len(self.complete())}/{self.total} | {self.points_per_s():,.0f} points/s"
            f" | {self.elapsed():.1f}s"
        )


class SyncView(Protocol):
    def __enter__(self) -> SyncView: ...
    def __exit__(self, *exc: object) -> None: ...
    def stage(self, name: str, text: str, tally: HistoryTally | None = None) -> None: ...
    def advance(self, tally: HistoryTally, completed: tuple[str, str] | None) -> None: ...
    def done(self, name: str, line: str, ok: bool) -> None: ...


class PlainView:
    """For pipes and CI: whole lines, never redrawn; one per finished (group, week) and one per stage."""

    def __init__(self, out: TextIO | None = None, *, owned: bool = False) -> None:
        self._out, self._owned = out, owned

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owned and self._out is not None:
            self._out.close()

    def _say(self, line: str) -> None:
        print(line, file=self._out or sys.stderr, flush=True)

    def stage(self, name: str, text: str, tally: HistoryTally | None = None) -> None:
        self._say(f"{name}: {text}")

    def advance(self, tally: HistoryTally, completed: tuple[str, str] | None) -> None:
        if completed is not None:
            group, week = completed
            points = tally.group_week_points(group, week)
            self._say(f"history: {week} {group} done ({points:,} points) | {tally.progress_line()}")

    def done(self, name: str, line: str, ok: bool) -> None:
        self._say(f"{name}: {line}")


class _MarkColumn(ProgressColumn):
    """A spinner while a stage runs, then ✓ or ✗."""

    def __init__(self) -> None:
        super().__init__()
        self._spinner = SpinnerColumn()

    def render(self, task: Task) -> Text:
        mark = task.fields.get("mark")
        if mark == "ok":
            return Text("✓", style="green")
        if mark == "failed":
            return Text("✗", style="bold red")
        return self._spinner.render(task)  # type: ignore[return-value]


class _InfoColumn(ProgressColumn):
    """The stage's text; while history runs, its live counts (rate and ETA change between events too)."""

    def render(self, task: Task) -> Text:
        tally: HistoryTally | None = task.fields.get("tally")
        if tally is not None and task.fields.get("mark") is None:  # still running
            return Text(tally.progress_line())
        return Text(str(task.fields.get("text", "")))


class RichView:
    """For a terminal: one live display of the three stages, history with a bar over (series, week) units."""

    def __init__(self, console: Console, *, owned: bool = False) -> None:
        self._console, self._owned = console, owned
        self._progress = Progress(
            _MarkColumn(),
            TextColumn("{task.description:<8}"),
            BarColumn(bar_width=28),
            _InfoColumn(),
            console=console,
            refresh_per_second=4,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichView:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()
        if self._owned:
            self._console.file.close()

    def stage(self, name: str, text: str, tally: HistoryTally | None = None) -> None:
        total = tally.total if tally is not None else None  # None: a pulsing bar until the stage is done
        self._tasks[name] = self._progress.add_task(name, total=total, text=text, tally=tally, mark=None)

    def advance(self, tally: HistoryTally, completed: tuple[str, str] | None) -> None:
        self._progress.update(self._tasks["history"], completed=tally.done)

    def done(self, name: str, line: str, ok: bool) -> None:
        task = self._tasks[name]
        tally: HistoryTally | None = next(t for t in self._progress.tasks if t.id == task).fields.get("tally")
        total, completed = (tally.total, tally.done) if tally is not None else (1, 1)
        self._progress.update(task, total=total, completed=completed, text=line, mark="ok" if ok else "failed")


def make_view(stream: TextIO | None = None) -> SyncView:
    """A live bar on a terminal, plain lines elsewhere (rich's own terminal detection, which honours TERM=dumb)."""
    out, owned = _own_handle(stream or sys.stderr)
    console = Console(file=out)
    if console.is_terminal and not console.is_dumb_terminal:
        return RichView(console, owned=owned)
    return PlainView(out, owned=owned)


def _own_handle(stream: TextIO) -> tuple[TextIO, bool]:
    """A handle of our own on the stream's terminal or pipe.

    While a step runs in-process, Dagster's compute-log capture points file descriptors 1 and 2 at the step's log
    files (and relays them with `tail -F`, polling once a second): through fd 2 the progress would stall during
    each step and end up in the step's stderr in the UI. A duplicate descriptor keeps pointing at the terminal.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # pytest's capture, io.StringIO: no descriptor to keep
        return stream, False
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return os.fdopen(os.dup(fd), "w", encoding=encoding, errors="replace", buffering=1), True
