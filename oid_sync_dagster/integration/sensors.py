"""Automation: the realtime sensor (and a 10-minute schedule for parity), and the history sensor that fills
the last N weeks newest first (the missing weeks in one range run) and re-syncs weeks whose completeness check
failed, a bounded number of times.

Both are plain sensors over Dagster's own record: stop either in the UI to pause it. They throttle by never
requesting a run while one of their kind is queued or running; run-queue and pool limits in dagster.yaml do
the rest.
"""

# No `from __future__ import annotations`: Dagster inspects the op and sensor annotations at runtime.

import json
import logging
from collections.abc import Callable, Sequence

import dagster as dg

from oid_sync_dagster.integration.evaluations import CHECK_FAILED, COMPLETE_CHECK, check_statuses
from oid_sync_dagster.integration.keys import DEFAULT_NAMES, Names
from oid_sync_dagster.integration.liveness import IN_FLIGHT, describe, fail_abandoned_runs
from oid_sync_dagster.integration.partitions import key_of
from oid_sync_dagster.integration.records import RealtimeRecord
from oid_sync_dagster.sync.engine import wall_clock_ms
from oid_sync_dagster.sync.windows import WEEK_MS, history_weeks

KIND_TAG = "oid_sync/kind"
# Dagster's public run tags for a run over a range of partitions (what a single-run backfill carries).
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


GIVE_UP_COOLDOWN_MS = 60 * 60 * 1000  # a week that used up its attempts gets a new round an hour later
CATALOG_BROUGHT = "_catalog_brought"  # in the history sensor's cursor: a run of it brought the target catalog along


def _busy(instance: dg.DagsterInstance, kind: str, log: logging.Logger | None = None) -> bool:
    """kind: the `oid_sync/kind` tag's value (Names.kind), so one instance never waits on another's runs."""
    """A run of this kind is in flight. Runs whose process is gone (an `oid-sync sync` killed mid-run) are marked
    failed first: otherwise they would stay in flight forever and every tick would skip."""
    for run in fail_abandoned_runs(instance):  # of every kind: `oid-sync sync`'s catalog runs too
        if log is not None:
            log.warning(f"{describe(run)}: marked failed")
    runs = instance.get_run_records(filters=dg.RunsFilter(tags={KIND_TAG: kind}, statuses=IN_FLIGHT), limit=1)
    return bool(runs)


def _target_needs_catalog(instance: dg.DagsterInstance, catalog: dg.EventLogEntry, names: Names) -> bool:
    """The last realtime run failed, or some of its series did: the target may have lost our nodes or state (a new
    or emptied project, deleted nodes). The next realtime run syncs the catalog first; the upsert is idempotent
    and cheap, so healing costs one extra step, and a run after a transient failure does it needlessly but safely.
    catalog: the latest materialization of the target catalog."""

    def newer_than_catalog(run_id: str, at: float | None) -> bool:
        # Evidence from the run that last synced the catalog (or older) is answered already: a series the catalog
        # cannot fix (a type conflict) then costs a catalog step every other run, not every run.
        return run_id != catalog.run_id and at is not None and at > catalog.timestamp

    finished = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]
    kind = {KIND_TAG: names.kind("realtime")}
    runs = instance.get_run_records(filters=dg.RunsFilter(tags=kind, statuses=finished), limit=1)
    if runs and runs[0].dagster_run.status == dg.DagsterRunStatus.FAILURE:
        return newer_than_catalog(runs[0].dagster_run.run_id, runs[0].end_time)
    latest = instance.get_latest_materialization_event(names.realtime)
    materialization = latest.asset_materialization if latest is not None else None
    if materialization is None:
        return False
    record = RealtimeRecord.read(materialization.metadata)
    return record is not None and record.failed_series > 0 and newer_than_catalog(latest.run_id, latest.timestamp)


