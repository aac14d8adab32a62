"""/timesheet: the signed-in user's week as a grid of hours to type into.

Every input is named c-<row>-<day> where <row> is "<project id>_<task id>" (0 for none);
only the rows of the week shown and the one new row are read, so a request cannot make
the server touch anything else. A cell whose text comes back as it was shown is left alone.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app import timefmt
from app.extensions import db
from app.inputs import parse_int
from app.models import Project, Task
from app.routes.time_entries import project_label, task_label
from app.services import timesheet_service
from app.services.time_service import TimeEntryInvalid
from app.services.timesheet_service import DAYS, CellRefused, Grid, Row

bp = Blueprint("timesheet", __name__)

NEW_ROW = "new"
CELL_TEXT_MAX = 20


class TimesheetForm(FlaskForm):
    """Only for the CSRF token: the cells are read by name (see the module docstring)."""


def row_id(row: Row) -> str:
    project_id, task_id = row.key
    return f"{project_id or 0}_{task_id or 0}"


def week_of_request() -> tuple:
    value = request.values.get("week")
    try:
        day = timefmt.parse_date(value) if value else timefmt.today_in(current_user.tz)
    except timefmt.TimeInputError:
        abort(400)
    return timefmt.week_start(day)


def cell_seconds(text: str) -> int:
    """Typed hours as seconds: empty or zero clears the cell; TimeInputError otherwise."""
    text = text.strip()
    if len(text) > CELL_TEXT_MAX:
        raise timefmt.TimeInputError("Enter hours such as 1:30, 1.5 or 90m.")
    if text in ("", "0", "0:00", "0.0", "0h", "0m"):
        return 0
    return int(timefmt.parse_duration(text).total_seconds())


def row_choices() -> list[tuple[str, str]]:
    """What a new row may be: an active project, or one of its active tasks."""
    projects = db.session.scalars(select(Project).options(selectinload(Project.client))
                                  .where(Project.archived.is_(False)).order_by(Project.name))
    tasks = db.session.scalars(select(Task).join(Task.project).options(selectinload(Task.project))
                               .where(Task.archived.is_(False), Project.archived.is_(False))
                               .order_by(Project.name, Task.title))
    return [("", "Add a row…"), ("p0", "No project")] + [(f"p{p.id}", project_label(p)) for p in projects] + [
        (f"t{t.id}", task_label(t)) for t in tasks]


def parse_row_choice(value: str) -> tuple[int | None, int | None]:
    kind, digits = value[:1], value[1:]
    try:
        number = parse_int(digits, minimum=0)
    except ValueError:
        raise CellRefused("No such project or task.") from None
    if kind == "p":
        return (number or None), None
    if kind == "t" and number:
        return None, number
    raise CellRefused("No such project or task.")


def render(grid: Grid, typed: dict[str, str] | None = None, errors: dict[str, str] | None = None,
           row_error: str | None = None, status: int = 200):
    monday = grid.monday
    return render_template(
        "timesheet/week.html", grid=grid, row_id=row_id, typed=typed or {}, errors=errors or {},
        row_error=row_error, form=TimesheetForm(), choices=row_choices(), new_row=NEW_ROW,
        today=timefmt.today_in(current_user.tz),
        prev_url=url_for(".week", week=(monday - timedelta(days=7)).isoformat()),
        next_url=url_for(".week", week=(monday + timedelta(days=7)).isoformat()),
        this_url=url_for(".week"),
    ), status


@bp.get("/timesheet")
@login_required
def week():
    return render(timesheet_service.build_grid(current_user, week_of_request(), current_user.tz))


@bp.post("/timesheet")
@login_required
def save():
    monday = week_of_request()
    tz = current_user.tz
    if not TimesheetForm().validate_on_submit():
        abort(400)  # a missing or stale CSRF token
    grid = timesheet_service.build_grid(current_user, monday, tz)
    rows: list[tuple[str, Row]] = [(row_id(row), row) for row in grid.rows]
    row_error = None
    if choice := request.form.get("new_row", ""):
        try:
            row = timesheet_service.new_row(*parse_row_choice(choice))
            existing = grid.row(row.key)
            rows.append((NEW_ROW, existing or row))
        except CellRefused as exc:
            row_error = exc.message
    typed: dict[str, str] = {}
    errors: dict[str, str] = {}
    wanted: list[tuple[str, Row, int, int]] = []
    for rid, row in rows:
        for index in range(DAYS):
            name = f"c-{rid}-{index}"
            if name not in request.form:
                continue
            text = request.form[name][:CELL_TEXT_MAX + 1]
            if rid != NEW_ROW and text.strip() == row.cells[index].shown:
                continue  # sent back as shown
            typed[name] = text
            try:
                wanted.append((name, row, index, cell_seconds(text)))
            except timefmt.TimeInputError as exc:
                errors[name] = exc.message
    if errors or row_error:  # nothing is saved until every typed cell reads as hours
        return render(grid, typed, errors, row_error, 422)
    for name, row, index, seconds in wanted:
        try:
            timesheet_service.check_cell(row, index, seconds)
        except CellRefused as exc:
            errors[name] = exc.message
    if errors:  # nor while any typed cell is locked, running or too long
        return render(grid, typed, errors, status=409)
    changed, refused = 0, False
    for name, row, index, seconds in wanted:
        try:
            changed += timesheet_service.set_cell(current_user, row, index, monday + timedelta(days=index),
                                                  seconds, tz)
        except CellRefused as exc:  # locked or running: a conflict with the entry's state
            errors[name], refused = exc.message, True
        except TimeEntryInvalid as exc:
            errors[name] = "; ".join(exc.errors.values())
    if errors:
        fresh = timesheet_service.build_grid(current_user, monday, tz)
        kept = {name: typed[name] for name in errors}
        flash(f"Saved {changed} cell{'s' if changed != 1 else ''}; the cells marked below were not saved.", "error")
        return render(fresh, kept, errors, status=409 if refused else 422)
    flash(f"Saved {changed} cell{'s' if changed != 1 else ''}." if changed else "Nothing changed.", "success")
    return redirect(url_for(".week", week=monday.isoformat()))
