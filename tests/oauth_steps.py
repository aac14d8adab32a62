"""The steps of a connection as a browser takes them, for the OAuth tests:
press Connect, consent at the fake provider over real HTTP, come back to our
callback."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx2

from tests.conftest import post_form


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
