"""How a RemoteRecord becomes a local row, per local kind.

Each applier creates or updates one model from a record's fields and says
whether anything changed, so an unchanged record costs no write.
"""
from __future__ import annotations

from app.integrations.base import RemoteRecord
from app.models import Project, Task
from app.models.task import TASK_STATUSES


class ProjectApplier:
    model = Project
    fields = ("name",)

    @staticmethod
    def create(record: RemoteRecord, parent_id: int | None) -> Project:
        return Project(name=record.fields["name"][:200])

    @staticmethod
    def update(project: Project, record: RemoteRecord, parent_id: int | None) -> bool:
        changed = False
        name = record.fields["name"][:200]
        if project.name != name:
            project.name, changed = name, True
        if project.archived:
            project.archived, changed = False, True
        return changed


class TaskApplier:
    model = Task
    parent_kind = "project"

    @staticmethod
    def _values(record: RemoteRecord, parent_id: int | None) -> dict:
        status = record.fields.get("status", "todo")
        return {
            "title": record.fields["title"][:500],
            "status": status if status in TASK_STATUSES else "todo",
            "external_key": record.fields.get("external_key"),
            "external_url": record.fields.get("external_url"),
            "project_id": parent_id,
            "archived": False,
        }

    @classmethod
    def create(cls, record: RemoteRecord, parent_id: int | None) -> Task:
        return Task(**cls._values(record, parent_id))

    @classmethod
    def update(cls, task: Task, record: RemoteRecord, parent_id: int | None) -> bool:
        changed = False
        for name, value in cls._values(record, parent_id).items():
            if getattr(task, name) != value:
                setattr(task, name, value)
                changed = True
        return changed


APPLIERS = {"project": ProjectApplier, "task": TaskApplier}
