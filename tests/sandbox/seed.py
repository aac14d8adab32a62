"""The sandbox's demo data, made through the services the pages call (never raw SQL):
the team, a client with its projects and tasks, a working week of entries, and each
provider's OAuth app saved as the admin would on its setup page."""
from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from app.extensions import db
from app.models import Client, Project, Task, User
from app.services import catalog_service, time_service
from app.services.catalog_service import ClientFields, ProjectFields, TaskFields
from app.services.integration_service import IntegrationService
from app.services.time_service import EntryFields
from app.services.user_service import create_user
from tests.sandbox.people import CLIENT_EMAIL, CLIENT_NAME, TEAM
from tests.sandbox.providers import SandboxProvider

# (start hour, end hour, project, task, what) of each person's working day
DAY_PLAN = ((9, 12, "Acme website", "Design mock-ups", "Mock-ups for the landing page"),
            (13, 15, "Acme website", "Content migration", "Moved the product pages"),
            (15, 16, "Internal", "Team meeting", "Weekly sync"))
TASKS = {"Acme website": ("Design mock-ups", "Content migration"), "Internal": ("Team meeting", "Admin")}


def team() -> dict[str, str]:
    """The admin and two users, each with a fresh random password; returns e-mail -> password."""
    passwords = {}
    for person in TEAM:
        password = secrets.token_urlsafe(9)
        create_user(email=person.email, password=password, name=person.name, admin=person.admin)
        passwords[person.email] = password
    return passwords


def catalog() -> dict[str, Project]:
    client = catalog_service.save_client(Client(), ClientFields(CLIENT_NAME, CLIENT_EMAIL, "NZD"))
    projects = {
        "Acme website": catalog_service.save_project(Project(), ProjectFields("Acme website", client.id, Decimal("120"))),
        "Internal": catalog_service.save_project(Project(billable_by_default=False),
                                                 ProjectFields("Internal", None, Decimal("0"))),
    }
    for project_name, titles in TASKS.items():
        for title in titles:
            catalog_service.save_task(Task(project_id=projects[project_name].id), TaskFields(title))
    return projects


def working_days(today: date, count: int = 5) -> list[date]:
    """The last `count` weekdays before today."""
    days, day = [], today
    while len(days) < count:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return sorted(days)


def week_of_entries(projects: dict[str, Project], today: date) -> int:
    tasks = {(t.project_id, t.title): t.id for t in db.session.query(Task)}
    made = 0
    for user in db.session.query(User).order_by(User.id):
        for day in working_days(today):
            for start, end, project_name, task_title, what in DAY_PLAN:
                project = projects[project_name]
                time_service.create_entry(user, EntryFields(
                    started_at=datetime.combine(day, time(start), tzinfo=timezone.utc),
                    ended_at=datetime.combine(day, time(end), tzinfo=timezone.utc),
                    description=what, project_id=project.id, task_id=tasks[(project.id, task_title)]))
                made += 1
    return made


def provider_apps(providers: dict[str, SandboxProvider], admin_email: str) -> None:
    """Each OAuth provider's app saved as the admin does on /admin/integrations/<slug>
    (Trello has no app: its admin pastes a key and token, printed by the sandbox)."""
    admin = db.session.query(User).filter_by(email=admin_email).one()
    service = IntegrationService()
    for provider in providers.values():
        if provider.app_values:
            service.save_app_credentials(admin, provider.slug, provider.app_values)
