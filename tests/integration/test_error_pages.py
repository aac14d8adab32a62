"""Error answers (issue 15): the app's own pages for people, RFC 9457 problem details under /api/v1."""
from __future__ import annotations

import pytest

from tests.conftest import login


def test_404_is_a_styled_page_with_navigation(user_client):
    response = user_client.get("/no/such/page")
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "/static/style.css" in html and 'class="topbar"' in html and "Sign out" in html
    assert "Not Found" in html and "nothing at this address" in html


def test_403_is_a_styled_page_with_navigation(user_client):
    response = user_client.get("/admin/users")
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert 'class="topbar"' in html and "ask an administrator" in html


def test_404_for_a_visitor_offers_to_sign_in(client, admin):
    html = client.get("/no/such/page").get_data(as_text=True)
    assert 'class="topbar"' in html and 'href="/login"' in html and "Sign out" not in html


@pytest.fixture
def failing_app(app):
    """The app with one route that fails as a bug would, answered as in production."""
    def explode():
        raise RuntimeError("secret detail of the failure")

    app.add_url_rule("/boom", "boom", explode)
    app.add_url_rule("/api/v1/boom", "api_boom", explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def test_500_is_a_styled_page_without_the_details(failing_app, user):
    client = login(failing_app.test_client(), user)
    response = client.get("/boom")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert 'class="topbar"' in html and "Internal Server Error" in html
    assert "secret detail" not in html and "Traceback" not in html


def test_api_errors_are_problem_details(failing_app, user):
    client = failing_app.test_client()
    missing = client.get("/api/v1/nope")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert missing.get_json()["status"] == 404 and missing.get_json()["title"] == "Not Found"
    wrong_method = client.delete("/api/v1/integrations")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "application/problem+json"
    assert "GET" in wrong_method.headers["Allow"]
    unauthorized = client.get("/api/v1/integrations")
    body = unauthorized.get_json()
    assert unauthorized.status_code == 401 and unauthorized.mimetype == "application/problem+json"
    assert body["type"] == "about:blank" and body["status"] == 401 and body["title"] == "Unauthorized"
    assert unauthorized.headers["WWW-Authenticate"].startswith("Bearer")
    login(client, user)
    failed = client.get("/api/v1/boom")
    assert failed.status_code == 500 and failed.mimetype == "application/problem+json"
    assert failed.get_json()["status"] == 500 and "secret detail" not in failed.get_data(as_text=True)
