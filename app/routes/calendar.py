"""/calendar: one week (Monday to Sunday) of a user's time entries, in the viewer's time zone.

`?week=YYYY-MM-DD` picks the week holding that day. Admins may add
`?user=<id>` to see someone else's week; for anyone else a user other than
themselves answers 404, as another user's entry does.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user, login_required

from app import timefmt
from app.extensions import db
from app.models import User
from app.services import time_service, user_service

bp = Blueprint("calendar", __name__)
timefmt.register_filters(bp)


def viewed_user() -> User:
    requested = request.args.get("user")
    try:
        user_ids = time_service.visible_user_ids(current_user, requested)
    except LookupError:
        abort(404)
    if user_ids is None:  # "all" makes no sense for one person's week
        abort(404)
    return db.session.get(User, user_ids[0])


@bp.get("/calendar")
@login_required
def week():
    tz = current_user.tz
    user = viewed_user()
    today = timefmt.today_in(tz)
    try:
        picked = timefmt.parse_date(request.args["week"]) if request.args.get("week") else today
    except timefmt.TimeInputError:
        abort(400)
    monday = timefmt.week_start(picked)
    days = [monday + timedelta(days=offset) for offset in range(7)]
    start, end = timefmt.day_range_utc(days[0], days[-1], tz)
    # Oldest first within a day, as a calendar reads top to bottom.
    entries = list(reversed(time_service.entries_between([user.id], start, end)))
    by_day = {group.day: group for group in time_service.group_by_day(entries, tz)}
    columns = [by_day.get(day) or time_service.Day(day) for day in days]

    user_arg = {"user": user.id} if user.id != current_user.id else {}
    return render_template(
        "calendar/week.html",
        user=user, columns=columns, today=today, monday=monday, sunday=days[-1],
        week_total=sum((column.total for column in columns), timedelta()),
        prev_url=url_for(".week", week=(monday - timedelta(days=7)).isoformat(), **user_arg),
        next_url=url_for(".week", week=(monday + timedelta(days=7)).isoformat(), **user_arg),
        this_week_url=url_for(".week", **user_arg),
        is_this_week=monday == timefmt.week_start(today),
        users=user_service.active_users() if current_user.is_admin else [],
    )