def _backfill_in_flight(instance: dg.DagsterInstance, series_keys: set[dg.AssetKey]) -> bool:
    """A backfill of these series launched from the UI is history work too: do not add sensor runs beside it. Another
    instance's backfill (its own series) does not hold this one back."""
    active = instance.get_run_records(filters=dg.RunsFilter(statuses=IN_FLIGHT), limit=200)
    return any(
        "dagster/backfill" in record.dagster_run.tags
        and (record.dagster_run.asset_selection is None or bool(record.dagster_run.asset_selection & series_keys))
        for record in active
    )


def build_realtime_sensor(
    job_name: str, interval_s: int, catalog_loaded_at_ms: int = 0, names: Names = DEFAULT_NAMES
) -> dg.SensorDefinition:
    @dg.sensor(
        name=names.sensor("realtime"),
        job_name=job_name,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Keeps the live edge moving: a realtime run whenever none is in flight. Watermark-based "
        "(each series resumes at its synced-through mark), so downtime leaves no gap.",
    )
    def oid_realtime_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if _busy(context.instance, names.kind("realtime"), context.log):
            return dg.SkipReason("a realtime run is still queued or running")
        latest = context.instance.get_latest_materialization_event(names.target_catalog)
        # The catalog again when the location loaded a newer source listing (series added after a Reload), and
        # when the target may have lost our nodes or state.
        catalog_current = latest is not None and latest.timestamp * 1000 >= catalog_loaded_at_ms
        heal = latest is not None and catalog_current and _target_needs_catalog(context.instance, latest, names)
        if heal:
            context.log.info("the last realtime run failed or had failed series: syncing the target catalog first")
        both = [names.target_catalog, names.realtime]
        selection = [names.realtime] if catalog_current and not heal else both
        return dg.RunRequest(asset_selection=selection, tags={KIND_TAG: names.kind("realtime")})

    return oid_realtime_sensor


def build_realtime_schedule(job_name: str, names: Names = DEFAULT_NAMES) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=f"{names.job('realtime')}_every_10_minutes",
        job_name=job_name,
        cron_schedule="*/10 * * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        tags={KIND_TAG: names.kind("realtime")},
        description="The predecessor's cadence, for parity; the sensor (every minute) is the default. Missed "
        "ticks are healed by the next run because realtime resumes at each series' mark.",
    )


