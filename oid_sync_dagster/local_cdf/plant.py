"""The plant behind the synthetic OID: one first-stage gas compressor whose state is a pure function of time.

Every synthetic series reads the same plant, so a trip shows in flows, pressures, temperatures and flags at once.
The schedule is hashed per UTC day: a day holds at most one event (a trip, or a planned stop), and a day's event
is dropped if a candidate of the `_SUPPRESS_DAYS` days before it is still in progress. So the state at any
timestamp depends on a bounded number of days before it, never on where the history starts, and no two events
overlap. Between events the machine runs at a load that follows operator setpoints (steps each 8 h shift,
approached exponentially), a small daily and weekly swing and slow noise.

Responses with a time constant are closed forms: a first-order lag of the piecewise-linear run factor, summed
over the ramps of recent events, each ramp's term cut off `LAG_CUTOFF` time constants after it ends.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS

# The schedule: chances per UTC day, and the shapes of the events. At about 0.1 trips a day, 30 days hold
# 3 trips on average (90 % of 30-day windows: 0 to 6); a year holds 30 to 40 (a few are dropped for overlapping).
TRIP_CHANCE_PER_DAY = 0.1
PLANNED_CHANCE_PER_DAY = 1 / 75
TRIP_DURATION_MS = (10 * MINUTE_MS, 8 * HOUR_MS)  # log-uniform: most trips are short, a few last hours
TRIP_RESTART_RAMP_MS = (20 * MINUTE_MS, 90 * MINUTE_MS)
PLANNED_RAMP_DOWN_MS = (HOUR_MS, 2 * HOUR_MS)
PLANNED_DURATION_MS = (8 * HOUR_MS, 40 * HOUR_MS)
PLANNED_RESTART_RAMP_MS = (HOUR_MS, 3 * HOUR_MS)
TRIP_CAUSES = ("SURGE", "WINDING-TEMP", "BRG-TEMP", "UNDERVOLT", "TCS", "PROCESS")
_SUPPRESS_DAYS = 3  # longer than any event, ramps included (planned: 12 h + 2 h + 40 h + 3 h < 3 days)
_GAP_MS = HOUR_MS  # an event needs this much running time after the one before

# The load: the share of design throughput while running. Shift setpoints are one of a few levels.
LOAD_NOMINAL = 0.9
_SHIFT_MS = 8 * HOUR_MS
_SHIFT_LEVELS = (0.86, 0.88, 0.90, 0.92, 0.94)
_SHIFT_TAU_MS = 20 * MINUTE_MS
_LOAD_BOUNDS = (0.6, 1.02)

# Smooth signals (load, coloured noise) are computed on knots this far apart and interpolated linearly between.
GRID_MS = 5 * MINUTE_MS
LAG_CUTOFF = 18.0  # time constants: exp(-18) ~ 1.5e-8, below float32 resolution (6e-8)

# ---------------------------------------------------------------------------------------------------------
# Hashing: splitmix64, as Python ints for scalars and on uint64 arrays for points and knots.

MASK64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_U_GAMMA = np.uint64(_GAMMA)
_U_M1 = np.uint64(_M1)
_U_M2 = np.uint64(_M2)
_U30, _U27, _U31, _U11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_SALT_EVENTS = 0x7A11_E4E7_5EED_0001
_SALT_SHIFTS = 0x5417_F7_5E7F_0002
_SALT_LOAD_NOISE = 0x10AD_0015_E000_0003


def mix64(x: int) -> int:
    z = (x + _GAMMA) & MASK64
    z = ((z ^ (z >> 30)) * _M1) & MASK64
    z = ((z ^ (z >> 27)) * _M2) & MASK64
    return z ^ (z >> 31)


def stream(counter: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 outputs for int64 counters: the counter-th value of the stream seeded by `seed`."""
    z = counter.view(np.uint64) * _U_GAMMA
    z += np.uint64(seed & MASK64)
    z ^= z >> _U30
    z *= _U_M1
    z ^= z >> _U27
    z *= _U_M2
    z ^= z >> _U31
    return z


