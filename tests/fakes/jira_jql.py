"""The small part of JQL the fake Jira understands, and Jira's way of writing times.

Clauses, joined with AND (keywords case-insensitive):

    project = KEY            project in (A, "B", 10001)     keys or numeric ids
    issuetype = Task         issuetype in (Task, Bug)       (webhook filters)
    updated >= "2026/11/29 09:30"   also > <= <, "yyyy-MM-dd HH:mm", "yyyy/MM/dd", epoch ms

then an optional `ORDER BY updated|created|id|key [ASC|DESC]`. Date literals are
read in the account's time zone and carry minutes at most, as in Jira: a client
cannot ask for "after 09:30:45", only for "from 09:30 on". Anything else raises
JqlError, which the fake answers with Jira's 400 error collection.
Also here: the opaque, signed nextPageToken of the enhanced search.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'|(>=|<=|!=|=|>|<|\(|\)|,)|([^\s=!<>(),"\']+))')
DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
COMPARISONS = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}
ORDER_FIELDS = ("updated", "created", "id", "key")


class JqlError(ValueError):
    """A query Jira would refuse; str(error) is the message it would give."""


@dataclass
class Query:
    projects: list[set[str]] = field(default_factory=list)     # each clause: the keys/ids it allows
    issuetypes: list[set[str]] = field(default_factory=list)
    updated: list[tuple[str, datetime]] = field(default_factory=list)  # (operator, instant)
    order_by: tuple[str, bool] | None = None                   # (field, descending)

    @property
    def bounded(self) -> bool:
        """Enhanced search refuses queries without any restriction."""
        return bool(self.projects or self.issuetypes or self.updated)


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, value) pairs: kind is 'str' (quoted), 'op' or 'word'."""
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match or match.end() == position:
            raise JqlError(f"Error in the JQL Query: the character '{text[position:].strip()[:1]}' is a reserved "
                           f"JQL character (at character {position + 1}).")
        double, single, op, word = match.groups()
        if op is not None:
            tokens.append(("op", op))
        elif word is not None:
            tokens.append(("word", word))
        else:
            tokens.append(("str", double if double is not None else single))
        position = match.end()
    return tokens


def parse_date(literal: str, time_zone: str) -> datetime:
    """A JQL date literal as an aware instant, read in `time_zone` (minute precision at most)."""
    if literal.isdigit():
        return datetime.fromtimestamp(int(literal) / 1000, tz=timezone.utc)
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(literal, pattern).replace(tzinfo=ZoneInfo(time_zone))
        except ValueError:
            continue
    raise JqlError(f"Date value '{literal}' for field 'updated' is invalid. Valid formats include: "
                   "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. "
                   "'-5d', '4w 2d'.")


def parse(jql: str, time_zone: str = "UTC", *, fields: tuple[str, ...] = ("project", "issuetype", "updated"),
          allow_order: bool = True) -> Query:
    """Parse `jql` (only the clauses on `fields`); raise JqlError like Jira for anything else."""
    tokens = _tokens(jql or "")
    query, i = Query(), 0

    def peek(offset: int = 0) -> tuple[str, str] | None:
        return tokens[i + offset] if i + offset < len(tokens) else None

    def is_keyword(token, word: str) -> bool:
        return token is not None and token[0] == "word" and token[1].lower() == word

    def value() -> str:
        nonlocal i
        token = peek()
        if token is None or token[0] == "op":
            raise JqlError("Error in the JQL Query: Expecting either a value, list or function but got "
                           f"'{token[1] if token else '<EOF>'}'.")
        i += 1
        return token[1]

    def clause() -> None:
        nonlocal i
        name = value().lower()
        if name not in fields:
            raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it."
                           if name not in ("project", "issuetype", "updated")
                           else f"The clause {name} is unsupported")
        operator = peek()
        i += 1
        if operator is None:
            raise JqlError("Error in the JQL Query: Expecting operator but got the end of the query.")
        if name in ("project", "issuetype"):
            if operator == ("op", "="):
                allowed = {value()}
            elif is_keyword(operator, "in"):
                allowed = value_list()
            else:
                raise JqlError(f"The operator '{operator[1]}' is not supported by the '{name}' field.")
            (query.projects if name == "project" else query.issuetypes).append(allowed)
        else:
            if operator[0] != "op" or operator[1] not in COMPARISONS:
                raise JqlError(f"The operator '{operator[1]}' is not supported by the 'updated' field.")
            query.updated.append((operator[1], parse_date(value(), time_zone)))

    def value_list() -> set[str]:
        nonlocal i
        if peek() != ("op", "("):
            raise JqlError("Error in the JQL Query: Expecting '(' after 'in'.")
        i += 1
        values = {value()}
        while peek() == ("op", ","):
            i += 1
            values.add(value())
        if peek() != ("op", ")"):
            raise JqlError("Error in the JQL Query: Expecting ')' to close the list.")
        i += 1
        return values

    if tokens and not is_keyword(peek(), "order"):
        clause()
        while is_keyword(peek(), "and"):
            i += 1
            clause()
    if is_keyword(peek(), "order"):
        if not allow_order or not is_keyword(peek(1), "by"):
            raise JqlError("Error in the JQL Query: Expecting 'by' after 'order'.")
        i += 2
        order_field = value().lower()
        if order_field not in ORDER_FIELDS:
            raise JqlError(f"Not able to sort using field '{order_field}'.")
        descending = order_field in ("updated", "created")  # Jira's default direction for dates
        if peek() is not None and peek()[0] == "word" and peek()[1].lower() in ("asc", "desc"):
            descending = peek()[1].lower() == "desc"
            i += 1
        query.order_by = (order_field, descending)
    if peek() is not None:
        raise JqlError(f"Error in the JQL Query: Expecting either 'AND' or 'ORDER BY' but got '{peek()[1]}'.")
    return query


def matches(query: Query, issue: dict, project: dict) -> bool:
    """Whether an issue (the fake's record) and its project satisfy every clause."""
    project_names = {project["key"].upper(), project["id"]}
    if any(not project_names & {v.upper() for v in allowed} for allowed in query.projects):
        return False
    if any(issue["issuetype"].lower() not in {v.lower() for v in allowed} for allowed in query.issuetypes):
        return False
    return all(COMPARISONS[op](issue["updated"], instant) for op, instant in query.updated)


def jira_time(moment: datetime, time_zone: str) -> str:
    """How Jira writes a timestamp: 2026-11-29T03:52:03.123+0000, in the account's zone."""
    local = moment.astimezone(ZoneInfo(time_zone))
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


def page_token(key: bytes, offset: int, jql: str) -> str:
    """An opaque nextPageToken: the next offset, bound to the query, signed with the fake's own key
    (so a token from another fake, another query or thin air is refused)."""
    payload = json.dumps({"o": offset, "q": hashlib.sha256(jql.encode()).hexdigest()[:16]}).encode()
    signature = hmac.new(key, payload, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(signature + payload).decode().rstrip("=")


def read_page_token(key: bytes, token, jql: str) -> int | None:
    """The offset a token names, or None when it is not one of ours for this query."""
    try:
        raw = base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4))
        signature, payload = raw[:12], raw[12:]
        if not hmac.compare_digest(signature, hmac.new(key, payload, hashlib.sha256).digest()[:12]):
            return None
        data = json.loads(payload)
        return data["o"] if data["q"] == hashlib.sha256(jql.encode()).hexdigest()[:16] else None
    except (ValueError, TypeError, KeyError):
        return None
