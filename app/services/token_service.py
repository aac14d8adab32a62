"""OAuth tokens at rest and in use.

Tokens live encrypted in `IntegrationCredential.payload` (kind "oauth2"); the
clear `expires_at` column mirrors the access token's expiry for the scheduler.

A refresh happens under a lock on the integration's row (`SELECT ... FOR
UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite) and re-reads the row
after taking it, so two workers never spend the same refresh token: providers
that rotate refresh tokens (Xero, QuickBooks, Atlassian) revoke the whole
grant when an old one is presented again. The locked work runs in its own
session and commits on its own, so a rotated token is never lost with a
caller's rolled-back transaction. Do not call these functions while holding
uncommitted writes to the same integration row.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, object_session

from app import tuning
from app.extensions import db
from app.integrations import oauth, registry
from app.integrations.http import AuthError
from app.models import Integration, IntegrationCredential
from app.models.integration import IntegrationStatus
from app.services import connection_state, lookups

log = logging.getLogger(__name__)

# Tuning constants of the token lifecycle, together.

T = TypeVar("T")
MAX_PERSONAL_TOKEN_LENGTH = 500  # Jira's personal access tokens are 44 characters


class TokenError(Exception):
    """A usable access token cannot be had. `message` is safe to show."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotConnected(TokenError):
    """No OAuth credentials stored, or no OAuth app registered for the provider."""


class ReconnectRequired(TokenError):
    """The grant is dead (invalid_grant); someone who may manage it must reconnect."""


class TokenRefreshUnavailable(TokenError):
    """The token endpoint kept failing transiently; stored credentials are untouched."""


class TokenRefreshRejected(TokenError):
    """The provider refused the refresh for another reason (e.g. invalid_client)."""


# -- storing ---------------------------------------------------------------------------

def store_tokens(integration: Integration, token: oauth.TokenSet) -> IntegrationCredential:
    """Put `token` on the integration (encrypted); the caller commits."""
    credential = integration.credential
    if credential is None:
        credential = IntegrationCredential(kind="oauth2")
        integration.credential = credential
    credential.kind = "oauth2"
    credential.payload = token.payload()
    credential.expires_at = token.expires_at_utc
    return credential


def stored_token(integration: Integration) -> oauth.TokenSet:
    credential = integration.credential
    if credential is None or credential.kind != "oauth2":
        raise NotConnected(f"{_name(integration)} is not connected.")
    return oauth.TokenSet.from_payload(credential.payload)


def oauth_provider_for(integration: Integration, session: Session | None = None, **kwargs) -> oauth.OAuthProvider:
    """The provider behind `integration`, with its registered app and endpoints."""
    spec = lookups.spec(integration.provider)
    app_credentials = lookups.app_credentials(session or object_session(integration) or db.session,
                                              integration.provider)
    if app_credentials is None:
        raise NotConnected(f"No OAuth app is registered for {spec.name}.")
    return oauth.OAuthProvider.build(spec, app_credentials.client_id, app_credentials.client_secret,
                                     app_credentials.settings, registry.get_connector(spec.slug), **kwargs)


def revoke_at_provider(integration: Integration) -> bool:
    """Revoke the integration's grant at the provider before its credentials are
    deleted. True when revoked, False when the provider offers no revocation (or
    nothing is stored); raises `oauth.RevocationFailed` with a message to report,
    in which case the caller still deletes the local credentials."""
    if integration.credential is None or integration.credential.kind != "oauth2":
        return False
    try:
        provider = oauth_provider_for(integration)
    except NotConnected:
        return False  # no app registered any more: nothing to authenticate the revocation with
    return oauth.revoke(provider, stored_token(integration))


# -- using -----------------------------------------------------------------------------

def valid_access_token(integration: Integration, *, provider: oauth.OAuthProvider | None = None) -> str:
    """An access token that is good for at least tuning.REFRESH_MARGIN_SECONDS, refreshing it
    first when needed."""
    if integration.status == IntegrationStatus.NEEDS_RECONNECT:
        raise ReconnectRequired(_reconnect_message(integration))
    token = stored_token(integration)
    if not _expiring(token):
        return token.access_token
    return _refresh_locked(integration, _expiring, provider).access_token


