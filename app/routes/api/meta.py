"""The public description of the API, and the caller's own account."""
from __future__ import annotations

from flask import jsonify, request

from app.api_spec import openapi_document
from app.routes.api.blueprint import bp
from app.routes.api.support import caller
from app.routes.api.users import user_json


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document(request.host_url.rstrip("/")))


@bp.get("/me")
def me():
    return jsonify(user_json(caller()))
