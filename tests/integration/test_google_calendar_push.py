"""Google Calendar push notifications, over real HTTP both ways: the connector watches each
calendar read (events.watch, checked against google-calendar.json by the fake), the fake calls
TimeHub's served webhook address with its X-Goog-* headers, the intake checks the channel's
token, and a change notification queues an incremental pull (the periodic sync stays the safety
net). Channels are renewed before they expire and stopped on disconnect."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx2
import pytest
from sqlalchemy import select

from app.integrations import google_calendar
from app.models import Integration, WebhookDelivery
from app.services.integration_service import IntegrationService
from app.services.sync_service import NOTIFIED_TRIGGER
from tests.integration.test_github_sync import live_app, process_deliveries  # noqa: F401
from tests.integration.test_google_calendar import (  # noqa: F401
    connect, event_at, event_list_calls, google, soon, suggested_titles, sync,
)

@pytest.fixture(autouse=True)
def loopback_is_notifiable(monkeypatch):
    """The fakes call TimeHub over plain-HTTP loopback; the real providers need HTTPS."""
    monkeypatch.setattr(google_calendar, "NOTIFIED_SCHEMES", ("https", "http"))


SLUG = "google_calendar"


def queued_pulls(app, integration) -> int:
    return sum(1 for task in app.extensions["timehub.jobs"].pending()
               if task.name == "sync_integration" and task.args[0] == integration.id
               and task.kwargs.get("trigger") == NOTIFIED_TRIGGER)


def channels_of(db, integration) -> dict:
    db.session.expire_all()
    return (db.session.get(Integration, integration.id).connector_state or {}).get("channels") or {}


def test_a_change_at_google_is_notified_verified_and_pulled_at_once(db, app, google, make_user, live_app):  # noqa: F811
    ann = make_user("ann@example.com", name="Ann")
    integration = connect(db, google, ann, "ann@gmail.example")
    sync(integration)
    [channel] = google.channels.values()
    assert channel["address"] == f"{live_app}/webhooks/{SLUG}/{integration.webhook_token}"
    assert channel["calendar"] == "ann@gmail.example" and channel["token"]
    assert set(channels_of(db, integration)) == {"primary"}

    assert google.deliver_notifications() == [200]  # the "sync" message confirming the channel
    assert process_deliveries(db) == 1
    assert queued_pulls(app, integration) == 0, "a sync message asks for nothing"

    event_at(google, "ann@gmail.example", "Late meeting", soon(14))
    assert google.deliver_notifications() == [200]
    assert process_deliveries(db) == 1
    assert queued_pulls(app, integration) == 1
    google.api.clear()
    from app.jobs import sync_integration
    sync_integration.call_local(integration.id, trigger=NOTIFIED_TRIGGER)  # what the queued job does
    [call] = event_list_calls(google, "ann@gmail.example")
    assert "syncToken" in call, "the notified pull is incremental"
    assert suggested_titles(db, ann) == ["Late meeting"]
    assert [d.event for d in db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))] == \
        ["sync", "exists"]


def test_a_notification_with_a_wrong_token_or_channel_is_refused_and_stored_nowhere(db, app, google, make_user,  # noqa: F811
                                                                                   live_app):
    ann = make_user("ann@example.com", name="Ann")
    integration = connect(db, google, ann, "ann@gmail.example")
    sync(integration)
    [channel] = google.channels.values()
    address = channel["address"]
    good = {"X-Goog-Channel-ID": channel["id"], "X-Goog-Channel-Token": channel["token"],
            "X-Goog-Resource-ID": channel["resourceId"], "X-Goog-Resource-State": "exists",
            "X-Goog-Message-Number": "7"}
    for changed in ({"X-Goog-Channel-Token": channel["token"][:-1] + "x"}, {"X-Goog-Channel-Token": ""},
                    {"X-Goog-Channel-ID": "someone-elses-channel"}, {"X-Goog-Resource-ID": "res-other"}):
        assert httpx2.post(address, headers={**good, **changed}, content=b"").status_code == 401
    without_token = {k: v for k, v in good.items() if k != "X-Goog-Channel-Token"}
    assert httpx2.post(address, headers=without_token, content=b"").status_code == 401
    assert httpx2.post(address, headers={**good, "X-Goog-Resource-State": "bogus"}, content=b"").status_code == 400
    assert httpx2.post(address, headers={**good, "X-Goog-Message-Number": "x"}, content=b"").status_code == 400
    assert db.session.scalar(select(WebhookDelivery.id)) is None
    # The genuine one is taken once; its replay is answered but stored no second time.
    assert httpx2.post(address, headers=good, content=b"").status_code == 200
    assert httpx2.post(address, headers=good, content=b"").status_code == 200
    assert len(db.session.scalars(select(WebhookDelivery)).all()) == 1


def test_channels_are_renewed_before_expiry_follow_the_calendars_read_and_stop_on_disconnect(  # noqa: F811
        db, app, google, make_user, live_app):
    ann = make_user("ann@example.com", name="Ann")
    google.calendar("ann@gmail.example", "work@group.example", "Work")
    integration = connect(db, google, ann, "ann@gmail.example")
    sync(integration)
    first = channels_of(db, integration)["primary"]

    sync(integration)  # nothing near expiry: nothing watched again
    assert channels_of(db, integration)["primary"]["id"] == first["id"] and google.stopped == []

    # Less than a day left: a new channel is watched, then the old one stopped.
    stored = db.session.get(Integration, integration.id)
    soon_ms = int((datetime.now(timezone.utc) + timedelta(hours=20)).timestamp() * 1000)
    stored.connector_state = {"channels": {"primary": {**first, "expires_ms": soon_ms}}}
    db.session.commit()
    sync(integration)
    renewed = channels_of(db, integration)["primary"]
    assert renewed["id"] != first["id"] and google.stopped == [first["id"]]
    assert set(google.channels) == {renewed["id"]}
    expires = datetime.fromtimestamp(renewed["expires_ms"] / 1000, timezone.utc)
    assert expires > datetime.now(timezone.utc) + timedelta(days=6)

    # Reading another calendar instead: its channel replaces the primary one's.
    stored = db.session.get(Integration, integration.id)
    stored.settings = {**(stored.settings or {}), "allow_list": ["work@group.example"]}
    db.session.commit()
    sync(integration)
    assert set(channels_of(db, integration)) == {"work@group.example"}
    assert renewed["id"] in google.stopped
    assert [c["calendar"] for c in google.channels.values()] == ["work@group.example"]

    IntegrationService().disconnect(ann, SLUG)
    assert google.channels == {}
    assert channels_of(db, integration) == {}


def test_without_a_public_https_address_nothing_is_watched(db, app, google, make_user, monkeypatch):
    ann = make_user("ann@example.com", name="Ann")
    integration = connect(db, google, ann, "ann@gmail.example")
    sync(integration)
    assert google.channels == {} and channels_of(db, integration) == {}
    monkeypatch.setattr(google_calendar, "NOTIFIED_SCHEMES", ("https",))  # as in production
    app.config["TIMEHUB_EXTERNAL_URL"] = "http://timehub.example"  # Google would refuse to call it
    sync(integration)
    assert google.channels == {} and channels_of(db, integration) == {}
    facts = google_calendar.GoogleCalendarConnector.status_facts({})
    assert facts == [("Push notifications", "none: changes arrive with the periodic sync")]
