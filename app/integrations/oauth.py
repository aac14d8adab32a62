"""The OAuth 2.0 engine, on Authlib: authorize URL (state + PKCE), code
exchange, refresh and revocation. Generic for every provider; what differs
per provider is data (`OAuthProfile`) and a few hooks a connector may define
(`OAuthHooks`, which every Connector inherits). It knows nothing of the database: storing tokens and the
locking around refreshes belong to `app.services.token_service`.
"""
from __future__ import annotations

import secrets
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx2
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client

from app import tuning
from app.integrations.spec import Endpoints, OAuthProfile, ProviderSpec
from app.integrations.http import INTERACTIVE_RETRY, ProviderClient

SESSION_KEY = "oauth_pending"

# Token-endpoint error codes that mean "try again later", not "your grant is bad".
TRANSIENT_OAUTH_ERRORS = frozenset({"temporarily_unavailable", "server_error", "slow_down"})


# -- per-provider data and hooks ------------------------------------------------

def profile_for(spec: ProviderSpec) -> OAuthProfile:
    return spec.oauth


@dataclass(frozen=True)
class ConnectedAccount:
    """What a provider hook learnt after the exchange: who or what we reached
    (shown on the integrations page) and non-secret settings to keep on the
    integration (Atlassian cloud id, QuickBooks realmId, Xero tenant id...)."""

    label: str | None = None
    settings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AccountOption:
    """One of several accounts a grant reaches, offered for the person connecting to pick."""

    key: str                    # the provider's id for it (Atlassian cloud id, Xero tenant id)
    account: ConnectedAccount   # what is kept on the integration once it is picked
    detail: str = ""            # shown under its name (site URL, organisation type)


class AccountChoiceRequired(Exception):
    """Raised by `oauth_connected_account` when the grant reaches several accounts
    (Atlassian sites, Xero organisations) and a person must pick one. The tokens are
    kept and the connection stays inactive until then: app.routes.oauth_choosers
    handles this exception and shows the chooser."""

    def __init__(self, slug: str, token: "TokenSet", options: list[AccountOption], noun: str):
        super().__init__(f"{len(options)} {noun}s to choose from")
        self.slug = slug
        self.token = token
        self.options = options
        self.noun = noun  # "site", "organisation": for the page's wording


def account_from_list(provider: "OAuthProvider", token: "TokenSet", path: str, to_option, *, noun: str,
                      none_message: str) -> "ConnectedAccount":
    """For grants that reach a list of accounts (Atlassian sites, Xero organisations),
    listed at `path`: one usable account is connected at once, several make a person
    pick (AccountChoiceRequired), none is refused with `none_message`. `to_option` maps
    an entry of the list to an AccountOption, or None for an entry that cannot be used."""
    with provider.api_client(token) as client:
        listed = client.get_json(path)
    if not isinstance(listed, list):
        raise OAuthFlowError(f"{provider.spec.name} answered the list of {noun}s with something that is not a list.")
    options = [option for option in map(to_option, listed) if option is not None]
    if not options:
        raise OAuthFlowError(none_message)
    if len(options) == 1:
        return options[0].account
    raise AccountChoiceRequired(provider.spec.slug, token, options, noun)


class OAuthHooks:
    """How a provider's OAuth differs beyond its OAuthProfile: three hooks with the
    standard behaviour as their defaults. Every Connector inherits them; an OAuth
    provider overrides only what it does differently."""

    @classmethod
    def oauth_authorize_params(cls, app_settings: dict) -> dict:
        """Extra authorize query parameters that depend on the admin's setup (fixed ones
        belong in OAuthProfile); a "scope" entry replaces the spec's scopes."""
        return {}

    @classmethod
    def oauth_connected_account(cls, provider: "OAuthProvider", token: "TokenSet",
                                callback_params: dict) -> ConnectedAccount:
        """After the code exchange: who or what did we connect to. May raise OAuthFlowError
        to refuse the connection (a missing granted scope), or AccountChoiceRequired when
        the grant reaches several accounts."""
        return ConnectedAccount()

    @classmethod
    def oauth_revoke(cls, provider: "OAuthProvider", token: "TokenSet") -> bool:
        """True when revoked, False when the provider offers no revocation; raises
        RevocationFailed (GitHub's grant DELETE...)."""
        return revoke_rfc7009(provider, token)


