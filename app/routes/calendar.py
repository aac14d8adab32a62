from flask import Blueprint
from flask_login import login_required

bp = Blueprint("calendar", __name__)


@bp.get("/calendar")
@login_required
def week():
    return "cal"
