"""Bounds on what requests may carry, in one place.

- `parse_int`: ids and counts are plain ASCII digits within the database's integer
  (`"²".isdigit()` is true but `int("²")` fails; a thousand digits overflow every column).
- `BoundedIntConverter` replaces Flask's `int` URL converter with the same bounds, so
  `/entries/99999999999999999999/edit` is a 404 rather than a database error.
- Dates between 1970 and 2100: outside that, date arithmetic (a list window, a week,
  a zone east of UTC) overflows Python's datetime at year 1 and 9999.
- No NUL or other control characters in text (PostgreSQL refuses NUL, SQLite keeps it:
  refusing them answers the same on both), and no file uploads: no form takes a file.
"""
from __future__ import annotations

import unicodedata
from datetime import date

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter
from wtforms.validators import ValidationError

INT_MAX = 2**31 - 1  # PostgreSQL's integer, the type of every id column
FIRST_DATE, LAST_DATE = date(1970, 1, 1), date(2100, 12, 31)
DATE_RANGE_MESSAGE = f"Enter a date between {FIRST_DATE.year} and {LAST_DATE.year}."
ALLOWED_CONTROL = {"\t", "\n", "\r"}


def parse_int(text: str | None, *, minimum: int = 1, maximum: int = INT_MAX) -> int:
    """A plain bounded integer from text; ValueError for anything else."""
    value = (text or "").strip()
    if not value or len(value) > len(str(maximum)) or not (value.isascii() and value.isdigit()):
        raise ValueError(f"not a whole number from {minimum} to {maximum}")
    number = int(value)
    if not minimum <= number <= maximum:
        raise ValueError(f"not a whole number from {minimum} to {maximum}")
    return number


def optional_id(text: str | None) -> int | None:
    """An id from a query parameter, or None when absent or not an id."""
    try:
        return parse_int(text)
    except ValueError:
        return None


class BoundedIntConverter(IntegerConverter):
    """Flask's `<int:...>` within the database's integer (ids start at 1, but 0 stays a 404)."""

    def __init__(self, map, fixed_digits=0, min=0, max=INT_MAX, signed=False):  # noqa: A002 (werkzeug's names)
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def check_date(day: date) -> date:
    if not FIRST_DATE <= day <= LAST_DATE:
        raise ValueError(DATE_RANGE_MESSAGE)
    return day


def sane_date(_form, field) -> None:
    """WTForms validator for DateFields."""
    if field.data is not None and not FIRST_DATE <= field.data <= LAST_DATE:
        raise ValidationError(DATE_RANGE_MESSAGE)


def has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" and char not in ALLOWED_CONTROL for char in text)


# Blueprints whose requests carry a provider's signed body, verified byte for byte by the
# provider's connector (webhooks: JSON checked by app.integrations.webhook_body; chat commands).
SIGNED_BODY_BLUEPRINTS = frozenset({"webhooks", "commands"})


def init_app(app: Flask) -> None:
    """Call before the blueprints are registered (the converter applies to rules as they are added)."""
    app.url_map.converters["int"] = BoundedIntConverter

    @app.before_request
    def refuse_unreadable_input():
        if request.blueprint in SIGNED_BODY_BLUEPRINTS:
            return None  # parsing the form here would consume the body its signature covers
        if request.files:
            abort(400, description="No form here takes a file upload.")
        for values in (request.args, request.form):
            for key, value in values.items(multi=True):
                if has_control_characters(key) or has_control_characters(value):
                    abort(400, description="The request holds control characters (such as NUL).")
        return None
