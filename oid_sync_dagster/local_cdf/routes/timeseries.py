"""`/timeseries`: create, list (filters, cursors, partitions), byids, update, delete."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from oid_sync_dagster.local_cdf import filters
from oid_sync_dagster.local_cdf.cursors import decode_cursor, encode_cursor
from oid_sync_dagster.local_cdf.errors import CDFError, bad_request, not_found
from oid_sync_dagster.local_cdf.projects import Project
from oid_sync_dagster.local_cdf.requests import Context, endpoint
from oid_sync_dagster.local_cdf.routes import datasets
from oid_sync_dagster.local_cdf.store import timeseries as ts_store
from oid_sync_dagster.local_cdf.store.records import TimeSeriesRecord

MAX_LIST_LIMIT = 1000
MAX_ITEMS = 1000


def parse_identifier(item: Any) -> dict[str, Any]:
    """{"id"} | {"externalId"} | {"instanceId": {"space", "externalId"}}, exactly one of them."""
    if not isinstance(item, dict):
        raise bad_request(f"An item identifier must be an object, got {item!r}.")
    keys = [k for k in ("id", "externalId", "instanceId") if item.get(k) is not None]
    if len(keys) != 1:
        raise bad_request(f"An item must have exactly one of id, externalId and instanceId, got {item!r}.")
    key = keys[0]
    value = item[key]
    valid = (
        (key == "id" and isinstance(value, int) and not isinstance(value, bool) and value > 0)
        or (key == "externalId" and isinstance(value, str) and value)
        or (
            key == "instanceId"
            and isinstance(value, dict)
            and isinstance(value.get("space"), str)
            and isinstance(value.get("externalId"), str)
        )
    )
    if not valid:
        raise bad_request(f"Invalid {key} {value!r}.")
    if key == "instanceId":
        return {key: {"space": value["space"], "externalId": value["externalId"]}}
    return {key: value}


def resolve(project: Project, items: list[Any], *, ignore_unknown: bool) -> list[tuple[int, TimeSeriesRecord]]:
    """(index in the request, series) for every item found; unknown ones raise CDF's 400 with `missing`."""
    found, missing = [], []
    for index, item in enumerate(items):
        identifier = parse_identifier(item)
        record = project.lookup(identifier)
        if record is None:
            missing.append(identifier)
        else:
            found.append((index, record))
    if missing and not ignore_unknown:
        raise not_found("Time series not found.", missing)
    return found


def _page(records: list[TimeSeriesRecord], body: dict[str, Any]) -> dict[str, Any]:
    limit = body.get("limit", 100)
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise bad_request(f"limit must be an integer between 1 and {MAX_LIST_LIMIT}, got {limit!r}.")
    if partition := body.get("partition"):
        try:
            index, count = (int(p) for p in partition.split("/"))
            if not 1 <= index <= count:
                raise ValueError
        except ValueError:
            raise bad_request(f"Invalid partition {partition!r}; expected 'i/N' with 1 <= i <= N.") from None
        records = [r for r in records if r.id % count == index - 1]
    records.sort(key=lambda r: r.id)
    if cursor := body.get("cursor"):
        after = decode_cursor(cursor).get("after", 0)
        records = [r for r in records if r.id > after]
    page = records[:limit]
    more = len(records) > limit
    return {
        "items": [r.to_json() for r in page],
        "nextCursor": encode_cursor({"after": page[-1].id}) if more else None,
    }


def list_series(ctx: Context) -> dict[str, Any]:
    body = ctx.body or {}
    if body.get("sort"):
        # Refused rather than ignored: a caller asking for an order must not silently get id order.
        raise bad_request("sort is not supported by the local CDF; time series are listed in id order.")
    records = ctx.project.list_series()
    if spec := body.get("filter"):
        if given := spec.get("dataSetIds"):  # CDF resolves {"externalId": ...} to the data set's id
            spec = {**spec, "dataSetIds": [{"id": d.id} for d in datasets.resolve_identifiers(ctx, given)]}
        records = [r for r in records if filters.classic(spec)(r)]
    if spec := body.get("advancedFilter"):
        records = [r for r in records if filters.advanced(spec)(r)]
    return _page(records, body)


