"""The API's blueprint: who is calling, and conditional GETs.

The JSON API under /api/v1, one module per resource (described by app/api_spec).

Who is calling: a personal API token (`Authorization: Bearer th_...`) for every
operation, or the browser's session cookie for reading only. The blueprint is
exempt from CSRF because a write needs the token, which a forged cross-site
request cannot carry; a cookie alone never reaches a write.

Every answer of a GET carries an ETag (If-None-Match answers 304); updates
honour If-Match (412 when the resource changed meanwhile). Errors are RFC 9457
problem details (app/errors.py).
"""
from __future__ import annotations

from flask import Blueprint, g, request
from flask_login import current_user
from sqlalchemy import select
from werkzeug.routing import BaseConverter

from app.errors import problem
from app.extensions import csrf, db
from app.inputs import INT_MAX
from app.models import ApiToken
from app.models.base import utcnow

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # writes need a Bearer token (see the module's docstring)


class IdConverter(BaseConverter):
    """`<id:...>`: any run of digits; one beyond the database's integer becomes 0, which no
    row has, so it is the resource's 404 (app.inputs' bounded `int` makes werkzeug answer
    405 for a PATCH or DELETE to such a path, as if the address had no such method)."""

    regex = r"\d{1,30}"

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= INT_MAX else 0


@bp.record_once
def _register_converter(state) -> None:
    state.app.url_map.converters["id"] = IdConverter  # before the rules below are added

PUBLIC_ENDPOINTS = {"api.openapi"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
UNAUTHORIZED = "Sign in or send 'Authorization: Bearer <token>'."
WRITE_NEEDS_TOKEN = "Changes through the API need 'Authorization: Bearer <token>' (a personal token from Account)."


def token_user():
    """The owner of the Bearer token sent, when it is valid and the account active."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    token = db.session.scalars(
        select(ApiToken).where(ApiToken.token_digest == ApiToken.digest(header.removeprefix("Bearer ").strip()))
    ).one_or_none()
    if token is None or not token.user.is_active:
        return None
    token.last_used_at = utcnow()
    db.session.commit()
    return token.user


def api_user():
    """The caller: a valid Bearer token, else (for reading) a signed-in browser session."""
    user = token_user()
    if user is None and request.method in SAFE_METHODS and current_user.is_authenticated:
        user = current_user._get_current_object()
    return user


def unauthorized(message: str = UNAUTHORIZED):
    # `error` and `message` stay for clients written before the problem format.
    response = problem(401, "Unauthorized", message, error="unauthorized", message=message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="TimeHub"'
    return response


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None  # the description is public; an unknown address is a 404 problem
    user = api_user()
    if user is None:
        wrote_with_cookie = request.method not in SAFE_METHODS and current_user.is_authenticated
        return unauthorized(WRITE_NEEDS_TOKEN if wrote_with_cookie else UNAUTHORIZED)
    g.api_user = user
    return None


@bp.after_request
def conditional_get(response):
    """ETag every successful read, and answer 304 to a matching If-None-Match."""
    if request.method == "GET" and response.status_code == 200 and response.is_json:
        response.add_etag()
        response.make_conditional(request)
    return response
