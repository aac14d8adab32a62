"""What every resource module of the API shares: the caller, problems, request bodies
checked against the OpenAPI document, query parameters, cursor pages, If-Match."""
from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import urlencode
from datetime import UTC, date, datetime

import jsonschema
from flask import Response, g, jsonify, request
from sqlalchemy import Select, tuple_
from werkzeug.http import generate_etag

from app import timefmt
from app.api_spec import request_schema
from app.errors import problem
from app.inputs import DATE_RANGE_MESSAGE, INT_MAX, check_date, has_control_characters, parse_int
from app.extensions import db
from app.models import User
from app.routes.api.blueprint import bp

DEFAULT_LIMIT, MAX_LIMIT = 50, 100
CURSOR_MAX = 200  # characters: a cursor holds one or two sort values


class ApiProblem(Exception):
    """Raised anywhere in a request; answered as RFC 9457 problem details."""

    def __init__(self, status: int, title: str, detail: str, **extensions):
        super().__init__(detail)
        self.status, self.title, self.detail, self.extensions = status, title, detail, extensions


@bp.errorhandler(ApiProblem)
def _answer_problem(exc: ApiProblem):
    return problem(exc.status, exc.title, exc.detail, **exc.extensions)


def bad_request(detail: str) -> ApiProblem:
    return ApiProblem(400, "Bad Request", detail)


def invalid(errors: dict[str, str]) -> ApiProblem:
    """422 naming each field that is wrong (`errors`: field -> message)."""
    return ApiProblem(422, "Unprocessable Content", "; ".join(errors.values()), errors=errors)


def not_found(what: str) -> ApiProblem:
    return ApiProblem(404, "Not Found", f"No such {what}.")


def conflict(detail: str) -> ApiProblem:
    return ApiProblem(409, "Conflict", detail)


def caller() -> User:
    return g.api_user


def require_admin() -> None:
    if not caller().is_admin:
        raise ApiProblem(403, "Forbidden", "Only administrators may do this.")


# ---- bodies ----------------------------------------------------------------------------------

