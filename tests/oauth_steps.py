"""The steps of a connection as a browser takes them, for the OAuth tests:
press Connect, consent at the fake provider over real HTTP, come back to our
callback."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx2

from app.integrations import oauth, registry
from app.services import token_service
from app.services.integration_service import IntegrationService
from tests.conftest import post_form

DAY = 86400


def callback_url(slug: str, host: str = "http://localhost") -> str:
    return f"{host}/integrations/{slug}/callback"


def query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def start(client, slug: str) -> str:
    """Press Connect (a POST with the page's CSRF token); returns the provider's authorize URL."""
    response = post_form(client, f"/integrations/{slug}/connect")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return response.headers["Location"]


def at_provider(authorize_url: str) -> dict[str, str]:
    """The browser at the provider (over real HTTP): returns the callback's query."""
    response = httpx2.get(authorize_url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return query(response.headers["Location"])


def finish(client, slug: str, params: dict[str, str]):
    return client.get(f"/integrations/{slug}/callback", query_string=params)


def connect(client, slug: str):
    return finish(client, slug, at_provider(start(client, slug)))


def flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return list(session.get("_flashes", []))


def connect_through(db, fake, slug: str, owner, *, obtained_days_ago: float = 0):
    """Run the real authorization-code flow against the fake (no browser, no routes) and
    store the tokens on `owner`'s integration for `slug`, as the callback does; then age
    the token. Returns the integration."""
    spec = registry.get_spec(slug)
    provider = oauth.OAuthProvider.build(spec, fake.client_id, fake.client_secret)
    session: dict = {}
    url = oauth.start_authorization(provider, session, user_id=owner.id, redirect_uri=callback_url(slug))
    params = query(httpx2.get(url, follow_redirects=False).headers["Location"])
    pending = oauth.take_pending(session, slug=slug, user_id=owner.id, state=params["state"])
    token = oauth.exchange_code(provider, pending, params["code"])
    integration = IntegrationService()._get_or_create(owner, spec)
    token_service.store_tokens(integration, token)
    if obtained_days_ago:
        integration.credential.payload = {**token.payload(), "obtained_at": int(time.time() - obtained_days_ago * DAY)}
    integration.status = "active"
    integration.account_label = fake.account["email"]
    db.session.commit()
    return integration
