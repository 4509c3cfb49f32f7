"""Opaque pagination cursors: base64 of a small JSON position. Clients must treat them as opaque, as with CDF."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from oid_sync_dagster.local_cdf.errors import bad_request


def encode_cursor(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise bad_request(f"Invalid cursor {cursor!r}.") from None
    if not isinstance(decoded, dict):
        raise bad_request(f"Invalid cursor {cursor!r}.")
    return decoded
