"""The time page: the timer, manual entries, the list of entries, editing and deleting.

Every time shown or typed here is in the viewer's time zone (their account
setting); app.timefmt converts, app.services.time_service validates and saves.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField
from wtforms.validators import Length

from app import timefmt
from app.extensions import db
from app.inputs import parse_int
from app.models import Project, Task, TimeEntry, User
from app.models.base import utcnow
from app.routes.auth import safe_next
from app.services import tag_service, time_service, user_service
from app.services.time_service import EntryFields, TimeEntryInvalid, TimeEntryLocked

bp = Blueprint("time_entries", __name__)
timefmt.register_filters(bp)

LIST_DAYS = 14  # the list shows two weeks at a time; "Older" pages back


# ---- forms -----------------------------------------------------------------------------------

class EntryDetailsForm(FlaskForm):
    """What an entry is about; choices are filled per request (see fill_choices)."""

    description = StringField("Description", validators=[Length(max=time_service.DESCRIPTION_MAX)])
    # Choices are checked by time_service, which gives clearer messages than "Not a valid choice".
    project = SelectField("Project", choices=[], validate_choice=False)
    task = SelectField("Task", choices=[], validate_choice=False)
    billable = BooleanField("Billable", default=True)
    # Existing tags are picked from the team's list, new ones typed (comma-separated).
    tags = SelectMultipleField("Tags", choices=[], validate_choice=False)
    new_tags = StringField("New tags", validators=[Length(max=500)])


class TimerForm(EntryDetailsForm):
    pass


class ManualEntryForm(EntryDetailsForm):
    date = StringField("Date")
    start = StringField("Start")
    end = StringField("End")
    duration = StringField("or duration")


class EditEntryForm(EntryDetailsForm):
    started = StringField("Start")
    ended = StringField("End")
    next = HiddenField()


def timer_form(**kwargs) -> TimerForm:
    return fill_choices(TimerForm(prefix="timer", **kwargs))


def manual_form(**kwargs) -> ManualEntryForm:
    form = fill_choices(ManualEntryForm(prefix="entry", **kwargs))
    if not form.date.data:
        form.date.data = timefmt.today_in(current_user.tz).isoformat()
    return form


def fill_choices(form: EntryDetailsForm, entry: TimeEntry | None = None) -> EntryDetailsForm:
    """Active projects and tasks, plus the entry's own ones even if archived since."""
    keep_project = entry.project_id if entry else None
    keep_task = entry.task_id if entry else None
    projects = db.session.scalars(
        select(Project).options(selectinload(Project.client))
        .where(or_(Project.archived.is_(False), Project.id == keep_project)).order_by(Project.name)
    )
    # data-billable lets the page set the billable box to the chosen project's default.
    form.project.choices = [("", "No project")] + [
        (str(p.id), project_label(p), {"data-billable": "1" if p.billable_by_default else "0"}) for p in projects]
    tasks = db.session.scalars(
        select(Task).join(Task.project).options(selectinload(Task.project))
        .where(or_((Task.archived.is_(False)) & (Project.archived.is_(False)), Task.id == keep_task))
        .order_by(Project.name, Task.title)
    )
    # data-project lets the page narrow the task list to the chosen project.
    form.task.choices = [("", "No task")] + [
        (str(t.id), task_label(t), {"data-project": str(t.project_id)}) for t in tasks]
    form.tags.choices = [(str(tag.id), tag.name) for tag in tag_service.all_tags()]
    return form


def project_label(project: Project) -> str:
    return f"{project.name} ({project.client.name})" if project.client else project.name


def task_label(task: Task) -> str:
    title = f"{task.external_key} {task.title}" if task.external_key else task.title
    return f"{task.project.name} › {title}"


# ---- reading forms into entry fields ---------------------------------------------------------

def add_error(form: FlaskForm, name: str, message: str) -> None:
    field = getattr(form, name)
    field.errors = [*field.errors, message]


def selected_id(form: EntryDetailsForm, name: str) -> int | None:
    """The chosen project/task id, or None; anything else is an error on the field."""
    value = (getattr(form, name).data or "").strip()
    if not value:
        return None
    try:
        return parse_int(value)
    except ValueError:
        add_error(form, name, f"No such {name}.")
        return None


