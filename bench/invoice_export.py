"""invoice_export: N issued invoices of one client exported to the fake QuickBooks or Xero.

The client is linked first (its customer created), then N invoices are issued and pushed
through the outbox by `push_pending` runs, with `--faults` of the requests meeting a fault
(half answer 503, half do the work and lose the answer). The provider's minute is shrunk
to `--window` seconds with its limit unchanged, so a run of 500 takes seconds rather than
minutes; TimeHub's budget is the spec's (a little under the limit) over the same window.

JSON: invoices, remote invoices, duplicates, requests per invoice (invoice writes and the
look-ups they needed, over invoices; 1 is one create each), achieved requests/s against
the provider's limit, 429 answers.
"""
from __future__ import annotations

import argparse
import time
from datetime import timedelta
from decimal import Decimal

from bench.harness import bench_app, emit, say

CALLBACK = "http://127.0.0.1/integrations/{slug}/callback"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", choices=("quickbooks", "xero"), default="xero")
    parser.add_argument("--invoices", type=int, default=500)
    parser.add_argument("--faults", type=float, default=0.2, help="share of requests meeting a fault (0.2)")
    parser.add_argument("--window", type=float, default=1.0,
                        help="seconds the provider's per-minute limit is counted over (default 1)")


def _connect(fake, slug: str):
    """Connected as the OAuth callback would: the real code flow against the fake."""
    import httpx2

    from app.extensions import db
    from app.integrations import oauth, registry
    from app.integrations.capabilities import BOOKING_SETTING
    from app.models import Integration
    from app.services import token_service
    from tests.oauth_steps import query

    spec = registry.get_spec(slug)
    provider = oauth.OAuthProvider.build(spec, fake.oauth.client_id, fake.oauth.client_secret)
    session: dict = {}
    url = oauth.start_authorization(provider, session, user_id=None, redirect_uri=CALLBACK.format(slug=slug))
    params = query(httpx2.get(url, follow_redirects=False).headers["Location"])
    pending = oauth.take_pending(session, slug=slug, user_id=None, state=params["state"])
    token = oauth.exchange_code(provider, pending, params["code"])
    facts = ({"realm_id": fake.realm_id, "environment": "quickbooks"} if slug == "quickbooks"
             else {"tenant_id": fake.tenant_id})
    integration = Integration(provider=slug, is_global=True, status="active", connection_facts=facts,
                              settings={BOOKING_SETTING: {"default": "1" if slug == "quickbooks" else "200|OUTPUT2"}})
    db.session.add(integration)
    db.session.flush()
    token_service.store_tokens(integration, token)
    db.session.commit()
    return integration


def _issue_invoices(count: int):
    from app.extensions import db
    from app.models import Client, Project, TimeEntry
    from app.models.base import utcnow
    from app.services import invoice_service
    from app.services.invoice_service import InvoiceRequest
    from app.services.sync_service import record_change
    from app.services.user_service import create_user

    user = create_user(email="bench@example.com", password="export run passphrase 123")
    client = Client(name="Bench client", email="ap@bench.test", currency="EUR")
    db.session.add(client)
    db.session.flush()
    record_change(db.session, "client", client, "upsert")
    project = Project(name="Bench project", client_id=client.id, hourly_rate=Decimal("90"))
    db.session.add(project)
    db.session.flush()
    today = utcnow().replace(hour=9, minute=0, second=0, microsecond=0)
    for day in range(count):
        start = today - timedelta(days=day + 1)
        db.session.add(TimeEntry(user_id=user.id, project_id=project.id, started_at=start,
                                 ended_at=start + timedelta(hours=1), billable=True))
    db.session.commit()
    return client, [(today - timedelta(days=day + 1)).date() for day in range(count)], invoice_service, InvoiceRequest


def run(args: argparse.Namespace) -> None:
    import os

    from sqlalchemy import select, update

    from app.extensions import db
    from app.integrations import ratelimit, registry
    from app.models import ExternalLink, Invoice, OutboxItem
    from app.models.base import utcnow
    from app.services import accounting_service, export_gate
    from app.services.sync_service import push_pending
    from tests.fakes.quickbooks import FakeQuickBooks
    from tests.fakes.xero import FakeXero

    slug = args.provider
    fake_class = FakeQuickBooks if slug == "quickbooks" else FakeXero
    with bench_app(), fake_class(redirect_uris=(CALLBACK.format(slug=slug),)) as fake:
        for name, value in fake.env(slug).items():
            os.environ[name] = value
        spec_limit = registry.get_spec(slug).rate_limit
        provider_limit = fake.accounting.minute_limit
        fake.accounting.window = args.window
        ratelimit.overrides[slug] = ratelimit.RateLimit(spec_limit.requests, args.window, spec_limit.max_concurrent)
        integration = _connect(fake, slug)
        client, days, invoice_service, InvoiceRequest = _issue_invoices(args.invoices)
        push_pending(integration.id)  # the customer, linked before the invoices
        numbers = []
        for day in days:
            invoice = invoice_service.create_invoice(InvoiceRequest(client_id=client.id, start=day, end=day,
                                                                    issue_date=day))
            invoice_service.move_to(invoice, "issued")
            numbers.append(invoice.number)
        # A client's first export waits for its preview (app/services/export_gate.py): the admin
        # looks at the first invoice's and confirms it, as on its page; then the client's go.
        first = db.session.scalars(select(Invoice).where(Invoice.number == numbers[0])).one()
        accounting_service.confirm_first_export(first, integration,
                                                export_gate.digest(accounting_service.preview(first, integration)))
        fake.api.clear()
        fake.accounting.fault_rate = args.faults
        say(f"{len(numbers)} invoices issued; pushing to the fake {slug} with {args.faults:.0%} faults, "
            f"{provider_limit} requests per {args.window:g} s")
        started = time.perf_counter()
        for _ in range(20):  # items whose retries ran out wait for the next run
            db.session.execute(update(OutboxItem).where(OutboxItem.status == "pending")
                               .values(next_attempt_at=utcnow()))
            db.session.commit()
            push_pending(integration.id)
            if not db.session.query(OutboxItem).filter(OutboxItem.status == "pending").count():
                break
        seconds = time.perf_counter() - started
        fake.accounting.fault_rate = 0.0
        remote = [len(fake.accounting.by_number(number)) for number in numbers]
        linked = db.session.query(ExternalLink).filter(ExternalLink.local_kind == "invoice").count()
        requests = len(fake.api.requests)
        exported = sum(1 for n in remote if n >= 1)
        emit({
            "provider": slug,
            "invoices": len(numbers),
            "exported": exported,
            "linked": linked,
            "duplicates": sum(n - 1 for n in remote if n > 1),
            "failed": db.session.query(OutboxItem).filter(OutboxItem.status == "failed").count(),
            "requests_per_invoice": round(requests / len(numbers), 2),
            "achieved_per_s": round(requests / seconds, 1),
            "limit_per_s": round(provider_limit / args.window, 1),
            "responses_429": fake.accounting.rate_limited,
            "dropped_answers": fake.accounting.dropped,
            "seconds": round(seconds, 2),
        })
        if exported < len(numbers):  # a run that exported less measured something else: fail it
            raise SystemExit(f"only {exported} of {len(numbers)} invoices reached the fake {slug}")
