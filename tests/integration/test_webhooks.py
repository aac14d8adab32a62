"""POST /webhooks/<slug>/<token>: verified, stored before the 2xx, processed by a job."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app import tuning
from app.models import Project, WebhookDelivery
from app.services import webhook_processing, webhook_service
from tests.fakes.paged_connector import sign
from tests.integration.test_sync_engine import make_integration, paged_registered  # noqa: F401

SECRET = "whsec-test"


@pytest.fixture
def integration(db, monkeypatch, paged_registered):  # noqa: F811
    return make_integration(db, "http://127.0.0.1:9", monkeypatch)


def delivery(item_id="rec-1", title="From a webhook", delivery_id="d-1", secret=SECRET, body=None):
    body = body if body is not None else json.dumps(
        {"item": {"id": item_id, "title": title, "updated_at": 1_800_000_000}}).encode()
    return body, {"X-Paged-Signature": sign(secret, body), "X-Paged-Delivery": delivery_id,
                  "X-Paged-Event": "item.updated", "Content-Type": "application/json"}


def post(client, integration, body, headers, token=None):
    return client.post(f"/webhooks/paged/{token or integration.webhook_token}", data=body, headers=headers)


def stored(db) -> int:
    return db.session.scalar(select(func.count()).select_from(WebhookDelivery))


def test_a_valid_delivery_is_stored_before_the_answer_and_processed_later(client, db, integration):
    body, headers = delivery()
    response = post(client, integration, body, headers)
    assert response.status_code == 202
    row = db.session.scalars(select(WebhookDelivery)).one()
    assert (row.delivery_id, row.event, row.processed_at) == ("d-1", "item.updated", None)
    assert db.session.scalar(select(func.count()).select_from(Project)) == 0  # not yet: a job does it
    # The answer does not wait for the queue: the job is enqueued when the server closes the
    # response it sent. No worker ran: the job is waiting, and the scheduler would re-enqueue it too.
    queue = client.application.extensions["timehub.jobs"]
    assert queue.pending() == []
    response.close()
    assert [task.name for task in queue.pending()] == ["process_webhook"]
    webhook_processing.process_delivery(row.id)
    assert db.session.scalars(select(Project.name)).one() == "From a webhook"
    db.session.refresh(row)
    assert row.processed_at is not None and row.error is None


def test_a_forged_signature_is_401_and_stores_nothing(client, db, integration):
    body, headers = delivery(secret="not-the-secret")
    assert post(client, integration, body, headers).status_code == 401
    assert stored(db) == 0


def test_a_tampered_body_is_401(client, db, integration):
    body, headers = delivery()
    assert post(client, integration, body.replace(b"From", b"Evil"), headers).status_code == 401
    assert stored(db) == 0


def test_malformed_deliveries_are_400(client, db, integration):
    body, headers = delivery(body=b"{not json")
    assert post(client, integration, body, headers).status_code == 400
    body, headers = delivery()
    del headers["X-Paged-Delivery"]
    assert post(client, integration, body, headers).status_code == 400
    assert stored(db) == 0


def test_an_oversized_delivery_is_413(client, db, integration):
    body, headers = delivery(body=b'{"pad": "' + b"x" * (1024 * 1024 + 10) + b'"}')
    assert post(client, integration, body, headers).status_code == 413
    assert stored(db) == 0


def test_a_replayed_delivery_is_200_and_ignored(client, db, integration):
    body, headers = delivery()
    assert post(client, integration, body, headers).status_code == 202
    assert post(client, integration, body, headers).status_code == 200
    assert stored(db) == 1


def test_an_unknown_token_or_provider_is_404(client, db, integration):
    body, headers = delivery()
    assert post(client, integration, body, headers, token="guessed").status_code == 404
    assert client.post("/webhooks/myspace/x", data=body, headers=headers).status_code == 404
    assert stored(db) == 0


def test_webhooks_need_no_csrf_token_but_forms_do(client, db, integration):
    body, headers = delivery()
    assert post(client, integration, body, headers).status_code == 202  # the test client sends no CSRF token


def test_deliveries_left_unprocessed_are_scheduled_again(client, db, integration):
    from datetime import timedelta

    from app.models.base import utcnow
    from app.services.sync_service import due_work
    body, headers = delivery()
    post(client, integration, body, headers)
    row = db.session.scalars(select(WebhookDelivery)).one()
    assert ("webhook", row.id) not in due_work()  # just received: its job is queued
    row.received_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    assert ("webhook", row.id) in due_work()
    # From exactly WEBHOOK_REENQUEUE_AFTER_SECONDS after its arrival, not a moment before.
    after = row.received_at + timedelta(seconds=tuning.WEBHOOK_REENQUEUE_AFTER_SECONDS)
    assert ("webhook", row.id) in due_work(now=after)
    assert ("webhook", row.id) not in due_work(now=after - timedelta(milliseconds=1))


def test_processing_waits_for_a_run_holding_the_integration_and_is_a_run_itself(client, db, integration):
    from app.models import SyncRun
    from app.services.sync_service import SyncAlreadyRunning, start_run
    body, headers = delivery()
    post(client, integration, body, headers)
    row = db.session.scalars(select(WebhookDelivery)).one()
    pull = start_run(db.session, integration, "schedule")
    with pytest.raises(SyncAlreadyRunning):  # the job schedules itself again
        webhook_processing.process_delivery(row.id)
    db.session.refresh(row)
    assert row.processed_at is None
    pull.status = "succeeded"
    db.session.commit()
    webhook_processing.process_delivery(row.id)
    run = db.session.scalars(select(SyncRun).where(SyncRun.trigger == "webhook")).one()
    assert (run.status, run.pulled, run.created) == ("succeeded", 1, 1)
    assert integration.last_sync_at is None  # a webhook is no sync: the schedule still counts from pulls


# -- the intake's shortcuts stay correct ---------------------------------------------------


def test_a_rotated_secret_counts_from_the_next_delivery(client, db, integration):
    body, headers = delivery(delivery_id="before")
    assert post(client, integration, body, headers).status_code == 202  # the old secret is now cached
    integration.credential.payload = {"token": "paged-token", "webhook_secret": "whsec-rotated"}
    db.session.commit()
    body, headers = delivery(delivery_id="old-secret")
    assert post(client, integration, body, headers).status_code == 401
    body, headers = delivery(delivery_id="new-secret", secret="whsec-rotated")
    assert post(client, integration, body, headers).status_code == 202


def test_a_disconnected_integration_takes_no_more_deliveries(client, db, integration):
    body, headers = delivery(delivery_id="before")
    assert post(client, integration, body, headers).status_code == 202
    # What disconnecting leaves behind: no credential, the integration not configured.
    db.session.delete(integration.credential)
    integration.status = "not_configured"
    db.session.commit()
    body, headers = delivery(delivery_id="after")
    assert post(client, integration, body, headers).status_code == 404
    assert stored(db) == 1


def test_the_head_probe_answers_200_only_for_a_configured_integrations_address(client, db, integration):
    token = integration.webhook_token
    assert client.head(f"/webhooks/paged/{token}").status_code == 200
    assert client.head("/webhooks/paged/guessed").status_code == 404
    assert client.head(f"/webhooks/myspace/{token}").status_code == 404
    assert client.head(f"/webhooks/trello/{token}").status_code == 404  # another provider's address
    integration.status = "not_configured"
    db.session.commit()
    assert client.head(f"/webhooks/paged/{token}").status_code == 404


# -- deliveries stored together (group commit) ---------------------------------------------


def test_deliveries_posted_at_once_are_each_stored_once_and_replays_among_them_are_told_apart(app, client, db,
                                                                                             integration):
    import threading

    url, answers = f"/webhooks/paged/{integration.webhook_token}", []
    # 6 threads post 5 deliveries each; ids repeat across threads, so replays land in shared batches.
    plan = [[f"burst-{(thread + number) % 10}" for number in range(5)] for thread in range(6)]

    def post_all(delivery_ids):
        own_client = app.test_client()
        for delivery_id in delivery_ids:
            body, headers = delivery(item_id=delivery_id, delivery_id=delivery_id)
            response = own_client.post(url, data=body, headers=headers)
            answers.append((delivery_id, response.status_code))
            response.close()

    threads = [threading.Thread(target=post_all, args=(ids,)) for ids in plan]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 30 and {status for _, status in answers} <= {200, 202}
    accepted = [delivery_id for delivery_id, status in answers if status == 202]
    assert sorted(accepted) == sorted({delivery_id for ids in plan for delivery_id in ids})  # each once
    assert stored(db) == 10


def test_a_batch_holding_the_same_delivery_twice_stores_it_once(db, integration):
    from app.models.base import utcnow
    from app.services.webhook_service import _store_deliveries

    def row(delivery_id):
        return {"integration_id": integration.id, "delivery_id": delivery_id, "event": "item.updated",
                "body": "{}", "received_at": utcnow()}

    first, second, again = _store_deliveries([row("b-1"), row("b-2"), row("b-1")])
    assert first and second and first != second and again is None
    assert _store_deliveries([row("b-2"), row("b-3")])[0] is None  # stored by the earlier batch
    assert stored(db) == 3


def test_a_delivery_takes_one_connection_and_on_postgresql_no_transaction_of_its_own(db, client, integration):
    """Two statements on one checkout; on PostgreSQL autocommitted, so no BEGIN, COMMIT or
    ROLLBACK round trips beside them (SQLite stores through the group commit's writer)."""
    from sqlalchemy import event

    engine, checkouts, statements = db.engine, [], []
    token = integration.webhook_token  # read before listening: the fixture's object is expired

    def on_checkout(*_):
        checkouts.append(1)

    def on_execute(connection, _cursor, statement, *_):
        statements.append((statement.split()[0], connection.get_execution_options().get("isolation_level")))

    event.listen(engine.pool, "checkout", on_checkout)
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        body, headers = delivery()
        assert post(client, integration, body, headers, token).status_code == 202
    finally:
        event.remove(engine.pool, "checkout", on_checkout)
        event.remove(engine, "before_cursor_execute", on_execute)
    if engine.dialect.name == "postgresql":
        assert len(checkouts) == 1
        assert statements == [("SELECT", "AUTOCOMMIT"), ("INSERT", "AUTOCOMMIT")]
    else:
        assert [verb for verb, _ in statements] == ["SELECT", "INSERT"]
    assert stored(db) == 1


def test_a_delivery_waiting_on_the_group_commit_holds_no_pooled_connection(db, client, integration, monkeypatch):
    """Many deliveries at once each wait for the writer's turn; were each to hold its read
    connection meanwhile, the pool would run dry and the writer wait for a connection forever."""
    from app.services.group_commit import GroupCommit

    if db.engine.dialect.name != "sqlite":
        pytest.skip("the group commit is SQLite's")
    pool, held = db.engine.pool, []
    submit = GroupCommit.submit

    def watched_submit(self, row):
        held.append(pool.checkedout())
        return submit(self, row)

    token = integration.webhook_token
    monkeypatch.setattr(GroupCommit, "submit", watched_submit)
    idle = pool.checkedout()
    body, headers = delivery()
    assert post(client, integration, body, headers, token).status_code == 202
    assert held == [idle]


# -- batched enqueueing and the job that takes a batch -----------------------------------


def test_a_queue_that_is_down_still_answers_202_and_the_scheduler_picks_the_delivery_up(app, client, db,
                                                                                         integration):
    from datetime import timedelta

    from app import jobs
    from app.models.base import utcnow
    from app.services.sync_service import due_work
    configured = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:9/0"  # nothing listens there: every enqueue fails
    jobs.init_app(app)
    try:
        body, headers = delivery()
        assert post(client, integration, body, headers).status_code == 202
    finally:
        app.config["REDIS_URL"] = configured
        jobs.init_app(app)
    row = db.session.scalars(select(WebhookDelivery)).one()
    assert row.processed_at is None
    assert ("webhook", row.id) in due_work(now=utcnow() + timedelta(minutes=5))


def test_deliveries_accepted_during_an_enqueue_go_to_the_queue_together():
    import threading
    import time

    from app.jobs import WebhookEnqueuer
    batches, first_started, release = [], threading.Event(), threading.Event()

    def enqueue(ids):
        batches.append(list(ids))
        if len(batches) == 1:
            first_started.set()
            release.wait(10)

    enqueuer = WebhookEnqueuer(enqueue)
    first = threading.Thread(target=enqueuer.add, args=(1,))
    first.start()
    assert first_started.wait(10)
    for delivery_id in (2, 3, 4):  # while 1 is being enqueued: these return at once, queued for later
        enqueuer.add(delivery_id)
    assert batches == [[1]]
    release.set()
    first.join(10)
    deadline = time.monotonic() + 10
    while len(batches) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert batches == [[1], [2, 3, 4]]


def test_the_job_processes_a_batch_in_stored_order_skips_processed_ones_and_the_newer_one_wins(client, db,
                                                                                              integration):
    from app import jobs
    from app.models import ExternalLink
    ids = []
    for number, title in enumerate(("first", "second", "third")):
        body = json.dumps({"item": {"id": "rec-same", "title": title, "updated_at": 1_800_000_000 + number}})
        body, headers = delivery(delivery_id=f"d-{number}", body=body.encode())
        assert post(client, integration, body, headers).status_code == 202
        ids.append(db.session.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.delivery_id == f"d-{number}")).one())
    webhook_processing.process_delivery(ids[2])  # already done by an earlier job
    jobs.process_webhook.call_local([ids[2], ids[1], ids[0], ids[1]])
    db.session.rollback()
    assert all(row.processed_at is not None for row in db.session.scalars(select(WebhookDelivery)))
    assert db.session.scalar(select(func.count()).select_from(ExternalLink)) == 1
    # "third" (the newest at the provider) was applied first and alone; the batch's "first" and
    # "second" arrived later but are older at the provider: the newer one wins, they change nothing.
    assert db.session.scalars(select(Project.name)).one() == "third"


