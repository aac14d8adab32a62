"""Xero's daily limit (5,000 calls per organisation): TimeHub reads what every answer says
is left (`X-DayLimit-Remaining`), stops before the limit, says so on the integration page,
and resumes once the day has freed up, without using up the waiting changes' attempts.
Real HTTP to the fake Xero (tests/fakes/xero_accounting.py), which counts the day as Xero
does and answers 429 with `X-Rate-Limit-Problem: day` past it."""
from __future__ import annotations

import html
from datetime import timedelta

import pytest
import redis

from app.integrations import ratelimit, xero
from app.models import Invoice
from app.models.base import utcnow
from app.services import invoice_service
from tests.integration.test_accounting_sync import (  # noqa: F401 (fixture)
    billable_client,
    draft_for,
    integration_of,
    outbox,
    push,
    side,
)

pytestmark = pytest.mark.parametrize("side", ["xero"], indirect=True)


def issued_invoices(db, admin, count: int) -> list[Invoice]:
    clients = [billable_client(db, admin, name=f"Client {n}", email="") for n in range(count)]
    invoices = [draft_for(client) for client in clients]
    for invoice in invoices:
        invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    return invoices


def the_day_passes(app, side, integration) -> None:
    """Xero's rolling day frees up and TimeHub's pause ends, as they would an hour later."""
    side.api.day_calls = 0
    budget = f"{app.config['TIMEHUB_QUEUE_NAME']}:xero:{integration.id}"
    if app.config.get("REDIS_URL"):
        connection = redis.Redis.from_url(app.config["REDIS_URL"])
        connection.delete(f"timehub:ratelimit:{budget}:hold")
        connection.close()
    else:
        ratelimit._local_limiters[budget]._held_until = 0.0


def test_exports_stop_before_the_day_limit_say_so_and_resume_when_it_frees(app, db, admin, admin_client, side):
    # Two calls of the day left above the reserve: the client's contact look-up and its creation.
    side.api.day_limit = xero.DAY_RESERVE + 2
    invoices = issued_invoices(db, admin, 1)
    push(db, side.slug)

    assert side.api.rate_limited == 0  # stopped before Xero had to refuse anything
    assert side.api.day_calls == 2 and side.invoices(invoices[0].number) == []
    waiting = outbox(db, "invoice")
    assert [(item.status, item.attempts) for item in waiting] == [("pending", 0)]
    assert waiting[0].next_attempt_at > utcnow() + timedelta(minutes=50)
    integration = integration_of(db, side.slug)
    assert "daily limit" in integration.last_error and "waiting changes go from about" in integration.last_error
    page = html.unescape(admin_client.get("/integrations").get_data(as_text=True))
    assert "Xero's daily limit of 5,000 calls is nearly used up" in page

    # Nothing is sent while the pause lasts, however often the push runs.
    push(db, side.slug)
    assert side.api.day_calls == 2

    the_day_passes(app, side, integration)
    push(db, side.slug)
    assert len(side.invoices(invoices[0].number)) == 1
    assert [item.status for item in outbox(db, "invoice")] == ["done"]
    assert integration_of(db, side.slug).last_error is None


def test_a_day_limit_429_pauses_every_change_and_counts_no_attempt(app, db, admin, side):
    """Another app used up the organisation's day: Xero's 429 names the day limit, and one
    refusal is all it takes for TimeHub to stop asking."""
    invoices = issued_invoices(db, admin, 3)
    side.api.day_limit = 0
    push(db, side.slug)

    assert side.api.rate_limited == 1
    assert all(item.status == "pending" and item.attempts == 0 for item in outbox(db, "client"))
    error = integration_of(db, side.slug).last_error
    assert error.startswith("Xero's daily limit of 5,000 calls for this organisation is used up; waiting changes go")

    side.api.day_limit = 5000
    the_day_passes(app, side, integration_of(db, side.slug))
    push(db, side.slug)
    assert all(len(side.invoices(invoice.number)) == 1 for invoice in invoices)
