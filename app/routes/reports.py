"""/reports: time per project, client or user over a day, week, month or any range,
with the filters in the URL (so a report can be bookmarked and shared) and a CSV export
of the same report at /reports/export.csv.

Everyone reads reports of their own time; admins may choose a user or everyone.
"""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app import timefmt
from app.extensions import db
from app.models import Project
from app.services import report_service, time_service, user_service
from app.services.report_service import GROUPS, PERIODS, Report, ReportInvalid

bp = Blueprint("reports", __name__)


def _date_arg(name: str):
    value = request.args.get(name)
    if not value:
        return None
    try:
        return timefmt.parse_date(value)
    except timefmt.TimeInputError:
        abort(400)


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.args.get(name) or default
    if value not in choices:
        abort(400)
    return value


def read_report() -> tuple[Report | None, dict, str | None]:
    """The report the URL asks for, the arguments that make it, and an error to show."""
    kind = _choice("period", PERIODS, "week")
    group = _choice("group", GROUPS, "project")
    anchor = _date_arg("date") or timefmt.today_in(current_user.tz)
    first, last = _date_arg("from"), _date_arg("to")
    requested_user = request.args.get("user") or ""
    try:
        user_ids = time_service.visible_user_ids(current_user, requested_user or None)
    except LookupError:
        abort(404)
    project = request.args.get("project") or ""
    if project and not project.isdigit():
        abort(400)
    args = {"period": kind, "group": group, "user": requested_user, "project": project}
    if kind == "custom":
        args.update({"from": first.isoformat() if first else "", "to": last.isoformat() if last else ""})
    else:
        args["date"] = anchor.isoformat()
    try:
        period = report_service.period_for(kind, anchor, first, last)
    except ReportInvalid as exc:
        return None, args, exc.message
    report = report_service.build_report(period, group, current_user.tz, user_ids=user_ids,
                                         project_id=int(project) if project else None)
    return report, args, None


def _url(endpoint: str, args: dict, **changes) -> str:
    merged = {**args, **changes}
    return url_for(endpoint, **{k: v for k, v in merged.items() if v})


@bp.get("/reports")
@login_required
def index():
    report, args, error = read_report()
    nav = {}
    if report is not None and report.period.kind != "custom":
        for name, direction in (("prev", -1), ("next", 1)):
            nav[name] = _url(".index", args, date=report.period.shifted(direction).first.isoformat())
    projects = db.session.scalars(select(Project).order_by(Project.name)).all()
    return render_template(
        "reports/index.html", report=report, args=args, error=error, nav=nav, periods=PERIODS, groups=GROUPS,
        projects=projects, users=user_service.active_users() if current_user.is_admin else [],
        csv_url=_url(".export_csv", args) if report is not None else None,
    ), 422 if error else 200


@bp.get("/reports/export.csv")
@login_required
def export_csv():
    report, _args, error = read_report()
    if report is None:
        return Response(error + "\n", status=422, mimetype="text/plain")
    buffer = io.StringIO()
    csv.writer(buffer).writerows(report_service.csv_rows(report))
    name = f"timehub-{report.group}-{report.period.first.isoformat()}-{report.period.last.isoformat()}.csv"
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
