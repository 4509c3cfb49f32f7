"""`copy.shifted`, the one place where source arrays become target arrays (rules 1 and 2), without a server."""

from __future__ import annotations

import numpy as np
from cognite.client.data_classes import DatapointsArray
from cognite.client.data_classes.data_modeling import NodeId

from oid_sync_dagster.sync.copy import shifted
from oid_sync_dagster.sync.model import CatalogSeries

OFFSET = 605_400_007  # 1w10m plus 7 ms: off every grid
NODE = NodeId("oid_sync", "pi:1")


def _source(timestamps: list[int], values: list[object], codes: list[int], nulls: set[int] | None) -> DatapointsArray:
    return DatapointsArray(
        id=1,
        external_id="pi:1",
        is_string=isinstance(values[0], str),
        is_step=False,
        type="string" if isinstance(values[0], str) else "numeric",
        timestamp=np.array(timestamps, dtype="datetime64[ms]").astype("datetime64[ns]"),
        value=np.array(values, dtype=object if isinstance(values[0], str) else np.float64),
        status_code=np.array(codes, dtype=np.uint32),
        status_symbol=np.array(["Good" if c == 0 else "Bad" for c in codes], dtype=object),
        null_timestamps=nulls,
    )


def test_shift_is_exact_and_cut_at_now() -> None:
    source = _source([1_000, 2_000, 3_000, 4_000], [1.5, float("nan"), 3.5, 4.5], [0, 2147483648, 0, 0], {2_000})
    now = 3_000 + OFFSET  # the third point lands exactly at now: kept; the fourth is in the future: cut
    out = shifted(source, CatalogSeries("pi:1"), NODE, OFFSET, now)
    assert out.timestamp.astype(np.int64).tolist() == [1_000 + OFFSET, 2_000 + OFFSET, 3_000 + OFFSET]
    assert out.value[[0, 2]].tolist() == [1.5, 3.5] and np.isnan(out.value[1])
    assert out.status_code.tolist() == [0, 2147483648, 0] and out.status_symbol.tolist() == ["Good", "Bad", "Good"]
    assert out.null_timestamps == {2_000 + OFFSET} and out.instance_id == NODE


def test_strings_copy_unchanged_and_nothing_due_gives_empty() -> None:
    source = _source([10, 20], ["open", "closed"], [0, 0], None)
    series = CatalogSeries("pi:1", is_string=True)
    kept = shifted(source, series, NODE, OFFSET, now=20 + OFFSET)
    assert kept.value.tolist() == ["open", "closed"] and kept.type == "string" and kept.null_timestamps is None
    none_due = shifted(source, series, NODE, OFFSET, now=9 + OFFSET)
    assert len(none_due.timestamp) == 0 and none_due.value.tolist() == []
