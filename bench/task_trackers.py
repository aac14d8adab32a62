"""sync_import / sync_noop for the task trackers built on the connector contract (Asana,
Trello): N tasks or cards seeded at the provider's fake, one connection made as the setup
page and callback make it, the real connector, its auth and (unless lifted) its request
budget. `requests` counts API calls only (OAuth aside); `min_requests` is ceil(N / the
largest page) per container plus the provider's fixed calls, named below (Trello's lists call
carries the board's card ids, which ends the card paging on the page with the oldest card, so
an exact multiple of 1,000 cards costs no empty page)."""
from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager

from bench.harness import UNREACHED_REQUESTS_PER_SECOND, bench_app, current_rss_mb, emit, peak_rss_mb, say

CONTAINERS = 2
ASANA_PAGE, TRELLO_PAGE = 100, 1000
# Asana: the projects listing, the workspace's users (assignees' e-mails), one sync token per
# project, and the daily time tracking check.
ASANA_FIXED = 1 + 1 + CONTAINERS + 1
# Trello: the boards listing; per board its newest action, lists (with the card ids) and members.
TRELLO_FIXED = 1 + 3 * CONTAINERS
PROVIDERS = ("asana", "trello")


@contextmanager
def seeded(slug: str, records: int, unlimited: bool):
    from app.integrations import ratelimit

    if unlimited:
        ratelimit.overrides[slug] = ratelimit.RateLimit(UNREACHED_REQUESTS_PER_SECOND, 1.0)
    if slug == "asana":
        from tests.fakes.asana import FakeAsana

        with FakeAsana(redirect_uris=("http://127.0.0.1/integrations/asana/callback",)) as fake:
            for name, value in fake.env().items():
                os.environ[name] = value
            projects = [fake.add_project(f"Project {n}") for n in range(CONTAINERS)]
            for number in range(records):
                fake.add_task(projects[number % CONTAINERS], f"Task {number}")
            yield fake, [p["gid"] for p in projects]
    else:
        from tests.fakes.trello import FakeTrello

        with FakeTrello() as fake:
            os.environ["TRELLO_API_BASE"] = fake.api_base
            member = fake.add_member("Bench Member", "bench")
            boards = [fake.add_board(f"Board {n}", member) for n in range(CONTAINERS)]
            lists = [fake.add_list(board, "To do") for board in boards]
            for number in range(records):
                fake.add_card(lists[number % CONTAINERS], f"Card {number}")
            fake.bench_member = member
            yield fake, [b.id for b in boards]


def make_integration(slug: str, fake, containers: list[str]):
    import time as clock

    from app.extensions import db
    from app.models import Integration, IntegrationCredential, ProviderApp
    from app.services import token_service

    integration = Integration(provider=slug, is_global=True, status="active", account_label="bench",
                              settings={"allow_list": containers})
    if slug == "asana":
        from app.integrations.oauth import TokenSet
        from tests.fakes.asana import issue_token

        provider_app = ProviderApp(provider="asana", client_id=fake.oauth.client_id)
        provider_app.payload = {"client_secret": fake.oauth.client_secret}
        db.session.add(provider_app)
        integration.connection_facts = {"workspace_gid": fake.workspace["gid"], "asana_user_gid": fake.me["gid"]}
        token_service.store_tokens(integration, TokenSet(access_token=issue_token(fake),
                                                         expires_at=int(clock.time()) + 3600))
    else:
        key, token = fake.add_credentials(fake.bench_member)
        integration.credential = IntegrationCredential(kind="api_key")
        integration.credential.payload = {"api_key": key, "token": token}
    db.session.add(integration)
    db.session.commit()
    return integration


def api_requests(slug: str, fake) -> int:
    return len(fake.requests)


def run_import(args) -> None:
    from app.services.sync_service import run_sync

    slug = args.provider
    with bench_app(), seeded(slug, args.records, args.unlimited) as (fake, containers):
        integration = make_integration(slug, fake, containers)
        baseline = current_rss_mb()
        say(f"fake {slug} holds {args.records} records in {CONTAINERS} containers; request budget "
            f"{'lifted' if args.unlimited else 'as configured'}")
        before = api_requests(slug, fake)
        started, cpu_started = time.perf_counter(), time.process_time()
        sync_run = run_sync(integration.id)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        created = args.records + CONTAINERS
        if sync_run.status != "succeeded" or sync_run.created != created:
            raise SystemExit(f"sync_import: the run {sync_run.status} with {sync_run.created} of {created} "
                             f"records created: {sync_run.error}")
        page, fixed = (ASANA_PAGE, ASANA_FIXED) if slug == "asana" else (TRELLO_PAGE, TRELLO_FIXED)
        per_container = math.ceil(args.records / CONTAINERS / page)
        emit({
            "provider": slug,
            "records": args.records,
            "requests": api_requests(slug, fake) - before,
            "min_requests": CONTAINERS * per_container + fixed,
            "seconds": round(seconds, 3),
            "records_per_s": round(args.records / seconds, 1),
            "ms_per_record": round(seconds * 1000 / args.records, 3),
            # CPU of this process (the connector, the engine, the database driver and the fake
            # serving its pages in the same process): less bound to the machine's load than seconds.
            "cpu_ms_per_record": round(cpu * 1000 / args.records, 3),
            "peak_rss_mb": peak_rss_mb(),
            "rss_before_mb": baseline,
        })


def run_noop(args) -> None:
    from bench.sync_noop import measure_resync

    slug = args.provider
    with bench_app(), seeded(slug, args.records, True) as (fake, containers):
        integration = make_integration(slug, fake, containers)
        measure_resync(integration.id, lambda: api_requests(slug, fake))