# -- errors ---------------------------------------------------------------------

class OAuthFlowError(Exception):
    """The authorization step failed; `message` is safe to show to users."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class StateError(OAuthFlowError):
    """Missing, unknown, reused or expired `state`: the callback is refused (400)."""


class TokenEndpointError(Exception):
    """The token endpoint refused or failed. Messages never contain tokens."""

    def __init__(self, message: str, error: str | None = None):
        super().__init__(message)
        self.message = message
        self.error = error


class InvalidGrant(TokenEndpointError):
    """The code or refresh token is dead (revoked, expired, reused): reconnect."""


class TokenEndpointUnavailable(TokenEndpointError):
    """5xx, timeouts, connection failures: worth retrying; nothing was spent."""


class TokenRequestRejected(TokenEndpointError):
    """Any other refusal (invalid_client, unauthorized_client...): a setup problem."""


class RevocationFailed(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# -- tokens -------------------------------------------------------------------

@dataclass(frozen=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_type: str = "Bearer"
    scope: str | None = None
    expires_at: int | None = None  # epoch seconds; None: the provider gave no expiry
    obtained_at: int | None = None  # epoch seconds of the token response (idle refresh tokens lapse)
    raw: dict = field(default_factory=dict, repr=False, compare=False)  # the whole response, for hooks

    @classmethod
    def from_response(cls, data: dict, *, previous_refresh_token: str | None = None,
                      now: float | None = None) -> "TokenSet":
        now = time.time() if now is None else now
        expires_at = data.get("expires_at")
        if expires_at is None and data.get("expires_in") not in (None, ""):
            expires_at = now + int(data["expires_in"])
        return cls(
            access_token=data["access_token"],
            # A refresh response without a new refresh token keeps the old one.
            refresh_token=data.get("refresh_token") or previous_refresh_token,
            token_type=data.get("token_type") or "Bearer",
            scope=data.get("scope"),
            expires_at=int(expires_at) if expires_at is not None else None,
            obtained_at=int(now),
            raw=dict(data),
        )

    @classmethod
    def from_payload(cls, payload: dict) -> "TokenSet":
        return cls(**{k: payload.get(k) for k in ("access_token", "refresh_token", "scope", "expires_at",
                                                  "obtained_at")},
                   token_type=payload.get("token_type") or "Bearer")

    def payload(self) -> dict:
        """What is stored (encrypted) in IntegrationCredential.payload."""
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "token_type": self.token_type, "scope": self.scope, "expires_at": self.expires_at,
                "obtained_at": self.obtained_at}

    @property
    def expires_at_utc(self) -> datetime | None:
        """Naive UTC, as the database stores datetimes."""
        if self.expires_at is None:
            return None
        return datetime.fromtimestamp(self.expires_at, UTC).replace(tzinfo=None)

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        if self.expires_at is None:
            return False
        return self.expires_at - (time.time() if now is None else now) <= seconds


# -- one provider, resolved ---------------------------------------------------------

@dataclass(frozen=True)
class OAuthProvider:
    """A provider with its registered app and resolved endpoints: everything the
    engine needs to talk to it."""

    spec: ProviderSpec
    client_id: str
    client_secret: str = field(repr=False)
    endpoints: Endpoints
    profile: OAuthProfile = OAuthProfile()
    app_settings: dict = field(default_factory=dict)
    connector: type[OAuthHooks] = OAuthHooks
    transport: httpx2.BaseTransport | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, spec: ProviderSpec, client_id: str, client_secret: str, app_settings: dict | None = None,
              connector: type[OAuthHooks] = OAuthHooks, **kwargs) -> "OAuthProvider":
        settings = dict(app_settings or {})
        # `{client_id}` appears in GitHub's revocation URL.
        endpoints = spec.endpoints({**settings, "client_id": client_id})
        kwargs.setdefault("profile", profile_for(spec))
        return cls(spec, client_id, client_secret, endpoints, app_settings=settings, connector=connector, **kwargs)

    def api_client(self, token: "TokenSet", *, base_url: str | None = None,
                   headers: dict[str, str] | None = None) -> ProviderClient:
        """The provider's API with a fresh token, for the calls a connection makes while
        someone waits on it (who connected, revocation): the bearer token unless
        `headers` carry other authentication, and quick retries only."""
        return ProviderClient(self.spec.name, base_url or self.endpoints.api_base, retry=INTERACTIVE_RETRY,
                              transport=self.transport,
                              auth_headers={"Authorization": f"Bearer {token.access_token}", **(headers or {})})

    def client(self, **kwargs) -> OAuth2Client:
        profile = self.profile
        return OAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method=profile.token_auth_method,
            revocation_endpoint_auth_method=profile.revoke_auth_method or profile.token_auth_method,
            code_challenge_method="S256" if profile.pkce else None,
            timeout=tuning.TOKEN_ENDPOINT_TIMEOUT,
            transport=self.transport,
            headers={"User-Agent": "TimeHub"},
            **kwargs,
        )


# -- authorization: state bound to the session, PKCE ---------------------------------

@dataclass(frozen=True)
class PendingAuthorization:
    """An authorization in progress, kept in the signed session until its callback. (What it
    was started for is read before it is taken, from the session: pending_purpose.)"""

    slug: str
    user_id: int
    redirect_uri: str
    code_verifier: str | None = field(default=None, repr=False)
    created_at: float = 0.0


# The purpose of an authorization that links one user's own account to a team connection.
PERSONAL_LINK = "personal_link"


def start_authorization(provider: OAuthProvider, session: MutableMapping, *, user_id: int,
                        redirect_uri: str, now: float | None = None, purpose: str = "connect") -> str:
    """Remember a fresh state (and PKCE verifier) in `session`; return the URL to send the browser to."""
    if not provider.endpoints.authorize_url:
        raise OAuthFlowError(f"{provider.spec.name} has no authorization endpoint configured.")
    now = time.time() if now is None else now
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64) if provider.profile.pkce else None
    pending = _live_pending(session, now)
    pending[state] = {"slug": provider.spec.slug, "user_id": user_id, "redirect_uri": redirect_uri,
                      "code_verifier": verifier, "created_at": now, "purpose": purpose}
    # Oldest first; drop the oldest when a user keeps opening consent screens.
    while len(pending) > tuning.MAX_PENDING_AUTHORIZATIONS:
        pending.pop(next(iter(pending)))
    session[SESSION_KEY] = pending

    extra = {**provider.profile.authorize_params,
             **provider.connector.oauth_authorize_params(provider.app_settings)}
    scope = extra.pop("scope", provider.profile.scope_separator.join(provider.spec.scopes)) or None
    with provider.client() as client:
        url, _ = client.create_authorization_url(
            provider.endpoints.authorize_url, state=state, code_verifier=verifier,
            redirect_uri=redirect_uri, scope=scope, **extra,
        )
    return url


def take_pending(session: MutableMapping, *, slug: str, user_id: int, state: str | None,
                 now: float | None = None) -> PendingAuthorization:
    """Consume the pending authorization `state` names. Single use: it is removed
    from the session whether or not it turns out valid."""
    now = time.time() if now is None else now
    stored = dict(session.get(SESSION_KEY) or {})
    record = stored.pop(state, None) if state else None
    session[SESSION_KEY] = _live_pending_from(stored, now)
    if not state:
        raise StateError("The sign-in response carried no state.")
    if record is None:
        raise StateError("This sign-in link is unknown or was already used.")
    if now - record.get("created_at", 0) > tuning.STATE_TTL_SECONDS:
        raise StateError("This sign-in took longer than 10 minutes and expired.")
    if record.get("slug") != slug or record.get("user_id") != user_id:
        raise StateError("This sign-in response does not belong to this connection.")
    return PendingAuthorization(slug=slug, user_id=user_id, redirect_uri=record["redirect_uri"],
                                code_verifier=record.get("code_verifier"), created_at=record["created_at"])


def pending_purpose(session: MutableMapping, state: str | None) -> str | None:
    """What the authorization `state` names was started for, without consuming it (the
    callback decides from it who may complete it); None when there is no such state."""
    record = (session.get(SESSION_KEY) or {}).get(state) if state else None
    return record.get("purpose", "connect") if isinstance(record, dict) else None


def _live_pending(session: MutableMapping, now: float) -> dict:
    return _live_pending_from(dict(session.get(SESSION_KEY) or {}), now)


def _live_pending_from(pending: dict, now: float) -> dict:
    return {s: r for s, r in pending.items() if now - r.get("created_at", 0) <= tuning.STATE_TTL_SECONDS}


# -- token endpoint --------------------------------------------------------------------

def exchange_code(provider: OAuthProvider, pending: PendingAuthorization, code: str) -> TokenSet:
    """Trade an authorization code for tokens, with the PKCE verifier and the same redirect URI."""
    if not code:
        raise OAuthFlowError(f"{provider.spec.name} sent no authorization code.")
    extra = {"code_verifier": pending.code_verifier} if pending.code_verifier else {}

    def call(client: OAuth2Client) -> dict:
        return client.fetch_token(provider.endpoints.token_url, grant_type="authorization_code", code=code,
                                  redirect_uri=pending.redirect_uri, **extra)

    return TokenSet.from_response(_token_call(provider, call))


def refresh(provider: OAuthProvider, refresh_token: str) -> TokenSet:
    """One refresh_token grant. The caller holds the integration's lock."""
    if not refresh_token:
        raise InvalidGrant(f"{provider.spec.name} gave no refresh token; reconnect to continue.", "invalid_grant")

    def call(client: OAuth2Client) -> dict:
        return client.refresh_token(provider.endpoints.token_url, refresh_token=refresh_token)

    return TokenSet.from_response(_token_call(provider, call), previous_refresh_token=refresh_token)


