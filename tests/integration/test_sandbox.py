"""`make sandbox` cannot rot quietly: its set-up (tests/sandbox/build.py, without serving)
seeds the team and a week of time, points all eleven providers at running fakes through
the endpoint settings, and real flows work through it: Jira connected through its fake's
OAuth, its issues imported and a worklog pushed; an invoice exported to the fake Xero.

The sandbox is SQLite by design (its own instance folder), whatever stack the run uses.
"""
from __future__ import annotations

import contextlib
import html
import re
import socket
import uuid
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select
from werkzeug.test import Client as WsgiClient

from app.extensions import db
from app.integrations import registry
from app.integrations.capabilities import BOOKING_SETTING, CUSTOMER_MATCHES_SETTING
from app.models import CalendarEvent, Client, ExternalLink, Integration, Invoice, Task, TimeEntry, User
from app.services import invoice_service, time_service
from app.services.integration_service import IntegrationService
from app.services.invoice_service import InvoiceRequest
from app.services.sync_service import push_pending, run_sync
from app.services.time_service import EntryFields
from app.services.user_service import authenticate
from tests.conftest import TEST_PASSWORD_HASH, IsolatedClient, csrf_token
from tests.fakes.server import DescriptionViolation
from tests.oauth_steps import connect
from tests.sandbox.build import MARKER, build, fresh_instance
from tests.sandbox.console import console_app
from tests.sandbox.people import ADMIN, CLIENT_NAME, TEAM, USERS
from tests.sandbox.providers import SLUGS
from tests.tracker_harness import allow, retry_now

BASE_URL = "http://localhost"          # the test client's host: the callbacks registered at the fakes
TODAY = date(2026, 11, 26)             # a Thursday: the week before it is Thursday to Wednesday
BANNER = "every provider here is a local fake"   # tests/integration/test_sandbox_banner.py


@contextlib.contextmanager
def running_sandbox(folder, setenv):
    built = build(folder / "instance-sandbox", BASE_URL, setenv=setenv, today=TODAY,
                  config={"TESTING": True, "PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH,
                          "TIMEHUB_QUEUE_NAME": f"test-{uuid.uuid4().hex[:12]}"})
    built.app.test_client_class = IsolatedClient
    try:
        with built.app.app_context():
            yield built
            db.session.remove()
    finally:
        violations = built.close()
        if violations:
            raise DescriptionViolation.of(violations)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """One sandbox for the module (a build costs seconds): each test's flow is through a
    provider of its own, and the seed is checked as it was before anything was added."""
    with pytest.MonkeyPatch.context() as monkeypatch, \
            running_sandbox(tmp_path_factory.mktemp("sandbox"), monkeypatch.setenv) as built:
        yield built


