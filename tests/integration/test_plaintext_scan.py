"""No secret in plaintext anywhere it could leak (issue 17): a realistic set-up through the
real pages and the fakes (passwords set, OAuth apps registered with their client secrets and
connected, Trello's key and token, webhook and signing secrets, an API token made and used),
then every secret value used is looked for in the database (the SQLite file's bytes, or every
PostgreSQL row as text), in the job queue (its SQLite file, or its Redis keys), in every
response the app sent, and in every log record.

The one exception, by design: the response that creates an API token shows it to its owner,
once (routes/account.create_token). That response is checked to hold it, and left out."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from flask import request_finished
from sqlalchemy import select, text

from app.extensions import db as _db
from app.models import Integration, User
from tests.conftest import ENCRYPTION_KEY, csrf_token, post_form
from tests.fakes.oauth_provider import FakeOAuthProvider
from tests.fakes.trello import FakeTrello
from tests.oauth_steps import callback_url, connect

ADMIN_PASSWORD = "Blue-Heron-PASSWORD-7c1f"
FIRST_USER_PASSWORD = "Quiet-Lake-PASSWORD-2b8d"
USER_PASSWORD = "Red-Fox-PASSWORD-5e3a0c"
GITHUB_SECRET = "github-CLIENT-SECRET-9f2e71"
GITHUB_WEBHOOK_SECRET = "github-WEBHOOK-SECRET-4d6b"
GOOGLE_SECRET = "google-CLIENT-SECRET-3a7c55"
SLACK_SECRET = "slack-CLIENT-SECRET-8e1d"
SLACK_SIGNING_SECRET = "slack-SIGNING-SECRET-6c2f"


@pytest.fixture
def responses(app):
    """Every response the app sends during the test: its headers and body, as text."""
    seen: list[tuple[str, str]] = []

    def keep(sender, response, **extra):
        if response.direct_passthrough or response.is_streamed:  # files from disk: nothing of ours
            return
        headers = "\n".join(f"{name}: {value}" for name, value in response.headers)
        seen.append((headers, response.get_data(as_text=True)))

    request_finished.connect(keep, app)
    yield seen
    request_finished.disconnect(keep, app)


@pytest.fixture
def fakes(monkeypatch):
    """GitHub and Google behind their own fake authorization servers (each with its own app
    secret, typed into the setup page below), and a fake Trello. Only the endpoints come
    from the environment, as an operator pointing TimeHub at a proxy would set them."""
    with (FakeOAuthProvider(client_id="github-app", client_secret=GITHUB_SECRET,
                            redirect_uris=(callback_url("github"),)) as github,
          FakeOAuthProvider(client_id="google-app", client_secret=GOOGLE_SECRET,
                            redirect_uris=(callback_url("google_calendar"),)) as google,
          FakeTrello() as trello):
        for slug, fake in (("github", github), ("google_calendar", google)):
            for name, value in fake.env(slug).items():
                monkeypatch.setenv(name, value)
        monkeypatch.setenv("TRELLO_API_BASE", trello.api_base)
        yield {"github": github, "google_calendar": google, "trello": trello}


def sign_in(client, email: str, password: str):
    response = client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def accepted(response, *statuses: int):
    body = response.get_data(as_text=True)
    assert response.status_code in (statuses or (302,)), re.findall(r"class=\"(?:error|flash[^\"]*)\"[^>]*>([^<]+)", body) or body[:300]
    return response


def set_up_everything(app, fakes) -> dict[str, str]:
    """The flow, through the pages; returns the secrets it produced (tokens) by name."""
    admin = app.test_client()
    accepted(admin.post("/setup", data={"csrf_token": csrf_token(admin, "/setup"), "name": "Ada Admin",
                                        "email": "admin@example.com", "password": ADMIN_PASSWORD,
                                        "confirm": ADMIN_PASSWORD, "timezone": "UTC"}))
    sign_in(admin, "admin@example.com", ADMIN_PASSWORD)
    accepted(post_form(admin, "/admin/users/new", {"name": "Ulla User", "email": "user@example.com",
                                                   "role": "user", "timezone": "UTC",
                                                   "password": FIRST_USER_PASSWORD,
                                                   "confirm": FIRST_USER_PASSWORD}))
    # The team's connections, each app's secrets typed into its setup page.
    trello_key, trello_token = fakes["trello"].add_credentials(fakes["trello"].add_member("Tess Trello", "tess"))
    accepted(post_form(admin, "/admin/integrations/trello", {"api_key": trello_key, "token": trello_token}))
    accepted(post_form(admin, "/admin/integrations/github", {"client_id": "github-app", "client_secret": GITHUB_SECRET,
                                                             "webhook_secret": GITHUB_WEBHOOK_SECRET}))
    accepted(connect(admin, "github"))
    accepted(post_form(admin, "/admin/integrations/slack", {"client_id": "slack-app", "client_secret": SLACK_SECRET,
                                                            "signing_secret": SLACK_SIGNING_SECRET}))
    accepted(post_form(admin, "/admin/integrations/google_calendar",
                       {"client_id": "google-app", "client_secret": GOOGLE_SECRET}))

    # The user: a new password, their own Google Calendar, an API token made and used.
    user = app.test_client()
    sign_in(user, "user@example.com", FIRST_USER_PASSWORD)
    accepted(post_form(user, "/account/password", {"current": FIRST_USER_PASSWORD, "password": USER_PASSWORD,
                                                   "confirm": USER_PASSWORD}, page="/account"))
    sign_in(app.test_client(), "user@example.com", USER_PASSWORD)
    accepted(connect(user, "google_calendar"))
    created = accepted(post_form(user, "/account/tokens", {"name": "laptop"}, page="/account"), 201)
    api_token = re.search(r'value="([^"]+)" aria-label="New API token"', created.get_data(as_text=True)).group(1)
    me = user.application.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {api_token}"})
    assert me.status_code == 200 and me.get_json()["email"] == "user@example.com"

    # Every page a secret could be shown on, by each of them.
    for client in (admin, user):
        for path in ("/", "/account", "/integrations"):
            accepted(client.get(path), 200)
    for integration in _db.session.scalars(select(Integration)):
        viewer = user if integration.user_id else admin
        for path in (f"/admin/integrations/{integration.provider}", f"/integrations/{integration.id}",
                     f"/integrations/{integration.id}/settings"):
            if path.startswith("/admin/") and viewer is user:
                continue
            accepted(viewer.get(path), 200)

    stored = {}
    for integration in _db.session.scalars(select(Integration).where(Integration.provider.in_(["github",
                                                                                              "google_calendar"]))):
        payload = integration.credential.payload
        stored[f"{integration.provider} access token"] = payload["access_token"]
        stored[f"{integration.provider} refresh token"] = payload["refresh_token"]
    assert len(stored) == 4, "both OAuth connections hold their tokens"
    return {**stored, "Trello key": trello_key, "Trello token": trello_token, "API token": api_token,
            "token creation page": created.get_data(as_text=True)}


def database_text(app) -> str:
    """The whole database as text: the SQLite file's bytes (and its WAL), or every PostgreSQL row."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite"):
        _db.session.remove()
        _db.engine.dispose()  # checkpoint the WAL into the file
        path = Path(url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*")).decode("latin-1")
    rows = []
    for table in _db.metadata.sorted_tables:
        rows += _db.session.execute(text(f'SELECT t::text FROM "{table.name}" AS t')).scalars().all()
    assert rows
    return "\n".join(rows)


def queue_text(app) -> str:
    """Every job waiting in the queue as stored: the SQLite queue file's bytes, or every Redis
    key of this app's queue (huey's own keys, named after its cleaned-up name, and the app's,
    named after the queue name; list, sorted set, hash or string)."""
    huey = app.extensions["timehub.jobs"]
    assert huey.pending_count() > 0, "the flow queued jobs (its syncs): the scan reads them"
    if not app.config.get("REDIS_URL"):
        path = Path(app.config["INSTANCE_PATH"]) / "jobs.db"
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*")).decode("latin-1")
    redis = huey.storage.conn
    readers = {b"list": lambda key: redis.lrange(key, 0, -1), b"zset": lambda key: redis.zrange(key, 0, -1),
               b"hash": lambda key: [*redis.hgetall(key).values()], b"string": lambda key: [redis.get(key)]}
    keys = {key for name in (huey.name, huey.storage.name) for key in redis.scan_iter(match=f"*{name}*")}
    assert huey.storage.queue_key.encode() in keys
    stored = [value for key in sorted(keys) for value in readers.get(redis.type(key), lambda key: [])(key)]
    return b"\n".join(stored).decode("latin-1")


def test_no_secret_is_stored_shown_or_logged_in_plaintext(app, fakes, responses, caplog):
    caplog.set_level(logging.DEBUG)  # every level of every logger
    produced = set_up_everything(app, fakes)
    creation_page = produced.pop("token creation page")
    assert produced["API token"] in creation_page  # shown once, to its owner, by design
    secrets = {
        **produced,
        "admin's password": ADMIN_PASSWORD, "user's first password": FIRST_USER_PASSWORD,
        "user's password": USER_PASSWORD, "GitHub client secret": GITHUB_SECRET,
        "GitHub webhook secret": GITHUB_WEBHOOK_SECRET, "Google client secret": GOOGLE_SECRET,
        "Slack client secret": SLACK_SECRET, "Slack signing secret": SLACK_SIGNING_SECRET,
        "encryption key": ENCRYPTION_KEY, "session signing key": app.config["SECRET_KEY"],
    }
    assert all(len(value) >= 12 for value in secrets.values()), "a secret too short to look for"

    pages = "\n".join(headers + "\n" + body for headers, body in responses if body != creation_page)
    assert len(responses) > 20 and len(pages) > 10_000  # the scan saw the flow
    logs = "\n".join(f"{record.getMessage()} {record.args!r} {record.exc_text or ''}" for record in caplog.records)
    logs += "\n" + caplog.text
    assert "github" in logs.lower()  # the flow was logged, and the log was caught
    places = {"the database": database_text(app), "the job queue": queue_text(app), "a rendered page": pages,
              "the logs": logs}
    # The scan reads content, not ciphertext alone: what is not secret is there in plain.
    assert "Tess Trello" in places["the database"] and "Tess Trello" in pages
    assert "sync_integration" in places["the job queue"]  # the queued jobs were read, not their count alone
    found = [f"{name} in {place}" for place, content in places.items()
             for name, value in secrets.items() if value in content]
    assert found == []
    assert _db.session.scalars(select(User)).all()  # the scan read a live database
