"""A connection's sync settings page, filled from the provider: Jira connected through
the real OAuth routes to the fake Jira Cloud over loopback (pointed at it only through
the endpoint variables an operator sets), then the page read and saved as a browser
does. Runs on SQLite and PostgreSQL (the `app` fixture)."""
from __future__ import annotations

import html
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.models import Integration, SyncCursor
from app.services.integration_service import IntegrationService
from tests.conftest import csrf_token, post_form
from tests.fakes.jira import FakeJira
from tests.fakes.paged_provider import Faults
from tests.oauth_steps import callback_url, connect, flashes

PROJECTS = 150  # more than one page of /project/search (at most 100 a page)
JIRA_USERS = 110  # more than one page of /users/search too


@pytest.fixture
def jira(app, monkeypatch):
    with FakeJira(redirect_uris=(callback_url("jira"),)) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("JIRA_CLIENT_ID", fake.oauth.client_id)
        monkeypatch.setenv("JIRA_CLIENT_SECRET", fake.oauth.client_secret)
        yield fake


@pytest.fixture
def site(jira):
    """What the Jira site holds: many projects, a status of its own, people with and without e-mail."""
    projects = [jira.add_project(f"P{n:03d}", f"Project {n:03d}") for n in range(1, PROJECTS + 1)]
    review = jira.add_status("Code Review", "indeterminate")
    bea = jira.add_user("acc-bea", "Bea Builder", "bea@example.com")
    hidden = jira.add_user("acc-hidden", "Hidden Hal")  # privacy settings hide the e-mail
    for n in range(JIRA_USERS - 3):
        jira.add_user(f"acc-crowd-{n:03d}", f"Zed Crowd {n:03d}", f"crowd{n}@example.com")
    return {"projects": projects, "review": review, "bea": bea, "hidden": hidden}


@pytest.fixture
def connected(db, jira, admin_client):
    """The team's Jira, connected by the admin through the real OAuth flow."""
    response = connect(admin_client, "jira")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    integration = IntegrationService().integration_for(None, "jira")
    assert integration is not None and integration.status == "active"
    return integration


def settings_url(integration) -> str:
    return f"/integrations/{integration.id}/settings"


def stored_settings(db, integration) -> dict:
    db.session.expire_all()
    return dict(db.session.get(Integration, integration.id).settings)


def stored_facts_and_state(db, integration) -> dict:
    """What connecting learnt and the connector's own state, which saving preferences never touches."""
    db.session.expire_all()
    stored = db.session.get(Integration, integration.id)
    return {**stored.connection_facts, **{f"state:{key}": value for key, value in stored.connector_state.items()}}


def queued_syncs(app, integration) -> int:
    """Syncs the settings page queued: manual, and run after a pull that was under way."""
    return sum(1 for task in app.extensions["timehub.jobs"].pending()
               if task.name == "sync_integration" and task.args == (integration.id,)
               and task.kwargs == {"trigger": "manual", "after_running": True})


def status_id(jira, name: str) -> str:
    return jira.statuses[name]["id"]


def form_for(integration, *, interval="60", since="", projects=(), push=True, statuses=None, users=None) -> dict:
    """What the browser sends: every mapping row present, "" meaning automatic."""
    data = {"sync_interval_minutes": interval, "updated_since": since, "allow_list": list(projects)}
    if push:
        data["toggle:push_worklogs"] = "y"
    for remote_id, value in (statuses or {}).items():
        data[f"map:status_map:{remote_id}"] = value
    for remote_id, value in (users or {}).items():
        data[f"map:user_map:{remote_id}"] = value
    return data


def save(client, integration, data: dict, **kwargs):
    return post_form(client, settings_url(integration), data, page=settings_url(integration), **kwargs)


def row_html(page: str, remote_id: str) -> str:
    match = re.search(rf'<tr data-remote="{re.escape(remote_id)}".*?</tr>', page, re.S)
    assert match, f"no mapping row for {remote_id}"
    return match.group(0)


# -- what the page shows -------------------------------------------------------------------------


