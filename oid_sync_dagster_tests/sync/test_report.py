"""report: run status and message (pure), and extraction-pipeline runs in the local CDF over real HTTP."""

from __future__ import annotations

import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes import DataSetWrite, ExtractionPipelineWrite
from cognite.client.exceptions import CogniteAPIError

from oid_sync_dagster.local_cdf.faults import Fault
from oid_sync_dagster.local_cdf.server import RunningLocalCDF
from oid_sync_dagster.sync.model import SyncResult
from oid_sync_dagster.sync.report import (
    MAX_MESSAGE_CHARS,
    PipelineNotFoundError,
    RunReportError,
    report_run,
    run_message,
    run_status,
    truncate_message,
)
from oid_sync_dagster.sync.windows import MINUTE_MS, WEEK_MS
from oid_sync_dagster_tests.conftest import FROZEN_NOW_S

NOW = int(FROZEN_NOW_S * 1000)
PIPELINE = "oid-sync"


def _result(written: dict[str, int], failures: dict[str, list[str]] | None = None, seconds: float = 13.2) -> SyncResult:
    result = SyncResult(kind="week", now=NOW, offset_ms=WEEK_MS + 10 * MINUTE_MS)
    for xid, n in written.items():
        result.for_series(xid).points_written = n
    for xid, errors in (failures or {}).items():
        for error in errors:
            result.fail(xid, error)
    result.seconds = seconds
    return result


def _runs(target: CogniteClient, external_id: str = PIPELINE) -> list[tuple[str, str | None]]:
    return [(r.status, r.message) for r in target.extraction_pipelines.runs.list(external_id=external_id, limit=None)]


def _create_data_set(target: CogniteClient, external_id: str = "ds-oid-sync") -> int:
    """CDF refuses an extraction pipeline whose data set does not exist."""
    return target.data_sets.create(DataSetWrite(external_id=external_id, name="OID sync")).id


def _create_pipeline(target: CogniteClient, external_id: str = PIPELINE) -> None:
    data_set_id = _create_data_set(target)
    target.extraction_pipelines.create(ExtractionPipelineWrite(external_id, "OID sync", data_set_id=data_set_id))


# --- pure ---


def test_success_message_is_the_summary_line() -> None:
    result = _result({f"pi:{i}": 56 for i in range(363)} | {"pi:0": 20_514 - 362 * 56})
    assert run_status(result) == "success"
    assert run_message(result) == "13.2s | TS: 363 | DPs: 20,514 | Errors: 0"


def test_failure_message_names_the_first_failed_series() -> None:
    failures = {f"pi:{i:03d}": [f"boom {i}\n  line two"] for i in range(7, 0, -1)}
    failures["pi:002"].append("second error")
    result = _result({"pi:ok": 10}, failures)
    assert run_status(result) == "failure"
    assert run_message(result) == (
        "13.2s | TS: 8 | DPs: 10 | Errors: 7 | failed: pi:001: boom 1 line two; pi:002: boom 2 line two (+1 more); "
        "pi:003: boom 3 line two; pi:004: boom 4 line two; pi:005: boom 5 line two; and 2 more series"
    )
    assert run_message(result, max_failed=1).endswith("pi:001: boom 1 line two; and 6 more series")


def test_long_errors_are_cut_per_series() -> None:
    result = _result({}, {"pi:1": ["x" * 500]})
    message = run_message(result)
    assert message == "13.2s | TS: 1 | DPs: 0 | Errors: 1 | failed: pi:1: " + "x" * 157 + "..."


def test_truncation_is_exact() -> None:
    assert truncate_message("a" * 1000) == "a" * 1000
    assert truncate_message("a" * 1001) == "a" * 997 + "..."
    assert len(truncate_message("a" * 5000)) == MAX_MESSAGE_CHARS
    # Non-ASCII: within 1000 characters and 1000 UTF-8 bytes, never a split character.
    cut = truncate_message("æøå" * 400)
    assert cut.endswith("...") and len(cut.encode()) <= 1000 and cut[:-3] == "æøå" * 166  # 996 bytes


def test_a_message_with_many_failures_fits_the_limit() -> None:
    failures = {f"pi:{'y' * 200}{i}": ["e" * 300] for i in range(20)}
    message = run_message(_result({}, failures), max_failed=20)
    assert len(message) == MAX_MESSAGE_CHARS and message.endswith("...")
    assert message.startswith("13.2s | TS: 20 | DPs: 0 | Errors: 20 | failed: pi:")


# --- against the local CDF ---


