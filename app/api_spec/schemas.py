"""The JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of what /api/v1 answers and accepts.

Request schemas are self-contained (no $ref), so the API checks bodies against exactly
what the document shows (app/routes/api/support.json_body).
"""
from __future__ import annotations

from app.inputs import INT_MAX
from app.models.integration import INTEGRATION_STATUSES, SYNC_RUN_STATUSES
from app.models.invoice import INVOICE_STATUSES
from app.models.task import TASK_STATUSES
from app.models.tag import TAG_NAME_MAX
from app.models.user import ROLES
from app.services.report_service import GROUPS, PERIODS
from app.services.tag_service import MAX_TAGS_PER_ENTRY
from app.services.time_service import DESCRIPTION_MAX

ID = {"type": "integer", "minimum": 1, "maximum": INT_MAX}
OPTIONAL_ID = {"type": ["integer", "null"], "minimum": 1, "maximum": INT_MAX}
MOMENT = {"type": "string", "format": "date-time", "description": "RFC 3339; answers are in UTC (Z)."}
OPTIONAL_MOMENT = {"type": ["string", "null"], "format": "date-time"}
DAY = {"type": "string", "format": "date"}
# Money and hours as decimal strings, so no client rounds them through a float.
DECIMAL = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "example": "12.50"}
TIMESTAMPS = {"created_at": MOMENT, "updated_at": MOMENT}


def text(max_length: int, *, min_length: int = 0, nullable: bool = False) -> dict:
    return {"type": ["string", "null"] if nullable else "string", "minLength": min_length, "maxLength": max_length}


def obj(properties: dict, required: list[str] | None = None, **extra) -> dict:
    """A closed object: every answer lists all its members, a body only those described."""
    return {"type": "object", "properties": properties, "required": list(properties) if required is None else required,
            "additionalProperties": False, **extra}


def page_of(ref: str) -> dict:
    return obj({"items": {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}},
                "next_cursor": {"type": ["string", "null"],
                                "description": "Pass as ?cursor= for the next page; null on the last."}})


CLIENT = obj({"id": ID, "name": text(200), "email": text(254, nullable=True), "currency": text(3, min_length=3),
              "archived": {"type": "boolean"}, **TIMESTAMPS})

PROJECT = obj({"id": ID, "name": text(200), "client_id": OPTIONAL_ID, "archived": {"type": "boolean"},
               "hourly_rate": {**DECIMAL, "description": "Shown to administrators only."}, **TIMESTAMPS},
              required=["id", "name", "client_id", "archived", "created_at", "updated_at"])

TASK = obj({"id": ID, "project_id": ID, "title": text(500), "status": {"type": "string", "enum": list(TASK_STATUSES)},
            "assignee_id": OPTIONAL_ID, "external_key": text(100, nullable=True),
            "external_url": text(1000, nullable=True), "archived": {"type": "boolean"}, **TIMESTAMPS})

TIME_ENTRY = obj({
    "id": ID, "user_id": ID, "project_id": OPTIONAL_ID, "task_id": OPTIONAL_ID,
    "description": text(DESCRIPTION_MAX), "started_at": MOMENT, "ended_at": OPTIONAL_MOMENT,
    "running": {"type": "boolean"},
    "duration_seconds": {"type": ["integer", "null"], "minimum": 0, "description": "null while the timer runs."},
    "billable": {"type": "boolean"},
    "tags": {"type": "array", "items": text(TAG_NAME_MAX, min_length=1), "maxItems": MAX_TAGS_PER_ENTRY,
             "description": "The entry's tags by name (see /tags)."},
    "locked": {"type": "boolean", "description": "On an issued or paid invoice: it can no longer change."},
    "invoice_id": {**OPTIONAL_ID, "description": "Shown to administrators only."},
    **TIMESTAMPS,
}, required=["id", "user_id", "project_id", "task_id", "description", "started_at", "ended_at", "running",
             "duration_seconds", "billable", "tags", "locked", "created_at", "updated_at"])

