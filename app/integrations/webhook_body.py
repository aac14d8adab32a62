"""What a webhook body must be before any connector reads it: JSON text in UTF-8
(RFC 8259 8.1), an object at the top, nested no deeper than a real delivery ever is.

json.loads on bytes guesses UTF-16 and UTF-32 too, and deep nesting makes it (or
the code that walks the result) raise RecursionError: both are refused here,
with 415 for a declared non-JSON or non-UTF-8 body and 400 for the rest.
"""
from __future__ import annotations

import json

from app.integrations.exchange import WebhookRejected

MAX_DEPTH = 32  # Jira's deepest delivery is about 8 levels


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def check_content_type(content_type: str | None) -> None:
    """No Content-Type is read as JSON (some providers send none); any other type, or a
    charset other than UTF-8, is refused."""
    if not content_type:
        return
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise WebhookRejected(415, "the body must be application/json")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise WebhookRejected(415, "the body must be UTF-8")


def _depth(value) -> int:
    """The nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def parse(body: bytes) -> tuple[str, dict]:
    """The body as text and as a JSON object; WebhookRejected(400) otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected(400, "the body is not UTF-8") from None
    if text.startswith("\ufeff"):
        raise WebhookRejected(400, "the body starts with a byte order mark")
    if "\x00" in text:  # PostgreSQL text cannot hold it; JSON has it escaped as \\u0000 if at all
        raise WebhookRejected(400, "the body holds a NUL character")
    try:
        payload = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise WebhookRejected(400, f"the body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise WebhookRejected(400, "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "the body is not a JSON object")
    if _depth(payload) > MAX_DEPTH:
        raise WebhookRejected(400, f"the body is nested deeper than {MAX_DEPTH} levels")
    return text, payload