# -- out of order: the provider's newer version wins, whatever arrives last -----------------------


def test_an_older_delivery_arriving_after_a_newer_one_changes_nothing(client, db, integration):
    for number, (title, moment) in enumerate((("newer", 1_800_000_100), ("older", 1_800_000_000))):
        body = json.dumps({"item": {"id": "rec-1", "title": title, "updated_at": moment}}).encode()
        body, headers = delivery(delivery_id=f"d-{number}", body=body)
        assert post(client, integration, body, headers).status_code == 202
        webhook_processing.process_delivery(db.session.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.delivery_id == f"d-{number}")).one())
    assert db.session.scalars(select(Project.name)).one() == "newer"
    from app.models import ExternalLink, SyncRun
    assert db.session.scalars(select(ExternalLink.remote_version)).one() == "1800000100"
    last = db.session.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()
    assert (last.pulled, last.updated) == (1, 0)
    # A later change at the provider still goes through.
    body = json.dumps({"item": {"id": "rec-1", "title": "newest", "updated_at": 1_800_000_200}}).encode()
    body, headers = delivery(delivery_id="d-2", body=body)
    post(client, integration, body, headers)
    webhook_processing.process_delivery(db.session.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.delivery_id == "d-2")).one())
    assert db.session.scalars(select(Project.name)).one() == "newest"


