"""The shape each provider's deliveries must have before they are stored, so that a
delivery accepted with 2xx can be applied later (a delivery the job cannot read
would be lost silently). One checker per provider that receives webhooks; it
names what is wrong, or returns None.

Kept beside the connectors rather than in them while their contract is being
reworked; each belongs in its connector's verify_webhook once that settles.
"""
from __future__ import annotations

from typing import Callable


def _jira(event: str | None, payload: dict) -> str | None:
    issue = payload.get("issue")
    if issue is None:
        return None  # not an issue event: stored, applies nothing
    if not isinstance(issue, dict):
        return "issue is not an object"
    if not isinstance(issue.get("id"), (str, int)) or isinstance(issue.get("id"), bool) or issue.get("id") in ("", None):
        return "issue.id is missing or not an id"
    if event != "jira:issue_deleted" and not (isinstance(issue.get("key"), str) and issue["key"]):
        return "issue.key is missing"
    fields = issue.get("fields")
    if fields is None:
        return None
    if not isinstance(fields, dict):
        return "issue.fields is not an object"
    for name in ("project", "status", "assignee"):
        if fields.get(name) is not None and not isinstance(fields[name], dict):
            return f"issue.fields.{name} is not an object"
    status = fields.get("status") or {}
    if status.get("statusCategory") is not None and not isinstance(status["statusCategory"], dict):
        return "issue.fields.status.statusCategory is not an object"
    assignee = fields.get("assignee") or {}
    if assignee.get("accountId") is not None and not isinstance(assignee["accountId"], str):
        return "issue.fields.assignee.accountId is not text"
    category = status.get("statusCategory") or {}
    if category.get("key") is not None and not isinstance(category["key"], str):
        return "issue.fields.status.statusCategory.key is not text"
    for name in ("summary", "updated"):
        if fields.get(name) is not None and not isinstance(fields[name], str):
            return f"issue.fields.{name} is not text"
    return None


CHECKERS: dict[str, Callable[[str | None, dict], str | None]] = {"jira": _jira}


def problem(slug: str, event: str | None, payload: dict) -> str | None:
    checker = CHECKERS.get(slug)
    return checker(event, payload) if checker else None
