"""CDF's error contract: `{"error": {"code", "message", "missing"?, "duplicated"?}}` with the HTTP status as code.

The SDK requires `message`, maps `missing` to CogniteNotFoundError and `duplicated` (409) to CogniteDuplicatedError.
"""

from __future__ import annotations

from typing import Any


class CDFError(Exception):
    """Raised anywhere in a request; the app turns it into CDF's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        missing: list[dict[str, Any]] | None = None,
        duplicated: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.missing = missing
        self.duplicated = duplicated
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.status, "message": self.message}
        if self.missing:
            error["missing"] = self.missing
        if self.duplicated:
            error["duplicated"] = self.duplicated
        return {"error": error}


def bad_request(message: str, **kwargs: Any) -> CDFError:
    return CDFError(400, message, **kwargs)


def not_found(message: str, missing: list[dict[str, Any]]) -> CDFError:
    # CDF answers unknown ids on most endpoints with 400 + `missing`, which the SDK maps to CogniteNotFoundError.
    return CDFError(400, message, missing=missing)


def forbidden(message: str) -> CDFError:
    return CDFError(403, message)
