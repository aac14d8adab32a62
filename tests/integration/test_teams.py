"""Microsoft Teams end to end over real HTTP: connected through the OAuth fake (delegated
ChannelMessage.Send), teams and channels listed from the Graph fake (every page, checked
against graph.json), notifications posted as HTML channel messages through the outbox.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import Integration, Notification
from app.models.base import utcnow
from app.services import notification_service, time_service
from app.services.connections import connector_for
from app.services.integration_service import IntegrationService
from tests.conftest import post_form
from tests.fakes.graph_teams import FakeGraphTeams
from tests.fakes.oauth_provider import FakeOAuthProvider
from tests.oauth_steps import callback_url, connect

SLUG = "microsoft_teams"


@pytest.fixture
def teams(app, db, admin, admin_client, monkeypatch):
    with FakeOAuthProvider(redirect_uris=(callback_url(SLUG),)) as oauth, FakeGraphTeams(oauth=oauth) as fake:
        for name, value in oauth.env(SLUG).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("MICROSOFT_TEAMS_API_BASE", fake.api_base)
        IntegrationService().save_app_credentials(admin, SLUG, {
            "client_id": oauth.client_id, "client_secret": oauth.client_secret})
        assert connect(admin_client, SLUG).status_code == 302
        fake.oauth_fake = oauth
        fake.sales = fake.add_team("Sales", ("General", "Wins", "Leads"))
        fake.ops = fake.add_team("Operations", ("General",))
        fake.add_team("Design", ("General", "Reviews", "Assets"))
        fake.add_team("Left", ("General",), member=False)
        yield fake


def integration(db) -> Integration:
    db.session.expire_all()
    return IntegrationService().integration_for(None, SLUG)


def channel_of(team, name: str) -> str:
    return f"{team.id}/{next(cid for cid, n in team.channels.items() if n == name)}"


def test_the_account_is_connected_and_named_from_graph(db, teams):
    found = integration(db)
    assert found.status == "active" and found.account_label == "Fran Fake (fran@fake.example)"


def test_teams_then_channels_are_listed_from_every_page(db, teams):
    options = connector_for(integration(db)).channel_options()
    assert [(o.group, o.label) for o in options] == [
        ("Sales", "General"), ("Sales", "Wins"), ("Sales", "Leads"), ("Operations", "General"),
        ("Design", "General"), ("Design", "Reviews"), ("Design", "Assets")]
    joined = [r for r in teams.server.requests if r.path == "/v1.0/me/joinedTeams"]
    assert len(joined) == 2 and joined[1].args == {"$skiptoken": "2"}  # three teams, two a page


def requests_to(teams, path: str) -> list:
    return [r for r in teams.server.requests if r.path == path]


def test_the_picker_lists_the_teams_first_then_the_chosen_teams_channels(db, teams, admin_client):
    found = integration(db)
    page = admin_client.get(f"/integrations/{found.id}/settings").get_data(as_text=True)
    assert 'name="sync_interval_minutes"' not in page
    # Step one: the teams, from every page of joinedTeams; no team's channels are read yet.
    assert len(requests_to(teams, "/v1.0/me/joinedTeams")) == 2  # three teams, two a page
    assert all("/channels" not in r.path for r in teams.server.requests)
    assert '<select id="notify_group" name="notify_group" form="notify-group-picker"' in page
    assert ">Sales</option>" in page and ">Design</option>" in page and ">Left</option>" not in page
    assert "Choose a team first" in page
    design = next(t for t in teams.teams.values() if t.name == "Design")
    # Step two: that team's channels only, from every page of its channel listing.
    page = admin_client.get(f"/integrations/{found.id}/settings?notify_group={design.id}").get_data(as_text=True)
    assert len(requests_to(teams, f"/v1.0/teams/{design.id}/channels")) == 2  # three channels, two a page
    assert requests_to(teams, f"/v1.0/teams/{teams.sales.id}/channels") == []
    assert '<optgroup label="Design">' in page and "Reviews" in page and "Assets" in page and "Wins" not in page
    assert f'value="{design.id}" selected' in page


def test_a_channel_of_the_chosen_team_is_saved_and_the_page_reopens_on_that_team(db, teams, admin_client):
    found = integration(db)
    wins = channel_of(teams.sales, "Wins")
    form = {"notify_channel": wins, "notify_event": ["timer_started"], "notify_long_entry_hours": "10",
            "notify_daily_at": "17:00", "notify_timezone": "UTC"}
    response = post_form(admin_client, f"/integrations/{found.id}/settings", form,
                         page=f"/integrations/{found.id}/settings?notify_group={teams.sales.id}")
    assert response.status_code == 302
    assert integration(db).settings["notify_channel"] == wins
    page = admin_client.get(f"/integrations/{found.id}/settings").get_data(as_text=True)
    assert f'value="{teams.sales.id}" selected' in page and f'value="{wins}" selected' in page


def test_a_channel_of_a_team_the_account_left_is_refused(db, teams, admin_client):
    found = integration(db)
    left = next(t for t in teams.teams.values() if t.name == "Left")
    response = post_form(admin_client, f"/integrations/{found.id}/settings", {
        "notify_channel": channel_of(left, "General"), "notify_long_entry_hours": "10",
        "notify_daily_at": "17:00", "notify_timezone": "UTC"}, page=f"/integrations/{found.id}/settings")
    assert response.status_code == 422 and "Choose one of the listed channels" in response.get_data(as_text=True)
    assert "notify_channel" not in (integration(db).settings or {})


def test_the_setup_page_says_messages_are_posted_as_the_connecting_account(db, teams, admin_client):
    page = admin_client.get(f"/admin/integrations/{SLUG}").get_data(as_text=True)
    assert "posted as the account that connects" in page and "service account" in page


def test_a_notification_is_posted_once_as_html(db, app, teams, admin):
    app.config["TIMEHUB_EXTERNAL_URL"] = "https://timehub.example"
    found = integration(db)
    found.settings = {**found.settings, "notify_channel": channel_of(teams.sales, "Wins"),
                      "notify_events": ["timer_started"]}
    db.session.commit()
    time_service.start_timer(admin, description="Fish & <chips>")
    assert teams.messages == []
    assert notification_service.deliver(found.id) == (1, None)
    assert notification_service.deliver(found.id) == (0, None)
    [message] = teams.messages
    assert message.content_type == "html" and message.team_id == teams.sales.id
    assert "<strong>Ada Admin started a timer</strong>" in message.content
    assert "Fish &amp; &lt;chips&gt;" in message.content and 'href="https://timehub.example/"' in message.content


def timer_notices_to_ops(db, teams) -> Integration:
    """Started timers announced in Operations' General channel."""
    found = integration(db)
    found.settings = {**found.settings, "notify_channel": channel_of(teams.ops, "General"),
                      "notify_events": ["timer_started"]}
    db.session.commit()
    return found


