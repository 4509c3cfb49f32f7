"""What the assets do, as plain functions over a running engine: the resource's `sync_weeks` and `sync_realtime`
methods call them, so the built-in assets and a user's own (`@oid_sync_assets`) run the same code."""

# No `from __future__ import annotations`: Dagster inspects annotations of what it wraps at runtime.

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import dagster as dg

from oid_sync_dagster.integration.evaluations import (
    COMPLETE_CHECK,
    RunMaterializations,
    completeness_evaluation,
    failure_lines,
    realtime_record,
    series_failures,
    week_materialization,
)
from oid_sync_dagster.integration.keys import FRESH_CHECK, FUTURE_CHECK
from oid_sync_dagster.integration.partitions import key_of, week_of
from oid_sync_dagster.integration.records import FailureRecord, SeriesFailure
from oid_sync_dagster.sync import state as sync_state
from oid_sync_dagster.sync.copy import describe_error, is_fatal, is_refusal
from oid_sync_dagster.sync.engine import SyncEngine
from oid_sync_dagster.sync.model import CDF_ERRORS, CatalogSeries, SyncResult
from oid_sync_dagster.sync.report import RunReportError
from oid_sync_dagster.sync.verify import COMPLETE, WindowVerification
from oid_sync_dagster.sync.windows import week_is_final


@contextmanager
def refusals_fail_at_once() -> Iterator[None]:
    """Credentials the IdP or CDF refuses, or a request CDF refuses (4xx), fail the step without retries: the
    answer would be the same in a minute. Anything else propagates to STEP_RETRY."""
    try:
        yield
    except CDF_ERRORS as error:
        if is_fatal(error) or is_refusal(error):
            raise dg.Failure(description=describe_error(error), allow_retries=False) from error
        raise


def sync_series_weeks(
    context: dg.AssetExecutionContext, engine: SyncEngine, series_by_key: Mapping[dg.AssetKey, CatalogSeries]
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    """Sync the selected series for the run's weeks (one, or a whole range), newest first, and verify each week.

    Week by week: while week N+1 is copied, week N is verified in the background and its events are emitted as
    soon as both are done, so the UI shows progress per week and verification costs little extra wall time. A
    (series, week) is materialized only when its sync succeeded and its completeness check passed, so a failed
    check leaves the partition missing and the history sensor syncs it again.
    """
    selected = [s for key, s in series_by_key.items() if key in context.selected_asset_keys]
    checked = {ck.asset_key for ck in context.selected_asset_check_keys if ck.name == COMPLETE_CHECK}
    to_verify = [s for key, s in series_by_key.items() if key in checked]
    keys = {s.external_id: key for key, s in series_by_key.items()}
    weeks = sorted((week_of(pk) for pk in context.partition_keys), reverse=True)
    now = engine.now()
    edge = engine.source_edge(list(series_by_key.values()), now)
    final = [w for w in weeks if week_is_final(w, now, edge, engine.settings.offset_ms)]
    waiting = [w for w in weeks if w not in final]
    context.log.info(
        f"{len(selected)} series x {len(final)} weeks to sync, {len(to_verify)} series to verify"
        + (f"; not final yet: {', '.join(key_of(w) for w in waiting)}" if waiting else "")
    )
    stored = RunMaterializations(context.instance, context.run.run_id)
    # One week: check results, which Dagster links to the week's materialization and counts as the step's check
    # outputs. A range: one evaluation event per week (a check result has no partition of its own), and Dagster
    # logs that the step "did not yield expected outputs" for the checks (the shard's description says why).
    single_week = len(weeks) == 1
    failures: dict[str, SeriesFailure] = {}
    failed_checks: list[SeriesFailure] = []

    def verify(week: int) -> WindowVerification | None:
        return engine.verify_week(to_verify, week, now=now, source_edge=edge) if to_verify else None

    def events(week: int, result: SyncResult | None, verification: WindowVerification | None) -> Iterator[object]:
        if result is not None:
            context.log.info(f"week {key_of(week)}: {result.summary_line()}")
            for failure in series_failures(result, week=key_of(week)):
                failures.setdefault(failure.series, failure)
        per_series_s = result.seconds / max(len(selected), 1) if result else 0.0
        for item in selected:
            outcome = result.series.get(item.external_id) if result else None
            verified = verification.series.get(item.external_id) if verification else None
            if outcome is not None and outcome.ok and (verified is None or verified.status == COMPLETE):
                yield week_materialization(keys[item.external_id], week, outcome, verified, per_series_s)
        if to_verify:
            stored.refresh()  # the materializations just yielded are in the event log by now
        for item in to_verify:
            assert verification is not None
            key = keys[item.external_id]
            evaluation = completeness_evaluation(
                key, week, verification.series[item.external_id], verification, stored.target(key, key_of(week))
            )
            if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
                failed_checks.append(
                    SeriesFailure(series=item.external_id, week=key_of(week), error=evaluation.description or "")
                )
            yield as_check_result(evaluation) if single_week else evaluation

    def copy(week: int) -> SyncResult | None:
        return engine.sync_weeks(selected, [week], now=now, source_edge=edge) if selected else None

    # The copy runs one week ahead in a thread of its own, and each copied week is verified in another, while this
    # thread hands Dagster the previous week's events, which Dagster writes to its event log one by one (on SQLite
    # that takes about as long as the copy itself: overlapped, not added).
    copier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oid-sync-copy")
    verifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oid-sync-verify")
    ahead = copier.submit(copy, final[0]) if final else None
    previous: tuple[int, SyncResult | None, Future[WindowVerification | None]] | None = None
    try:
        for number, week in enumerate(final):
            assert ahead is not None
            result = ahead.result()
            ahead = copier.submit(copy, final[number + 1]) if number + 1 < len(final) else None
            verified = verifier.submit(verify, week)
            if previous is not None:
                yield from events(previous[0], previous[1], previous[2].result())  # type: ignore[misc]
            previous = (week, result, verified)
        if previous is not None:
            yield from events(previous[0], previous[1], previous[2].result())  # type: ignore[misc]
    finally:
        # A failed week or a stopped step: nothing new starts, and nothing here waits. A step stopped between events
        # leaves this generator open until the garbage collector closes it, on any thread: the week already under
        # way (one at most) finishes on its own (idempotent; it is synced again, as any unrecorded week).
        copier.shutdown(wait=False, cancel_futures=True)
        verifier.shutdown(wait=False, cancel_futures=True)
    lines = [failure.line() for failure in [*failures.values(), *failed_checks][:40]]
    if waiting:
        lines.append(
            f"not final yet (the source has published up to {edge}; a week is final once it has ended and the "
            f"source has published its whole window): {', '.join(key_of(w) for w in waiting)}; these are "
            "synced by a later run"
        )
    if lines:
        record = FailureRecord(
            failed_series=len(failures),
            failed_checks=len(failed_checks),
            failures=[*list(failures.values())[:100], *failed_checks[:100]],
        )
        raise dg.Failure(
            description="\n".join(lines)[:4000],
            metadata=record.to_metadata(),
            # A week not yet final or a refused series won't heal in minutes.
            allow_retries=any(f.retryable for f in failures.values()),
        )


def as_check_result(evaluation: dg.AssetCheckEvaluation) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=evaluation.asset_key,
        check_name=evaluation.check_name,
        passed=evaluation.passed,
        severity=evaluation.severity,
        metadata=evaluation.metadata,
        description=evaluation.description,
    )


