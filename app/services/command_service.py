"""Chat commands (Slack's /timehub): verify, find the TimeHub user, act, answer at once.

Everything here is local work plus at most one provider call (the sender's
e-mail), so the answer goes back in the same request, well within Slack's three
seconds. A request is accepted once: its delivery id (from the signature) is
stored with the webhook deliveries, and a replay of it is refused.
"""
from __future__ import annotations

import time as clock
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from app import timefmt
from app.extensions import db
from app.integrations import registry
from app.integrations.capabilities import COMMAND_USER_MAP_SETTING, AnswersCommands
from app.integrations.exchange import WebhookRejected
from app.integrations.http import INTERACTIVE_RETRY, ProviderError
from app.models import Integration, Project, Task, TimeEntry, User, WebhookDelivery
from app.models.base import utcnow
from app.models.integration import IntegrationStatus
from app.services import lookups, time_service
from app.services.connections import connector_for
from app.services.token_service import TokenError

HELP = ("/timehub start <project> [task]: start a timer\n"
        "/timehub stop: stop your timer\n"
        "/timehub status: what is running\n"
        "/timehub today: your time today\n"
        "/timehub help: this list")


@dataclass(frozen=True)
class CommandAnswer:
    status: int
    body: dict


def answer(slug: str, token: str, headers, body: bytes, now: float | None = None) -> CommandAnswer:
    """Answer one command request; raises WebhookRejected (404 unknown address, 401 forged,
    stale or replayed)."""
    try:
        connector_class = registry.get_connector(slug)
    except registry.UnknownProvider:
        raise WebhookRejected(404, "unknown provider") from None
    session = db.session
    integration = session.scalars(select(Integration).where(
        Integration.provider == slug, Integration.webhook_token == token)).one_or_none()
    if integration is None or not issubclass(connector_class, AnswersCommands) \
            or integration.status == IntegrationStatus.NOT_CONFIGURED:
        raise WebhookRejected(404, "unknown command address")
    app = lookups.app_record(session, slug)
    secrets = app.payload if app is not None else {}
    request = connector_class.verify_command(secrets, headers, body, clock.time() if now is None else now)
    if request.challenge is not None:
        return CommandAnswer(200, {"challenge": request.challenge})
    if not _first_time(integration.id, request.delivery_id):
        raise WebhookRejected(401, "this request was received already")
    return CommandAnswer(200, connector_class.command_answer(_run(integration, connector_class, request)))


def _first_time(integration_id: int, delivery_id: str) -> bool:
    """Store the request's id; False when it was stored before (a replay)."""
    session = db.session
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = WebhookDelivery.__table__
    stored = session.execute(insert(table).values(
        integration_id=integration_id, delivery_id=delivery_id[:200], event="command", body="",
        received_at=utcnow(), processed_at=utcnow()).on_conflict_do_nothing(
        index_elements=["integration_id", "delivery_id"]).returning(table.c.id)).first()
    session.commit()
    return stored is not None


def _run(integration: Integration, connector_class, request) -> str:
    if integration.status != IntegrationStatus.ACTIVE:
        return "TimeHub's connection to this workspace needs attention; ask a TimeHub admin to reconnect it."
    words = request.text.split()
    verb, rest = (words[0].lower(), words[1:]) if words else ("help", [])
    if verb == "help" or verb not in COMMANDS:
        return HELP if verb == "help" else f"I do not know \"{verb}\".\n{HELP}"
    user, problem = _user_for(integration, connector_class, request.remote_user_id)
    if user is None:
        return problem
    return COMMANDS[verb](user, rest)


def _user_for(integration: Integration, connector_class, remote_user_id: str) -> tuple[User | None, str]:
    """The TimeHub user behind the sender: the manual mapping first, then the e-mail address."""
    mapped = ((integration.settings or {}).get(COMMAND_USER_MAP_SETTING) or {}).get(remote_user_id)
    if mapped is not None:
        user = db.session.get(User, int(mapped))
        if user is not None:
            return user, ""
    try:
        connector = connector_for(integration, retry=INTERACTIVE_RETRY)  # the sender waits
    except TokenError as exc:
        return None, f"TimeHub cannot ask {connector_class.spec.name} who you are ({exc.message})."
    try:
        email = connector.command_user_email(remote_user_id)
    except ProviderError as exc:
        return None, f"TimeHub could not find out who you are: {exc.message}"
    finally:
        connector.client.close()
    user = db.session.scalars(select(User).where(func.lower(User.email) == (email or "").lower())).first() \
        if email else None
    if user is None:
        shown = f" ({email})" if email else ""
        return None, (f"Your {connector_class.spec.name} account{shown} matches no TimeHub user. Ask a TimeHub "
                      "admin to add you, or to map your account on the integration's settings page.")
    return user, ""


