"""Verify a JSON Web Token signed with HMAC-SHA256 and a shared secret.

Atlassian authenticates the webhooks of OAuth 2.0 apps this way (the app's
client secret signs a JWT sent as `Authorization: Bearer ...`). Only HS256
is accepted: a token naming another algorithm (or "none") is refused.

Time claims must be finite numbers (JSON's NaN and Infinity are refused); `exp`
can be required, and a token may not live longer than `max_lifetime_seconds`
from now, which bounds how long a captured token can be replayed. `iss` is
checked against `issuer` when one is given, and a Connect-style `qsh` (a hash
of the method, path and query) is checked against the request it came with.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from urllib.parse import parse_qsl, quote, urlsplit

MAX_LIFETIME_SECONDS = 3600
CONTEXT_QSH = "context-qsh"  # Atlassian's fixed value for tokens not bound to one request


class InvalidToken(Exception):
    pass


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _time_claim(claims: dict, name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidToken(f"{name} is not a time")
    return float(value)


def query_hash(method: str, url: str) -> str:
    """Atlassian Connect's qsh: SHA-256 of METHOD&path&sorted-query (the jwt parameter left out)."""
    parts = urlsplit(url)
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "jwt":
            params.setdefault(quote(key, safe="~"), []).append(quote(value, safe="~"))
    query = "&".join(f"{key}={','.join(sorted(values))}" for key, values in sorted(params.items()))
    canonical = f"{method.upper()}&{parts.path.rstrip('/') or '/'}&{query}"
    return hashlib.sha256(canonical.encode()).hexdigest()


def verify(token: str, secret: str, *, leeway_seconds: float = 0, now: float | None = None,
           require_exp: bool = False, max_lifetime_seconds: float | None = MAX_LIFETIME_SECONDS,
           issuer: str | None = None, method: str | None = None, url: str | None = None) -> dict:
    """The token's claims, or InvalidToken when the signature, algorithm, times, issuer or
    (when the token carries a request hash and `method`/`url` are given) request are wrong."""
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
        claims = json.loads(_b64decode(claims_part), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise InvalidToken("claims are not JSON") from None
    if not isinstance(claims, dict):
        raise InvalidToken("claims are not an object")
    now = time.time() if now is None else now
    expires, issued, not_before = (_time_claim(claims, name) for name in ("exp", "iat", "nbf"))
    if expires is None and require_exp:
        raise InvalidToken("no expiry (exp)")
    if expires is not None and expires + leeway_seconds < now:
        raise InvalidToken("expired")
    if expires is not None and max_lifetime_seconds is not None and expires - now > max_lifetime_seconds + leeway_seconds:
        raise InvalidToken("expires too far ahead")
    if issued is not None and issued - leeway_seconds > now:
        raise InvalidToken("issued in the future (iat)")
    if not_before is not None and not_before - leeway_seconds > now:
        raise InvalidToken("not valid yet (nbf)")
    if issuer is not None and claims.get("iss") != issuer:
        raise InvalidToken("issued by someone else (iss)")
    qsh = claims.get("qsh")
    if qsh is not None and qsh != CONTEXT_QSH and method and url is not None:
        if not isinstance(qsh, str) or not hmac.compare_digest(qsh, query_hash(method, url)):
            raise InvalidToken("made for another request (qsh)")
    return claims
