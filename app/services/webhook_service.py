"""Webhook intake.

Intake verifies the signature with the provider's connector, stores the
delivery (unique per integration + provider delivery id) and only then
answers 2xx; a job processes it (app/services/webhook_processing.py). Nothing
accepted is lost when no worker runs: the scheduler re-enqueues deliveries
left unprocessed.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from app import encryption, tuning
from app.extensions import db
from app.integrations import registry
from app.integrations.capabilities import ConfirmsWebhookHandshake, ReceivesWebhooks
from app.integrations.exchange import WebhookRejected
from app.integrations import webhook_body
from app.models import Integration, IntegrationCredential, ProviderApp, WebhookDelivery
from app.models.base import utcnow
from app.models.integration import IntegrationStatus
from app.services.group_commit import GroupCommit

@dataclass(frozen=True)
class Intake:
    status: int
    delivery_id: int | None  # the stored delivery's row id; None when replayed
    message: str
    integration_id: int | None = None
    headers: dict = field(default_factory=dict)  # a handshake's echo
    text: str | None = None  # a handshake echoed as a text/plain body


DELIVERY_ID_MAX = 128  # longer ids (and ids that look like a digest) are stored as their digest
DIGEST_PREFIX = "sha256:"
EVENT_MAX = 100


def stored_delivery_id(delivery_id: str) -> str:
    """The provider's delivery id as stored: whole when short, else its SHA-256, so that two
    distinct ids never collide in the unique index (as cutting them at a length did). An id
    that itself starts with the digest prefix is digested too, so it cannot pose as one."""
    if len(delivery_id) <= DELIVERY_ID_MAX and not delivery_id.startswith(DIGEST_PREFIX):
        return delivery_id
    return DIGEST_PREFIX + hashlib.sha256(delivery_id.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class WebhookTarget:
    """What a connector's verify_webhook gets as `integration`: the integration's
    columns as read for this delivery (no ORM object on the intake's hot path)."""

    id: int
    provider: str
    status: str
    is_global: bool
    user_id: int | None
    settings: dict
    state: dict | None = None   # the connector state (where a connector may keep webhook signing secrets)


# The intake reads the integration and the ciphertext of its signing secrets in
# one Core SELECT per delivery; an API-key provider signs with the integration's
# credential, an OAuth provider with its app's secret setup values. The statements
# are built once (bound parameters), which saves their construction per delivery.
_TARGET_COLUMNS = (Integration.id, Integration.provider, Integration.status, Integration.is_global,
                   Integration.user_id, Integration.settings, Integration.connector_state)
_ADDRESS = (Integration.provider == bindparam("slug"), Integration.webhook_token == bindparam("token"),
            Integration.is_connection())
_TARGET_SIGNED_WITH_CREDENTIAL = select(*_TARGET_COLUMNS, IntegrationCredential.ciphertext).outerjoin(
    IntegrationCredential, IntegrationCredential.integration_id == Integration.id).where(*_ADDRESS)
_TARGET_SIGNED_WITH_APP = select(*_TARGET_COLUMNS, ProviderApp.client_id, ProviderApp.ciphertext).outerjoin(
    ProviderApp, ProviderApp.provider == Integration.provider).where(*_ADDRESS)
_ADDRESS_STATUS = select(Integration.status).where(*_ADDRESS)
_DELIVERIES = WebhookDelivery.__table__
# INSERT ... ON CONFLICT (integration_id, delivery_id) DO NOTHING RETURNING, per dialect; run
# with a batch's rows (SQLAlchemy makes them one multi-row INSERT), a replay returns no row.
_STORE_DELIVERIES = {
    dialect: insert(_DELIVERIES).on_conflict_do_nothing(
        index_elements=[_DELIVERIES.c.integration_id, _DELIVERIES.c.delivery_id]).returning(
        _DELIVERIES.c.id, _DELIVERIES.c.integration_id, _DELIVERIES.c.delivery_id)
    for dialect, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


def find_target(connection, connector_class, slug: str, token: str) -> tuple[WebhookTarget, str | None, str | None] | None:
    """The configured integration behind a webhook address, its OAuth app's client id (None
    for API-key providers) and its secrets' ciphertext; None for an unknown address (or one
    whose integration is not configured)."""
    oauth = connector_class.spec.auth_kind == "oauth2"
    row = connection.execute(_TARGET_SIGNED_WITH_APP if oauth else _TARGET_SIGNED_WITH_CREDENTIAL,
                             {"slug": slug, "token": token}).first()
    if row is None or row.status == IntegrationStatus.NOT_CONFIGURED:
        return None
    columns = len(_TARGET_COLUMNS)
    return WebhookTarget(*row[:columns]), (row[columns] if oauth else None), row[-1]


def receives_webhooks(connector_class) -> bool:
    """Whether the provider's connector verifies deliveries at all."""
    return issubclass(connector_class, ReceivesWebhooks)


def is_known_address(slug: str, token: str) -> bool:
    """HEAD probes (some providers check an address before registering it): one indexed
    SELECT, no secrets read. Answers as POST would: an address whose provider verifies no
    deliveries is unknown."""
    try:
        if not receives_webhooks(registry.get_connector(slug)):
            return False
    except registry.UnknownProvider:
        return False
    with _intake_connection() as connection:
        status = connection.execute(_ADDRESS_STATUS, {"slug": slug, "token": token}).scalar()
    return status is not None and status != IntegrationStatus.NOT_CONFIGURED


def receive(slug: str, token: str, headers, body: bytes, url: str, query=None) -> Intake:
    """Verify and store one delivery. Raises WebhookRejected for forged or malformed ones:
    the body must be a UTF-8 JSON object of bounded depth (app.integrations.webhook_body) before a
    connector reads it, and have the provider's shape (ReceivesWebhooks.delivery_problem) before it is
    stored, so that everything answered 2xx can be applied.

    Two statements: the SELECT of the integration with its secrets' ciphertext, then
    an INSERT ... ON CONFLICT DO NOTHING RETURNING, so a replay is told apart by the
    missing id rather than by an error. On SQLite the INSERT is shared with the
    deliveries other threads of this process store at the same moment (group commit)."""
    try:
        connector_class = registry.get_connector(slug)
    except registry.UnknownProvider:
        raise WebhookRejected(404, "unknown provider") from None
    if not receives_webhooks(connector_class):
        raise WebhookRejected(404, f"{connector_class.spec.name} sends no webhooks here")
    with _intake_connection() as connection:
        return _receive_on(connection, connector_class, slug, token, headers, body, url, query)


def _receive_on(connection, connector_class, slug: str, token: str, headers, body: bytes, url: str,
                query) -> Intake:
    found = find_target(connection, connector_class, slug, token)
    if found is None:
        raise WebhookRejected(404, "unknown webhook address")
    target, client_id, ciphertext = found
    handshake = _handshake(connector_class, target.id, headers, body, query)
    if handshake is not None:
        return handshake
    event, text = _verified_delivery(connector_class, target, client_id, ciphertext, headers, body, url)
    row = {"integration_id": target.id, "delivery_id": stored_delivery_id(event.delivery_id),
           "event": event.event or None, "body": text, "received_at": utcnow()}
    stored_id = _store(connection, row)
    if stored_id is None:
        return Intake(200, None, "duplicate delivery ignored", target.id)
    return Intake(event.accepted_status, stored_id, "accepted", target.id)


def _handshake(connector_class, integration_id: int, headers, body: bytes, query) -> Intake | None:
    """The echo a provider confirming a registration under way asks for, if this is one."""
    if not issubclass(connector_class, ConfirmsWebhookHandshake):
        return None
    echoed = connector_class.webhook_handshake_text(query or {})
    if echoed is not None:
        return Intake(200, None, "handshake confirmed", integration_id, text=echoed)
    echo = connector_class.webhook_handshake(headers, body)
    if echo is not None:
        return Intake(200, None, "handshake confirmed", integration_id, headers=echo)
    return None


def _verified_delivery(connector_class, target: WebhookTarget, client_id: str | None, ciphertext: str | None,
                       headers, body: bytes, url: str):
    """The connector's verdict on a delivery (its event name and delivery id) and the body's
    text as stored; WebhookRejected for a body, signature or shape that will not do."""
    if connector_class.bodyless_deliveries and not body:
        text, payload = "{}", {}
    else:
        webhook_body.check_content_type(headers.get("Content-Type"))
        text, payload = webhook_body.parse(body)
    secrets = _webhook_secrets(ciphertext) if ciphertext is not None else _env_secrets(connector_class.spec)
    if client_id and "client_id" not in secrets:
        secrets["client_id"] = client_id
    event = connector_class.verify_webhook(target, secrets, headers, body, url)
    if event.event is not None and not isinstance(event.event, str):
        raise WebhookRejected(400, "the event name is not text")
    if not isinstance(event.delivery_id, str) or not event.delivery_id:
        raise WebhookRejected(400, "the delivery id is missing")
    if event.event is not None and len(event.event) > EVENT_MAX:
        raise WebhookRejected(400, f"the event name is longer than {EVENT_MAX} characters")
    shape_problem = connector_class.delivery_problem(event.event, payload)
    if shape_problem:
        raise WebhookRejected(422, f"the delivery cannot be applied: {shape_problem}")
    return event, text


def _intake_connection():
    """The intake's connection. On PostgreSQL it autocommits: the SELECT needs no
    transaction and the INSERT is one statement, a transaction of its own, so a delivery
    costs three round trips (the pool's ping, the SELECT, the INSERT) where BEGIN,
    ROLLBACK, a second checkout's ping, BEGIN and COMMIT made eight. SQLite's driver opens
    no transaction for a SELECT anyway, and switching its isolation level per checkout
    costs more than it saves (two PRAGMAs)."""
    connection = db.engine.connect()
    if connection.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection


def _store(connection, row: dict) -> int | None:
    """The stored delivery's id, None for a replay. SQLite takes one writer at a time: the
    threads of a process store what they hold together (group commit, on a connection of
    its own), which also keeps them out of SQLite's busy handler. PostgreSQL commits
    concurrent transactions side by side and flushes their WAL together itself, so each
    request stores its own row there, on the connection it read the integration with
    (measured: a per-process turn made the gunicorn intake slower)."""
    if connection.dialect.name == "sqlite":
        # The read connection goes back to the pool first: threads waiting on the group commit
        # must not hold the connections its writer needs (64 at once exhausted the pool).
        connection.close()
        return _delivery_writer().submit(row)
    return _insert_deliveries(connection, [row])[0]


_WRITER_KEY = "timehub.webhook_delivery_writer"
_writer_made = threading.Lock()


def _delivery_writer() -> GroupCommit:
    """This app's group commit of deliveries (one per app: tests run several in a process)."""
    extensions = current_app.extensions
    writer = extensions.get(_WRITER_KEY)
    if writer is None:
        with _writer_made:
            writer = extensions.setdefault(_WRITER_KEY, GroupCommit(_store_deliveries, tuning.WEBHOOK_STORE_BATCH_MAX))
    return writer


def _store_deliveries(rows: list[dict]) -> list[int | None]:
    """Store a batch of deliveries in one transaction (the group commit's writer)."""
    with db.engine.connect() as connection:
        stored = _insert_deliveries(connection, rows)
        connection.commit()
    return stored


def _insert_deliveries(connection, rows: list[dict]) -> list[int | None]:
    """Store deliveries with one INSERT: each row's new id, or None for a replay (stored
    before, or earlier in the same batch)."""
    keys = [(row["integration_id"], row["delivery_id"]) for row in rows]
    first_of_key: dict[tuple, dict] = {}
    for key, row in zip(keys, rows):
        first_of_key.setdefault(key, row)  # in arrival order: ids are numbered as the rows came
    stored = {(row.integration_id, row.delivery_id): row.id for row in connection.execute(
        _STORE_DELIVERIES[connection.dialect.name], list(first_of_key.values()))}
    return [stored.get(key) if first_of_key[key] is row else None for key, row in zip(keys, rows)]


# Decrypted signing secrets by their ciphertext: a rotated secret or a re-encryption
# is a new ciphertext, so an entry never outlives the value it was read from, and a
# disconnected integration is gone from the SELECT before the cache is asked.
_secrets_by_ciphertext: dict[str, dict] = {}
_secrets_lock = threading.Lock()


def _env_secrets(spec) -> dict:
    """An OAuth app given through <SLUG>_CLIENT_ID / _CLIENT_SECRET rather than saved on its
    setup page: its client secret is what Atlassian signs webhooks with."""
    credentials = spec.env_app_credentials() if spec.auth_kind == "oauth2" else None
    return {"client_id": credentials[0], "client_secret": credentials[1]} if credentials else {}


def _webhook_secrets(ciphertext: str | None) -> dict:
    """What a connector verifies with: an OAuth provider's secret setup values
    (GitHub's webhook secret, Slack's signing secret) live on its app; an
    API-key provider's on the integration's own credential. Fernet runs once per
    ciphertext in a process, not once per delivery."""
    if ciphertext is None:
        return {}
    cached = _secrets_by_ciphertext.get(ciphertext)
    if cached is None:
        cached = encryption.decrypt_json(ciphertext)
        with _secrets_lock:
            if len(_secrets_by_ciphertext) >= tuning.WEBHOOK_SECRET_CACHE_SIZE:
                _secrets_by_ciphertext.clear()
            _secrets_by_ciphertext[ciphertext] = cached
    return dict(cached)  # a copy: a connector may not change the cached one
