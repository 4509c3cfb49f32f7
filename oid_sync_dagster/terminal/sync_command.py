"""`oid-sync sync`: the target catalog, the history of the N newest closed weeks for the selected series, and one
realtime pass, as three runs of the location's own jobs on the persistent instance (what the sensors would launch),
so the UI shows the same runs, materializations, partitions and checks afterwards."""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from oid_sync_dagster.integration.records import CatalogRecord, RealtimeRecord, Record
from oid_sync_dagster.terminal import EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE
from oid_sync_dagster.terminal.location import (
    Location,
    SeriesAsset,
    UsageError,
    groups_of,
    load_failure,
    load_location,
    one_local_cdf,
    quiet_dagster,
    use_dagster_home,
)
from oid_sync_dagster.terminal.progress import HistoryTally, RunEvents, SyncView, make_view

if TYPE_CHECKING:
    import dagster as dg

LAUNCHED_BY_TAG = "oid_sync/launched_by"
MAX_FAILED_SHOWN = 20
MAX_PROBLEM_CHARS = 600
# Dagster's console logger would print every event to stderr; the event log (and so the UI) keeps them all.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


R = TypeVar("R", bound=Record)


@dataclass
class Stage:
    """One run: its id, whether it succeeded, and what it reported."""

    run_id: str
    success: bool
    events: RunEvents
    result: dg.ExecuteInProcessResult | None = None
    seconds: float = 0.0

    def record(self, key: dg.AssetKey, kind: type[R]) -> R | None:
        """The typed record of the asset's materialization in this run, if it materialized."""
        if self.result is None:
            return None
        for event in self.result.get_asset_materialization_events():
            if event.asset_key == key:
                return kind.from_metadata(event.step_materialization_data.materialization.metadata)
        return None

    def failure(self) -> str:
        return "; ".join(self.events.step_failures) or "the run failed (see it in the Dagster UI)"


@dataclass
class Outcome:
    """Everything the summary says, and the exit code it implies."""

    weeks: list[str]
    series: list[SeriesAsset]
    pattern: str
    started: float = field(default_factory=time.monotonic)
    stages: dict[str, Stage] = field(default_factory=dict)
    tally: HistoryTally | None = None
    realtime_points: int = 0
    # external id -> why -> where ("realtime", or the weeks of history it applies to)
    failures: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # failures no single series owns

    def fail(self, external_id: str, where: str, why: str) -> None:
        self.failures.setdefault(external_id, {}).setdefault(why, []).append(where)

    @property
    def history_points(self) -> int:
        return self.tally.points if self.tally else 0

    @property
    def complete(self) -> int:
        return len(self.tally.complete()) if self.tally else 0

    @property
    def expected(self) -> int:
        return len(self.series) * len(self.weeks)

    @property
    def exit_code(self) -> int:
        incomplete = self.complete < self.expected or self.failures or self.problems
        return EXIT_INCOMPLETE if incomplete or not all(s.success for s in self.stages.values()) else EXIT_OK

    def summary(self, home: Path) -> list[str]:
        weeks = f"{self.weeks[0]}..{self.weeks[-1]}" if len(self.weeks) > 1 else (self.weeks[0] if self.weeks else "")
        points = self.history_points + self.realtime_points
        lines = [
            f"{time.monotonic() - self.started:.1f}s | weeks: {len(self.weeks)}{f' ({weeks})' if weeks else ''} | "
            f"TS: {len(self.series)} ({self.pattern}) | DPs: {points:,} (history {self.history_points:,}, "
            f"realtime {self.realtime_points:,}) | complete: {self.complete}/{self.expected} | "
            f"Errors: {len(self.failures)}"
        ]
        if self.failures:
            lines.append(f"Failed series ({len(self.failures)}):")
            for external_id, reasons in sorted(self.failures.items())[:MAX_FAILED_SHOWN]:
                lines += [f"  {external_id}  {_where(places)}: {why}" for why, places in reasons.items()]
            if len(self.failures) > MAX_FAILED_SHOWN:
                lines.append(f"  ... and {len(self.failures) - MAX_FAILED_SHOWN} more (see `oid-sync status`)")
        lines += [f"Problem: {_shortened(problem)}" for problem in self.problems]
        runs = ", ".join(f"{name} {stage.run_id}" for name, stage in self.stages.items())
        lines.append(f"Runs: {runs} (DAGSTER_HOME {home})")
        return lines


def _shortened(text: str) -> str:
    return text if len(text) <= MAX_PROBLEM_CHARS else text[: MAX_PROBLEM_CHARS - 1] + "…"


def _where(places: list[str]) -> str:
    """'realtime', 'history 2026-11-16, 2026-11-23' or 'history 12 weeks 2026-09-07..2026-11-23'."""
    weeks = sorted(p for p in places if p != "realtime")
    parts = []
    if weeks:
        listed = ", ".join(weeks) if len(weeks) <= 3 else f"{len(weeks)} weeks {weeks[0]}..{weeks[-1]}"
        parts.append(f"history {listed}")
    if "realtime" in places:
        parts.append("realtime")
    return " and ".join(parts)


