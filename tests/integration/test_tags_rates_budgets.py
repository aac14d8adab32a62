"""Issue 15: tags on entries, billable by the project's default, hourly rates with their
precedence (project > user > default, admins only), and project budgets with the used share."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.models import Client, Project, Tag, TimeEntry
from app.services import rate_service, tag_service, time_service
from app.services.time_service import EntryFields, TimeEntryInvalid
from tests.conftest import post_form


def entries(db, user):
    return list(db.session.scalars(select(TimeEntry).where(TimeEntry.user_id == user.id).order_by(TimeEntry.id)))


def manual(**extra):
    return {"entry-date": "2026-11-02", "entry-start": "09:00", "entry-duration": "1:00", **extra}


# ---- tags ------------------------------------------------------------------------------------

def test_tags_typed_on_the_manual_form_are_created_once_and_picked_later(user_client, user, db):
    response = post_form(user_client, "/entries", manual(**{"entry-new_tags": "Meeting,  support team , meeting"}),
                         page="/")
    assert response.status_code == 302
    [entry] = entries(db, user)
    assert [t.name for t in entry.tags] == ["Meeting", "support team"]  # "meeting" is the same tag
    meeting = db.session.scalars(select(Tag).where(Tag.name_key == "meeting")).one()
    html = user_client.get("/?until=2026-11-02").get_data(as_text=True)
    assert f'<option value="{meeting.id}">Meeting</option>' in html  # offered for picking now
    assert '<span class="badge tag">support team</span>' in html

    # Picked on the timer, plus a new one typed: the list grows by one, not two.
    response = post_form(user_client, "/timer/start", {"timer-tags": str(meeting.id), "timer-new_tags": "Calls"},
                         page="/")
    assert response.status_code == 302
    running = time_service.running_entry(user)
    assert [t.name for t in running.tags] == ["Calls", "Meeting"]
    assert db.session.scalar(select(db.func.count(Tag.id))) == 3


def test_editing_an_entry_replaces_its_tags_and_other_edits_keep_them(user_client, user, db):
    post_form(user_client, "/entries", manual(**{"entry-new_tags": "a, b"}), page="/")
    [entry] = entries(db, user)
    tag_b = next(t for t in entry.tags if t.name == "b")
    page = user_client.get(f"/entries/{entry.id}/edit").get_data(as_text=True)
    assert f'<option selected value="{tag_b.id}">b</option>' in page
    response = post_form(user_client, f"/entries/{entry.id}/edit", {
        "started": "2026-11-02T09:00", "ended": "2026-11-02T10:00", "tags": str(tag_b.id), "new_tags": "c",
        "billable": "y"}, page=f"/entries/{entry.id}/edit")
    assert response.status_code == 302
    db.session.expire_all()
    assert [t.name for t in entries(db, user)[0].tags] == ["b", "c"]
    # A caller that does not speak of tags (the timesheet, the Slack command) leaves them be.
    entry = entries(db, user)[0]
    time_service.update_entry(entry, EntryFields(started_at=entry.started_at,
                                                 ended_at=entry.started_at + timedelta(hours=2)))
    db.session.expire_all()
    assert [t.name for t in entries(db, user)[0].tags] == ["b", "c"]


@pytest.mark.parametrize("typed, message", [
    ("x" * 41, "at most 40 characters"),
    (",".join(f"t{n}" for n in range(11)), "at most 10 tags"),
])
def test_tags_are_bounded_and_refused_clearly(user_client, user, db, typed, message):
    response = post_form(user_client, "/entries", manual(**{"entry-new_tags": typed}), page="/")
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert entries(db, user) == [] and db.session.scalar(select(db.func.count(Tag.id))) == 0


def test_control_characters_in_a_tag_are_refused(app, db, user, user_client):
    with pytest.raises(tag_service.TagInvalid, match="control characters"):
        tag_service.parse_names("bad\x07tag")
    # The form never gets that far: the app refuses such input whole (app.inputs).
    response = post_form(user_client, "/entries", manual(**{"entry-new_tags": "bad\x07tag"}), page="/")
    assert response.status_code == 400 and entries(db, user) == []


def test_an_unknown_picked_tag_is_an_error_not_a_500(user_client, user, db):
    response = post_form(user_client, "/entries", manual(**{"entry-tags": "999"}), page="/")
    assert response.status_code == 422 and "No such tag" in response.get_data(as_text=True)


def test_the_team_list_of_tags_is_bounded(app, db, user, monkeypatch):
    monkeypatch.setattr(tag_service, "MAX_TAGS", 2)
    start = datetime(2026, 11, 2, 9)
    time_service.create_entry(user, EntryFields(start, start + timedelta(hours=1), tags=("one", "two")))
    with pytest.raises(TimeEntryInvalid) as refused:
        time_service.create_entry(user, EntryFields(start, start + timedelta(hours=1), tags=("one", "three")))
    assert "already has 2 tags" in refused.value.errors["tags"]
    # Existing tags can still be used.
    entry = time_service.create_entry(user, EntryFields(start, start + timedelta(hours=1), tags=("TWO",)))
    assert [t.name for t in entry.tags] == ["two"]


# ---- billable by the project's default --------------------------------------------------------

def test_a_new_entry_is_billable_as_its_project_says_unless_told(app, db, user, admin_client):
    internal = Project(name="Internal", billable_by_default=False)
    db.session.add(internal)
    db.session.commit()
    start = datetime(2026, 11, 2, 9)
    assert time_service.create_entry(user, EntryFields(start, start + timedelta(hours=1),
                                                       project_id=internal.id)).billable is False
    assert time_service.create_entry(user, EntryFields(start, start + timedelta(hours=1))).billable is True
    assert time_service.create_entry(user, EntryFields(start, start + timedelta(hours=1), project_id=internal.id,
                                                       billable=True)).billable is True
    # The entry form carries the default for the page's script to apply on choosing the project.
    html = admin_client.get("/").get_data(as_text=True)
    assert f'data-billable="0" value="{internal.id}"' in html or f'value="{internal.id}" data-billable="0"' in html
    assert "billable_default.js" in html


def test_the_project_form_sets_the_billable_default_and_a_budget(admin_client, db):
    response = post_form(admin_client, "/projects/new", {
        "name": "Retainer", "client_id": "0", "hourly_rate": "0", "budget_kind": "hours", "budget_amount": "40"},
        page="/projects/new")
    assert response.status_code == 302
    project = db.session.scalars(select(Project).where(Project.name == "Retainer")).one()
    assert project.billable_by_default is False  # the box was left unticked
    assert (project.budget_kind, project.budget_amount) == ("hours", Decimal("40.00"))


@pytest.mark.parametrize("data, message", [
    ({"budget_kind": "hours"}, "Give the budget"),
    ({"budget_kind": "hours", "budget_amount": "-1"}, "Number must be"),
    ({"budget_kind": "years", "budget_amount": "1"}, "Not a valid choice"),
    ({"budget_kind": "money", "budget_amount": "1.234"}, "At most two decimals"),
])
def test_bad_budgets_are_refused(admin_client, db, data, message):
    response = post_form(admin_client, "/projects/new", {"name": "X", "client_id": "0", "hourly_rate": "0", **data},
                         page="/projects/new")
    assert response.status_code == 422 and message in response.get_data(as_text=True)


# ---- rates -----------------------------------------------------------------------------------

def test_rate_precedence_project_then_user_then_default(app, db, user, admin_client):
    assert rate_service.rate_for(Decimal("80"), Decimal("60"), Decimal("50")) == Decimal("80")
    assert rate_service.rate_for(Decimal("0"), Decimal("60"), Decimal("50")) == Decimal("60")
    assert rate_service.rate_for(Decimal("0"), None, Decimal("50")) == Decimal("50")
    assert rate_service.rate_for(Decimal("0"), Decimal("0"), Decimal("50")) == Decimal("0")  # set to 0 on purpose

    assert post_form(admin_client, "/admin/rates/default", {"rate": "50"}, page="/admin/rates").status_code == 302
    assert post_form(admin_client, f"/admin/rates/users/{user.id}", {f"u{user.id}-rate": "60.5"},
                     page="/admin/rates").status_code == 302
    db.session.expire_all()
    assert rate_service.default_rate() == Decimal("50.00") and user.hourly_rate == Decimal("60.50")
    page = admin_client.get("/admin/rates").get_data(as_text=True)
    assert 'value="60.50"' in page and 'value="50.00"' in page
    # Cleared: the default applies again.
    post_form(admin_client, f"/admin/rates/users/{user.id}", {f"u{user.id}-rate": ""}, page="/admin/rates")
    db.session.expire_all()
    assert user.hourly_rate is None


@pytest.mark.parametrize("value", ["-1", "abc", "1.001", "100000000", "NaN"])
def test_bad_rates_are_refused(admin_client, db, value):
    response = post_form(admin_client, "/admin/rates/default", {"rate": value}, page="/admin/rates")
    assert response.status_code == 422
    assert rate_service.default_rate() == Decimal("0")


def test_rates_are_for_admins_only(user_client, user, db):
    assert user_client.get("/admin/rates").status_code == 403
    assert post_form(user_client, "/admin/rates/default", {"rate": "1"}, page="/").status_code == 403
    assert post_form(user_client, f"/admin/rates/users/{user.id}", {f"u{user.id}-rate": "999"},
                     page="/").status_code == 403
    assert user.hourly_rate is None
    assert "/admin/rates" not in user_client.get("/").get_data(as_text=True)


# ---- budgets ---------------------------------------------------------------------------------

def add(db, user, project, hours, billable=True, start=datetime(2026, 11, 2, 9)):
    db.session.add(TimeEntry(user_id=user.id, project_id=project.id, started_at=start, billable=billable,
                             ended_at=start + timedelta(hours=hours)))
    db.session.commit()


def test_an_hours_budget_counts_all_finished_time_and_everyone_sees_it(user_client, admin, user, db):
    project = Project(name="Site", budget_kind="hours", budget_amount=Decimal("10"))
    db.session.add(project)
    db.session.commit()
    add(db, user, project, 3)
    add(db, admin, project, 1.5, billable=False)
    db.session.add(TimeEntry(user_id=user.id, project_id=project.id, started_at=datetime(2026, 11, 3, 9)))  # running
    db.session.commit()
    html = user_client.get(f"/projects/{project.id}").get_data(as_text=True)
    assert '<span id="budget-used">4.50</span> of 10.00 hours used' in html
    assert '<strong id="budget-percent">45%</strong>' in html and 'width="45.00"' in html


def test_a_money_budget_values_billable_time_at_each_entrys_rate_for_admins_only(
        admin_client, user_client, admin, user, make_user, db):
    rate_service.set_default_rate(Decimal("50"))
    user.hourly_rate = Decimal("100")
    db.session.commit()
    other = make_user("other@example.com")
    project = Project(name="Fixed price", client=Client(name="Acme", currency="EUR"), hourly_rate=Decimal("0"),
                      budget_kind="money", budget_amount=Decimal("500"))
    db.session.add(project)
    db.session.commit()
    add(db, user, project, 2)                 # 2 h x 100 (user rate) = 200
    add(db, other, project, 3)                # 3 h x 50 (default)    = 150
    add(db, other, project, 5, billable=False)  # not money
    use = rate_service.budget_use(project)
    assert (use.used, use.percent, use.over) == (Decimal("350.00"), 70, False)
    html = admin_client.get(f"/projects/{project.id}").get_data(as_text=True)
    assert '<span id="budget-used">350.00 EUR</span> of 500.00 EUR used' in html
    assert "500.00" not in user_client.get(f"/projects/{project.id}").get_data(as_text=True)
    # A project rate wins over both, and going past the budget is said.
    project.hourly_rate = Decimal("200")
    db.session.commit()
    use = rate_service.budget_use(project)
    assert (use.used, use.percent, use.over) == (Decimal("1000.00"), 200, True)
    html = admin_client.get(f"/projects/{project.id}").get_data(as_text=True)
    assert "over budget" in html and 'width="100.00"' in html


def test_invoice_lines_follow_the_rate_precedence(app, db, admin, user, make_user):
    from datetime import date

    from app.services import invoice_service
    from app.services.invoice_service import InvoiceRequest

    rate_service.set_default_rate(Decimal("40"))
    user.hourly_rate = Decimal("90")
    db.session.commit()
    newcomer = make_user("new@example.com")  # no rate of their own: the default
    acme = Client(name="Acme", currency="EUR")
    rated = Project(name="Rated", client=acme, hourly_rate=Decimal("100"))
    unrated = Project(name="Unrated", client=acme, hourly_rate=Decimal("0"))
    db.session.add_all([rated, unrated])
    db.session.commit()
    add(db, user, rated, 2)
    add(db, user, unrated, 1)
    add(db, newcomer, unrated, 3)
    add(db, user, unrated, 0.5, start=datetime(2026, 11, 3, 9))
    invoice = invoice_service.create_invoice(InvoiceRequest(client_id=acme.id, start=date(2026, 11, 1),
                                                            end=date(2026, 11, 30), issue_date=date(2026, 12, 1)))
    assert [(line.description, line.hours, line.unit_price, line.amount) for line in invoice.lines] == [
        ("Rated", Decimal("2.00"), Decimal("100.00"), Decimal("200.00")),      # the project's rate wins
        ("Unrated", Decimal("1.50"), Decimal("90.00"), Decimal("135.00")),     # the person's own rate
        ("Unrated", Decimal("3.00"), Decimal("40.00"), Decimal("120.00")),     # the team's default
    ]