def chosen_tags(form: EntryDetailsForm) -> tuple[str, ...] | None:
    """The picked and typed tag names; None after marking an error on the field."""
    known = {value: label for value, label, *_ in form.tags.choices}
    picked = [known[value] for value in (form.tags.data or []) if value in known]
    if len(form.tags.data or []) != len(picked):
        add_error(form, "tags", "No such tag; reload the page.")
        return None
    try:
        typed = tag_service.parse_names(form.new_tags.data or "")
    except tag_service.TagInvalid as exc:
        add_error(form, "new_tags", exc.message)
        return None
    return tuple(picked + typed)


def show_service_errors(form: FlaskForm, errors: dict[str, str], field_names: dict[str, str]) -> None:
    for key, message in errors.items():
        name = field_names.get(key, key)
        if hasattr(form, name):
            add_error(form, name, message)
        else:
            flash(message, "error")


def manual_entry_fields(form: ManualEntryForm) -> EntryFields | None:
    """The manual form's local date, start, end/duration as UTC fields; None after marking errors."""
    tz = current_user.tz
    project_id, task_id = selected_id(form, "project"), selected_id(form, "task")
    tags = chosen_tags(form)
    ended_at = None
    try:
        day = timefmt.parse_date(form.date.data)
    except timefmt.TimeInputError as exc:
        add_error(form, "date", exc.message)
        day = None
    started_at = _moment_on(form, "start", day, tz)
    has_end, has_duration = bool((form.end.data or "").strip()), bool((form.duration.data or "").strip())
    if has_end == has_duration:
        add_error(form, "end", "Fill in either the end time or the duration.")
    elif has_end:
        ended_at = _moment_on(form, "end", day, tz)
    else:
        try:
            # Added in UTC, so 2 hours across a DST switch is still 2 hours of work.
            duration = timefmt.parse_duration(form.duration.data)
            ended_at = started_at + duration if started_at else None
        except timefmt.TimeInputError as exc:
            add_error(form, "duration", exc.message)
    if any(f.errors for f in form):
        return None
    return EntryFields(started_at=started_at, ended_at=ended_at, description=form.description.data or "",
                       project_id=project_id, task_id=task_id, billable=form.billable.data, tags=tags)


def _moment_on(form, name: str, day, tz) -> datetime | None:
    """The UTC moment of the HH:MM in field `name` on `day` (in `tz`); None when the field
    is invalid (its error is added) or there is no valid day."""
    try:
        clock = timefmt.parse_time(getattr(form, name).data)
        return timefmt.to_utc(datetime.combine(day, clock), tz) if day else None
    except timefmt.TimeInputError as exc:  # not a time, or one the clocks skip that day
        add_error(form, name, exc.message)
        return None


def edited_entry_fields(form: EditEntryForm, entry: TimeEntry) -> EntryFields | None:
    tz = current_user.tz
    project_id, task_id = selected_id(form, "project"), selected_id(form, "task")
    tags = chosen_tags(form)
    started_at = ended_at = None
    try:
        started_at = timefmt.to_utc(timefmt.parse_local_datetime(form.started.data), tz)
    except timefmt.TimeInputError as exc:
        add_error(form, "started", exc.message)
    if (form.ended.data or "").strip():
        try:
            ended_at = timefmt.to_utc(timefmt.parse_local_datetime(form.ended.data), tz)
        except timefmt.TimeInputError as exc:
            add_error(form, "ended", exc.message)
    elif not entry.is_running:
        add_error(form, "ended", "Give an end time.")
    if any(f.errors for f in form):
        return None
    return EntryFields(started_at=started_at, ended_at=ended_at, description=form.description.data or "",
                       project_id=project_id, task_id=task_id, billable=form.billable.data, tags=tags)


# ---- the timer in the layout -----------------------------------------------------------------

@bp.app_context_processor
def layout_timer():
    """The signed-in user's running timer, shown in every page's top bar (base.html)."""
    if not current_user.is_authenticated:
        return {"layout_timer": None}
    running = time_service.running_entry(current_user)
    seconds = int((utcnow() - running.started_at).total_seconds()) if running else 0
    return {"layout_timer": running, "layout_timer_seconds": max(seconds, 0)}


