"""A synthetic OID `publicdata`: a PI-like catalog of 363 series and deterministic datapoints made on the fly.

Nothing here is stored. A series' points are a pure function of (series, timestamp): time is cut into slots
of a fixed period per kind, and slot `k` holds at most one point at `k * P + jitter(k)` with
`0 <= jitter(k) < P`. Whether the slot holds a point, the jitter, the value and the status all come from a
counter-based hash of (series id, k). So any range is generated without state, ranges split anywhere give
the same points, and a query costs only the slots it touches.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

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


# ---------------------------------------------------------------------------------------------------------
# Hashing: splitmix64, as Python ints for the odd scalar and on uint64 arrays for points.

_MASK64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_U_GAMMA = np.uint64(_GAMMA)
_U_M1 = np.uint64(_M1)
_U_M2 = np.uint64(_M2)
_U30, _U27, _U31 = np.uint64(30), np.uint64(27), np.uint64(31)
# Salts keep the id, slot and value streams of one series independent of each other.
_SALT_ID = 0x6F69645F73796E63
_SALT_SLOTS = 0x5A17E5C0FFEE1234
_SALT_VALUES = 0x0B5E55ED5EED5EED


def _mix64(x: int) -> int:
    z = (x + _GAMMA) & _MASK64
    z = ((z ^ (z >> 30)) * _M1) & _MASK64
    z = ((z ^ (z >> 27)) * _M2) & _MASK64
    return z ^ (z >> 31)


def _stream(counter: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 outputs for int64 counters: the counter-th value of the stream seeded by `seed`."""
    z = counter.view(np.uint64) * _U_GAMMA
    z += np.uint64(seed)
    z ^= z >> _U30
    z *= _U_M1
    z ^= z >> _U27
    z *= _U_M2
    z ^= z >> _U31
    return z


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


def synthetic_catalog(seed: int = 0) -> tuple[SourceSeries, ...]:
    """363 PI-like series shaped like OID's: 292 Float32 (5 step), 65 Digital, 6 String; fixed by the seed."""
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
_KEEP_BITS = 12  # slot kept: the top 12 hash bits; status: the 20 below; jitter: the low 32
_STATUS_BITS = 20
_LOW32 = np.uint64(0xFFFFFFFF)
_STATUS_MASK = np.uint64((1 << _STATUS_BITS) - 1)
_MAX_CHUNK_SLOTS = 1 << 20  # bounds the scratch arrays of one generation step
_TWO_PI = 2.0 * math.pi

# Plausible operating ranges by unit: (low, high) for the base level.
_RANGES: dict[str, tuple[float, float]] = {
    "degC": (15.0, 120.0), "DegC": (15.0, 120.0), "bar": (1.0, 60.0), "barg": (1.0, 60.0),
    "mbar": (5.0, 800.0), "%": (10.0, 90.0), "Kg/m3": (600.0, 1050.0), "A": (20.0, 400.0),
    "kW": (50.0, 5000.0), "kw": (50.0, 5000.0), "MW": (1.0, 12.0), "kVAr": (50.0, 2000.0),
    "m3/h": (50.0, 3000.0), "kg/h": (100.0, 20000.0), "mV": (1.0, 150.0), "s": (1.0, 600.0),
    "hours": (1000.0, 50000.0), "ratio": (0.5, 4.0), "-": (0.0, 10.0),
}  # fmt: skip
_DEFAULT_RANGE = (0.0, 100.0)


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything about one series' points that does not depend on time, derived once from its id."""

    kind: Kind
    period: int  # slot period, ms
    keep: float  # share of slots that hold a point
    drop_below: int  # a slot is empty when its hash's top bits are below this
    slot_seed: int
    value_seed: int
    block_slots: int  # digital, string and step values hold for this many slots
    base: float
    amplitude: float
    noise: float
    day_phase: float  # cycles
    drift_period: float  # ms
    drift_phase: float  # cycles
    p_one: int  # digital: 53-bit threshold for state 1
    step_size: float
    mode_cuts: tuple[int, int]  # string: 53-bit thresholds between AUTO | CAS | MAN
    clip_percent: bool


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
        span = 1 << _STATUS_BITS
        self._bad_below = round(span / bad_every) if bad_every > 0 else 0
        self._uncertain_below = min(
            span, self._bad_below + (round(span / uncertain_every) if uncertain_every > 0 else 0)
        )
        self._plans: dict[tuple[int, str, str | None], _Plan] = {}

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
        return Points(timestamps=ts, values=_values(plan, slots, ts, h), status=self._status(h))

    def _status(self, h: np.ndarray) -> np.ndarray:
        status = np.full(len(h), GOOD, dtype=np.uint32)
        if self._uncertain_below:
            u = (h >> np.uint64(32)) & _STATUS_MASK
            hit = np.flatnonzero(u < np.uint64(self._uncertain_below))
            status[hit] = np.where(u[hit] < np.uint64(self._bad_below), BAD, UNCERTAIN)
        return status

    def _plan(self, series: SourceSeries) -> _Plan:
        key = (series.id, series.kind, series.unit)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _make_plan(series, self._periods_s[series.kind])
        return plan