# -- the commands -------------------------------------------------------------------------


def _local(user: User, moment: datetime) -> str:
    return timefmt.to_local(moment, user.tz).strftime("%H:%M")


def _what(entry: TimeEntry) -> str:
    parts = [entry.project.name if entry.project else "no project"]
    if entry.task is not None:
        parts.append(entry.task.title)
    return " / ".join(parts)


def _hours(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _find(rows, query: str, noun: str, plural: str):
    """(the one row named `query`, or None and what to say)."""
    wanted = query.lower()
    exact = [row for row in rows if row.name_for_match == wanted]
    found = exact or [row for row in rows if wanted in row.name_for_match]
    if len(found) == 1:
        return found[0].row, ""
    if not found:
        return None, f"No {noun} called \"{query}\"."
    names = ", ".join(sorted(row.label for row in found)[:10])
    return None, f"\"{query}\" matches several {plural}: {names}. Type more of the name."


@dataclass(frozen=True)
class _Named:
    row: object
    label: str

    @property
    def name_for_match(self) -> str:
        return self.label.lower()


def _start(user: User, words: list[str]) -> str:
    if not words:
        return "Say which project: /timehub start <project> [task]"
    running = time_service.running_entry(user)
    if running is not None:
        return (f"Your timer on {_what(running)} has been running since {_local(user, running.started_at)}. "
                "Stop it first with /timehub stop.")
    projects = list(db.session.scalars(select(Project).order_by(Project.name)))
    open_projects = [_Named(p, p.name) for p in projects if not p.archived]
    # The longest run of leading words naming a project exactly; the rest names the task.
    project, task_words = None, []
    for cut in range(len(words), 0, -1):
        name = " ".join(words[:cut]).lower()
        matches = [named.row for named in open_projects if named.name_for_match == name]
        if len(matches) == 1:
            project, task_words = matches[0], words[cut:]
            break
    if project is None:
        query = " ".join(words)
        if any(p.archived and p.name.lower() == query.lower() for p in projects):
            return f"Project {query} is archived: time cannot be tracked on it."
        project, problem = _find(open_projects, query, "open project", "projects")
        if project is None:
            return problem
    task = None
    if task_words:
        tasks = [_Named(t, t.title) for t in db.session.scalars(
            select(Task).where(Task.project_id == project.id, Task.archived.is_(False)))]
        task, problem = _find(tasks, " ".join(task_words), f"task in {project.name}", "tasks")
        if task is None:
            return problem
    try:
        entry = time_service.start_timer(user, project_id=project.id, task_id=task.id if task else None)
    except time_service.TimeEntryInvalid as exc:
        return "The timer could not start: " + "; ".join(exc.errors.values())
    return f"Timer started on {_what(entry)} at {_local(user, entry.started_at)}."


def _stop(user: User, words: list[str]) -> str:
    running = time_service.running_entry(user)
    if running is None:
        return "No timer is running."
    what = _what(running)  # read now: a timer stopped within a minute is deleted by stopping it
    entry = time_service.stop_timer(user)
    answer = f"Stopped the timer on {what} after {_hours(entry.duration)}."
    if time_service.is_too_short(entry):
        answer += " It ran for less than a minute, so it was discarded, as on the time page."
    return answer


def _status(user: User, words: list[str]) -> str:
    entry = time_service.running_entry(user)
    if entry is None:
        return "No timer is running. Start one with /timehub start <project>."
    return f"Running: {_what(entry)} since {_local(user, entry.started_at)} ({_hours(entry.duration)})."


def _today(user: User, words: list[str]) -> str:
    day = timefmt.today_in(user.tz)
    start, end = timefmt.day_range_utc(day, day, user.tz)
    entries = time_service.entries_between([user.id], start, end)
    total = sum((entry.duration for entry in entries), timedelta())
    return f"Today: {_hours(total)} in {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}."


COMMANDS = {"start": _start, "stop": _stop, "status": _status, "today": _today}