def signed_in(sandbox, email: str):
    client = sandbox.app.test_client()
    response = client.post("/login", data={"email": email, "password": sandbox.passwords[email],
                                           "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def user(email: str) -> User:
    return db.session.scalars(select(User).where(User.email == email)).one()


def test_the_team_and_a_week_of_entries_are_seeded(sandbox):
    assert {(u.email, u.is_admin) for u in db.session.scalars(select(User))} == {(p.email, p.admin) for p in TEAM}
    assert all(authenticate(email, password) for email, password in sandbox.passwords.items())
    assert len(set(sandbox.passwords.values())) == len(TEAM)       # each its own

    seeded = TimeEntry.started_at < datetime.combine(TODAY, time(0))     # the flows below log time on TODAY
    days = {entry.started_at.date() for entry in db.session.scalars(select(TimeEntry).where(seeded))}
    assert sorted(days) == [date(2026, 11, d) for d in (19, 20, 23, 24, 25)]   # the five weekdays before TODAY
    per_user = db.session.execute(select(TimeEntry.user_id, func.count()).where(seeded)
                                  .group_by(TimeEntry.user_id)).all()
    assert sorted(count for _, count in per_user) == [15, 15, 15] and sandbox.entries == 45
    assert db.session.scalars(select(Client.name)).all() == [CLIENT_NAME]

    page = signed_in(sandbox, USERS[0].email).get("/").get_data(as_text=True)
    assert BANNER in page and "Mock-ups for the landing page" in page


def test_every_provider_reaches_a_running_fake_through_its_endpoint_settings(sandbox):
    assert sorted(SLUGS) == sorted(spec.slug for spec in registry.all_specs()) and len(SLUGS) == 12
    service = IntegrationService()
    for slug in SLUGS:
        spec, provider = registry.get_spec(slug), sandbox.providers[slug]
        app = service.app_record(slug)
        urls = [url for url in vars(spec.endpoints(app.settings if app else None)).values() if url]
        assert urls, slug
        for url in urls:
            assert urlsplit(url).hostname == "127.0.0.1", f"{slug} would leave the machine: {url}"
            assert any(url.startswith(fake_url) for fake_url in provider.urls), (slug, url)
            socket.create_connection(("127.0.0.1", urlsplit(url).port), timeout=5).close()  # it listens
        if spec.auth_kind == "oauth2":                      # the OAuth app the admin saved on its setup page
            assert service.app_credentials(slug).client_id == provider.app_values["client_id"], slug


def test_every_other_provider_connects_through_its_fake_and_syncs(sandbox):
    """Jira and Xero get a flow of their own below; Trello connects by key and token."""
    for slug in [s for s in SLUGS if s not in ("jira", "xero", "trello")]:
        person = USERS[0] if slug == "google_calendar" else ADMIN      # the one personal integration
        response = connect(signed_in(sandbox, person.email), slug)
        assert response.status_code == 302, (slug, response.get_data(as_text=True)[:300])
        integration = IntegrationService().integration_for(user(person.email), slug)
        assert integration.status == "active", (slug, integration.status)
        assert run_sync(integration.id).status == "succeeded", slug
    trello = sandbox.providers["trello"].fake                          # the setup page's key + token form
    integration = IntegrationService().save_api_key(user(ADMIN.email), "trello", {
        "api_key": trello.key, "token": trello.token, "app_secret": trello.app_secrets[trello.key]})
    assert integration.status == "active" and run_sync(integration.id).status == "succeeded"
    imported = dict(db.session.execute(select(Integration.provider, func.count(CalendarEvent.id)).join(
        CalendarEvent, CalendarEvent.integration_id == Integration.id).group_by(Integration.provider)).all())
    assert imported == {"google_calendar": 5, "outlook_calendar": 3}     # the seeded events


def test_jira_connects_through_its_fake_imports_the_issues_and_takes_a_worklog(sandbox):
    jira = sandbox.providers["jira"].fake
    response = connect(signed_in(sandbox, ADMIN.email), "jira")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    integration = IntegrationService().integration_for(None, "jira")
    assert integration.status == "active"

    allow(db, integration, [jira.projects["WEB"]["id"]])   # the settings page: "Website relaunch" ticked
    assert run_sync(integration.id).status == "succeeded"
    imported = {t.external_key: t for t in db.session.scalars(select(Task).where(Task.external_key.is_not(None)))}
    assert sorted(imported) == ["WEB-1", "WEB-2", "WEB-3"]

    ulla, task = user(USERS[0].email), imported["WEB-1"]
    start = datetime.combine(TODAY, time(9), tzinfo=timezone.utc)
    time_service.create_entry(ulla, EntryFields(started_at=start, ended_at=start + timedelta(minutes=90),
                                                description="Hero image", project_id=task.project_id,
                                                task_id=task.id))
    retry_now(db)
    push_pending(integration.id)
    [worklog] = jira.worklogs_of("WEB-1")
    assert worklog["timeSpentSeconds"] == 90 * 60 and "Hero image" in str(worklog["comment"])

    # The sandbox's console shows the visitor that write, and no credential.
    page = html.unescape(WsgiClient(console_app(sandbox.providers)).get("/").get_data(as_text=True))
    assert re.search(r"POST /ex/jira/[^/]+/rest/api/3/issue/\d+/worklog</b> → 201", page)
    assert '"timeSpentSeconds": 5400' in page and "for Ulla User: Hero image" in page
    assert "/webhooks/jira/***" in page and not re.search(r"/webhooks/jira/(?!\*\*\*)", page)
    db.session.expire_all()
    secrets = [*integration.credential.payload.values(), jira.oauth.client_secret, sandbox.providers["trello"].fake.token]
    assert not [secret for secret in secrets if isinstance(secret, str) and len(secret) > 8 and secret in page]


def test_an_issued_invoice_reaches_the_fake_xero_once_its_first_export_is_confirmed(sandbox):
    xero = sandbox.providers["xero"].fake
    admin_client = signed_in(sandbox, ADMIN.email)
    response = connect(admin_client, "xero")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    integration = IntegrationService().integration_for(None, "xero")
    assert integration.status == "active"
    client = db.session.scalars(select(Client)).one()
    [contact] = xero.accounting.contacts.values()            # seeded: the client as Xero knows it
    integration.settings = {**(integration.settings or {}), BOOKING_SETTING: {"default": "200|OUTPUT2"},
                            CUSTOMER_MATCHES_SETTING: {str(client.id): contact["ContactID"]}}
    db.session.commit()                                      # the customers page: match confirmed

    invoice = invoice_service.create_invoice(InvoiceRequest(
        client_id=client.id, start=TODAY - timedelta(days=7), end=TODAY, issue_date=TODAY))
    invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    retry_now(db)
    push_pending(integration.id)
    assert xero.accounting.by_number(invoice.number) == []       # Acme's first export waits for its preview

    preview = f"/invoices/{invoice.id}/export/{integration.id}/preview"
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', admin_client.get(preview).get_data(as_text=True))
    response = admin_client.post(f"/invoices/{invoice.id}/export/{integration.id}/confirm",
                                 data={"digest": digest.group(1), "csrf_token": csrf_token(admin_client, preview)})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    push_pending(integration.id)

    [sent] = xero.accounting.by_number(invoice.number)
    assert sent["Contact"]["ContactID"] == contact["ContactID"]
    assert db.session.scalar(select(ExternalLink.external_id).where(
        ExternalLink.local_kind == "invoice", ExternalLink.local_id == invoice.id)) == sent["InvoiceID"]


# -- the instance folder ---------------------------------------------------------------------------

def test_only_a_sandbox_instance_folder_is_ever_emptied(tmp_path):
    real = tmp_path / "instance"
    real.mkdir()
    (real / "timehub.db").write_text("someone's data")
    with pytest.raises(SystemExit):
        fresh_instance(real)
    assert (real / "timehub.db").exists()

    earlier = fresh_instance(tmp_path / "sandbox")
    (earlier / "timehub.db").write_text("the last run's")
    again = fresh_instance(tmp_path / "sandbox")
    assert sorted(p.name for p in again.iterdir()) == [MARKER]