def test_a_page_older_than_a_delivery_already_applied_does_not_overwrite_it(client, db, monkeypatch,
                                                                             paged_registered):  # noqa: F811
    from app.services.sync_service import run_sync
    from tests.fakes.paged_provider import PagedProvider
    with PagedProvider(records=3) as fake:
        integration = make_integration(db, fake.url, monkeypatch)
        body = json.dumps({"item": {"id": "rec-000002", "title": "Renamed at the provider",
                                    "updated_at": fake.records[1]["updated_at"] + 3600}}).encode()
        body, headers = delivery(delivery_id="d-new", body=body)
        assert post(client, integration, body, headers).status_code == 202
        webhook_processing.process_delivery(db.session.scalars(select(WebhookDelivery.id)).one())
        run_sync(integration.id, trigger="manual")  # the listing still holds the older title
    db.session.rollback()
    names = sorted(db.session.scalars(select(Project.name)))
    assert names == sorted([fake.records[0]["title"], "Renamed at the provider", fake.records[2]["title"]])


# -- the job and the service keep their promises ------------------------------------------------


def test_a_batch_meeting_a_running_sync_is_scheduled_again_from_where_it_stopped(client, db, integration):
    from app import jobs
    from app.services.sync_service import start_run
    ids = []
    for number in range(3):
        body = json.dumps({"item": {"id": f"rec-{number}", "title": f"Item {number}",
                                    "updated_at": 1_800_000_000}}).encode()
        body, headers = delivery(delivery_id=f"d-{number}", body=body)
        post(client, integration, body, headers)
        ids.append(db.session.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.delivery_id == f"d-{number}")).one())
    queue = client.application.extensions["timehub.jobs"]
    queue.flush()  # the intake's own jobs: this test runs the job by hand
    webhook_processing.process_delivery(ids[0])
    pull = start_run(db.session, integration, "schedule")   # a pull holds the integration
    jobs.process_webhook.call_local(ids)

    scheduled = queue.pending()  # enqueued with an eta; the consumer holds it until then
    assert [(task.name, task.args) for task in scheduled] == [("process_webhook", ([ids[1], ids[2]],))]
    assert scheduled[0].eta is not None  # later, not at once
    pull.status = "succeeded"
    db.session.commit()
    jobs.process_webhook.call_local(*scheduled[0].args)  # what the worker runs when it is due
    db.session.rollback()
    assert sorted(db.session.scalars(select(Project.name))) == ["Item 0", "Item 1", "Item 2"]
    assert all(row.processed_at is not None for row in db.session.scalars(select(WebhookDelivery)))


