"""Asana and Trello end to end in a real browser, against their fakes on loopback.

Asana (the OAuth tracker): an admin connects through the fake's OAuth flow, picks a
project, sees its tasks; a user logs time on one, and the time tracking entry appears at
the fake, then follows the entry's edit and deletion. Trello (key + token): an admin
saves the key, token and secret, picks a board, sees its cards as tasks.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Integration, Task
from tests.e2e.conftest import sign_in
from tests.e2e.test_jira_end_to_end import eventually, worker  # noqa: F401 (worker is a fixture)
from tests.fakes.asana import FakeAsana
from tests.fakes.trello import FakeTrello

ADMIN_EMAIL, ADMIN_PASSWORD = "ada@example.com", "correct horse battery"
USER_EMAIL, USER_PASSWORD = "ulla@example.com", "staple battery horse"


def integration_id(live_server, slug: str) -> int:
    return live_server.query(lambda: db.session.scalars(
        select(Integration.id).where(Integration.provider == slug)).one())


def task_titles(live_server) -> list[str]:
    return live_server.query(lambda: sorted(db.session.scalars(
        select(Task.title).where(Task.archived.is_(False)))))


@pytest.fixture
def asana(live_server, monkeypatch):
    with FakeAsana(redirect_uris=(f"{live_server.url}/integrations/asana/callback",)) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        ulla = fake.add_user("Ulla User", USER_EMAIL)
        fake.acme = fake.add_project("Acme Corp")
        fake.boiler = fake.add_task(fake.acme, "Fix the boiler", section="Doing", assignee=ulla)
        fake.add_task(fake.acme, "Paint the fence")
        fake.add_task(fake.add_project("Operations"), "Rotate the keys")
        yield fake


@pytest.mark.e2e
def test_admin_sets_up_asana_and_a_users_time_becomes_a_time_tracking_entry(live_server, page, asana, worker):
    live_server.create_user(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, admin=True, name="Ada Admin")
    live_server.create_user(email=USER_EMAIL, password=USER_PASSWORD, name="Ulla User")
    sign_in(page, live_server.url, ADMIN_EMAIL, ADMIN_PASSWORD)

    page.goto(live_server.url + "/admin/integrations/asana")
    page.fill('input[name="client_id"]', asana.oauth.client_id)
    page.fill('input[name="client_secret"]', asana.oauth.client_secret)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash").first).to_contain_text("saved")
    page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_url(f"{live_server.url}/integrations/{integration_id(live_server, 'asana')}/settings")
    expect(page.locator('[data-hint="nothing-chosen"]')).to_be_visible()
    page.get_by_label("Acme Corp").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash").first).to_contain_text("saved")

    eventually(lambda: task_titles(live_server) == ["Fix the boiler", "Paint the fence"], "Acme's tasks")
    page.goto(live_server.url + "/projects")
    page.get_by_role("link", name="Acme Corp").click()
    expect(page.get_by_text("Fix the boiler")).to_be_visible()
    expect(page.get_by_text("Rotate the keys")).to_have_count(0)

    page.context.clear_cookies()
    sign_in(page, live_server.url, USER_EMAIL, USER_PASSWORD)
    page.goto(live_server.url + "/")
    page.locator("details", has=page.locator('input[name="entry-start"]')).locator("summary").click()
    page.fill('input[name="entry-start"]', "09:00")
    page.fill('input[name="entry-end"]', "10:30")
    page.select_option('select[name="entry-project"]', label="Acme Corp")
    task_option = page.locator('select[name="entry-task"] option', has_text="Fix the boiler").first
    page.select_option('select[name="entry-task"]', value=task_option.get_attribute("value"))
    page.get_by_role("button", name="Add entry").click()
    expect(page.locator(".flash").first).to_contain_text("Entry added")

    [entry] = eventually(lambda: asana.entries_of(asana.boiler), "the time tracking entry at Asana")
    assert entry["duration_minutes"] == 90 and entry["attributable_to"] == asana.acme["gid"]

    page.get_by_role("link", name="Edit").first.click()
    started = page.input_value('input[name="started"]')
    page.fill('input[name="ended"]', started[:11] + "11:00")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash").first).to_contain_text("Entry saved")
    eventually(lambda: [e["duration_minutes"] for e in asana.entries_of(asana.boiler)] == [120],
               "the entry to follow the edit")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").first.click()
    expect(page.locator(".flash").first).to_contain_text("Entry deleted")
    eventually(lambda: asana.entries_of(asana.boiler) == [], "the entry to be deleted")


@pytest.fixture
def trello(monkeypatch):
    with FakeTrello() as fake:
        monkeypatch.setenv("TRELLO_API_BASE", fake.api_base)
        tess = fake.add_member("Tess Trello", "tess")
        fake.key, fake.token = fake.add_credentials(tess)
        board = fake.add_board("Kitchen", tess)
        todo, done = fake.add_list(board, "To do"), fake.add_list(board, "Done")
        fake.add_card(todo, "Buy tiles")
        fake.add_card(done, "Measure the wall")
        fake.add_card(fake.add_list(fake.add_board("Garden", tess), "To do"), "Mow")
        yield fake


@pytest.mark.e2e
def test_admin_sets_up_trello_by_key_picks_a_board_and_sees_its_cards(live_server, page, trello, worker):
    live_server.create_user(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, admin=True, name="Ada Admin")
    sign_in(page, live_server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.goto(live_server.url + "/admin/integrations/trello")
    page.fill('input[name="api_key"]', trello.key)
    page.fill('input[name="token"]', trello.token)
    page.fill('input[name="app_secret"]', trello.app_secrets[trello.key])
    page.get_by_role("button", name="Save and test").click()
    expect(page.locator(".flash").first).to_contain_text("connected")
    assert trello.app_secrets[trello.key] not in page.content()

    page.goto(f"{live_server.url}/integrations/{integration_id(live_server, 'trello')}/settings")
    page.get_by_label("Kitchen").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash").first).to_contain_text("saved")
    eventually(lambda: task_titles(live_server) == ["Buy tiles", "Measure the wall"], "the Kitchen's cards")
    page.goto(live_server.url + "/projects")
    page.get_by_role("link", name="Kitchen").click()
    expect(page.get_by_text("Buy tiles")).to_be_visible()
    expect(page.get_by_text("Mow")).to_have_count(0)
