"""The Trello connector end to end, over real HTTP to the fake Trello (tests/fakes/trello.py).

The app reaches the fake only through TRELLO_API_BASE and the key + token saved as the
setup page saves them; every request the connector sends is validated against Trello's
API description by the fake itself (tests/fakes/server.py).
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.integrations import trello as trello_connector
from app.models import Integration, Project
from app.services.connections import connector_for
from app.services.integration_service import IntegrationService
from app.services.sync_service import run_sync, settings_changed
from bench.sync_noop import WriteCounter
from tests import tracker_harness as harness
from tests.fakes.paged_provider import Faults
from tests.fakes.trello import FakeTrello
from tests.tracker_harness import FAST_RETRIES, live_app, process_deliveries, sync, tasks_by_remote_id  # noqa: F401

@pytest.fixture
def trello(monkeypatch):
    with FakeTrello(check_webhook_callbacks=True) as fake:
        monkeypatch.setenv("TRELLO_API_BASE", fake.api_base)
        yield fake


def connect_trello(db, admin, fake: FakeTrello, member, boards=None, *, with_secret: bool = True) -> Integration:
    key, token = fake.add_credentials(member)
    values = {"api_key": key, "token": token}
    if with_secret:
        values["app_secret"] = fake.app_secrets[key]
    IntegrationService().save_api_key(admin, "trello", values)
    integration = current(db)
    assert integration.status == "active"
    if boards is not None:
        allow(db, integration, [board.id for board in boards])
    return integration


def calls(fake: FakeTrello, since: int = 0) -> list[str]:
    return [f"{r.method} {r.path.removeprefix('/1/')}" for r in fake.requests[since:]]


def current(db) -> Integration:
    return harness.current(db, "trello")


def allow(db, integration, ids) -> None:
    harness.allow(db, integration, ids)


@pytest.fixture
def seeded(trello):
    """Tess's two boards with lists To do / Doing / Done, and a third board she does not sync."""
    tess = trello.add_member("Tess Trello", "tess", email="tess@example.com", email_visible=True)
    hidden = trello.add_member("Hidden Hal", "hal", email="hal@example.com")   # e-mail not visible
    acme = trello.add_board("Acme", tess, hidden)
    beta = trello.add_board("Beta", tess)
    other = trello.add_board("Other", tess)
    lists = {}
    for board in (acme, beta, other):
        for name in ("To do", "Doing", "Done"):
            lists[board.name, name] = trello.add_list(board, name)
    return tess, hidden, acme, beta, other, lists


# -- import ------------------------------------------------------------------------------------

def test_a_first_import_of_several_pages_creates_projects_and_tasks(db, admin, make_user, trello, seeded):
    tess, hidden, acme, beta, other, lists = seeded
    make_user("tess@example.com", name="Tess")
    cards = [trello.add_card(lists["Acme", "To do"], f"Acme {n}") for n in range(2100)]
    doing = trello.add_card(lists["Acme", "Doing"], "In the works", members=(tess,))
    done = trello.add_card(lists["Beta", "Done"], "Shipped", members=(hidden,))
    archived = trello.add_card(lists["Beta", "To do"], "Old news", closed=True)
    trello.add_card(lists["Other", "To do"], "Not synced")
    integration = connect_trello(db, admin, trello, tess, [acme, beta])
    since = len(trello.requests)

    run = sync(integration)
    tasks = tasks_by_remote_id(db)
    assert len(tasks) == 2102 and run.created == 2 + 2102
    assert archived.id not in tasks and not any(t.archived for t in tasks.values())  # archived: not imported
    assert (tasks[doing.id].status, tasks[doing.id].assignee.email) == ("in_progress", "tess@example.com")
    assert tasks[done.id].status == "done" and tasks[done.id].assignee_id is None  # no visible e-mail
    assert tasks[cards[0].id].status == "todo" and tasks[cards[0].id].project.name == "Acme"
    assert tasks[doing.id].external_url.startswith("https://trello.com/c/")
    assert {p.name for p in db.session.scalars(select(Project))} == {"Acme", "Beta"}
    # The boards once; per board: its newest action, lists, members and cards 1,000 at a time.
    made = calls(trello, since)
    assert made.count(f"GET boards/{acme.id}/cards") == 3 and made.count(f"GET boards/{beta.id}/cards") == 1
    assert len(made) == 1 + 2 * 4 + 2
    assert all(int(r.args["limit"]) == 1000 for r in trello.requests[since:] if r.path.endswith("/cards"))