TAG = obj({"id": ID, "name": text(TAG_NAME_MAX, min_length=1)})
TAG_INPUT = obj({"name": text(TAG_NAME_MAX, min_length=1)})

TIMER = obj({"running": {"oneOf": [{"$ref": "#/components/schemas/TimeEntry"}, {"type": "null"}]}})

TIMER_STOPPED = obj({
    "entry": {"oneOf": [{"$ref": "#/components/schemas/TimeEntry"}, {"type": "null"}]},
    "discarded": {"type": "boolean", "description": "The timer ran under a minute: it was deleted, not kept."},
})

REPORT_ROW = obj({"key": OPTIONAL_ID, "label": {"type": "string"}, "hours": DECIMAL, "billable_hours": DECIMAL,
                  "non_billable_hours": DECIMAL, "entries": {"type": "integer", "minimum": 0}})

REPORT = obj({
    "period": obj({"kind": {"type": "string", "enum": list(PERIODS)}, "first": DAY, "last": DAY}),
    "group": {"type": "string", "enum": list(GROUPS)},
    "timezone": {"type": "string"},
    "rows": {"type": "array", "items": {"$ref": "#/components/schemas/ReportRow"}},
    "total": {"$ref": "#/components/schemas/ReportRow"},
})

INVOICE_LINE = obj({"id": ID, "description": {"type": "string"}, "hours": DECIMAL, "unit_price": DECIMAL,
                    "amount": DECIMAL})

INVOICE = obj({
    "id": ID, "number": {"type": "string"}, "client_id": ID, "currency": text(3, min_length=3),
    "status": {"type": "string", "enum": list(INVOICE_STATUSES)}, "issue_date": DAY,
    "due_date": {"type": ["string", "null"], "format": "date"}, "tax_rate": DECIMAL, "notes": {"type": "string"},
    "subtotal": DECIMAL, "tax": DECIMAL, "total": DECIMAL,
    "lines": {"type": "array", "items": {"$ref": "#/components/schemas/InvoiceLine"}}, **TIMESTAMPS,
})

USER = obj({"id": ID, "email": {"type": "string"}, "name": {"type": "string"},
            "role": {"type": "string", "enum": list(ROLES)}, "timezone": {"type": "string"},
            "active": {"type": "boolean"}, "created_at": MOMENT})

INTEGRATION = obj({
    "slug": {"type": "string", "example": "jira"},
    "name": {"type": "string", "example": "Jira"},
    "scope": {"type": "string", "enum": ["global", "per_user"]},
    "auth_kind": {"type": "string", "enum": ["oauth2", "api_key"]},
    "configured": {"type": "boolean", "description": "The provider's app or key is set up."},
    "connected": {"type": "boolean", "description": "Credentials for this connection are stored."},
    "status": {"type": "string", "enum": list(INTEGRATION_STATUSES)},
    "account": {"type": ["string", "null"], "description": "Who or what the connection reached."},
    "last_sync_at": OPTIONAL_MOMENT,
    "last_sync_status": {"type": ["string", "null"]},
})

SYNC_RUN = obj({
    "id": ID, "trigger": {"type": "string"}, "status": {"type": "string", "enum": list(SYNC_RUN_STATUSES)},
    "started_at": MOMENT, "finished_at": OPTIONAL_MOMENT,
    **{name: {"type": "integer", "minimum": 0} for name in ("pulled", "created", "updated", "archived", "pushed",
                                                             "failed")},
    "error": {"type": ["string", "null"]},
})

SYNC_QUEUED = obj({"queued": {"const": True}, "integration": {"type": "string"}})

# RFC 9457 problem details; every error under /api/v1 has this shape.
PROBLEM = {
    "type": "object", "required": ["type", "title", "status"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"},
                   "errors": {"type": "object", "additionalProperties": {"type": "string"},
                              "description": "For 422: each field that is wrong, and why."},
                   "error": {"type": "string"}, "message": {"type": "string"}},
}

# ---- request bodies --------------------------------------------------------------------------

RATE = {"type": "string", "pattern": r"^\d{1,8}(\.\d{1,2})?$", "example": "80.00"}

