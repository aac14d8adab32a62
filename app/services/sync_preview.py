"""A preview of the next sync: what it would create, update, archive and push, computed by the
real connector against the provider through the engine's own code (its dry-run mode), without
writing anything. It runs as a job (the listing can take as long as a sync); its result is kept
on the integration's one SyncPreview row, which /integrations/<id>/preview shows."""
from __future__ import annotations

import logging
from contextlib import closing

from sqlalchemy import func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.extensions import db
from app.integrations.capabilities import Pulls, Pushes
from app.integrations.http import ProviderError
from app.models import Integration, OutboxItem, SyncPreview
from app.models.base import utcnow
from app.services import export_gate, work_queue
from app.services.connections import connector_for, run_context
from app.services.sync_plan import EXAMPLES_PER_ACTION, DryRun, local_label
from app.services.sync_service import PUSHED_MODELS, ConnectorFactory, SessionLinks, due_outbox, pull_stream
from app.services.token_service import TokenError

log = logging.getLogger(__name__)


def request_preview(integration: Integration) -> SyncPreview:
    """Queue a new preview (the page's button); an earlier result is replaced when it is done."""
    preview = latest_preview(integration.id)
    if preview is None:
        preview = SyncPreview(integration_id=integration.id)
        db.session.add(preview)
    preview.status, preview.requested_at, preview.error = "queued", utcnow(), None
    try:
        db.session.commit()
    except IntegrityError:  # two presses at once: the other one made the row; it is queued already
        db.session.rollback()
        return latest_preview(integration.id)
    work_queue.queue_preview(integration.id)
    return preview


def latest_preview(integration_id: int) -> SyncPreview | None:
    return db.session.scalars(select(SyncPreview).where(SyncPreview.integration_id == integration_id)).one_or_none()


def run_preview(integration_id: int, connector_factory: ConnectorFactory = connector_for) -> SyncPreview | None:
    """Compute the preview (the job) and keep it on the integration's SyncPreview row."""
    preview = latest_preview(integration_id)
    integration = db.session.get(Integration, integration_id)
    if preview is None or integration is None:
        return None
    preview.status = "running"
    db.session.commit()
    try:
        with closing(connector_factory(integration)) as connector:
            preview.changes = dry_run(integration, connector).summary() + _waiting_pushes(integration, connector)
        preview.status, preview.error = "done", None
    except (ProviderError, TokenError) as exc:
        preview.status, preview.error = "failed", exc.message[:2000]
    except Exception as exc:
        log.exception("preview of integration %s failed", integration_id)
        preview.status, preview.error = "failed", f"internal error ({type(exc).__name__})"
    preview.finished_at = utcnow()
    db.session.commit()
    return preview


def dry_run(integration: Integration, connector) -> DryRun:
    """What a pull of every stream of `integration` would create, update and archive now. The pages
    are applied in a session of their own that never flushes and is rolled back, so nothing is
    written (and on SQLite no write lock is taken) while the provider is listed."""
    plan = DryRun()
    if isinstance(connector, Pulls):
        with Session(db.engine, autoflush=False, expire_on_commit=False) as scratch:
            try:
                context = run_context(integration, SessionLinks(scratch, integration.id))
                for stream in connector.streams:
                    pull_stream(scratch, integration.id, connector, stream, None, context, plan=plan)
            finally:
                scratch.rollback()
    return plan


def _waiting_pushes(integration: Integration, connector) -> list[dict]:
    """What the run would push: the local records with due outbox rows, one per record, by kind;
    then what the accounting export gate holds until an admin confirms it (app.services.export_gate)."""
    if not isinstance(connector, Pushes):
        return []
    held = export_gate.held_changes(db.session, integration)
    due = due_outbox(integration.id)
    counts = db.session.execute(select(OutboxItem.local_kind, func.count(func.distinct(OutboxItem.local_id)))
                                .where(*due).group_by(OutboxItem.local_kind)
                                .order_by(OutboxItem.local_kind)).all()
    changes = []
    for kind, count in counts:
        not_held = OutboxItem.local_id.not_in(held[kind]) if kind in held else true()
        if kind in held:  # the records the gate holds are listed apart, below
            count = db.session.scalar(select(func.count(func.distinct(OutboxItem.local_id)))
                                      .where(*due, OutboxItem.local_kind == kind, not_held))
        if not count:
            continue
        local_ids = db.session.scalars(select(OutboxItem.local_id).where(
            *due, OutboxItem.local_kind == kind, not_held).distinct().order_by(OutboxItem.local_id)
            .limit(EXAMPLES_PER_ACTION))
        changes.append(_change(kind, "push", count, local_ids))
    changes += [_change(kind, "held", len(ids), ids[:EXAMPLES_PER_ACTION]) for kind, ids in sorted(held.items())]
    return changes


def _change(kind: str, action: str, count: int, local_ids) -> dict:
    rows = [db.session.get(PUSHED_MODELS[kind], local_id) for local_id in local_ids]
    return {"kind": kind, "action": action, "count": count,
            "examples": [local_label(row) if row else "(deleted here)" for row in rows]}