def run(args: argparse.Namespace, *, view: SyncView | None = None) -> int:
    if args.weeks is not None and args.weeks < 0:
        return _usage(f"--weeks must be 0 or more, got {args.weeks}")
    try:
        home = use_dagster_home(args.dagster_home, create=True)
        with one_local_cdf(home):
            return _run(args, home, view)
    except UsageError as error:
        return _usage(str(error))
    except KeyboardInterrupt:
        print("oid-sync sync: interrupted; finished weeks stay recorded (see `oid-sync status`)", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace, home: Path, view: SyncView | None) -> int:
    try:
        location = load_location()
    except UsageError:
        raise
    except Exception as error:  # the source unreachable, say: not a usage error, and nothing ran
        print(f"oid-sync sync: could not load the code location: {load_failure(error)}", file=sys.stderr)
        return EXIT_INCOMPLETE
    outcome = Outcome(weeks=location.newest_weeks(args.weeks), series=location.select(args.series), pattern=args.series)
    with quiet_dagster(), view or make_view() as shown:
        _sync(location, outcome, shown)
    print("\n".join(outcome.summary(home)), flush=True)
    return outcome.exit_code


def _usage(message: str) -> int:
    print(f"oid-sync sync: {message}", file=sys.stderr)
    return EXIT_USAGE


def _sync(location: Location, outcome: Outcome, view: SyncView) -> None:
    import dagster as dg

    names = location.names
    catalog_key, realtime_key = names.target_catalog, names.realtime
    realtime_job = location.defs.resolve_job_def(names.job("realtime"))

    with dg.DagsterInstance.get() as instance:
        n_series = len(location.series)
        view.stage("catalog", f"upserting {n_series} target nodes")
        catalog = _execute(instance, realtime_job, [catalog_key], kind=names.kind("catalog"))
        outcome.stages["catalog"] = catalog
        view.done("catalog", _catalog_line(catalog, catalog_key), catalog.success)
        if not catalog.success:  # without nodes nothing can be written; the source or target is likely down
            outcome.problems.append(f"catalog: {catalog.failure()}")
            return

        if outcome.weeks:
            tally = outcome.tally = HistoryTally(outcome.series, outcome.weeks)
            groups = groups_of(outcome.series)
            weeks = f"{len(outcome.weeks)} week{'s' if len(outcome.weeks) > 1 else ''}"
            view.stage("history", f"{weeks} x {len(outcome.series)} series in {len(groups)} groups", tally)

            def on_history(entry: dg.EventLogEntry) -> None:
                view.advance(tally, tally.observe(entry))

            tally.start()
            history = _execute(
                instance,
                location.defs.resolve_job_def(names.job("history")),
                [s.key for s in outcome.series],
                kind=names.kind("history"),
                weeks=outcome.weeks,
                on_event=on_history,
            )
            tally.finished = time.monotonic()
            outcome.stages["history"] = history
            _history_failures(outcome, tally, history)
            view.done("history", tally.final_line(), history.success and len(tally.complete()) == tally.total)

        view.stage("realtime", f"the live edge of {n_series} series")
        realtime = _execute(instance, realtime_job, [realtime_key], kind=names.kind("realtime"))
        outcome.stages["realtime"] = realtime
        record = realtime.record(realtime_key, RealtimeRecord)
        outcome.realtime_points = record.points_written if record else 0
        failed = record.failed_series if record else 0
        _realtime_failures(outcome, location, realtime, failed)
        view.done("realtime", _realtime_line(realtime, record), realtime.success and not failed)