CLIENT_INPUT = obj({"name": text(200, min_length=1), "email": text(254, nullable=True),
                    "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$", "example": "EUR"}},
                   required=["name"])
PROJECT_INPUT = obj({"name": text(200, min_length=1), "client_id": OPTIONAL_ID, "hourly_rate": RATE},
                    required=["name"])
TASK_INPUT = obj({"project_id": ID, "title": text(500, min_length=1),
                  "status": {"type": "string", "enum": list(TASK_STATUSES)}, "assignee_id": OPTIONAL_ID,
                  "external_key": text(100, nullable=True), "external_url": text(1000, nullable=True)},
                 required=["project_id", "title"])
ENTRY_FIELDS = {"description": text(DESCRIPTION_MAX), "project_id": OPTIONAL_ID, "task_id": OPTIONAL_ID,
                "billable": {"type": "boolean", "description": "Default on a new entry: the project's."},
                "tags": {"type": "array", "items": text(TAG_NAME_MAX, min_length=1),
                         "maxItems": MAX_TAGS_PER_ENTRY,
                         "description": "Tag names; new ones join the team's list. On an update, replaces them."}}
ENTRY_INPUT = obj({"started_at": MOMENT, "ended_at": OPTIONAL_MOMENT, **ENTRY_FIELDS},
                  required=["started_at", "ended_at"])
TIMER_INPUT = obj(ENTRY_FIELDS, required=[])
TAX_RATE = {"type": "string", "pattern": r"^\d{1,3}(\.\d{1,2})?$", "example": "20.00",
            "description": "Percent, 0 to 100."}
INVOICE_TERMS = {"due_date": {"type": ["string", "null"], "format": "date"}, "tax_rate": TAX_RATE,
                 "notes": text(2000)}
INVOICE_INPUT = obj({"client_id": ID, "start": {**DAY, "description": "First day of the time invoiced."},
                     "end": {**DAY, "description": "Last day (inclusive), in the caller's time zone."},
                     "issue_date": DAY, **INVOICE_TERMS}, required=["client_id", "start", "end", "issue_date"])


def update_of(schema: dict, fixed: tuple[str, ...] = ()) -> dict:
    """The PATCH body of a create body: every member optional, `fixed` ones left out."""
    properties = {k: v for k, v in schema["properties"].items() if k not in fixed}
    return obj(properties, required=[], minProperties=1)


COMPONENTS = {
    "Client": CLIENT, "Project": PROJECT, "Task": TASK, "Tag": TAG, "TimeEntry": TIME_ENTRY, "Timer": TIMER,
    "TimerStopped": TIMER_STOPPED, "Report": REPORT, "ReportRow": REPORT_ROW, "Invoice": INVOICE,
    "InvoiceLine": INVOICE_LINE, "User": USER, "Integration": INTEGRATION, "SyncRun": SYNC_RUN,
    "SyncQueued": SYNC_QUEUED, "Problem": PROBLEM,
    "ClientPage": page_of("Client"), "ProjectPage": page_of("Project"), "TaskPage": page_of("Task"),
    "TagPage": page_of("Tag"), "TimeEntryPage": page_of("TimeEntry"), "InvoicePage": page_of("Invoice"), "UserPage": page_of("User"),
    "SyncRunPage": page_of("SyncRun"),
}

REQUESTS = {
    "ClientInput": CLIENT_INPUT, "ClientUpdate": update_of(CLIENT_INPUT),
    "ProjectInput": PROJECT_INPUT, "ProjectUpdate": update_of(PROJECT_INPUT),
    "TagInput": TAG_INPUT,
    "TaskInput": TASK_INPUT, "TaskUpdate": update_of(TASK_INPUT, fixed=("project_id",)),
    "TimeEntryInput": ENTRY_INPUT, "TimeEntryUpdate": update_of(ENTRY_INPUT),
    "TimerStart": TIMER_INPUT,
    "InvoiceInput": INVOICE_INPUT, "InvoiceUpdate": obj(INVOICE_TERMS, required=[], minProperties=1),
}
