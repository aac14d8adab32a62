"""Accounts, for administrators (who else has an account is not a user's business)."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.routes.api.blueprint import bp
from app.routes.api.support import iso, list_response, not_found, page_of, require_admin


def user_json(user: User) -> dict:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role, "timezone": user.timezone,
            "active": user.is_active, "created_at": iso(user.created_at)}


@bp.get("/users")
def list_users():
    require_admin()
    users, next_cursor = page_of(select(User), (User.id,))
    return list_response([user_json(u) for u in users], next_cursor)


@bp.get("/users/<id:user_id>")
def get_user(user_id: int):
    require_admin()
    user = db.session.get(User, user_id)
    if user is None:
        raise not_found("user")
    return jsonify(user_json(user))
