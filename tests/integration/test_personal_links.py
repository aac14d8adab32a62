"""Worklogs authored by the person who did the work (issue 16): each user links their own
Atlassian account from the account page (a second consent with the team's OAuth app, through
the fake's real flow), and their entries' worklogs are then created with their own grant, so
the fake Jira records them as the author. Users without a link, or whose link was revoked,
are logged through the team connection, "for" them."""
from __future__ import annotations

import json
import time
from dataclasses import replace

from sqlalchemy import select

from app.models import Integration
from app.models.integration import IntegrationStatus
from app.services import personal_links, sync_service, time_service, token_service
from app.services.integration_service import IntegrationService
from tests.conftest import login, post_form
from tests.integration.test_jira_sync import (  # noqa: F401 - fixtures
    entry_fields,
    push,
    start_jira,
    worklog_setup,
)
from tests.oauth_steps import at_provider, finish


def signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


def link_own_account(client, jira, account_id: str, name: str, email: str):
    """The user presses "Log my Jira time as me" and consents at Atlassian as themselves."""
    jira.add_user(account_id, name, email)
    jira.oauth.account = {"id": account_id, "name": name, "email": email}
    response = post_form(client, "/account/links/jira", page="/account")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return finish(client, "jira", at_provider(response.headers["Location"]))


def author_of(worklog: dict) -> str:
    return worklog["author"]["accountId"]


def test_two_linked_people_author_their_own_worklogs_and_one_without_is_logged_for(db, app, worklog_setup,
                                                                                    make_user, admin, monkeypatch):
    jira, team, paula, tasks = worklog_setup
    authors_connectors, build = [], personal_links.connector_for

    def noted(*args, **kwargs):  # the real connector, kept to look at afterwards
        authors_connectors.append(build(*args, **kwargs))
        return authors_connectors[-1]
    monkeypatch.setattr(personal_links, "connector_for", noted)
    admin_account = jira.me["accountId"]
    ann, bob = make_user("ann@example.com", name="Ann"), make_user("bob@example.com", name="Bob")
    paula_client, ann_client = signed_in(app, paula), signed_in(app, ann)
    for client, user, account in ((paula_client, paula, "acc-paula"), (ann_client, ann, "acc-ann")):
        done = link_own_account(client, jira, account, f"{user.name} at Jira", f"{account}@atlassian.example")
        assert done.status_code == 302 and done.headers["Location"].endswith("/account")

    for user in (paula, ann, bob):
        time_service.create_entry(user, entry_fields(tasks["ACME-1"], description=f"{user.name}'s work"))
    assert push(team) == 3
    # One connector for each linked author, and the run let go of their HTTP clients.
    assert len(authors_connectors) == 2 and all(c.client._http.is_closed for c in authors_connectors)

    by_comment = {json.dumps(w["comment"]): author_of(w) for w in jira.worklogs_of("ACME-1")}
    authors = {next(word for word in ("Paula", "Ann", "Bob") if word in comment): author
               for comment, author in by_comment.items()}
    assert authors == {"Paula": "acc-paula", "Ann": "acc-ann", "Bob": admin_account}
    bobs = next(comment for comment in by_comment if "Bob" in comment)
    assert "for Bob" in bobs and not any("for Paula" in c or "for Ann" in c for c in by_comment)

    # Each sees their own link alone; the admin sees who is linked; links are no connections.
    page = paula_client.get("/account").get_data(as_text=True)
    assert "Paula Paris at Jira" in page and "Ann at Jira" not in page
    assert "Ann at Jira" in ann_client.get("/account").get_data(as_text=True)
    admin_page = signed_in(app, admin).get(f"/integrations/{team.id}").get_data(as_text=True)
    assert "Logged as themselves" in admin_page and "Paula Paris" in admin_page and "Ann" in admin_page
    links = db.session.scalars(select(Integration).where(Integration.team_integration_id == team.id)).all()
    assert {link.user_id for link in links} == {paula.id, ann.id}
    assert all(not link.is_global and link.credential.ciphertext for link in links)
    assert paula_client.get(f"/integrations/{links[0].id}").status_code == 404
    assert [work for work in sync_service.due_work() if work[1] in {link.id for link in links}] == []


def test_a_revoked_personal_grant_falls_back_to_the_team_and_tells_only_its_owner(db, app, worklog_setup, admin):
    jira, team, paula, tasks = worklog_setup
    paula_client = signed_in(app, paula)
    link_own_account(paula_client, jira, "acc-paula", "Paula at Jira", "paula@atlassian.example")
    jira.oauth.revoke_grants_of("paula@atlassian.example")  # she removed TimeHub from her Atlassian account

    time_service.create_entry(paula, entry_fields(tasks["ACME-2"], description="After the revocation"))
    assert push(team) == 1
    [worklog] = jira.worklogs_of("ACME-2")
    assert author_of(worklog) == jira.me["accountId"] and "for Paula Paris" in json.dumps(worklog["comment"])

    db.session.expire_all()
    link = personal_links.link_of(db.session, paula.id, team)
    assert link.status == IntegrationStatus.NEEDS_RECONNECT
    assert link in IntegrationService().needing_reconnect(paula)
    assert link not in IntegrationService().needing_reconnect(admin)
    assert "Link again" in paula_client.get("/account").get_data(as_text=True)
    assert db.session.get(Integration, team.id).status == IntegrationStatus.ACTIVE


