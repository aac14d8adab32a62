"""The API's rules, by real requests with personal tokens: pages and cursors, ETags (304)
and If-Match (412), locked entries (409), who sees what (entries, rates, invoices, users),
a cookie that cannot write, the timer, reports, and sync now."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.models import ApiToken, Client, Integration, IntegrationCredential, Invoice, Project, TimeEntry
from app.models.base import utcnow
from tests.conftest import login


@pytest.fixture
def bearer(db):
    def headers(user) -> dict:
        token, plain = ApiToken.issue(user, "test")
        db.session.add(token)
        db.session.commit()
        return {"Authorization": f"Bearer {plain}"}
    return headers


@pytest.fixture
def project(db):
    client = Client(name="Acme", currency="EUR")
    db.session.add(client)
    db.session.flush()
    project = Project(name="Website", client_id=client.id, hourly_rate=Decimal("80"))
    db.session.add(project)
    db.session.commit()
    return project


def add_entries(db, user, project, count: int, *, start=None) -> list[TimeEntry]:
    start = start or utcnow() - timedelta(days=count + 1)
    entries = [TimeEntry(user_id=user.id, project_id=project.id, started_at=start + timedelta(days=n),
                         ended_at=start + timedelta(days=n, hours=1)) for n in range(count)]
    db.session.add_all(entries)
    db.session.commit()
    return entries


def test_entries_come_in_cursor_pages_newest_first_with_a_link_to_the_next(client, user, project, bearer, db):
    add_entries(db, user, project, 5)
    headers = bearer(user)
    seen, url = [], "/api/v1/time-entries?limit=2"
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        body = response.get_json()
        assert len(body["items"]) <= 2
        seen += [item["started_at"] for item in body["items"]]
        link = response.headers.get("Link")
        assert (link is None) == (body["next_cursor"] is None)
        url = link.split(";")[0].strip("<>").removeprefix("http://localhost") if link else None
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    assert client.get("/api/v1/time-entries?limit=101", headers=headers).status_code == 400
    bad = client.get("/api/v1/time-entries?cursor=not-ours", headers=headers)
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"


def test_entries_filter_by_date_and_project_in_the_callers_zone(client, make_user, project, bearer, db):
    ann = make_user(timezone="Europe/Berlin")
    other = Project(name="Other")
    db.session.add(other)
    db.session.commit()
    # 23:30 UTC on 1 December is 00:30 on 2 December in Berlin.
    late = TimeEntry(user_id=ann.id, project_id=project.id, started_at=utcnow().replace(
        year=2026, month=12, day=1, hour=23, minute=30), ended_at=utcnow().replace(year=2026, month=12, day=2, hour=0))
    elsewhere = TimeEntry(user_id=ann.id, project_id=other.id, started_at=late.started_at, ended_at=late.ended_at)
    db.session.add_all([late, elsewhere])
    db.session.commit()
    headers = bearer(ann)

    def ids(query):
        return {i["id"] for i in client.get(f"/api/v1/time-entries?{query}", headers=headers).get_json()["items"]}
    assert ids("from=2026-12-02&to=2026-12-02") == {late.id, elsewhere.id}
    assert ids("from=2026-12-01&to=2026-12-01") == set()
    assert ids(f"from=2026-12-02&project_id={project.id}") == {late.id}


def test_a_user_sees_only_their_own_entries_and_no_rates_invoices_or_users(client, make_user, project, bearer, db):
    ann, bob = make_user(), make_user()
    bobs = add_entries(db, bob, project, 1)[0]
    headers = bearer(ann)
    assert client.get("/api/v1/time-entries", headers=headers).get_json()["items"] == []
    assert client.get(f"/api/v1/time-entries?user={bob.id}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/time-entries/{bobs.id}", headers=headers).status_code == 404
    patched = client.patch(f"/api/v1/time-entries/{bobs.id}", json={"description": "mine now"}, headers=headers)
    assert patched.status_code == 404
    assert "hourly_rate" not in client.get(f"/api/v1/projects/{project.id}", headers=headers).get_json()
    for path in ("/api/v1/invoices", "/api/v1/users", f"/api/v1/users/{bob.id}"):
        assert client.get(path, headers=headers).status_code == 403
    assert client.post("/api/v1/clients", json={"name": "Mine"}, headers=headers).status_code == 403


def test_an_admin_sees_everyones_entries_and_the_rates(client, admin, user, project, bearer, db):
    entry = add_entries(db, user, project, 1)[0]
    headers = bearer(admin)
    items = client.get(f"/api/v1/time-entries?user={user.id}", headers=headers).get_json()["items"]
    assert [i["id"] for i in items] == [entry.id]
    assert client.get(f"/api/v1/projects/{project.id}", headers=headers).get_json()["hourly_rate"] == "80.00"


def test_a_read_has_an_etag_and_a_matching_if_none_match_is_a_304(client, user, project, bearer, db):
    entry = add_entries(db, user, project, 1)[0]
    headers = bearer(user)
    first = client.get(f"/api/v1/time-entries/{entry.id}", headers=headers)
    etag = first.headers["ETag"]
    again = client.get(f"/api/v1/time-entries/{entry.id}", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    client.patch(f"/api/v1/time-entries/{entry.id}", json={"description": "changed"}, headers=headers)
    assert client.get(f"/api/v1/time-entries/{entry.id}", headers={**headers, "If-None-Match": etag}).status_code == 200


def test_an_update_with_a_stale_if_match_is_a_412_and_changes_nothing(client, user, project, bearer, db):
    entry = add_entries(db, user, project, 1)[0]
    headers = bearer(user)
    etag = client.get(f"/api/v1/time-entries/{entry.id}", headers=headers).headers["ETag"]
    ok = client.patch(f"/api/v1/time-entries/{entry.id}", json={"description": "first"},
                      headers={**headers, "If-Match": etag})
    assert ok.status_code == 200 and ok.get_json()["description"] == "first" and ok.headers["ETag"] != etag
    stale = client.patch(f"/api/v1/time-entries/{entry.id}", json={"description": "second"},
                         headers={**headers, "If-Match": etag})
    assert stale.status_code == 412 and stale.mimetype == "application/problem+json"
    assert client.get(f"/api/v1/time-entries/{entry.id}", headers=headers).get_json()["description"] == "first"
    fresh = client.patch(f"/api/v1/time-entries/{entry.id}", json={"description": "second"},
                         headers={**headers, "If-Match": ok.headers["ETag"]})
    assert fresh.status_code == 200


def test_an_entry_on_an_issued_invoice_is_locked(client, admin, project, bearer, db):
    invoice = Invoice(number="INV-2026-0001", client_id=project.client_id, currency="EUR",
                      issue_date=date.today(), status="issued")
    db.session.add(invoice)
    db.session.flush()
    entry = add_entries(db, admin, project, 1)[0]
    entry.invoice_id = invoice.id
    db.session.commit()
    headers = bearer(admin)
    assert client.get(f"/api/v1/time-entries/{entry.id}", headers=headers).get_json()["locked"] is True
    changed = client.patch(f"/api/v1/time-entries/{entry.id}", json={"description": "x"}, headers=headers)
    assert changed.status_code == 409 and "INV-2026-0001" in changed.get_json()["detail"]
    assert client.delete(f"/api/v1/time-entries/{entry.id}", headers=headers).status_code == 409
    assert db.session.get(TimeEntry, entry.id) is not None


def test_entries_are_created_validated_and_deleted(client, user, project, bearer, db):
    headers = bearer(user)
    created = client.post("/api/v1/time-entries", headers=headers, json={
        "started_at": "2026-11-30T09:00:00+01:00", "ended_at": "2026-11-30T10:30:00+01:00",
        "project_id": project.id, "description": "Review"})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["started_at"] == "2026-11-30T08:00:00Z" and body["duration_seconds"] == 5400
    backwards = client.post("/api/v1/time-entries", headers=headers, json={
        "started_at": "2026-11-30T10:00:00Z", "ended_at": "2026-11-30T09:00:00Z"})
    assert backwards.status_code == 422 and "ended_at" in backwards.get_json()["errors"]
    unknown = client.post("/api/v1/time-entries", headers=headers, json={
        "started_at": "2026-11-30T09:00:00Z", "ended_at": "2026-11-30T10:00:00Z", "project_id": 99999})
    assert unknown.status_code == 422 and "project_id" in unknown.get_json()["errors"]
    extra = client.post("/api/v1/time-entries", headers=headers, json={
        "started_at": "2026-11-30T09:00:00Z", "ended_at": "2026-11-30T10:00:00Z", "user_id": 1})
    assert extra.status_code == 422
    assert client.delete(f"/api/v1/time-entries/{body['id']}", headers=headers).status_code == 204
    assert db.session.get(TimeEntry, body["id"]) is None


def test_a_session_cookie_reads_but_cannot_write(client, user, project, db):
    login(client, user)
    assert client.get("/api/v1/time-entries").status_code == 200
    refused = client.post("/api/v1/timer/start", json={})
    assert refused.status_code == 401 and "Bearer" in refused.get_json()["detail"]
    assert db.session.query(TimeEntry).count() == 0


def test_the_timer_starts_shows_and_stops(client, user, project, bearer, db):
    headers = bearer(user)
    assert client.get("/api/v1/timer", headers=headers).get_json() == {"running": None}
    started = client.post("/api/v1/timer/start", json={"project_id": project.id, "description": "Call"},
                          headers=headers)
    assert started.status_code == 201 and started.get_json()["running"] is True
    assert client.get("/api/v1/timer", headers=headers).get_json()["running"]["id"] == started.get_json()["id"]
    entry = db.session.get(TimeEntry, started.get_json()["id"])
    entry.started_at = utcnow() - timedelta(minutes=5)  # it ran five minutes
    db.session.commit()
    stopped = client.post("/api/v1/timer/stop", headers=headers).get_json()
    assert stopped["discarded"] is False and stopped["entry"]["duration_seconds"] >= 300
    assert client.post("/api/v1/timer/stop", headers=headers).status_code == 409
    client.post("/api/v1/timer/start", headers=headers)
    assert client.post("/api/v1/timer/stop", headers=headers).get_json() == {"entry": None, "discarded": True}


def test_a_report_sums_the_callers_time_per_project(client, user, project, bearer, db):
    add_entries(db, user, project, 2, start=utcnow().replace(year=2026, month=11, day=10, hour=9, minute=0))
    headers = bearer(user)
    report = client.get("/api/v1/reports?period=month&date=2026-11-15", headers=headers).get_json()
    assert report["period"] == {"kind": "month", "first": "2026-11-01", "last": "2026-11-30"}
    assert report["rows"][0]["key"] == project.id and report["total"]["hours"] == "2.00"
    bad = client.get("/api/v1/reports?period=custom&from=2026-11-10&to=2026-11-01", headers=headers)
    assert bad.status_code == 422


def test_clients_and_tasks_are_created_by_whom_the_pages_allow(client, admin, user, project, bearer, db):
    created = client.post("/api/v1/clients", json={"name": "Globex", "currency": "usd"}, headers=bearer(admin))
    assert created.status_code == 201 and created.get_json()["currency"] == "USD"
    taken = client.post("/api/v1/clients", json={"name": "globex"}, headers=bearer(admin))
    assert taken.status_code == 422 and "name" in taken.get_json()["errors"]
    task = client.post("/api/v1/tasks", json={"project_id": project.id, "title": "Footer"}, headers=bearer(user))
    assert task.status_code == 201 and task.get_json()["status"] == "todo"
    done = client.patch(f"/api/v1/tasks/{task.get_json()['id']}", json={"status": "done"}, headers=bearer(user))
    assert done.get_json()["status"] == "done"


def test_sync_now_queues_for_admins_and_refuses_what_cannot_sync(client, admin, user, bearer, db, app):
    github = Integration(provider="github", is_global=True, status="active")
    github.credential = IntegrationCredential(kind="oauth2")
    github.credential.payload = {"access_token": "t"}
    db.session.add(github)
    db.session.commit()
    jobs = app.extensions["timehub.jobs"]
    before = jobs.pending_count()
    assert client.post("/api/v1/integrations/github/sync", headers=bearer(user)).status_code == 403
    queued = client.post("/api/v1/integrations/github/sync", headers=bearer(admin))
    assert queued.status_code == 202 and queued.get_json() == {"queued": True, "integration": "github"}
    assert jobs.pending_count() == before + 1
    assert client.post("/api/v1/integrations/gitlab/sync", headers=bearer(admin)).status_code == 409
    assert client.get("/api/v1/integrations/nope", headers=bearer(admin)).status_code == 404
    runs = client.get("/api/v1/integrations/github/runs", headers=bearer(admin)).get_json()
    assert runs == {"items": [], "next_cursor": None}


def test_an_admin_invoices_time_issues_it_and_its_entries_lock(client, admin, user, project, bearer, db):
    entry = add_entries(db, user, project, 1, start=utcnow().replace(year=2026, month=11, day=10, hour=9))[0]
    headers = bearer(admin)
    asked = {"client_id": project.client_id, "start": "2026-11-01", "end": "2026-11-30", "issue_date": "2026-12-01"}
    assert client.post("/api/v1/invoices", json=asked, headers=bearer(user)).status_code == 403
    created = client.post("/api/v1/invoices", json={**asked, "tax_rate": "20"}, headers=headers)
    assert created.status_code == 201, created.get_json()
    invoice = created.get_json()
    assert invoice["status"] == "draft" and invoice["lines"][0]["hours"] == "1.00"
    assert invoice["subtotal"] == "80.00" and invoice["total"] == "96.00"
    nothing_left = client.post("/api/v1/invoices", json=asked, headers=headers)
    assert nothing_left.status_code == 422
    terms = client.patch(f"/api/v1/invoices/{invoice['id']}", json={"notes": "Thanks"}, headers=headers)
    assert terms.status_code == 200 and terms.get_json()["notes"] == "Thanks"
    issued = client.post(f"/api/v1/invoices/{invoice['id']}/issue", headers=headers)
    assert issued.status_code == 200 and issued.get_json()["status"] == "issued"
    assert client.patch(f"/api/v1/invoices/{invoice['id']}", json={"notes": "x"}, headers=headers).status_code == 409
    assert client.post(f"/api/v1/invoices/{invoice['id']}/issue", headers=headers).status_code == 409
    locked = client.patch(f"/api/v1/time-entries/{entry.id}", json={"description": "x"}, headers=bearer(user))
    assert locked.status_code == 409
    assert client.post(f"/api/v1/invoices/{invoice['id']}/pay", headers=headers).get_json()["status"] == "paid"
