"""Worklogs authored by the person who did the work, on Jira Data Center (issue 16): over real
HTTP to the fake Data Center (tests/fakes/jira_datacenter.py), which records each worklog's
author from the bearer token it was created with, as Data Center does.

- A team connected through an application link (OAuth 2.0): each person consents through the
  same link, and their token must act on the team's base URL.
- A team connected with a personal access token (no OAuth app): each person links with their
  own personal access token, pasted on the account page.
Either way a refused link falls back to the team connection and tells its owner alone.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import Integration
from app.models.integration import IntegrationStatus
from app.services import personal_links, time_service
from app.services.integration_service import IntegrationService
from app.services.sync_service import push_pending
from tests.conftest import login, post_form
from tests.fakes.jira_datacenter import FakeJiraDataCenter
from tests.integration.test_jira_datacenter import (  # noqa: F401 (start_jira_datacenter, worklog_setup: fixtures)
    BASE_URL,
    SLUG,
    check_contract,
    connect_with_token,
    entry_fields,
    save_setup,
    start_jira_datacenter,
    team_with_tasks,
    worklog_setup,
)
from tests.oauth_steps import at_provider, finish
from tests.tracker_harness import retry_now

LINK_PAGE = "/account"


def signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


def link_by_consent(client, fake: FakeJiraDataCenter, key: str, name: str, email: str):
    """The person presses "Log my Jira time as me" and consents at the team's Jira as themselves."""
    fake.add_user(key, name, email)
    fake.oauth.account = {"id": key, "name": name, "email": email}
    response = post_form(client, f"/account/links/{SLUG}", page=LINK_PAGE)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return finish(client, SLUG, at_provider(response.headers["Location"]))


def link_by_token(client, token: str):
    """The account page's personal-access-token form, as a browser sends it."""
    return post_form(client, f"/account/links/{SLUG}/token", {"token": token}, page=LINK_PAGE)


def worklog_by_description(fake: FakeJiraDataCenter, issue_key: str) -> dict[str, dict]:
    return {worklog["comment"].split(": ", 1)[1].split(" [", 1)[0]: worklog for worklog in fake.worklogs_of(issue_key)}


# -- a team connected through an application link ----------------------------------------------

def test_two_linked_people_author_their_own_worklogs_and_one_without_is_logged_for(db, app, worklog_setup,
                                                                                    make_user, admin):
    fake, team, paula, tasks = worklog_setup
    ann, bob = make_user("ann@example.com", name="Ann"), make_user("bob@example.com", name="Bob")
    paula_client, ann_client = signed_in(app, paula), signed_in(app, ann)
    assert "Log my Jira time as me" in paula_client.get(LINK_PAGE).get_data(as_text=True)
    for client, user, key in ((paula_client, paula, "paula"), (ann_client, ann, "ann")):
        done = link_by_consent(client, fake, key, f"{user.name} at DC", f"{key}@dc.example")
        assert done.status_code == 302 and done.headers["Location"].endswith(LINK_PAGE)
        link = personal_links.link_of(db.session, user.id, team)
        assert (link.account_label, link.connection_facts["user_key"]) == (f"{user.name} at DC", key)
        assert link.connection_facts["base_url"] == BASE_URL  # the team's, where its calls go
    entries = {user.name: time_service.create_entry(user, entry_fields(tasks["ACME-1"],
                                                                       description=f"{user.name} work"))
               for user in (paula, ann, bob)}
    assert push_pending(team.id) == 3

    worklogs = worklog_by_description(fake, "ACME-1")
    assert {name: worklogs[f"{name} work"]["author"]["key"] for name in entries} == {
        "Paula Paris": "paula", "Ann": "ann", "Bob": fake.me["key"]}
    # Through one's own link Jira names the author; through the team the comment says for whom.
    # Either way TimeHub's marker stays last: the lost-create lookup reads it.
    assert worklogs["Paula Paris work"]["comment"] == \
        f"Logged in TimeHub: Paula Paris work [TimeHub entry {entries['Paula Paris'].id}]"
    assert worklogs["Bob work"]["comment"] == f"Logged in TimeHub for Bob: Bob work [TimeHub entry {entries['Bob'].id}]"

    # An edit goes through the author's link too.
    since = len(fake.api.requests)
    time_service.update_entry(entries["Ann"], entry_fields(tasks["ACME-1"], minutes=30, description="Ann work"))
    assert push_pending(team.id) == 1
    [put] = [r for r in fake.api.requests[since:] if r.method == "PUT"]
    assert fake.token_user(put.headers["authorization"]) == "ann"

    # Each sees their own link alone; links are no connections.
    page = paula_client.get(LINK_PAGE).get_data(as_text=True)
    assert "Paula Paris at DC" in page and "Ann at DC" not in page
    admin_page = signed_in(app, admin).get(f"/integrations/{team.id}").get_data(as_text=True)
    assert "Logged as themselves" in admin_page and "Paula Paris" in admin_page
    assert paula_client.get(f"/integrations/{personal_links.link_of(db.session, paula.id, team).id}").status_code == 404
    assert check_contract(fake) == len(fake.api.requests)