def test_a_personal_grant_that_cannot_be_refreshed_falls_back_in_the_same_run(db, app, worklog_setup):
    """Its access token expired and its refresh token revoked: the link fails before any request
    (a TokenError, not a 401), and the push still goes through the team connection at once."""
    jira, team, paula, tasks = worklog_setup
    link_own_account(signed_in(app, paula), jira, "acc-paula", "Paula at Jira", "paula@atlassian.example")
    jira.oauth.revoke_grants_of("paula@atlassian.example")
    link = personal_links.link_of(db.session, paula.id, team)
    token_service.store_tokens(link, replace(token_service.stored_token(link), expires_at=int(time.time()) - 60))
    db.session.commit()

    time_service.create_entry(paula, entry_fields(tasks["ACME-2"], description="Expired and revoked"))
    assert push(team) == 1
    [worklog] = jira.worklogs_of("ACME-2")
    assert author_of(worklog) == jira.me["accountId"] and "for Paula Paris" in json.dumps(worklog["comment"])
    db.session.expire_all()
    assert personal_links.link_of(db.session, paula.id, team).status == IntegrationStatus.NEEDS_RECONNECT


def test_a_personal_account_that_cannot_reach_the_team_site_is_refused_and_given_back(db, app, worklog_setup):
    jira, team, paula, _tasks = worklog_setup
    team_sites = list(jira.sites)
    jira.sites[:] = [{**team_sites[0], "id": "another-cloud-id", "name": "Somewhere else"}]
    try:
        refused = link_own_account(signed_in(app, paula), jira, "acc-paula", "Paula", "paula@atlassian.example")
    finally:
        jira.sites[:] = team_sites
    assert refused.status_code == 400 and "cannot reach the team" in refused.get_data(as_text=True)
    assert personal_links.link_of(db.session, paula.id, team) is None
    assert not [g for g in jira.oauth.active_grants() if g.account_email == "paula@atlassian.example"]


def test_unlinking_revokes_the_grant_and_the_team_disconnect_removes_every_link(db, app, worklog_setup,
                                                                                admin, admin_client):
    jira, team, paula, _tasks = worklog_setup
    paula_client = signed_in(app, paula)
    link_own_account(paula_client, jira, "acc-paula", "Paula", "paula@atlassian.example")
    assert post_form(paula_client, "/account/links/jira/remove", page="/account").status_code == 302
    assert personal_links.link_of(db.session, paula.id, team) is None
    assert not [g for g in jira.oauth.active_grants() if g.account_email == "paula@atlassian.example"]

    link_own_account(paula_client, jira, "acc-paula", "Paula", "paula@atlassian.example")
    IntegrationService().disconnect(admin, "jira")
    assert db.session.scalars(select(Integration).where(Integration.team_integration_id == team.id)).all() == []


# -- GitLab: the same capability, on the team's instance ------------------------------------------

from tests.integration.test_gitlab_sync import entry_fields as gitlab_entry  # noqa: E402
from tests.integration.test_gitlab_sync import start_gitlab, timelog_setup  # noqa: E402,F401 - fixtures


def test_a_linked_gitlab_user_adds_spent_time_as_themselves(db, app, timelog_setup, make_user):
    gitlab, team, paula, tasks = timelog_setup
    ann = make_user("ann@example.com", name="Ann")
    gitlab.add_user("paula-gl", "Paula at GitLab", email="paula@gitlab.example")
    gitlab.oauth.account = {"id": "paula-gl", "name": "Paula at GitLab", "email": "paula@gitlab.example"}
    client = signed_in(app, paula)
    response = post_form(client, "/account/links/gitlab", page="/account")
    done = finish(client, "gitlab", at_provider(response.headers["Location"]))
    assert done.status_code == 302 and "paula-gl" in client.get("/account").get_data(as_text=True)

    time_service.create_entry(paula, gitlab_entry(tasks["acme/web#1"], description="Boiler"))
    time_service.create_entry(ann, gitlab_entry(tasks["acme/web#1"], description="Pipes"))
    assert push(team) == 2
    by_author = {timelog["author"]: timelog["summary"] for timelog in gitlab.timelogs_of("acme/web", 1)}
    assert set(by_author) == {"paula-gl", gitlab.oauth.username}
    assert not by_author["paula-gl"].startswith("Boiler (logged for")
    assert by_author[gitlab.oauth.username].startswith("Pipes (logged for Ann) ")
