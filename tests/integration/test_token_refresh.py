"""The token lifecycle (app.services.token_service) on SQLite and PostgreSQL,
against the strict fake authorization server over real HTTP."""
from __future__ import annotations

import os
import threading

import httpx2
import pytest

from app import create_app, tuning
from app.extensions import db as _db
from app.integrations import oauth, registry
from app.integrations.http import AuthError
from app.models import Integration
from app.services import token_service
from app.services.integration_service import IntegrationService
from tests.fakes.oauth_provider import FakeOAuthProvider
from tests.oauth_steps import callback_url, connect_through

SLUG = "xero"  # rotates refresh tokens: reusing one kills the grant
REDIRECT_URI = callback_url(SLUG)
WORKERS = 16


@pytest.fixture
def fake(app, monkeypatch):
    with FakeOAuthProvider(redirect_uris=(REDIRECT_URI,)) as server:
        server.stand_in_for(monkeypatch, SLUG)
        monkeypatch.setattr(tuning, "RETRY_BACKOFF_SECONDS", 0.01)
        yield server


def connected(db, fake, admin, lifetime: int) -> Integration:
    """A Xero integration connected through the fake, its access token living `lifetime` seconds."""
    fake.access_token_lifetime = lifetime
    return connect_through(db, fake, SLUG, admin)


def payload(db, integration_id: int) -> dict:
    db.session.expire_all()
    return db.session.get(Integration, integration_id).credential.payload


def me(fake, access_token: str) -> httpx2.Response:
    return httpx2.get(fake.base_url + "/api/me", headers={"Authorization": f"Bearer {access_token}"})


def test_a_fresh_token_is_used_as_it_is(db, fake, admin):
    integration = connected(db, fake, admin, lifetime=3600)
    stored = payload(db, integration.id)
    assert token_service.valid_access_token(integration) == stored["access_token"]
    assert fake.counts["refresh_token"] == 0


def test_a_token_about_to_expire_is_refreshed_and_the_rotated_refresh_token_kept(db, fake, admin):
    integration = connected(db, fake, admin, lifetime=tuning.REFRESH_MARGIN_SECONDS - 1)
    before = payload(db, integration.id)
    fake.access_token_lifetime = 3600

    token = token_service.valid_access_token(integration)

    after = payload(db, integration.id)
    assert fake.counts["refresh_token"] == 1
    assert token == after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    assert after["refresh_token"] == fake.grant_for(token).refresh_token  # the current one, not the spent one
    assert after["expires_at"] > before["expires_at"]
    assert integration.credential.expires_at == oauth.TokenSet.from_payload(after).expires_at_utc
    assert me(fake, token).status_code == 200
    # Fresh now: no second refresh.
    assert token_service.valid_access_token(integration) == token
    assert fake.counts["refresh_token"] == 1


def test_a_refresh_without_a_new_refresh_token_keeps_the_old_one(db, fake, admin):
    integration = connected(db, fake, admin, lifetime=10)
    before = payload(db, integration.id)
    fake.rotate_refresh_tokens = False
    token_service.valid_access_token(integration)
    after = payload(db, integration.id)
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] == before["refresh_token"]


def test_invalid_grant_asks_for_a_reconnect_and_is_not_retried(db, fake, admin):
    integration = connected(db, fake, admin, lifetime=10)
    fake.revoke_all()

    with pytest.raises(token_service.ReconnectRequired) as caught:
        token_service.valid_access_token(integration)

    assert integration.status == "needs_reconnect"
    assert "Reconnect Xero" in integration.last_error and "invalid_grant" in integration.last_error
    stored = payload(db, integration.id)
    assert stored["refresh_token"] not in integration.last_error and stored["refresh_token"] not in caught.value.message
    assert fake.counts["refresh_token"] == 1
    for _ in range(3):
        with pytest.raises(token_service.ReconnectRequired):
            token_service.valid_access_token(integration)
    assert fake.counts["refresh_token"] == 1  # nothing loops against a dead grant


def test_transient_failures_are_retried_with_backoff(db, fake, admin):
    integration = connected(db, fake, admin, lifetime=10)
    fake.fail_next_token_requests(tuning.TOKEN_ENDPOINT_ATTEMPTS - 1, status=502)
    token = token_service.valid_access_token(integration)
    assert fake.counts["refresh_token"] == tuning.TOKEN_ENDPOINT_ATTEMPTS
    assert me(fake, token).status_code == 200
    assert integration.status == "active"


