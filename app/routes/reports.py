"""/reports: time per project, client, task, user or tag over a day, week, month or any
range, with the filters in the URL (so a report can be bookmarked and shared) and the same
report as CSV, XLSX and PDF at /reports/export.<format>.

Everyone reads reports of their own time; admins may choose a user or everyone, and
only they see amounts (rates are theirs).
"""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app import timefmt
from app.extensions import db
from app.inputs import optional_id
from app.models import Project, User
from app.models.base import utcnow
from app.services import report_exports, report_service, tag_service, time_service, user_service
from app.services.report_service import BILLABLE_FILTERS, GROUPS, PERIODS, Report, ReportInvalid

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
    project, tag = _id_arg("project"), _id_arg("tag")
    billable = _choice("billable", BILLABLE_FILTERS, "")
    args = {"period": kind, "group": group, "user": requested_user, "project": project, "tag": tag,
            "billable": billable}
    if kind == "custom":
        args.update({"from": first.isoformat() if first else "", "to": last.isoformat() if last else ""})
    else:
        args["date"] = anchor.isoformat()
    try:
        period = report_service.period_for(kind, anchor, first, last)
    except ReportInvalid as exc:
        return None, args, exc.message
    report = report_service.build_report(period, group, current_user.tz, user_ids=user_ids,
                                         project_id=int(project) if project else None,
                                         tag_id=int(tag) if tag else None, billable=billable,
                                         with_money=current_user.is_admin)
    return report, args, None


def _id_arg(name: str) -> str:
    """An id filter as it stays in the URL ("" when absent); 400 when not an id."""
    value = request.args.get(name) or ""
    if value and optional_id(value) is None:
        abort(400)
    return value


def describe(report: Report, args: dict) -> str:
    """The report's filters in words, for the files' subtitle."""
    parts = [f"by {report.heading.lower()}"]
    if args.get("user") == "all":
        parts.append("everyone")
    elif args.get("user"):
        user = db.session.get(User, int(args["user"]))
        parts.append(user.name if user else "")
    else:
        parts.append(current_user.name)
    if args.get("project") and (project := db.session.get(Project, int(args["project"]))):
        parts.append(f"project {project.name}")
    if args.get("tag") and (tag := tag_service.tag_by_id(int(args["tag"]))):
        parts.append(f"tag {tag.name}")
    if args.get("billable"):
        parts.append("billable only" if args["billable"] == "yes" else "non-billable only")
    return " · ".join(parts) + f" · times in {current_user.timezone}"


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
    exports = {label: _url(endpoint, args) for label, endpoint in (
        ("CSV", ".export_csv"), ("XLSX", ".export_xlsx"), ("PDF", ".export_pdf"))} if report is not None else {}
    return render_template(
        "reports/index.html", report=report, args=args, error=error, nav=nav, periods=PERIODS, groups=GROUPS,
        projects=projects, tags=tag_service.all_tags(),
        users=user_service.active_users() if current_user.is_admin else [], exports=exports,
    ), 422 if error else 200


def _csv(report: Report, _args: dict) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(report_service.csv_rows(report))
    return buffer.getvalue()


def _xlsx(report: Report, args: dict) -> bytes:
    return report_exports.xlsx_bytes(report, describe(report, args))


def _pdf(report: Report, args: dict) -> bytes:
    return report_exports.pdf_bytes(report, describe(report, args), timefmt.to_local(utcnow(), current_user.tz))


# extension -> (how the file is made, its media type)
EXPORTS = {
    "csv": (_csv, "text/csv"),
    "xlsx": (_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pdf": (_pdf, "application/pdf"),
}


def _export(extension: str) -> Response:
    """The report the URL asks for as a file download (the error as text when it cannot be made)."""
    report, args, error = read_report()
    if report is None:
        return Response(error + "\n", status=422, mimetype="text/plain")
    make, mimetype = EXPORTS[extension]
    name = report_exports.file_name(report, extension)
    return Response(make(report, args), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/reports/export.csv")
@login_required
def export_csv():
    return _export("csv")


@bp.get("/reports/export.xlsx")
@login_required
def export_xlsx():
    return _export("xlsx")


@bp.get("/reports/export.pdf")
@login_required
def export_pdf():
    return _export("pdf")
