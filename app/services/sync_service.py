"""The sync engine: pull pages into idempotent upserts, push the outbox.

Pull: a connector yields pages from a saved cursor; each page's upserts and
the new cursor are committed together, so a crash resumes at the last saved
page and a re-run creates nothing twice (external_links is unique per
integration + kind + external id).

Push: changes are written to the outbox in the same transaction as the
change itself (`record_change`); `push_pending` sends them, stores the remote
id on the link, and gives up after a bounded number of attempts.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta

from sqlalchemy import and_, delete, event, func, not_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app import tuning
from app.extensions import db
from app.integrations import registry
from app.integrations.base import Connector
from app.integrations.capabilities import ManagesRemoteSetup, Pulls, Pushes
from app.integrations.exchange import Pushed, PushRequest, PushSkipped, RemoteRecord, RunContext, SyncPage
from app.integrations.http import AuthError, NotFoundError, PermanentError, ProviderError, RateLimitedError
from app.models import (
    Client,
    ExternalLink,
    Integration,
    Invoice,
    OutboxItem,
    SyncCursor,
    SyncRun,
    TimeEntry,
    WebhookDelivery,
)
from app.models.base import utcnow
from app.models.integration import IntegrationStatus
from app.services import connection_state, export_gate, personal_links, sync_writes, work_queue
from app.services.connections import connector_for, run_context
from app.services.pull_ahead import PullAhead
from app.services.sync_appliers import APPLIERS
from app.services.sync_plan import DryRun, label_of, local_label
from app.services.token_service import TokenError

log = logging.getLogger(__name__)

ConnectorFactory = Callable[[Integration], Connector]
# Called after every committed page: (the run so far, the stream, the page).
Progress = Callable[[SyncRun, str, SyncPage], None]


# Runs that pull every stream; "push" and "webhook" runs only hold the integration briefly.
# A pull a provider's change notification asked for (ReceivesWebhooks.delivery_asks_for_pull).
NOTIFIED_TRIGGER = "notification"
PULL_TRIGGERS = ("schedule", "manual", "connect", NOTIFIED_TRIGGER)


class SyncAlreadyRunning(Exception):
    pass


@dataclass
class PageResult:
    created: int = 0
    updated: int = 0
    archived: int = 0
    unchanged: int = 0


# -- pull ----------------------------------------------------------------------


def apply_records(session: Session, integration_id: int, records: list[RemoteRecord],
                  plan: DryRun | None = None) -> PageResult:
    """Upsert `records` through external links; the caller commits. With a `plan` (a dry run),
    nothing is added or flushed: what would change is noted on the plan instead, and the
    caller rolls the session back."""
    result = PageResult()
    kinds = OrderedDict()
    for record in records:
        kinds.setdefault(record.kind, []).append(record)
    for kind, group in kinds.items():
        _apply_kind(session, integration_id, kind, group, result, plan)
    return result


def _links(session: Session, integration_id: int, kind: str, external_ids: Iterable[str]) -> dict[str, ExternalLink]:
    ids = list(set(external_ids))
    if not ids:
        return {}
    rows = session.scalars(select(ExternalLink).where(
        ExternalLink.integration_id == integration_id, ExternalLink.local_kind == kind,
        ExternalLink.external_id.in_(ids)))
    return {link.external_id: link for link in rows}


def _apply_kind(session: Session, integration_id: int, kind: str, records: list[RemoteRecord],
                result: PageResult, plan: DryRun | None) -> None:
    applier = APPLIERS[kind]
    records = _latest_per_id(records)
    links = _links(session, integration_id, kind, (r.external_id for r in records))
    parent_kind = getattr(applier, "parent_kind", None)
    parents = _links(session, integration_id, parent_kind, (r.parent_id for r in records if r.parent_id)) \
        if parent_kind else {}
    local_ids = [link.local_id for link in links.values()]
    locals_by_id = {row.id: row for row in session.scalars(
        select(applier.model).where(applier.model.id.in_(local_ids)))} if local_ids else {}

    context = applier.prepare(session, [r for r in records if not r.deleted])
    writes = _PageWrites()
    for record in records:
        link = links.get(record.external_id)
        local = locals_by_id.get(link.local_id) if link else None
        parent = parents.get(record.parent_id) if record.parent_id else None
        parent_id = parent.local_id if parent else _planned_parent(plan, parent_kind, record)
        if parent_kind and parent_id is None and not record.deleted:
            log.warning("%s %s skipped: its %s %s is not synced", kind, record.external_id, parent_kind,
                        record.parent_id)
            result.unchanged += 1
            continue
        if local is None and getattr(applier, "updates_only", False):
            result.unchanged += 1  # a kind that only updates linked local rows (invoice payments)
            continue
        if record.deleted:
            if local is not None and not local.archived:
                writes.change(local, {"archived": True})
                result.archived += 1
                if plan is not None:
                    plan.note(kind, "archive", record.external_id, label_of(record))
            continue
        if _older_than_stored(record, link):
            result.unchanged += 1
            continue
        if local is not None and not getattr(local, "archived", False) and link.remote_version is not None \
                and link.remote_version == record.version:
            result.unchanged += 1
            continue
        if local is None and plan is not None:
            if plan.planned_id(kind, record.external_id) is None:  # not already "created" by this dry run
                plan.plan_create(record)
                result.created += 1
            continue
        if local is None:
            values = applier.new_values(record, parent_id, context)
            if getattr(applier, "owned_by_integration", False):  # see forget_imported
                values["integration_id"] = integration_id
            writes.new_rows.append(values)
            writes.new_records.append(record)
            continue
        changes = applier.changes(local, record, parent_id, context)
        writes.change(local, changes)
        related = hasattr(applier, "update_related") and applier.update_related(local, record, context)
        if changes or related:
            result.updated += 1
            if plan is not None:
                plan.note(kind, "update", record.external_id, label_of(record))
        else:
            result.unchanged += 1
        link_changes = {}
        if hasattr(applier, "remote_note"):  # a kind whose copies the provider's side may edit
            note = applier.remote_note(local, record)
            if link.remote_note != note:
                link_changes["remote_note"] = note
        if link.remote_version != record.version:
            link_changes["remote_version"] = record.version
        writes.change(link, link_changes)

    if plan is not None:
        writes.apply_to_objects()  # the dry run's session is rolled back: later pages see this page
        return
    sync_writes.update_rows(session, writes.changes)
    if writes.new_rows:
        new_ids = sync_writes.insert_rows(session, applier.model, writes.new_rows)
        created = list(zip(new_ids, writes.new_records))
        if hasattr(applier, "after_insert"):
            applier.after_insert(session, created, context)
        sync_writes.upsert_links(session, integration_id, kind,
                                 [(record.external_id, new_id, record.version) for new_id, record in created])
        for new_id, record in created:  # a link whose local copy had been deleted here now names the new one
            if (link := links.get(record.external_id)) is not None:
                set_committed_value(link, "local_id", new_id)
                set_committed_value(link, "remote_version", record.version)
        result.created += len(created)


@dataclass
class _PageWrites:
    """What a page changes of one kind, gathered so it is written in bulk at the end."""

    new_rows: list[dict] = field(default_factory=list)         # column values of each new local row
    new_records: list[RemoteRecord] = field(default_factory=list)  # the record of each, in the same order
    changes: list[tuple[object, dict]] = field(default_factory=list)  # (loaded row or link, changed columns)

    def change(self, obj, values: dict) -> None:
        if values:
            self.changes.append((obj, values))

    def apply_to_objects(self) -> None:
        for obj, values in self.changes:
            for name, value in values.items():
                setattr(obj, name, value)


def _latest_per_id(records: list[RemoteRecord]) -> list[RemoteRecord]:
    """One record per external id: a page naming a record twice counts its later mention,
    unless that one orders before the earlier (an older version never overwrites a newer)."""
    latest: dict[str, RemoteRecord] = {}
    for record in records:
        kept = latest.get(record.external_id)
        if kept is None or not _orders_before(record, kept.version):
            latest.pop(record.external_id, None)  # re-inserted: the later mention's place in the order
            latest[record.external_id] = record
    return list(latest.values()) if len(latest) < len(records) else records


def _planned_parent(plan: DryRun | None, parent_kind: str | None, record: RemoteRecord) -> int | None:
    """In a dry run, the stand-in id of a parent that an earlier dry page would have created."""
    return plan.planned_id(parent_kind, record.parent_id) if plan is not None and parent_kind else None


def _older_than_stored(record: RemoteRecord, link: ExternalLink | None) -> bool:
    """Whether the provider's version of `record` orders before the one already applied: an
    older delivery or page must not overwrite newer data."""
    return link is not None and _orders_before(record, link.remote_version)


def _orders_before(record: RemoteRecord, version: str | None) -> bool:
    """Whether `record`'s version orders before `version`. Unordered or unreadable versions
    are never older."""
    if record.version_order is None or version is None or record.version is None:
        return False
    try:
        return record.version_order(record.version) < record.version_order(version)
    except (TypeError, ValueError):
        return False


def _cursor(session: Session, integration_id: int, stream: str) -> SyncCursor:
    cursor = session.scalars(select(SyncCursor).where(
        SyncCursor.integration_id == integration_id, SyncCursor.stream == stream)).one_or_none()
    if cursor is None:
        cursor = SyncCursor(integration_id=integration_id, stream=stream)
        session.add(cursor)
    return cursor


def _stale_before():
    return utcnow() - timedelta(seconds=tuning.SYNC_STALE_AFTER_SECONDS)


def _stale_run():
    """A running run whose worker has not reported for a while (or ever) is dead."""
    return and_(SyncRun.status == "running",
                func.coalesce(SyncRun.heartbeat_at, SyncRun.started_at) < _stale_before())


def is_stale(run: SyncRun) -> bool:
    """The same rule for a run already loaded: its worker stopped reporting; the next sync closes it."""
    return run.status == "running" and (run.heartbeat_at or run.started_at) < _stale_before()


def start_run(session: Session, integration: Integration, trigger: str) -> SyncRun:
    """Insert the run row; the database allows one running run per integration.
    A run whose worker died (no heartbeat for a while) is closed first."""
    session.execute(update(SyncRun).where(
        SyncRun.integration_id == integration.id, _stale_run(),
    ).values(status="failed", finished_at=utcnow(), error="the worker running this sync stopped"))
    run = SyncRun(integration_id=integration.id, trigger=trigger, status="running", heartbeat_at=utcnow())
    session.add(run)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise SyncAlreadyRunning(integration.id) from None
    return run


def active_run(session: Session, integration_id: int) -> SyncRun | None:
    """The run in progress, if its worker is alive."""
    run = session.scalars(select(SyncRun).where(
        SyncRun.integration_id == integration_id, SyncRun.status == "running")).first()
    return None if run is None or is_stale(run) else run


def running_trigger(integration_id: int) -> str | None:
    """What the integration's running run was started for ("push", "manual", ...), if one runs."""
    return db.session.scalar(select(SyncRun.trigger).where(
        SyncRun.integration_id == integration_id, SyncRun.status == "running"))


