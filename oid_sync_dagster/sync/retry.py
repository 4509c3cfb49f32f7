"""Retrying what the SDK gives up on at once: a connection that broke mid-response.

The SDK retries 429/5xx and connect errors itself, but an HTTP protocol error (the peer closed the connection
before the response was complete, `httpx2.RemoteProtocolError`) becomes `CogniteRequestError` on the first
occurrence, and a connection error after three. Every call wrapped here is idempotent (reads, upserts, inserts
by timestamp), so repeating it is safe; the rest stays with the caller's per-series failure and Dagster's retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from cognite.client.exceptions import CogniteConnectionError, CogniteRequestError
from tenacity import before_sleep_log, retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

P = ParamSpec("P")
T = TypeVar("T")

# CogniteConnectionRefused subclasses CogniteConnectionError; a read timeout is the SDK's own business.
TRANSPORT_ERRORS = (CogniteRequestError, CogniteConnectionError)
ATTEMPTS = 5  # the first try and four more, full jitter up to 0.5, 1, 2, 4 s: about 4 s on average in all

_logger = logging.getLogger("oid_sync")


def on_transport_errors(fn: Callable[P, T]) -> Callable[P, T]:
    """Call `fn` again when the connection broke under it; re-raise the last error when attempts run out."""
    return retry(
        retry=retry_if_exception_type(TRANSPORT_ERRORS),
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_random_exponential(multiplier=0.5, max=8),
        before_sleep=before_sleep_log(_logger, logging.INFO),
        reraise=True,
    )(fn)