def _stored_ids(client, db, integration, count: int) -> list[int]:
    ids = []
    for number in range(count):
        body, headers = delivery(item_id=f"rec-{number}", title=f"Item {number}", delivery_id=f"d-{number}")
        post(client, integration, body, headers)
        ids.append(db.session.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.delivery_id == f"d-{number}")).one())
    client.application.extensions["timehub.jobs"].flush()  # the intake's own jobs: run by hand below
    return ids


def test_a_batch_of_one_integration_is_applied_as_one_run(client, db, integration):
    from app import jobs
    from app.models import SyncRun
    ids = _stored_ids(client, db, integration, 5)
    jobs.process_webhook.call_local(ids)
    db.session.rollback()
    assert sorted(db.session.scalars(select(Project.name))) == [f"Item {number}" for number in range(5)]
    (run,) = db.session.scalars(select(SyncRun))
    assert (run.trigger, run.status, run.pulled, run.created, run.error) == ("webhook", "succeeded", 5, 5, None)
    assert [(row.processed_at is not None, row.error) for row in db.session.scalars(select(WebhookDelivery))] \
        == [(True, None)] * 5


def test_a_job_takes_its_integrations_waiting_deliveries_along_oldest_first(client, db, integration,
                                                                            monkeypatch):
    """A backlog drains in big runs: the job for the newest delivery applies the older ones
    waiting too (up to WEBHOOK_APPLY_BATCH_MAX in all, its own always among them), and their
    own jobs then find them done (webhook_processing.runs_for)."""
    from app import jobs
    from app.models import SyncRun
    ids = _stored_ids(client, db, integration, 5)
    monkeypatch.setattr(tuning, "WEBHOOK_APPLY_BATCH_MAX", 3)
    jobs.process_webhook.call_local([ids[4]])
    db.session.rollback()
    assert sorted(db.session.scalars(select(Project.name))) == ["Item 0", "Item 1", "Item 4"]
    jobs.process_webhook.call_local([ids[0], ids[1]])  # their own job: nothing left to do, no run
    assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 1
    jobs.process_webhook.call_local([ids[2]])
    db.session.rollback()
    assert sorted(db.session.scalars(select(Project.name))) == [f"Item {number}" for number in range(5)]
    assert [run.pulled for run in db.session.scalars(select(SyncRun).order_by(SyncRun.id))] == [3, 2]