def list_series_get(ctx: Context) -> dict[str, Any]:
    body: dict[str, Any] = {
        "limit": ctx.query("limit", int, 100),
        "cursor": ctx.query("cursor"),
        "partition": ctx.query("partition"),
    }
    records = ctx.project.list_series()
    if prefix := ctx.query("externalIdPrefix"):
        records = [r for r in records if r.external_id is not None and r.external_id.startswith(prefix)]
    return _page(records, body)


def by_ids(ctx: Context) -> dict[str, Any]:
    items = ctx.items(max_items=MAX_ITEMS)
    ignore = ctx.field("ignoreUnknownIds", bool, False)
    return {"items": [r.to_json() for _, r in resolve(ctx.project, items, ignore_unknown=ignore)]}


_CREATE_FIELDS = {
    "externalId": str,
    "name": str,
    "description": str,
    "unit": str,
    "unitExternalId": str,
    "isString": bool,
    "isStep": bool,
    "metadata": dict,
    "assetId": int,
    "dataSetId": int,
    "securityCategories": list,
    "legacyName": str,
}


def create(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    items = ctx.items(max_items=MAX_ITEMS)
    for item in items:
        for key, value in item.items():
            kind = _CREATE_FIELDS.get(key)
            if kind is None:
                raise bad_request(f"Unknown field {key!r} in time series create.")
            if value is not None and not isinstance(value, kind):
                raise bad_request(f"Field {key!r} must be of type {kind.__name__}, got {value!r}.")
        _check_metadata(item.get("metadata") or {})
    external_ids = [i["externalId"] for i in items if i.get("externalId")]
    repeated = {x for x in external_ids if external_ids.count(x) > 1}
    created = []
    with project.db.write() as conn:
        taken = repeated | {x for x in external_ids if ts_store.lookup(conn, {"externalId": x})}
        if taken:
            raise CDFError(409, "Time series with these external ids already exist.",
                           duplicated=[{"externalId": x} for x in sorted(taken)])  # fmt: skip
        for item in items:
            record = TimeSeriesRecord(
                id=ts_store.new_id(),
                external_id=item.get("externalId"),
                name=item.get("name"),
                description=item.get("description"),
                is_string=bool(item.get("isString", False)),
                is_step=bool(item.get("isStep", False)),
                unit=item.get("unit"),
                unit_external_id=item.get("unitExternalId"),
                metadata=item.get("metadata") or {},
                asset_id=item.get("assetId"),
                data_set_id=item.get("dataSetId"),
                security_categories=item.get("securityCategories") or [],
                created_time=ctx.now_ms,
                last_updated_time=ctx.now_ms,
            )
            ts_store.insert(conn, record)
            created.append(record.to_json())
    return {"items": created}


def _check_metadata(metadata: dict[str, Any]) -> None:
    # CDF's documented metadata limits: keys up to 128 bytes, values up to 10,240 bytes, at most 256 pairs.
    if len(metadata) > 256:
        raise bad_request(f"metadata may have at most 256 keys, got {len(metadata)}.")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise bad_request(f"metadata value of key {key!r} must be a string, got {value!r}.")
        if len(key.encode()) > 128 or len(value.encode()) > 10240:
            raise bad_request(f"metadata key {key[:40]!r} or its value is too long.")


_SCALAR_UPDATES = {
    "externalId": "external_id",
    "name": "name",
    "description": "description",
    "unit": "unit",
    "unitExternalId": "unit_external_id",
    "isStep": "is_step",
    "assetId": "asset_id",
    "dataSetId": "data_set_id",
}
# CDF allows only these on series that belong to a data-modeling node; the rest is owned by the node.
_INSTANCE_UPDATABLE = {"metadata", "unit", "unitExternalId", "assetId", "dataSetId", "securityCategories"}


def _apply_update(record: TimeSeriesRecord, update: dict[str, Any]) -> None:
    for key, change in update.items():
        if not isinstance(change, dict) or not change:
            raise bad_request(f"Update of {key!r} must be an object such as {{'set': ...}}, got {change!r}.")
        if record.instance_id is not None and key not in _INSTANCE_UPDATABLE:
            raise bad_request(
                f"Field {key!r} of a time series with instanceId {record.instance_id[0]}/{record.instance_id[1]} "
                "is managed by its data-modeling node."
            )
        if key == "metadata":
            if "set" in change:
                record.metadata = dict(change["set"])
            record.metadata.update(change.get("add", {}))
            for removed in change.get("remove", []):
                record.metadata.pop(removed, None)
            _check_metadata(record.metadata)
        elif key == "securityCategories":
            if "set" in change:
                record.security_categories = list(change["set"])
            record.security_categories += [c for c in change.get("add", []) if c not in record.security_categories]
            record.security_categories = [c for c in record.security_categories if c not in change.get("remove", [])]
        elif key in _SCALAR_UPDATES:
            attr = _SCALAR_UPDATES[key]
            if change.get("setNull"):
                if key == "isStep":
                    raise bad_request("isStep cannot be set to null.")
                setattr(record, attr, None)
            elif "set" in change:
                setattr(record, attr, change["set"])
            else:
                raise bad_request(f"Update of {key!r} needs 'set' or 'setNull'.")
        else:
            raise bad_request(f"Field {key!r} cannot be updated.")


def update(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    items = ctx.items(max_items=MAX_ITEMS)
    updated = []
    with project.db.write() as conn:
        missing = []
        for item in items:
            identifier = parse_identifier({k: v for k, v in item.items() if k != "update"})
            record = ts_store.lookup(conn, identifier)
            if record is None:
                missing.append(identifier)
                continue
            _apply_update(record, ctx.field("update", dict, body=item))
            other = ts_store.lookup(conn, {"externalId": record.external_id}) if record.external_id else None
            if other is not None and other.id != record.id:
                raise CDFError(409, "External id already in use.", duplicated=[{"externalId": other.external_id}])
            record.last_updated_time = ctx.now_ms
            ts_store.save(conn, record)
            updated.append(record.to_json())
        if missing:
            raise not_found("Time series not found.", missing)
    return {"items": updated}


def delete(ctx: Context) -> dict[str, Any]:
    project = ctx.target()
    items = ctx.items(max_items=MAX_ITEMS)
    ignore = ctx.field("ignoreUnknownIds", bool, False)
    with project.db.write() as conn:
        found, missing = [], []
        for item in items:
            identifier = parse_identifier(item)
            record = ts_store.lookup(conn, identifier)
            (missing.append(identifier) if record is None else found.append(record))
        if missing and not ignore:
            raise not_found("Time series not found.", missing)
        for record in found:
            if record.instance_id is not None:
                raise bad_request(
                    f"Time series {record.instance_id[0]}/{record.instance_id[1]} belongs to a data-modeling node; "
                    "delete the node instead."
                )
            ts_store.delete(conn, record.id)
    return {}


def routes() -> list[BaseRoute]:
    return [
        Route("/timeseries", endpoint(create), methods=["POST"]),
        Route("/timeseries", endpoint(list_series_get), methods=["GET"]),
        Route("/timeseries/list", endpoint(list_series), methods=["POST"]),
        Route("/timeseries/byids", endpoint(by_ids), methods=["POST"]),
        Route("/timeseries/update", endpoint(update), methods=["POST"]),
        Route("/timeseries/delete", endpoint(delete), methods=["POST"]),
    ]
