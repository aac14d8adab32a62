"""Chat commands (such as a /timehub slash command): verify, find the TimeHub user, act, answer.

Slack waits three seconds for the answer. A command whose sender is known without
asking the provider (the manual mapping, or the e-mail the provider gave within the
last day, kept in `command_senders`) and whose work is small is answered in the
request. Anything else (a sender to look up with users.info, `today` over a big
day) is answered at once with "working on it", and a job does the work and posts
the answer to the request's reply URL; that URL is used only when it is the
provider's own reply host or the configured API base, never another address a
request names. A request is accepted once: its delivery id (from the signature) is
stored with the webhook deliveries, and a replay of it is refused.
"""
from __future__ import annotations

import logging
import time as clock
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx2
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from app import timefmt
from app.extensions import db
from app.integrations import registry
from app.integrations.capabilities import COMMAND_USER_MAP_SETTING, AnswersCommands
from app.integrations.exchange import WebhookRejected
from app.integrations.http import INTERACTIVE_RETRY, ProviderClient, ProviderError
from app.models import CommandSender, Integration, Project, Task, TimeEntry, User, WebhookDelivery
from app.models.base import utcnow
from app.models.integration import IntegrationStatus
from app.services import connections, lookups, time_service, work_queue
from app.services.connections import connector_for
from app.services.token_service import TokenError

log = logging.getLogger(__name__)

RECONNECT_ANSWER = "TimeHub's connection to this workspace needs attention; ask a TimeHub admin to reconnect it."
WORKING_ANSWER = "Working on it: the answer follows in a moment."
# Commands whose work may be long (a big day's entries): always answered through the reply URL.
SLOW_COMMANDS = frozenset({"today"})
# How long the provider's answer about a sender (its e-mail address) is trusted.
SENDER_FRESH_FOR = timedelta(days=1)

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
    return CommandAnswer(200, connector_class.command_answer(_answer_now_or_later(integration, connector_class,
                                                                                  request)))


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


def _parse(text: str) -> tuple[str, list[str]]:
    words = text.split()
    return (words[0].lower(), words[1:]) if words else ("help", [])


def _answer_now_or_later(integration: Integration, connector_class, request) -> str:
    """The answer, when it is quick to give: help, a sender known without asking the
    provider, a command that only reads a little. Otherwise the work goes to a job that
    answers through the request's reply URL (when that URL is the provider's own), and
    the sender is told it is coming."""
    if integration.status != IntegrationStatus.ACTIVE:
        return RECONNECT_ANSWER
    verb, rest = _parse(request.text)
    if verb == "help" or verb not in COMMANDS:
        return HELP if verb == "help" else f"I do not know \"{verb}\".\n{HELP}"
    known = _known_sender(integration, request.remote_user_id)
    if known is not None and verb not in SLOW_COMMANDS:
        user, problem = known
        return COMMANDS[verb](user, rest) if user is not None else problem
    if reply_target(integration, connector_class, request.reply_url) is None:
        return _run(integration, connector_class, request.remote_user_id, request.text, INTERACTIVE_RETRY)
    try:
        work_queue.queue_command(integration.id, request.remote_user_id, request.text, request.reply_url)
    except Exception:  # noqa: BLE001 - any queue failure: answer in the request, late rather than never
        log.warning("could not queue the command of integration %s; answering in the request", integration.id)
        return _run(integration, connector_class, request.remote_user_id, request.text, INTERACTIVE_RETRY)
    return WORKING_ANSWER


def answer_later(integration_id: int, remote_user_id: str, text: str, reply_url: str) -> bool:
    """The job's half: run the command and post the answer to the reply URL. False when
    the answer could not be delivered (the reason is logged)."""
    integration = db.session.get(Integration, integration_id)
    if integration is None:
        return False
    connector_class = registry.get_connector(integration.provider)
    origin = reply_target(integration, connector_class, reply_url)
    if origin is None:  # checked when the request came; checked again before any call
        log.warning("command reply of integration %s refused: not the provider's reply address", integration_id)
        return False
    text_out = _run(integration, connector_class, remote_user_id, text, None) \
        if integration.status == IntegrationStatus.ACTIVE else RECONNECT_ANSWER
    spec = connector_class.spec
    try:
        with ProviderClient(spec.name, origin, errors=spec.errors) as client:
            client.request("POST", reply_url, json=connector_class.command_answer(text_out))
    except ProviderError as exc:
        log.warning("command reply of integration %s not delivered: %s", integration_id, exc.message)
        return False
    return True


