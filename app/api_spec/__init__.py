"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.

Built from small helpers so that every operation states the same things the same
way: its problems (RFC 9457), its paging and conditional-request parameters, and
that writes need a Bearer token (a session cookie only reads).
"""
from __future__ import annotations

from app.api_spec.schemas import COMPONENTS, REQUESTS
from app.inputs import INT_MAX
from app.services.report_service import GROUPS, PERIODS

PROBLEM_JSON = "application/problem+json"
PROBLEM_TEXT = {
    400: "A query parameter is not what the operation takes.",
    401: "Not signed in and no valid token (a write needs the token).",
    403: "Only administrators may do this.",
    404: "No such resource, or one the caller may not see.",
    409: "The change conflicts with the resource's state (a locked entry, a sync already running).",
    412: "If-Match names another version: the resource changed since it was read.",
    415: "The body is not application/json.",
    422: "The body is well-formed but a field is wrong (see `errors`).",
}


def request_schema(name: str) -> dict:
    """A request body's schema, self-contained, for checking bodies with jsonschema."""
    return REQUESTS[name]


def _problems(*codes: int) -> dict:
    return {str(code): {"description": PROBLEM_TEXT[code],
                        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for code in (401, *codes)}


def _json(ref: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": INT_MAX}
PAGING = [
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}, "Items per page."),
    _query("cursor", {"type": "string", "maxLength": 200}, "The `next_cursor` of the previous page."),
]
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "An ETag read before: 304 when the answer is still the same."}
IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
            "description": "The ETag read before changing: 412 when the resource changed meanwhile."}
NOT_MODIFIED = {"304": {"description": "Unchanged since the ETag sent in If-None-Match."}}
TOKEN_ONLY = [{"bearerToken": []}]


def path_id(name: str, what: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": ID_SCHEMA, "description": f"The {what}'s id.",
            "example": 1}


def read(op_id: str, summary: str, ref: str, *, params=(), problems=(), paged=False) -> dict:
    parameters = [*params, *(PAGING if paged else []), IF_NONE_MATCH]
    return {"operationId": op_id, "summary": summary, "parameters": parameters,
            "responses": {"200": _json(ref, summary), **NOT_MODIFIED, **_problems(400, *problems)}}


def write(op_id: str, summary: str, ref: str | None, *, body: str | None, status: int = 200, params=(),
          problems=(), conditional=False, body_required: bool = True) -> dict:
    operation = {"operationId": op_id, "summary": summary, "security": TOKEN_ONLY,
                 "parameters": [*params, *([IF_MATCH] if conditional else [])],
                 "responses": {str(status): _json(ref, summary) if ref else {"description": summary},
                               **_problems(*problems, *((412,) if conditional else ()))}}
    if body is not None:
        operation["requestBody"] = {"required": body_required,
                                    "content": {"application/json": {"schema": REQUESTS[body]}}}
        operation["responses"].update(_problems(400, 415, 422))  # 400: not a JSON object
    return operation


def _also_answers(operation: dict, status: int, ref: str, summary: str) -> dict:
    operation["responses"][str(status)] = _json(ref, summary)
    return operation


