from flask import Blueprint
from flask_login import login_required

bp = Blueprint("invoices", __name__)


@bp.get("/invoices")
@login_required
def index():
    return "invoices"
