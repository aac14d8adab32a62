"""Security headers on every kind of page, and no inline script or style left for the CSP to block."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from app import create_app

TEMPLATES = Path(__file__).resolve().parents[2] / "app" / "templates"
COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}


def _check_common(response):
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    for name, value in COMMON.items():
        assert response.headers[name] == value, name
    assert "Werkzeug" not in response.headers.get("Server", "") and "Python" not in response.headers.get("Server", "")


@pytest.mark.parametrize("path, status", [("/login", 200), ("/static/style.css", 200), ("/static/app.js", 200),
                                          ("/nowhere", 404), ("/api/v1/openapi.json", 200)])
def test_anonymous_pages_have_the_headers_and_may_be_cached(client, user, path, status):
    response = client.get(path)
    assert response.status_code == status
    _check_common(response)
    assert response.headers.get("Cache-Control") != "no-store"
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize("path", ["/", "/calendar", "/account", "/projects", "/invoices", "/integrations", "/nowhere"])
def test_signed_in_pages_are_never_stored(user_client, path):
    response = user_client.get(path)
    _check_common(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_static_files_stay_cacheable_when_signed_in(user_client):
    assert user_client.get("/static/style.css").headers.get("Cache-Control") != "no-store"


def test_webhook_and_api_answers_have_the_headers(client, user):
    _check_common(client.post("/webhooks/jira/unknown", data=b"{}", headers={"Content-Type": "application/json"}))
    _check_common(client.get("/api/v1/integrations"))


def test_hsts_is_sent_when_cookies_are_secure(app, database_url, user):
    secure = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SESSION_COOKIE_SECURE": True})
    response = secure.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_no_template_has_an_inline_script_style_or_event_handler():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"<style\b", text) \
                or re.search(r"\sstyle=\"", text) or re.search(r"\son[a-z]+=\"", text):
            offenders.append(path.name)
    assert offenders == []
