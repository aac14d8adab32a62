"""POST /commands/<slug>/<token>: a chat command (Slack's /timehub), answered in the request."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from app import tuning
from app.extensions import csrf
from app.integrations.exchange import WebhookRejected
from app.services import command_service

bp = Blueprint("commands", __name__)
csrf.exempt(bp)  # authenticated by the provider's signature instead


@bp.post("/commands/<slug>/<token>")
def answer(slug: str, token: str):
    if (request.content_length or 0) > tuning.WEBHOOK_MAX_BODY_BYTES:
        return jsonify(error="payload too large"), 413
    body = request.get_data(cache=False)
    try:
        reply = command_service.answer(slug, token, request.headers, body)
    except WebhookRejected as exc:
        return jsonify(error=exc.reason), exc.status
    return jsonify(reply.body), reply.status
