"""Which errors end a sync at once, which a retry cannot heal, and which sync/retry.py repeats: pure logic."""

from __future__ import annotations

import httpx2
import pytest
from cognite.client.exceptions import (
    CogniteAPIError,
    CogniteConnectionError,
    CogniteConnectionRefused,
    CogniteOAuthError,
    CogniteProjectAccessError,
    CogniteReadTimeout,
    CogniteRequestError,
)
from tenacity import wait_none

from oid_sync_dagster.sync.copy import is_fatal, is_refusal
from oid_sync_dagster.sync.retry import ATTEMPTS, is_broken_connection, on_transport_errors


def _api(code: int) -> CogniteAPIError:
    return CogniteAPIError("x", code)


@pytest.mark.parametrize(
    ("error", "fatal", "refusal", "repeated"),
    [
        (CogniteOAuthError("invalid_client", "bad secret"), True, False, False),
        (CogniteOAuthError("invalid_scope", "no"), True, False, False),
        (CogniteOAuthError("temporarily_unavailable", "later"), False, False, False),
        (CogniteProjectAccessError("p", None, None), True, False, False),
        (_api(400), False, True, False),
        (_api(403), False, True, False),
        (_api(404), False, True, False),
        (_api(422), False, True, False),
        (_api(408), False, False, False),
        (_api(409), False, False, False),
        (_api(425), False, False, False),
        (_api(429), False, False, False),
        (_api(500), False, False, False),
        (_api(503), False, False, False),
        (CogniteRequestError(), False, False, True),  # an HTTP protocol error: the SDK does not retry it
        (CogniteConnectionError(), False, False, True),
        (CogniteConnectionRefused(), False, False, True),
        (CogniteReadTimeout(), False, False, False),  # the SDK retried it already
        (httpx2.ConnectError("token endpoint down"), False, False, False),
    ],
    ids=lambda v: type(v).__name__ + (f"-{v.code}" if isinstance(v, CogniteAPIError) else ""),
)
def test_classification(error: BaseException, fatal: bool, refusal: bool, repeated: bool) -> None:
    assert (is_fatal(error), is_refusal(error), is_broken_connection(error)) == (fatal, refusal, repeated)


def test_a_broken_connection_is_repeated_until_it_works() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise CogniteRequestError from httpx2.RemoteProtocolError("peer closed connection")
        return "ok"

    assert on_transport_errors(flaky).retry_with(wait=wait_none())() == "ok"  # type: ignore[attr-defined]
    assert len(calls) == 3


@pytest.mark.parametrize("error", [CogniteReadTimeout(), _api(503), CogniteRequestError()], ids=type)
def test_other_errors_are_raised_after_at_most_the_attempts(error: BaseException) -> None:
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        on_transport_errors(failing).retry_with(wait=wait_none())()  # type: ignore[attr-defined]
    assert len(calls) == (ATTEMPTS if is_broken_connection(error) else 1)