def test_a_429_then_a_503_are_retried_and_the_message_posted_once(db, teams, admin):
    found = timer_notices_to_ops(db, teams)
    time_service.start_timer(admin)
    teams.throttle_next(1, retry_after=1)  # the client waits it out itself
    teams.fail_next(1)                     # a POST is not repeated on 5xx: the job tries again later
    assert notification_service.deliver(found.id) == (0, None)
    db.session.expire_all()
    row = db.session.scalars(select(Notification)).one()
    assert (row.status, row.attempts) == ("pending", 1)
    row.next_attempt_at = utcnow()
    db.session.commit()
    assert notification_service.deliver(found.id) == (1, None)
    assert len(teams.messages) == 1


def test_the_test_message_reports_a_missing_channel(db, teams, admin_client):
    found = integration(db)
    response = post_form(admin_client, f"/integrations/{found.id}/test-message",
                         {"notify_channel": f"{teams.sales.id}/19:gone@thread.tacv2"},
                         page=f"/integrations/{found.id}/settings", follow_redirects=True)
    assert "cannot find that team or channel" in response.get_data(as_text=True)
    assert teams.messages == []


def test_a_missing_send_permission_is_shown_on_the_test_message(db, teams, admin_client):
    for grant in teams.oauth_fake.active_grants():
        grant.scope = grant.scope.replace("ChannelMessage.Send", "")
    found = integration(db)
    response = post_form(admin_client, f"/integrations/{found.id}/test-message",
                         {"notify_channel": channel_of(teams.sales, "General")},
                         page=f"/integrations/{found.id}/settings", follow_redirects=True)
    assert "ChannelMessage.Send" in response.get_data(as_text=True)


def test_a_message_graph_stored_but_never_answered_is_not_posted_again(db, teams, admin):
    found = timer_notices_to_ops(db, teams)
    time_service.start_timer(admin)
    teams.lose_answers_next(1)
    assert notification_service.deliver(found.id) == (0, None)
    db.session.expire_all()
    row = db.session.scalars(select(Notification)).one()
    assert row.status == "failed" and "may have been posted" in row.last_error
    row.next_attempt_at = utcnow()
    db.session.commit()
    assert notification_service.deliver(found.id) == (0, None)
    assert len(teams.messages) == 1