def _make_plan(series: SourceSeries, mean_s: float) -> _Plan:
    kind = series.kind
    drop_below = round(_DROP[kind] * (1 << _KEEP_BITS))
    keep = 1.0 - drop_below / (1 << _KEEP_BITS)
    period = max(1, round(mean_s * 1000.0 * keep))
    rng = np.random.default_rng([series.id, 0x5E71E5])
    low, high = _RANGES.get(series.unit or "", _DEFAULT_RANGE)
    base = float(rng.uniform(low, high))
    amplitude = float(rng.uniform(0.01, 0.06)) * max(abs(base), (high - low) * 0.1)
    block_hours = {
        "analog": 1.0,
        "digital": rng.uniform(1, 24),
        "string": rng.uniform(4, 24),
        "step": rng.uniform(3, 12),
    }
    auto = rng.uniform(0.55, 0.85)
    return _Plan(
        kind=kind,
        period=period,
        keep=keep,
        drop_below=drop_below,
        slot_seed=_mix64(series.id ^ _SALT_SLOTS),
        value_seed=_mix64(series.id ^ _SALT_VALUES),
        block_slots=max(1, round(float(block_hours[kind]) * _HOUR_MS / period)),
        base=base,
        amplitude=amplitude,
        noise=amplitude * float(rng.uniform(0.02, 0.1)),
        day_phase=float(rng.random()),
        drift_period=float(rng.uniform(3.0, 20.0)) * _DAY_MS,
        drift_phase=float(rng.random()),
        p_one=int(rng.uniform(0.05, 0.5) * 2**53),
        step_size=float(np.float32(max(0.5, round(amplitude, 1)))),
        mode_cuts=(int(auto * 2**53), int((auto + (1 - auto) / 2) * 2**53)),
        clip_percent=series.unit == "%",
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


def _values(plan: _Plan, slots: np.ndarray, ts: np.ndarray, h: np.ndarray) -> np.ndarray:
    if plan.kind == "analog":
        return _analog(plan, ts, h)
    # Discrete kinds hold a value over a block of slots; the block's hash picks it.
    blocks = slots // plan.block_slots
    u = _stream(blocks, plan.value_seed) >> np.uint64(11)  # 53 uniform bits
    if plan.kind == "digital":
        return (u < np.uint64(plan.p_one)).astype(np.float64)
    if plan.kind == "string":
        cut_cas, cut_man = plan.mode_cuts
        index = (u >= np.uint64(cut_cas)).astype(np.intp) + (u >= np.uint64(cut_man))
        return np.array(STRING_MODES, dtype=object)[index]
    # step: a setpoint moved by whole steps around its base
    level = (u % np.uint64(7)).astype(np.float64) - 3.0
    return (plan.base + plan.step_size * level).astype(np.float32).astype(np.float64)


def _analog(plan: _Plan, ts: np.ndarray, h: np.ndarray) -> np.ndarray:
    # Phases are reduced to [0, 1) cycles in float64, so float32 sines keep their precision at any epoch.
    t = ts.astype(np.float64)
    day = t * (1.0 / _DAY_MS) + plan.day_phase
    day -= np.floor(day)
    drift = t * (1.0 / plan.drift_period) + plan.drift_phase
    drift -= np.floor(drift)
    two_pi = np.float32(_TWO_PI)
    wave = np.sin(day.astype(np.float32) * two_pi) * np.float32(0.7)
    wave += np.sin(drift.astype(np.float32) * two_pi) * np.float32(0.3)
    # Noise from fresh bits of the slot hash (one more xorshift-multiply round), uniform in [-1, 1).
    h2 = (h ^ (h >> np.uint64(29))) * _U_M2
    noise = (h2 >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-23) - np.float32(1.0)
    v = wave.astype(np.float64) * plan.amplitude + plan.base
    v += noise.astype(np.float64) * plan.noise
    if plan.clip_percent:
        np.clip(v, 0.0, 100.0, out=v)
    return v.astype(np.float32).astype(np.float64)  # Float32 points: what PI would have stored


def _empty(kind: Kind) -> Points:
    values = np.empty(0, dtype=object if kind == "string" else np.float64)
    return Points(np.empty(0, dtype=np.int64), values, np.empty(0, dtype=np.uint32))