def _token_call(provider: OAuthProvider, call) -> dict:
    """Run one token-endpoint request and map its failures onto our small hierarchy."""
    name = provider.spec.name
    if not provider.endpoints.token_url:
        raise TokenRequestRejected(f"{name} has no token endpoint configured.")
    try:
        with provider.client() as client:
            return dict(call(client))
    except OAuthError as exc:
        detail = f"{name} refused the token request: {exc.error}"
        if exc.error == "invalid_grant":
            raise InvalidGrant(detail, exc.error) from None
        if exc.error in TRANSIENT_OAUTH_ERRORS:
            raise TokenEndpointUnavailable(detail, exc.error) from None
        raise TokenRequestRejected(detail, exc.error) from None
    except httpx2.TimeoutException:
        raise TokenEndpointUnavailable(f"{name} did not answer the token request in time") from None
    except httpx2.HTTPStatusError as exc:
        status = exc.response.status_code
        if status >= 500 or status == 429:
            raise TokenEndpointUnavailable(f"{name}'s token endpoint answered {status}") from None
        raise TokenRequestRejected(f"{name}'s token endpoint answered {status}") from None
    except httpx2.TransportError as exc:
        raise TokenEndpointUnavailable(f"could not reach {name}'s token endpoint ({type(exc).__name__})") from None
    except (ValueError, KeyError):
        raise TokenRequestRejected(f"{name}'s token endpoint sent an answer that is not a token") from None