def test_a_run_holds_a_bounded_amount_of_bodies(client, db, integration, monkeypatch):
    from app import jobs
    from app.models import SyncRun
    ids = _stored_ids(client, db, integration, 5)
    length = max(len(body) for body in db.session.scalars(select(WebhookDelivery.body)))
    monkeypatch.setattr(tuning, "WEBHOOK_APPLY_BATCH_CHARACTERS", 2 * length)
    assert webhook_processing.runs_for(integration.id, [ids[4]]) == [ids[0:2], ids[2:4], ids[4:]]
    monkeypatch.setattr(tuning, "WEBHOOK_APPLY_BATCH_CHARACTERS", length - 1)  # each body is bigger: a run each
    assert webhook_processing.runs_for(integration.id, ids[:2]) == [[delivery_id] for delivery_id in ids]
    monkeypatch.setattr(tuning, "WEBHOOK_APPLY_BATCH_CHARACTERS", 2 * length)
    jobs.process_webhook.call_local([ids[4]])
    db.session.rollback()
    assert [run.pulled for run in db.session.scalars(select(SyncRun).order_by(SyncRun.id))] == [2, 2, 1]
    assert all(row.processed_at is not None for row in db.session.scalars(select(WebhookDelivery)))


def test_processed_deliveries_are_purged_after_the_keeping_time_and_waiting_ones_never(client, db, integration,
                                                                                        monkeypatch):
    from datetime import timedelta

    from app.models.base import utcnow
    ids = _stored_ids(client, db, integration, 4)
    webhook_processing.process_delivery(ids[0])
    webhook_processing.process_delivery(ids[1])
    rows = {row.id: row for row in db.session.scalars(select(WebhookDelivery))}
    rows[ids[0]].processed_at = utcnow() - timedelta(days=tuning.WEBHOOK_KEEP_DAYS + 1)  # long done
    rows[ids[2]].received_at = utcnow() - timedelta(days=tuning.WEBHOOK_KEEP_DAYS + 30)  # old, still waiting
    db.session.commit()
    assert webhook_processing.purge_processed() == 1
    assert sorted(db.session.scalars(select(WebhookDelivery.id))) == ids[1:]
    # A provider replaying the purged one is heard again; applying it changes nothing newer.
    body, headers = delivery(item_id="rec-0", title="Item 0", delivery_id="d-0")
    assert post(client, integration, body, headers).status_code == 202
    # Everything processed goes once its time is up, a chunk at a time.
    monkeypatch.setattr(tuning, "WEBHOOK_PURGE_CHUNK", 2)
    later = utcnow() + timedelta(days=tuning.WEBHOOK_KEEP_DAYS + 1)
    for delivery_id in ids[1:]:
        webhook_processing.process_delivery(delivery_id)
    assert webhook_processing.purge_processed(now=later) == 3
    assert [row.delivery_id for row in db.session.scalars(select(WebhookDelivery))] == ["d-0"]


