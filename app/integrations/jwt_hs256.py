"""Verify a JSON Web Token signed with HMAC-SHA256 and a shared secret.

Atlassian authenticates the webhooks of OAuth 2.0 apps this way (the app's
client secret signs a JWT sent as `Authorization: Bearer ...`). Only HS256
is accepted: a token naming another algorithm (or "none") is refused.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time


class InvalidToken(Exception):
    pass


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify(token: str, secret: str, *, leeway_seconds: float = 0, now: float | None = None) -> dict:
    """The token's claims, or InvalidToken when the signature, algorithm or expiry is wrong."""
    try:
        header_part, claims_part, signature_part = token.split(".")
        header = json.loads(_b64decode(header_part))
        signature = _b64decode(signature_part)
    except (ValueError, TypeError):
        raise InvalidToken("not a JWT") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("not signed with HS256")
    expected = hmac.new(secret.encode(), f"{header_part}.{claims_part}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise InvalidToken("signature does not match")
    try:
        claims = json.loads(_b64decode(claims_part))
    except ValueError:
        raise InvalidToken("claims are not JSON") from None
    if not isinstance(claims, dict):
        raise InvalidToken("claims are not an object")
    now = time.time() if now is None else now
    expires = claims.get("exp")
    if expires is not None and (not isinstance(expires, (int, float)) or expires + leeway_seconds < now):
        raise InvalidToken("expired")
    return claims