def finish_run(session: Session, integration: Integration, run: SyncRun, error: str | None) -> None:
    run.status = "failed" if error else "succeeded"
    run.finished_at = utcnow()
    run.error = error
    if run.trigger in PULL_TRIGGERS:  # pushes and webhooks alone are no sync: the schedule counts from pulls
        integration.last_sync_at = run.finished_at
        integration.last_sync_status = run.status
    integration.last_error = error
    session.commit()


def run_sync(integration_id: int, *, trigger: str = "manual", connector_factory: ConnectorFactory = connector_for,
             progress: Progress | None = None) -> SyncRun:
    """Pull every stream of the integration, then push its outbox. Returns the finished run."""
    session = db.session
    integration = session.get(Integration, integration_id)
    if integration is None:
        raise LookupError(integration_id)
    run = start_run(session, integration, trigger)
    connector, error, failure = None, None, None
    try:
        connector = connector_factory(integration)
        context = run_context(integration, SessionLinks(session, integration.id))
        if isinstance(connector, Pulls):
            with _pages_fetched_by(integration_id, connector_factory, connector, context) as fetch:
                for stream in connector.streams:
                    pull_stream(session, integration_id, connector, stream, run, context, progress, fetch=fetch)
        if trigger in PULL_TRIGGERS and isinstance(connector, ManagesRemoteSetup):
            _housekeeping(session, integration, connector, context)  # after the pull: it knows what exists now
        if isinstance(connector, Pushes):
            _push(session, integration, connector, run, context)
    except (ProviderError, TokenError) as exc:  # TokenError: the grant is dead or no token can be had
        session.rollback()
        if isinstance(exc, AuthError) and integration.status == IntegrationStatus.ACTIVE:
            connection_state.needs_reconnect(integration)
        error = run_error(exc)
    except Exception as exc:
        session.rollback()
        log.exception("sync of integration %s failed", integration_id)
        error, failure = f"internal error ({type(exc).__name__})", exc
    if connector is not None:
        connector.close()
    _read_again_if_settings_moved(session, integration, connector)
    finish_run(session, integration, run, error)
    if failure is not None:
        raise failure  # after the run is recorded as failed: the job's own handling sees it
    return run


