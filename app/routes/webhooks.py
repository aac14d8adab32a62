"""POST /webhooks/<slug>/<token>: verify, store, answer, process later."""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request

from app import tuning
from app.extensions import csrf
from app.integrations.base import WebhookRejected
from app.services import webhook_service

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)
csrf.exempt(bp)  # authenticated by the provider's signature instead


@bp.post("/webhooks/<slug>/<token>")
def receive(slug: str, token: str):
    if (request.content_length or 0) > tuning.WEBHOOK_MAX_BODY_BYTES:
        return jsonify(error="payload too large"), 413
    body = request.get_data(cache=False)
    if len(body) > tuning.WEBHOOK_MAX_BODY_BYTES:
        return jsonify(error="payload too large"), 413
    try:
        intake = webhook_service.receive(slug, token, request.headers, body, request.url)
    except WebhookRejected as exc:
        return jsonify(error=exc.reason), exc.status
    if intake.delivery_id is not None:
        _enqueue(intake.delivery_id)
    return jsonify(status=intake.message), intake.status


def _enqueue(delivery_id: int) -> None:
    """The delivery is stored already: if the queue is down, the scheduler enqueues it later."""
    from app.jobs import process_webhook
    try:
        process_webhook(delivery_id)
    except Exception:  # noqa: BLE001 - any queue failure; never lose the 2xx for a stored delivery
        log.warning("could not enqueue webhook delivery %s; the scheduler will", delivery_id)


@bp.route("/webhooks/<slug>/<token>", methods=["HEAD"])
def probe(slug: str, token: str):
    """Trello checks a callback URL with HEAD before creating a webhook."""
    return "", 200
