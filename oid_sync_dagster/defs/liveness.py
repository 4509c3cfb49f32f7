"""Runs whose process is gone: found by a pid check, marked failed, so the sensors do not wait for them forever.

`oid-sync sync` executes its runs in its own process (no run launcher or code server watches them). It tags each
run with its host and pid; if that process was killed (kill -9, a closed laptop lid, OOM), the run would stay
STARTED in the instance and the sensors, which never request a run while one of its kind is in flight, would skip
every tick. A run tagged on this host whose pid no longer exists is abandoned: the sensors mark it failed (with a
message that says why) before they look for runs in flight, and `oid-sync status` names it. Runs launched by the
daemon are watched by Dagster itself (the code server fails a run whose worker died; dagster.yaml turns on run
monitoring for the rest).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

import dagster as dg

HOST_TAG = "oid_sync/host"
PID_TAG = "oid_sync/pid"
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def process_tags() -> dict[str, str]:
    """The tags that tie a run to the process executing it in-process (this one)."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def process_gone(run: dg.DagsterRun) -> bool:
    """True when the run was executed in-process on this host by a process that no longer exists. Runs from other
    hosts, or without the tags, are never judged here."""
    pid = run.tags.get(PID_TAG)
    if pid is None or run.tags.get(HOST_TAG) != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: no signal, only the existence check
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by another user
    return False


def abandoned_runs(instance: dg.DagsterInstance, tags: dict[str, str] | None = None) -> list[dg.DagsterRun]:
    """In-flight runs (with these tags) whose executing process is gone."""
    records = instance.get_run_records(filters=dg.RunsFilter(tags=tags or {}, statuses=IN_FLIGHT))
    return [record.dagster_run for record in records if process_gone(record.dagster_run)]


def describe(run: dg.DagsterRun) -> str:
    return (
        f"run {run.run_id[:8]} ({run.job_name}) was executed by process {run.tags.get(PID_TAG)} on "
        f"{run.tags.get(HOST_TAG)}, which is gone (killed?)"
    )


def fail_abandoned_runs(instance: dg.DagsterInstance, tags: dict[str, str] | None = None) -> Sequence[dg.DagsterRun]:
    """Mark each abandoned run failed, saying why; returns them. Safe to repeat: a failed run is no longer in flight."""
    runs = abandoned_runs(instance, tags)
    for run in runs:
        instance.report_run_failed(run, message=f"{describe(run)}; marked failed so that automation resumes")
    return runs