def _read_again_if_settings_moved(session: Session, integration: Integration, connector) -> None:
    """Settings saved while this run pulled with the ones it started with: the page's "read
    everything again" (settings_changed) was undone by the cursors this run committed since,
    so ask for it again; the sync the page queued waits for this run and reads it all anew.
    Looked at after the run's last cursor commit, so a save after this look keeps its own;
    finish_run commits it."""
    if not isinstance(connector, Pulls):
        return
    saved = session.scalar(select(Integration.settings).where(Integration.id == integration.id))
    if (saved or {}) != connector.preferences:
        _read_everything_again(session, integration.id)


def _housekeeping(session: Session, integration: Integration, connector: ManagesRemoteSetup,
                  context: RunContext) -> None:
    state = connector.housekeeping(context)
    if state is not None:
        integration.connector_state = state
        session.commit()


def settings_changed(session: Session, integration: Integration) -> None:
    """After the sync settings changed (allow-list, window, mappings): the next sync lists
    everything again and re-applies every record, writing only what now differs."""
    _read_everything_again(session, integration.id)
    session.commit()


def _read_everything_again(session: Session, integration_id: int) -> None:
    session.execute(update(SyncCursor).where(SyncCursor.integration_id == integration_id).values(cursor=None))
    session.execute(update(ExternalLink).where(
        ExternalLink.integration_id == integration_id, ExternalLink.local_kind.in_(tuple(APPLIERS)),
    ).values(remote_version=None))


