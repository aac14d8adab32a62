"""What the connector tests over real HTTP share (Jira, GitHub, GitLab, Asana, Trello, and the
accounting ones for webhooks): a provider's fake started and the app pointed at it, the
connection made as the setup page and the OAuth flow make it, the settings page's saves, a
sync that must succeed, the app served over loopback for webhooks, and the webhook job.

Each test module keeps only what is its provider's (which fake, how its containers are
named); everything here goes through the app's real services."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from app.integrations.http import RetryPolicy
from app.models import ExternalLink, Integration, OutboxItem, Task, WebhookDelivery
from app.models.base import utcnow
from app.services import webhook_processing
from app.services.connections import connector_for
from app.services.integration_service import IntegrationService
from app.services.sync_service import run_sync, settings_changed
from tests.contract import Contract
from tests.fakes.server import QuietRequestHandler
from tests.oauth_steps import connect

# Retries that cost milliseconds, for the injected-fault tests.
FAST_RETRIES = RetryPolicy(max_attempts=8, backoff_base=0.005, backoff_cap=0.05, max_total_wait=10,
                           max_rate_limit_wait=5)


def fast_connector(integration):
    """The real connector (real auth, real client) with backoffs that cost milliseconds."""
    return connector_for(integration, retry=FAST_RETRIES)


# -- the provider's fake, reached through the <SLUG>_* endpoint variables --------------------------

def oauth_fake_fixture(fake_class, slug: str):
    """A fixture `start_<slug>(**options)`: a running `fake_class` (an OAuth provider's fake with
    its API) the app is pointed at. Behind TIMEHUB_EXTERNAL_URL the callback registered at the
    provider is on that address too."""
    callback = f"http://localhost/integrations/{slug}/callback"

    @pytest.fixture(name=f"start_{slug}")
    def start_fake(app, monkeypatch):
        fakes = []

        def start(**options):
            external = app.config.get("TIMEHUB_EXTERNAL_URL")
            callbacks = (callback, f"{external}/integrations/{slug}/callback") if external else (callback,)
            fake = fake_class(redirect_uris=callbacks, **options).__enter__()
            fakes.append(fake)
            for name, value in fake.env().items():
                monkeypatch.setenv(name, value)
            return fake

        yield start
        for fake in fakes:
            fake.__exit__(None, None, None)

    return start_fake


# -- the connection, as the setup and settings pages make it ----------------------------------------

def current(db, slug: str) -> Integration:
    db.session.expire_all()
    return IntegrationService().integration_for(None, slug)


def connect_oauth(db, admin, admin_client, slug: str, fake) -> Integration:
    """Save the OAuth app as the setup page does and connect through the real OAuth flow."""
    IntegrationService().save_app_credentials(admin, slug, {"client_id": fake.oauth.client_id,
                                                            "client_secret": fake.oauth.client_secret})
    response = connect(admin_client, slug)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    integration = current(db, slug)
    assert integration.status == "active"
    return integration


def set_setting(db, integration: Integration, **values) -> None:
    """What the settings page does when the admin saves these values."""
    integration.settings = {**(integration.settings or {}), **values}
    settings_changed(db.session, integration)


def allow(db, integration: Integration, ids: list[str]) -> None:
    """The settings page's allow-list (repositories, projects, boards) saved as these ids."""
    set_setting(db, integration, allow_list=list(ids))


def sync(integration: Integration):
    run = run_sync(integration.id)
    assert run.status == "succeeded", run.error
    return run


# -- what was imported ------------------------------------------------------------------------------

def tasks_by_key(db) -> dict[str, Task]:
    db.session.expire_all()
    return {task.external_key: task for task in db.session.scalars(select(Task))}


def tasks_by_remote_id(db) -> dict[str, Task]:
    """Tasks by the provider's id of what they were imported from (their external link)."""
    db.session.expire_all()
    links = {link.local_id: link.external_id for link in db.session.scalars(
        select(ExternalLink).where(ExternalLink.local_kind == "task"))}
    return {links[task.id]: task for task in db.session.scalars(select(Task)) if task.id in links}


def check_contract(provider: str, requests, *, server_url: str | None = None, only_under_base: bool = False,
                   answers_checked: tuple[int, ...] | None = (200, 201)) -> int:
    """Validate the recorded requests, and the fake's answers with these statuses (None: every
    answer), against the provider's description; the number of requests checked.
    `only_under_base` leaves out calls outside the description's base path (a gateway's own)."""
    contract = Contract.for_provider(provider, server_url)
    checked = 0
    for recorded in requests:
        if only_under_base and not recorded.path.startswith(contract.base_path + "/"):
            continue
        contract.check_request(recorded)
        if answers_checked is None or recorded.status in answers_checked:
            contract.check_response(recorded)
        checked += 1
    return checked


# -- pushes -----------------------------------------------------------------------------------------

def outbox(db) -> list[tuple[str, str | None]]:
    db.session.expire_all()
    return [(item.status, item.last_error) for item in db.session.scalars(select(OutboxItem).order_by(OutboxItem.id))]


def retry_now(db) -> None:
    """Make every waiting push due now (instead of waiting out its backoff)."""
    for item in db.session.scalars(select(OutboxItem).where(OutboxItem.status == "pending")):
        item.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


# -- webhooks ---------------------------------------------------------------------------------------

@pytest.fixture
def live_app(app):
    """This test's app served over loopback, and TIMEHUB_EXTERNAL_URL pointing at it."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    app.config["TIMEHUB_EXTERNAL_URL"] = f"http://127.0.0.1:{server.server_port}"
    try:
        yield app.config["TIMEHUB_EXTERNAL_URL"]
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def process_deliveries(db) -> int:
    """What the webhook job does for every stored, unprocessed delivery."""
    db.session.expire_all()
    waiting = db.session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.processed_at.is_(None))).all()
    for delivery_id in waiting:
        webhook_processing.process_delivery(delivery_id)
    return len(waiting)
