"""Clients, projects and tasks: the checks and the commit behind the pages and the API.

Who may call what is the caller's business (clients and projects: admins; tasks:
every signed-in user, see app/routes/projects.py). Field names in errors are the
model's: name, email, currency, client_id, hourly_rate, title, status, assignee_id,
external_url, project_id.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import emails
from app.currencies import is_currency
from app.extensions import db
from app.models import Client, Project, Task, User
from app.models.task import TASK_STATUSES
from app.services.sync_service import record_change

MAX_RATE = Decimal("99999999.99")
NAME_TAKEN = "A client with this name already exists."


class CatalogInvalid(Exception):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def client_name_taken(name: str, except_id: int | None = None) -> bool:
    query = select(func.count(Client.id)).where(func.lower(Client.name) == name.lower())
    if except_id is not None:
        query = query.where(Client.id != except_id)
    return bool(db.session.scalar(query))


def commit_client(client: Client) -> None:
    """Save a client already filled in (accounting integrations mirror clients, so its
    outbox row goes in the same transaction); CatalogInvalid when the name is taken."""
    if client_name_taken(client.name, client.id):
        raise CatalogInvalid({"name": NAME_TAKEN})
    db.session.add(client)
    try:
        db.session.flush()
        record_change(db.session, "client", client, "upsert")
        db.session.commit()
    except IntegrityError:  # someone took the name between the check and the commit
        db.session.rollback()
        raise CatalogInvalid({"name": NAME_TAKEN}) from None


@dataclass(frozen=True)
class ClientFields:
    name: str
    email: str | None
    currency: str


def save_client(client: Client, fields: ClientFields) -> Client:
    errors = {}
    name = fields.name.strip()
    if not name:
        errors["name"] = "Give the client a name."
    email = None
    if fields.email:
        try:
            email = emails.normalise(fields.email)
        except emails.InvalidEmail as exc:
            errors["email"] = exc.message
    currency = fields.currency.strip().upper()
    if not is_currency(currency):
        errors["currency"] = f"{fields.currency} is not an ISO 4217 currency code (like EUR or USD)."
    if errors:
        raise CatalogInvalid(errors)
    client.name, client.email, client.currency = name, email, currency
    commit_client(client)
    return client


@dataclass(frozen=True)
class ProjectFields:
    name: str
    client_id: int | None
    hourly_rate: Decimal


def save_project(project: Project, fields: ProjectFields) -> Project:
    errors = {}
    if not fields.name.strip():
        errors["name"] = "Give the project a name."
    if fields.client_id is not None:
        client = db.session.get(Client, fields.client_id)
        if client is None:
            errors["client_id"] = "No such client."
        elif client.archived and project.client_id != client.id:
            errors["client_id"] = f"Client {client.name} is archived."
    if not Decimal(0) <= fields.hourly_rate <= MAX_RATE or fields.hourly_rate != fields.hourly_rate.quantize(
            Decimal("0.01")):
        errors["hourly_rate"] = f"A rate from 0 to {MAX_RATE}, in cents at most."
    if errors:
        raise CatalogInvalid(errors)
    project.name, project.client_id, project.hourly_rate = fields.name.strip(), fields.client_id, fields.hourly_rate
    db.session.add(project)
    db.session.commit()
    return project


@dataclass(frozen=True)
class TaskFields:
    title: str
    status: str = "todo"
    assignee_id: int | None = None
    external_key: str | None = None
    external_url: str | None = None


def save_task(task: Task, fields: TaskFields) -> Task:
    errors = {}
    if not fields.title.strip():
        errors["title"] = "Give the task a title."
    if fields.status not in TASK_STATUSES:
        errors["status"] = f"One of {', '.join(TASK_STATUSES)}."
    if fields.assignee_id is not None and fields.assignee_id != task.assignee_id:
        assignee = db.session.get(User, fields.assignee_id)
        if assignee is None or not assignee.is_active:
            errors["assignee_id"] = "No such active user."
    if fields.external_url and urlsplit(fields.external_url).scheme not in ("http", "https"):
        errors["external_url"] = "Only http:// and https:// links."
    if errors:
        raise CatalogInvalid(errors)
    task.title, task.status, task.assignee_id = fields.title.strip(), fields.status, fields.assignee_id
    task.external_key, task.external_url = fields.external_key or None, fields.external_url or None
    db.session.add(task)
    db.session.commit()
    return task
