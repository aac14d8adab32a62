"""Google Calendar, per user: each user's own calendar <-> that user's time entries."""
from __future__ import annotations

import base64
import binascii
import json
import logging

from app.integrations.base import Connector
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import OAUTH_APP_FIELDS, OAuthProfile, ProviderSpec
from app.integrations.oauth import (
    ConnectedAccount,
    OAuthFlowError,
    OAuthProvider,
    TokenSet,
)

log = logging.getLogger(__name__)

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.events"
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")

SPEC = ProviderSpec(
    slug="google_calendar",
    name="Google Calendar",
    scope="per_user",
    auth_kind="oauth2",
    authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",
    revoke_url="https://oauth2.googleapis.com/revoke",
    api_base="https://www.googleapis.com/calendar/v3",
    # openid + email: the token answer then carries an ID token naming the account.
    scopes=("openid", "email", CALENDAR_SCOPE),
    console_url="https://console.cloud.google.com/apis/credentials",
    register_steps=(
        "In Google Cloud Console enable the Google Calendar API for a project.",
        "Configure the OAuth consent screen and add the scopes listed below.",
        "Create an OAuth client ID of type 'Web application' with the redirect URI below.",
        "Copy the client ID and secret into this form; each user then connects their own calendar.",
    ),
    setup_fields=OAUTH_APP_FIELDS,
    rate_limit=RateLimit(8, 1.0, 4),  # per-user quota of the Calendar API
    features={
        "calendar": "Each user's own calendar and their time entries stay in step.",
    },
    defaults={"sync_interval_minutes": 15},
    # A refresh token only with access_type=offline, and again on reconnect only with prompt=consent.
    oauth=OAuthProfile(authorize_params={"access_type": "offline", "prompt": "consent",
                                         "include_granted_scopes": "true"}),
)


class GoogleCalendarConnector(Connector):
    spec = SPEC

    @classmethod
    def oauth_connected_account(cls, provider: OAuthProvider, token: TokenSet,
                                callback_params: dict) -> ConnectedAccount:
        """Refuse a grant without the calendar scope (Google's consent screen lets
        people untick it), and name the account by the ID token's e-mail."""
        missing = missing_scopes(token)
        if missing:  # the callback revokes a refused grant
            raise OAuthFlowError(
                "Google did not grant access to your calendar events (missing: " + ", ".join(missing) + "). "
                "Connect again and leave the calendar permission ticked on Google's consent screen; "
                "nothing was connected.")
        return ConnectedAccount(label=id_token_email(token.raw.get("id_token"), provider.client_id))


def missing_scopes(token: TokenSet) -> list[str]:
    """Required scopes the token lacks. With granular consent the answer's `scope`
    lists what the person actually allowed; a missing `scope` means all that was
    asked (RFC 6749, 5.1)."""
    if token.scope is None:
        return []
    granted = set(token.scope.split())
    return [scope for scope in (CALENDAR_SCOPE,) if scope not in granted]


def id_token_email(id_token: str | None, client_id: str) -> str | None:
    """The e-mail claim of the ID token from the token answer, or None.

    The signature is not checked: the token came straight from Google's token
    endpoint over TLS, which authenticates it (OpenID Connect Core 3.1.3.7;
    Google's OpenID Connect guide says the same). Issuer and audience are still
    checked, so a token minted for another client is not taken as ours."""
    if not id_token:
        return None
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        log.warning("Google sent an ID token that could not be read; the account stays unnamed")
        return None
    if not isinstance(claims, dict) or claims.get("iss") not in GOOGLE_ISSUERS or claims.get("aud") != client_id:
        log.warning("Google's ID token names another issuer or audience; the account stays unnamed")
        return None
    email = claims.get("email")
    return email if isinstance(email, str) and email else None