def forget_imported(session: Session, integration: Integration) -> None:
    """On disconnect: remove the local rows that exist only because this connection is there
    (appliers marked `owned_by_integration`: calendar suggestions), with their links. What a
    person already made something of stays (the applier decides), and the next connection reads
    everything again, so a reconnect re-links what stayed instead of duplicating it. Uncommitted:
    the caller commits it with the disconnect."""
    for kind, applier in APPLIERS.items():
        if not getattr(applier, "owned_by_integration", False):
            continue
        if applier.forget(session, integration.id):
            row_exists = select(applier.model.id).where(applier.model.id == ExternalLink.local_id).exists()
            session.execute(delete(ExternalLink).where(
                ExternalLink.integration_id == integration.id, ExternalLink.local_kind == kind, ~row_exists),
                execution_options={"synchronize_session": False})
    _read_everything_again(session, integration.id)


@contextmanager
def _pages_fetched_by(integration_id: int, connector_factory: ConnectorFactory, connector: Connector,
                      context: RunContext):
    """Where a run's pages come from: a thread fetching one page ahead (tuning.PULL_AHEAD), or
    None, the connector in this thread."""
    if not tuning.PULL_AHEAD:
        yield None
        return
    with PullAhead(integration_id, connector_factory, connector, context, SessionLinks) as ahead:
        yield ahead.pages


