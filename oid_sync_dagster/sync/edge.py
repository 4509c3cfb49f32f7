"""The source's published edge: measured, never assumed (OID's lag is about 168 h, but only about)."""

from __future__ import annotations

from collections.abc import Sequence

from cognite.client import CogniteClient
from cognite.client.data_classes.datapoints import LatestDatapoint
from cognite.client.utils import datetime_to_ms

from oid_sync_dagster.sync.retry import on_transport_errors
from oid_sync_dagster.sync.windows import Window


@on_transport_errors
def latest_timestamps(source: CogniteClient, external_ids: Sequence[str], before: int) -> dict[str, int]:
    """Newest source timestamp at or before `before` per series; series with no such point are absent.

    One retrieve_latest (the SDK sends it in chunks of 100, in parallel). Bad points count: the edge is
    about what is published, not what is good.
    """
    if not external_ids:
        return {}
    found = source.time_series.data.retrieve_latest(
        external_id=list(external_ids),
        before=before + 1,
        ignore_unknown_ids=True,
        include_status=True,
        ignore_bad_datapoints=False,  # a Bad newest point is published all the same
        treat_uncertain_as_bad=False,
    )
    items = [found] if isinstance(found, LatestDatapoint) else list(found or [])
    # cognite-sdk 8.22 answers with LatestDatapoint objects whose timestamp is a ms-precision datetime.
    return {
        item.external_id: datetime_to_ms(item.timestamp)
        for item in items
        if item.external_id and item.timestamp is not None
    }


def published_edge(
    source: CogniteClient, external_ids: Sequence[str], now: int, *, ceiling_ago_ms: int | None = None
) -> int | None:
    """The newest published source timestamp over the series (inclusive), or None when nothing is published.

    The maximum, not the minimum: sparse digital and string series may have no point for hours, yet the
    source has published their time up to the edge of the dense ones. ceiling_ago_ms (the legacy
    sync_all_end) caps the edge at now - ceiling, for users who want to stay further behind the source.
    """
    latest = latest_timestamps(source, external_ids, now)
    if not latest:
        return None
    edge = max(latest.values())
    if ceiling_ago_ms is not None:
        edge = min(edge, now - ceiling_ago_ms)
    return edge


def published_part(window: Window, edge: int | None) -> Window | None:
    """The part of a source window the source has published, given its edge; None if none of it."""
    if edge is None or edge < window.start:
        return None
    return Window(window.start, min(window.end, edge + 1))