def _execute(
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    selection: Sequence[dg.AssetKey],
    *,
    kind: str,
    weeks: Sequence[str] = (),
    on_event: Callable[[dg.EventLogEntry], None] | None = None,
) -> Stage:
    """One run of the job, in-process on the instance, in a worker thread so that Ctrl-C stops it cleanly.

    Dagster handles SIGINT itself only for runs on the main thread, and in-process it acts on it only where it lands
    in op code (one that arrives while an event is stored is recorded and then dropped at the end of the run). Off
    the main thread Dagster leaves signals alone: Ctrl-C reaches this function, which asks the run to stop; the
    listener then raises Dagster's own DagsterExecutionInterruptedError in the run's thread at its next event, and
    Dagster fails the step as interrupted and records the run's end, as it does for an interrupt it caught itself.
    """
    import dagster as dg

    from oid_sync_dagster.integration.liveness import process_tags
    from oid_sync_dagster.integration.sensors import KIND_TAG

    run_id = str(uuid.uuid4())  # known before the run starts, so the listener is in place for its first event
    events = RunEvents()
    stop = threading.Event()
    outcome: dict[str, object] = {}

    def listener(entry: dg.EventLogEntry) -> None:
        try:
            events.observe(entry)
            if on_event is not None:
                on_event(entry)
        except Exception as error:  # a display problem must never fail the run
            events.messages.append(f"progress display: {error!r}")
        if stop.is_set() and entry.step_key is not None and threading.current_thread() is worker:
            raise dg.DagsterExecutionInterruptedError()  # inside a step: Dagster records it as interrupted

    instance.add_event_listener(run_id, listener)
    tags = {
        KIND_TAG: kind,  # the sensors' own tag: they wait while a run of their kind is in flight
        LAUNCHED_BY_TAG: "oid-sync sync",
        # The command reports failures and exits 1; an in-process run has no code-location origin the daemon
        # could re-execute, so Dagster's run retries (on in the shipped dagster.yaml) would only mislabel it.
        "dagster/max_retries": "0",
        **process_tags(),  # if this process dies, the sensors and `oid-sync status` see the run is abandoned
    }
    partition_key = None
    if len(weeks) == 1:
        partition_key = weeks[0]
    elif weeks:  # one range run, as a UI backfill of the range makes (the shards' BackfillPolicy.single_run)
        tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"] = weeks[0], weeks[-1]

    def work() -> None:
        try:
            outcome["result"] = job.execute_in_process(
                run_config=QUIET_RUN_CONFIG,
                instance=instance,
                partition_key=partition_key,
                asset_selection=list(selection),
                tags=tags,
                run_id=run_id,
                raise_on_error=False,
            )
        except BaseException as error:
            outcome["error"] = error

    started = time.monotonic()
    worker = threading.Thread(target=work, name=f"oid-sync-{kind.replace('/', '-')}", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.25)  # a bounded wait, so Ctrl-C is delivered here promptly
    except KeyboardInterrupt:
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:  # Dagster's termination flow: canceling, then canceled
            instance.report_run_canceling(run, message="Ctrl-C in oid-sync sync: stopping at the run's next event")
        stop.set()
        try:
            worker.join()  # until the run's next event; a second Ctrl-C gives up waiting
        finally:
            run = instance.get_run_by_id(run_id)
            if run is not None and not run.is_finished:  # never started, or still going: not "started" forever
                instance.report_run_canceled(run, message="interrupted (Ctrl-C) in oid-sync sync")
        raise
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    result: dg.ExecuteInProcessResult = outcome["result"]  # type: ignore[assignment]
    return Stage(run_id, result.success, events, result, time.monotonic() - started)


def _catalog_line(stage: Stage, key: dg.AssetKey) -> str:
    if not stage.success:
        return f"failed: {stage.failure()}"
    m = stage.record(key, CatalogRecord)
    if m is None:
        return f"no catalog materialization | {stage.seconds:.1f}s"
    line = f"{m.series} series | {m.created} created, {m.updated} updated, {m.unchanged} unchanged"
    if m.conflicts + m.missing:
        line += f" | never written into: {m.conflicts} of another type, {m.missing} missing"
    return f"{line} | {stage.seconds:.1f}s"


def _realtime_line(stage: Stage, record: RealtimeRecord | None) -> str:
    if not stage.success or record is None:
        return f"failed: {stage.failure()}"
    lag = "unknown" if record.lag_s is None else f"{record.lag_s:.0f}s"
    return (
        f"{record.series} series | {record.points_written:,} points | lag {lag} | "
        f"{record.failed_series} failed series | {stage.seconds:.1f}s"
    )


def _history_failures(outcome: Outcome, tally: HistoryTally, stage: Stage) -> None:
    complete = tally.complete()
    attributed = False
    for item in outcome.series:
        for week in outcome.weeks:
            unit = (item.key, week)
            if unit in complete:
                continue
            check = tally.checks.get(unit)
            reason = stage.events.about(item.external_id)
            if reason is None and check is not None:
                reason = f"completeness check failed: {check[1]}"
            attributed |= reason is not None
            outcome.fail(item.external_id, week, reason or "no result")
    if not stage.success and not attributed:  # e.g. "not final yet": about weeks, not series
        outcome.problems.append(f"history: {stage.failure()}")


def _realtime_failures(outcome: Outcome, location: Location, stage: Stage, failed: int) -> None:
    if not stage.success:
        outcome.problems.append(f"realtime: {stage.failure()}")
        return
    if failed == 0:
        return  # messages from an attempt that a step retry healed are no failures
    named = 0
    for item in location.series:  # realtime covers every series, not only the selected ones
        if (reason := stage.events.about(item.external_id)) is not None:
            named += 1
            outcome.fail(item.external_id, "realtime", reason)
    if failed > named:
        outcome.problems.append(f"realtime: {failed - named} more failed series (see run {stage.run_id})")