def unit_of(h: int) -> float:
    """A scalar hash as a float in [0, 1)."""
    return (h >> 11) * 2.0**-53


def draws(seed: int, n: int) -> list[float]:
    """n independent floats in [0, 1) from one seed."""
    return [unit_of(mix64(seed + i * _GAMMA)) for i in range(n)]


def hashed_units(seed: int, idx: np.ndarray) -> np.ndarray:
    """Floats in [0, 1) for int64 indices, each a function of (seed, index) alone.

    Dense indices (knots) are hashed once over their range and gathered; sparse ones directly. The value of an
    index is the same either way, so callers need not care which range they ask for.
    """
    if len(idx) == 0:
        return np.empty(0, dtype=np.float64)
    if _is_dense(idx):
        return (stream(idx, seed) >> _U11).astype(np.float64) * 2.0**-53
    lo, hi = int(idx.min()), int(idx.max())  # sparse knot pairs are not strictly sorted
    if hi - lo + 1 <= len(idx):
        table = (stream(np.arange(lo, hi + 1, dtype=np.int64), seed) >> _U11).astype(np.float64) * 2.0**-53
        return table[idx - lo]
    return (stream(np.ascontiguousarray(idx, dtype=np.int64), seed) >> _U11).astype(np.float64) * 2.0**-53


def _log_uniform(u: float, bounds: tuple[int, int]) -> int:
    lo, hi = bounds
    return round(lo * math.exp(u * math.log(hi / lo)))


def _uniform(u: float, bounds: tuple[int, int]) -> int:
    lo, hi = bounds
    return round(lo + u * (hi - lo))


# ---------------------------------------------------------------------------------------------------------
# The event schedule.

EventKind = Literal["trip", "planned"]


@dataclass(frozen=True, slots=True)
class Event:
    """One stop: load ramps down over [down, stop) (a trip has none), is zero over [stop, restart), and ramps
    back up over [restart, up). `key` is a hash for per-event choices of the series (e.g. a loop to manual)."""

    kind: EventKind
    cause: str  # a trip's cause (one of TRIP_CAUSES); "PLANNED" for a planned stop
    down: int
    stop: int
    restart: int
    up: int
    key: int


@functools.lru_cache(maxsize=1 << 16)
def _candidate(day: int) -> Event | None:
    key = mix64((day * _GAMMA) ^ _SALT_EVENTS)
    u = draws(key, 6)
    at = day * DAY_MS
    if u[0] < TRIP_CHANCE_PER_DAY:
        stop = at + int(u[1] * DAY_MS)
        restart = stop + _log_uniform(u[2], TRIP_DURATION_MS)
        up = restart + _uniform(u[3], TRIP_RESTART_RAMP_MS)
        cause = TRIP_CAUSES[int(u[4] * len(TRIP_CAUSES))]
        return Event("trip", cause, stop, stop, restart, up, key)
    if u[0] < TRIP_CHANCE_PER_DAY + PLANNED_CHANCE_PER_DAY:
        down = at + 6 * HOUR_MS + int(u[1] * 4 * HOUR_MS)  # planned work starts in the morning
        stop = down + _uniform(u[2], PLANNED_RAMP_DOWN_MS)
        restart = stop + _uniform(u[3], PLANNED_DURATION_MS)
        up = restart + _uniform(u[4], PLANNED_RESTART_RAMP_MS)
        return Event("planned", "PLANNED", down, stop, restart, up, key)
    return None


@functools.lru_cache(maxsize=1 << 16)
def _event(day: int) -> Event | None:
    """The day's candidate, unless a candidate of the days before is still in progress when it would begin."""
    event = _candidate(day)
    if event is None:
        return None
    for before in range(day - _SUPPRESS_DAYS, day):
        other = _candidate(before)
        if other is not None and other.up + _GAP_MS > event.down:
            return None
    return event


