"""Webhook processing: the stored deliveries applied, by the process_webhook job.

A job's deliveries are applied one integration at a time, each integration's as one run
with its other waiting deliveries (docs/design.md). Deliveries are kept a while after
processing, so a replay is still told apart, then purged. The intake, which verifies and
stores them, is app/services/webhook_service.py.
"""
from __future__ import annotations

import json
import logging
from contextlib import closing
from datetime import timedelta

from sqlalchemy import delete, func, select, update

from app import tuning
from app.extensions import db
from app.integrations import registry
from app.models import Integration, SyncRun, WebhookDelivery
from app.models.base import utcnow
from app.services import work_queue
from app.services.connections import connector_for
from app.services.sync_service import NOTIFIED_TRIGGER, apply_records, finish_run, start_run

log = logging.getLogger(__name__)


def process_delivery(delivery_id: int, connector_factory=connector_for) -> None:
    """Apply one stored delivery, unless it was processed already (process_deliveries, a batch of one)."""
    for integration_id, batch in unprocessed_by_integration([delivery_id]).items():
        process_deliveries(integration_id, batch, connector_factory)


def unprocessed_by_integration(delivery_ids) -> dict[int, list[int]]:
    """The deliveries among `delivery_ids` not yet processed, by integration, in stored order."""
    batches: dict[int, list[int]] = {}
    for delivery_id, integration_id in db.session.execute(
            select(WebhookDelivery.id, WebhookDelivery.integration_id).where(*_waiting(delivery_ids))
            .order_by(WebhookDelivery.id)):
        batches.setdefault(integration_id, []).append(delivery_id)
    return batches


def runs_for(integration_id: int, batch: list[int]) -> list[list[int]]:
    """What a job applies of one integration, as runs: the waiting ones of `batch` and, up to
    WEBHOOK_APPLY_BATCH_MAX in all, the integration's other waiting deliveries, oldest first,
    split so that no run holds more than WEBHOOK_APPLY_BATCH_CHARACTERS of bodies (a bigger
    delivery is a run alone): a run has every body it applies in memory at once."""
    size = func.length(WebhookDelivery.body)
    own = list(db.session.execute(select(WebhookDelivery.id, size).where(*_waiting(batch))))
    others = db.session.execute(select(WebhookDelivery.id, size).where(
        WebhookDelivery.integration_id == integration_id, WebhookDelivery.processed_at.is_(None),
        WebhookDelivery.id.not_in(batch)).order_by(WebhookDelivery.id)
        .limit(max(0, tuning.WEBHOOK_APPLY_BATCH_MAX - len(own))))
    runs, characters = [[]], 0
    for delivery_id, length in sorted([*own, *others]):
        if runs[-1] and characters + length > tuning.WEBHOOK_APPLY_BATCH_CHARACTERS:
            runs.append([])
            characters = 0
        runs[-1].append(delivery_id)
        characters += length
    return [run for run in runs if run]


def _waiting(delivery_ids) -> tuple:
    """Which of `delivery_ids` still wait to be processed (a WHERE clause)."""
    return WebhookDelivery.id.in_(list(delivery_ids)), WebhookDelivery.processed_at.is_(None)


def process_deliveries(integration_id: int, delivery_ids: list[int], connector_factory=connector_for) -> None:
    """Apply stored deliveries of one integration, in stored order, as one run: like every
    writer of an integration's links it holds the integration's run lock, so it never races
    a pull, a push or another worker processing the same deliveries. Raises
    SyncAlreadyRunning when another run holds the integration (the job retries).

    One run, one connector and one apply for the whole batch (a run of its own for each
    delivery cost 65 times the CPU; docs/benchmarks.md, session 12). The records of all
    deliveries are applied together: a record named twice counts its later delivery unless that one is older at
    the provider, as when they are applied one after the other. Should that apply fail,
    each delivery is applied alone, so only the ones that fail alone are marked failed."""
    session = db.session
    if not _any_waiting(delivery_ids):
        return  # another job took them along while this one waited for the lock: no empty run
    integration = session.get(Integration, integration_id)
    run = start_run(session, integration, "webhook")
    # Read under the lock: another worker may have finished some just before we took it.
    deliveries = [(row.id, row.event, row.body) for row in session.scalars(
        select(WebhookDelivery).where(*_waiting(delivery_ids)).order_by(WebhookDelivery.id))]
    records, errors = _records_of(integration, deliveries, connector_factory)
    totals = _apply_all(session, integration_id, records, errors) if records else (0, 0, 0, 0)
    now = utcnow()
    if deliveries:
        marks = [{"id": delivery_id, "error": errors.get(delivery_id), "processed_at": now}
                 for delivery_id, _, _ in deliveries]
        session.execute(update(WebhookDelivery), marks)  # by primary key: one executemany
    run = session.get(SyncRun, run.id)
    run.pulled, run.created, run.updated, run.archived = totals
    finish_run(session, integration, run, _run_error(errors, len(deliveries)))
    connector_class = registry.get_connector(integration.provider)
    if any(connector_class.delivery_asks_for_pull(event) for delivery_id, event, _ in deliveries
           if delivery_id not in errors):
        _queue_pull(integration_id)


