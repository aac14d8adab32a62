"""Clients, projects and tasks: everyone reads them; clients and projects are changed by
administrators, tasks by anyone (the same rules as the pages, app/routes/projects.py).
Hourly rates are shown to administrators only."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from flask import jsonify
from sqlalchemy import select

from app.extensions import db
from app.models import Client, Project, Task
from app.models.task import TASK_STATUSES
from app.routes.api.blueprint import bp
from app.routes.api.support import (
    caller,
    check_if_match,
    invalid,
    iso,
    json_body,
    list_response,
    not_found,
    page_of,
    query_bool,
    query_choice,
    query_id,
    require_admin,
    with_etag,
)
from app.services import catalog_service
from app.services.catalog_service import CatalogInvalid, ClientFields, ProjectFields, TaskFields


def _timestamps(row) -> dict:
    return {"created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


def client_json(client: Client) -> dict:
    return {"id": client.id, "name": client.name, "email": client.email, "currency": client.currency,
            "archived": client.archived, **_timestamps(client)}


def project_json(project: Project) -> dict:
    body = {"id": project.id, "name": project.name, "client_id": project.client_id, "archived": project.archived}
    if caller().is_admin:
        body["hourly_rate"] = f"{project.hourly_rate:.2f}"
    return {**body, **_timestamps(project)}


def task_json(task: Task) -> dict:
    return {"id": task.id, "project_id": task.project_id, "title": task.title, "status": task.status,
            "assignee_id": task.assignee_id, "external_key": task.external_key, "external_url": task.external_url,
            "archived": task.archived, **_timestamps(task)}


def _archived_filter(query, model):
    return query.where(model.archived.is_(bool(query_bool("archived"))))


def _get(model, ident: int, what: str):
    row = db.session.get(model, ident)
    if row is None:
        raise not_found(what)
    return row


@dataclass(frozen=True)
class Kind:
    """How one kind is read from a body, saved (catalog_service) and shown."""

    model: type
    what: str
    as_json: Callable
    fields: Callable  # (body, row) -> the service's fields, the row's values where the body is silent
    save: Callable
    create_schema: str
    update_schema: str


def _saved(kind: Kind, row, body: dict, status: int):
    try:
        kind.save(row, kind.fields(body, row))
    except CatalogInvalid as exc:
        db.session.rollback()
        raise invalid(exc.errors) from None
    return with_etag(jsonify(kind.as_json(row))), status


def _create(kind: Kind, body: dict | None = None, **values):
    body = json_body(kind.create_schema) if body is None else body
    return _saved(kind, kind.model(**values), body, 201)


def _update(kind: Kind, ident: int):
    row = _get(kind.model, ident, kind.what)
    body = json_body(kind.update_schema)
    check_if_match(kind.as_json(row))
    return _saved(kind, row, body, 200)


# ---- clients ---------------------------------------------------------------------------------

@bp.get("/clients")
def list_clients():
    clients, next_cursor = page_of(_archived_filter(select(Client), Client), (Client.id,))
    return list_response([client_json(c) for c in clients], next_cursor)


@bp.get("/clients/<id:client_id>")
def get_client(client_id: int):
    return jsonify(client_json(_get(Client, client_id, "client")))


def _client_fields(body: dict, client: Client) -> ClientFields:
    return ClientFields(name=body.get("name", client.name), email=body.get("email", client.email),
                        currency=body.get("currency", client.currency or "USD"))


CLIENTS = Kind(Client, "client", client_json, _client_fields, catalog_service.save_client, "ClientInput",
               "ClientUpdate")


@bp.post("/clients")
def create_client():
    require_admin()
    return _create(CLIENTS)


@bp.patch("/clients/<id:client_id>")
def update_client(client_id: int):
    require_admin()
    return _update(CLIENTS, client_id)


# ---- projects --------------------------------------------------------------------------------

@bp.get("/projects")
def list_projects():
    query = _archived_filter(select(Project), Project)
    if (client_id := query_id("client_id")) is not None:
        query = query.where(Project.client_id == client_id)
    projects, next_cursor = page_of(query, (Project.id,))
    return list_response([project_json(p) for p in projects], next_cursor)


@bp.get("/projects/<id:project_id>")
def get_project(project_id: int):
    return jsonify(project_json(_get(Project, project_id, "project")))


def _project_fields(body: dict, project: Project) -> ProjectFields:
    rate = body.get("hourly_rate")
    return ProjectFields(name=body.get("name", project.name or ""),
                         client_id=body.get("client_id", project.client_id),
                         hourly_rate=Decimal(rate) if rate is not None else (project.hourly_rate or Decimal("0")))


PROJECTS = Kind(Project, "project", project_json, _project_fields, catalog_service.save_project, "ProjectInput",
                "ProjectUpdate")


@bp.post("/projects")
def create_project():
    require_admin()
    return _create(PROJECTS)


@bp.patch("/projects/<id:project_id>")
def update_project(project_id: int):
    require_admin()
    return _update(PROJECTS, project_id)


# ---- tasks -----------------------------------------------------------------------------------

@bp.get("/tasks")
def list_tasks():
    query = _archived_filter(select(Task), Task)
    if (project_id := query_id("project_id")) is not None:
        query = query.where(Task.project_id == project_id)
    if (status := query_choice("status", TASK_STATUSES)) is not None:
        query = query.where(Task.status == status)
    tasks, next_cursor = page_of(query, (Task.id,))
    return list_response([task_json(t) for t in tasks], next_cursor)


@bp.get("/tasks/<id:task_id>")
def get_task(task_id: int):
    return jsonify(task_json(_get(Task, task_id, "task")))


def _task_fields(body: dict, task: Task) -> TaskFields:
    keep = {name: body.get(name, getattr(task, name)) for name in
            ("title", "status", "assignee_id", "external_key", "external_url")}
    keep["status"] = keep["status"] or "todo"
    return TaskFields(**keep)


TASKS = Kind(Task, "task", task_json, _task_fields, catalog_service.save_task, "TaskInput", "TaskUpdate")


@bp.post("/tasks")
def create_task():
    body = json_body("TaskInput")
    project = db.session.get(Project, body["project_id"])
    if project is None or project.archived:
        raise invalid({"project_id": "No such active project."})
    return _create(TASKS, body, project_id=project.id)


@bp.patch("/tasks/<id:task_id>")
def update_task(task_id: int):
    return _update(TASKS, task_id)
