"""OAuth2 client credentials for the local CDF, with self-contained signed tokens.

Tokens are HMAC-signed with a key kept in the data directory, so they stay valid across a server restart and
across several server processes on the same data, as real CDF's JWTs do.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote

from oid_sync_dagster.local_cdf.errors import CDFError

TOKEN_PREFIX = "lcdf"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_signing_key(data_dir: Path) -> bytes:
    """Create the key once, atomically, so concurrent first starts agree on one key."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "token-signing.key"
    if not path.exists():
        tmp = data_dir / f".token-signing.key.{os.getpid()}.{secrets.token_hex(4)}"
        tmp.write_bytes(secrets.token_bytes(32))
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # fails if another process won the race; theirs is kept
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes()


class TokenIssuer:
    def __init__(self, key: bytes, clients: dict[str, str], ttl_s: int) -> None:
        self._key = key
        self._clients = clients
        self._ttl_s = ttl_s
        self.tokens_issued = 0

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, client_id: str, client_secret: str, now: float) -> dict[str, object]:
        expected = self._clients.get(client_id)
        if expected is None or not hmac.compare_digest(expected.encode(), client_secret.encode()):
            # The message names the client, never the secret.
            raise OAuthError(401, "invalid_client", f"Client authentication failed for client id {client_id!r}.")
        payload = _b64(json.dumps({"sub": client_id, "exp": now + self._ttl_s}).encode())
        self.tokens_issued += 1
        return {
            "access_token": f"{TOKEN_PREFIX}.{payload}.{self._sign(payload)}",
            "token_type": "Bearer",
            "expires_in": self._ttl_s,
        }

    def verify(self, authorization: str | None, now: float) -> TokenClaims:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise CDFError(401, "Unauthorized: a bearer token is required.")
        try:
            prefix, payload, signature = authorization[7:].strip().split(".")
            if prefix != TOKEN_PREFIX or not hmac.compare_digest(signature, self._sign(payload)):
                raise ValueError
            claims = json.loads(_unb64(payload))
        except (ValueError, binascii.Error, json.JSONDecodeError):
            raise CDFError(401, "Unauthorized: the token is invalid.") from None
        if claims["exp"] <= now:
            raise CDFError(401, "Unauthorized: the token has expired.")
        return TokenClaims(subject=claims["sub"], expires_at=claims["exp"])


class OAuthError(Exception):
    """RFC 6749 section 5.2 error response: `{"error", "error_description"}`."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def parse_client_credentials(body: bytes, authorization: str | None) -> tuple[str, str, str | None]:
    """Client id and secret from the form body or HTTP Basic auth (RFC 6749 2.3.1 allows both); and the scope."""
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    grant_type = form.get("grant_type")
    if grant_type != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", f"grant_type must be client_credentials, got {grant_type!r}.")
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode()
            basic_id, _, basic_secret = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError(400, "invalid_request", "Malformed HTTP Basic authorization header.") from None
        client_id, client_secret = unquote(basic_id), unquote(basic_secret)
    if not client_id or client_secret is None:
        raise OAuthError(400, "invalid_request", "client_id and client_secret are required.")
    return client_id, client_secret, form.get("scope")
