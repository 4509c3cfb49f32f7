"""Report: the compact summary of a sync as an extraction-pipeline run in the target (the predecessor sent none).

A run is `success` when no series failed, else `failure`; its message is the summary line
('13.2s | TS: 363 | DPs: 20,514 | Errors: 0') followed by the first few failed series with their first error,
cut to CDF's 1000-character message limit.

Reporting must never cost the caller its sync result. report_run does not touch the result, and every failure
of the reporting itself is raised as RunReportError (PipelineNotFoundError when the pipeline does not exist
and may not be created), carrying the pipeline, the status and message it tried to send, and the cause; the
caller catches that one type, logs it and carries on. POST /extpipes/runs is not idempotent, so the SDK retries
it only on 429 and neither does this module: after a timeout the run may or may not have been recorded, and a
second attempt could record it twice.
"""

from __future__ import annotations

from cognite.client import CogniteClient
from cognite.client.data_classes import ExtractionPipelineRunWrite, ExtractionPipelineWrite
from cognite.client.exceptions import CogniteDuplicatedError

from oid_sync_dagster.sync.model import SyncResult

MAX_MESSAGE_CHARS = 1000  # CDF's limit on an extraction-pipeline run message
MAX_PIPELINE_NAME_CHARS = 140
FAILED_SERIES_IN_MESSAGE = 5
ERROR_CHARS_PER_SERIES = 160
_ELLIPSIS = "..."  # ASCII, so characters and UTF-8 bytes agree at the cut


class RunReportError(Exception):
    """Reporting a run to the target failed; the sync itself is unaffected."""

    def __init__(self, message: str, *, pipeline_external_id: str, status: str, run_message: str) -> None:
        super().__init__(message)
        self.pipeline_external_id = pipeline_external_id
        self.status = status
        self.run_message = run_message


class PipelineNotFoundError(RunReportError):
    """The extraction pipeline does not exist in the target (and create_if_missing was not set)."""


def run_status(result: SyncResult) -> str:
    return "failure" if result.failed else "success"


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def truncate_message(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Cut a message to at most `limit` characters and `limit` UTF-8 bytes, ending in '...' when cut.

    Bytes too: CDF documents the limit as a length, and a cut by bytes is safe whichever it counts.
    """
    if len(message) <= limit and len(message.encode()) <= limit:
        return message
    budget = limit - len(_ELLIPSIS)
    # A cut by bytes (dropping a split character) keeps both counts within budget, as chars <= bytes.
    head = message.encode()[:budget].decode("utf-8", "ignore")
    return head + _ELLIPSIS


def run_message(
    result: SyncResult, *, max_failed: int = FAILED_SERIES_IN_MESSAGE, limit: int = MAX_MESSAGE_CHARS
) -> str:
    """The summary line, then the first failed series (by external id) with their first error, within limit.

    '41.0s | TS: 363 | DPs: 1,020,514 | Errors: 2 | failed: pi:160184: <error>; pi:160185: <error> (+1 more)'
    """
    message = result.summary_line()
    failed = result.failed
    if failed:
        parts = []
        for xid in sorted(failed)[:max_failed]:
            errors = failed[xid]
            more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
            parts.append(f"{xid}: {_one_line(errors[0], ERROR_CHARS_PER_SERIES)}{more}")
        rest = len(failed) - len(parts)
        message += " | failed: " + "; ".join(parts) + (f"; and {rest} more series" if rest > 0 else "")
    return truncate_message(message, limit)


def report_run(
    target: CogniteClient,
    pipeline_external_id: str,
    result: SyncResult,
    *,
    create_if_missing: bool = False,
    data_set_id: int | None = None,
    pipeline_name: str | None = None,
) -> None:
    """Record the sync as a run of the extraction pipeline `pipeline_external_id` in the target.

    With create_if_missing, a missing pipeline is created first; CDF requires every extraction pipeline to
    belong to a data set, so data_set_id is then required (checked before any request). Raises
    PipelineNotFoundError for a missing pipeline otherwise, and RunReportError for any other failure.
    """
    if not isinstance(pipeline_external_id, str) or not pipeline_external_id:
        raise ValueError(f"pipeline_external_id must be a non-empty string, got {pipeline_external_id!r}")
    if create_if_missing and data_set_id is None:
        raise ValueError(
            "data_set_id is required with create_if_missing: CDF requires every extraction pipeline to belong "
            f"to a data set (pipeline {pipeline_external_id!r})"
        )
    status, message = run_status(result), run_message(result)

    def fail(cls: type[RunReportError], text: str) -> RunReportError:
        return cls(text, pipeline_external_id=pipeline_external_id, status=status, run_message=message)

    try:
        exists = target.extraction_pipelines.retrieve(external_id=pipeline_external_id) is not None
    except Exception as error:
        raise fail(
            RunReportError, f"Could not look up extraction pipeline {pipeline_external_id!r}: {error}"
        ) from error
    if not exists:
        if not create_if_missing:
            raise fail(
                PipelineNotFoundError,
                f"Extraction pipeline {pipeline_external_id!r} does not exist in the target project; create it, or "
                "allow the sync to create it (create_if_missing with a data_set_id).",
            )
        name = pipeline_name or f"OID sync ({pipeline_external_id})"
        try:
            target.extraction_pipelines.create(
                ExtractionPipelineWrite(
                    external_id=pipeline_external_id,
                    name=name[:MAX_PIPELINE_NAME_CHARS],
                    data_set_id=data_set_id,  # type: ignore[arg-type]  # checked above
                    description="Mirrors Cognite Open Industrial Data into this project, time-shifted "
                    "(oid_sync_dagster).",
                    source="oid_sync_dagster",
                )
            )
        except CogniteDuplicatedError:
            pass  # created meanwhile by a concurrent run: just as good
        except Exception as error:
            raise fail(
                RunReportError, f"Could not create extraction pipeline {pipeline_external_id!r}: {error}"
            ) from error
    try:
        target.extraction_pipelines.runs.create(
            ExtractionPipelineRunWrite(extpipe_external_id=pipeline_external_id, status=status, message=message)
        )
    except Exception as error:
        raise fail(
            RunReportError, f"Could not report a {status} run to extraction pipeline {pipeline_external_id!r}: {error}"
        ) from error
