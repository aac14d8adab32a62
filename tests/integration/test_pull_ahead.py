"""A pull fetches its next page while the engine writes the current one (app.services.pull_ahead),
on SQLite and PostgreSQL, without giving up "each page commits with its cursor"."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import object_session

from app import tuning
from app.models import Project, SyncCursor
from app.services.sync_service import run_sync
from tests.integration.test_sync_settings import integration, project, scripted, whole_listing  # noqa: F401

LISTED = [project(f"p{number}") for number in range(1, 7)]  # three pages of two


@pytest.fixture
def first_commit_waits_for(monkeypatch):
    """Makes the engine wait, once it has written its first page and before it commits it,
    for an event (at most `timeout` seconds); notes whether the event had come by then."""
    from app.services import sync_service

    real_apply, seen = sync_service.apply_records, {}

    def arm(happened: threading.Event, timeout: float = 5.0) -> dict:
        def apply_then_wait(session, integration_id, records, plan=None):
            result = real_apply(session, integration_id, records, plan)
            if "first" not in seen:
                seen["first"] = happened.wait(timeout)
            return result

        monkeypatch.setattr(sync_service, "apply_records", apply_then_wait)
        return seen

    return arm


def signalling(asked_for_page_two: threading.Event):
    """The listing, setting `asked_for_page_two` when it is resumed after its first page."""
    def listing(_connector, cursor):
        pages = whole_listing(LISTED, "project", cursor)
        yield next(pages)
        asked_for_page_two.set()
        yield from pages
    return listing


def test_the_next_page_is_fetched_while_the_current_one_is_written(db, integration, first_commit_waits_for):
    asked_for_page_two = threading.Event()
    seen = first_commit_waits_for(asked_for_page_two)
    run = run_sync(integration.id, connector_factory=scripted(signalling(asked_for_page_two)))
    assert seen == {"first": True}
    assert (run.status, run.created) == ("succeeded", 6)


def test_without_pull_ahead_page_two_is_asked_for_only_after_page_one_is_committed(db, integration, monkeypatch,
                                                                                   first_commit_waits_for):
    """The check above can fail: in turn, the first commit waits in vain."""
    monkeypatch.setattr(tuning, "PULL_AHEAD", False)
    asked_for_page_two = threading.Event()
    seen = first_commit_waits_for(asked_for_page_two, timeout=0.5)
    assert run_sync(integration.id, connector_factory=scripted(signalling(asked_for_page_two))).created == 6
    assert seen == {"first": False}


def test_the_pages_are_fetched_in_a_thread_of_their_own_with_a_session_of_their_own(db, integration):
    where = []

    def listing(connector, cursor):
        where.append((threading.current_thread().name, object_session(connector.integration)))
        yield from whole_listing(LISTED, "project", cursor)

    run_sync(integration.id, connector_factory=scripted(listing))
    ((thread_name, session),) = where
    assert thread_name.startswith("timehub-pull-ahead-")
    assert session is not None and session is not db.session()


def test_a_page_that_cannot_be_written_leaves_the_last_written_pages_cursor_and_stops_the_fetching(
        db, integration, monkeypatch):
    from app.services import sync_service

    fetched, real_apply = [], sync_service.apply_records

    def listing(_connector, cursor):
        for page in whole_listing(LISTED, "project", cursor):
            fetched.append(page.cursor)
            yield page

    def apply_fails_on_page_two(session, integration_id, records, plan=None):
        if records and records[0].external_id == "p3":
            raise RuntimeError("the disk is full")
        return real_apply(session, integration_id, records, plan)

    monkeypatch.setattr(sync_service, "apply_records", apply_fails_on_page_two)
    with pytest.raises(RuntimeError, match="the disk is full"):
        run_sync(integration.id, connector_factory=scripted(listing))
    db.session.expire_all()
    assert db.session.scalars(select(SyncCursor.cursor)).one() == "page:1"
    assert sorted(db.session.scalars(select(Project.name))) == ["Project p1", "Project p2"]
    assert len(fetched) <= 3  # page 3 at most was fetched ahead, for nothing
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("timehub-pull-ahead-")]

    monkeypatch.setattr(sync_service, "apply_records", real_apply)
    factory = scripted(listing)
    run = run_sync(integration.id, connector_factory=factory)
    assert factory.last.cursors == ["page:1"]  # resumed at the last page written
    assert (run.status, run.created) == ("succeeded", 4)


def test_a_fetch_that_fails_in_the_thread_fails_the_run_as_in_the_engines_own(db, integration):
    from app.integrations.http import PermanentError

    def listing(_connector, cursor):
        pages = whole_listing(LISTED, "project", cursor)
        yield next(pages)
        raise PermanentError("Paged said 403: forbidden", 403)

    run = run_sync(integration.id, connector_factory=scripted(listing))
    assert run.status == "failed" and "forbidden" in (run.error or "")
    db.session.expire_all()
    assert db.session.scalars(select(SyncCursor.cursor)).one() == "page:1"  # page 1 was written