def _paths() -> dict:
    client_id, project_id, task_id = path_id("client_id", "client"), path_id("project_id", "project"), \
        path_id("task_id", "task")
    entry_id, invoice_id, user_id = path_id("entry_id", "time entry"), path_id("invoice_id", "invoice"), \
        path_id("user_id", "user")
    slug = {"name": "slug", "in": "path", "required": True, "example": "jira",
            "schema": {"type": "string", "pattern": "^[a-z_]{1,40}$"}, "description": "The provider, e.g. jira."}
    archived = _query("archived", {"type": "string", "enum": ["true", "false"]},
                      "true: archived ones only; false (default): active ones only.")
    day = {"type": "string", "format": "date"}
    entry_filters = [
        _query("from", day, "Entries that started on or after this local day (the caller's time zone)."),
        _query("to", day, "... and on or before this local day."),
        _query("project_id", ID_SCHEMA, "Entries of this project only."),
        _query("tag_id", ID_SCHEMA, "Entries carrying this tag only."),
        _query("user", {"type": "string", "pattern": r"^(all|[1-9][0-9]{0,9})$"},
               "Whose entries (administrators): a user id, or all. Others always get their own."),
    ]
    report_filters = [
        _query("period", {"type": "string", "enum": list(PERIODS), "default": "week"}, "The period's kind."),
        _query("date", day, "A day in the period (day, week, month); default today."),
        _query("from", day, "First day of a custom period."),
        _query("to", day, "Last day of a custom period (at most 366 days)."),
        _query("group", {"type": "string", "enum": list(GROUPS), "default": "project"}, "Sum per what."),
        _query("project_id", ID_SCHEMA, "Time of this project only."),
        _query("tag_id", ID_SCHEMA, "Time carrying this tag only."),
        _query("billable", {"type": "string", "enum": ["yes", "no"]}, "Billable time only (yes) or the rest (no)."),
        _query("user", {"type": "string", "pattern": r"^(all|[1-9][0-9]{0,9})$"},
               "Whose time (administrators): a user id, or all."),
    ]
    return {
        "/me": {"get": read("getMe", "The caller's own account.", "User")},
        "/clients": {
            "get": read("listClients", "Clients, by id.", "ClientPage", params=[archived], paged=True),
            "post": write("createClient", "Create a client (administrators).", "Client", body="ClientInput",
                          status=201, problems=(403,)),
        },
        "/clients/{client_id}": {
            "get": read("getClient", "One client.", "Client", params=[client_id], problems=(404,)),
            "patch": write("updateClient", "Change a client (administrators).", "Client", body="ClientUpdate",
                           params=[client_id], problems=(403, 404), conditional=True),
        },
        "/projects": {
            "get": read("listProjects", "Projects, by id (hourly rates for administrators only).", "ProjectPage",
                        params=[archived, _query("client_id", ID_SCHEMA, "Projects of this client only.")],
                        paged=True),
            "post": write("createProject", "Create a project (administrators).", "Project", body="ProjectInput",
                          status=201, problems=(403,)),
        },
        "/projects/{project_id}": {
            "get": read("getProject", "One project.", "Project", params=[project_id], problems=(404,)),
            "patch": write("updateProject", "Change a project (administrators).", "Project", body="ProjectUpdate",
                           params=[project_id], problems=(403, 404), conditional=True),
        },
        "/tasks": {
            "get": read("listTasks", "Tasks, by id.", "TaskPage", paged=True, params=[
                archived, _query("project_id", ID_SCHEMA, "Tasks of this project only."),
                _query("status", {"type": "string", "enum": COMPONENTS["Task"]["properties"]["status"]["enum"]},
                       "Tasks in this status only.")]),
            "post": write("createTask", "Add a task to a project (anyone).", "Task", body="TaskInput", status=201,
                          problems=(404,)),
        },
        "/tasks/{task_id}": {
            "get": read("getTask", "One task.", "Task", params=[task_id], problems=(404,)),
            "patch": write("updateTask", "Change a task (anyone).", "Task", body="TaskUpdate", params=[task_id],
                           problems=(404,), conditional=True),
        },
        "/tags": {
            "get": read("listTags", "The team's tags, by id.", "TagPage", paged=True),
            "post": _also_answers(write("createTag", "Add a tag to the team's list (anyone).", "Tag",
                                        body="TagInput", status=201), 200, "Tag", "The team has that tag already."),
        },
        "/time-entries": {
            "get": read("listTimeEntries", "Time entries, newest first: the caller's own (administrators: "
                        "anyone's with ?user=).", "TimeEntryPage", params=entry_filters, paged=True,
                        problems=(404,)),
            "post": write("createTimeEntry", "Add a finished entry for the caller.", "TimeEntry",
                          body="TimeEntryInput", status=201),
        },
        "/time-entries/{entry_id}": {
            "get": read("getTimeEntry", "One entry (the caller's own; administrators: anyone's).", "TimeEntry",
                        params=[entry_id], problems=(404,)),
            "patch": write("updateTimeEntry", "Change an entry; one on an issued invoice is locked (409).",
                           "TimeEntry", body="TimeEntryUpdate", params=[entry_id], problems=(404, 409),
                           conditional=True),
            "delete": write("deleteTimeEntry", "Delete an entry; one on an issued invoice is locked (409).", None,
                            body=None, status=204, params=[entry_id], problems=(404, 409), conditional=True),
        },
        "/timer": {"get": read("getTimer", "The caller's running timer, if any.", "Timer")},
        "/timer/start": {"post": write("startTimer", "Start a timer (a running one stops at the same instant).",
                                       "TimeEntry", body="TimerStart", status=201, body_required=False)},
        "/timer/stop": {"post": write("stopTimer", "Stop the running timer (under a minute it is discarded).",
                                      "TimerStopped", body=None, problems=(409,))},
        "/reports": {"get": read("getReport", "Finished time over a period, summed per project, client, task, user "
                                 "or tag "
                                 "(the caller's own; administrators: anyone's).", "Report",
                                 params=report_filters, problems=(404, 422))},
        "/invoices": {"post": write("createInvoice", "A draft from a client's billable, uninvoiced time in a "
                                    "date range (administrators).", "Invoice", body="InvoiceInput", status=201,
                                    problems=(403,)),
                      "get": read("listInvoices", "Invoices, newest first (administrators).", "InvoicePage",
                                  paged=True, problems=(403,), params=[
                                      _query("status", {"type": "string",
                                                        "enum": COMPONENTS["Invoice"]["properties"]["status"]["enum"]},
                                             "Invoices in this status only."),
                                      _query("client_id", ID_SCHEMA, "Invoices of this client only.")])},
        "/invoices/{invoice_id}": {
            "get": read("getInvoice", "One invoice with its lines (administrators).", "Invoice",
                        params=[invoice_id], problems=(403, 404)),
            "patch": write("updateInvoice", "Change a draft's terms (administrators); issued ones are final (409).",
                           "Invoice", body="InvoiceUpdate", params=[invoice_id], problems=(403, 404, 409),
                           conditional=True),
        },
        "/invoices/{invoice_id}/issue": {"post": write(
            "issueInvoice", "Issue a draft (administrators): its time is locked.", "Invoice", body=None,
            params=[invoice_id], problems=(403, 404, 409))},
        "/invoices/{invoice_id}/pay": {"post": write(
            "payInvoice", "Mark an issued invoice paid (administrators).", "Invoice", body=None,
            params=[invoice_id], problems=(403, 404, 409))},
        "/users": {"get": read("listUsers", "Accounts, by id (administrators).", "UserPage", paged=True,
                               problems=(403,))},
        "/users/{user_id}": {"get": read("getUser", "One account (administrators).", "User", params=[user_id],
                                         problems=(403, 404))},
        "/integrations": {"get": {
            "operationId": "listIntegrations",
            "summary": "Every provider as the caller sees it: team-wide ones and the caller's own.",
            "parameters": [IF_NONE_MATCH],
            "responses": {"200": {"description": "The integrations.", "content": {"application/json": {"schema": {
                "type": "object", "required": ["integrations"], "additionalProperties": False,
                "properties": {"integrations": {"type": "array", "items": {"$ref": "#/components/schemas/Integration"}}},
            }}}}, **NOT_MODIFIED, **_problems()},
        }},
        "/integrations/{slug}": {"get": read("getIntegration", "One provider's status as the caller sees it.",
                                             "Integration", params=[slug], problems=(404,))},
        "/integrations/{slug}/runs": {"get": read("listSyncRuns", "The connection's sync runs, newest first.",
                                                  "SyncRunPage", params=[slug], paged=True, problems=(404,))},
        "/integrations/{slug}/sync": {"post": write(
            "syncNow", "Queue a sync now (team integrations: administrators).", "SyncQueued", body=None,
            status=202, params=[slug], problems=(403, 404, 409))},
    }


def openapi_document(server_url: str) -> dict:
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "TimeHub API", "version": "1.1.0",
                 "description": "Clients, projects, tasks, time entries with the timer, reports, invoices, users "
                                "and integrations. Authenticate with a personal API token "
                                "(`Authorization: Bearer th_...`, created under Account); a signed-in browser "
                                "session may read. Lists are pages of at most 100 (`limit`, `cursor`, and a "
                                "`Link: rel=\"next\"` header). Reads carry an ETag (If-None-Match: 304); updates "
                                "take If-Match (412). Errors are RFC 9457 problem details."},
        "servers": [{"url": f"{server_url}/api/v1"}],
        "security": [{"bearerToken": []}, {"sessionCookie": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
            "schemas": COMPONENTS,
        },
    }