def _any_waiting(delivery_ids: list[int]) -> bool:
    return db.session.scalar(select(WebhookDelivery.id).where(*_waiting(delivery_ids)).limit(1)) is not None


def _records_of(integration, deliveries, connector_factory) -> tuple[dict[int, list], dict[int, str]]:
    """Each delivery's records by its id (in stored order), and the reason of each that gave none."""
    records, errors = {}, {}
    try:
        with closing(connector_factory(integration)) as connector:
            for delivery_id, event, body in deliveries:
                try:
                    records[delivery_id] = connector.webhook_records(event, json.loads(body))
                except Exception as exc:  # recorded on the delivery; the periodic sync is the safety net
                    errors[delivery_id] = _failed(delivery_id, exc)
    except Exception as exc:  # no connector: none of them can be applied
        records, errors = {}, {delivery_id: _failed(delivery_id, exc) for delivery_id, _, _ in deliveries}
    return records, errors


def _apply_all(session, integration_id: int, records: dict[int, list], errors: dict[int, str]) -> tuple:
    """Apply every delivery's records (by delivery id, in stored order) in the run's
    transaction; should that fail, each delivery's in a transaction of its own, noting in
    `errors` those that fail alone. (pulled, created, updated, archived)."""
    try:
        return _applied(session, integration_id, [record for each in records.values() for record in each])
    except Exception as exc:  # noqa: BLE001 - recorded on the delivery, or found below among several
        session.rollback()
        if len(records) == 1:
            (delivery_id,) = records
            errors[delivery_id] = _failed(delivery_id, exc)
            return (0, 0, 0, 0)
    totals = (0, 0, 0, 0)
    for delivery_id, each in records.items():
        try:
            counts = _applied(session, integration_id, each)
            session.commit()
        except Exception as exc:  # noqa: BLE001 - this delivery alone cannot be applied
            session.rollback()
            errors[delivery_id] = _failed(delivery_id, exc)
        else:
            totals = tuple(map(sum, zip(totals, counts)))
    return totals


def _applied(session, integration_id: int, records: list) -> tuple:
    result = apply_records(session, integration_id, records)
    session.flush()
    return (len(records), result.created, result.updated, result.archived)


def _failed(delivery_id: int, exc: Exception) -> str:
    log.warning("webhook delivery %s failed: %s", delivery_id, type(exc).__name__)
    return _failure_reason(exc)


def _run_error(errors: dict[int, str], count: int) -> str | None:
    """The run's error: the one delivery's reason, or how many of the batch failed and why the first did."""
    if not errors:
        return None
    first = next(iter(errors.values()))
    return first if count == 1 else f"{len(errors)} of {count} deliveries could not be applied: {first}"[:500]


def _queue_pull(integration_id: int) -> None:
    """An incremental pull for a delivery that only said something changed. The queue being
    unreachable loses nothing for long: the periodic sync reads the same changes."""
    try:
        work_queue.queue_sync(integration_id, NOTIFIED_TRIGGER)
    except Exception:
        log.warning("could not queue the pull a notification asked for (integration %s)", integration_id,
                    exc_info=True)


def _failure_reason(exc: Exception) -> str:
    """What the integration page shows for a delivery that could not be applied."""
    message = getattr(exc, "message", None)
    if message:
        return str(message)[:500]
    detail = str(exc)
    return f"could not be applied ({type(exc).__name__}{': ' + detail[:300] if detail else ''})"


def purge_processed(now=None) -> int:
    """Delete the deliveries processed more than WEBHOOK_KEEP_DAYS ago, a chunk per
    transaction (SQLite's one writer is never held for long); never one still waiting.
    How many went."""
    cutoff = (now or utcnow()) - timedelta(days=tuning.WEBHOOK_KEEP_DAYS)
    session, purged = db.session, 0
    while True:
        # Oldest first along the primary key: each chunk starts where the last one ended.
        chunk = list(session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.processed_at < cutoff)
                                     .order_by(WebhookDelivery.id).limit(tuning.WEBHOOK_PURGE_CHUNK)))
        if not chunk:
            return purged
        session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(chunk)))
        session.commit()
        purged += len(chunk)


def recent_failed_deliveries(integration_id: int, limit: int = 10) -> list[WebhookDelivery]:
    """Stored deliveries that could not be applied, newest first (the integration page lists them)."""
    return list(db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.integration_id == integration_id,
                                      WebhookDelivery.error.is_not(None))
        .order_by(WebhookDelivery.received_at.desc(), WebhookDelivery.id.desc()).limit(limit)))