def pull_stream(session: Session, integration_id: int, connector: Pulls, stream: str, run: SyncRun | None,
                context: RunContext, progress: Progress | None = None, plan: DryRun | None = None,
                fetch: Callable[[str, object], Iterable[SyncPage]] | None = None) -> None:
    """Apply every page of `stream` from its saved cursor, committing each page with its cursor.
    With a `plan` (a dry run, `run` None) nothing is kept, not even the cursor. `fetch(stream,
    cursor)` gives the pages (default: the connector's pull, in this thread)."""
    cursor = _cursor(session, integration_id, stream)
    seen: set[str] | None = None  # external ids of a whole listing under way in this run
    pages = fetch(stream, cursor.cursor) if fetch else connector.pull(stream, cursor.cursor, context)
    for page in pages:
        if page.listing_starts:
            seen = set()
        if seen is not None:
            seen.update(record.external_id for record in page.records if not record.deleted)
        result = apply_records(session, integration_id, page.records, plan)
        if page.listing_complete and seen is not None:
            result.archived += archive_unlisted(session, integration_id, page.listing_complete, seen, plan)
            seen = None
        if plan is not None:
            continue
        if cursor.cursor != page.cursor:
            cursor.cursor = page.cursor
        run.pulled += len(page.records)
        run.created += result.created
        run.updated += result.updated
        run.archived += result.archived
        run.heartbeat_at = utcnow()
        session.commit()  # the page and its cursor, together
        if progress:
            progress(run, stream, page)


def archive_unlisted(session: Session, integration_id: int, kind: str, listed: set[str],
                     plan: DryRun | None = None) -> int:
    """Archive the local copies of `kind` whose remote ids a whole listing did not mention
    (with a `plan`: note them instead)."""
    model = APPLIERS[kind].model
    missing = {local_id: external_id for external_id, local_id in session.execute(
        select(ExternalLink.external_id, ExternalLink.local_id).where(
            ExternalLink.integration_id == integration_id, ExternalLink.local_kind == kind))
        if external_id not in listed}
    local_ids = list(missing)
    archived = 0
    for start in range(0, len(local_ids), ARCHIVE_CHUNK):
        chunk = local_ids[start:start + ARCHIVE_CHUNK]
        if plan is not None:
            archived += _plan_archive(session, model, kind, {local_id: missing[local_id] for local_id in chunk}, plan)
            continue
        archived += session.execute(update(model).where(
            model.id.in_(chunk), model.archived.is_(False),
        ).values(archived=True), execution_options={"synchronize_session": False}).rowcount
    return archived


def _plan_archive(session: Session, model, kind: str, external_ids: dict[int, str], plan: DryRun) -> int:
    rows = session.scalars(select(model).where(model.id.in_(list(external_ids)), model.archived.is_(False)))
    planned = [row for row in rows if not row.archived]  # not already "archived" earlier in this dry run
    for row in planned:
        plan.note(kind, "archive", external_ids[row.id], local_label(row))
    return len(planned)


# Ids per UPDATE when archiving: well under every database's bound-parameter limit.
ARCHIVE_CHUNK = 500


# -- push ----------------------------------------------------------------------


class SessionLinks:
    """The LinkLookup of the engine's session, for one integration."""

    def __init__(self, session: Session, integration_id: int):
        self._session = session
        self._integration_id = integration_id

    def external_id(self, kind: str, local_id: int | None) -> str | None:
        if local_id is None:
            return None
        return self._session.scalar(select(ExternalLink.external_id).where(
            ExternalLink.integration_id == self._integration_id, ExternalLink.local_kind == kind,
            ExternalLink.local_id == local_id))