def reply_target(integration: Integration, connector_class, reply_url: str | None) -> str | None:
    """The origin to post a deferred answer to, or None. Only the provider's own reply hosts
    (the connector's `command_reply_hosts`, over HTTPS) or the origin of the API base TimeHub
    is set up with: the URL comes in the request, and TimeHub must not be made to call
    anywhere else."""
    if not reply_url or len(reply_url) > 2000:
        return None
    try:
        url = httpx2.URL(reply_url)
        base = httpx2.URL(connections.api_base_of(integration))
    except (httpx2.InvalidURL, ValueError):
        return None
    if url.userinfo or not url.host:
        return None
    if url.scheme == "https" and url.host in connector_class.command_reply_hosts and url.port in (None, 443):
        return f"https://{url.host}"
    if (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port):
        return f"{base.scheme}://{base.netloc.decode('ascii')}"
    return None


def _run(integration: Integration, connector_class, remote_user_id: str, text: str, retry) -> str:
    verb, rest = _parse(text)
    if verb not in COMMANDS:
        return HELP
    user, problem = _known_sender(integration, remote_user_id) or \
        _ask_for_sender(integration, connector_class, remote_user_id, retry)
    if user is None:
        return problem
    return COMMANDS[verb](user, rest)


def _known_sender(integration: Integration, remote_user_id: str) -> tuple[User | None, str] | None:
    """(the TimeHub user, or None and what to say) when it is known without asking the
    provider: the manual mapping, or the provider's answer of the last day; else None."""
    mapped = ((integration.settings or {}).get(COMMAND_USER_MAP_SETTING) or {}).get(remote_user_id)
    if mapped is not None:
        user = db.session.get(User, int(mapped))
        if user is not None:
            return _usable(user)
    cached = db.session.scalars(select(CommandSender).where(
        CommandSender.integration_id == integration.id, CommandSender.remote_user_id == remote_user_id[:100],
        CommandSender.checked_at > utcnow() - SENDER_FRESH_FOR)).one_or_none()
    if cached is None:
        return None
    return _by_email(integration, cached.email)


def _ask_for_sender(integration: Integration, connector_class, remote_user_id: str,
                    retry) -> tuple[User | None, str]:
    """Ask the provider for the sender's e-mail address (and keep the answer a day)."""
    try:
        connector = connector_for(integration, retry=retry)
    except TokenError as exc:
        return None, f"TimeHub cannot ask {connector_class.spec.name} who you are ({exc.message})."
    try:
        email = connector.command_user_email(remote_user_id)
    except ProviderError as exc:
        return None, f"TimeHub could not find out who you are: {exc.message}"
    finally:
        connector.close()
    _remember(integration, remote_user_id, email)
    return _by_email(integration, email)


def _remember(integration: Integration, remote_user_id: str, email: str | None) -> None:
    session = db.session
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    values = {"integration_id": integration.id, "remote_user_id": remote_user_id[:100],
              "email": (email or None) and email[:320], "checked_at": utcnow()}
    session.execute(insert(CommandSender.__table__).values(**values).on_conflict_do_update(
        index_elements=["integration_id", "remote_user_id"],
        set_={"email": values["email"], "checked_at": values["checked_at"]}))
    session.commit()


def _by_email(integration: Integration, email: str | None) -> tuple[User | None, str]:
    spec = registry.get_connector(integration.provider).spec
    user = db.session.scalars(select(User).where(func.lower(User.email) == email.lower())).first() \
        if email else None
    if user is None:
        shown = f" ({email})" if email else ""
        return None, (f"Your {spec.name} account{shown} matches no TimeHub user. Ask a TimeHub "
                      "admin to add you, or to map your account on the integration's settings page.")
    return _usable(user)


def _usable(user: User) -> tuple[User | None, str]:
    if not user.is_active:
        return None, "Your TimeHub account is deactivated: ask a TimeHub admin."
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