def refresh_after_unauthorized(integration: Integration, rejected_access_token: str, *,
                               provider: oauth.OAuthProvider | None = None) -> str:
    """The provider answered 401 to `rejected_access_token`: refresh once, unless
    another worker already replaced that token meanwhile."""
    if provider is None and _is_personal_access_token(integration):
        return _personal_token_refused(integration, rejected_access_token)
    return _refresh_locked(integration, lambda t: t.access_token == rejected_access_token, provider).access_token


def force_refresh(integration: Integration, *, provider: oauth.OAuthProvider | None = None) -> oauth.TokenSet:
    """Refresh now (CLI, and the scheduler keeping idle refresh tokens alive)."""
    return _refresh_locked(integration, lambda _token: True, provider)


def call_with_token(integration: Integration, request: Callable[[str], T]) -> T:
    """Run `request(access_token)`; on a 401, refresh once and try once more."""
    token = valid_access_token(integration)
    try:
        return request(token)
    except AuthError as exc:
        if exc.status != 401:
            raise
    return request(refresh_after_unauthorized(integration, token))


def refresh_idle_connections(now: float | None = None) -> dict[int, str]:
    """For the scheduler: refresh every connection whose refresh token would lapse
    from disuse (OAuthProfile.refresh_token_idle_days) once it is half that old.
    Returns {integration id: outcome}; one failure does not stop the others."""
    now = time.time() if now is None else now
    outcomes: dict[int, str] = {}
    candidates = db.session.scalars(select(Integration).join(Integration.credential).where(
        IntegrationCredential.kind == "oauth2", Integration.status != IntegrationStatus.NEEDS_RECONNECT)).all()
    for integration in candidates:
        idle_days = oauth.profile_for(registry.get_spec(integration.provider)).refresh_token_idle_days
        obtained_at = stored_token(integration).obtained_at
        if not idle_days or obtained_at is None or now - obtained_at < idle_days * 86400 / 2:
            continue
        try:
            force_refresh(integration)
            outcomes[integration.id] = "refreshed"
        except TokenError as exc:
            outcomes[integration.id] = exc.message
    return outcomes


def _is_personal_access_token(integration: Integration) -> bool:
    """A personal access token (Jira Data Center's, a team's or a person's own link): no
    refresh token, and no OAuth app to refresh with."""
    return not stored_token(integration).refresh_token and lookups.app_credentials(
        object_session(integration) or db.session, integration.provider) is None


def _personal_token_refused(integration: Integration, rejected_access_token: str) -> str:
    """Nothing can renew a refused personal access token: whoever owns it must enter a new
    one (the connection, or the personal link, needs reconnecting, with that reason)."""
    message = f"{_name(integration)} refused the personal access token; enter a new one to continue."
    with locked_integration(integration.id) as (_session, locked):
        token = stored_token(locked)
        if token.access_token != rejected_access_token:
            return token.access_token  # replaced meanwhile (linked again): use the new one
        if locked.status != IntegrationStatus.NEEDS_RECONNECT:
            connection_state.needs_reconnect(locked, message)
    _forget_cached_state(integration)
    log.warning("Integration %s: its personal access token was refused", integration.id)
    raise ReconnectRequired(message)


def _expiring(token: oauth.TokenSet) -> bool:
    return token.expires_within(tuning.REFRESH_MARGIN_SECONDS)


