"""Clients, projects and tasks: everyone reads them; clients and projects are changed by
administrators, tasks by anyone (the same rules as the pages, app/routes/projects.py).
Hourly rates are shown to administrators only."""
from __future__ import annotations

from decimal import Decimal

from flask import jsonify
from sqlalchemy import select

from app.extensions import db
from app.models import Client, Project, Task
from app.models.task import TASK_STATUSES
from app.routes.api import bp
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


def _saved(save, row, fields, as_json, status: int = 200):
    try:
        save(row, fields)
    except CatalogInvalid as exc:
        db.session.rollback()
        raise invalid(exc.errors) from None
    return with_etag(jsonify(as_json(row))), status


def _get(model, ident: int, what: str):
    row = db.session.get(model, ident)
    if row is None:
        raise not_found(what)
    return row


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


@bp.post("/clients")
def create_client():
    require_admin()
    body = json_body("ClientInput")
    client = Client()
    return _saved(catalog_service.save_client, client, _client_fields(body, client), client_json, 201)


@bp.patch("/clients/<id:client_id>")
def update_client(client_id: int):
    require_admin()
    client = _get(Client, client_id, "client")
    body = json_body("ClientUpdate")
    check_if_match(client_json(client))
    return _saved(catalog_service.save_client, client, _client_fields(body, client), client_json)


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


@bp.post("/projects")
def create_project():
    require_admin()
    body = json_body("ProjectInput")
    project = Project()
    return _saved(catalog_service.save_project, project, _project_fields(body, project), project_json, 201)


@bp.patch("/projects/<id:project_id>")
def update_project(project_id: int):
    require_admin()
    project = _get(Project, project_id, "project")
    body = json_body("ProjectUpdate")
    check_if_match(project_json(project))
    return _saved(catalog_service.save_project, project, _project_fields(body, project), project_json)


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


@bp.post("/tasks")
def create_task():
    body = json_body("TaskInput")
    project = db.session.get(Project, body["project_id"])
    if project is None or project.archived:
        raise invalid({"project_id": "No such active project."})
    task = Task(project_id=project.id)
    return _saved(catalog_service.save_task, task, _task_fields(body, task), task_json, 201)


@bp.patch("/tasks/<id:task_id>")
def update_task(task_id: int):
    task = _get(Task, task_id, "task")
    body = json_body("TaskUpdate")
    check_if_match(task_json(task))
    return _saved(catalog_service.save_task, task, _task_fields(body, task), task_json)