def events(start: int, end: int) -> list[Event]:
    """The events whose span [down, up) meets [start, end), in time order."""
    first, last = int(start) // DAY_MS - _SUPPRESS_DAYS, (int(end) - 1) // DAY_MS
    found = (_event(day) for day in range(first, last + 1))
    return [e for e in found if e is not None and e.up > start and e.down < end]


def stops(start: int, end: int) -> list[tuple[int, int, EventKind]]:
    """(stop, restart, kind) of the stops that begin in [start, end): the machine is down in [stop, restart)."""
    return [(e.stop, e.restart, e.kind) for e in events(start - 3 * DAY_MS, end) if start <= e.stop < end]


def trips(start: int, end: int) -> list[tuple[int, int]]:
    """(stop, restart) of the trips that begin in [start, end)."""
    return [(stop, restart) for stop, restart, kind in stops(start, end) if kind == "trip"]


# ---------------------------------------------------------------------------------------------------------
# State on points.


def in_intervals(ts: np.ndarray, intervals: list[tuple[int, int]]) -> np.ndarray:
    """A mask of the sorted timestamps inside any of the half-open intervals."""
    mask = np.zeros(len(ts), dtype=bool)
    for a, b in intervals:
        i, j = np.searchsorted(ts, [a, b])
        mask[i:j] = True
    return mask


def run_factor(ts: np.ndarray, evs: list[Event]) -> np.ndarray:
    """1 while running, 0 while stopped, linear on the ramps in between."""
    r = np.ones(len(ts), dtype=np.float64)
    for e in evs:
        i, j, k, m = np.searchsorted(ts, [e.down, e.stop, e.restart, e.up])
        if j > i:
            r[i:j] = 1.0 - (ts[i:j] - e.down) / (e.stop - e.down)
        r[j:k] = 0.0
        if m > k:
            r[k:m] = (ts[k:m] - e.restart) / (e.up - e.restart)
    return r


def lagged_run(ts: np.ndarray, evs: list[Event], tau_ms: float) -> list[tuple[int, int, np.ndarray]]:
    """The run factor seen through a first-order lag of time constant `tau_ms`: (i, j, g) for the slices of
    `ts` where it is not 1 (elsewhere it is 1).

    g = r - sum of each ramp's lag behind r, in closed form. A ramp's term counts from its start to LAG_CUTOFF
    time constants after its end and is 0 after, so a point's value depends on its own timestamp only,
    whatever range was asked for; and events never overlap, so r is 0 <= r <= 1.
    """
    if not evs or len(ts) == 0:
        return []
    cutoff = int(LAG_CUTOFF * tau_ms)
    edges = [(e.down, e.stop, e.restart, e.up, e.stop + cutoff, e.up + cutoff) for e in evs]
    at = np.searchsorted(ts, np.array(edges, dtype=np.int64).ravel()).reshape(len(evs), 6).tolist()
    spans: list[list[int]] = []
    for i_down, _, _, _, _, i_up_cut in at:
        if i_up_cut == i_down:
            continue
        if spans and i_down <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], i_up_cut)
        else:
            spans.append([i_down, i_up_cut])
    if not spans:
        return []
    g = np.ones(len(ts))
    for _, i_stop, _, i_up, _, _ in at:  # the input is 0 from the stop to the end of the restart ramp...
        g[i_stop:i_up] = 0.0
    rate = -1.0 / tau_ms
    for e, (i_down, i_stop, i_restart, i_up, i_stop_cut, i_up_cut) in zip(evs, at, strict=True):
        # ... plus its ramps, each with the lag's shortfall behind it
        _ramp(g, ts, (i_down, i_stop, i_stop_cut), e.down, e.stop, -1.0, rate)
        _ramp(g, ts, (i_restart, i_up, i_up_cut), e.restart, e.up, 1.0, rate)
    return [(i, j, g[i:j]) for i, j in spans]


