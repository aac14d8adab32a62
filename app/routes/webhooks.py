"""POST /webhooks/<slug>/<token>: verify, store, answer, process later."""
from __future__ import annotations

from functools import partial

from flask import Blueprint, Response, jsonify, request

from app import tuning
from app.extensions import csrf
from app.integrations.exchange import WebhookRejected
from app.jobs import webhook_enqueuer
from app.services import webhook_processing, webhook_service
from app.web_security import LOG_PATH_KEY

bp = Blueprint("webhooks", __name__)
csrf.exempt(bp)  # authenticated by the provider's signature instead


def _log_as(slug: str, integration_id: int | None) -> None:
    """The access log names the integration, never the address's secret token."""
    request.environ[LOG_PATH_KEY] = f"/webhooks/{slug}/" + (
        f"[integration {integration_id}]" if integration_id else "[unknown address]")


@bp.post("/webhooks/<slug>/<token>")
def receive(slug: str, token: str):
    _log_as(slug, None)
    if (request.content_length or 0) > tuning.WEBHOOK_MAX_BODY_BYTES:
        return jsonify(error="payload too large"), 413
    body = request.get_data(cache=False)
    if len(body) > tuning.WEBHOOK_MAX_BODY_BYTES:
        return jsonify(error="payload too large"), 413
    try:
        intake = webhook_service.receive(slug, token, request.headers, body, request.url, request.args)
    except WebhookRejected as exc:
        return jsonify(error=exc.reason), exc.status
    _log_as(slug, intake.integration_id)
    if intake.text is not None:
        return Response(intake.text, intake.status, mimetype="text/plain")
    response = jsonify(status=intake.message)
    if intake.delivery_id is not None:
        # Stored already: the answer does not wait for the queue (the server closes the response
        # after sending it), and a queue failure only delays the delivery.
        response.call_on_close(partial(webhook_enqueuer.add, intake.delivery_id))
    return response, intake.status, intake.headers


@bp.route("/webhooks/<slug>/<token>", methods=["HEAD"])
def probe(slug: str, token: str):
    """Some providers check a callback URL with HEAD before registering it: only a
    configured integration's address answers 200, and only where POST would be heard."""
    _log_as(slug, None)
    return "", 200 if webhook_service.is_known_address(slug, token) else 404


bp.add_app_template_global(webhook_processing.recent_failed_deliveries, "failed_webhook_deliveries")
