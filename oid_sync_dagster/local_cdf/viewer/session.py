"""Viewer credentials: an HttpOnly session cookie and long-lived link tokens, both HMAC-signed.

The key is derived from the token-signing key in the data directory, so sessions and printed links survive a
restart like API tokens do, yet a viewer cookie is never a valid bearer token (other key, other prefix) and the
other way round.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Literal

from oid_sync_dagster.local_cdf.auth import load_signing_key
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings

COOKIE_NAME = "lcdf_viewer"
SESSION_TTL_S = 12 * 3600
# A printed link stays usable for as long as someone keeps a dev server around; it grants read access only.
LINK_TTL_S = 30 * 86400
_PREFIX = "lcdfv"
_DERIVATION = b"oid-sync local-cdf viewer v1"

Kind = Literal["session", "link"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class ViewerSigner:
    def __init__(self, signing_key: bytes) -> None:
        self._key = hmac.new(signing_key, _DERIVATION, hashlib.sha256).digest()

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, subject: str, kind: Kind, now: float, ttl_s: int) -> str:
        payload = _b64(json.dumps({"sub": subject, "kind": kind, "exp": now + ttl_s}).encode())
        return f"{_PREFIX}.{payload}.{self._sign(payload)}"

    def verify(self, text: str | None, kind: Kind, now: float) -> str | None:
        """The subject of a valid, unexpired token of this kind; None for anything else."""
        if not text:
            return None
        try:
            prefix, payload, signature = text.split(".")
            if prefix != _PREFIX or not hmac.compare_digest(signature, self._sign(payload)):
                return None
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, binascii.Error):
            return None
        if not isinstance(claims, dict) or claims.get("kind") != kind or not claims.get("exp", 0) > now:
            return None
        return str(claims.get("sub"))


def link_token(settings: LocalCDFSettings) -> str:
    """A token for a printed viewer link (`oid-sync local-cdf`): the client secret itself is never put in a URL."""
    signer = ViewerSigner(load_signing_key(settings.data_dir))
    return signer.issue("link", "link", settings.auth_clock(), LINK_TTL_S)