def test_a_worklog_whose_answer_was_lost_under_a_link_is_found_by_its_marker(db, app, worklog_setup):
    fake, team, paula, tasks = worklog_setup
    link_by_consent(signed_in(app, paula), fake, "paula", "Paula at DC", "paula@dc.example")
    fake.lose_worklog_answers = 1
    entry = time_service.create_entry(paula, entry_fields(tasks["ACME-2"]))
    assert push_pending(team.id) == 0
    retry_now(db)
    assert push_pending(team.id) == 1
    [worklog] = fake.worklogs_of("ACME-2")
    assert len(fake.created_worklogs) == 1 and worklog["author"]["key"] == "paula"
    assert worklog["comment"] == f"Logged in TimeHub: Boiler [TimeHub entry {entry.id}]"


def test_a_revoked_personal_grant_falls_back_to_the_team_and_tells_only_its_owner(db, app, worklog_setup, admin):
    fake, team, paula, tasks = worklog_setup
    paula_client = signed_in(app, paula)
    link_by_consent(paula_client, fake, "paula", "Paula at DC", "paula@dc.example")
    fake.oauth.revoke_grants_of("paula@dc.example")  # she revoked TimeHub in her Jira profile

    time_service.create_entry(paula, entry_fields(tasks["ACME-2"], description="After the revocation"))
    assert push_pending(team.id) == 1
    [worklog] = fake.worklogs_of("ACME-2")
    assert worklog["author"]["key"] == fake.me["key"]
    assert worklog["comment"].startswith("Logged in TimeHub for Paula Paris: After the revocation")

    db.session.expire_all()
    link = personal_links.link_of(db.session, paula.id, team)
    assert link.status == IntegrationStatus.NEEDS_RECONNECT
    assert link in IntegrationService().needing_reconnect(paula)
    assert link not in IntegrationService().needing_reconnect(admin)
    page = paula_client.get(LINK_PAGE).get_data(as_text=True)
    assert "Link again" in page and link.last_error and link.last_error in page
    assert link.last_error not in signed_in(app, admin).get(LINK_PAGE).get_data(as_text=True)
    assert db.session.get(Integration, team.id).status == IntegrationStatus.ACTIVE

    # Linking again brings her worklogs back to her.
    link_by_consent(paula_client, fake, "paula", "Paula at DC", "paula@dc.example")
    time_service.create_entry(paula, entry_fields(tasks["ACME-3"], description="Linked again"))
    assert push_pending(team.id) == 1
    assert [w["author"]["key"] for w in fake.worklogs_of("ACME-3")] == ["paula"]


def test_a_link_whose_account_left_jira_falls_back_to_the_team_in_the_same_run(db, app, worklog_setup):
    """Her grant still refreshes, but Jira refuses every token of an account it no longer has:
    a 401 even after the refresh. The push goes through the team connection in the same run."""
    fake, team, paula, tasks = worklog_setup
    link_by_consent(signed_in(app, paula), fake, "paula", "Paula at DC", "paula@dc.example")
    del fake.users["paula"]

    time_service.create_entry(paula, entry_fields(tasks["ACME-2"], description="After she left"))
    assert push_pending(team.id) == 1
    [worklog] = fake.worklogs_of("ACME-2")
    assert worklog["author"]["key"] == fake.me["key"]
    assert worklog["comment"].startswith("Logged in TimeHub for Paula Paris: After she left")
    db.session.expire_all()
    assert personal_links.link_of(db.session, paula.id, team).status == IntegrationStatus.NEEDS_RECONNECT