def back_to_page():
    """After the top bar's start/stop: back to the page it was pressed on (a local path only)."""
    return redirect(safe_next(request.form.get("next")))


# ---- pages -----------------------------------------------------------------------------------

def list_window(until: date | None, today: date) -> tuple[date, date]:
    last = until or today
    return last - timedelta(days=LIST_DAYS - 1), last


def render_index(timer: TimerForm, manual: ManualEntryForm, status: int = 200):
    tz = current_user.tz
    requested_user = request.args.get("user")
    try:
        user_ids = time_service.visible_user_ids(current_user, requested_user)
    except LookupError:
        abort(404)
    until = None
    if request.args.get("until"):
        try:
            until = timefmt.parse_date(request.args["until"])
        except timefmt.TimeInputError:
            abort(400)
    today = timefmt.today_in(tz)
    first, last = list_window(until, today)
    start, end = timefmt.day_range_utc(first, last, tz)
    # The default view is open-ended, so entries typed in for a future day still show.
    entries = time_service.entries_between(user_ids, start, end if until else None)
    user_arg = {"user": requested_user} if requested_user else {}
    older_url = url_for(".index", until=(first - timedelta(days=1)).isoformat(), **user_arg)
    newer_url = None
    if until is not None:
        newer_until = until + timedelta(days=LIST_DAYS)
        newer_url = url_for(".index", **user_arg) if newer_until >= today \
            else url_for(".index", until=newer_until.isoformat(), **user_arg)
    running = time_service.running_entry(current_user)
    return render_template(
        "time_entries/index.html",
        timer_form=timer, manual_form=manual, running=running,
        running_seconds=int((utcnow() - running.started_at).total_seconds()) if running else 0,
        days=time_service.group_by_day(entries, tz), first=first, last=last, until=until,
        older_url=older_url, newer_url=newer_url, is_locked=time_service.is_locked,
        show_user=user_ids is None or user_ids != [current_user.id],
        users=all_users() if current_user.is_admin else [], requested_user=requested_user or "",
    ), status


def all_users() -> list[User]:
    """The people the "Show" picker offers: active accounts (a deactivated one's time
    still shows under "Everyone" and at its own ?user= address)."""
    return user_service.active_users()


@bp.get("/")
@login_required
def index():
    return render_index(timer_form(), manual_form(formdata=None))


@bp.post("/timer/start")
@login_required
def start_timer():
    """Start a timer. A timer already running is stopped first, at the same instant."""
    form = timer_form()
    if form.validate_on_submit():
        project_id, task_id = selected_id(form, "project"), selected_id(form, "task")
        tags = chosen_tags(form)
        if not any(f.errors for f in form):
            try:
                stopped = time_service.running_entry(current_user)
                time_service.start_timer(current_user, description=form.description.data or "",
                                         project_id=project_id, task_id=task_id, billable=form.billable.data,
                                         tags=tags)
            except TimeEntryInvalid as exc:
                show_service_errors(form, exc.errors, {"tags": "new_tags"})
            else:
                flash("Stopped the previous timer and started a new one." if stopped else "Timer started.", "success")
                return back_to_page()
    return render_index(form, manual_form(formdata=None), 422)


