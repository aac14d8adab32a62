"""Tags: the team's one list, read by everyone; anyone may add one (as typing a new tag on an
entry does). Entries carry their tags by name (entries.py)."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from app.extensions import db
from app.models import Tag
from app.routes.api.blueprint import bp
from app.routes.api.support import invalid, json_body, list_response, page_of, with_etag
from app.services import tag_service


def tag_json(tag: Tag) -> dict:
    return {"id": tag.id, "name": tag.name}


@bp.get("/tags")
def list_tags():
    tags, next_cursor = page_of(select(Tag), (Tag.id,))
    return list_response([tag_json(tag) for tag in tags], next_cursor)


@bp.post("/tags")
def create_tag():
    """The tag with this name, created when the team has none yet (201) or the existing one (200)."""
    name = json_body("TagInput")["name"]
    try:
        names = tag_service.parse_names(name)
        tag_service.check(names)
    except tag_service.TagInvalid as exc:
        raise invalid({"name": exc.message}) from None
    if len(names) != 1:
        raise invalid({"name": f"Give one tag name (no \"{tag_service.SEPARATOR}\")." if names else "Give a tag name."})
    [normalised] = names
    existed = db.session.scalar(select(Tag.id).where(Tag.name_key == normalised.casefold())) is not None
    [tag] = tag_service.resolve([normalised])
    db.session.commit()
    return with_etag(jsonify(tag_json(tag))), 200 if existed else 201