def test_a_consent_at_another_jira_than_the_teams_is_refused_and_nothing_is_kept(db, app, admin, worklog_setup):
    fake, team, paula, _tasks = worklog_setup
    # An admin pointed the setup page at another Jira since the team connected on BASE_URL.
    save_setup(admin, fake, base_url="https://jira-new.example.com")
    paula_client = signed_in(app, paula)
    refused = link_by_consent(paula_client, fake, "paula", "Paula at DC", "paula@dc.example")
    body = refused.get_data(as_text=True)
    assert refused.status_code == 400, body[:300]
    assert "https://jira-new.example.com" in body and f"the team&#39;s Jira is {BASE_URL}" in body
    assert personal_links.link_of(db.session, paula.id, team) is None
    assert "Paula at DC" not in paula_client.get(LINK_PAGE).get_data(as_text=True)


def test_a_consent_the_teams_jira_refuses_is_refused_with_a_message(db, app, worklog_setup):
    fake, team, paula, _tasks = worklog_setup
    # She consents as someone the team's Jira does not know (her account there was removed):
    # /myself at the team's base URL answers 401.
    fake.oauth.account = {"id": "ghost", "name": "Ghost", "email": "ghost@elsewhere.example"}
    client = signed_in(app, paula)
    response = post_form(client, f"/account/links/{SLUG}", page=LINK_PAGE)
    refused = finish(client, SLUG, at_provider(response.headers["Location"]))
    assert refused.status_code == 400
    assert f"The Jira at {BASE_URL} refused your account" in refused.get_data(as_text=True)
    assert personal_links.link_of(db.session, paula.id, team) is None


def test_unlinking_puts_the_worklogs_back_on_the_team_and_a_team_disconnect_removes_every_link(
        db, app, worklog_setup, admin):
    fake, team, paula, tasks = worklog_setup
    paula_client = signed_in(app, paula)
    link_by_consent(paula_client, fake, "paula", "Paula at DC", "paula@dc.example")
    assert post_form(paula_client, f"/account/links/{SLUG}/remove", page=LINK_PAGE).status_code == 302
    assert personal_links.link_of(db.session, paula.id, team) is None
    time_service.create_entry(paula, entry_fields(tasks["BETA-1"], description="Unlinked"))
    assert push_pending(team.id) == 1
    [worklog] = fake.worklogs_of("BETA-1")
    assert worklog["author"]["key"] == fake.me["key"] and "for Paula Paris" in worklog["comment"]

    link_by_consent(paula_client, fake, "paula", "Paula at DC", "paula@dc.example")
    IntegrationService().disconnect(admin, SLUG)
    assert db.session.scalars(select(Integration).where(Integration.team_integration_id == team.id)).all() == []


def test_on_an_oauth_team_the_token_form_is_not_offered_and_not_taken(db, app, worklog_setup):
    fake, team, paula, _tasks = worklog_setup
    client = signed_in(app, paula)
    assert f"/account/links/{SLUG}/token" not in client.get(LINK_PAGE).get_data(as_text=True)
    refused = link_by_token(client, fake.personal_token(fake.me["key"]))
    assert refused.status_code == 302 and "it asks for your consent" in client.get(LINK_PAGE).get_data(as_text=True)
    assert personal_links.link_of(db.session, paula.id, team) is None


# -- a team connected with a personal access token (no application link) ----------------------------

@pytest.fixture
def token_team(db, admin, admin_client, make_user, start_jira_datacenter):
    return team_with_tasks(db, admin, admin_client, make_user, start_jira_datacenter(), connect_with_token)