@bp.post("/entries/<int:entry_id>/continue")
@login_required
def continue_entry(entry_id: int):
    """Start a timer on what a past entry was about (description, project, task, billable)."""
    entry = entry_or_404(entry_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    if entry.is_running:
        flash("This entry's timer is running already.", "info")
        return back_to_page()
    stopped = time_service.running_entry(current_user)
    try:
        time_service.start_timer(current_user, description=entry.description, project_id=entry.project_id,
                                 task_id=entry.task_id, billable=entry.billable)
    except TimeEntryInvalid as exc:
        for message in exc.errors.values():
            flash(f"Could not continue this entry: {message}", "error")
    else:
        flash(f"Continued “{entry.description or 'no description'}”"
              + (": the previous timer is stopped." if stopped else "."), "success")
    return back_to_page()


def flash_sync_notices(entry) -> None:
    for notice in time_service.sync_notices(entry):
        flash(notice, "info")


@bp.post("/timer/stop")
@login_required
def stop_timer():
    entry = time_service.stop_timer(current_user)
    if entry is None:
        flash("No timer is running.", "info")
    elif time_service.is_too_short(entry):
        flash(f"Timer discarded: it ran under {time_service.MIN_TIMER_SECONDS} seconds, too short to keep "
              "as an entry.", "info")
    else:
        flash(f"Timer stopped after {timefmt.format_duration(entry.duration)}.", "success")
        flash_sync_notices(entry)
    return back_to_page()


@bp.post("/entries")
@login_required
def create():
    form = manual_form()
    if form.validate_on_submit():
        fields = manual_entry_fields(form)
        if fields is not None:
            try:
                entry = time_service.create_entry(current_user, fields)
            except TimeEntryInvalid as exc:
                ended_field = "end" if (form.end.data or "").strip() else "duration"
                show_service_errors(form, exc.errors, {"started_at": "start", "ended_at": ended_field,
                                                      "tags": "new_tags"})
            else:
                flash("Entry added.", "success")
                flash_sync_notices(entry)
                return redirect(url_for(".index"))
    return render_index(timer_form(formdata=None), form, 422)


def entry_or_404(entry_id: int) -> TimeEntry:
    entry = time_service.visible_entry(current_user, entry_id)
    if entry is None:
        abort(404)
    return entry


def render_edit(entry: TimeEntry, form: EditEntryForm, status: int = 200, locked_reason: str | None = None):
    if locked_reason is None and time_service.is_locked(entry):
        locked_reason = TimeEntryLocked(entry).message
    return render_template("time_entries/edit.html", entry=entry, form=form, locked_reason=locked_reason,
                           draft=time_service.draft_of(entry), back_url=safe_next(form.next.data)), status


def flash_draft_update(number: str | None, entry: TimeEntry | None = None) -> None:
    """Say that the draft invoice the entry was on follows the change (or let it go)."""
    if number is None:
        return
    if entry is not None and entry.invoice_id is None:
        flash(f"The entry no longer belongs on draft invoice {number}; it was taken off it.", "info")
    else:
        flash(f"Draft invoice {number} updated to match.", "info")


def edit_form(entry: TimeEntry, **kwargs) -> EditEntryForm:
    """The edit form, filled from the entry (a POST's own data wins over these)."""
    tz = current_user.tz
    form = EditEntryForm(data={
        "started": timefmt.format_local(entry.started_at, tz, "%Y-%m-%dT%H:%M"),
        "ended": timefmt.format_local(entry.ended_at, tz, "%Y-%m-%dT%H:%M"),
        "description": entry.description, "billable": entry.billable,
        "project": str(entry.project_id or ""), "task": str(entry.task_id or ""),
        "tags": [str(tag.id) for tag in entry.tags],
        "next": request.args.get("next", ""),
    }, **kwargs)
    return fill_choices(form, entry)


@bp.route("/entries/<int:entry_id>/edit", methods=["GET", "POST"])
@login_required
def edit(entry_id: int):
    entry = entry_or_404(entry_id)
    form = edit_form(entry)
    if request.method == "GET":
        return render_edit(entry, form)
    if time_service.is_locked(entry):
        return render_edit(entry, form, 409)
    if form.validate_on_submit():
        fields = edited_entry_fields(form, entry)
        if fields is not None:
            draft = time_service.draft_of(entry)
            draft_number = draft.number if draft else None
            try:
                time_service.update_entry(entry, fields)
            except TimeEntryLocked as exc:
                return render_edit(entry, form, 409, exc.message)
            except TimeEntryInvalid as exc:
                show_service_errors(form, exc.errors, {"started_at": "started", "ended_at": "ended",
                                                      "tags": "new_tags"})
            else:
                flash("Entry saved.", "success")
                flash_draft_update(draft_number, entry)
                flash_sync_notices(entry)
                return redirect(safe_next(form.next.data))
    return render_edit(entry, form, 422)


@bp.post("/entries/<int:entry_id>/delete")
@login_required
def delete(entry_id: int):
    entry = entry_or_404(entry_id)
    draft = time_service.draft_of(entry)
    draft_number = draft.number if draft else None
    try:
        time_service.delete_entry(entry)
    except TimeEntryLocked as exc:
        return render_edit(entry, edit_form(entry, formdata=None), 409, exc.message)
    flash("Entry deleted.", "success")
    flash_draft_update(draft_number)
    return redirect(safe_next(request.form.get("next")))
