from flask import Blueprint
from flask_login import login_required

bp = Blueprint("api", __name__)
