"""The twelve providers of the sandbox: the fakes the tests use, started on loopback and
filled with demo content, plus what an operator and an admin would configure for each.

`endpoints` are the `<SLUG>_*` environment variables an operator sets to reach a provider
through a proxy or a self-hosted install (app/integrations/spec.py reads them);
`app_values` are what an admin types on the provider's setup page.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from tests.fakes.asana import FakeAsana
from tests.fakes.github import FakeGitHub
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.google_calendar import FakeGoogleCalendar, at
from tests.fakes.graph_calendar import FakeGraphCalendar
from tests.fakes.graph_teams import FakeGraphTeams
from tests.fakes.jira import FakeJira
from tests.fakes.jira_datacenter import FakeJiraDataCenter
from tests.fakes.oauth_provider import FakeOAuthProvider
from tests.fakes.quickbooks import FakeQuickBooks
from tests.fakes.slack import FakeSlack
from tests.fakes.trello import FakeTrello
from tests.fakes.xero import FakeXero, connection
from tests.sandbox.people import CLIENT_EMAIL, CLIENT_NAME, USERS

SLUGS = ("jira", "jira_datacenter", "github", "gitlab", "asana", "trello", "slack", "microsoft_teams",
         "google_calendar", "outlook_calendar", "quickbooks", "xero")


@dataclass
class SandboxProvider:
    slug: str
    fake: Any                                   # the running fake (tests/fakes/), for looking at it
    endpoints: dict[str, str]                   # <SLUG>_* variables pointing at the fake
    app_values: dict[str, str] = field(default_factory=dict)  # the setup page's OAuth app fields
    try_it: str = ""                            # one line of what to click

    @property
    def urls(self) -> list[str]:
        return sorted({value for name, value in self.endpoints.items() if name.endswith(("_URL", "_API_BASE"))})


def callback(base_url: str, slug: str) -> tuple[str, ...]:
    return (f"{base_url}/integrations/{slug}/callback",)


def oauth_app(oauth: FakeOAuthProvider, **extra: str) -> dict[str, str]:
    return {"client_id": oauth.client_id, "client_secret": oauth.client_secret, **extra}


def this_week(today: date) -> list[date]:
    monday = today - timedelta(days=today.weekday())
    return [monday + timedelta(days=n) for n in range(5)]


def utc(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=timezone.utc)


# -- one function per provider: start its fake, seed it, say how the app reaches it -------------------

def jira(stack: contextlib.ExitStack, base_url: str) -> SandboxProvider:
    fake = stack.enter_context(FakeJira(redirect_uris=callback(base_url, "jira")))
    for user in USERS:
        fake.add_user(f"acc-{user.key}", user.name, email=user.email)
    fake.add_project("WEB", "Website relaunch")
    fake.add_project("OPS", "Operations")
    fake.add_issue("WEB", "Redesign the landing page", status="In Progress", assignee=f"acc-{USERS[0].key}")
    fake.add_issue("WEB", "Fix the contact form")
    fake.add_issue("WEB", "Speed up the image gallery", assignee=f"acc-{USERS[1].key}")
    fake.add_issue("OPS", "Rotate the TLS certificates")
    return SandboxProvider("jira", fake, fake.env(), oauth_app(fake.oauth),
                           "as the admin: Integrations > Jira > Connect, tick 'Website relaunch'; log time on WEB-1 "
                           "and the worklog appears at the fake")


def jira_datacenter(stack, base_url) -> SandboxProvider:
    fake = stack.enter_context(FakeJiraDataCenter(redirect_uris=callback(base_url, "jira_datacenter")))
    fake.add_project("INT", "Intranet")
    fake.add_issue("INT", "Move the wiki to the new server", status="In Progress")
    fake.add_issue("INT", "Single sign-on for the intranet")
    return SandboxProvider("jira_datacenter", fake, fake.env(),
                           oauth_app(fake.oauth, base_url="https://jira.example.com", access="ADMIN"),
                           "connect, tick 'Intranet'; worklogs get plain-text comments")


def github(stack, base_url) -> SandboxProvider:
    fake = stack.enter_context(FakeGitHub(redirect_uris=callback(base_url, "github")))
    fake.add_repo("acme/website")
    fake.add_issue("acme/website", "Dark mode for the blog", labels=("enhancement",))
    fake.add_issue("acme/website", "Broken link in the footer", labels=("bug",))
    return SandboxProvider("github", fake, fake.env(), oauth_app(fake.oauth), "connect, tick acme/website")


def gitlab(stack, base_url) -> SandboxProvider:
    fake = stack.enter_context(FakeGitLab(redirect_uris=callback(base_url, "gitlab")))
    fake.add_project("acme/mobile-app", labels=("workflow::doing",))
    fake.add_issue("acme/mobile-app", "Offline mode", labels=("workflow::doing",))
    fake.add_issue("acme/mobile-app", "Push notifications")
    return SandboxProvider("gitlab", fake, fake.env(), oauth_app(fake.oauth),
                           "connect, tick acme/mobile-app; time on its issues becomes timelogs")


def asana(stack, base_url) -> SandboxProvider:
    fake = stack.enter_context(FakeAsana(redirect_uris=callback(base_url, "asana")))
    ulla = fake.add_user(USERS[0].name, USERS[0].email)
    project = fake.add_project("Acme launch")
    fake.add_task(project, "Write the press release", section="Doing", assignee=ulla)
    fake.add_task(project, "Book the venue")
    return SandboxProvider("asana", fake, fake.env(), oauth_app(fake.oauth), "connect, tick 'Acme launch'")


def trello(stack, base_url) -> SandboxProvider:
    fake = stack.enter_context(FakeTrello())
    tess = fake.add_member("Tess Trello", "tess")
    fake.key, fake.token = fake.add_credentials(tess)
    board = fake.add_board("Office move", tess)
    todo, done = fake.add_list(board, "To do"), fake.add_list(board, "Done")
    fake.add_card(todo, "Order the desks")
    fake.add_card(done, "Measure the rooms")
    return SandboxProvider("trello", fake, {"TRELLO_API_BASE": fake.api_base},
                           try_it=f"setup page: API key {fake.key}, token {fake.token}, "
                                  f"app secret {fake.app_secrets[fake.key]}; tick 'Office move'")


def slack(stack, base_url) -> SandboxProvider:
    oauth = stack.enter_context(FakeOAuthProvider(redirect_uris=callback(base_url, "slack"), dialect="slack"))
    fake = stack.enter_context(FakeSlack(oauth=oauth))
    fake.oauth_server = oauth
    fake.add_channel("time-tracking")
    fake.add_channel("random")
    for user in USERS:
        fake.add_user(f"U{user.key.upper()}", user.email, user.name)
    return SandboxProvider("slack", fake, {**oauth.env("slack"), "SLACK_API_BASE": fake.api_base},
                           oauth_app(oauth, signing_secret="sandbox-signing-secret"),
                           "connect, pick #time-tracking, 'Send a test message'")


def microsoft_teams(stack, base_url) -> SandboxProvider:
    slug = "microsoft_teams"
    oauth = stack.enter_context(FakeOAuthProvider(redirect_uris=callback(base_url, slug)))
    fake = stack.enter_context(FakeGraphTeams(oauth=oauth))
    fake.add_team("Acme project", ("General", "Standups"))
    fake.add_team("Design", ("General", "Reviews"))
    return SandboxProvider(slug, fake, {**oauth.env(slug), "MICROSOFT_TEAMS_API_BASE": fake.api_base},
                           oauth_app(oauth), "connect, pick a team then a channel, 'Send a test message'")


def google_calendar(stack, base_url, today: date) -> SandboxProvider:
    fake = stack.enter_context(FakeGoogleCalendar(redirect_uris=callback(base_url, "google_calendar")))
    owner = USERS[0]
    fake.oauth.account = {**fake.oauth.account, "email": owner.email, "name": owner.name}
    for day, (title, hour) in zip(this_week(today), [("Acme kick-off", 9), ("Design review", 14),
                                                      ("Client call: Acme", 11), ("Sprint planning", 10),
                                                      ("Retrospective", 15)]):
        fake.add_event(owner.email, title, at(utc(day, hour).isoformat()), at(utc(day, hour + 1).isoformat()))
    return SandboxProvider("google_calendar", fake, fake.env(), oauth_app(fake.oauth),
                           f"as {owner.email}: Integrations > Google Calendar > Connect my account; "
                           "Calendar shows the events as suggestions, 'Add as time'")


def outlook_calendar(stack, base_url, today: date) -> SandboxProvider:
    fake = stack.enter_context(FakeGraphCalendar(redirect_uris=callback(base_url, "outlook_calendar")))
    for day in this_week(today)[:3]:
        fake.add_event("Team standup", utc(day, 8), 15, attendees=tuple(u.email for u in USERS))
    return SandboxProvider("outlook_calendar", fake, fake.env(), oauth_app(fake.oauth),
                           "connect; the team calendar's standups become suggestions")


def quickbooks(stack, base_url) -> SandboxProvider:
    fake = stack.enter_context(FakeQuickBooks(redirect_uris=callback(base_url, "quickbooks")))
    fake.accounting.add_customer(CLIENT_NAME, CLIENT_EMAIL)
    return SandboxProvider("quickbooks", fake, fake.env(), oauth_app(fake.oauth),
                           "connect, match Acme Corp to its customer, issue an invoice")


def xero(stack, base_url) -> SandboxProvider:
    fake = stack.enter_context(FakeXero(redirect_uris=callback(base_url, "xero")))
    fake.connections = [connection("Demo Company (NZ)")]   # one organisation: no chooser on the way
    fake.accounting.add_contact(CLIENT_NAME, CLIENT_EMAIL)
    return SandboxProvider("xero", fake, fake.env("xero"), oauth_app(fake.oauth),
                           "connect, match Acme Corp on its customers page; Invoices > New > Issue: "
                           "the invoice reaches the fake Xero")


def start_all(stack: contextlib.ExitStack, base_url: str, today: date) -> dict[str, SandboxProvider]:
    """Every provider's fake, running until `stack` closes; callbacks registered on `base_url`."""
    providers = [jira(stack, base_url), jira_datacenter(stack, base_url), github(stack, base_url), gitlab(stack, base_url),
                 asana(stack, base_url), trello(stack, base_url), slack(stack, base_url),
                 microsoft_teams(stack, base_url), google_calendar(stack, base_url, today),
                 outlook_calendar(stack, base_url, today), quickbooks(stack, base_url), xero(stack, base_url)]
    assert tuple(p.slug for p in providers) == SLUGS
    return {p.slug: p for p in providers}
