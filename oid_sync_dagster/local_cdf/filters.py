"""The time-series list filters: the classic `filter` object and the `advancedFilter` language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oid_sync_dagster.local_cdf.errors import bad_request
from oid_sync_dagster.local_cdf.store.records import TimeSeriesRecord

Predicate = Callable[[TimeSeriesRecord], bool]

_PROPERTIES: dict[str, Callable[[TimeSeriesRecord], Any]] = {
    "id": lambda r: r.id,
    "externalId": lambda r: r.external_id,
    "name": lambda r: r.name,
    "description": lambda r: r.description,
    "unit": lambda r: r.unit,
    "unitExternalId": lambda r: r.unit_external_id,
    "isString": lambda r: r.is_string,
    "isStep": lambda r: r.is_step,
    "type": lambda r: r.type,
    "assetId": lambda r: r.asset_id,
    "dataSetId": lambda r: r.data_set_id,
    "createdTime": lambda r: r.created_time,
    "lastUpdatedTime": lambda r: r.last_updated_time,
}


def _getter(prop: Any) -> Callable[[TimeSeriesRecord], Any]:
    if isinstance(prop, list) and len(prop) == 2 and prop[0] == "metadata":
        key = prop[1]
        return lambda r: r.metadata.get(key)
    if isinstance(prop, list) and len(prop) == 1 and prop[0] in _PROPERTIES:
        return _PROPERTIES[prop[0]]
    raise bad_request(f"Unsupported property {prop!r} in advancedFilter.")


def _in_range(value: Any, spec: dict[str, Any]) -> bool:
    if value is None:
        return False
    checks = {"gt": value.__gt__, "gte": value.__ge__, "lt": value.__lt__, "lte": value.__le__}
    return all(checks[op](bound) for op, bound in spec.items() if op in checks)


def advanced(spec: dict[str, Any]) -> Predicate:
    if not isinstance(spec, dict) or len(spec) != 1:
        raise bad_request(f"An advancedFilter node must have exactly one operator, got {spec!r}.")
    ((op, arg),) = spec.items()
    if op in ("and", "or"):
        parts = [advanced(p) for p in arg]
        combine = all if op == "and" else any
        return lambda r: combine(p(r) for p in parts)
    if op == "not":
        inner = advanced(arg)
        return lambda r: not inner(r)
    get = _getter(arg.get("property"))
    if op == "equals":
        return lambda r: get(r) == arg["value"]
    if op == "in":
        values = arg["values"]
        return lambda r: get(r) in values
    if op == "prefix":
        prefix = arg["value"]
        return lambda r: isinstance(get(r), str) and get(r).startswith(prefix)
    if op == "range":
        bounds = {k: v for k, v in arg.items() if k != "property"}
        return lambda r: _in_range(get(r), bounds)
    if op == "exists":
        return lambda r: get(r) is not None
    raise bad_request(f"Unsupported advancedFilter operator {op!r}.")


def classic(spec: dict[str, Any]) -> Predicate:
    checks: list[Predicate] = []
    for key, value in spec.items():
        if key == "externalIdPrefix":
            checks.append(lambda r, p=value: r.external_id is not None and r.external_id.startswith(p))
        elif key == "metadata":
            checks.append(lambda r, m=value: all(r.metadata.get(k) == v for k, v in m.items()))
        elif key in ("assetIds", "dataSetIds"):
            prop = "assetId" if key == "assetIds" else "dataSetId"
            ids = {v.get("id") if isinstance(v, dict) else v for v in value}
            checks.append(lambda r, g=_PROPERTIES[prop], i=ids: g(r) in i)
        elif key in ("createdTime", "lastUpdatedTime"):
            given = {"gte": value.get("min"), "lte": value.get("max")}
            bounds = {k: v for k, v in given.items() if v is not None}
            checks.append(lambda r, g=_PROPERTIES[key], b=bounds: _in_range(g(r), b))
        elif key in _PROPERTIES:
            checks.append(lambda r, g=_PROPERTIES[key], v=value: g(r) == v)
        else:
            raise bad_request(f"Unsupported filter field {key!r}.")
    return lambda r: all(c(r) for c in checks)