def _refresh_locked(integration: Integration, needs_refresh: Callable[[oauth.TokenSet], bool],
                    provider: oauth.OAuthProvider | None) -> oauth.TokenSet:
    provider = provider or oauth_provider_for(integration)
    failure: oauth.TokenEndpointError | None = None
    for attempt in range(tuning.TOKEN_ENDPOINT_ATTEMPTS):
        if attempt:
            time.sleep(tuning.RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1))  # outside the lock
        with locked_integration(integration.id) as (session, locked):
            if locked.status == IntegrationStatus.NEEDS_RECONNECT:
                raise ReconnectRequired(_reconnect_message(locked))
            token = stored_token(locked)
            if not needs_refresh(token):
                result = token  # another worker refreshed while we waited for the lock
                break
            try:
                result = oauth.refresh(provider, token.refresh_token)
            except oauth.TokenEndpointUnavailable as exc:
                failure = exc
                log.warning("Token refresh for integration %s failed (attempt %s of %s): %s",
                            locked.id, attempt + 1, tuning.TOKEN_ENDPOINT_ATTEMPTS, exc.message)
                continue
            except oauth.InvalidGrant as exc:
                connection_state.needs_reconnect(locked, f"{exc.message}. Reconnect {provider.spec.name} to continue.")
                log.warning("Integration %s needs reconnecting: %s", locked.id, exc.message)
                failure = exc
                break
            except oauth.TokenRequestRejected as exc:
                connection_state.failed_check(locked, exc.message)
                failure = exc
                break
            store_tokens(locked, result)
            if locked.status == IntegrationStatus.ERROR:
                connection_state.passed_check(locked)
            locked.last_error = None
            failure = None
            break
    _forget_cached_state(integration)
    if isinstance(failure, oauth.InvalidGrant):
        raise ReconnectRequired(_reconnect_message(integration))
    if isinstance(failure, oauth.TokenRequestRejected):
        raise TokenRefreshRejected(failure.message)
    if failure is not None:
        raise TokenRefreshUnavailable(f"{failure.message}; will try again later.")
    return result


def _forget_cached_state(integration: Integration) -> None:
    """The locked session changed the row behind the caller's back: make the
    caller's copies reload on next access."""
    session = object_session(integration)
    if session is None:
        return
    session.expire(integration, ["status", "last_error"])
    if integration.credential is not None:
        session.expire(integration.credential)


def _reconnect_message(integration: Integration) -> str:
    return integration.last_error or f"{_name(integration)} needs to be reconnected."


def _name(integration: Integration) -> str:
    try:
        return registry.get_spec(integration.provider).name
    except registry.UnknownProvider:
        return integration.provider


# -- the row lock ------------------------------------------------------------------------

@contextmanager
def locked_integration(integration_id: int) -> Iterator[tuple[Session, Integration]]:
    """A fresh session holding an exclusive lock on the integration's row, with the
    row (and its credential) re-read after the lock was taken. Commits on normal
    exit, rolls back on an exception."""
    if db.engine.dialect.name == "sqlite":
        manager = _sqlite_immediate_transaction
    else:
        manager = _row_lock_for_update
    with manager(integration_id) as pair:
        yield pair


@contextmanager
def _row_lock_for_update(integration_id: int) -> Iterator[tuple[Session, Integration]]:
    with Session(db.engine, expire_on_commit=False) as session:
        with session.begin():
            session.execute(text(f"SET LOCAL lock_timeout = '{tuning.LOCK_WAIT_SECONDS}s'"))
            integration = session.scalars(
                select(Integration).where(Integration.id == integration_id).with_for_update()
            ).one_or_none()
            if integration is None:
                raise NotConnected(f"integration {integration_id} no longer exists")
            yield session, integration


@contextmanager
def _sqlite_immediate_transaction(integration_id: int) -> Iterator[tuple[Session, Integration]]:
    # The driver must not open transactions itself, so that ours can start with
    # BEGIN IMMEDIATE (the write lock taken up front, before the re-read).
    engine = db.engine.execution_options(isolation_level="AUTOCOMMIT")
    with Session(engine, expire_on_commit=False, autoflush=False) as session:
        _begin_immediate(session)
        try:
            integration = session.get(Integration, integration_id, populate_existing=True)
            if integration is None:
                raise NotConnected(f"integration {integration_id} no longer exists")
            yield session, integration
            session.flush()
        except BaseException:
            session.execute(text("ROLLBACK"))
            raise
        session.execute(text("COMMIT"))


def _begin_immediate(session: Session) -> None:
    # busy_timeout bounds each wait; a long refresh elsewhere may need several.
    deadline = time.monotonic() + tuning.LOCK_WAIT_SECONDS
    while True:
        try:
            session.execute(text("BEGIN IMMEDIATE"))
            return
        except OperationalError as exc:
            if "locked" not in str(exc.orig) or time.monotonic() > deadline:
                raise