def _pushing_integrations(session: Session):
    """(integration, connector class, its links) of every active integration that pushes."""
    for integration in session.scalars(select(Integration).where(Integration.status == IntegrationStatus.ACTIVE,
                                                                 Integration.is_connection())):
        connector_class = registry.get_connector(integration.provider)
        if issubclass(connector_class, Pushes):
            yield integration, connector_class, SessionLinks(session, integration.id)


def record_change(session: Session, kind: str, record, action: str) -> None:
    """Queue `record`'s change for every active integration that wants it, and for
    every one holding a copy of it. Call inside the transaction that changes
    `record`, before its commit."""
    for integration, connector_class, links in _pushing_integrations(session):
        if links.external_id(kind, record.id) is not None or \
                connector_class.wants_push(integration, kind, record, links):
            session.add(OutboxItem(integration_id=integration.id, local_kind=kind, local_id=record.id,
                                   action=action))
            session.info.setdefault(PUSHES_TO_ENQUEUE, set()).add(integration.id)


# Integrations whose outbox got rows in the session's transaction: pushed as soon as it commits.
PUSHES_TO_ENQUEUE = "timehub.pushes_to_enqueue"


@event.listens_for(Session, "after_commit")
def _enqueue_pushes(session: Session) -> None:
    """Push right after the change commits instead of at the scheduler's next tick. If the
    queue cannot be reached, the rows wait in the outbox and the scheduler sends them."""
    integration_ids = session.info.pop(PUSHES_TO_ENQUEUE, None)
    if not integration_ids:
        return
    for integration_id in sorted(integration_ids):
        try:
            work_queue.queue_push(integration_id)
        except Exception:  # noqa: BLE001 - any queue failure; the outbox keeps the change
            log.warning("could not enqueue the push of integration %s; the scheduler will", integration_id)


@event.listens_for(Session, "after_rollback")
def _forget_pushes(session: Session) -> None:
    session.info.pop(PUSHES_TO_ENQUEUE, None)


def push_notices(session: Session, kind: str, record) -> list[str]:
    """What the connectors have to say about pushing `record`, for the person who saved it."""
    notices = (connector_class.push_notice(integration, kind, record, links)
               for integration, connector_class, links in _pushing_integrations(session))
    return [notice for notice in notices if notice]


def due_outbox(integration_id: int):
    """The conditions of an integration's outbox rows that are due now."""
    return (OutboxItem.integration_id == integration_id, OutboxItem.status == "pending",
            OutboxItem.next_attempt_at <= utcnow())


def _has_due_items(session: Session, integration_id: int) -> bool:
    return session.scalar(select(OutboxItem.id).where(*due_outbox(integration_id)).limit(1)) is not None


def _due_records(session: Session, integration_id: int) -> OrderedDict[tuple[str, int], int]:
    """(kind, local id) -> the newest due outbox id, oldest first. Only ids: the rows
    themselves are loaded one record at a time, so each commit expires little."""
    latest: OrderedDict[tuple[str, int], int] = OrderedDict()
    for item_id, kind, local_id in session.execute(select(
            OutboxItem.id, OutboxItem.local_kind, OutboxItem.local_id).where(*due_outbox(integration_id))
            .order_by(OutboxItem.id)):
        latest[(kind, local_id)] = item_id
    return latest


def _push(session: Session, integration: Integration, connector: Pushes, run: SyncRun, context: RunContext) -> int:
    """Send what waits in the outbox. Only the holder of the integration's running
    run gets here, so no two workers ever push the same change; changes queued
    while this runs are picked up before it ends."""
    with closing(personal_links.Authors(session, integration)) as authors:
        return _push_rounds(session, integration, connector, run, context, authors)


