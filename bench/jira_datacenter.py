"""sync_import / sync_noop --provider jira_datacenter: N issues over 2 projects seeded at the
fake Jira Data Center (tests/fakes/jira_datacenter.py; for sync_import in a process of its
own, bench.remote_jira, so that `cpu_ms_per_record` is TimeHub's CPU alone, as for Jira Cloud), one
connection made as an admin makes it (the setup page's save without an OAuth app, then the
personal-access-token form's service call), the projects allowed, the real connector, its
bearer auth and (unless lifted) its request budget.

`requests` counts the REST calls the import or re-sync made (the token check at connect
time aside); `min_requests` is ceil(N / 50) searches (one JQL over every allowed project,
startAt paging at Data Center's cap of 50) plus the fixed calls named below.
"""
from __future__ import annotations

import math
import os
import time
import uuid
from contextlib import contextmanager

from bench.harness import (
    JIRA_PROJECTS,
    UNREACHED_REQUESTS_PER_SECOND,
    bench_app,
    current_rss_mb,
    emit,
    peak_rss_mb,
    say,
    seed_jira,
)

SLUG = "jira_datacenter"
BASE_URL = "https://jira.example.com"  # what the admin enters; JIRA_DATACENTER_API_BASE reaches the fake
# A first import: GET /rest/api/2/project (the projects stream: every project in one answer)
# and GET /rest/api/2/myself (the account's time zone, which JQL dates are read in; asked once,
# then kept in the issues cursor). No webhook calls without TIMEHUB_EXTERNAL_URL.
IMPORT_FIXED = 2
# A re-sync: GET /rest/api/2/project again (renames and removals show there); no myself call.
RESYNC_FIXED = 1


def lift_budget(unlimited: bool) -> None:
    """--unlimited: TimeHub's own Data Center request budget out of the way."""
    from app.integrations import ratelimit

    if unlimited:
        ratelimit.overrides[SLUG] = ratelimit.RateLimit(UNREACHED_REQUESTS_PER_SECOND, 1.0)


@contextmanager
def seeded(records: int):
    """The fake Data Center in this process holding `records` issues over JIRA_PROJECTS
    projects, a minute apart (bench.harness.seed_jira), with the app pointed at it."""
    from tests.fakes.jira_datacenter import FakeJiraDataCenter

    with FakeJiraDataCenter(redirect_uris=(f"http://127.0.0.1/integrations/{SLUG}/callback",)) as fake:
        for name, value in fake.env().items():
            os.environ[name] = value
        seed_jira(fake, records, JIRA_PROJECTS)
        yield fake


def connect(projects: dict, token: str):
    """An admin saves the setup page (base URL, no OAuth app), connects with the personal
    access token `token`, and allows every project on the settings page."""
    from app.extensions import db
    from app.services.integration_service import IntegrationService
    from app.services.sync_service import settings_changed
    from app.services.user_service import create_user

    admin = create_user(email="bench-admin@example.com", password=f"Bench-{uuid.uuid4().hex}", admin=True)
    service = IntegrationService()
    service.save_app_credentials(admin, SLUG, {"base_url": BASE_URL, "access": "ADMIN"})
    integration = service.connect_with_token(admin, SLUG, token)
    integration.settings = {**(integration.settings or {}),
                            "allow_list": [project["id"] for project in projects.values()]}
    settings_changed(db.session, integration)
    return integration


def min_requests(records: int) -> int:
    from app.integrations.jira_datacenter import ISSUE_PAGE_SIZE

    return max(1, math.ceil(records / ISSUE_PAGE_SIZE)) + IMPORT_FIXED


def run_import(args) -> None:
    from app.services.sync_service import run_sync
    from bench.remote_jira import DATACENTER, remote_jira
    from bench.sync_import import progress_reporter

    with bench_app(), remote_jira(args.records, JIRA_PROJECTS, DATACENTER) as fake:
        lift_budget(args.unlimited)
        integration = connect(fake.projects, fake.issue_token())  # the admin's personal access token
        baseline = current_rss_mb()
        say(f"fake Jira Data Center (process of its own) at {fake.api.base_url} holds {args.records} issues in "
            f"{len(fake.projects)} projects; RSS before the import {baseline} MB; request budget "
            f"{'lifted' if args.unlimited else 'as configured'}")
        fake.api.clear()  # the token check made at connect time is not the import's
        started, cpu_started = time.perf_counter(), time.process_time()
        sync_run = run_sync(integration.id, progress=progress_reporter())
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        created = args.records + len(fake.projects)
        if sync_run.status != "succeeded" or sync_run.created != created:
            raise SystemExit(f"sync_import: the run {sync_run.status} with {sync_run.created} of {created} "
                             f"records created: {sync_run.error}")
        emit({
            "provider": SLUG,
            "records": args.records,
            "requests": fake.rest_requests(),
            "min_requests": min_requests(args.records),
            "seconds": round(seconds, 3),
            "records_per_s": round(args.records / seconds, 1),
            # CPU of TimeHub's process alone (connector, engine, database driver): the fake runs elsewhere.
            "cpu_ms_per_record": round(cpu * 1000 / args.records, 3),
            "peak_rss_mb": peak_rss_mb(),
            "rss_before_mb": baseline,
            "load_average": round(os.getloadavg()[0], 2),
        })


def run_noop(args) -> None:
    from bench.sync_noop import measure_resync

    with bench_app(), seeded(args.records) as fake:
        lift_budget(True)
        integration = connect(fake.projects, fake.personal_token(fake.me["key"]))
        fake.api.clear()
        # One search page of what changed since the newest `updated` seen (less the JQL overlap).
        measure_resync(integration.id, lambda: len(fake.api.requests), min_requests=1 + RESYNC_FIXED)
