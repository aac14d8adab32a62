"""Outlook (Graph) change notifications, over real HTTP both ways: the connector subscribes to
the team calendar's events, the fake Graph checks TimeHub's served address with a
validationToken (answered as text/plain), then POSTs notifications carrying the clientState;
the intake verifies it and a notification queues an incremental delta read. The subscription is
renewed before it expires, moved with the team calendar and deleted on disconnect."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx2
import pytest
from sqlalchemy import select

from app.integrations import outlook_calendar
from app.models import Integration, WebhookDelivery
from app.services.integration_service import IntegrationService
from app.services.sync_service import NOTIFIED_TRIGGER
from tests.integration.test_github_sync import live_app, process_deliveries  # noqa: F401
from tests.integration.test_google_calendar_push import queued_pulls
from tests.integration.test_outlook_calendar import delta_calls, graph, soon, sync, team, titles_for  # noqa: F401

@pytest.fixture(autouse=True)
def loopback_is_notifiable(monkeypatch):
    """The fakes call TimeHub over plain-HTTP loopback; the real providers need HTTPS."""
    monkeypatch.setattr(outlook_calendar, "NOTIFIED_SCHEMES", ("https", "http"))


SLUG = "outlook_calendar"


def subscription_of(db, integration) -> dict:
    db.session.expire_all()
    return (db.session.get(Integration, integration.id).connector_state or {}).get("subscription") or {}


def test_the_team_calendar_is_subscribed_validated_notified_and_read_at_once(db, app, graph, team,  # noqa: F811
                                                                             make_user, live_app):
    ann = make_user("ann@example.com", name="Ann")
    sync(team)
    [sub] = graph.subscriptions.values()
    assert graph.validations == [(200, "text/plain; charset=utf-8")]
    assert sub["notificationUrl"] == f"{live_app}/webhooks/{SLUG}/{team.webhook_token}"
    assert sub["resource"] == "me/events" and len(sub["clientState"]) <= 128
    assert subscription_of(db, team)["id"] == sub["id"]
    assert db.session.scalar(select(WebhookDelivery.id)) is None, "the handshake stores nothing"

    graph.add_event("Planning", soon(1), attendees=("ann@example.com",))
    assert graph.deliver_notifications() == [202]
    assert graph.deliver_notifications() == []
    assert process_deliveries(db) == 1
    assert queued_pulls(app, team) == 1
    graph.api.clear()
    from app.jobs import sync_integration
    sync_integration.call_local(team.id, trigger=NOTIFIED_TRIGGER)
    [call] = delta_calls(graph)
    assert "$deltatoken" in call, "the notified read continues from the delta link"
    assert titles_for(db, ann) == ["Planning"]


def test_a_notification_with_a_wrong_client_state_or_subscription_is_refused(db, app, graph, team, live_app):  # noqa: F811
    sync(team)
    [sub] = graph.subscriptions.values()
    address = sub["notificationUrl"]

    def note(**changed):
        return {"value": [{"subscriptionId": sub["id"], "clientState": sub["clientState"], "changeType": "updated",
                           "resource": "Users/u-1/Events/x", **changed}]}
    assert httpx2.post(address, json=note(clientState=sub["clientState"][:-1] + "x")).status_code == 401
    assert httpx2.post(address, json=note(clientState=None)).status_code == 401
    assert httpx2.post(address, json=note(subscriptionId="sub-other")).status_code == 401
    assert httpx2.post(address, json={"value": []}).status_code == 400
    assert httpx2.post(address, params={"validationToken": "x" * 2000}, content=b"").status_code == 400
    assert db.session.scalar(select(WebhookDelivery.id)) is None
    assert httpx2.post(address, json=note()).status_code == 202
    assert httpx2.post(address, json=note()).status_code == 200  # the same notification again: stored once
    assert len(db.session.scalars(select(WebhookDelivery)).all()) == 1
    # An address nobody configured echoes nothing.
    unknown = f"{address.rsplit('/', 1)[0]}/not-a-token"
    assert httpx2.post(unknown, params={"validationToken": "abc"}, content=b"").status_code == 404


def test_the_subscription_is_renewed_moved_and_deleted(db, app, graph, team, admin, live_app):  # noqa: F811
    sync(team)
    first = subscription_of(db, team)
    sync(team)
    assert subscription_of(db, team) == first and len(graph.validations) == 1

    stored = db.session.get(Integration, team.id)
    near = (datetime.now(timezone.utc) + timedelta(hours=5)).isoformat()
    stored.connector_state = {"subscription": {**first, "expires": near}}
    db.session.commit()
    sync(team)
    renewed = subscription_of(db, team)
    assert renewed["id"] == first["id"] and datetime.fromisoformat(renewed["expires"]) > \
        datetime.now(timezone.utc) + timedelta(days=2)
    assert graph.subscriptions[first["id"]]["expirationDateTime"].startswith(renewed["expires"][:19])

    graph.add_calendar("AAMkTeam", "Team")
    stored = db.session.get(Integration, team.id)
    stored.settings = {**(stored.settings or {}), outlook_calendar.TEAM_CALENDAR_SETTING: "AAMkTeam"}
    db.session.commit()
    sync(team)
    [moved] = graph.subscriptions.values()
    assert moved["resource"] == "me/calendars/AAMkTeam/events" and moved["id"] != first["id"]

    IntegrationService().disconnect(admin, SLUG)
    assert graph.subscriptions == {} and subscription_of(db, team) == {}

