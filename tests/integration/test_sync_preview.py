"""The preview of the next sync (app/services/sync_preview.py): the engine's dry-run mode, run by
the real Jira connector against the fake Jira over loopback. A preview writes nothing, and what
it lists is, record for record, what the following real sync does."""
from __future__ import annotations

from sqlalchemy import event, select

from app.models import ExternalLink, Project, Task
from app.services import sync_preview
from app.services.connections import connector_for
from tests.conftest import post_form
from tests.integration.test_jira_sync import connect_jira, seeded, start_jira, sync  # noqa: F401 - fixtures

WRITES = ("INSERT", "UPDATE", "DELETE")


class Writes:
    """Every INSERT/UPDATE/DELETE the engine sends while it is open."""

    def __init__(self, engine):
        self.statements: list[str] = []
        self._engine = engine

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(None, 1)[0].upper() in WRITES:
            self.statements.append(statement)

    def __enter__(self):
        event.listen(self._engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        event.remove(self._engine, "before_cursor_execute", self._seen)


def linked_ids(db, kind: str) -> set[str]:
    return set(db.session.scalars(select(ExternalLink.external_id).where(ExternalLink.local_kind == kind)))


def archived_ids(db, kind: str, model) -> set[str]:
    return set(db.session.scalars(select(ExternalLink.external_id).join(model, model.id == ExternalLink.local_id)
                                  .where(ExternalLink.local_kind == kind, model.archived.is_(True))))


def preview_of(db, integration):
    with Writes(db.engine) as writes:
        plan = sync_preview.dry_run(integration, connector_for(integration))
    assert writes.statements == []
    return plan


def test_a_first_preview_writes_nothing_and_lists_exactly_what_the_first_sync_creates(db, admin, admin_client,
                                                                                      start_jira):
    jira = start_jira()
    seeded(jira, per_project=4)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    requests_before = len(jira.api.requests)

    plan = preview_of(db, integration)
    assert db.session.scalars(select(Task)).all() == [] and db.session.scalars(select(Project)).all() == []
    assert len(jira.api.requests) > requests_before  # it asked Jira, as the sync will
    assert {key for key in plan.ids} == {("project", "create"), ("task", "create")}
    assert len(plan.ids[("task", "create")]) == 8  # tasks under projects the dry run "created" first
    assert sorted(plan.examples[("project", "create")]) == ["Acme", "Beta"]

    run = sync(integration)
    assert plan.ids[("project", "create")] == linked_ids(db, "project")
    assert plan.ids[("task", "create")] == linked_ids(db, "task")
    assert run.created == 2 + 8 and run.updated == 0 and run.archived == 0
    assert preview_of(db, integration).ids == {}  # nothing left to do


def test_a_preview_after_changes_lists_the_updates_and_archives_the_next_sync_makes(db, admin, admin_client,
                                                                                    start_jira, monkeypatch):
    from app.integrations import jira_site
    jira = start_jira()
    seeded(jira)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    sync(integration)
    jira.update_issue("ACME-1", summary="Renamed at Jira")
    jira.delete_issue("BETA-2")
    jira.add_issue("ACME", "New at Jira")
    monkeypatch.setattr(jira_site, "WHOLE_LISTING_EVERY_HOURS", 0)  # the whole listing sees deletions

    plan = preview_of(db, integration)
    changed = {key: set(ids) for key, ids in plan.ids.items()}
    run = sync(integration)
    db.session.expire_all()
    tasks = {task.external_key: task for task in db.session.scalars(select(Task))}
    new_task = db.session.scalar(select(ExternalLink.external_id).where(
        ExternalLink.local_kind == "task", ExternalLink.local_id == tasks["ACME-4"].id))
    assert changed[("task", "create")] == {new_task}
    assert changed[("task", "archive")] == archived_ids(db, "task", Task) and tasks["BETA-2"].archived
    assert len(changed[("task", "update")]) == run.updated and "Renamed at Jira" in plan.examples[("task", "update")]
    assert run.created == 1 and run.archived == 1


def test_the_preview_page_queues_the_job_and_shows_what_it_found(db, app, admin, admin_client, start_jira,
                                                                  make_user):
    jira = start_jira()
    seeded(jira)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME"])
    page = f"/integrations/{integration.id}/preview"

    assert admin_client.post(page).status_code == 400  # no CSRF token
    response = post_form(admin_client, page, page=f"/integrations/{integration.id}")
    assert response.status_code == 302 and response.headers["Location"].endswith(page)
    waiting = admin_client.get(page).get_data(as_text=True)
    assert 'data-preview-status="queued"' in waiting and 'http-equiv="refresh"' in waiting

    sync_preview.run_preview(integration.id)  # what the queued job does
    done = admin_client.get(page).get_data(as_text=True)
    assert 'data-preview-status="done"' in done and 'http-equiv="refresh"' not in done
    assert 'data-change="task:create"' in done and "Acme 1" in done
    assert db.session.scalars(select(Task)).all() == []

    plain = make_user("plain@example.com")
    from tests.conftest import login
    other = app.test_client()
    login(other, plain)
    assert other.get(page).status_code == 403
    assert post_form(other, page, page="/").status_code == 403


def test_a_preview_counts_every_archive_past_the_first_chunk(db, admin, admin_client, start_jira, monkeypatch):
    """Archives are planned, as they are written, a chunk of ids at a time (ARCHIVE_CHUNK)."""
    from app.integrations import jira_site
    from app.services import sync_service
    jira = start_jira()
    seeded(jira, per_project=4)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    sync(integration)
    for number in range(1, 5):
        jira.delete_issue(f"ACME-{number}")
    monkeypatch.setattr(jira_site, "WHOLE_LISTING_EVERY_HOURS", 0)
    monkeypatch.setattr(sync_service, "ARCHIVE_CHUNK", 3)

    plan = preview_of(db, integration)
    run = sync(integration)
    assert len(plan.ids[("task", "archive")]) == run.archived == 4
