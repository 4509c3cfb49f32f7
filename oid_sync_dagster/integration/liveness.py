"""Runs whose process is gone: found by a process check, marked failed, so the sensors do not wait for them forever.

`oid-sync sync` executes its runs in its own process (no run launcher or code server watches them). It tags each
run with its host, pid, boot and the process's start time; if that process was killed (kill -9, OOM, a reboot),
the run would stay STARTED in the instance, and the sensors, which never request a run while one of its kind is
in flight, would skip every tick. A run tagged in this boot and pid namespace whose process no longer runs is
abandoned: the sensors mark it failed (with a message that says why) before they look for runs in flight, and
`oid-sync status` names it. Runs launched by the daemon are watched by Dagster (the code server fails a run whose
worker died; dagster.yaml turns on run monitoring, and realtime runs carry a maximum runtime).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

HOST_TAG = "oid_sync/host"
PID_TAG = "oid_sync/pid"
# Where pids are unique: this boot of this kernel, this pid namespace; and when the process started, so a pid used
# again by a later process (after a restart, pids repeat) is not taken for the run's.
BOOT_TAG = "oid_sync/boot"
STARTED_TAG = "oid_sync/started"
IN_FLIGHT = [  # a run in any of these is in flight: the sensors wait for it, unless it is abandoned
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _boot() -> str:
    """This boot and pid namespace: pids from elsewhere say nothing about this machine's processes."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}:{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return ""  # not Linux: no run is ever judged abandoned (the tags are still written)


def _start_ticks(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22); None when there is no such
    process, or it is a zombie (dead, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
    return None if fields[0] in ("Z", "X") else fields[19]


def process_tags() -> dict[str, str]:
    """The tags that tie a run to the process executing it in-process (this one)."""
    pid = os.getpid()
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(pid),
        BOOT_TAG: _boot(),
        STARTED_TAG: _start_ticks(pid) or "",
    }


def process_gone(run: dg.DagsterRun) -> bool:
    """True when the run was executed in-process, in this boot and pid namespace, by a process that no longer runs:
    its pid is free, a zombie, or now belongs to a process started later. Runs from other machines, containers or
    boots, or without the tags (launched by the daemon), are never judged here."""
    tags = run.tags
    pid, boot, started = tags.get(PID_TAG, ""), tags.get(BOOT_TAG, ""), tags.get(STARTED_TAG, "")
    if not (pid.isdigit() and boot and started) or boot != _boot():
        return False
    return _start_ticks(int(pid)) != started


def abandoned_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """In-flight runs whose executing process is gone."""
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=IN_FLIGHT))
    return [record.dagster_run for record in records if process_gone(record.dagster_run)]


def describe(run: dg.DagsterRun) -> str:
    return (
        f"run {run.run_id[:8]} ({run.job_name}) was executed by process {run.tags.get(PID_TAG)} on "
        f"{run.tags.get(HOST_TAG)}, which is gone (killed?)"
    )


def fail_abandoned_runs(instance: dg.DagsterInstance) -> Sequence[dg.DagsterRun]:
    """Mark each abandoned run failed, saying why; returns them. Safe to repeat: a failed run is no longer in flight."""
    runs = abandoned_runs(instance)
    for run in runs:
        instance.report_run_failed(run, message=f"{describe(run)}; marked failed so that automation resumes")
    return runs