def realtime_lag_ms(engine: SyncEngine, catalog: Sequence[CatalogSeries], now: int) -> int | None:
    """now minus the oldest target time synced through (mark + offset) over all series; None if none synced."""
    states = sync_state.read_states(engine.target, engine.settings.instance_space, [s.external_id for s in catalog])
    marks = [s.synced_through for s in states.values() if s.synced_through is not None]
    if not marks:
        return None
    return max(0, now - (min(marks) - 1 + engine.settings.offset_ms))


def sync_realtime_edge(
    context: dg.AssetExecutionContext,
    engine: SyncEngine,
    catalog: Sequence[CatalogSeries],
    *,
    warn_lag_s: float,
    error_lag_s: float,
) -> dg.MaterializeResult:
    """Every series from its synced-through mark to the source's edge, reported to the extraction pipeline if one is
    configured; the `fresh` and `no_future_points` checks ride on the materialization."""
    with refusals_fail_at_once():
        result = engine.sync_realtime(list(catalog))
    context.log.info(result.summary_line())
    try:
        engine.report(result)
    except RunReportError as error:
        context.log.warning(f"could not report the run to the extraction pipeline: {error}")
    for line in failure_lines(result):
        context.log.error(line)
    if result.retryable:
        # Marks advanced only for the series that succeeded, so the step retry copies just the rest.
        failed = series_failures(result)
        raise dg.Failure(
            description=f"{len(result.failed)} series failed; retrying:\n" + "\n".join(f.line() for f in failed[:20]),
            metadata=FailureRecord(failed_series=len(result.failed), failures=failed).to_metadata(),
        )
    with refusals_fail_at_once():
        lag = realtime_lag_ms(engine, catalog, result.now)
        future = engine.future_points(list(catalog), now=result.now)
    lag_s = None if lag is None else lag / 1000
    fresh_severity = dg.AssetCheckSeverity.ERROR if lag_s is None or lag_s > error_lag_s else dg.AssetCheckSeverity.WARN
    return dg.MaterializeResult(
        metadata=realtime_record(result, lag_s=lag_s).to_metadata(),
        check_results=[
            dg.AssetCheckResult(
                check_name=FRESH_CHECK,
                passed=lag_s is not None and lag_s <= warn_lag_s,
                severity=fresh_severity,
                metadata={
                    "lag_s": -1.0 if lag_s is None else round(lag_s, 3),
                    "warn_s": warn_lag_s,
                    "error_s": error_lag_s,
                },
            ),
            dg.AssetCheckResult(
                check_name=FUTURE_CHECK,
                passed=not future,
                metadata={"series_with_future_points": len(future), "future_points": sum(future.values())},
                description=", ".join(f"{k}: {v}" for k, v in sorted(future.items())[:10]) or "none",
            ),
        ],
    )