def json_body(schema_name: str) -> dict:
    """The request's JSON object, valid against the document's `schema_name`; 400/415/422 otherwise."""
    if not request.is_json:
        raise ApiProblem(415, "Unsupported Media Type", "Send the body as application/json.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_request("The body is not a JSON object.")
    errors = {}
    for error in jsonschema.Draft202012Validator(request_schema(schema_name)).iter_errors(body):
        field = ".".join(str(part) for part in error.path) or "body"
        errors.setdefault(field, error.message[:300])
    for field, value in body.items():
        if isinstance(value, str) and has_control_characters(value):
            errors.setdefault(field, "Control characters (such as NUL) are not allowed.")
    if errors:
        raise invalid(errors)
    return body


def body_moment(body: dict, field: str) -> datetime | None:
    """An RFC 3339 date-time of the body as naive UTC (None when absent or null)."""
    value = body.get(field)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise invalid({field: "Give a date-time such as 2026-12-01T09:30:00Z."}) from None
    if moment.tzinfo is None:
        raise invalid({field: "Give the time zone offset (Z for UTC)."})
    try:
        check_date(moment.date())
        return moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise invalid({field: DATE_RANGE_MESSAGE}) from None


def body_day(body: dict, field: str) -> date | None:
    """A YYYY-MM-DD member of the body, between 1970 and 2100 (None when absent or null)."""
    value = body.get(field)
    if value is None:
        return None
    try:
        return timefmt.parse_date(value)
    except timefmt.TimeInputError as exc:
        raise invalid({field: exc.message}) from None


def iso(moment: datetime | None) -> str | None:
    """A stored naive-UTC datetime as RFC 3339 in UTC."""
    return moment.isoformat(timespec="seconds") + "Z" if moment else None


# ---- query parameters ------------------------------------------------------------------------

def query_id(name: str) -> int | None:
    value = request.args.get(name)
    if value is None:
        return None
    try:
        return parse_int(value)
    except ValueError:
        raise bad_request(f"'{name}' must be a whole number from 1 to {INT_MAX}.") from None


def query_date(name: str) -> date | None:
    value = request.args.get(name)
    if value is None:
        return None
    try:
        return timefmt.parse_date(value)
    except timefmt.TimeInputError as exc:
        raise bad_request(f"'{name}': {exc.message}") from None


def query_choice(name: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
    value = request.args.get(name, default)
    if value is not None and value not in choices:
        raise bad_request(f"'{name}' must be one of: {', '.join(choices)}.")
    return value


def query_user() -> str | None:
    """`?user=`: whose time, a user id or "all" (time_service.visible_user_ids decides who may)."""
    value = request.args.get("user")
    if value is not None and value != "all":
        query_id("user")
    return value


def query_bool(name: str) -> bool | None:
    value = request.args.get(name)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise bad_request(f"'{name}' must be true or false.")
    return value == "true"


# ---- cursor pages ----------------------------------------------------------------------------

def _encode_cursor(values: list) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _decode_cursor(text: str, columns) -> list:
    """The sort values a cursor holds, typed as the columns they sort by; 400 when it is not ours."""
    try:
        if len(text) > CURSOR_MAX:
            raise ValueError("too long")
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("wrong shape")
        typed = []
        for value, column in zip(values, columns, strict=True):
            kind = column.type.python_type
            if kind is datetime and isinstance(value, str):
                typed.append(datetime.fromisoformat(value))
            elif kind is int and isinstance(value, int) and not isinstance(value, bool):
                typed.append(value)
            else:
                raise ValueError("wrong type")
        return typed
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise bad_request("'cursor' is not a cursor this API gave out.") from None


def page_of(query: Select, columns: tuple, *, descending: bool = False) -> tuple[list, str | None]:
    """One page of `query` in the order of `columns` (a unique key, e.g. (started_at, id)),
    from `?cursor=` for `?limit=` rows, and the cursor of the next page (None at the end).

    Keyset paging, so a page deep into 100,000 entries costs what the first one does."""
    limit = query_id("limit") or DEFAULT_LIMIT
    if limit > MAX_LIMIT:
        raise bad_request(f"'limit' is at most {MAX_LIMIT}.")
    cursor = request.args.get("cursor")
    key = tuple_(*columns) if len(columns) > 1 else columns[0]
    if cursor is not None:
        after = _decode_cursor(cursor, columns)
        after_key = tuple_(*after) if len(after) > 1 else after[0]
        query = query.where(key < after_key if descending else key > after_key)
    order = [c.desc() if descending else c.asc() for c in columns]
    rows = list(db.session.scalars(query.order_by(*order).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, _encode_cursor([getattr(last, c.key) for c in columns])


def list_response(items: list[dict], next_cursor: str | None) -> Response:
    """`{"items": [...], "next_cursor": ...}` and, when there is more, a Link header to it."""
    response = jsonify(items=items, next_cursor=next_cursor)
    if next_cursor is not None:
        args = request.args.to_dict()
        args["cursor"] = next_cursor
        response.headers["Link"] = f'<{request.base_url}?{urlencode(args)}>; rel="next"'
    return response


# ---- updates ---------------------------------------------------------------------------------

def check_if_match(current: dict) -> None:
    """412 when If-Match names another version than `current` (the resource as GET shows it)."""
    if not request.if_match:
        return
    etag = generate_etag(jsonify(current).get_data())
    if not request.if_match.contains(etag) and not request.if_match.star_tag:
        raise ApiProblem(412, "Precondition Failed",
                         "The resource changed since you read it (If-Match); read it again and retry.")


def with_etag(response: Response) -> Response:
    """A changed resource's answer with its new ETag, for the next If-Match."""
    response.add_etag()
    return response
