"""`timehub integrations status` and `timehub integrations refresh`, through the
real CLI against real connections to the fake authorization server, on SQLite
and PostgreSQL. Neither command may ever print a token."""
from __future__ import annotations

import pytest

from app import tuning
from app.models import Integration, IntegrationCredential
from tests.fakes.oauth_provider import FakeOAuthProvider
from tests.oauth_steps import callback_url, connect_through

SLUGS = ("xero", "google_calendar")


@pytest.fixture
def fake(app, monkeypatch):
    with FakeOAuthProvider(redirect_uris=tuple(callback_url(s) for s in SLUGS)) as server:
        server.stand_in_for(monkeypatch, *SLUGS)
        monkeypatch.setattr(tuning, "RETRY_BACKOFF_SECONDS", 0.01)
        yield server


def cli(app, *args: str):
    return app.test_cli_runner().invoke(args=["integrations", *args])


def secrets_of(db, *integrations: Integration) -> list[str]:
    db.session.expire_all()
    values = []
    for integration in integrations:
        payload = db.session.get(Integration, integration.id).credential.payload
        values += [payload["access_token"], payload["refresh_token"]]
    return values


def line_for(output: str, *words: str) -> str:
    lines = [line for line in output.splitlines() if all(word in line.split() for word in words)]
    assert len(lines) == 1, output
    return lines[0]


def test_status_shows_every_integration_without_a_token(app, db, fake, admin, user):
    xero = connect_through(db, fake, "xero", admin)
    calendar = connect_through(db, fake, "google_calendar", user)
    calendar.last_error = "Google Calendar answered 503"
    db.session.commit()

    result = cli(app, "status")

    assert result.exit_code == 0, result.output
    assert result.output.split()[:8] == ["PROVIDER", "SCOPE", "OWNER", "STATUS", "ACCOUNT", "TOKEN", "EXPIRES", "LAST"]
    xero_line = line_for(result.output, "xero")
    assert xero.credential.expires_at.strftime("%Y-%m-%d %H:%M UTC") in xero_line
    assert xero_line.split()[:5] == ["xero", "global", "-", "active", "fran@fake.example"]
    calendar_line = line_for(result.output, "google_calendar")
    assert calendar_line.split()[:5] == ["google_calendar", "per_user", "user@example.com", "active",
                                         "fran@fake.example"]
    assert calendar_line.endswith("Google Calendar answered 503")
    # Global providers nobody set up are listed too; other users' absent per-user rows are not.
    assert line_for(result.output, "trello").split()[:4] == ["trello", "global", "-", "not_configured"]
    assert len(result.output.strip().splitlines()) == 1 + 11 + 1
    for secret in secrets_of(db, xero, calendar):
        assert secret not in result.output


def test_refresh_gets_a_new_token_and_prints_only_its_expiry(app, db, fake, admin):
    xero = connect_through(db, fake, "xero", admin)
    before = secrets_of(db, xero)

    result = cli(app, "refresh", "xero")

    assert result.exit_code == 0, result.output
    assert fake.counts["refresh_token"] == 1
    after = secrets_of(db, xero)
    assert after[0] != before[0] and after[1] != before[1]
    expiry = db.session.get(Integration, xero.id).credential.expires_at
    assert result.output.strip() == f"Xero: refreshed; the access token now expires {expiry:%Y-%m-%d %H:%M} UTC."
    for secret in before + after:
        assert secret not in result.output


def test_a_per_user_connection_is_refreshed_for_the_named_user(app, db, fake, user):
    calendar = connect_through(db, fake, "google_calendar", user)

    without_user = cli(app, "refresh", "google_calendar")
    assert without_user.exit_code == 1
    assert "Google Calendar is per user: pass --user EMAIL" in without_user.output

    refreshed = cli(app, "refresh", "google_calendar", "--user", "USER@example.com")
    assert refreshed.exit_code == 0, refreshed.output
    assert refreshed.output.startswith("Google Calendar: refreshed")
    assert fake.counts["refresh_token"] == 1
    for secret in secrets_of(db, calendar):
        assert secret not in refreshed.output


@pytest.mark.parametrize("args, message", [
    (("refresh", "myspace"), "unknown provider myspace"),
    (("refresh", "jira"), "Jira is not connected"),
    (("refresh", "google_calendar", "--user", "nobody@example.com"), "no user with e-mail nobody@example.com"),
])
def test_refresh_explains_what_cannot_be_refreshed(app, db, fake, user, args, message):
    result = cli(app, *args)
    assert result.exit_code == 1
    assert message in result.output
    assert fake.counts["refresh_token"] == 0


def test_an_api_key_connection_has_nothing_to_refresh(app, db, fake):
    trello = Integration(provider="trello", is_global=True, status="active")
    trello.credential = IntegrationCredential(kind="api_key")
    trello.credential.payload = {"api_key": "k" * 32, "token": "t" * 64}
    db.session.add(trello)
    db.session.commit()

    result = cli(app, "refresh", "trello")

    assert result.exit_code == 1
    assert "Trello uses an API key" in result.output and "t" * 64 not in result.output


def test_a_connection_that_needs_reconnecting_is_not_refreshed(app, db, fake, admin):
    xero = connect_through(db, fake, "xero", admin)
    xero.status = "needs_reconnect"
    xero.last_error = "invalid_grant: refresh token expired. Reconnect Xero to continue."
    db.session.commit()

    result = cli(app, "refresh", "xero")

    assert result.exit_code == 1
    assert "Reconnect Xero to continue." in result.output and "reconnect it from /integrations" in result.output
    assert fake.counts["refresh_token"] == 0


def test_a_refused_refresh_token_marks_the_connection_for_reconnect(app, db, fake, admin):
    xero = connect_through(db, fake, "xero", admin)
    spent = secrets_of(db, xero)
    fake.revoke_all()

    result = cli(app, "refresh", "xero")

    assert result.exit_code == 1
    assert "the provider refused the refresh token" in result.output and "invalid_grant" in result.output
    for secret in spent:
        assert secret not in result.output
    db.session.expire_all()
    assert db.session.get(Integration, xero.id).status == "needs_reconnect"
    assert "needs_reconnect" in line_for(cli(app, "status").output, "xero").split()
