"""Loaded by every Python process of a `make test-clock` run (this folder is put first on PYTHONPATH).

Debian's libfaketime 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC=1 makes Python's time.sleep fail with EINVAL (it
waits with clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), which the library rewrites wrongly), and with the
monotonic clock faked, sleeps never end. Every other wait (threading, select, asyncio) works, so under faketime
time.sleep waits on an Event instead. Nothing outside a faketime run ever imports this file.
"""

import os
import threading
import time

if "FAKETIME" in os.environ or "FAKETIME_TIMESTAMP_FILE" in os.environ:

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        threading.Event().wait(seconds)

    time.sleep = _sleep
