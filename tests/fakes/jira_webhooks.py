"""How the fake Jira signs and delivers dynamic webhooks, and how it checks worklogs
and keeps their properties.

Webhooks registered by an OAuth 2.0 app arrive with `Authorization: Bearer <JWT>`,
the JWT signed HS256 with the app's client secret. Atlassian does not document
its claims beyond that; the fake puts the registered claims a verifier checks
(`iss` the client id, `iat`, `exp` a few minutes on) so a receiver can verify
the signature and the expiry, nothing more.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import urllib.error
import urllib.request
from datetime import datetime

WEBHOOK_EVENTS = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")
EVENT_TYPE_NAMES = {"jira:issue_created": "issue_created", "jira:issue_updated": "issue_generic",
                    "jira:issue_deleted": "issue_deleted"}
WEBHOOK_LIFETIME_MS = 30 * 24 * 3600 * 1000   # dynamic webhooks expire after 30 days unless refreshed
JWT_LIFETIME_SECONDS = 180
DELIVERY_TIMEOUT_SECONDS = 5.0
# yyyy-MM-dd'T'HH:mm:ss.SSSZ, e.g. 2026-11-29T09:00:00.000+0100: the only `started` Jira accepts.
STARTED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}")
MINIMUM_WORKLOG_SECONDS = 60


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hs256_jwt(claims: dict, secret: str) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def webhook_jwt(client_id: str, secret: str) -> str:
    now = int(time.time())
    return hs256_jwt({"iss": client_id, "iat": now, "exp": now + JWT_LIFETIME_SECONDS}, secret)


def post_json(url: str, body: dict, headers: dict[str, str]) -> int:
    """POST a delivery; the receiver's status, or 0 when it could not be reached."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_SECONDS) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def time_spent(seconds: int) -> str:
    """Jira's duration text, with its default working week: 1w = 5d, 1d = 8h."""
    parts, rest = [], seconds
    for unit, size in (("w", 5 * 8 * 3600), ("d", 8 * 3600), ("h", 3600), ("m", 60)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return " ".join(parts) or "0m"


def is_adf_doc(value) -> bool:
    return (isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1
            and isinstance(value.get("content"), list) and all(map(_is_adf_node, value["content"])))


def _is_adf_node(node) -> bool:
    """As Jira's ADF schema has it: every node names its type, a text node carries its text,
    and child nodes come as a list."""
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        return False
    if node["type"] == "text" and not isinstance(node.get("text"), str):
        return False
    content = node.get("content", [])
    return isinstance(content, list) and all(map(_is_adf_node, content))


def worklog_errors(body, *, creating: bool) -> dict[str, str]:
    """Jira's per-field errors for a worklog body (empty when acceptable)."""
    if not isinstance(body, dict):
        return {"worklog": "Worklog must not be null."}
    errors = {}
    seconds = body.get("timeSpentSeconds")
    if seconds is not None or creating:
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < MINIMUM_WORKLOG_SECONDS:
            errors["timeLogged"] = "You must indicate the time spent working."
    started = body.get("started")
    if started is not None or creating:
        if not isinstance(started, str) or not STARTED.fullmatch(started):
            errors["started"] = "Invalid date format. Please enter the date in the format \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\"."
    if "comment" in body and not is_adf_doc(body["comment"]):
        errors["comment"] = "Comment: Operation value must be an Atlassian Document (see the Atlassian Document Format)"
    if "properties" in body and not _are_properties(body["properties"]):
        # The fake's wording: key and value are required on create and update (EntityProperty).
        errors["properties"] = "Each worklog property needs a key and a value."
    return errors


def _are_properties(value) -> bool:
    return isinstance(value, list) and all(isinstance(p, dict) and isinstance(p.get("key"), str) and "value" in p
                                           for p in value)


def wants_properties(args) -> bool:
    """Whether `expand` (comma-separated, maybe repeated) asks for worklog properties."""
    return "properties" in [part.strip() for part in ",".join(args.getlist("expand")).split(",")]


def with_properties(current: list[dict], given) -> list[dict]:
    """A worklog's properties after a write: each given key set to its value, the others kept."""
    by_key = {prop["key"]: prop for prop in current}
    for prop in given or []:
        by_key[prop["key"]] = {"key": prop["key"], "value": prop["value"]}
    return list(by_key.values())


def worklog_fields(body: dict) -> dict:
    """The stored part of an accepted worklog body, with Jira's duration text."""
    fields = {name: body[name] for name in ("started", "comment") if name in body}
    if "timeSpentSeconds" in body:
        fields.update(timeSpentSeconds=body["timeSpentSeconds"], timeSpent=time_spent(body["timeSpentSeconds"]))
    return fields


def started_ms(started: str) -> int:
    """A worklog's `started` as epoch milliseconds (startedAfter/startedBefore compare those)."""
    return int(datetime.strptime(started, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)
