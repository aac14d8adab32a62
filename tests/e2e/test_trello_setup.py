"""An admin sets up Trello in a real browser, against a fake Trello on loopback."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.extensions import db
from app.models import Integration, IntegrationCredential
from tests.e2e.conftest import sign_in
from tests.fakes.trello import FakeTrello

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery"
ACTIVE_BADGE = re.compile(r"(^|\s)status-active(\s|$)")
INACTIVE_BADGE = re.compile(r"(^|\s)status-(?!active(\s|$))[a-z_]+(\s|$)")


@pytest.fixture
def trello(monkeypatch):
    with FakeTrello() as fake:
        fake.member = fake.add_member("Tess Trello", "tess")
        fake.key, fake.token = fake.add_credentials(fake.member)
        # The app resolves provider endpoints from the environment at call time.
        monkeypatch.setenv("TRELLO_API_BASE", fake.api_base)
        yield fake



def trello_card(page: Page):
    return page.locator('article.card.integration[data-provider="trello"]')


def submit_trello_form(page: Page, api_key: str, token: str) -> int:
    """Fill and submit the set-up form; return the status the POST was answered with."""
    page.fill('input[name="api_key"]', api_key)
    page.fill('input[name="token"]', token)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save and test").click()
    return posted.value.status


def assert_no_secret_in(html: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in html, "a Trello secret was rendered into the page"


def saved_trello_state(live_server) -> tuple[list[str], int]:
    """Statuses of Trello integrations and how many credentials exist, read from the database."""
    def read():
        statuses = db.session.scalars(select(Integration.status).where(Integration.provider == "trello")).all()
        credentials = db.session.scalar(
            select(func.count(IntegrationCredential.id)).join(Integration).where(Integration.provider == "trello"))
        return list(statuses), credentials
    return live_server.query(read)


@pytest.mark.e2e
def test_admin_sets_up_trello_and_sees_it_active(live_server, page, trello):
    live_server.create_user(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, admin=True, name="Ada Admin")
    wrong_key = "0" * 32

    sign_in(page, live_server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.goto(live_server.url + "/integrations")
    expect(page.get_by_role("heading", level=2, name="Team integrations")).to_be_visible()
    expect(page.get_by_role("heading", level=2, name="My integrations")).to_be_visible()
    expect(trello_card(page).locator("span.badge")).to_have_class(INACTIVE_BADGE)

    trello_card(page).get_by_role("link", name="Set up").click()
    page.wait_for_url(live_server.url + "/admin/integrations/trello")

    # A key Trello refuses: a clear error, and nothing stored.
    submit_trello_form(page, wrong_key, trello.token)
    expect(page.locator("main")).to_contain_text(re.compile("refused", re.IGNORECASE))
    assert_no_secret_in(page.content(), wrong_key, trello.token, trello.key)
    statuses, credentials = saved_trello_state(live_server)
    assert credentials == 0 and "active" not in statuses
    assert [(r.path, r.status) for r in trello.requests] == [("/1/members/me", 401)]

    # The right key and token: checked with Trello, saved, and the page says so.
    assert submit_trello_form(page, trello.key, trello.token) == 302  # post/redirect/get
    page.wait_for_load_state()
    assert page.url == live_server.url + "/admin/integrations/trello"
    expect(page.locator(".flash")).to_contain_text("connected")
    assert_no_secret_in(page.content(), trello.key, trello.token)
    checked = trello.requests[-1]
    assert (checked.path, checked.args["key"], checked.args["token"], checked.status) == (
        "/1/members/me", trello.key, trello.token, 200)
    assert saved_trello_state(live_server) == (["active"], 1)

    page.goto(live_server.url + "/integrations")
    expect(trello_card(page).locator("span.badge")).to_have_class(ACTIVE_BADGE)
    assert_no_secret_in(page.content(), trello.key, trello.token)