def test_on_a_token_team_a_person_links_their_own_token_and_authors_their_worklogs(db, app, token_team, make_user):
    fake, team, paula, tasks = token_team
    bob = make_user("bob@example.com", name="Bob")
    client = signed_in(app, paula)
    page = client.get(LINK_PAGE).get_data(as_text=True)
    assert f'action="/account/links/{SLUG}/token"' in page and f'action="/account/links/{SLUG}"' not in page
    fake.add_user("paula", "Paula at DC", "paula@dc.example")
    token = fake.personal_token("paula")

    linked = link_by_token(client, token)
    assert linked.status_code == 302, linked.get_data(as_text=True)[:300]
    page = client.get(LINK_PAGE).get_data(as_text=True)
    assert "Your Jira Data Center time is now logged as Paula at DC" in page and token not in page
    link = personal_links.link_of(db.session, paula.id, team)
    assert (link.status, link.connection_facts["user_key"]) == (IntegrationStatus.ACTIVE, "paula")
    assert link.credential.expires_at is None and token not in (link.credential.ciphertext or "")

    paulas = time_service.create_entry(paula, entry_fields(tasks["ACME-1"], description="Paula work"))
    time_service.create_entry(bob, entry_fields(tasks["ACME-1"], description="Bob work"))
    assert push_pending(team.id) == 2
    worklogs = worklog_by_description(fake, "ACME-1")
    assert (worklogs["Paula work"]["author"]["key"], worklogs["Bob work"]["author"]["key"]) == ("paula", fake.me["key"])
    assert worklogs["Paula work"]["comment"] == f"Logged in TimeHub: Paula work [TimeHub entry {paulas.id}]"
    assert worklogs["Bob work"]["comment"].startswith("Logged in TimeHub for Bob: Bob work")
    assert check_contract(fake) == len(fake.api.requests)

    # She revokes the token in Jira: her next worklog goes through the team, and she is told.
    del fake.personal_tokens[token]
    time_service.create_entry(paula, entry_fields(tasks["ACME-2"], description="Revoked"))
    assert push_pending(team.id) == 1
    [worklog] = fake.worklogs_of("ACME-2")
    assert worklog["author"]["key"] == fake.me["key"] and "for Paula Paris" in worklog["comment"]
    db.session.expire_all()
    assert personal_links.link_of(db.session, paula.id, team).status == IntegrationStatus.NEEDS_RECONNECT
    page = client.get(LINK_PAGE).get_data(as_text=True)
    assert "refused the personal access token; enter a new one" in page
    assert f'action="/account/links/{SLUG}/token"' in page and "Link again" in page
    assert db.session.get(Integration, team.id).status == IntegrationStatus.ACTIVE

    # A new token links her again; unlinking forgets it.
    again = link_by_token(client, fake.personal_token("paula"))
    assert again.status_code == 302, again.get_data(as_text=True)[-1500:]
    db.session.expire_all()
    assert personal_links.link_of(db.session, paula.id, team).status == IntegrationStatus.ACTIVE
    assert post_form(client, f"/account/links/{SLUG}/remove", page=LINK_PAGE).status_code == 302
    assert personal_links.link_of(db.session, paula.id, team) is None


def test_a_bad_or_foreign_token_is_a_form_error_and_links_nothing(db, app, token_team):
    fake, team, paula, _tasks = token_team
    client = signed_in(app, paula)
    with FakeJiraDataCenter(redirect_uris=("http://localhost/unused",)) as other_jira:
        foreign = other_jira.personal_token(other_jira.me["key"])  # a token of another Jira
    for token in ("not-a-token", foreign):
        refused = link_by_token(client, token)
        body = refused.get_data(as_text=True)
        assert refused.status_code == 400, body[:300]
        assert f"The Jira at {BASE_URL} refused your account" in body and token not in body
        assert fake.api.requests[-1].status == 401
    since = len(fake.api.requests)
    too_long = link_by_token(client, "x" * 501)
    assert too_long.status_code == 422 and "too long" in too_long.get_data(as_text=True)
    empty = link_by_token(client, "  ")
    assert empty.status_code == 422 and "Paste your personal access token" in empty.get_data(as_text=True)
    assert client.post(f"/account/links/{SLUG}/token", data={"token": "x"}).status_code == 400  # no CSRF token
    assert fake.api.requests[since:] == []
    assert personal_links.link_of(db.session, paula.id, team) is None


def test_on_a_token_team_the_consent_button_says_to_paste_a_token(db, app, token_team):
    _fake, team, paula, _tasks = token_team
    client = signed_in(app, paula)
    response = post_form(client, f"/account/links/{SLUG}", page=LINK_PAGE)
    assert response.status_code == 302
    assert "with your own personal access token" in client.get(LINK_PAGE).get_data(as_text=True)
    assert personal_links.link_of(db.session, paula.id, team) is None


def test_a_refused_team_token_asks_the_admin_for_a_new_one(db, app, token_team, admin):
    fake, team, paula, tasks = token_team
    fake.personal_tokens.clear()  # the admin's token was revoked in Jira
    time_service.create_entry(paula, entry_fields(tasks["ACME-1"]))
    assert push_pending(team.id) == 0
    db.session.expire_all()
    team = db.session.get(Integration, team.id)
    assert team.status == IntegrationStatus.NEEDS_RECONNECT
    assert team.last_error == "Jira Data Center refused the personal access token; enter a new one to continue."
    assert fake.worklogs_of("ACME-1") == []
