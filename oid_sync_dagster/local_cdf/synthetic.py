"""A synthetic OID `publicdata`: a PI-like catalog of 363 series and deterministic datapoints made on the fly.

Nothing here is stored. A series' points are a pure function of (series, timestamp): time is cut into slots
of a fixed period per kind, and slot `k` holds at most one point at `k * P + jitter(k)` with
`0 <= jitter(k) < P`. Whether the slot holds a point and the jitter come from a counter-based hash of
(series id, k). So any range is generated without state, ranges split anywhere give the same points, and a
query costs only the slots it touches.

Values come from one plant (plant.py: a compressor that trips a few times a month) read through what the tag
says the series measures: flows fall to near zero in a trip, discharge pressures toward suction, temperatures
decay and recover with their own time constants, flags report the machine, controller modes go to MAN around
some trips. On top: coloured noise, a pure function of time too. Bad and Uncertain points come in bursts over
blocks of slots, at the shares `bad_every` and `uncertain_every` set.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from oid_sync_dagster.local_cdf import plant
from oid_sync_dagster.local_cdf.status import BAD, GOOD, UNCERTAIN

Kind = Literal["analog", "digital", "string", "step"]

# The tag shape every synthetic name has: VAL_<area>-<instrument code>-<number and qualifiers>:<suffix>.
# (Some real tags use underscores instead, e.g. VAL_23_FIC_92543_02; synthetic ones never do.)
NAME_PATTERN = re.compile(r"^VAL_(?P<area>\d+)-(?P<code>[A-Z]+)-(?P<tag>[0-9A-Z-]+):(?P<suffix>.+)$")

STRING_MODES: tuple[str, ...] = ("AUTO", "CAS", "MAN")

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class SourceSeries:
    id: int
    external_id: str
    name: str
    description: str
    is_string: bool
    is_step: bool
    unit: str | None
    metadata: dict[str, str] = field(hash=False)  # a dict: left out so a series can be a dict key
    created_time: int
    last_updated_time: int
    kind: Kind


@dataclass(frozen=True, slots=True)
class Density:
    """Mean seconds between points per kind (realistic defaults)."""

    analog_s: float = 60.0
    digital_s: float = 600.0
    string_s: float = 3600.0
    step_s: float = 1800.0


@dataclass(frozen=True, slots=True)
class Points:
    timestamps: np.ndarray  # int64 ms, strictly ascending
    values: np.ndarray  # float64, or object (str) for string series
    status: np.ndarray  # uint32 status codes, 0 = Good

    def take(self, part: slice) -> Points:
        """A slice; read-only, since blocks of it may be cached and shared between reads."""
        arrays = [a[part] for a in (self.timestamps, self.values, self.status)]
        for a in arrays:
            a.flags.writeable = False
        return Points(*arrays)

    def cut(self, start: int, end: int, limit: int | None) -> Points:
        """The points with start <= ts < end, the first `limit` of them if given."""
        i, j = np.searchsorted(self.timestamps, [start, end]).tolist()
        return self.take(slice(i, j if limit is None else min(j, i + limit)))

    def copy(self) -> Points:
        return Points(*(a.copy() for a in (self.timestamps, self.values, self.status)))

    @staticmethod
    def concat(parts: Sequence[Points]) -> Points:
        return Points(
            *(np.concatenate(a) for a in zip(*((p.timestamps, p.values, p.status) for p in parts), strict=True))
        )


# ---------------------------------------------------------------------------------------------------------
# Hashing: splitmix64 (in plant.py), with salts that keep the id, slot and value streams of a series apart.

_SALT_ID = 0x6F69645F73796E63
_SALT_SLOTS = 0x5A17E5C0FFEE1234
_SALT_VALUES = 0x0B5E55ED5EED5EED
_SALT_BAD = 0xBADB_AD00_0000_0001
_SALT_UNCERTAIN = 0x0DD5_0DD5_0000_0002
_mix64 = plant.mix64
_stream = plant.stream


def series_id_for_pointid(pointid: int) -> int:
    """A stable positive id below 2**53 (JSON-safe, like CDF's) for a PI point id."""
    return (_mix64(pointid ^ _SALT_ID) >> 11) or 1


def _series_id_for(external_id: str) -> int:
    if external_id.startswith("pi:") and external_id[3:].isdigit():
        return series_id_for_pointid(int(external_id[3:]))
    digest = hashlib.blake2b(external_id.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 11) or 1


# ---------------------------------------------------------------------------------------------------------
# The catalog.

# Instrument codes and how many series of each kind carry them: the real catalog's distribution, counted
# outside the six controller loops (4 TIC, 1 PIC, 1 LIC; each 4 Float32, 2 Digital and 1 String).
_FLOAT_CODES: dict[str, int] = {
    "TT": 48, "LY": 34, "PT": 28, "KA": 28, "PDT": 16, "YA": 14, "FT": 14, "PIC": 13, "NY": 12, "TIC": 10,
    "FIC": 10, "LT": 7, "ZA": 6, "XA": 4, "YT": 4, "PDI": 3, "TE": 3, "FI": 2, "LV": 2, "FE": 2, "ZT": 2,
    "GK": 2, "LIC": 2, "PC": 1, "VA": 1,
}  # fmt: skip
_DIGITAL_CODES: dict[str, int] = {
    "KA": 31, "ESDV": 5, "FE": 4, "YZSL": 2, "YZSH": 2, "PC": 2, "ZS": 2, "VA": 2, "GK": 2, "FZSL": 1,
}  # fmt: skip
_CONTROLLER_CODES = ("TIC", "TIC", "TIC", "TIC", "PIC", "LIC")
_CONTROLLER_UNITS = {"TIC": "degC", "PIC": "barg", "LIC": "%"}
_CONTROLLER_WHAT = {"TIC": "Gas Out", "PIC": "Inner Seal", "LIC": "Level"}

# The unit an instrument would naturally report; most real series carry none, so it is kept only sometimes.
_NATURAL_UNITS: dict[str, tuple[str, ...]] = {
    "TT": ("degC", "degC", "DegC"), "TE": ("degC",), "TIC": ("degC",), "PT": ("bar", "barg"),
    "PIC": ("bar", "barg"), "PC": ("bar",), "PDT": ("mbar", "bar"), "PDI": ("mbar",), "FT": ("m3/h", "kg/h"),
    "FIC": ("m3/h",), "FI": ("m3/h",), "FE": ("kg/h",), "LT": ("%",), "LIC": ("%",), "LV": ("%",),
    "YA": ("mV",), "YT": ("mV",), "NY": ("ratio", "-"), "ZA": ("%",), "ZT": ("%",), "XA": ("-",),
    "GK": ("-",), "VA": ("%",),
}  # fmt: skip
_UNIT_KEPT = 0.3

_MEASURE_WORDS: dict[str, str] = {
    "TT": "Temp", "TE": "Temp", "TIC": "Temp Ctrl", "PT": "Press", "PIC": "Press Ctrl", "PC": "Press Ctrl",
    "PDT": "DiffPress", "PDI": "DiffPress Ind", "FT": "Flow", "FIC": "AntSrg Ctrl", "FI": "Flow (Norm)",
    "FE": "Flow Elem", "LT": "Level", "LIC": "Level Ctrl", "LV": "Level Valve", "YA": "Vib",
    "YT": "Vib Trans", "NY": "Speed Ratio", "ZA": "Pos Alarm", "ZT": "Position", "XA": "Alarm",
    "GK": "Gen Status", "VA": "Valve", "ESDV": "ESD Valve", "YZSL": "SOV ZSL Flt", "YZSH": "SOV ZSH Flt",
    "ZS": "Pos Switch", "FZSL": "Flow Switch Low",
}  # fmt: skip
_EQUIPMENT = (
    "1stStgSuctCool", "1stStgDiscCool", "1stStgComp", "1stStg Gear", "1stStg Comp Seal Gas",
    "1stStgSuctScrubber", "1st Stg Oil Header", "1stStg Mtr", "1stStg Comp Inner Seal", "LubeOil Tank",
    "1stStgDiscClr CoolMed", "1stStg Comp Sep Gas",
)  # fmt: skip
_POSITIONS = ("Gas In", "Gas Out", "DE", "NDE", "Inlet", "Outlet", "", "", "")
_SUFFIXES = ("Z.X.Value", "X.Value", "Z.X1.Value", "Z.X2.Value", "Y.Value", "Z.Y.Value")
_SUFFIX_P = (0.42, 0.33, 0.08, 0.08, 0.03, 0.06)
_DIGITAL_SUFFIXES = ("X.Value", "Z.Y.Value", "VALUE")
_LOOP_SYSTEMS = (92500, 92600, 96100, 96200)

# Machine (KA) and level profiler (LY) signals: the tag after the machine's number, with the unit it reports.
_KA_FLOAT_FEATURES: tuple[tuple[str, str | None], ...] = (
    *((f"M01-WINDING-TEMP-{p}{i}:VALUE", "degC") for p in "UVW" for i in (1, 2)),
    *((f"M01-BRG-TEMP-{e}:VALUE", "degC") for e in ("DE", "NDE")),
    *((f"M01-EL:XS.MeasuredValues.CurrentL{i}.Value.Value", "A") for i in (1, 2, 3)),
    *((f"M01-CURRENT-L{i}:VALUE", "A") for i in (1, 2, 3)),
    ("M01-ACTIVE-POWER:VALUE", "kW"), ("M01-TOTAL-POWER:VALUE", "MW"), ("M01-REACTIVE-POWER:VALUE", "kVAr"),
    ("M01-RUN-HOURS:VALUE", "hours"), ("M01-POWER-FACTOR:VALUE", "ratio"), ("M01-STARTS:VALUE", None),
    ("EPR:VALUE", None), ("POLY-EFF:VALUE", "%"), ("POLY-HEAD:VALUE", None), ("SURGE-MARGIN:VALUE", "%"),
    *((f"VIB-{e}-{ax}:VALUE", "mV") for e in ("DE", "NDE") for ax in "XY"),
    ("M01-62C:Z.X.Value", None), ("M01-SPEED:Z.X.Value", None), ("LOAD:Z.X.Value", "%"),
)  # fmt: skip
_KA_DIGITAL_FEATURES: tuple[str, ...] = (
    *(f"M01-OC-{stage}-STAGE-{i}" for stage in ("LOW", "HIGH") for i in (1, 2, 3)),
    *(f"M01-EF-STAGE-{i}" for i in (1, 2)),
    "M01-TCS-TRIP", "M01-WINDING-TEMP-TRIP", "M01-WINDING-TEMP-WARN", "M01-BRG-TEMP-TRIP",
    "M01-BRG-TEMP-WARN", "M01-RUNNING", "M01-READY", "M01-LOCAL", "M01-REMOTE", "M01-UNDERVOLT-TRIP",
    "M01-EARTH-FAULT", "M01-LOCKOUT", "M01-START-INHIBIT", "M01-HEATER-ON", "M01-FAN-RUNNING",
    *(f"M01-ALARM-{i}" for i in range(1, 9)), "SEQ-RUNNING", "SEQ-STOPPED", "SURGE-ALARM", "SURGE-TRIP",
)  # fmt: skip
_KA_BREAKER = ("M01-EL:XS.CoreStatus.XGL.Signal", "M01-EL:XS.CoreStatus.XGH.Signal")
_LY_FEATURES: tuple[tuple[str, str | None], ...] = (
    *((f"DB{i:02d}-{lim}", "Kg/m3") for i in range(1, 11) for lim in ("LL", "HL")),
    *((f"SP-{m}-{hl}", "Kg/m3") for m in ("WATER", "OIL", "FOAM", "SAND") for hl in ("HI", "LO")),
    *((f"OUT-{m}-LEVEL", "%") for m in ("WATER", "OIL", "FOAM", "SAND", "GAS")),
    *((f"SC{i}-TUBE-SP", None) for i in range(4)), *((f"SC{i}-TUBE-Y", None) for i in range(4)),
)  # fmt: skip


# The PI columns a catalog row carries beyond the CDF fields, with the value most points share.
_PI_CONSTANTS: dict[str, str] = {
    "compdev": "0", "convers": "1", "contextClass": "VAL", "filtercode": "0", "compdevpercent": "0",
    "compressing": "0", "srcptid": "0", "displaydigits": "-5", "excdev": "0", "userreal2": "0",
    "userreal1": "0", "totalcode": "0", "ptclassname": "classic", "shutdown": "0", "compmin": "0",
    "ptclassrev": "1", "userint2": "0", "userint1": "0", "excdevpercent": "0", "archiving": "1",
    "ptclassid": "2", "squareroot": "0", "excmin": "0", "contextAgent": "PI contextualization pipeline",
    "future": "0", "_replicatedSource": "akerbp",
}  # fmt: skip
# Point sources and the scan settings that go with them.
_PROFILE_KEYS = ("pointsource", "location1", "location2", "location3", "location4", "location5", "scan",
                 "compmax", "excmax")  # fmt: skip
_PROFILES: dict[str, dict[str, str]] = {
    name: dict(zip(_PROFILE_KEYS, values, strict=True))
    for name, values in {
        "dcs": ("VLH_PCN1", "1", "0", "7", "1", "2", "1", "3600", "0"),
        "dcs5": ("VLH_PCN5", "1", "0", "7", "1", "2", "1", "3600", "0"),
        "lab": ("LAB-WAS-VAL", "1", "0", "1", "1", "0", "0", "28800", "600"),
        "lab800": ("LAB-WAS-VAL800", "1", "0", "1", "1", "0", "0", "86400", "86400"),
        "calc": ("C", "0", "2", "0", "7", "0", "1", "28800", "600"),
    }.items()
}
# digitalset -> `zero`, the code of the set's first state
_DIGITAL_SETS = {"Valhall_True_False": "147", "CLOSEDOPEN": "110"}


@dataclass(slots=True)
class _Draft:
    area: str
    core: str  # the instrument tag without area and suffix, e.g. "PT-96186"
    name: str
    description: str
    kind: Kind
    unit: str | None
    profile: str
    group: str  # points of one piece of equipment get consecutive point ids, as in PI
    digitalset: str = ""
    exdesc: str = ""


class _Names:
    """Draws unique tag names."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.used: set[str] = set()
        self.equipment: dict[str, str] = {}

    def take(self, name: str) -> bool:
        if name in self.used:
            return False
        self.used.add(name)
        return True

    def number(self) -> int:
        return int(self.rng.choice(_LOOP_SYSTEMS)) + int(self.rng.integers(1, 100))

    def equipment_of(self, number: int) -> str:
        # One equipment phrase per loop number, so related tags describe the same thing.
        return self.equipment.setdefault(str(number), str(self.rng.choice(_EQUIPMENT)))

    def area(self) -> str:
        return "45" if self.rng.random() < 0.04 else "23"


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return str(options[int(rng.integers(len(options)))])


def _unit_for(rng: np.random.Generator, code: str) -> str | None:
    natural = _NATURAL_UNITS.get(code)
    return _pick(rng, natural) if natural and rng.random() < _UNIT_KEPT else None


# A controller loop's points: suffix, description words, kind, unit (the setpoint takes the loop's), profile.
_LOOP_POINTS: tuple[tuple[str, str, Kind, str | None, str], ...] = (
    ("Control Module:YR", "Working Setpoint", "step", None, "dcs"),
    ("Control Module:PD", "Derivate time", "analog", "s", "lab800"),
    ("Control Module:PI", "Integral time", "analog", "s", "lab800"),
    ("Control Module:PP", "Gain", "analog", "-", "lab800"),
    ("Control Module:BA", "Auto", "digital", None, "dcs"),
    ("Control Module:BX", "External", "digital", None, "dcs"),
    ("MODE", "Mode", "string", None, "calc"),
)


def _controller_drafts(names: _Names, rng: np.random.Generator) -> list[_Draft]:
    drafts: list[_Draft] = []
    not_step = int(rng.integers(len(_CONTROLLER_CODES)))  # one real working setpoint is not flagged step
    for i, code in enumerate(_CONTROLLER_CODES):
        number = names.number()
        while f"VAL_23-{code}-{number}:MODE" in names.used:
            number = names.number()
        core = f"{code}-{number}"
        prefix = f"VAL_23-{core}"
        base = f"PH {names.equipment_of(number)} {_CONTROLLER_WHAT[code]}"
        ba, bx = f"{prefix}:Control Module:BA", f"{prefix}:Control Module:BX"
        for suffix, what, kind, unit, profile in _LOOP_POINTS:
            name = f"{prefix}:{suffix}"
            names.take(name)
            draft = _Draft("23", core, name, f"{base} {what}", kind, unit, profile, f"23-{core}")
            if suffix == "Control Module:YR":
                draft.unit = _CONTROLLER_UNITS[code]
                draft.kind = "analog" if i == not_step else "step"
            if kind == "digital":
                draft.digitalset = "Valhall_True_False"
            if kind == "string":
                # The mode is a PI performance equation over the loop's two flags, as the real ones are.
                draft.exdesc = (
                    f'if (\'{ba}\') = "True" AND (\'{bx}\') = "False" THEN "AUTO" '
                    f'ELSE if (\'{ba}\') = "True" THEN "CAS" ELSE "MAN"'
                )
            drafts.append(draft)
    return drafts


def _machine_drafts(names: _Names, rng: np.random.Generator) -> list[_Draft]:
    machine = f"KA-{9100 + int(rng.integers(1, 10))}"
    base = "PH (SwitchGear) MV-COMP.M. FEEDER/"
    drafts: list[_Draft] = []
    picks = rng.choice(len(_KA_FLOAT_FEATURES), size=_FLOAT_CODES["KA"], replace=False)
    for j in sorted(int(p) for p in picks):
        tail, unit = _KA_FLOAT_FEATURES[j]
        name = f"VAL_23-{machine}-{tail}"
        names.take(name)
        tag = tail.removeprefix("M01-").removesuffix(".Value.Value")
        what = tag.split(".")[-1] if tag.startswith("EL:") else tag.split(":")[0].replace("-", " ").lower()
        kept = unit if rng.random() < 0.6 else None
        drafts.append(_Draft("23", machine, name, f"{base} {what}", "analog", kept, "dcs5", f"23-{machine}"))
    for signal in _KA_BREAKER:
        name = f"VAL_23-{machine}-{signal}.Value"
        names.take(name)
        what = "Circuit Breaker Open (OFF)" if "XGL" in signal else "Circuit Breaker Closed (ON)"
        drafts.append(_Draft("23", machine, name, f"PH {what}", "digital", None, "dcs", f"23-{machine}", "CLOSEDOPEN"))
    count = _DIGITAL_CODES["KA"] - len(_KA_BREAKER)
    for j in sorted(int(p) for p in rng.choice(len(_KA_DIGITAL_FEATURES), size=count, replace=False)):
        feature = _KA_DIGITAL_FEATURES[j]
        name = f"VAL_23-{machine}-{feature}:VALUE"
        names.take(name)
        what = feature.removeprefix("M01-").replace("-", " ").lower()
        profile = "lab" if rng.random() < 0.3 else "dcs5"
        draft = _Draft("23", machine, name, f"{base} {what}", "digital", None, profile, f"23-{machine}")
        draft.digitalset = "Valhall_True_False"
        drafts.append(draft)
    return drafts


def _profiler_drafts(names: _Names, rng: np.random.Generator) -> list[_Draft]:
    core = f"LY-{names.number()}"
    drafts: list[_Draft] = []
    picks = rng.choice(len(_LY_FEATURES), size=_FLOAT_CODES["LY"], replace=False)
    for j in sorted(int(p) for p in picks):
        feature, unit = _LY_FEATURES[j]
        name = f"VAL_23-{core}-{feature}:VALUE"
        names.take(name)
        kept = unit if rng.random() < 0.7 else None
        what = feature.replace("-", " ").lower()
        drafts.append(_Draft("23", core, name, f"PH (Profiler) {what}", "analog", kept, "dcs5", f"23-{core}"))
    return drafts


def _measurement_draft(names: _Names, rng: np.random.Generator, code: str, kind: Kind) -> _Draft:
    while True:
        area, number = names.area(), names.number()
        r = rng.random()
        sub = "" if r < 0.55 else f"-{int(rng.integers(1, 4)):02d}" if r < 0.85 else _pick(rng, "AB")
        if kind == "digital":
            suffix = _pick(rng, _DIGITAL_SUFFIXES)
            sub = "-F" if code.startswith(("YZ", "FZ")) else sub
        else:
            suffix = str(rng.choice(_SUFFIXES, p=_SUFFIX_P))
        name = f"VAL_{area}-{code}-{number}{sub}:{suffix}"
        if names.take(name):
            break
    position = _pick(rng, _POSITIONS)
    description = " ".join(w for w in ("PH", names.equipment_of(number), position, _MEASURE_WORDS[code]) if w)
    # Bearing and vibration probes with a numbered sub-tag come from the lab system, as in the real catalog.
    profile = "lab" if code in ("TT", "YA", "YT") and sub.startswith("-") and rng.random() < 0.7 else "dcs"
    unit = None if kind == "digital" else _unit_for(rng, code)
    digitalset = "Valhall_True_False" if kind == "digital" else ""
    core = f"{code}-{number}{sub}"
    return _Draft(area, core, name, description, kind, unit, profile, f"{area}-{code}-{number}", digitalset)


def _context(rng: np.random.Generator, draft: _Draft) -> dict[str, str]:
    match = f"{draft.area}-{draft.core}"
    r = rng.random()
    if r < 0.5:
        return {"contextAlgorithm": "Exact match", "contextConfidenceScore": "1", "contextMatchString": match}
    if r < 0.75:
        return {
            "contextAlgorithm": "Root classifier",
            "contextConfidenceScore": "0.75",
            "contextMatchString": match,
        }
    score = f"{rng.uniform(0.55, 0.95):.16g}"
    return {
        "contextAlgorithm": "Entity match, VAL",
        "contextConfidenceScore": score,
        "contextMatchString": match,
        "context1stEntityMatchExtId": f"VAL_{match}",
        "context1stEntityMatchConfScore": score,
        "context2ndEntityMatchExtId": "N/A",
        "context2ndEntityMatchConfScore": "-1",
        "contextEntityMatchNGramScore": f"{rng.uniform(0.05, 0.3):.16g}",
        "contextEntityMatchJaroWinklerScore": f"{rng.uniform(0.85, 1.0):.16g}",
    }


def _metadata(
    rng: np.random.Generator, draft: _Draft, pointid: int, recno_offset: int, replicated: int
) -> dict[str, str]:
    pointtype = {"digital": "Digital", "string": "String"}.get(draft.kind, "Float32")
    meta = dict(_PI_CONSTANTS)
    meta.update(_PROFILES[draft.profile])
    meta.update(_context(rng, draft))
    meta.update(
        pointtype=pointtype,
        descriptor=draft.description,
        tag=draft.name,
        pointid=str(pointid),
        recno=str(pointid - recno_offset),
        step="0" if draft.kind == "analog" else "1",  # PI marks digital and string points stepped too
        zero=_DIGITAL_SETS.get(draft.digitalset, "0"),
        span="1" if draft.kind == "digital" else "100",
        typicalvalue="0" if draft.kind == "digital" else "50",
        _replicatedTime=str(replicated),
        _replicatedInternalId=str(int(rng.integers(10**15, 9 * 10**15))),
    )
    if draft.kind != "string":  # calculated points have no instrument tag
        meta["instrumenttag"] = draft.name.removeprefix("VAL_")
    if draft.digitalset:
        meta["digitalset"] = draft.digitalset
    if draft.unit:
        meta["engunits"] = draft.unit
    if draft.exdesc:
        meta["exdesc"] = draft.exdesc
    return meta


@functools.lru_cache(maxsize=4)
def synthetic_catalog(seed: int = 0) -> tuple[SourceSeries, ...]:
    """363 PI-like series shaped like OID's: 292 Float32 (5 step), 65 Digital, 6 String; fixed by the seed.

    Built once per seed and process (40 ms; every server start asks for it) and shared: read only, metadata too."""
    rng = np.random.default_rng(seed)
    names = _Names(rng)
    drafts = _controller_drafts(names, rng) + _machine_drafts(names, rng) + _profiler_drafts(names, rng)
    for code, count in _FLOAT_CODES.items():
        if code not in ("KA", "LY"):
            drafts += [_measurement_draft(names, rng, code, "analog") for _ in range(count)]
    for code, count in _DIGITAL_CODES.items():
        if code != "KA":
            drafts += [_measurement_draft(names, rng, code, "digital") for _ in range(count)]

    # PI numbers points in creation order, so one piece of equipment holds a run of point ids.
    groups: dict[str, list[_Draft]] = {}
    for draft in drafts:
        groups.setdefault(draft.group, []).append(draft)
    next_id = {"23": 160_000 + int(rng.integers(10, 40)), "45": 163_300 + int(rng.integers(0, 100))}
    recno_offset = 15_000 + int(rng.integers(0, 1000))
    replicated = 1_678_000_000_000 + int(rng.integers(0, 10**9))
    out: list[SourceSeries] = []
    keys = list(groups)
    keys = [keys[i] for i in rng.permutation(len(keys))]
    for key in sorted(keys, key=lambda g: g.split("-")[0]):  # stable: shuffled within an area
        area = key.split("-")[0]
        for draft in groups[key]:
            pointid = next_id[area]
            next_id[area] += 1
            created = int(rng.integers(1_546_300_800_000, 1_640_995_200_000))  # 2019 .. 2022
            meta = _metadata(rng, draft, pointid, recno_offset, replicated)
            out.append(
                SourceSeries(
                    id=series_id_for_pointid(pointid),
                    external_id=f"pi:{pointid}",
                    name=draft.name,
                    description=draft.description,
                    is_string=draft.kind == "string",
                    is_step=draft.kind == "step",
                    unit=draft.unit,
                    metadata=meta,
                    created_time=created,
                    last_updated_time=replicated + int(rng.integers(0, 60_000)),
                    kind=draft.kind,
                )
            )
        next_id[area] += int(rng.integers(0, 6))
    return tuple(sorted(out, key=lambda s: s.external_id))


# Columns of the real catalog's CSV that are CDF fields, not PI metadata.
_NON_METADATA_COLUMNS = frozenset(
    ("externalId", "name", "isString", "isStep", "description", "securityCategories", "assetExternalId",
     "unit")
)  # fmt: skip


def _truthy(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1")


def _kind_of(pointtype: str, is_string: bool, is_step: bool) -> Kind:
    # PI flags digital and string points as stepped too; CDF's isStep is set only on stepped Float32 ones.
    if is_string:
        return "string"
    if pointtype == "Digital":
        return "digital"
    return "step" if is_step else "analog"


def load_catalog_csv(path: str | os.PathLike[str]) -> tuple[SourceSeries, ...]:
    """SourceSeries from a CSV with the real catalog's columns: the CDF fields, then one column per PI key."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out: list[SourceSeries] = []
    for row in rows:
        # CDF omits empty metadata values; a CSV export writes them as empty cells.
        meta = {k: v for k, v in row.items() if k and k not in _NON_METADATA_COLUMNS and v}
        pointtype = meta.get("pointtype", "")
        is_string = _truthy(row.get("isString")) or pointtype == "String"
        is_step = _truthy(row.get("isStep"))
        kind = _kind_of(pointtype, is_string, is_step)
        external_id = row["externalId"]
        pointid = meta.get("pointid", "")
        series_id = series_id_for_pointid(int(pointid)) if pointid.isdigit() else _series_id_for(external_id)
        updated_text = meta.get("_replicatedTime", "")
        updated = int(updated_text) if updated_text.isdigit() else 1_678_000_000_000
        # The export has no creation time: a stable one from the id, before the last update.
        created = min(updated, 1_546_300_800_000 + series_id % (3 * 365 * _DAY_MS))
        out.append(
            SourceSeries(
                id=series_id,
                external_id=external_id,
                name=row.get("name") or external_id,
                description=row.get("description") or "",
                is_string=is_string,
                is_step=is_step,
                unit=(row.get("unit") or meta.get("engunits") or None),
                metadata=meta,
                created_time=created,
                last_updated_time=updated,
                kind=kind,
            )
        )
    return tuple(out)


# ---------------------------------------------------------------------------------------------------------
# Datapoints.

# Share of slots left empty per kind; the slot period shrinks to match, so the mean spacing stays the density.
_DROP: dict[str, float] = {"analog": 0.03, "digital": 0.5, "string": 0.5, "step": 0.5}
_KEEP_BITS = 12  # slot kept: the top 12 hash bits; white noise: the 20 below; jitter: the low 32
_WHITE_BITS = 20
_LOW32 = np.uint64(0xFFFFFFFF)
_WHITE_MASK = np.uint64((1 << _WHITE_BITS) - 1)
_U32 = np.uint64(32)
_MAX_CHUNK_SLOTS = 1 << 20  # bounds the scratch arrays of one generation step
# Small reads go through a cache of aligned blocks of slots (_RecentBlocks): 64 slots are about an hour of an
# analog series, and 8,192 blocks (a few per series, at most about 16 MB) hold the live edge of every series.
_CACHE_BLOCK_SLOTS = 64
_CACHED_READ_SLOTS = 2 * _CACHE_BLOCK_SLOTS  # reads up to this many slots use the cache; longer ones generate
_CACHE_MAX_BLOCKS = 8192
# Bad and Uncertain points come in bursts (a transmitter dropping out): slots are cut into blocks, and a block
# holds at most one burst per category, with a chance and a mean length that keep the share at 1 / every.
_BURST_BLOCK_SLOTS = 512
_BURST_MEAN_SLOTS = 6
# Events this far back still matter: beyond LAG_CUTOFF times the slowest time constant (2 h) and a loop's
# manual tail after a restart.
_EVENT_LOOKBACK_MS = 3 * plant.DAY_MS
_WARN_LEAD_MS = 30 * plant.MINUTE_MS  # a trip's warning comes on up to this long before it (_flag)
_HOLD_MS = 16 * plant.DAY_MS  # tuning constants and profiler limits change at most this often
_TWO_PI = 2.0 * math.pi

# Plausible operating ranges by unit: (low, high) for the base level.
_RANGES: dict[str, tuple[float, float]] = {
    "degC": (15.0, 120.0), "DegC": (15.0, 120.0), "bar": (1.0, 60.0), "barg": (1.0, 60.0),
    "mbar": (5.0, 800.0), "%": (10.0, 90.0), "Kg/m3": (600.0, 1050.0), "A": (20.0, 400.0),
    "kW": (50.0, 5000.0), "kw": (50.0, 5000.0), "MW": (1.0, 12.0), "kVAr": (50.0, 2000.0),
    "m3/h": (50.0, 3000.0), "kg/h": (100.0, 20000.0), "mV": (1.0, 150.0), "s": (1.0, 600.0),
    "hours": (1000.0, 50000.0), "ratio": (0.5, 4.0), "-": (0.0, 10.0),
}  # fmt: skip

# ---------------------------------------------------------------------------------------------------------
# What a series measures, read from its tag (instrument code, machine signal words), description and unit.

# The instrument code of a tag, synthetic (VAL_23-PT-96155:X.Value) or real (VAL_23_FIC_92543_02:Z.X.Value).
_CODE = re.compile(r"^VAL_\d+[-_]([A-Z]+)[-_]")
_CODE_ROLES: dict[str, str] = {
    **dict.fromkeys(("TT", "TE", "TIC"), "temperature"),
    **dict.fromkeys(("PT", "PIC", "PC", "PI"), "pressure"),
    **dict.fromkeys(("PDT", "PDI", "PDIC"), "dp"),
    **dict.fromkeys(("FT", "FIC", "FI", "FE", "FY"), "flow"),
    **dict.fromkeys(("LT", "LIC", "LY", "LI"), "level"),
    **dict.fromkeys(("YA", "YT", "YE", "VT"), "vibration"),
    **dict.fromkeys(("NY", "ST", "SY"), "speed"),
    **dict.fromkeys(("LV", "VA", "ZT", "ZA", "XA", "GK", "FV", "PV", "TV"), "output"),
}  # fmt: skip
_UNIT_ROLES: dict[str, str] = {
    "degC": "temperature", "DegC": "temperature", "bar": "pressure", "barg": "pressure", "mbar": "dp",
    "m3/h": "flow", "kg/h": "flow", "%": "level", "A": "electric", "kW": "electric", "kw": "electric",
    "MW": "electric", "kVAr": "electric", "mV": "vibration", "hours": "hours",
}  # fmt: skip
# Machine, profiler and controller signals by words of the tag (upper case; the first match wins).
_NAME_ROLES: tuple[tuple[str, str], ...] = (
    ("CONTROL MODULE:YR", "setpoint"), ("CONTROL MODULE:P", "held"), ("RUN-HOURS", "hours"),
    ("STARTS", "starts"), ("TEMP", "temperature"), ("CURRENT", "electric"), ("POWER", "electric"),
    ("LOAD", "electric"), ("POLY-", "electric"), ("VIB", "vibration"), ("SPEED", "speed"),
    ("EPR", "pressure_out"), ("SURGE-MARGIN", "output"), ("-LEVEL", "level"), ("TUBE-Y", "level"),
    ("TUBE-SP", "held"), ("-DB", "held"), ("-SP-", "held"),
)  # fmt: skip
_FLAG_ROLES: tuple[tuple[str, str], ...] = (
    ("CONTROL MODULE:BA", "auto"), ("CONTROL MODULE:BX", "external"), ("XGH", "running"), ("XGL", "stopped"),
    ("TRIP", "trip"), ("WARN", "warn"), ("SURGE-ALARM", "warn"), ("STOPPED", "stopped"), ("HEATER", "stopped"),
    ("RUNNING", "running"), ("READY", "ready"), ("LOCKOUT", "inhibit"), ("INHIBIT", "inhibit"),
    ("LOCAL", "local"), ("REMOTE", "remote"), ("ALARM", "rare"), ("FAULT", "rare"), ("-OC-", "rare"),
    ("-EF-", "rare"),
)  # fmt: skip
# ESD valves shut and a low-flow switch trips when the machine stops; SOV faults are rare.
_FLAG_CODE_ROLES = {"ESDV": "running", "FZSL": "stopped", "YZSL": "rare", "YZSH": "rare"}


def _role_of(series: SourceSeries) -> str:
    name = series.name.upper()
    match = _CODE.match(series.name)
    code = match[1] if match else ""
    if series.kind == "string":
        return "mode"
    if series.kind == "step":
        return "setpoint"
    if series.kind == "digital":
        by_name = next((role for word, role in _FLAG_ROLES if word in name), None)
        return by_name or _FLAG_CODE_ROLES.get(code, "random")
    role = next((role for word, role in _NAME_ROLES if word in name), None)
    role = role or _CODE_ROLES.get(code) or _UNIT_ROLES.get(series.unit or "", "process")
    if role == "pressure":  # discharge pressure falls toward suction pressure in a stop; suction rises a little
        d = series.description
        outlet = "Gas Out" in d or "Outlet" in d or not any(w in d for w in ("Gas In", "Inlet", "Suct"))
        role = "pressure_out" if outlet else "pressure_in"
    return role


# Coloured noise: octaves of value noise, (spacing in knots of plant.GRID_MS, weight).
_NORMAL = ((1, 0.45), (6, 0.6), (36, 0.6), (288, 0.35))
_FAST = ((1, 0.8), (6, 0.6), (36, 0.35), (288, 0.2))
_SLOW = ((1, 0.1), (6, 0.25), (36, 0.6), (288, 1.0))


@dataclass(frozen=True, slots=True)
class _Response:
    """How a kind of measurement follows the plant."""

    span: tuple[float, float]  # base (running) level when the unit gives no range
    tau_s: tuple[float, float]  # first-order time constant to a stop and back
    stopped: tuple[float, float]  # level when stopped, as a share of the running level
    gain: float  # relative change of the level per relative change of the load
    noise: tuple[float, float]  # coloured noise, as a share of the level
    quiet: bool  # the noise fades with the machine: flows, speeds and currents read near zero when stopped
    octaves: tuple[tuple[int, float], ...] = _NORMAL


_RESPONSES: dict[str, _Response] = {
    "flow": _Response((50.0, 3000.0), (30, 120), (0.0, 0.02), 1.0, (0.008, 0.02), True),
    "pressure_out": _Response((5.0, 60.0), (60, 600), (0.35, 0.6), 0.3, (0.003, 0.008), False),
    "pressure_in": _Response((1.0, 20.0), (120, 900), (1.05, 1.3), -0.1, (0.003, 0.008), False),
    "dp": _Response((5.0, 800.0), (30, 180), (0.0, 0.05), 1.8, (0.01, 0.025), True),
    "temperature": _Response((30.0, 120.0), (1200, 7200), (0.3, 0.75), 0.15, (0.003, 0.008), False),
    "level": _Response((20.0, 80.0), (600, 3600), (0.85, 1.2), 0.0, (0.03, 0.07), False, _SLOW),
    "vibration": _Response((5.0, 100.0), (20, 90), (0.02, 0.06), 0.5, (0.03, 0.07), True, _FAST),
    "speed": _Response((0.8, 4.0), (60, 300), (0.0, 0.0), 0.1, (0.002, 0.005), True),
    "electric": _Response((20.0, 400.0), (5, 30), (0.0, 0.01), 1.0, (0.005, 0.012), True),
    "output": _Response((10.0, 90.0), (10, 90), (0.0, 0.05), 0.8, (0.01, 0.025), False),
    "process": _Response((0.0, 100.0), (60, 600), (0.6, 0.95), 0.3, (0.008, 0.02), False),
}
_COUNTER_SPANS = {"hours": (1000.0, 20000.0), "starts": (20.0, 200.0)}
_HELD_SPAN = (0.0, 100.0)
_FLAG_ROLE_NAMES = frozenset(
    ("running", "stopped", "trip", "warn", "inhibit", "ready", "local", "remote", "auto", "external")
)


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything about one series' points that does not depend on time, derived once from its id."""

    kind: Kind
    role: str
    period: int  # slot period, ms
    keep: float  # share of slots that hold a point
    drop_below: int  # a slot is empty when its hash's top bits are below this
    slot_seed: int
    value_seed: int
    block_slots: int  # random flags and setpoints hold their value for this many slots
    base: float  # level at nominal load
    stopped: float  # level the series approaches when the machine stops
    gain: float
    tau_ms: float
    noise: float  # scale of the coloured noise
    white: float  # half-width of the white (measurement) noise
    octaves: tuple[tuple[int, float], ...]
    quiet: bool
    daily: np.ndarray | None = field(hash=False)  # a daily swing (temperatures: ambient) per knot of the day
    p_one: int  # random flags: 53-bit threshold for state 1
    step_size: float
    cause: str  # trip and warning flags: the trip cause they report, "" for any
    loop_seed: int  # a controller loop's mode, auto and external flags share it
    clip: tuple[float, float] | None


class SyntheticSource:
    """Datapoints of a synthetic catalog, each a pure function of (series, timestamp)."""

    def __init__(
        self,
        catalog: Sequence[SourceSeries],
        *,
        density: Density = Density(),  # frozen, so sharing the default is safe
        history_start_ms: int,
        bad_every: int = 20_000,
        uncertain_every: int = 20_000,
    ) -> None:
        self.catalog: tuple[SourceSeries, ...] = tuple(catalog)
        self.density = density
        self.history_start_ms = int(history_start_ms)
        self.by_id: Mapping[int, SourceSeries] = {s.id: s for s in self.catalog}
        self.by_external_id: Mapping[str, SourceSeries] = {s.external_id: s for s in self.catalog}
        if len(self.by_id) != len(self.catalog) or len(self.by_external_id) != len(self.catalog):
            raise ValueError("catalog ids and external ids must be unique")
        self._periods_s = {
            "analog": density.analog_s,
            "digital": density.digital_s,
            "string": density.string_s,
            "step": density.step_s,
        }
        for kind, seconds in self._periods_s.items():
            if not 0.0 < seconds * 1000.0 < 2.0**31:
                raise ValueError(f"density for {kind} must be positive and under about 24 days, got {seconds} s")
        self._bad_rate = 1.0 / bad_every if bad_every > 0 else 0.0
        self._uncertain_rate = 1.0 / uncertain_every if uncertain_every > 0 else 0.0
        self._plans: dict[tuple[int, str, str | None, str], _Plan] = {}
        self._recent = _RecentBlocks(self)

    def points(self, series: SourceSeries, start: int, end: int, limit: int | None = None) -> Points:
        """Points with `start <= ts < end` and ts >= history start, ascending; the first `limit` if given."""
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        plan = self._plan(series)
        lo, end = max(int(start), self.history_start_ms), int(end)
        if end <= lo or limit == 0:
            return _empty(plan.kind)
        period = plan.period
        k, k_stop = lo // period, (end - 1) // period + 1  # the slots that overlap [lo, end)
        if k_stop - k <= _CACHED_READ_SLOTS:
            return self._recent.points(plan, _plan_key(series), k, k_stop).cut(lo, end, limit)
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        found = 0
        while k < k_stop and (limit is None or found < limit):
            # With a limit, size the step to about what the limit needs, so a small page costs little.
            want = _MAX_CHUNK_SLOTS if limit is None else int((limit - found) / plan.keep * 1.05) + 16
            k_hi = min(k_stop, k + min(want, _MAX_CHUNK_SLOTS))
            slots, ts, h = _occupied(plan, k, k_hi)
            i = int(np.searchsorted(ts, lo)) if k * period < lo else 0
            j = int(np.searchsorted(ts, end)) if k_hi * period > end else len(ts)
            if limit is not None:
                j = min(j, i + limit - found)
            if j > i:
                parts.append((slots[i:j], ts[i:j], h[i:j]))
                found += j - i
            k = k_hi
        if not parts:
            return _empty(plan.kind)
        if len(parts) == 1:
            slots, ts, h = parts[0]
        else:
            slots, ts, h = (np.concatenate(a) for a in zip(*parts, strict=True))
        return Points(timestamps=ts, values=_values(plan, slots, ts, h), status=self._status(plan, slots))

    def _status(self, plan: _Plan, slots: np.ndarray) -> np.ndarray:
        """Good, but for bursts: a transmitter drops out (Bad), reading Uncertain for a slot or two first;
        and Uncertain spells of their own, which make up the rest of the Uncertain share."""
        status = np.full(len(slots), GOOD, dtype=np.uint32)
        if len(slots) == 0:
            return status
        runs: list[tuple[np.ndarray, np.ndarray, int]] = []  # applied in order: Bad last, so it wins
        lead_share = 0.0
        if self._bad_rate > 0:
            bad_first, bad_end = _bursts(slots, plan.slot_seed ^ _SALT_BAD, self._bad_rate)
            lead_share = min(1.0, self._bad_rate * _BURST_BLOCK_SLOTS / _BURST_MEAN_SLOTS) * 1.5 / _BURST_BLOCK_SLOTS
        if self._uncertain_rate > lead_share:
            rate = self._uncertain_rate - lead_share
            runs.append((*_bursts(slots, plan.slot_seed ^ _SALT_UNCERTAIN, rate), UNCERTAIN))
        if self._bad_rate > 0:
            if self._uncertain_rate > 0:
                lead = 1 + (bad_first & 1)  # 1 or 2 slots: the low bit of a hashed place is as good as random
                runs.append((bad_first - lead, bad_first, UNCERTAIN))
            runs.append((bad_first, bad_end, BAD))
        for first, end, code in runs:
            if len(first):
                edges = np.searchsorted(slots, np.concatenate([first, end])).tolist()
                for i, j in zip(edges[: len(first)], edges[len(first) :], strict=True):
                    status[i:j] = code
        return status

    def _plan(self, series: SourceSeries) -> _Plan:
        key = _plan_key(series)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _make_plan(series, self._periods_s[series.kind])
        return plan

    def _generate(self, plan: _Plan, k_lo: int, k_hi: int) -> tuple[np.ndarray, Points]:
        """Slot indices and points of the occupied slots in [k_lo, k_hi)."""
        slots, ts, h = _occupied(plan, k_lo, k_hi)
        return slots, Points(timestamps=ts, values=_values(plan, slots, ts, h), status=self._status(plan, slots))


def _plan_key(series: SourceSeries) -> tuple[int, str, str | None, str]:
    """What a series' points depend on besides time (and the source's settings)."""
    return (series.id, series.kind, series.unit, series.name)


class _RecentBlocks:
    """Points of small reads, generated by aligned blocks of slots and kept in a bounded LRU.

    A realtime pass reads every series' live edge twice: its newest point (`latest`, the last hour), then the new
    points since its mark (a few minutes inside that hour). Generating a window costs about 0.2 ms whatever its
    length (plant events, noise knots, status bursts), more than its few points. Blocks are a pure function of
    (series, slot), like every point, so a cached block is what generating it again gives: only the cost changes.
    """

    def __init__(self, source: SyntheticSource) -> None:
        self._source = source
        self._blocks: OrderedDict[tuple[Hashable, int], Points] = OrderedDict()
        self._lock = threading.Lock()  # the local CDF serves requests from a thread pool
        # A few blocks per series: the live edge of every series of a large CSV catalog too.
        self._max_blocks = max(_CACHE_MAX_BLOCKS, 4 * len(source.catalog))

    def points(self, plan: _Plan, plan_key: Hashable, k_lo: int, k_hi: int) -> Points:
        """The points of the blocks that cover slots [k_lo, k_hi)."""
        size = _CACHE_BLOCK_SLOTS
        blocks = range(k_lo // size, (k_hi - 1) // size + 1)
        with self._lock:
            found = {b: self._blocks.get((plan_key, b)) for b in blocks}
            for b, block in found.items():
                if block is not None:
                    self._blocks.move_to_end((plan_key, b))
        missing = [b for b, block in found.items() if block is None]
        if missing:  # one generation for every missing block: the blocks read together are contiguous
            first, stop = missing[0], missing[-1] + 1
            slots, generated = self._source._generate(plan, first * size, stop * size)
            edges = np.searchsorted(slots, np.arange(first, stop + 1, dtype=np.int64) * size).tolist()
            with self._lock:
                for b, i, j in zip(range(first, stop), edges, edges[1:], strict=False):
                    # A copy: a view would keep the whole generated window alive after its neighbours are evicted.
                    block = found[b] = generated.take(slice(i, j)).copy()
                    self._blocks[(plan_key, b)] = block
                while len(self._blocks) > self._max_blocks:
                    self._blocks.popitem(last=False)
        parts = [found[b] for b in blocks]
        return parts[0] if len(parts) == 1 else Points.concat(parts)


def _seed_of(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


_KNOTS_PER_DAY = plant.DAY_MS // plant.GRID_MS


def _daily_swing(amplitude: float, phase: float) -> np.ndarray:
    return amplitude * np.sin((np.arange(_KNOTS_PER_DAY) / _KNOTS_PER_DAY + phase) * _TWO_PI)


def _make_plan(series: SourceSeries, mean_s: float) -> _Plan:
    kind = series.kind
    role = _role_of(series)
    drop_below = round(_DROP[kind] * (1 << _KEEP_BITS))
    keep = 1.0 - drop_below / (1 << _KEEP_BITS)
    period = max(1, round(mean_s * 1000.0 * keep))
    rng = np.random.default_rng([series.id, 0x5E71E5])
    response = _RESPONSES.get(role, _RESPONSES["process"])
    span = _COUNTER_SPANS.get(role) or (_HELD_SPAN if role == "held" else response.span)
    low, high = _RANGES.get(series.unit or "", span)
    base = float(rng.uniform(low, high))
    if role == "held":
        base = round(base, 1)
    stopped = base * float(rng.uniform(*response.stopped))
    if role == "output" and rng.random() < 0.4:  # a valve that fails open: it opens fully in a stop
        stopped = max(base * 1.5, 100.0 if series.unit == "%" else base * 2.0)
    noise = abs(base) * float(rng.uniform(*response.noise)) + 1e-3
    norm = 0.5 * math.sqrt(sum(w * w for _, w in response.octaves))  # value noise has a std of about 0.5 w
    step_hours = rng.uniform(3, 12)
    block_hours = {"random": rng.uniform(1, 24), "rare": rng.uniform(0.5, 4), "setpoint": step_hours}
    amplitude = float(rng.uniform(0.01, 0.06)) * max(abs(base), (high - low) * 0.1)
    clip = (0.0, 100.0) if series.unit == "%" else (0.0, math.inf) if response.quiet and role != "flow" else None
    name = series.name.upper()
    return _Plan(
        kind=kind,
        role=role,
        period=period,
        keep=keep,
        drop_below=drop_below,
        slot_seed=_mix64(series.id ^ _SALT_SLOTS),
        value_seed=_mix64(series.id ^ _SALT_VALUES),
        block_slots=max(1, round(float(block_hours.get(role, 1.0)) * plant.HOUR_MS / period)),
        base=base,
        stopped=stopped,
        gain=response.gain,
        tau_ms=float(rng.uniform(*response.tau_s)) * 1000.0,
        noise=noise / norm,
        white=noise * 0.25,
        octaves=response.octaves,
        quiet=response.quiet,
        daily=_daily_swing(abs(base) * float(rng.uniform(0.002, 0.006)), float(rng.random()))
        if role == "temperature"
        else None,
        p_one=int(rng.uniform(0.005, 0.03 if role == "rare" else 0.5) * 2**53),
        step_size=float(np.float32(max(0.5, round(amplitude, 1)))),
        cause=next((c for c in plant.TRIP_CAUSES if c in name), ""),
        loop_seed=_seed_of(series.name.split(":")[0]),
        clip=clip,
    )


def _occupied(plan: _Plan, k_lo: int, k_hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The occupied slots in [k_lo, k_hi): slot indices, timestamps (ascending) and their hashes."""
    slots = np.arange(k_lo, k_hi, dtype=np.int64)
    h = _stream(slots, plan.slot_seed)
    if plan.drop_below:
        kept = (h >> np.uint64(64 - _KEEP_BITS)) >= np.uint64(plan.drop_below)
        slots, h = slots[kept], h[kept]
    # jitter = floor(low32 * P / 2**32) < P, so a slot's point stays inside its slot and order holds.
    jitter = ((h & _LOW32) * np.uint64(plan.period)) >> np.uint64(32)
    ts = slots * plan.period + jitter.view(np.int64)
    return slots, ts, h


def _bursts(slots: np.ndarray, seed: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Bursts over the blocks of `slots`: per block, with a chance, one run of slots [first, end) at a hashed
    place, long enough on average that the bursts cover a share `rate` of all slots."""
    size = _BURST_BLOCK_SLOTS
    chance = min(1.0, rate * size / _BURST_MEAN_SLOTS)
    mean = rate * size / chance  # once every block holds a burst, the bursts grow longer instead
    # One block more than the slots touch: a Bad burst at the start of the next block marks the slot or two before
    # it (the end of this one) Uncertain, whether or not the range reaches that block.
    b0, b1 = int(slots[0]) // size, int(slots[-1]) // size + 1
    u = plant.hashed_units(seed, np.arange(4 * b0, 4 * b1 + 4, dtype=np.int64)).reshape(-1, 4)  # 3 draws a block
    hit = np.flatnonzero(u[:, 0] < chance)
    if len(hit) == 0:
        return hit, hit
    length = np.minimum(size, 1 + np.floor(u[hit, 1] * (2 * mean - 1)))
    offset = np.floor(u[hit, 2] * (size - length + 1))
    first = (hit + b0) * size + offset.astype(np.int64)
    return first, first + length.astype(np.int64)


def _values(plan: _Plan, slots: np.ndarray, ts: np.ndarray, h: np.ndarray) -> np.ndarray:
    role = plan.role
    if role in _RESPONSES:
        return _analog(plan, ts, h)
    if role in ("hours", "starts"):
        return _counter(plan, ts)
    if role == "held":
        return _held(plan, ts)
    if role == "mode":
        return np.array(STRING_MODES, dtype=object)[_mode_index(plan, ts, _events_for(ts))]
    if role in _FLAG_ROLE_NAMES:
        return _flag(plan, ts).astype(np.float64)
    # Random flags and setpoints hold a value over a block of slots; the block's hash picks it.
    blocks = slots // plan.block_slots
    u = _stream(blocks, plan.value_seed) >> np.uint64(11)  # 53 uniform bits
    if plan.kind == "digital":
        return (u < np.uint64(plan.p_one)).astype(np.float64)
    # setpoint: moved by whole steps around its base
    level = (u % np.uint64(7)).astype(np.float64) - 3.0
    v = plan.base + plan.step_size * level
    return _float32(np.clip(v, *plan.clip) if plan.clip else v)


def _events_for(ts: np.ndarray) -> list[plant.Event]:
    """The events that can shape points at `ts`: those before (responses decay for days) and, so that a range ending
    just before a trip reads what a longer one does, those whose warning (_WARN_LEAD_MS) already shows."""
    return plant.events(int(ts[0]) - _EVENT_LOOKBACK_MS, int(ts[-1]) + 1 + _WARN_LEAD_MS) if len(ts) else []


def _float32(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float32).astype(np.float64)  # Float32 points: what PI would have stored


def _analog(plan: _Plan, ts: np.ndarray, h: np.ndarray) -> np.ndarray:
    """stopped + (running level - stopped) * lagged run factor, plus coloured and a little white noise."""
    if len(ts) == 0:
        return np.empty(0, dtype=np.float64)
    kn = plant.knots_for(ts)
    load = plant.load_at_knots(kn.knots)
    above = (plan.base - plan.stopped) + plan.base * plan.gain / plant.LOAD_NOMINAL * (load - plant.LOAD_NOMINAL)
    noise = plant.value_noise(plan.value_seed, kn.knots, plan.octaves) * plan.noise
    if plan.daily is not None:
        noise += plan.daily[kn.knots % _KNOTS_PER_DAY]
    v = plant.interpolate(kn, above + noise)
    # Near events the machine is (partly) stopped: the level moves toward `stopped`, with the series' lag.
    for i, j, g in plant.lagged_run(ts, _events_for(ts), plan.tau_ms):
        if plan.quiet:
            v[i:j] *= g
        else:
            v[i:j] -= plant.interpolate(kn, above, slice(i, j)) * (1.0 - g)
    v += plan.stopped - plan.white
    white = ((h >> _U32) & _WHITE_MASK).astype(np.float64)  # uniform in [0, 2**20)
    v += white * (2.0 * plan.white / (1 << _WHITE_BITS))
    if plan.clip:
        np.clip(v, *plan.clip, out=v)
    return _float32(v)


def _counter(plan: _Plan, ts: np.ndarray) -> np.ndarray:
    """Run hours grow while running and hold in stops; starts count restarts."""
    running_ms, restarts = plant.counters(ts)
    if plan.role == "hours":
        return _float32(plan.base + running_ms / plant.HOUR_MS)
    return _float32(math.floor(plan.base) + restarts.astype(np.float64))


def _held(plan: _Plan, ts: np.ndarray) -> np.ndarray:
    """Tuning constants and profiler limits: a value that an engineer changes now and then by a tenth or two."""
    u = plant.hashed_units(plan.value_seed, ts // _HOLD_MS)
    tenths = np.where(u < 0.3, np.floor(u / 0.3 * 5.0) - 2.0, 0.0)
    return _float32(np.round(plan.base * (1.0 + 0.1 * tenths), 2))


def _windows(seed: int, ts: np.ndarray, block_ms: int, chance: float, bounds: tuple[int, int]) -> np.ndarray:
    """A mask of hashed windows: per block, with `chance`, one window of a hashed length inside the block."""
    block = ts // block_ms
    u = [plant.hashed_units(_mix64(seed + i), block) for i in range(3)]
    length = bounds[0] + u[1] * (bounds[1] - bounds[0])
    start = block * block_ms + u[2] * (block_ms - length)
    return (u[0] < chance) & (ts >= start) & (ts < start + length)


def _mode_index(plan: _Plan, ts: np.ndarray, evs: list[plant.Event]) -> np.ndarray:
    """A loop's mode (index into STRING_MODES): its normal mode, an operator's odd switch between AUTO and
    CAS, and MAN through planned stops, after some trips and for the odd maintenance job."""
    hour, minute = plant.HOUR_MS, plant.MINUTE_MS
    normal = 0 if plant.unit_of(plan.loop_seed) < 0.65 else 1
    index = np.full(len(ts), normal, dtype=np.intp)
    index[_windows(plan.loop_seed + 1, ts, 12 * hour, 0.2, (hour, 6 * hour))] = 1 - normal
    manual: list[tuple[int, int]] = []
    for e in evs:
        u = plant.draws(_mix64(e.key ^ plan.loop_seed), 3)
        if e.kind == "planned":
            manual.append((e.down, e.up + hour))
        elif u[0] < 0.5:  # the operator takes this loop to manual to bring the machine back
            manual.append((e.stop + round(minute * (1 + 9 * u[1])), e.up + round(hour * (0.5 + 2.5 * u[2]))))
    maintenance = _windows(plan.loop_seed + 2, ts, 4 * plant.DAY_MS, 0.15, (hour, 8 * hour))
    index[plant.in_intervals(ts, manual) | maintenance] = 2
    return index


def _flag(plan: _Plan, ts: np.ndarray) -> np.ndarray:
    """Flags that report the machine: each is on over intervals taken from the plant's events."""
    evs, role, minute = _events_for(ts), plan.role, plant.MINUTE_MS
    if role in ("auto", "external"):
        index = _mode_index(plan, ts, evs)  # as the loop's MODE reads them: AUTO = auto, CAS = auto + external
        return index != 2 if role == "auto" else index == 1
    stopped = [(e.stop, e.restart) for e in evs]
    matching = [e for e in evs if e.kind == "trip" and plan.cause in ("", e.cause)]
    intervals = {
        "running": stopped,
        "stopped": stopped,
        "trip": [(e.stop, e.restart) for e in matching],
        # A warning comes on 2 to 30 minutes (_WARN_LEAD_MS) before its trip, off once the machine has cooled a bit.
        "warn": [(e.stop - round(minute * (2 + 28 * plant.unit_of(e.key))), e.stop + 10 * minute) for e in matching],
        "inhibit": [(e.stop, max(e.stop, e.restart - 10 * minute)) for e in evs],
        "ready": [(e.stop, max(e.stop, e.restart - 10 * minute)) for e in evs],
        "local": [(e.down, e.up) for e in evs if e.kind == "planned"],
        "remote": [(e.down, e.up) for e in evs if e.kind == "planned"],
    }[role]
    on = plant.in_intervals(ts, intervals)
    return ~on if role in ("running", "ready", "remote") else on


def _empty(kind: Kind) -> Points:
    values = np.empty(0, dtype=object if kind == "string" else np.float64)
    return Points(np.empty(0, dtype=np.int64), values, np.empty(0, dtype=np.uint32))