def test_boards_of_exact_multiples_of_1000_cards_cost_no_empty_page(db, admin, trello, seeded):
    """requests == min_requests: ceil(N / 1,000) card requests a board plus the fixed calls
    (the boards; per board its newest action, lists and members), also at 2,000 and 1,000."""
    tess, hidden, acme, beta, other, lists = seeded
    for n in range(2000):
        trello.add_card(lists["Acme", "To do" if n % 2 else "Done"], f"Acme {n}", closed=n == 7)
    for n in range(1000):
        trello.add_card(lists["Beta", "Doing"], f"Beta {n}")
    integration = connect_trello(db, admin, trello, tess, [acme, beta])
    since = len(trello.requests)

    sync(integration)
    made = calls(trello, since)
    assert made.count(f"GET boards/{acme.id}/cards") == 2 and made.count(f"GET boards/{beta.id}/cards") == 1
    assert len(made) == (1 + 3 * 2) + 2 + 1
    assert len(tasks_by_remote_id(db)) == 2999   # every card but the archived one, the oldest page's included
    listed = [r for r in trello.requests[since:] if r.path.endswith("/lists")]
    assert listed and all((r.args["cards"], r.args["card_fields"]) == ("all", "id") for r in listed)


def test_nothing_is_imported_until_boards_are_chosen(db, admin, trello, seeded):
    tess, *_ = seeded
    integration = connect_trello(db, admin, trello, tess)
    sync(integration)
    assert tasks_by_remote_id(db) == {} and db.session.scalar(select(func.count()).select_from(Project)) == 0


def test_an_incremental_sync_follows_changes_and_a_quiet_one_writes_nothing(db, admin, app, trello, seeded):
    tess, hidden, acme, beta, other, lists = seeded
    first = trello.add_card(lists["Acme", "To do"], "First")
    second = trello.add_card(lists["Acme", "To do"], "Second")
    third = trello.add_card(lists["Beta", "To do"], "Third")
    fourth = trello.add_card(lists["Beta", "To do"], "Fourth")
    integration = connect_trello(db, admin, trello, tess, [acme, beta])
    sync(integration)

    since = len(trello.requests)
    writes = WriteCounter(db.engine)   # INSERT/UPDATE/DELETE statements, the run's own bookkeeping aside
    try:
        run = sync(integration)
    finally:
        writes.close()
    assert (run.created, run.updated, run.archived) == (0, 0, 0)
    assert writes.total == 0, writes.by_table
    made = calls(trello, since)
    assert made == ["GET members/me/boards", f"GET boards/{acme.id}/actions", f"GET boards/{beta.id}/actions"]

    trello.update_card(first, name="First, renamed", to_list=lists["Acme", "Done"])
    trello.update_card(second, closed=True)                     # archived
    trello.delete_card(third)
    trello.move_card_to_board(fourth, lists["Other", "To do"])  # moved out of the allowed boards
    new = trello.add_card(lists["Beta", "Doing"], "Born later")
    run = sync(integration)
    tasks = tasks_by_remote_id(db)
    assert (tasks[first.id].title, tasks[first.id].status) == ("First, renamed", "done")
    assert tasks[second.id].archived and tasks[third.id].archived and tasks[fourth.id].archived
    assert tasks[new.id].status == "in_progress" and not tasks[new.id].archived
    assert run.created == 1

    trello.update_list(lists["Acme", "Done"], name="Waiting")   # a list renamed: its cards' status follows
    sync(integration)
    assert tasks_by_remote_id(db)[first.id].status == "todo"
    assert sync(integration).updated == 0


def test_the_status_mapping_and_the_user_mapping_win(db, admin, make_user, trello, seeded):
    tess, hidden, acme, beta, other, lists = seeded
    hal = make_user("hal@elsewhere.example", name="Hal")
    card = trello.add_card(lists["Acme", "To do"], "Mapped", members=(hidden,))
    integration = connect_trello(db, admin, trello, tess, [acme])
    tables = {t.setting: t for t in connector_for(integration).mapping_tables()}
    rows = {row.label: row for row in tables["status_map"].rows}
    assert rows["Acme / Done"].automatic == "Done" and rows["Acme / To do"].automatic == "To do"
    people = {row.label: row.automatic for row in tables["user_map"].rows}
    assert people == {"Tess Trello": "by e-mail (tess@example.com)", "Hidden Hal": "unassigned (no e-mail visible)"}

    integration.settings = {**integration.settings, "status_map": {lists["Acme", "To do"].id: "in_progress"},
                            "user_map": {hidden.id: str(hal.id)}}
    settings_changed(db.session, integration)
    sync(integration)
    task = tasks_by_remote_id(db)[card.id]
    assert (task.status, task.assignee_id) == ("in_progress", hal.id)


def test_a_board_dropped_from_the_allow_list_or_archived_is_archived(db, admin, trello, seeded):
    tess, hidden, acme, beta, other, lists = seeded
    kept = trello.add_card(lists["Acme", "To do"], "Kept")
    dropped = trello.add_card(lists["Beta", "To do"], "Dropped")
    integration = connect_trello(db, admin, trello, tess, [acme, beta])
    sync(integration)
    allow(db, current(db), [acme.id])
    sync(current(db))
    tasks = tasks_by_remote_id(db)
    assert tasks[dropped.id].archived and not tasks[kept.id].archived
    acme.closed = True
    sync(current(db))
    db.session.expire_all()
    assert db.session.scalars(select(Project).where(Project.name == "Acme")).one().archived


# -- webhooks ------------------------------------------------------------------------------------