def test_a_delivery_of_a_batch_that_cannot_be_applied_fails_alone(client, db, integration):
    """The batch's one apply fails on one delivery's record (a project needs a name): the
    deliveries are applied again one by one, and only that one is marked failed."""
    from app import jobs
    from app.models import SyncRun
    from app.models.base import utcnow
    ids = _stored_ids(client, db, integration, 3)
    nameless = WebhookDelivery(integration_id=integration.id, delivery_id="d-nameless", event="item.updated",
                               received_at=utcnow(), body=json.dumps(
                                   {"item": {"id": "rec-x", "title": None, "updated_at": 1_800_000_000}}))
    db.session.add(nameless)
    db.session.commit()
    jobs.process_webhook.call_local([*ids[:2], nameless.id, ids[2]])
    db.session.rollback()
    assert sorted(db.session.scalars(select(Project.name))) == ["Item 0", "Item 1", "Item 2"]
    failed = {row.delivery_id: row.error for row in db.session.scalars(select(WebhookDelivery))
              if row.error is not None}
    assert list(failed) == ["d-nameless"] and "could not be applied" in failed["d-nameless"]
    assert all(row.processed_at is not None for row in db.session.scalars(select(WebhookDelivery)))
    (run,) = db.session.scalars(select(SyncRun))
    assert (run.status, run.pulled, run.created) == ("failed", 3, 3)
    assert run.error.startswith("1 of 4 deliveries could not be applied")


