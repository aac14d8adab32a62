from flask import Blueprint
from flask_login import login_required

bp = Blueprint("account", __name__)


@bp.get("/account")
@login_required
def profile():
    return "account"
