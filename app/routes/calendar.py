"""/calendar: a week on a time grid (or a month of totals) of a user's time entries, in the
viewer's time zone, with their imported calendar events beside them as suggestions.

`?week=YYYY-MM-DD` picks the week holding that day; `?view=month&month=YYYY-MM` the
month view. Admins may add `?user=<id>` to see someone else's entries (never their
calendar events: those are their owner's only); for anyone else a user other than
themselves answers 404, as another user's entry does.

POST /calendar/events/<id>/convert turns one of the viewer's suggestions into a time
entry, with the project or task picked in its form (remembered for a recurring series).
"""
from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import timefmt
from app.extensions import db
from app.models import Project, Task, User
from app.services import calendar_service, time_service, user_service
from app.services.calendar_service import AlreadyConverted
from app.services.time_service import TimeEntryInvalid

bp = Blueprint("calendar", __name__)
timefmt.register_filters(bp)

QUARTER = 15  # minutes per row of the grid


def viewed_user() -> User:
    requested = request.args.get("user")
    try:
        user_ids = time_service.visible_user_ids(current_user, requested)
    except LookupError:
        abort(404)
    if user_ids is None:  # "all" makes no sense for one person's week
        abort(404)
    return db.session.get(User, user_ids[0])


def grid_rows(block) -> tuple[int, int]:
    """(first row, rows spanned) of a block on the grid of quarter hours."""
    first = min(block.top // QUARTER, 24 * 60 // QUARTER - 1)
    span = max(1, -(-(block.bottom - block.top) // QUARTER))
    return first + 1, min(span, 24 * 60 // QUARTER - first)


def target_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """What a suggestion can be booked on: (project label, [(value, label)]) with the
    project itself first, then its tasks. Values are "project:<id>" or "task:<id>"."""
    projects = list(db.session.scalars(select(Project).options(selectinload(Project.client))
                                       .where(Project.archived.is_(False)).order_by(Project.name)))
    tasks: dict[int, list[Task]] = {}
    for task in db.session.scalars(select(Task).where(Task.archived.is_(False)).order_by(Task.title)):
        tasks.setdefault(task.project_id, []).append(task)
    groups = []
    for project in projects:
        options = [(f"project:{project.id}", f"{project.name} (no task)")]
        options += [(f"task:{t.id}", f"{project.name} › {t.external_key + ' ' if t.external_key else ''}{t.title}")
                    for t in tasks.get(project.id, [])]
        groups.append((project.name, options))
    return groups


def parse_target(value: str | None) -> tuple[int | None, int | None]:
    kind, _, number = (value or "").partition(":")
    if not number.isdigit():
        return None, None
    return (int(number), None) if kind == "project" else (None, int(number)) if kind == "task" else (None, None)


@bp.get("/calendar")
@login_required
def week():
    tz = current_user.tz
    user = viewed_user()
    today = timefmt.today_in(tz)
    user_arg = {"user": user.id} if user.id != current_user.id else {}
    if request.args.get("view") == "month":
        return month(user, today, user_arg)
    try:
        picked = timefmt.parse_date(request.args["week"]) if request.args.get("week") else today
    except timefmt.TimeInputError:
        abort(400)
    monday = timefmt.week_start(picked)
    days = [monday + timedelta(days=offset) for offset in range(7)]
    own = user.id == current_user.id
    columns = calendar_service.week_columns(user, days, tz, with_suggestions=own)
    return render_template(
        "calendar/week.html",
        user=user, columns=columns, today=today, monday=monday, sunday=days[-1],
        week_total=sum((column.total for column in columns), timedelta()),
        grid_rows=grid_rows, targets=target_choices() if own else [],
        hours=range(24),
        prev_url=url_for(".week", week=(monday - timedelta(days=7)).isoformat(), **user_arg),
        next_url=url_for(".week", week=(monday + timedelta(days=7)).isoformat(), **user_arg),
        this_week_url=url_for(".week", **user_arg),
        month_url=url_for(".week", view="month", month=monday.strftime("%Y-%m"), **user_arg),
        is_this_week=monday == timefmt.week_start(today),
        users=user_service.active_users() if current_user.is_admin else [],
    )


def month(user: User, today: date, user_arg: dict):
    try:
        first = date.fromisoformat(request.args["month"] + "-01") if request.args.get("month") \
            else today.replace(day=1)
    except ValueError:
        abort(400)
    weeks = calendar_service.month_weeks(user, first, current_user.tz)
    previous = (first - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return render_template(
        "calendar/month.html", user=user, weeks=weeks, first=first, today=today,
        own=user.id == current_user.id,
        prev_url=url_for(".week", view="month", month=previous.strftime("%Y-%m"), **user_arg),
        next_url=url_for(".week", view="month", month=following.strftime("%Y-%m"), **user_arg),
        week_url=lambda day: url_for(".week", week=day.isoformat(), **user_arg),
    )


@bp.post("/calendar/events/<int:event_id>/convert")
@login_required
def convert(event_id: int):
    project_id, task_id = parse_target(request.form.get("target"))
    try:
        week = timefmt.parse_date(request.form["week"]).isoformat() if request.form.get("week") else None
    except timefmt.TimeInputError:
        week = None
    back = url_for(".week", week=week)
    try:
        entry = calendar_service.convert(current_user, event_id, project_id=project_id, task_id=task_id)
    except LookupError:
        abort(404)
    except AlreadyConverted:
        flash("This event is already in your time.", "info")
        return redirect(back)
    except TimeEntryInvalid as exc:
        flash("Not added: " + "; ".join(exc.errors.values()), "error")
        return redirect(back)
    flash(f"Added {timefmt.format_duration(entry.duration)} for “{entry.description or 'the event'}”.", "success")
    return redirect(back + f"#entry-{entry.id}")