def test_report_success(target: CogniteClient) -> None:
    _create_pipeline(target)
    result = _result({"pi:1": 100, "pi:2": 20_414})
    report_run(target, PIPELINE, result)
    assert _runs(target) == [("success", "13.2s | TS: 2 | DPs: 20,514 | Errors: 0")]
    assert not result.failed and result.points_written == 20_514  # the result is untouched


def test_report_failure(target: CogniteClient) -> None:
    _create_pipeline(target)
    report_run(target, PIPELINE, _result({"pi:1": 100}, {"pi:2": ["insert failed: 400 Bad Request"]}))
    assert _runs(target) == [
        ("failure", "13.2s | TS: 2 | DPs: 100 | Errors: 1 | failed: pi:2: insert failed: 400 Bad Request")
    ]


def test_report_truncates_to_what_cdf_accepts(target: CogniteClient) -> None:
    _create_pipeline(target)
    failures = {f"pi:{i:04d}{'n' * 150}": ["z" * 1000] for i in range(50)}  # long ids push past the limit
    result = _result({}, failures)
    expected = run_message(result)
    assert len(expected) == MAX_MESSAGE_CHARS
    report_run(target, PIPELINE, result)
    assert _runs(target) == [("failure", expected)]
    # Untruncated, CDF would have refused it.
    assert len(run_message(result, limit=10_000)) > MAX_MESSAGE_CHARS


def test_report_creates_the_pipeline_when_asked(target: CogniteClient) -> None:
    assert target.extraction_pipelines.retrieve(external_id=PIPELINE) is None
    data_set_id, other_data_set_id = _create_data_set(target), _create_data_set(target, "ds-other")
    report_run(target, PIPELINE, _result({"pi:1": 5}), create_if_missing=True, data_set_id=data_set_id)
    pipeline = target.extraction_pipelines.retrieve(external_id=PIPELINE)
    assert pipeline is not None
    assert (pipeline.name, pipeline.data_set_id, pipeline.source) == (
        f"OID sync ({PIPELINE})",
        data_set_id,
        "oid_sync_dagster",
    )
    assert _runs(target) == [("success", "13.2s | TS: 1 | DPs: 5 | Errors: 0")]
    # A second report reuses it, and a name can be given.
    report_run(target, PIPELINE, _result({"pi:1": 6}), create_if_missing=True, data_set_id=data_set_id)
    report_run(
        target, "other", _result({}), create_if_missing=True, data_set_id=other_data_set_id, pipeline_name="Mine"
    )
    assert [s for s, _ in _runs(target)] == ["success", "success"]
    other = target.extraction_pipelines.retrieve(external_id="other")
    assert other is not None and (other.name, other.data_set_id) == ("Mine", other_data_set_id)
    assert sorted(target.extraction_pipelines.list(limit=None).as_external_ids()) == [PIPELINE, "other"]


def test_create_without_a_data_set_is_refused_before_any_request(
    target: CogniteClient, local_cdf: RunningLocalCDF
) -> None:
    before = len(local_cdf.request_log.records)
    with pytest.raises(ValueError, match="data_set_id"):
        report_run(target, PIPELINE, _result({}), create_if_missing=True)
    assert len(local_cdf.request_log.records) == before


def test_a_missing_pipeline_is_a_clear_error(target: CogniteClient) -> None:
    result = _result({"pi:1": 1}, {"pi:2": ["boom"]})
    with pytest.raises(PipelineNotFoundError, match="'no-such-pipeline' does not exist") as caught:
        report_run(target, "no-such-pipeline", result)
    error = caught.value
    assert isinstance(error, RunReportError)
    assert (error.pipeline_external_id, error.status) == ("no-such-pipeline", "failure")
    assert error.run_message == run_message(result)
    assert target.extraction_pipelines.retrieve(external_id="no-such-pipeline") is None  # nothing created


def test_a_failed_report_raises_one_type_and_is_not_retried(target: CogniteClient, local_cdf: RunningLocalCDF) -> None:
    _create_pipeline(target)
    local_cdf.faults.script("/extpipes/runs", [Fault(503)], method="POST")
    with pytest.raises(RunReportError, match="Could not report a success run") as caught:
        report_run(target, PIPELINE, _result({"pi:1": 1}))
    assert isinstance(caught.value.__cause__, CogniteAPIError) and caught.value.__cause__.code == 503
    assert _runs(target) == []
    report_run(target, PIPELINE, _result({"pi:1": 1}))  # the next report goes through
    assert len(_runs(target)) == 1


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match="pipeline_external_id"):
        report_run(None, "", _result({}))  # type: ignore[arg-type]
