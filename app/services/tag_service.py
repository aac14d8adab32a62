"""Tags: the team's one list of labels for time entries.

Decisions:
- Anyone may add a tag by typing it on an entry; names are trimmed, inner spaces
  collapsed, and compared case-insensitively (`name_key`), so "Meeting" and "meeting"
  are one tag. The first spelling typed is the one shown.
- Bounded: a name is 1..TAG_NAME_MAX characters, an entry carries at most
  MAX_TAGS_PER_ENTRY tags, and the team list at most MAX_TAGS (a typo-per-entry habit
  must not grow it without end).
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.inputs import has_control_characters
from app.models import Tag
from app.models.tag import TAG_NAME_MAX

MAX_TAGS_PER_ENTRY = 10
MAX_TAGS = 500
# Typed into one text field, tags are separated by commas.
SEPARATOR = ","


class TagInvalid(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def normalize(name: str) -> str:
    return " ".join(name.split())


def parse_names(text: str) -> list[str]:
    """The distinct tag names in comma-separated `text`, in the order typed; TagInvalid when out of bounds."""
    names: dict[str, str] = {}
    for part in (text or "").split(SEPARATOR):
        name = normalize(part)
        if not name:
            continue
        if len(name) > TAG_NAME_MAX:
            raise TagInvalid(f"A tag has at most {TAG_NAME_MAX} characters: “{name[:TAG_NAME_MAX]}…”.")
        if has_control_characters(name):
            raise TagInvalid("A tag cannot contain control characters.")
        names.setdefault(name.casefold(), name)
    if len(names) > MAX_TAGS_PER_ENTRY:
        raise TagInvalid(f"An entry carries at most {MAX_TAGS_PER_ENTRY} tags.")
    return list(names.values())


def all_tags() -> list[Tag]:
    return list(db.session.scalars(select(Tag).order_by(Tag.name_key)))


def check(names: tuple[str, ...] | list[str]) -> None:
    """TagInvalid unless `names` can be put on an entry: within bounds, and room in the team's list
    for the new ones."""
    keys = {name.casefold() for name in parse_names(SEPARATOR.join(names))}
    if not keys:
        return
    known = db.session.scalar(select(func.count(Tag.id)).where(Tag.name_key.in_(keys)))
    if known < len(keys) and db.session.scalar(select(func.count(Tag.id))) + len(keys) - known > MAX_TAGS:
        raise TagInvalid(f"The team already has {MAX_TAGS} tags; pick an existing one.")


def resolve(names: list[str]) -> list[Tag]:
    """The tags with these (checked) names, creating the missing ones (flushed, not committed)."""
    if not names:
        return []
    keys = {normalize(name).casefold(): normalize(name) for name in names}
    found = {tag.name_key: tag for tag in db.session.scalars(select(Tag).where(Tag.name_key.in_(keys)))}
    for key in [key for key in keys if key not in found]:
        tag = Tag(name=keys[key], name_key=key)
        try:
            # A savepoint: another request creating the same tag at the same moment wins; use theirs.
            with db.session.begin_nested():
                db.session.add(tag)
        except IntegrityError:
            tag = db.session.scalars(select(Tag).where(Tag.name_key == key)).one()
        found[key] = tag
    return [found[key] for key in keys]


def tag_by_id(tag_id: int) -> Tag | None:
    return db.session.get(Tag, tag_id)


def as_text(tags: list[Tag]) -> str:
    """Tags as the entry form shows them (what parse_names reads back)."""
    return (SEPARATOR + " ").join(tag.name for tag in tags)