def test_a_batch_waits_in_place_while_another_delivery_holds_the_integration(client, db, integration):
    """Deliveries hold an integration for milliseconds: a batch meeting one waits for it
    instead of coming back seconds later (issue 17: such bounces flooded the queue)."""
    import threading
    import time

    from app import jobs
    from app.models import SyncRun
    from app.services.sync_service import start_run
    ids = _stored_ids(client, db, integration, 2)
    holder = start_run(db.session, integration, "webhook")
    holder_id, app = holder.id, client.application

    def finish_holder():
        time.sleep(0.3)
        with app.app_context():
            run = db.session.get(SyncRun, holder_id)
            run.status, run.finished_at = "succeeded", run.started_at
            db.session.commit()
            db.session.remove()

    releaser = threading.Thread(target=finish_holder)
    releaser.start()
    started = time.monotonic()
    jobs.process_webhook.call_local(ids)
    releaser.join()
    assert time.monotonic() - started >= 0.3  # it did wait for the holder
    assert client.application.extensions["timehub.jobs"].pending() == []  # nothing put off
    db.session.rollback()
    assert all(row.processed_at is not None for row in db.session.scalars(select(WebhookDelivery)))


def test_a_batch_behind_a_pull_comes_back_later_each_time(client, db, integration):
    from app import jobs
    from app.services.sync_service import start_run
    ids = _stored_ids(client, db, integration, 2)
    start_run(db.session, integration, "schedule")  # a pull: minutes, not milliseconds
    queue = client.application.extensions["timehub.jobs"]
    etas = []
    kwargs = {}
    for _ in range(3):
        jobs.process_webhook.call_local(ids, **kwargs)
        (task,) = queue.pending()
        queue.flush()
        assert task.args == (ids,)
        etas.append(task.eta)
        kwargs = task.kwargs
    assert kwargs == {"attempt": 3}
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(etas, etas[1:])]
    assert gaps[0] >= 2 and gaps[1] >= 4  # 2 s, then 4 s, then 8 s after each attempt
    assert [jobs.webhook_retry_delay(attempt) for attempt in range(7)] == [2, 4, 8, 16, 30, 30, 30]
    db.session.rollback()
    assert all(row.processed_at is None for row in db.session.scalars(select(WebhookDelivery)))


def test_a_delivery_another_worker_finished_while_this_one_waited_is_not_applied_again(client, db,
                                                                                        integration, monkeypatch):
    """Two workers took the same delivery: this one found it waiting, then waited for the run
    lock while the other applied it (here: marks it processed from its own connection) and let
    go. Applying it again would redo the change, and undo any newer one made since."""
    from sqlalchemy import update

    from app.models import SyncRun
    from app.models.base import utcnow
    body, headers = delivery(title="Applied by the other worker")
    post(client, integration, body, headers)
    row = db.session.scalars(select(WebhookDelivery)).one()
    take_lock = webhook_processing.start_run

    def after_the_other_worker(session, integration, trigger):
        with db.engine.begin() as other_worker:
            other_worker.execute(update(WebhookDelivery).where(WebhookDelivery.id == row.id)
                                 .values(processed_at=utcnow()))
        return take_lock(session, integration, trigger)
    monkeypatch.setattr(webhook_processing, "start_run", after_the_other_worker)

    webhook_processing.process_deliveries(integration.id, [row.id])

    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Project)) == 0   # not applied by this worker
    assert [run.pulled for run in db.session.scalars(select(SyncRun))] == [0]  # its run did nothing
    assert db.session.get(WebhookDelivery, row.id).error is None
