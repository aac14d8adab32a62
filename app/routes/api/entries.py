"""Time entries and the timer, through app.services.time_service (its rules: one's own
entries, administrators anyone's; entries on an issued invoice are locked)."""
from __future__ import annotations

from flask import jsonify, request
from sqlalchemy.orm import selectinload

from app import timefmt
from app.models import Tag, TimeEntry
from app.routes.api.blueprint import bp
from app.routes.api.support import (
    ApiProblem,
    body_moment,
    caller,
    check_if_match,
    conflict,
    invalid,
    iso,
    json_body,
    list_response,
    not_found,
    page_of,
    query_date,
    query_id,
    query_user,
    with_etag,
)
from app.services import time_service
from app.services.time_service import EntryFields, TimeEntryInvalid, TimeEntryLocked

# time_service names fields after the form; the API after the JSON members.
FIELD_NAMES = {"project": "project_id", "task": "task_id"}


def entry_json(entry: TimeEntry) -> dict:
    body = {
        "id": entry.id, "user_id": entry.user_id, "project_id": entry.project_id, "task_id": entry.task_id,
        "description": entry.description, "started_at": iso(entry.started_at), "ended_at": iso(entry.ended_at),
        "running": entry.is_running,
        "duration_seconds": None if entry.is_running else int(entry.duration.total_seconds()),
        "billable": entry.billable, "tags": sorted(tag.name for tag in entry.tags),
        "locked": time_service.is_locked(entry),
    }
    if caller().is_admin:
        body["invoice_id"] = entry.invoice_id
    return {**body, "created_at": iso(entry.created_at), "updated_at": iso(entry.updated_at)}


def _invalid(exc: TimeEntryInvalid) -> ApiProblem:
    return invalid({FIELD_NAMES.get(name, name): message for name, message in exc.errors.items()})


def _entry_or_404(entry_id: int) -> TimeEntry:
    entry = time_service.visible_entry(caller(), entry_id)
    if entry is None:
        raise not_found("time entry")
    return entry


def _fields(body: dict, entry: TimeEntry | None = None) -> EntryFields:
    """The body's members over the entry's current values (all of them for a new entry)."""
    def pick(name, default=None):
        return body[name] if name in body else (getattr(entry, name) if entry is not None else default)

    started = body_moment(body, "started_at") if "started_at" in body else entry.started_at
    ended = body_moment(body, "ended_at") if "ended_at" in body else entry.ended_at
    # billable None: a new entry takes its project's default. tags None: an update keeps them.
    return EntryFields(started_at=started, ended_at=ended, description=pick("description", ""),
                       project_id=pick("project_id"), task_id=pick("task_id"),
                       billable=body["billable"] if "billable" in body else (None if entry is None else entry.billable),
                       tags=tuple(body["tags"]) if "tags" in body else None)


@bp.get("/time-entries")
def list_entries():
    viewer = caller()
    try:
        user_ids = time_service.visible_user_ids(viewer, query_user())
    except LookupError:
        raise not_found("user") from None
    first, last = query_date("from"), query_date("to")
    start = timefmt.day_start_utc(first, viewer.tz) if first else None
    end = timefmt.day_range_utc(last, last, viewer.tz)[1] if last else None
    query = time_service.entries_select(user_ids, start, end, query_id("project_id"))
    if (tag_id := query_id("tag_id")) is not None:
        query = query.where(TimeEntry.tags.any(Tag.id == tag_id))
    entries, next_cursor = page_of(query.options(selectinload(TimeEntry.invoice), selectinload(TimeEntry.tags)),
                                   (TimeEntry.started_at, TimeEntry.id), descending=True)
    return list_response([entry_json(e) for e in entries], next_cursor)


@bp.post("/time-entries")
def create_entry():
    body = json_body("TimeEntryInput")
    try:
        entry = time_service.create_entry(caller(), _fields(body))
    except TimeEntryInvalid as exc:
        raise _invalid(exc) from None
    return with_etag(jsonify(entry_json(entry))), 201


@bp.get("/time-entries/<id:entry_id>")
def get_entry(entry_id: int):
    return jsonify(entry_json(_entry_or_404(entry_id)))


@bp.patch("/time-entries/<id:entry_id>")
def update_entry(entry_id: int):
    entry = _entry_or_404(entry_id)
    body = json_body("TimeEntryUpdate")
    check_if_match(entry_json(entry))
    try:
        time_service.update_entry(entry, _fields(body, entry))
    except TimeEntryLocked as exc:
        raise conflict(exc.message) from None
    except TimeEntryInvalid as exc:
        raise _invalid(exc) from None
    return with_etag(jsonify(entry_json(entry)))


@bp.delete("/time-entries/<id:entry_id>")
def delete_entry(entry_id: int):
    entry = _entry_or_404(entry_id)
    check_if_match(entry_json(entry))
    try:
        time_service.delete_entry(entry)
    except TimeEntryLocked as exc:
        raise conflict(exc.message) from None
    return "", 204


# ---- the timer -------------------------------------------------------------------------------

@bp.get("/timer")
def get_timer():
    running = time_service.running_entry(caller())
    return jsonify(running=entry_json(running) if running else None)


@bp.post("/timer/start")
def start_timer():
    body = json_body("TimerStart") if request.get_data() else {}
    try:
        entry = time_service.start_timer(caller(), description=body.get("description", ""),
                                         project_id=body.get("project_id"), task_id=body.get("task_id"),
                                         billable=body.get("billable"))
    except TimeEntryInvalid as exc:
        raise _invalid(exc) from None
    return with_etag(jsonify(entry_json(entry))), 201


@bp.post("/timer/stop")
def stop_timer():
    entry = time_service.stop_timer(caller())
    if entry is None:
        raise conflict("No timer is running.")
    if time_service.is_too_short(entry):
        return jsonify(entry=None, discarded=True)
    return jsonify(entry=entry_json(entry), discarded=False)
