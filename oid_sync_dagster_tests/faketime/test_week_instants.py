"""The `clock`-marked tests again, under Debian's faketime, at the instants of the week that once broke them: Sunday
noon (last week's source window complete), Sunday 23:59:30 (Monday 00:00 is crossed inside the tests), Monday 03:00
(realtime reaches back into last week) and a Wednesday. The clock starts there and runs on.

One item of the main run rather than a step after it: it runs one faketime'd pytest at a time (run.sh) on one xdist
worker while the others go on with the suite, instead of adding its minutes to CI's wall time.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

INSTANTS = ("2026-12-06T12:00:00", "2026-12-06T23:59:30", "2026-12-07T03:00:00", "2026-12-09T12:00:00")
RUN_SH = Path(__file__).with_name("run.sh")
PASSED = re.compile(r"(\d+) passed, \d+ deselected(?:, \d+ warnings?)? in [\d.]+s(?: \([\d:]+\))?")
SUMMARY = re.compile(r"^== clock-sensitive tests at (?P<at>[\d-]+ [\d:]+) UTC: (?P<summary>.*)$", re.MULTILINE)


@pytest.mark.slow(rank=0)  # the longest item of the suite: started first, so no worker waits for it at the end
@pytest.mark.timeout(900)
def test_the_clock_sensitive_tests_pass_at_every_instant_of_the_week(tmp_path: Path) -> None:
    if not glob.glob("/usr/lib/*/faketime/libfaketime.so.1"):
        pytest.skip("Debian's faketime is not installed: `make system-deps` installs it (`make test` does)")
    pytest_bin = Path(sys.executable).with_name("pytest")
    # The inner runs are plain pytest processes: nothing of this xdist worker's identity, their own temp dirs.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTEST_ADDOPTS"] = f"--basetemp={tmp_path / 'faketime'}"
    done = subprocess.run(
        ["bash", str(RUN_SH), str(pytest_bin), *INSTANTS], env=env, capture_output=True, text=True, timeout=840
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-30000:] + done.stderr[-3000:]
    summaries = {m["at"]: m["summary"] for m in SUMMARY.finditer(done.stdout)}
    assert list(summaries) == [instant.replace("T", " ") for instant in INSTANTS], done.stdout
    # The same tests, all passed, nothing skipped, at every instant.
    passed = {PASSED.fullmatch(summary) for summary in summaries.values()}
    assert None not in passed, summaries
    counts = {int(m[1]) for m in passed if m is not None}
    assert len(counts) == 1 and counts.pop() > 0, summaries