def _ramp(g: np.ndarray, ts: np.ndarray, at: tuple[int, int, int], a: int, b: int, delta: float, rate: float) -> None:
    """Add a linear ramp of the input by `delta` over [a, b) and the first-order lag's deviation from the input
    (rate = -1 / tau), which lasts to the cutoff. `at` holds the indices of a, b and the cutoff in `ts`."""
    i, k, m = at
    if b == a:  # a step: the output trails by delta * exp(-(t - a) / tau)
        g[i:m] -= delta * np.exp((ts[i:m] - a) * rate)
        return
    slope = delta / (b - a)
    t = ts[i:k] - a
    g[i:k] += t * slope + (slope / -rate) * np.expm1(t * rate)
    g[k:m] += (slope / -rate) * math.expm1((b - a) * rate) * np.exp((ts[k:m] - b) * rate)


# ---------------------------------------------------------------------------------------------------------
# Smooth signals on knots (k * GRID_MS): pure functions of the knot index.


@functools.lru_cache(maxsize=64)
def _smoothstep(spacing: int) -> np.ndarray:
    f = np.arange(spacing) * (1.0 / spacing)
    return f * f * (3.0 - 2.0 * f)


def _is_dense(knots: np.ndarray) -> bool:
    return len(knots) > 0 and int(knots[-1]) - int(knots[0]) + 1 == len(knots)


_MAX_OCTAVES = 8  # octave n of a noise hashes counter c * 8 + n: one stream for all octaves


def _units(h: np.ndarray) -> np.ndarray:
    return (h >> _U11).astype(np.float64) * 2.0**-53