def test_a_token_endpoint_that_stays_down_leaves_the_credentials_untouched(db, fake, admin):
    integration = connected(db, fake, admin, lifetime=10)
    ciphertext = integration.credential.ciphertext
    fake.fail_next_token_requests(tuning.TOKEN_ENDPOINT_ATTEMPTS, status=503)

    with pytest.raises(token_service.TokenRefreshUnavailable):
        token_service.valid_access_token(integration)

    assert fake.counts["refresh_token"] == tuning.TOKEN_ENDPOINT_ATTEMPTS
    db.session.expire_all()
    assert integration.credential.ciphertext == ciphertext
    assert integration.status == "active" and integration.last_error is None
    # The refresh token was never spent: the next attempt works.
    assert me(fake, token_service.valid_access_token(integration)).status_code == 200


def test_a_timeout_counts_as_transient(db, fake, admin, monkeypatch):
    integration = connected(db, fake, admin, lifetime=10)
    monkeypatch.setattr(tuning, "TOKEN_ENDPOINT_TIMEOUT", httpx2.Timeout(0.2))
    fake.hang_next_token_requests(1)
    token = token_service.valid_access_token(integration)
    assert me(fake, token).status_code == 200


def test_a_401_refreshes_once_and_retries(db, fake, admin):
    integration = connected(db, fake, admin, lifetime=3600)
    fake.expire_access_tokens()  # revoked early at the provider, although our clock says it is valid
    calls = []

    def whoami(access_token: str) -> dict:
        calls.append(access_token)
        response = me(fake, access_token)
        if response.status_code == 401:
            raise AuthError("Xero answered 401", 401)
        return response.json()

    assert token_service.call_with_token(integration, whoami)["email"] == fake.account["email"]
    assert len(calls) == 2 and calls[0] != calls[1]
    assert fake.counts["refresh_token"] == 1

    fake.revoke_all()
    fake.expire_access_tokens()
    with pytest.raises(token_service.ReconnectRequired):
        token_service.call_with_token(integration, whoami)
    assert fake.counts["refresh_token"] == 2


def test_a_401_for_a_token_already_replaced_does_not_refresh_again(db, fake, admin):
    integration = connected(db, fake, admin, lifetime=10)
    old = payload(db, integration.id)["access_token"]
    new = token_service.valid_access_token(integration)
    assert token_service.refresh_after_unauthorized(integration, old) == new
    assert fake.counts["refresh_token"] == 1


def test_force_refresh_reports_the_new_expiry(db, fake, admin):
    integration = connected(db, fake, admin, lifetime=3600)
    token = token_service.force_refresh(integration)
    assert fake.counts["refresh_token"] == 1
    assert token.expires_at_utc == integration.credential.expires_at


def test_not_connected_is_explained(db, fake, admin):
    integration = IntegrationService()._get_or_create(admin, registry.get_spec(SLUG))
    db.session.commit()
    with pytest.raises(token_service.NotConnected, match="Xero is not connected"):
        token_service.valid_access_token(integration)


# -- concurrency ------------------------------------------------------------------------

@pytest.fixture
def worker_app(app):
    """A second application over the same database, like another worker process,
    with a pool large enough for every thread's session plus its lock session."""
    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 2 * WORKERS + 2, "max_overflow": 0}})
    yield other
    with other.app_context():
        _db.engine.dispose()


def test_concurrent_workers_spend_the_refresh_token_once(db, fake, admin, worker_app):
    integration_id = connected(db, fake, admin, lifetime=10).id
    old = payload(db, integration_id)
    fake.access_token_lifetime = 3600
    fake.token_latency = 0.05  # keeps the first refresh in flight while the others arrive
    start = threading.Barrier(WORKERS, timeout=30)  # a failing worker must not strand the others
    tokens: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with worker_app.app_context():
                integration = _db.session.get(Integration, integration_id)
                start.wait()
                tokens.append(token_service.valid_access_token(integration))
        except BaseException as exc:  # reported below, with the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert fake.counts["refresh_token"] == 1
    new = payload(db, integration_id)
    assert len(tokens) == WORKERS and set(tokens) == {new["access_token"]}
    assert new["access_token"] != old["access_token"]
    assert fake.grant_for(new["refresh_token"]).revoked is False
    assert me(fake, new["access_token"]).status_code == 200


