"""The fault hook in the request path, and the request log and counters that tests read.

A `FaultInjector` decides, per request, whether to answer with an injected fault instead of serving it, or (an
`applied` fault) after serving it. Rules are
scripted sequences (the next N matching requests), seeded rates (so a run repeats), or outages (every matching
request, or a seeded share of them, for the next T seconds).
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Fault:
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    stall_s: float = 0.0  # sleep before answering (longer than the client timeout: a read timeout)
    drop: bool = False  # close the connection without an answer
    message: str = "Injected fault"
    # Serve the request first (the write is committed), then lose the answer as above: what a real CDF does when a
    # timeout or a broken connection follows the commit. The client cannot tell it from a request never applied.
    applied: bool = False

    @property
    def kind(self) -> str:
        """How the client meets it: a dropped connection, a stall (a read timeout), or an error status; prefixed
        'applied-' when the request was served before its answer was lost."""
        kind = "drop" if self.drop else "stall" if self.stall_s else str(self.status)
        return f"applied-{kind}" if self.applied else kind


@dataclass
class _Rule:
    method: str | None
    path: re.Pattern[str]
    fault: Fault
    remaining: int | None  # scripted: how many more matches; None: rate based
    rate: float = 1.0
    until: float | None = None  # outage: active until this clock reading; None: no end
    starts_s: float | None = None  # an outage that begins at its first match: it then lasts this long


@dataclass(frozen=True, slots=True)
class RequestRecord:
    request_id: str
    method: str
    path: str
    status: int
    duration_s: float
    started_at: float
    fault: bool
    # What the client said about itself and its body (LOGGED_HEADERS); never the authorization header.
    headers: dict[str, str] = field(default_factory=dict)


LOGGED_HEADERS = frozenset(
    {"accept", "content-type", "content-encoding", "user-agent", "x-cdp-app", "x-cdp-sdk", "cdf-version"}
)


class FaultInjector:
    def __init__(self, seed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock  # outages end by this clock
        self._rules: list[_Rule] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()  # by kind: the status, or 'stall' / 'drop'

    def script(self, path: str, faults: list[Fault], method: str | None = None) -> None:
        """The next len(faults) requests matching `path` (a regex searched in the URL path) get these faults."""
        with self._lock:
            for fault in faults:
                self._rules.append(_Rule(method, re.compile(path), fault, remaining=1))

    def rate(self, path: str, fault: Fault, rate: float, method: str | None = None) -> None:
        with self._lock:
            self._rules.append(_Rule(method, re.compile(path), fault, remaining=None, rate=rate))

    def outage(
        self,
        path: str,
        fault: Fault,
        duration_s: float,
        rate: float = 1.0,
        method: str | None = None,
        *,
        from_first_match: bool = False,
    ) -> None:
        """Every matching request (or a seeded `rate` of them) gets `fault` for the next `duration_s` seconds; with
        `from_first_match`, for `duration_s` seconds from the first matching request (however slow the client is to
        send it: a test on a loaded machine still sees its client meet the outage)."""
        with self._lock:
            rule = _Rule(method, re.compile(path), fault, remaining=None, rate=rate)
            if from_first_match:
                rule.starts_s = duration_s
            else:
                rule.until = self._clock() + duration_s
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def reseed(self, seed: int) -> None:
        """Restart the rate rules' random sequence, so a campaign repeats exactly."""
        with self._lock:
            self._rng = random.Random(seed)

    def describe(self) -> dict[str, object]:
        with self._lock:
            self._expire()
            rules: list[dict[str, object]] = []
            for r in self._rules:
                rule: dict[str, object] = {"path": r.path.pattern, "method": r.method, "status": r.fault.status}
                if r.remaining is not None:
                    rule["count"] = r.remaining
                else:
                    rule["rate"] = r.rate
                if r.until is not None:
                    rule["for_s"] = round(r.until - self._clock(), 3)
                rules.append(rule)
            return {"rules": rules, "injected": dict(sorted(self.injected.items()))}

    def _expire(self) -> None:
        now = self._clock()
        self._rules = [r for r in self._rules if r.until is None or r.until > now]

    def decide(self, method: str, path: str) -> Fault | None:
        if path.startswith("/_local/"):
            return None  # the admin and health endpoints are never faulted
        with self._lock:
            self._expire()
            for rule in self._rules:
                if rule.method not in (None, method) or not rule.path.search(path):
                    continue
                if rule.starts_s is not None:  # its first match: the outage begins now
                    rule.until, rule.starts_s = self._clock() + rule.starts_s, None
                if rule.remaining is not None:
                    self._rules.remove(rule)
                    self.injected[rule.fault.kind] += 1
                    return rule.fault
                if self._rng.random() < rule.rate:
                    self.injected[rule.fault.kind] += 1
                    return rule.fault
        return None


class RequestLog:
    """Every request served, bounded, with counters by (method, path)."""

    def __init__(self, maxlen: int = 200_000) -> None:
        self.records: deque[RequestRecord] = deque(maxlen=maxlen)
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self.records.append(record)
            self.counts[(record.method, record.path)] += 1

    def matching(self, path_regex: str, method: str | None = None) -> list[RequestRecord]:
        pattern = re.compile(path_regex)
        with self._lock:
            return [r for r in self.records if pattern.search(r.path) and method in (None, r.method)]

    def clear(self) -> None:
        with self._lock:
            self.records.clear()
            self.counts.clear()
