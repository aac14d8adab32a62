"""What the invitation and password reset pages share: the public address of a link."""
from __future__ import annotations

from flask import current_app, request


def public_url(path: str) -> str:
    """`path` on TimeHub's public address (TIMEHUB_EXTERNAL_URL), else on this request's host."""
    base = current_app.config.get("TIMEHUB_EXTERNAL_URL") or request.host_url.rstrip("/")
    return base + path
