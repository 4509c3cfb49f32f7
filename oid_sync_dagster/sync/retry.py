"""Retrying what the SDK gives up on at once: a connection that broke mid-response.

The SDK retries 429/5xx, read timeouts and connect errors itself, but an HTTP protocol error (the peer closed the
connection before the response was complete, `httpx2.RemoteProtocolError`) becomes `CogniteRequestError` on the
first occurrence, and a connection error after three. Every call wrapped here is idempotent (reads, upserts,
inserts by timestamp), so repeating it is safe; the rest stays with the caller's per-series failure and Dagster's
retries. Wrap only functions that call the SDK directly, never one that calls another wrapped function (the
retries would multiply).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from cognite.client.exceptions import CogniteConnectionError, CogniteRequestError
from tenacity import RetryCallState, retry, retry_if_exception, stop_after_attempt, wait_random_exponential

P = ParamSpec("P")
T = TypeVar("T")

ATTEMPTS = 5  # the first try and four more, full jitter up to 0.5, 1, 2, 4 s: about 4 s on average in all

_logger = logging.getLogger("oid_sync")


def is_broken_connection(error: BaseException) -> bool:
    """A connection error (after the SDK's own 3 retries), or the bare CogniteRequestError the SDK raises for an
    HTTP protocol error. Not its subclass CogniteReadTimeout: the SDK already retried that up to 10 times."""
    return isinstance(error, CogniteConnectionError) or type(error) is CogniteRequestError


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    cause = error.__cause__ if error is not None else None  # the SDK's own message is empty; the cause says it
    name = getattr(state.fn, "__qualname__", "a CDF call")
    _logger.info(f"Retrying {name} (attempt {state.attempt_number} of {ATTEMPTS}): {cause or error!r}")


def on_transport_errors(fn: Callable[P, T]) -> Callable[P, T]:
    """Call `fn` again when the connection broke under it; re-raise the last error when attempts run out."""
    return retry(
        retry=retry_if_exception(is_broken_connection),
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_random_exponential(multiplier=0.5, max=8),
        before_sleep=_log_retry,
        reraise=True,
    )(fn)
