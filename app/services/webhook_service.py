"""Webhook intake and processing.

Intake verifies the signature with the provider's connector, stores the
delivery (unique per integration + provider delivery id) and only then
answers 2xx; a job processes it. Nothing accepted is lost when no worker
runs: the scheduler re-enqueues deliveries left unprocessed.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.integrations import registry
from app.integrations.base import WebhookRejected
from app.models import Integration, SyncRun, WebhookDelivery
from app.models.base import utcnow
from app.services.connections import connector_for
from app.services.integration_service import IntegrationService
from app.services.sync_service import apply_records, finish_run, start_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Intake:
    status: int
    delivery_id: int | None  # the stored delivery's row id; None when replayed
    message: str


def receive(slug: str, token: str, headers, body: bytes, url: str) -> Intake:
    """Verify and store one delivery. Raises WebhookRejected for forged or malformed ones."""
    try:
        connector_class = registry.get_connector(slug)
    except registry.UnknownProvider:
        raise WebhookRejected(404, "unknown provider") from None
    integration = db.session.scalars(select(Integration).options(joinedload(Integration.credential)).where(
        Integration.provider == slug, Integration.webhook_token == token)).one_or_none()
    if integration is None or integration.status == "not_configured":
        raise WebhookRejected(404, "unknown webhook address")
    secrets = _webhook_secrets(integration)
    event = connector_class.verify_webhook(integration, secrets, headers, body, url)
    try:
        json.loads(body)
    except ValueError:
        raise WebhookRejected(400, "body is not JSON") from None
    delivery = WebhookDelivery(integration_id=integration.id, delivery_id=event.delivery_id[:200],
                               event=(event.event or "")[:100] or None, body=body.decode())
    db.session.add(delivery)
    try:
        db.session.flush()
        stored_id = delivery.id  # read before the commit expires it: no reload
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return Intake(200, None, "duplicate delivery ignored")
    return Intake(202, stored_id, "accepted")


def _webhook_secrets(integration: Integration) -> dict:
    """What a connector verifies with: an OAuth provider's secret setup values
    (GitHub's webhook secret, Slack's signing secret) live on its app; an
    API-key provider's on the integration's own credential."""
    if registry.get_spec(integration.provider).auth_kind == "oauth2":
        app = IntegrationService().app_record(integration.provider)
        return app.payload if app is not None else {}
    return integration.credential.payload if integration.credential is not None else {}


def process_delivery(delivery_id: int, connector_factory=connector_for) -> None:
    """Apply one stored delivery, as a run of its own: like every writer of an
    integration's links it holds the integration's run lock, so it never races a
    pull, a push or another worker processing the same delivery. Raises
    SyncAlreadyRunning when another run holds the integration (the job retries)."""
    session = db.session
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.processed_at is not None:
        return
    integration = session.get(Integration, delivery.integration_id)
    run = start_run(session, integration, "webhook")
    session.refresh(delivery)
    if delivery.processed_at is not None:  # another worker finished it just before we took the lock
        finish_run(session, integration, run, None)
        return
    error = None
    try:
        connector = connector_factory(integration)
        records = connector.webhook_records(delivery.event, json.loads(delivery.body))
        result = apply_records(session, integration.id, records)
        run.pulled, run.created, run.updated, run.archived = (len(records), result.created, result.updated,
                                                              result.archived)
    except Exception as exc:  # recorded on the delivery and the run; the periodic sync is the safety net
        session.rollback()
        log.warning("webhook delivery %s failed: %s", delivery_id, type(exc).__name__)
        error = getattr(exc, "message", None) or type(exc).__name__
    delivery = session.get(WebhookDelivery, delivery_id)
    delivery.error = error
    delivery.processed_at = utcnow()
    finish_run(session, integration, session.get(SyncRun, run.id), error)
