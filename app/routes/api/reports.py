"""Reports as /reports computes them (app.services.report_service), in the caller's time zone."""
from __future__ import annotations

from flask import jsonify

from app import timefmt
from app.routes.api.blueprint import bp
from app.routes.api.support import caller, invalid, not_found, query_choice, query_date, query_id, query_user
from app.services import report_service, time_service
from app.services.report_service import GROUPS, PERIODS, ReportInvalid, Row


def row_json(row: Row) -> dict:
    return {"key": row.key, "label": row.label, "hours": str(row.hours), "billable_hours": str(row.billable_hours),
            "non_billable_hours": str(row.other_hours), "entries": row.entries}


@bp.get("/reports")
def get_report():
    viewer = caller()
    kind = query_choice("period", PERIODS, "week")
    group = query_choice("group", GROUPS, "project")
    anchor = query_date("date") or timefmt.today_in(viewer.tz)
    try:
        user_ids = time_service.visible_user_ids(viewer, query_user())
    except LookupError:
        raise not_found("user") from None
    try:
        period = report_service.period_for(kind, anchor, query_date("from"), query_date("to"))
    except ReportInvalid as exc:
        raise invalid({"period": exc.message}) from None
    report = report_service.build_report(period, group, viewer.tz, user_ids=user_ids,
                                         project_id=query_id("project_id"), tag_id=query_id("tag_id"),
                                         billable=query_choice("billable", ("yes", "no")) or "")
    return jsonify(period={"kind": period.kind, "first": period.first.isoformat(), "last": period.last.isoformat()},
                   group=group, timezone=viewer.timezone, rows=[row_json(r) for r in report.rows],
                   total=row_json(report.total))
