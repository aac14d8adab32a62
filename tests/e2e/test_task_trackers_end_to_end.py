"""Asana and Trello end to end in a real browser, against their fakes on loopback.

Asana (the OAuth tracker): an admin connects through the fake's OAuth flow, picks a
project, sees its tasks; a user logs time on one, and the time tracking entry appears at
the fake, then follows the entry's edit and deletion. Trello (key + token): an admin
saves the key, token and secret, picks a board, sees its cards as tasks.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in
from tests.e2e.tracker_steps import (  # noqa: F401 (worker is a fixture)
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    USER_EMAIL,
    USER_PASSWORD,
    admin_chooses,
    admin_connects,
    eventually,
    integration_id,
    task_titles,
    user_deletes_the_entry,
    user_ends_the_entry_at_eleven,
    user_logs_time,
    worker,
)
from tests.fakes.asana import FakeAsana
from tests.fakes.trello import FakeTrello


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

    admin_connects(page, live_server, "asana", asana)
    admin_chooses(page, "Acme Corp")

    eventually(lambda: task_titles(live_server) == ["Fix the boiler", "Paint the fence"], "Acme's tasks")
    page.goto(live_server.url + "/projects")
    page.get_by_role("link", name="Acme Corp").click()
    expect(page.get_by_text("Fix the boiler")).to_be_visible()
    expect(page.get_by_text("Rotate the keys")).to_have_count(0)

    page.context.clear_cookies()
    sign_in(page, live_server.url, USER_EMAIL, USER_PASSWORD)
    user_logs_time(page, live_server.url, "Acme Corp", "Acme Corp › Fix the boiler", "Boiler")

    [entry] = eventually(lambda: asana.entries_of(asana.boiler), "the time tracking entry at Asana")
    assert entry["duration_minutes"] == 90 and entry["attributable_to"] == asana.acme["gid"]

    user_ends_the_entry_at_eleven(page)
    eventually(lambda: [e["duration_minutes"] for e in asana.entries_of(asana.boiler)] == [120],
               "the entry to follow the edit")

    user_deletes_the_entry(page)
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
    admin_chooses(page, "Kitchen")
    eventually(lambda: task_titles(live_server) == ["Buy tiles", "Measure the wall"], "the Kitchen's cards")
    page.goto(live_server.url + "/projects")
    page.get_by_role("link", name="Kitchen").click()
    expect(page.get_by_text("Buy tiles")).to_be_visible()
    expect(page.get_by_text("Mow")).to_have_count(0)
