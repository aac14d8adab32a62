from flask import Blueprint
from flask_login import login_required

bp = Blueprint("integrations", __name__)


@bp.get("/integrations")
@login_required
def index():
    return "integrations"