def test_the_page_lists_every_project_status_and_person_from_jira(db, jira, site, connected, admin_client, user):
    response = admin_client.get(settings_url(connected))
    assert response.status_code == 200
    page = response.get_data(as_text=True)

    # Every project, across both pages of /project/search, with its key as the detail.
    offered = re.findall(r'name="allow_list" value="([^"]+)"', page)
    assert sorted(offered) == sorted(p["id"] for p in site["projects"])
    assert "Project 001" in page and "Project 150" in page and ">P150<" in page
    searches = [r.args for r in jira.api_requests if r.path.endswith("/rest/api/3/project/search")]
    assert [s.get("startAt", "0") for s in searches] == ["0", "100"]
    # Jira only imports what was picked, and says so while nothing is.
    assert "Nothing is imported until you pick at least one" in page

    # Statuses follow their category unless overridden.
    assert "automatic: In progress" in row_html(page, site["review"]["id"])
    assert "automatic: Done" in row_html(page, status_id(jira, "Done"))
    assert "automatic: To do" in row_html(page, status_id(jira, "To Do"))
    # People: by e-mail where Jira shows it, unassigned otherwise; every one of both pages listed.
    assert "automatic: by e-mail (bea@example.com)" in row_html(page, "acc-bea")
    assert "automatic: unassigned (no e-mail visible)" in row_html(page, "acc-hidden")
    assert len(re.findall(r'name="map:user_map:', page)) == len(jira.users)
    # The manual choices: every TimeHub user by name and e-mail.
    choices = row_html(page, "acc-hidden")
    assert f'value="{user.id}"' in choices and html.escape("Ulla User (user@example.com)") in choices
    assert html.escape("Ada Admin (admin@example.com)") in choices
    # The interval, the window and the worklog toggle (on by default).
    assert 'name="sync_interval_minutes" value="' in page and 'name="updated_since" value=""' in page
    assert re.search(r'name="toggle:push_worklogs" value="y"\s+checked', page)


def test_the_integration_page_links_to_its_settings(connected, admin_client):
    page = admin_client.get(f"/integrations/{connected.id}").get_data(as_text=True)
    assert f'href="{settings_url(connected)}"' in page


# -- saving ----------------------------------------------------------------------------------------


def test_saving_stores_exactly_the_choices_and_keeps_every_other_setting(app, db, jira, site, connected,
                                                                        admin_client, user):
    integration = db.session.get(Integration, connected.id)
    integration.connector_state = {**integration.connector_state, "webhooks": {"ids": [7], "expires": 123}}
    db.session.add(SyncCursor(integration_id=integration.id, stream="issues", cursor="resume-here"))
    db.session.commit()
    before = stored_settings(db, connected)
    first, second = site["projects"][0]["id"], site["projects"][120]["id"]  # one from each page
    review, done = site["review"]["id"], status_id(jira, "Done")

    response = save(admin_client, connected, form_for(
        connected, interval="45", since="2026-01-15", projects=[second, first], push=False,
        statuses={review: "done", done: ""}, users={"acc-hidden": str(user.id), "acc-bea": ""}))

    assert response.status_code == 302 and response.headers["Location"] == settings_url(connected)
    assert ("success", "Jira settings saved; a sync with them is queued.") in flashes(admin_client)
    saved = stored_settings(db, connected)
    assert saved == {
        **before,
        "sync_interval_minutes": 45,
        "updated_since": "2026-01-15",
        "allow_list": [first, second],     # Jira's order (by key)
        "push_worklogs": False,
        "status_map": {review: "done"},    # rows left on automatic are not stored
        "user_map": {"acc-hidden": user.id},
    }
    kept = stored_facts_and_state(db, connected)
    assert kept["cloud_id"] and kept["site_url"] and kept["state:webhooks"] == {"ids": [7], "expires": 123}
    # The next sync lists everything again with the new settings, and one is queued now.
    assert db.session.scalars(select(SyncCursor.cursor).where(SyncCursor.integration_id == connected.id)).all() \
        == [None]
    assert queued_syncs(app, connected) == 1

    # The page shows what was saved.
    page = admin_client.get(settings_url(connected)).get_data(as_text=True)
    checked = re.findall(r'name="allow_list" value="([^"]+)" id="[^"]+"\s+checked', page)
    assert sorted(checked) == sorted([first, second])
    assert "Nothing is imported until you pick at least one" not in page
    assert 'name="updated_since" value="2026-01-15"' in page and 'value="45"' in page
    assert '<option value="done" selected>' in row_html(page, review)
    assert f'<option value="{user.id}" selected>' in row_html(page, "acc-hidden")
    assert not re.search(r'name="toggle:push_worklogs" value="y"\s+checked', page)

    # Choosing "automatic" again removes the override; clearing the window syncs everything.
    save(admin_client, connected, form_for(connected, interval="45", projects=[first], push=False,
                                           statuses={review: ""}, users={"acc-hidden": ""}))
    saved = stored_settings(db, connected)
    assert "status_map" not in saved and "user_map" not in saved and "updated_since" not in saved
    assert saved["allow_list"] == [first] and stored_facts_and_state(db, connected)["state:webhooks"] == \
        {"ids": [7], "expires": 123}