def test_webhooks_are_registered_verified_deduplicated_and_removed(db, admin, trello, seeded, live_app):
    tess, hidden, acme, beta, other, lists = seeded
    card = trello.add_card(lists["Acme", "To do"], "Hooked")
    integration = connect_trello(db, admin, trello, tess, [acme, beta])
    sync(integration)
    hooks = sorted(trello.webhooks.values(), key=lambda h: h.id_model)
    address = f"{live_app}/webhooks/trello/{integration.webhook_token}"
    assert sorted(h.id_model for h in hooks) == sorted([acme.id, beta.id])
    assert all(h.callback_url == address for h in hooks)   # and each answered Trello's HEAD check
    assert dict(trello_connector.TrelloConnector.status_facts(current(db).connector_state))["Webhooks"] \
        == "registered for 2 boards"
    hook = next(h for h in hooks if h.id_model == acme.id)

    action = trello.update_card(card, name="Renamed, said a webhook", to_list=lists["Acme", "Done"])
    assert trello.deliver(hook, action).status_code == 202
    assert trello.deliver(hook, action).status_code == 200          # a replay: the same action id
    assert trello.deliver(hook, action, signature="AAAA").status_code == 401              # forged
    forged_body = json.dumps({"action": {**action, "id": "f" * 24}}).encode()
    assert trello.deliver(hook, action, body=forged_body,
                          signature=trello.signature(next(iter(trello.app_secrets)), b"other", address)
                          ).status_code == 401
    deep = b'{"action": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for malformed in (b"[1, 2]", b'{"action": {"id": 7}}', b'{"action": "x"}', "{\"a\": \"\xe9\"}".encode("latin-1"),
                      deep):
        signed = trello.signature(hook.api_key, malformed, address)
        assert trello.deliver(hook, action, body=malformed, signature=signed).status_code == 400
    assert process_deliveries(db) == 1
    task = tasks_by_remote_id(db)[card.id]
    assert (task.title, task.status) == ("Renamed, said a webhook", "done")
    deleted = trello.delete_card(card)
    assert trello.deliver(hook, deleted).status_code == 202
    process_deliveries(db)
    assert tasks_by_remote_id(db)[card.id].archived

    allow(db, current(db), [acme.id])
    sync(current(db))
    assert [h.id_model for h in trello.webhooks.values()] == [acme.id]
    assert IntegrationService().disconnect(admin, "trello") is None
    assert trello.webhooks == {}


def test_without_the_app_secret_no_webhook_is_registered_and_the_page_says_why(db, admin, admin_client, trello,
                                                                             seeded, live_app):
    tess, hidden, acme, *_ = seeded
    integration = connect_trello(db, admin, trello, tess, [acme], with_secret=False)
    sync(integration)
    assert trello.webhooks == {}
    facts = dict(trello_connector.TrelloConnector.status_facts(current(db).connector_state))
    assert "Add the app secret" in facts["Webhooks"]
    assert "Add the app secret" in admin_client.get(f"/integrations/{integration.id}").get_data(as_text=True)


# -- failures ------------------------------------------------------------------------------------

def test_a_revoked_token_fails_the_sync_and_asks_for_a_reconnect(db, admin, trello, seeded):
    tess, hidden, acme, *_ = seeded
    integration = connect_trello(db, admin, trello, tess, [acme])
    sync(integration)
    trello.revoke_token(current(db).credential.payload["token"])
    run = run_sync(integration.id)
    assert run.status == "failed"
    assert current(db).status == "needs_reconnect"


def test_with_20_percent_faults_the_import_and_the_incremental_end_as_without(db, admin, trello, seeded):
    tess, hidden, acme, beta, other, lists = seeded
    for n in range(2500):
        trello.add_card(lists["Acme" if n % 2 else "Beta", "To do" if n % 3 else "Done"], f"Card {n}")
    integration = connect_trello(db, admin, trello, tess, [acme, beta], with_secret=False)
    trello.throttle_next(2, retry_after=0)
    trello.faults = Faults(rate=0.2, hang=0.05, latency=0.005, retry_after="0.01")
    fast = lambda i: connector_for(i, retry=FAST_RETRIES)  # noqa: E731
    for _attempt in range(10):   # a run that ran out of retries is run again, as the scheduler does
        if run_sync(integration.id, connector_factory=fast).status == "succeeded":
            break
    cards = trello.board_cards(acme)
    for card in cards[:40]:
        trello.update_card(card, name=card.name + " (edited)", to_list=lists["Acme", "Done"])
    trello.delete_card(cards[50])
    for _attempt in range(10):
        if run_sync(integration.id, connector_factory=fast).status == "succeeded":
            break
    tasks = tasks_by_remote_id(db)
    expected = {c.id: (c.name, "done" if trello.lists[c.list_id].name == "Done" else "todo")
                for c in trello.cards.values() if c.board_id in (acme.id, beta.id)}
    assert {key: (t.title, t.status) for key, t in tasks.items() if not t.archived} == expected
    assert tasks[cards[50].id].archived
    assert len([f for f in trello.faults_struck if f != "latency"]) >= 3   # faults really happened