def _push_rounds(session: Session, integration: Integration, connector: Pushes, run: SyncRun, context: RunContext,
                 authors: personal_links.Authors) -> int:
    pushed = 0
    for _round in range(tuning.PUSH_ROUNDS_PER_RUN):
        latest = _due_records(session, integration.id)
        if not latest:
            break
        for (kind, local_id), newest_id in latest.items():
            items = list(session.scalars(select(OutboxItem).where(
                *due_outbox(integration.id), OutboxItem.local_kind == kind, OutboxItem.local_id == local_id,
                OutboxItem.id <= newest_id).order_by(OutboxItem.id)))
            held_for = export_gate.holds(session, integration, kind, local_id, items[-1].action)
            if held_for is not None:  # a client's first accounting export waits for the admin's preview
                export_gate.park(integration, held_for, items)
                session.commit()
                continue
            ok = _push_one(session, integration, connector, context, kind, local_id, items, authors)
            pushed += ok
            run.pushed += ok
            run.failed += not ok and items[-1].status == "failed"
            run.heartbeat_at = utcnow()
            session.commit()
    return pushed


def _push_one(session: Session, integration: Integration, connector: Pushes, context: RunContext, kind: str,
              local_id: int, items: list[OutboxItem], authors: personal_links.Authors) -> bool:
    """Send the latest state of one local record; earlier queued changes collapse into it."""
    last = items[-1]
    link = session.scalars(select(ExternalLink).where(
        ExternalLink.integration_id == integration.id, ExternalLink.local_kind == kind,
        ExternalLink.local_id == local_id)).one_or_none()
    model = PUSHED_MODELS[kind]
    record = session.get(model, local_id) if last.action == "upsert" else None
    try:
        if record is None or last.action == "delete":
            if link is not None:
                try:
                    connector.delete_remote(kind, link.external_id, context)
                except NotFoundError:
                    pass  # already gone at the provider: the goal is reached
                session.delete(link)
        else:
            if link is not None and link.remote_note:
                # The provider's side changed the copy (an accountant's edit): never overwritten.
                raise PermanentError(link.remote_note)
            request = PushRequest(kind, record, link.external_id if link else None,
                                  idempotency_key=f"timehub-{last.id}",
                                  earlier_attempts=max(item.attempts for item in items),
                                  remote_version=link.remote_version if link else None)
            pushed = _push_as_author(connector, authors, request, context)
            external_id, version = (pushed.external_id, pushed.version) if isinstance(pushed, Pushed) \
                else (pushed, None)
            if link is None:
                session.add(ExternalLink(integration_id=integration.id, local_kind=kind, local_id=local_id,
                                         external_id=external_id, remote_version=version))
            else:
                link.external_id = external_id
                if version is not None:
                    link.remote_version = version
    except PushSkipped as skipped:  # the connector removed any remote copy already
        if link is not None:
            session.delete(link)
        for item in items:
            item.status, item.last_error = "skipped", skipped.reason[:2000]
        return True
    except ProviderError as exc:
        if isinstance(exc, RateLimitedError) and (exc.retry_after or 0) > tuning.MAX_RATE_LIMIT_WAIT_SECONDS:
            _wait_for_budget(session, items, exc)
        give_up = isinstance(exc, PermanentError) or last.attempts + 1 >= tuning.PUSH_MAX_ATTEMPTS
        for item in items:
            item.attempts += 1
            item.last_error = exc.message
            item.status = "failed" if give_up else "pending"
            item.next_attempt_at = utcnow() + tuning.push_backoff(item.attempts)
        return False
    for item in items:
        item.status, item.last_error = "done", None
    return True


def _push_as_author(connector: Pushes, authors: personal_links.Authors, request: PushRequest,
                    context: RunContext) -> str | Pushed:
    """Through the record's author's own link when they have one, else (or once the provider
    refuses that link) through the team connection, on their behalf."""
    author = authors.connector_for(request.record)
    if author is not None:
        try:
            return author.push(replace(request, as_author=True), context)
        except TokenError as exc:  # the grant is dead
            authors.lost(request.record, exc)
        except AuthError as exc:
            if exc.status == 401:  # refused even after a refresh
                authors.lost(request.record, exc)
            # 403: the author may not do it there; the team connection may
    return connector.push(request, context)