# -- after the exchange, revocation -------------------------------------------------

def connected_account(provider: OAuthProvider, token: TokenSet, callback_params: dict) -> ConnectedAccount:
    """Ask the connector who we connected to (default: nobody in particular)."""
    return provider.connector.oauth_connected_account(provider, token, callback_params)


def revoke(provider: OAuthProvider, token: TokenSet) -> bool:
    """Revoke the grant at the provider. True when revoked, False when the provider
    offers no revocation; raises RevocationFailed otherwise. Called by
    IntegrationService.disconnect before it deletes the local credentials."""
    return provider.connector.oauth_revoke(provider, token)


def revoke_rfc7009(provider: OAuthProvider, token: TokenSet) -> bool:
    """Standard revocation (RFC 7009) at the provider's revocation endpoint."""
    url = provider.endpoints.revoke_url
    if not url:
        return False
    # Revoking the refresh token ends the whole grant where the provider supports it.
    if provider.profile.revoke_token_hint == "refresh_token" and token.refresh_token:
        value, hint = token.refresh_token, "refresh_token"
    else:
        value, hint = token.access_token, "access_token"
    name = provider.spec.name
    try:
        with provider.client() as client:
            response = client.revoke_token(url, token=value, token_type_hint=hint)
    except httpx2.TimeoutException:
        raise RevocationFailed(f"{name} did not answer the revocation request in time") from None
    except httpx2.TransportError as exc:
        raise RevocationFailed(f"could not reach {name} to revoke access ({type(exc).__name__})") from None
    if not response.is_success:
        raise RevocationFailed(f"{name} answered {response.status_code} to the revocation request")
    return True

