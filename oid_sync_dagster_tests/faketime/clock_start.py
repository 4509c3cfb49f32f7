"""A pytest plugin for the runs of run.sh (`-p clock_start`): the faked clock reaches the run's instant just as the
first test starts, however long start-up and collection took on a busy machine, and the clock at the first and at
the last test is written down (OID_SYNC_CLOCK_REPORT) for test_week_instants.py, which checks, for one, that Monday
00:00 was crossed inside the tests.

libfaketime reads its offset from FAKETIME_TIMESTAMP_FILE, again at most once a second (FAKETIME_CACHE_DURATION=1),
in every process of the run: rewriting the file moves every clock at once.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

SETTLE_S = 5.0  # libfaketime re-reads the file within a second

_first: dict[str, float] = {}


def _offset_s(clock_file: Path) -> float:
    return float(clock_file.read_text(encoding="utf-8").strip().removesuffix("s"))


def pytest_collection_finish(session: pytest.Session) -> None:
    clock_file, instant = os.environ.get("FAKETIME_TIMESTAMP_FILE"), os.environ.get("OID_SYNC_CLOCK_INSTANT")
    if not clock_file or not instant:
        return
    path, target = Path(clock_file), int(instant)
    real_now = time.time() - _offset_s(path)
    path.write_text(f"{round(target - real_now):+d}s\n", encoding="utf-8")
    written = time.monotonic()
    # The new offset is read at the next cache refresh; from the write on, the clock should read target + elapsed.
    while abs(time.time() - (target + time.monotonic() - written)) > 1.0:
        if time.monotonic() - written > SETTLE_S:
            raise RuntimeError(f"the faked clock did not move to {target} within {SETTLE_S:g} s (now {time.time()})")
        time.sleep(0.05)
    _first["at"] = time.time()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if (report := os.environ.get("OID_SYNC_CLOCK_REPORT")) and "at" in _first:
        Path(report).write_text(json.dumps({"first": _first["at"], "last": time.time()}), encoding="utf-8")
