"""The engine's source reader over real HTTP: protobuf list responses decoded with numpy read exactly what the SDK's
retrieve_arrays reads: every point, Bad and Uncertain ones, status codes, points without a value, strings, pages."""

from __future__ import annotations

import math

import numpy as np
from cognite.client import CogniteClient
from cognite.client.data_classes import DatapointsArray, TimeSeriesWrite

from oid_sync_dagster.local_cdf.server import RunningLocalCDF
from oid_sync_dagster.sync.reads import SourceReader
from oid_sync_dagster.sync.windows import DAY_MS, Window
from oid_sync_dagster_tests.sync.conftest import Clock

DATA_LIST = r"/timeseries/data/list$"
BAD, UNCERTAIN = 0x80000000, 0x40000000


def _sdk_read(client: CogniteClient, external_ids: list[str], window: Window) -> dict[str, DatapointsArray]:
    arrays = client.time_series.data.retrieve_arrays(
        external_id=external_ids,
        start=window.start,
        end=window.end,
        limit=None,
        include_status=True,
        ignore_bad_datapoints=False,
        treat_uncertain_as_bad=False,
        ignore_unknown_ids=True,
    )
    return {a.external_id: a for a in arrays if a.external_id}


def _assert_same(got: DatapointsArray, want: DatapointsArray) -> None:
    assert (got.external_id, got.is_string, got.is_step) == (want.external_id, want.is_string, want.is_step)
    np.testing.assert_array_equal(got.timestamp.astype("datetime64[ms]"), want.timestamp.astype("datetime64[ms]"))
    np.testing.assert_array_equal(np.asarray(got.status_code, np.int64), np.asarray(want.status_code, np.int64))
    assert (got.null_timestamps or set()) == (want.null_timestamps or set())
    if want.is_string:
        assert got.value.tolist() == want.value.tolist()
    else:
        assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(got.value, want.value, strict=True)), (
            got.external_id
        )


def test_the_reader_reads_what_the_sdk_reads_across_items_and_pages(
    cdf: RunningLocalCDF, source_client: CogniteClient, clock: Clock
) -> None:
    catalog = source_client.time_series.list(external_id_prefix="pi:", limit=None)
    strings = [s.external_id for s in catalog if s.is_string]
    external_ids = [*strings, *[s.external_id for s in catalog if not s.is_string][: 130 - len(strings)]]
    external_ids.append("pi:no-such-series")
    assert strings
    window = Window(clock.ms() - 10 * DAY_MS, clock.ms() - 7 * DAY_MS)  # published: the source lags a week
    want = _sdk_read(source_client, external_ids, window)
    cdf.request_log.clear()
    reader = SourceReader(source_client)
    got = {a.external_id: a for a in reader.read(external_ids, window)}
    reader.close()
    assert set(got) == set(want) and len(got) == 130  # the unknown id is left out, as the SDK leaves it out
    for external_id, array in want.items():
        _assert_same(got[external_id], array)
    assert sum(int(np.count_nonzero(a.status_code)) for a in got.values()) > 0  # Bad/Uncertain points were there
    requests = cdf.request_log.matching(DATA_LIST, "POST")
    assert {r.headers["accept"] for r in requests} == {"application/protobuf"}
    # 130 series x 3 days of one point a minute: two batches of items, each followed by cursor pages.
    assert len(requests) >= 6 and {r.status for r in requests} == {200}


def test_statuses_symbols_and_points_without_a_value_read_exactly(
    source_client: CogniteClient, target_client: CogniteClient
) -> None:
    target_client.time_series.create(
        [TimeSeriesWrite(external_id="num"), TimeSeriesWrite(external_id="str", is_string=True)]
    )
    t0 = 1_700_000_000_000
    numeric = [{"timestamp": t0 + i * 1000, "value": float(i)} for i in range(3000)]
    numeric[5] = {"timestamp": t0 + 5000, "value": None, "status": {"code": BAD}}
    numeric[6] = {"timestamp": t0 + 6000, "value": math.nan, "status": {"code": BAD | 0x120000}}
    numeric[7] = {"timestamp": t0 + 7000, "value": 7.5, "status": {"symbol": "Uncertain"}}
    numeric[2999] = {"timestamp": t0 + 2_999_000, "value": -0.0, "status": {"code": UNCERTAIN | 1}}
    strings = [{"timestamp": t0 + i * 1000, "value": f"state {i % 3} æ"} for i in range(50)]
    strings[3] = {"timestamp": t0 + 3000, "value": None, "status": {"code": BAD}}
    target_client.time_series.data.insert_multiple(
        [{"external_id": "num", "datapoints": numeric}, {"external_id": "str", "datapoints": strings}]
    )
    window = Window(t0, t0 + DAY_MS)
    want = _sdk_read(target_client, ["num", "str"], window)
    assert want["num"].null_timestamps == {t0 + 5000} and want["str"].null_timestamps == {t0 + 3000}
    got = {a.external_id: a for a in SourceReader(target_client).read(["num", "str"], window)}
    for external_id in ("num", "str"):
        _assert_same(got[external_id], want[external_id])
