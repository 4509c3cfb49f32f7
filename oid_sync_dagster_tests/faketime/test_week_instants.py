"""The `clock`-marked tests again, under Debian's faketime, at the instants of the week that once broke them: Sunday
noon (last week's source window complete), Sunday 23:59:30 (Monday 00:00 is crossed inside the tests), Monday 03:00
(realtime reaches back into last week) and a Wednesday. The clock starts there and runs on.

One item of the main run per instant rather than a step after it: each runs a faketime'd pytest (run.sh) on an xdist
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
    done = subprocess.run(["bash", str(RUN_SH), str(pytest_bin), instant], env=env, capture_output=True, text=True,
                          timeout=540)  # fmt: skip
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-30000:] + done.stderr[-3000:]
    summaries = {m["at"]: m["summary"] for m in SUMMARY.finditer(done.stdout)}
    assert list(summaries) == [instant.replace("T", " ")], done.stdout
    # Every selected test passed; none skipped, failed or errored (the summary would name them).
    passed = PASSED.fullmatch(summaries[instant.replace("T", " ")])
    assert passed is not None and int(passed[1]) > 0, summaries
