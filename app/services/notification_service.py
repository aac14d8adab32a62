"""Notifications to messaging integrations: events -> the notification outbox -> a job.

An event (a timer started, an invoice paid, the daily summary falling due) adds
one `Notification` row per messaging integration that chose it, in the same
transaction as the change, keyed by the event (`timer_started:42`,
`daily_summary:2026-12-01`). The key is unique per integration and the insert is
ON CONFLICT DO NOTHING, so an event can never be queued twice, and two workers
queuing the same day's summary leave one row. After the commit the integration's
delivery job is enqueued; a page request never waits on the provider.

Delivery claims each row with a conditional UPDATE (pending -> sending) before
posting, so two workers never post the same row; a 429 puts the row back with the
provider's Retry-After and stops the run (the whole workspace is limited), a 5xx
or a connection never made retries with backoff up to NOTIFY_MAX_ATTEMPTS, a post
sent but never answered is not repeated (it may be in the channel already), a
refused token marks the integration needs-reconnect and the rows wait for the
reconnection.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import event as sa_event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.extensions import db
from app.integrations import registry
from app.integrations.capabilities import (
    NOTIFY_DAILY_AT_SETTING,
    NOTIFY_EVENTS_SETTING,
    NOTIFY_LONG_HOURS_SETTING,
    NOTIFY_TIMEZONE_SETTING,
    Notifies,
)
from app.integrations.exchange import Notice
from app.integrations.http import AuthError, PermanentError, ProviderError, RateLimitedError, TransientError
from app.models import Integration, Invoice, Notification, SyncRun, TimeEntry, User
from app.models.base import utcnow
from app.models.integration import IntegrationStatus
from app.services import connection_state, work_queue
from app.services.connections import connector_for
from app.services.token_service import TokenError

log = logging.getLogger(__name__)

NOTIFY_MAX_ATTEMPTS = 8
# A claim older than this lost its worker (a crash between claim and answer). Far longer
# than one post with its retries can take.
NOTIFY_CLAIM_SECONDS = 600
STOPPED_WHILE_POSTING = ("The worker posting this stopped before the answer was recorded: it may have been "
                         "posted, so it was not posted again")
NOTIFY_BATCH = 50
DEFAULT_LONG_ENTRY_HOURS = 10
DEFAULT_DAILY_AT = "17:00"
# Syncs failing this many times in a row count as "keeps failing".
FAILING_RUNS = 3


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


# -- which integrations listen -----------------------------------------------------


def _listening(session: Session, event: str):
    """(integration) of every active messaging integration with a channel that chose `event`."""
    for integration in session.scalars(select(Integration).where(Integration.status == IntegrationStatus.ACTIVE)):
        if not issubclass(registry.get_connector(integration.provider), Notifies):
            continue
        settings = integration.settings or {}
        if settings.get("notify_channel") and event in (settings.get(NOTIFY_EVENTS_SETTING) or []):
            yield integration


def _link(path: str) -> str | None:
    base = current_app.config.get("TIMEHUB_EXTERNAL_URL")
    return f"{base}{path}" if base else None


def _insert_once(session: Session, integration_id: int, key: str, notice: Notice) -> bool:
    """Queue `notice` unless this integration has the key already; True when queued."""
    values = {"integration_id": integration_id, "event": notice.event, "event_key": key[:200],
              "notice": asdict(notice) | {"lines": list(notice.lines)}, "status": "pending", "attempts": 0,
              "next_attempt_at": utcnow(), "created_at": utcnow(), "updated_at": utcnow()}
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(Notification.__table__).values(**values).on_conflict_do_nothing(
        index_elements=["integration_id", "event_key"]).returning(Notification.__table__.c.id)
    # RETURNING tells a new row from a conflict on every driver (rowcount does not, on all).
    queued = session.execute(statement).first() is not None
    if queued:
        session.info.setdefault(NOTIFY_AFTER_COMMIT, set()).add(integration_id)
    return queued


def announce(session: Session, key: str, notice: Notice) -> int:
    """Queue `notice` for every integration listening to its event; the caller commits."""
    return sum(_insert_once(session, integration.id, key, notice) for integration in _listening(session, notice.event))


# Integrations that got rows in the session's transaction: delivered as soon as it commits.
NOTIFY_AFTER_COMMIT = "timehub.notifications_to_deliver"


@sa_event.listens_for(Session, "after_commit")
def _deliver_after_commit(session: Session) -> None:
    integration_ids = session.info.pop(NOTIFY_AFTER_COMMIT, None)
    for integration_id in sorted(integration_ids or ()):
        try:
            work_queue.queue_notify(integration_id)
        except Exception:  # noqa: BLE001 - any queue failure: the rows wait, the scheduler delivers them
            log.warning("could not enqueue notifications of integration %s; the scheduler will", integration_id)


@sa_event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(NOTIFY_AFTER_COMMIT, None)


# -- the events ------------------------------------------------------------------------


def _entry_lines(session: Session, entry: TimeEntry) -> tuple[str, ...]:
    lines = []
    if entry.project is not None:
        lines.append(f"Project: {entry.project.name}" + (f" / {entry.task.title}" if entry.task is not None else ""))
    if entry.description:
        lines.append(entry.description)
    return tuple(lines)


def _hours(value: float) -> str:
    return f"{value:.1f} h"


def time_entry_changed(session: Session, entry: TimeEntry, action: str) -> None:
    """After a time entry was started, stopped, created or updated (before the commit)."""
    user = session.get(User, entry.user_id)
    name = user.name if user else "Someone"
    lines = _entry_lines(session, entry)
    link = _link("/")
    if action == "started":
        announce(session, f"timer_started:{entry.id}",
                 Notice("timer_started", f"{name} started a timer", lines, link))
    if action == "stopped":
        announce(session, f"timer_stopped:{entry.id}",
                 Notice("timer_stopped", f"{name} stopped a timer after {_hours(entry.hours)}", lines, link))
    if entry.ended_at is None:
        return
    for integration in _listening(session, "long_entry"):
        limit = _long_hours(integration)
        if entry.hours > limit:
            _insert_once(session, integration.id, f"long_entry:{entry.id}", Notice(
                "long_entry", f"{name} logged {_hours(entry.hours)} in one entry (over {limit:g} h)", lines,
                _link(f"/entries/{entry.id}/edit"), "Check the entry"))


def _long_hours(integration: Integration) -> float:
    try:
        return float((integration.settings or {}).get(NOTIFY_LONG_HOURS_SETTING) or DEFAULT_LONG_ENTRY_HOURS)
    except (TypeError, ValueError):
        return DEFAULT_LONG_ENTRY_HOURS


def invoice_changed(session: Session, invoice: Invoice) -> None:
    """After an invoice moved to issued or paid (before the commit)."""
    if invoice.status not in ("issued", "paid"):
        return
    client = invoice.client.name if getattr(invoice, "client", None) is not None else ""
    event = f"invoice_{invoice.status}"
    verb = "issued" if invoice.status == "issued" else "paid"
    announce(session, f"{event}:{invoice.id}", Notice(
        event, f"Invoice {invoice.number} {verb}",
        tuple(line for line in (f"Client: {client}" if client else "",
                                f"Total: {invoice.total} {invoice.currency}") if line),
        _link(f"/invoices/{invoice.id}"), "Open the invoice"))


def integration_problem(session: Session, integration: Integration, problem: str, today: date | None = None) -> int:
    """An integration needs reconnecting or keeps failing: told once a day per problem,
    by the other messaging integrations (a broken one cannot tell about itself)."""
    spec = registry.get_connector(integration.provider).spec
    day = (today or utcnow().date()).isoformat()
    queued = 0
    for listener in _listening(session, "integration_problem"):
        if listener.id == integration.id:
            continue
        queued += _insert_once(session, listener.id, f"integration_problem:{integration.id}:{problem}:{day}", Notice(
            "integration_problem", f"{spec.name} {problem}", (integration.last_error or "",) if
            integration.last_error else (), _link(f"/integrations/{integration.id}"), "Open the integration"))
    return queued


# -- summaries, from the scheduler ------------------------------------------------------


def _zone(integration: Integration) -> ZoneInfo:
    try:
        return ZoneInfo((integration.settings or {}).get(NOTIFY_TIMEZONE_SETTING) or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _daily_at(integration: Integration) -> time:
    text = (integration.settings or {}).get(NOTIFY_DAILY_AT_SETTING) or DEFAULT_DAILY_AT
    try:
        return time.fromisoformat(text)
    except ValueError:
        return time.fromisoformat(DEFAULT_DAILY_AT)


def _totals(session: Session, start: datetime, end: datetime) -> list[tuple[str, float]]:
    """(user name, hours) of the entries started in [start, end), most hours first."""
    seconds: dict[str, float] = defaultdict(float)
    rows = session.execute(select(User.name, TimeEntry.started_at, TimeEntry.ended_at).join(
        User, User.id == TimeEntry.user_id).where(TimeEntry.started_at >= start, TimeEntry.started_at < end))
    now = utcnow()
    for name, started, ended in rows:
        seconds[name] += ((ended or now) - started).total_seconds()
    return sorted(((name, total / 3600) for name, total in seconds.items()), key=lambda pair: (-pair[1], pair[0]))


def _summary(event: str, title: str, totals: list[tuple[str, float]]) -> Notice:
    lines = tuple(f"{name}: {_hours(hours)}" for name, hours in totals) or ("No time was tracked.",)
    total = sum(hours for _, hours in totals)
    return Notice(event, f"{title}: {_hours(total)} in all", lines, _link("/calendar"), "Open the calendar")


def queue_summaries(now: datetime | None = None) -> int:
    """Queue the daily and weekly summaries that are due (the scheduler calls this every
    minute, possibly on several machines at once: the event key keeps one per period)."""
    session = db.session
    now = now or utcnow()
    queued = 0
    for event in ("daily_summary", "weekly_summary"):
        for integration in list(_listening(session, event)):
            zone = _zone(integration)
            local = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
            if local.time().replace(tzinfo=None) < _daily_at(integration):
                continue
            day = local.date()
            if event == "daily_summary":
                start = datetime.combine(day, time.min, zone)
                end = start + timedelta(days=1)
                key, title = f"daily_summary:{day.isoformat()}", f"Time tracked on {day.isoformat()}"
            else:
                if day.weekday() != 0:
                    continue
                end = datetime.combine(day, time.min, zone)
                start = end - timedelta(days=7)
                year, week, _ = start.date().isocalendar()
                key, title = f"weekly_summary:{year}-W{week:02d}", f"Time tracked in week {week} of {year}"
            utc = ZoneInfo("UTC")
            totals = _totals(session, start.astimezone(utc).replace(tzinfo=None),
                             end.astimezone(utc).replace(tzinfo=None))
            queued += _insert_once(session, integration.id, key, _summary(event, title, totals))
    queued += _queue_failing(session, now)
    session.commit()
    return queued


def _queue_failing(session: Session, now: datetime) -> int:
    """Integrations that need reconnecting, or whose last FAILING_RUNS syncs all failed: an
    admin should look. Found here, once a minute, rather than where the status changes, so
    the token and sync services need not know about messaging."""
    queued = 0
    # A personal link's owner is told on their own pages, never the admins (personal_links).
    for integration in session.scalars(select(Integration).where(Integration.is_connection(), Integration.status.in_(
            (IntegrationStatus.ACTIVE, IntegrationStatus.NEEDS_RECONNECT)))):
        if integration.status == IntegrationStatus.NEEDS_RECONNECT:
            queued += integration_problem(session, integration, "needs reconnecting", now.date())
            continue
        statuses = list(session.scalars(select(SyncRun.status).where(
            SyncRun.integration_id == integration.id, SyncRun.status != "running")
            .order_by(SyncRun.started_at.desc()).limit(FAILING_RUNS)))
        if len(statuses) == FAILING_RUNS and all(status == "failed" for status in statuses):
            queued += integration_problem(session, integration, "keeps failing to sync", now.date())
    return queued


# -- delivery -----------------------------------------------------------------------------


def due_integrations(now: datetime | None = None) -> list[int]:
    """Integrations with notifications to post now (the scheduler's safety net)."""
    now = now or utcnow()
    _release_stale_claims(db.session, now)
    return list(db.session.scalars(select(Notification.integration_id).where(
        Notification.status == "pending", Notification.next_attempt_at <= now).distinct()))


def _release_stale_claims(session: Session, now: datetime) -> None:
    """A claim this old lost its worker somewhere between claiming and recording the answer:
    the message may be in the channel, so (as after a lost answer) it is not posted again."""
    session.execute(update(Notification).where(
        Notification.status == "sending",
        Notification.claimed_at < now - timedelta(seconds=NOTIFY_CLAIM_SECONDS),
    ).values(status="failed", claimed_at=None, last_error=STOPPED_WHILE_POSTING))
    session.commit()


def _claim(session: Session, notification_id: int) -> bool:
    """pending -> sending for this worker alone; False when another worker has it."""
    claimed = session.execute(update(Notification).where(
        Notification.id == notification_id, Notification.status == "pending",
    ).values(status="sending", claimed_at=utcnow(), updated_at=utcnow()).execution_options(
        synchronize_session=False)).rowcount
    session.commit()
    return claimed == 1


def deliver(integration_id: int, connector_factory=connector_for) -> tuple[int, float | None]:
    """Post the integration's due notifications. Returns (how many were posted, seconds
    until a row put back waits to be tried again, or None)."""
    session = db.session
    integration = session.get(Integration, integration_id)
    if integration is None or integration.status != IntegrationStatus.ACTIVE:
        return 0, None  # a connection that needs reconnecting keeps its rows waiting
    channel = (integration.settings or {}).get("notify_channel")
    due = list(session.scalars(select(Notification.id).where(
        Notification.integration_id == integration_id, Notification.status == "pending",
        Notification.next_attempt_at <= utcnow()).order_by(Notification.id).limit(NOTIFY_BATCH)))
    if not due or not channel:
        return 0, None
    try:
        connector = connector_factory(integration)
    except TokenError as exc:
        log.info("notifications of integration %s wait: %s", integration_id, exc.message)
        return 0, None
    posted, wait = 0, None
    try:
        for notification_id in due:
            if not _claim(session, notification_id):
                continue
            row = session.get(Notification, notification_id)
            outcome = _post(session, integration, connector, channel, row)
            session.commit()
            if outcome is True:
                posted += 1
            elif outcome is not None:
                wait = outcome
                break
    finally:
        connector.close()
    return posted, wait


def _post(session: Session, integration: Integration, connector: Notifies, channel: str,
          row: Notification) -> bool | float | None:
    """Post one claimed row. True: posted; a number: stop, come back in that many seconds;
    None: this row failed or waits, go on with the next."""
    notice = Notice(**{**row.notice, "lines": tuple(row.notice.get("lines") or ())})
    try:
        row.remote_id = connector.post_notice(channel, notice)[:200]
    except RateLimitedError as exc:
        wait = exc.retry_after if exc.retry_after is not None else backoff(row.attempts + 1).total_seconds()
        row.status, row.claimed_at, row.last_error = "pending", None, exc.message[:1000]
        row.next_attempt_at = utcnow() + timedelta(seconds=wait)
        return max(wait, 1.0)
    except (AuthError, TokenError) as exc:
        row.status, row.claimed_at, row.last_error = "pending", None, exc.message[:1000]
        connection_state.needs_reconnect(integration, exc.message)
        return float(NOTIFY_CLAIM_SECONDS)
    except PermanentError as exc:
        row.status, row.claimed_at, row.last_error = "failed", None, exc.message[:1000]
        row.attempts += 1
        return None
    except TransientError as exc:
        if not exc.unanswered:
            return _later(row, exc)
        # Sent, never answered: the message may be in the channel. Neither provider's
        # description lets TimeHub look (docs/design.md, issue 12), so it is not posted
        # again: a lost notice is better than a doubled one, and the admin sees why.
        row.status, row.claimed_at, row.attempts = "failed", None, row.attempts + 1
        row.last_error = (f"No answer came after the message was sent ({exc.message}): it may have been posted, "
                          "so it was not posted again")[:1000]
        return None
    except ProviderError as exc:  # 5xx, a connection never made: later
        return _later(row, exc)
    row.status, row.claimed_at, row.sent_at, row.last_error = "sent", None, utcnow(), None
    row.attempts += 1
    return True


def _later(row: Notification, exc: ProviderError) -> None:
    """Try the row again after a backoff, a bounded number of times."""
    row.attempts += 1
    row.claimed_at, row.last_error = None, exc.message[:1000]
    row.status = "failed" if row.attempts >= NOTIFY_MAX_ATTEMPTS else "pending"
    row.next_attempt_at = utcnow() + backoff(row.attempts)
    return None


def send_test(integration: Integration, channel: str, connector_factory) -> str:
    """Post a test message now (the settings page's button); raises ProviderError with the
    provider's answer. Not queued: the admin waits for the answer on purpose."""
    connector = connector_factory(integration)
    try:
        return connector.post_notice(channel, Notice(
            "test", "TimeHub test message", ("If you can read this, notifications reach this channel.",),
            _link(f"/integrations/{integration.id}/settings"), "Notification settings"))
    finally:
        connector.close()


def recent_failures(session: Session, integration_id: int, limit: int = 5) -> list[Notification]:
    """The latest notices that were not posted, with why (for the settings page)."""
    return list(session.scalars(select(Notification).where(
        Notification.integration_id == integration_id, Notification.status == "failed")
        .order_by(Notification.updated_at.desc(), Notification.id.desc()).limit(limit)))


def counts(session: Session, integration_id: int) -> dict[str, int]:
    """How many notifications of the integration are in each status (for its page)."""
    return dict(session.execute(select(Notification.status, func.count()).where(
        Notification.integration_id == integration_id).group_by(Notification.status)).all())