def build_history_sensor(
    job_name: str,
    series_keys: Sequence[dg.AssetKey],
    n_weeks: int,
    first_partition_week: int,
    *,
    interval_s: int,
    max_attempts: int,
    weeks_per_run: int | None = None,
    reset_token: str | None = None,
    clock: Callable[[], int] = wall_clock_ms,
    names: Names = DEFAULT_NAMES,
    running: bool = True,
) -> dg.SensorDefinition:
    """running: the sensor's default status (the UI's toggle overrides it). reset_token: set when the config asks
    for `reset_backfill`; every history week is synced once more, once per distinct token (the predecessor repeated
    its reset on every run). clock: ms; the tick reads it once, so the weeks it considers and the cooldowns it
    measures share one instant (tests set it to cross a Monday). weeks_per_run: most weeks in one run; None: every
    missing week (contiguous) in one run."""
    check_keys = [dg.AssetCheckKey(key, COMPLETE_CHECK) for key in series_keys]
    owned = set(series_keys)

    @dg.sensor(
        name=names.sensor("history"),
        job_name=job_name,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
        description=f"Fills the last {n_weeks} weeks, newest first, all missing weeks in one run (a range), and "
        f"re-syncs a week whose completeness check failed (at most {max_attempts} attempts per week and hour). "
        "Stop it to pause history.",
    )
    def oid_history_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        instance = context.instance
        if _busy(instance, names.kind("history"), context.log):
            return dg.SkipReason("a history run is still queued or running")
        if _backfill_in_flight(instance, owned):
            return dg.SkipReason("a backfill is running; history resumes when it is done")
        catalog_missing = instance.get_latest_materialization_event(names.target_catalog) is None
        attempts: dict = json.loads(context.cursor) if context.cursor else {}
        now = clock()
        weeks = [w for w in history_weeks(now, n_weeks) if w >= first_partition_week]
        if reset_token is not None and attempts.get("_reset") != reset_token:
            attempts = {"_reset": reset_token, "_resync": [key_of(w) for w in weeks]}
        # A target never synced gets its catalog in the sensor's first run, as the series' upstream step: history
        # starts a tick sooner than if it waited for the realtime run to make it. Once only: should that run fail to
        # make it (the target down, say), the sensor waits for the catalog rather than submit the whole history again
        # every tick, and the failed run cost each of its weeks one attempt.
        if catalog_missing and attempts.get(CATALOG_BROUGHT):
            return dg.SkipReason("waiting for the target catalog (the realtime sensor materializes it first)")
        resync: list[str] = attempts.get("_resync", [])
        given_up_at: dict[str, int] = attempts.setdefault("_given_up_at", {})
        for pk, at in list(given_up_at.items()):
            if now - at >= GIVE_UP_COOLDOWN_MS:  # a new round: e.g. a week that was not final yet now is
                del given_up_at[pk]
                attempts.pop(pk, None)
        if not given_up_at:
            del attempts["_given_up_at"]
        # One partitions query per series for all weeks (not one per series and week: 12x fewer round trips).
        done = {key: instance.get_materialized_partitions(key) for key in series_keys}
        failed = {key for key, status in check_statuses(instance, check_keys).items() if status == CHECK_FAILED}
        gave_up, due = [], []  # due: (week, missing series), newest first
        for week in weeks:
            pk = key_of(week)
            if pk in resync:
                missing = list(series_keys)
            else:
                missing = [key for key in series_keys if pk not in done[key] or (key, pk) in failed]
            if not missing:
                continue
            if attempts.get(pk, 0) >= max_attempts:
                gave_up.append(pk)
                attempts.setdefault("_given_up_at", {}).setdefault(pk, now)
                continue
            due.append((week, missing))
        if due:
            # One run for the newest due week and the older due weeks right behind it: a range must be contiguous,
            # so a complete or given-up week ends it (the weeks before that come in the next run). Its selection is
            # every series any of its weeks misses: a series already complete in some of them is copied again
            # (idempotent, and cheap next to a run per week).
            run = [due[0]]
            for week, missing in due[1:]:
                if week != run[-1][0] - WEEK_MS or len(run) == (weeks_per_run or n_weeks):
                    break
                run.append((week, missing))
            selection = [key for key in series_keys if any(key in missing for _, missing in run)]
            if catalog_missing:
                selection = [names.target_catalog, *selection]
                attempts[CATALOG_BROUGHT] = True
            keys = [key_of(week) for week, _ in run]
            for pk in keys:
                attempts[pk] = attempts.get(pk, 0) + 1
                if pk in resync:
                    resync.remove(pk)
            tags = {KIND_TAG: names.kind("history"), "oid_sync/attempt": str(max(attempts[pk] for pk in keys))}
            if len(keys) == 1:
                request = dg.RunRequest(partition_key=keys[0], asset_selection=selection, tags=tags)
            else:  # newest first inside the run: the step syncs a range from its newest week back
                tags |= {PARTITION_RANGE_START_TAG: keys[-1], PARTITION_RANGE_END_TAG: keys[0]}
                request = dg.RunRequest(asset_selection=selection, tags=tags)
            return dg.SensorResult(run_requests=[request], cursor=json.dumps(attempts))
        if gave_up:
            return dg.SensorResult(
                skip_reason=dg.SkipReason(
                    f"weeks still incomplete after {max_attempts} attempts: {', '.join(gave_up)}; tried again in an "
                    "hour, or launch a backfill of them from the UI now"
                ),
                cursor=json.dumps(attempts),
            )
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"all {len(weeks)} history weeks are materialized"), cursor=json.dumps(attempts)
        )

    return oid_history_sensor
