"""The JSON API under /api/v1: session cookie or personal API token (Bearer)."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, g, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from app.api_spec import openapi_document
from app.errors import problem
from app.extensions import csrf, db
from app.models import ApiToken
from app.models.base import utcnow
from app.services.integration_service import IntegrationService, IntegrationView

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # token-authenticated; cookie sessions only reach safe GET endpoints here


def api_user():
    """The caller: a signed-in browser session, else a valid Bearer token."""
    if current_user.is_authenticated:
        return current_user
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


def api_login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        user = api_user()
        if user is None:
            message = "Sign in or send 'Authorization: Bearer <token>'."
            # RFC 9457 problem details; `error` and `message` stay for clients written before.
            response = problem(401, "Unauthorized", message, error="unauthorized", message=message)
            response.headers["WWW-Authenticate"] = 'Bearer realm="TimeHub"'
            return response
        g.api_user = user
        return view(*args, **kwargs)
    return wrapper


def _iso(value):
    return value.isoformat() + "Z" if value else None


def integration_json(view: IntegrationView) -> dict:
    integ = view.integration
    return {
        "slug": view.spec.slug,
        "name": view.spec.name,
        "scope": view.spec.scope,
        "auth_kind": view.spec.auth_kind,
        "configured": view.configured,
        "connected": view.connected,
        "status": view.status,
        "account": integ.account_label if integ else None,
        "last_sync_at": _iso(integ.last_sync_at) if integ else None,
        "last_sync_status": integ.last_sync_status if integ else None,
    }


@bp.get("/integrations")
@api_login_required
def integrations():
    team, mine = IntegrationService().list_for(g.api_user)
    return jsonify(integrations=[integration_json(v) for v in team + mine])


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document(request.host_url.rstrip("/")))