PROCESSES = 4  # x THREADS_PER_PROCESS = WORKERS; spawning 16 interpreters would slow the suite down
THREADS_PER_PROCESS = WORKERS // PROCESSES


def _process_worker(environ: dict, database_url: str, integration_id: int, start, results) -> None:
    """One worker process with its own application, engine and threads."""
    os.environ.update(environ)  # a forkserver child has the server's environment, not the test's
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 2 * THREADS_PER_PROCESS + 2, "max_overflow": 0}})

    def thread() -> None:
        try:
            with app.app_context():
                integration = _db.session.get(Integration, integration_id)
                start.wait()
                results.put(("token", token_service.valid_access_token(integration)))
        except BaseException as exc:
            results.put(("error", repr(exc)))

    threads = [threading.Thread(target=thread) for _ in range(THREADS_PER_PROCESS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.mark.slow  # real worker processes, like the others of its kind (docs/testing.md, "No test can hang")
def test_concurrent_worker_processes_spend_the_refresh_token_once(app, db, fake, admin):
    import multiprocessing

    integration_id = connected(db, fake, admin, lifetime=10).id
    fake.access_token_lifetime = 3600
    fake.token_latency = 0.05
    # Fresh interpreters (no inherited connections or locks), forked from one
    # server that imported the application once.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["app", "app.services.token_service", __name__])
    start, results = context.Barrier(WORKERS, timeout=30), context.Queue()
    processes = [context.Process(target=_process_worker,
                                 args=(dict(os.environ), app.config["SQLALCHEMY_DATABASE_URI"], integration_id,
                                       start, results))
                 for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in range(WORKERS)]
    for process in processes:
        process.join(timeout=30)
        if process.is_alive():  # never leave a stuck worker behind
            process.kill()

    assert [o for o in outcomes if o[0] == "error"] == []
    new = payload(db, integration_id)
    assert {value for _, value in outcomes} == {new["access_token"]}
    assert fake.counts["refresh_token"] == 1
    assert me(fake, new["access_token"]).status_code == 200


@pytest.fixture
def plain_revocation(monkeypatch):
    """The generic RFC 7009 path (Xero's own, which first deletes its connections, is
    tested in test_oauth_quirks_accounting.py)."""
    from app.integrations.xero import XeroConnector
    monkeypatch.delattr(XeroConnector, "oauth_revoke")


def test_revoking_a_connection_ends_the_grant_at_the_provider(db, fake, admin, plain_revocation):
    integration = connected(db, fake, admin, lifetime=3600)
    refresh_token = payload(db, integration.id)["refresh_token"]
    assert token_service.revoke_at_provider(integration) is True
    assert fake.grant_for(refresh_token).revoked
    assert fake.counts["revoke"] == 1


def test_a_failing_revocation_is_reported(db, fake, admin, monkeypatch, plain_revocation):
    integration = connected(db, fake, admin, lifetime=3600)
    monkeypatch.setenv("XERO_REVOKE_URL", fake.base_url + "/unavailable")
    with pytest.raises(oauth.RevocationFailed, match="Xero answered 404"):
        token_service.revoke_at_provider(integration)


def test_idle_connections_are_refreshed_before_their_refresh_token_lapses(db, fake, admin, monkeypatch):
    integration = connected(db, fake, admin, lifetime=3600)
    obtained_at = payload(db, integration.id)["obtained_at"]
    # What Xero's profile will declare: refresh tokens lapse after 60 idle days.
    monkeypatch.setattr(oauth, "profile_for", lambda spec: oauth.OAuthProfile(refresh_token_idle_days=60))

    assert token_service.refresh_idle_connections(now=obtained_at + 29 * 86400) == {}
    assert fake.counts["refresh_token"] == 0
    assert token_service.refresh_idle_connections(now=obtained_at + 31 * 86400) == {integration.id: "refreshed"}
    assert fake.counts["refresh_token"] == 1
    fake.revoke_all()
    later = payload(db, integration.id)["obtained_at"] + 31 * 86400
    outcome = token_service.refresh_idle_connections(now=later)[integration.id]
    assert "Reconnect Xero" in outcome
    assert token_service.refresh_idle_connections(now=later) == {}  # needs_reconnect: left alone