def test_changing_only_the_interval_queues_no_full_sync(app, db, site, connected, admin_client):
    first = site["projects"][0]["id"]
    save(admin_client, connected, form_for(connected, projects=[first]))
    queued = queued_syncs(app, connected)
    db.session.execute(SyncCursor.__table__.insert().values(integration_id=connected.id, stream="issues",
                                                            cursor="resume-here"))
    db.session.commit()

    response = save(admin_client, connected, form_for(connected, interval="15", projects=[first]))

    assert response.status_code == 302
    assert ("success", "Jira settings saved.") in flashes(admin_client)
    assert stored_settings(db, connected)["sync_interval_minutes"] == 15
    assert queued_syncs(app, connected) == queued
    assert db.session.scalars(select(SyncCursor.cursor).where(SyncCursor.integration_id == connected.id)).all() \
        == ["resume-here"]


BAD_INPUT = {
    "not a date": ({"since": "2026-02-30"}, "updated_since", "Enter a date as YYYY-MM-DD"),
    "a day in the future": ({"since": (date.today() + timedelta(days=3)).isoformat()}, "updated_since",
                            "not in the future"),
    "an interval out of range": ({"interval": "0"}, "sync_interval_minutes", "Choose between"),
    "an interval that is no number": ({"interval": "often"}, "sync_interval_minutes", "whole number"),
    "a project Jira does not list": ({"projects": ["424242"]}, "allow_list", "Not offered by Jira: 424242"),
    "an unknown TimeHub user": ({"users": {"acc-hidden": "999999"}}, "map:user_map:acc-hidden",
                                "Choose one of the listed TimeHub users"),
    "a user id that is no number": ({"users": {"acc-bea": "bea"}}, "map:user_map:acc-bea",
                                    "Choose one of the listed TimeHub users"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_shows_the_form_again_and_saves_nothing(app, db, site, connected, admin_client, case):
    changes, field_name, message = BAD_INPUT[case]
    before = stored_settings(db, connected)
    jobs_before = queued_syncs(app, connected)
    data = form_for(connected, **{"projects": [site["projects"][0]["id"]], "push": False, **changes})

    response = save(admin_client, connected, data)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Nothing was saved" in page and html.escape(message) in page
    assert stored_settings(db, connected) == before
    assert queued_syncs(app, connected) == jobs_before
    # What was typed is shown again, not the saved values.
    if "since" in changes:
        assert f'name="updated_since" value="{changes["since"]}"' in page
    assert not re.search(r'name="toggle:push_worklogs" value="y"\s+checked', page)


def test_an_unknown_task_status_is_refused(db, jira, site, connected, admin_client):
    before = stored_settings(db, connected)
    response = save(admin_client, connected, form_for(connected, statuses={site["review"]["id"]: "archived"}))
    assert response.status_code == 422
    assert "Choose one of the listed statuses." in response.get_data(as_text=True)
    assert stored_settings(db, connected) == before


def test_a_post_without_the_csrf_token_is_refused(db, site, connected, admin_client):
    before = stored_settings(db, connected)
    response = admin_client.post(settings_url(connected),
                                 data=form_for(connected, projects=[site["projects"][0]["id"]]))
    assert response.status_code == 400
    assert stored_settings(db, connected) == before


# -- who may come here -------------------------------------------------------------------------------


def test_a_plain_user_may_neither_see_nor_change_the_teams_jira_settings(db, site, connected, user_client):
    before = stored_settings(db, connected)
    assert user_client.get(settings_url(connected)).status_code == 403
    token = csrf_token(user_client, "/integrations")
    response = user_client.post(settings_url(connected), data={**form_for(connected), "csrf_token": token})
    assert response.status_code == 403
    assert stored_settings(db, connected) == before


def test_anonymous_visitors_are_sent_to_sign_in(app, connected):
    response = app.test_client().get(settings_url(connected))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# -- when Jira cannot be reached ----------------------------------------------------------------------


def test_with_jira_down_the_page_shows_the_saved_values_and_saving_keeps_the_mappings(
        app, db, jira, site, connected, admin_client, user):
    first, second = site["projects"][0]["id"], site["projects"][1]["id"]
    review = site["review"]["id"]
    save(admin_client, connected, form_for(connected, projects=[first, second], since="2026-03-01",
                                           statuses={review: "todo"}, users={"acc-hidden": str(user.id)}))
    jira.faults = Faults(rate=1.0, kinds=("error",))  # every REST call answers 5xx

    response = admin_client.get(settings_url(connected))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Could not read the choices from Jira" in page
    # The allow-list shows the saved ids only, still ticked; the other saved values are there.
    assert sorted(re.findall(r'name="allow_list" value="([^"]+)"', page)) == sorted([first, second])
    assert 'name="updated_since" value="2026-03-01"' in page
    assert "map:status_map" not in page and "map:user_map" not in page

    # Saving narrows the allow-list to what was saved and leaves the mappings as they were.
    response = save(admin_client, connected, form_for(connected, interval="30", projects=[second]))
    assert response.status_code == 302
    saved = stored_settings(db, connected)
    assert saved["allow_list"] == [second] and saved["sync_interval_minutes"] == 30
    assert saved["status_map"] == {review: "todo"} and saved["user_map"] == {"acc-hidden": user.id}
    # An id that was not saved cannot be added while Jira cannot say whether it exists.
    response = save(admin_client, connected, form_for(connected, projects=[second, site["projects"][2]["id"]]))
    assert response.status_code == 422
    assert stored_settings(db, connected)["allow_list"] == [second]


def test_a_disconnected_jira_still_shows_its_settings(db, site, connected, admin_client):
    save(admin_client, connected, form_for(connected, projects=[site["projects"][5]["id"]]))
    post_form(admin_client, "/integrations/jira/disconnect")

    response = admin_client.get(settings_url(connected))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Jira is not connected" in page
    assert re.findall(r'name="allow_list" value="([^"]+)"', page) == [site["projects"][5]["id"]]


def test_a_connector_that_syncs_everything_until_chosen_offers_every_one_or_only_the_ticked(
        db, site, connected, admin_client, monkeypatch):
    from app.integrations.jira import JiraConnector
    monkeypatch.setattr(JiraConnector, "allow_all_until_chosen", True)
    page = admin_client.get(settings_url(connected)).get_data(as_text=True)
    assert re.search(r'name="allow_mode" value="all"\s+checked', page)
    assert "Nothing is imported until you pick at least one" not in page
    first = site["projects"][0]["id"]

    save(admin_client, connected, {**form_for(connected, projects=[first]), "allow_mode": "chosen"})
    assert stored_settings(db, connected)["allow_list"] == [first]
    save(admin_client, connected, {**form_for(connected), "allow_mode": "chosen"})  # none ticked: none synced
    assert stored_settings(db, connected)["allow_list"] == []
    save(admin_client, connected, {**form_for(connected, projects=[first]), "allow_mode": "all"})
    assert "allow_list" not in stored_settings(db, connected)


def test_the_backfill_window_is_offered_only_where_the_connector_honours_it(db, site, connected, admin_client,
                                                                           monkeypatch):
    from app.integrations.jira import JiraConnector
    assert 'name="updated_since"' in admin_client.get(settings_url(connected)).get_data(as_text=True)
    monkeypatch.setattr(JiraConnector, "supports_backfill", False)
    assert 'name="updated_since"' not in admin_client.get(settings_url(connected)).get_data(as_text=True)
    save(admin_client, connected, form_for(connected, since="2026-01-01", projects=[site["projects"][0]["id"]]))
    assert "updated_since" not in stored_settings(db, connected)  # not stored where nothing would read it