def value_noise(seed: int, knots: np.ndarray, octaves: tuple[tuple[int, float], ...]) -> np.ndarray:
    """Coloured noise at knot indices: a sum of octaves of value noise, each in [-weight, weight).

    An octave hashes a value every `spacing` knots and smoothstep-interpolates between them. A dense run of
    knots hashes all octaves in one go and fills block by block; scattered knots are computed one by one. Both
    apply the same operations to the same operands, so a knot's value does not depend on the path.
    """
    out = np.full(len(knots), -sum(weight for _, weight in octaves))
    if len(knots) == 0:
        return out
    if not _is_dense(knots):
        for n, (spacing, weight) in enumerate(octaves):
            coarse = knots // spacing if spacing > 1 else knots
            v = hashed_units(seed, coarse * _MAX_OCTAVES + n)
            if spacing > 1:
                w = _smoothstep(spacing)[knots - coarse * spacing]
                v += (hashed_units(seed, (coarse + 1) * _MAX_OCTAVES + n) - v) * w
            out += v * (2.0 * weight)
        return out
    k0, k1 = int(knots[0]), int(knots[-1])
    ranges = [(k0 // spacing, k1 // spacing + (spacing > 1)) for spacing, _ in octaves]
    counters = [np.arange(c0, c1 + 1, dtype=np.int64) * _MAX_OCTAVES + n for n, (c0, c1) in enumerate(ranges)]
    units = _units(stream(np.concatenate(counters), seed))
    at = 0
    for (spacing, weight), (c0, c1) in zip(octaves, ranges, strict=True):
        v = units[at : at + c1 - c0 + 1]
        at += c1 - c0 + 1
        if spacing > 1:
            a = v[:-1, None]
            start = k0 - c0 * spacing
            v = (a + (v[1:, None] - a) * _smoothstep(spacing)[None, :]).ravel()[start : start + len(knots)]
        out += v * (2.0 * weight)
    return out


def _shift_level(u: np.ndarray) -> np.ndarray:
    # The low bits of the hash that also places the shift's edge: as good as independent of the edge.
    return np.asarray(_SHIFT_LEVELS)[(u * 2**40).astype(np.int64) % len(_SHIFT_LEVELS)]


_LOAD_CHUNK = 2048  # knots (about a week): the load is cached per chunk, as every series reads the same one


def load_at_knots(knots: np.ndarray) -> np.ndarray:
    """The load while running (share of design throughput) at sorted knot indices."""
    if len(knots) == 0:
        return np.empty(0, dtype=np.float64)
    c0, c1 = int(knots.min()) // _LOAD_CHUNK, int(knots.max()) // _LOAD_CHUNK
    table = np.concatenate([_load_chunk(c) for c in range(c0, c1 + 1)]) if c1 > c0 else _load_chunk(c0)
    return table[knots - c0 * _LOAD_CHUNK]


@functools.lru_cache(maxsize=1024)
def _load_chunk(chunk: int) -> np.ndarray:
    knots = np.arange(chunk * _LOAD_CHUNK, (chunk + 1) * _LOAD_CHUNK, dtype=np.int64)
    table = _load(knots)
    table.flags.writeable = False
    return table


def _load(knots: np.ndarray) -> np.ndarray:
    t = knots * GRID_MS
    # Shift setpoints: shift s's setpoint takes effect at a hashed time in its first two hours.
    shift = t // _SHIFT_MS
    u_prev, u_last, u_cur = (hashed_units(_SALT_SHIFTS, shift - back) for back in (2, 1, 0))
    edge_last = (shift - 1) * _SHIFT_MS + (u_last * 2 * HOUR_MS).astype(np.int64)
    edge_cur = shift * _SHIFT_MS + (u_cur * 2 * HOUR_MS).astype(np.int64)
    before = t < edge_cur  # the current shift's setpoint has not taken effect yet
    level_prev, level_last, level_cur = (_shift_level(u) for u in (u_prev, u_last, u_cur))
    cur_edge = np.where(before, edge_last, edge_cur)
    cur = np.where(before, level_last, level_cur)
    prev = np.where(before, level_prev, level_last)
    shifted = cur + (prev - cur) * np.exp((t - cur_edge) * (-1.0 / _SHIFT_TAU_MS))
    day = (t % DAY_MS) * (1.0 / DAY_MS)
    week = (t % WEEK_MS) * (1.0 / WEEK_MS)
    swing = 0.01 * np.sin(2 * math.pi * (day - 0.3)) + 0.008 * np.sin(2 * math.pi * week)
    noise = value_noise(_SALT_LOAD_NOISE, knots, ((36, 0.01), (288, 0.012)))
    return np.clip(shifted + swing + noise, *_LOAD_BOUNDS)


@dataclass(frozen=True, slots=True)
class Knots:
    """Knot indices k0 .. k0 + len - 1 covering a set of timestamps, and where each timestamp falls."""

    k0: int
    index: np.ndarray  # per timestamp: its knot's position in the knot array
    frac: np.ndarray  # per timestamp: how far past its knot, in [0, 1)
    knots: np.ndarray  # the knot indices to evaluate; dense, or just each timestamp's two neighbours


def knots_for(ts: np.ndarray) -> Knots:
    # In floating point: a timestamp a hair below a knot may count as on it (frac 0), the same in every query.
    x = ts * (1.0 / GRID_MS)
    q = np.floor(x)
    frac = x - q
    q_int = q.astype(np.int64)
    if len(ts) and int(q_int[-1]) - int(q_int[0]) + 2 <= 2 * len(ts):
        k0 = int(q_int[0])
        q_int -= k0
        return Knots(k0, q_int, frac, np.arange(k0, k0 + int(q_int[-1]) + 2, dtype=np.int64))
    # Sparse points: evaluate only each point's two knots, interleaved so index i and i + 1 are its pair.
    pairs = np.empty(2 * len(ts), dtype=np.int64)
    pairs[0::2], pairs[1::2] = q_int, q_int + 1
    return Knots(0, np.arange(0, 2 * len(ts), 2, dtype=np.int64), frac, pairs)


def interpolate(kn: Knots, values: np.ndarray, part: slice = slice(None)) -> np.ndarray:
    """Values at the timestamps (or a slice of them), linear between `values`, one per `kn.knots`."""
    index = kn.index[part]
    step = np.empty_like(values)
    np.subtract(values[1:], values[:-1], out=step[:-1])
    step[-1] = 0.0
    return values[index] + step[index] * kn.frac[part]


@dataclass(frozen=True, slots=True)
class PlantState:
    running: np.ndarray  # bool: the machine is not stopped
    load: np.ndarray  # float64: throughput as a share of design, 0 when stopped, ramps included


def plant_state(timestamps: np.ndarray) -> PlantState:
    """The plant at sorted int64 ms timestamps."""
    ts = np.asarray(timestamps, dtype=np.int64)
    if len(ts) == 0:
        return PlantState(np.empty(0, dtype=bool), np.empty(0, dtype=np.float64))
    evs = events(int(ts[0]), int(ts[-1]) + 1)
    running = ~in_intervals(ts, [(e.stop, e.restart) for e in evs])
    kn = knots_for(ts)
    load = interpolate(kn, load_at_knots(kn.knots)) * run_factor(ts, evs)
    return PlantState(running, load)


# ---------------------------------------------------------------------------------------------------------
# Counters (run hours, starts) integrate the schedule since a fixed reference, in cached chunks of days.

COUNTER_REFERENCE_MS = 1_546_300_800_000  # 2019-01-01 UTC: counters count from here
_CHUNK_MS = 64 * DAY_MS


@functools.lru_cache(maxsize=4096)
def _chunk_totals(chunk: int) -> tuple[int, int]:
    """Stopped ms and restarts inside chunk `chunk` (stops clipped to it; restarts counted where they fall)."""
    a, b = chunk * _CHUNK_MS, (chunk + 1) * _CHUNK_MS
    stopped = restarts = 0
    for e in events(a, b):
        stopped += max(0, min(e.restart, b) - max(e.stop, a))
        restarts += a <= e.restart < b
    return stopped, restarts


@functools.lru_cache(maxsize=4096)
def _chunk_prefix(chunk: int) -> tuple[int, int]:
    """Totals of the chunks from the reference's up to (not including) `chunk`."""
    first = COUNTER_REFERENCE_MS // _CHUNK_MS
    if chunk <= first:
        return 0, 0
    stopped, restarts = _chunk_prefix(max(first, chunk - 32))  # bounded recursion depth
    for c in range(max(first, chunk - 32), chunk):
        s, r = _chunk_totals(c)
        stopped, restarts = stopped + s, restarts + r
    return stopped, restarts


def counters(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running ms and restarts from COUNTER_REFERENCE_MS up to each sorted timestamp (0 before it)."""
    ts = np.asarray(ts, dtype=np.int64)
    if len(ts) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    chunk = ts // _CHUNK_MS
    c_lo, c_hi = int(chunk[0]), int(chunk[-1])
    prefix = np.array([_chunk_prefix(c) for c in range(c_lo, c_hi + 1)], dtype=np.int64).reshape(-1, 2)
    stopped = prefix[chunk - c_lo, 0]
    restarts = prefix[chunk - c_lo, 1]
    chunk_start = chunk * _CHUNK_MS
    for e in events(c_lo * _CHUNK_MS, int(ts[-1]) + 1):
        reach = (e.restart // _CHUNK_MS + 1) * _CHUNK_MS  # past the restart's chunk, the prefix holds it
        i, j, k = np.searchsorted(ts, [e.stop, e.restart, reach])
        t = ts[i:k]
        stopped[i:k] += np.clip(np.minimum(t, e.restart) - np.maximum(e.stop, chunk_start[i:k]), 0, None)
        restarts[j:k] += 1
    before = ts < COUNTER_REFERENCE_MS
    running = np.where(before, 0, ts - COUNTER_REFERENCE_MS - stopped)
    return running, np.where(before, 0, restarts)