def _wait_for_budget(session: Session, items: list[OutboxItem], exc: RateLimitedError) -> None:
    """A long pause (a provider's daily limit): the change waits until then without using up
    its attempts, and the run stops (every other change would be refused the same way), with
    the resume time in its error for the integration's page."""
    for item in items:
        item.last_error = run_error(exc)[:2000]
        item.next_attempt_at = utcnow() + timedelta(seconds=exc.retry_after)
    session.commit()
    raise exc


def run_error(exc: ProviderError | TokenError) -> str:
    """A run's error in words; a long rate-limit pause says when work resumes."""
    if isinstance(exc, RateLimitedError) and (exc.retry_after or 0) > tuning.MAX_RATE_LIMIT_WAIT_SECONDS:
        resume = utcnow() + timedelta(seconds=exc.retry_after)
        return f"{exc.message}; waiting changes go from about {resume:%d %b %H:%M} UTC"
    return exc.message


def push_pending(integration_id: int, connector_factory: ConnectorFactory = connector_for) -> int:
    """Push the outbox of one integration as a run of its own ("push"). When a sync
    or another push holds the integration, that run sends the waiting changes."""
    session = db.session
    integration = session.get(Integration, integration_id)
    if integration is None or integration.status != IntegrationStatus.ACTIVE:
        return 0
    if not _has_due_items(session, integration_id):
        return 0
    try:
        run = start_run(session, integration, "push")
    except SyncAlreadyRunning:
        return 0
    connector = None
    try:
        connector = connector_factory(integration)
        pushed = _push(session, integration, connector, run,
                       run_context(integration, SessionLinks(session, integration.id))) \
            if isinstance(connector, Pushes) else 0
    except (ProviderError, TokenError) as exc:  # no usable token: the changes wait in the outbox
        session.rollback()
        finish_run(session, integration, run, run_error(exc))
        return 0
    except Exception as exc:
        session.rollback()
        finish_run(session, integration, run, f"internal error ({type(exc).__name__})")
        raise
    finally:
        if connector is not None:
            connector.close()
    finish_run(session, integration, run, None)
    return pushed


def retry_failed(session: Session, integration_id: int) -> int:
    """Put failed pushes back in the queue (the page's retry button)."""
    result = session.execute(update(OutboxItem).where(
        OutboxItem.integration_id == integration_id, OutboxItem.status == "failed",
    ).values(status="pending", attempts=0, next_attempt_at=utcnow()))
    session.commit()
    return result.rowcount


PUSHED_MODELS = {"time_entry": TimeEntry, "invoice": Invoice, "client": Client}


# -- scheduling ------------------------------------------------------------------


def due_work(now=None) -> list[tuple[str, int]]:
    """(job, argument) pairs the scheduler should enqueue now."""
    session = db.session
    now = now or utcnow()
    work: list[tuple[str, int]] = []
    running = select(SyncRun.integration_id).where(SyncRun.status == "running", not_(_stale_run()))
    for integration in session.scalars(select(Integration).where(
            Integration.status == IntegrationStatus.ACTIVE, Integration.is_connection(),
            Integration.id.not_in(running))):
        if not issubclass(registry.get_connector(integration.provider), Pulls):
            continue
        interval = timedelta(minutes=int(integration.settings.get("sync_interval_minutes")
                                         or tuning.DEFAULT_SYNC_INTERVAL_MINUTES))
        if integration.last_sync_at is None or integration.last_sync_at + interval <= now:
            work.append(("sync", integration.id))
    for (integration_id,) in session.execute(select(OutboxItem.integration_id).where(
            OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now).distinct()):
        if ("sync", integration_id) not in work:
            work.append(("push", integration_id))
    forgotten = now - timedelta(seconds=tuning.WEBHOOK_REENQUEUE_AFTER_SECONDS)
    for (delivery_id,) in session.execute(select(WebhookDelivery.id).where(
            WebhookDelivery.processed_at.is_(None), WebhookDelivery.received_at <= forgotten)):
        work.append(("webhook", delivery_id))
    return work
