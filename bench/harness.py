"""What every benchmark needs: a throw-away TimeHub (instance folder, migrated
database, app, job queue) with the generic paged fake registered as a provider.

The database is a SQLite file in a temporary folder, or, when DATABASE_URL
names a PostgreSQL server, a fresh database created on it for the run and
dropped afterwards (the benchmark never touches existing data).
"""
from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import database_url as configured_database_url

PAGED_SLUG = "paged"
UNREACHED_REQUESTS_PER_SECOND = 1_000_000


def say(message: str) -> None:
    """Human progress: stderr, so stdout keeps only the JSON result."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(result: dict) -> None:
    print(json.dumps(result), flush=True)


def peak_rss_mb() -> float:
    """The process's peak resident set size so far (ru_maxrss is KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


@dataclass
class Bench:
    app: Flask
    instance: Path
    database_url: str


@contextmanager
def _database(instance: Path) -> Iterator[str]:
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        yield f"sqlite:///{instance / 'bench.db'}"
        return
    server = make_url(configured_database_url(instance))  # psycopg 3 driver, as the app would use
    name = f"timehub_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def bench_app() -> Iterator[Bench]:
    """A migrated TimeHub app inside its app context, gone afterwards."""
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db

    with tempfile.TemporaryDirectory(prefix="timehub-bench-") as folder:
        instance = Path(folder)
        os.environ["TIMEHUB_INSTANCE"] = str(instance)
        os.environ.setdefault("TIMEHUB_ENCRYPTION_KEYS", Fernet.generate_key().decode())
        os.environ.setdefault("TIMEHUB_SECRET_KEY", uuid.uuid4().hex)
        with _database(instance) as url:
            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(instance),
                              "TIMEHUB_QUEUE_NAME": f"bench-{uuid.uuid4().hex[:12]}"})
            say(f"database: {make_url(url).get_backend_name()}; instance: {instance}; "
                f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
            with app.app_context():
                upgrade()
                try:
                    yield Bench(app, instance, url)
                finally:
                    db.session.remove()
                    db.engine.dispose()
                    app.extensions["timehub.jobs"].storage.flush_all()


def register_paged_fake(api_base: str, requests_per_second: int | None = None):
    """Plug the fake's connector in as provider "paged", reached at `api_base`.

    connector_for gives every client the provider's rate limit (ProviderSpec.rate_limit):
    declare the limit the fake enforces, or, when it enforces none, one it never reaches,
    so the benchmark measures the engine rather than an unknown provider's default budget."""
    from app.integrations import ratelimit, registry
    from tests.fakes.paged_connector import PagedConnector

    registry._CONNECTORS[PAGED_SLUG] = PagedConnector
    os.environ["PAGED_API_BASE"] = api_base
    ratelimit.overrides[PAGED_SLUG] = ratelimit.RateLimit(requests_per_second or UNREACHED_REQUESTS_PER_SECOND, 1.0)
    return PagedConnector


def make_paged_integration(webhook_secret: str = "whsec-bench"):
    """An active global integration of the fake, with an API key credential."""
    from app.extensions import db
    from app.models import Integration, IntegrationCredential

    integration = Integration(provider=PAGED_SLUG, is_global=True, status="active", settings={})
    integration.credential = IntegrationCredential(kind="api_key")
    integration.credential.payload = {"token": "paged-token", "webhook_secret": webhook_secret}
    db.session.add(integration)
    db.session.commit()
    return integration


# -- Jira: the fake Jira Cloud (tests/fakes/jira.py) and a connected integration -------------

JIRA_LARGEST_PAGE = 100     # the most Jira's enhanced search returns per page with fields asked for
JIRA_PROJECTS = 2


@contextmanager
def jira_fake(records: int, *, projects: int = JIRA_PROJECTS, unlimited: bool = False):
    """The fake Jira holding `records` issues over `projects` projects, each updated a minute
    before the next (as an old site's issues are), with the app pointed at it through the
    JIRA_* endpoint variables. `unlimited` lifts TimeHub's own Jira request budget
    (ratelimit.overrides) to measure the engine rather than the budget."""
    from app.integrations import ratelimit
    from tests.fakes.jira import FakeJira

    with FakeJira(redirect_uris=("http://127.0.0.1/integrations/jira/callback",)) as fake:
        for name, value in fake.env().items():
            os.environ[name] = value
        if unlimited:
            ratelimit.overrides["jira"] = ratelimit.RateLimit(UNREACHED_REQUESTS_PER_SECOND, 1.0)
        seed_jira(fake, records, projects)
        yield fake


def seed_jira(fake, records: int, projects: int = JIRA_PROJECTS) -> None:
    """`records` issues over `projects` projects, each updated a minute before the next."""
    from datetime import datetime, timedelta, timezone

    keys = [f"P{number}" for number in range(projects)]
    for key in keys:
        fake.add_project(key, f"Project {key}")
    oldest = datetime.now(timezone.utc) - timedelta(minutes=records + 10)
    for number in range(records):
        fake.add_issue(keys[number % projects], f"Issue {number}", updated=oldest + timedelta(minutes=number))


def make_jira_integration(fake):
    """An active Jira connection to the fake's first site, allowing every project: its OAuth
    app saved as the setup page saves it, a live access token stored as the callback stores it."""
    import time as clock

    from app.extensions import db
    from app.integrations.oauth import TokenSet
    from app.models import Integration, ProviderApp
    from app.services import token_service

    provider_app = ProviderApp(provider="jira", client_id=fake.oauth.client_id)
    provider_app.payload = {"client_secret": fake.oauth.client_secret}
    db.session.add(provider_app)
    site = fake.sites[0]
    integration = Integration(provider="jira", is_global=True, status="active", account_label=site["name"],
                              connection_facts={"cloud_id": site["id"], "site_url": site["url"],
                                                "site_name": site["name"]},
                              settings={"allow_list": [project["id"] for project in fake.projects.values()]})
    token_service.store_tokens(integration, TokenSet(access_token=fake.issue_token(),
                                                     expires_at=int(clock.time()) + 3600))
    db.session.add(integration)
    db.session.commit()
    return integration


def jira_rest_requests(fake) -> int:
    """Requests that reached Jira's REST API (the gateway's /ex/jira/...), token calls aside."""
    return sum(1 for recorded in fake.api.requests if recorded.path.startswith("/ex/jira/"))


# -- GitHub and GitLab: their fakes (tests/fakes/github.py, gitlab.py) and connected integrations ----

TRACKER_CONTAINERS = 2      # repositories / projects the records are spread over
TRACKER_LARGEST_PAGE = 100  # the most GitHub and GitLab return per page


@contextmanager
def tracker_fake(slug: str, records: int, *, containers: int = TRACKER_CONTAINERS, unlimited: bool = False):
    """The fake GitHub or GitLab holding `records` issues over `containers` repositories or
    projects, updated a second apart, with the app pointed at it through the <SLUG>_*
    endpoint variables. `unlimited` lifts TimeHub's own request budget for the provider."""
    from datetime import datetime, timedelta, timezone

    from app.integrations import ratelimit

    if slug == "github":
        from tests.fakes.github import FakeGitHub as Fake
    else:
        from tests.fakes.gitlab import FakeGitLab as Fake
    with Fake(redirect_uris=(f"http://127.0.0.1/integrations/{slug}/callback",)) as fake:
        for name, value in fake.env().items():
            os.environ[name] = value
        if unlimited:
            ratelimit.overrides[slug] = ratelimit.RateLimit(UNREACHED_REQUESTS_PER_SECOND, 1.0)
        names = [f"bench/repo{number}" for number in range(containers)]
        for name in names:
            fake.add_repo(name) if slug == "github" else fake.add_project(name)
        oldest = datetime.now(timezone.utc) - timedelta(seconds=records + 10)
        for number in range(records):
            fake.add_issue(names[number % containers], f"Issue {number}", updated=oldest + timedelta(seconds=number))
        yield fake


def make_tracker_integration(slug: str, fake):
    """An active connection to the fake allowing every repository / project: the OAuth app saved
    as the setup page saves it, a live access token stored as the callback stores it."""
    import time as clock

    from app.extensions import db
    from app.integrations.oauth import TokenSet
    from app.models import Integration, ProviderApp
    from app.services import token_service

    provider_app = ProviderApp(provider=slug, client_id=fake.oauth.client_id)
    provider_app.payload = {"client_secret": fake.oauth.client_secret, "webhook_secret": "bench-secret"}
    db.session.add(provider_app)
    containers = fake.repos if slug == "github" else fake.projects
    integration = Integration(provider=slug, is_global=True, status="active", account_label="bench",
                              connection_facts={},
                              settings={"allow_list": [str(c["id"]) for c in containers.values()]})
    if slug == "github":
        token = TokenSet(access_token=fake.issue_token())
    else:
        token = TokenSet(access_token=_gitlab_token(fake), expires_at=int(clock.time()) + 3600)
    token_service.store_tokens(integration, token)
    db.session.add(integration)
    db.session.commit()
    return integration


def _gitlab_token(fake) -> str:
    import secrets as pysecrets

    from tests.fakes.oauth_provider import _Grant

    oauth = fake.oauth
    with oauth._lock:
        grant = _Grant(id=len(oauth._grants) + 1, client_id=oauth.client_id, scope="api read_user",
                       refresh_token=pysecrets.token_urlsafe(32))
        oauth._grants[grant.id] = grant
        return oauth._issue(grant, include_refresh=True)["access_token"]


def tracker_requests(fake) -> int:
    """Requests that reached the provider's API (OAuth calls aside)."""
    return len(fake.api.requests)
