"""The `clock`-marked tests again, under Debian's faketime, at the instants of the week that once broke them: Sunday
noon (last week's source window complete), Sunday 23:59:45 (Monday 00:00 is crossed inside the tests: asserted),
Monday 03:00 (realtime reaches back into last week) and a Wednesday. The clock reads the instant as the first test
starts (clock_start.py) and runs on.

One item of the main run per instant rather than a step after it: each runs a faketime'd pytest (run.sh) on an xdist
worker while the others go on with the suite, instead of adding its minutes to CI's wall time.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oid_sync_dagster_tests.faketime.clock_start import SETTLE_S

INSTANTS = ("2026-12-06T12:00:00", "2026-12-06T23:59:45", "2026-12-07T03:00:00", "2026-12-09T12:00:00")
CROSSING = "2026-12-06T23:59:45"  # Monday 00:00 must pass between the first test and the last
MONDAY = datetime(2026, 12, 7, tzinfo=UTC).timestamp()
RUN_SH = Path(__file__).with_name("run.sh")
PASSED = re.compile(r"(\d+) passed, \d+ deselected(?:, \d+ warnings?)? in [\d.]+s(?: \([\d:]+\))?")
SUMMARY = re.compile(r"^== clock-sensitive tests at (?P<at>[\d-]+ [\d:]+) UTC: (?P<summary>.*)$", re.MULTILINE)


@pytest.mark.slow(rank=0)  # among the first items: no worker is left waiting for one at the end
@pytest.mark.timeout(600)
@pytest.mark.parametrize("instant", INSTANTS)
def test_the_clock_sensitive_tests_pass_at(instant: str, tmp_path: Path) -> None:
    if not glob.glob("/usr/lib/*/faketime/libfaketime.so.1"):
        pytest.skip("Debian's faketime is not installed: `make system-deps` installs it (`make test` does)")
    pytest_bin = Path(sys.executable).with_name("pytest")
    # The inner run is a plain pytest process: nothing of this xdist worker's identity, its own temp dirs.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTEST_ADDOPTS"] = f"--basetemp={tmp_path / 'faketime'}"
    env["OID_SYNC_CLOCK_REPORT"] = str(report := tmp_path / "clock.json")
    # A group of its own, so that a timeout takes the inner pytest and whatever it started down with it; not a session
    # (start_new_session): a new session is a new scheduler autogroup, and there the run took twice the CPU.
    run = subprocess.Popen(["bash", str(RUN_SH), str(pytest_bin), instant], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, process_group=0)  # fmt: skip
    try:
        stdout, stderr = run.communicate(timeout=540)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate()
        raise
    print(stdout)
    assert run.returncode == 0, stdout[-30000:] + stderr[-3000:]
    summaries = {m["at"]: m["summary"] for m in SUMMARY.finditer(stdout)}
    assert list(summaries) == [instant.replace("T", " ")], stdout
    # Every selected test passed; none skipped, failed or errored (the summary would name them).
    passed = PASSED.fullmatch(summaries[instant.replace("T", " ")])
    assert passed is not None and int(passed[1]) > 0, summaries
    # The tests ran at the instant: the clock read it as the first test started (give or take libfaketime's re-read).
    clock = json.loads(report.read_text())
    at = datetime.fromisoformat(instant).replace(tzinfo=UTC).timestamp()
    assert at - 1 <= clock["first"] <= at + SETTLE_S + 1, (instant, clock)
    if instant == CROSSING:
        assert clock["first"] < MONDAY <= clock["last"], clock
