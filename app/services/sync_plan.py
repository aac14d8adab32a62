"""What a sync would change, gathered instead of written: the engine's dry-run mode.

The sync engine applies pages through the same code with or without a plan; with one, it adds
no row and flushes nothing, and notes here what it would have done, so a preview cannot drift
from what the following sync does (app/services/sync_preview.py runs it)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from app.integrations.exchange import RemoteRecord

# The first items of each (kind, action) a preview shows.
EXAMPLES_PER_ACTION = 5
ACTIONS = ("create", "update", "archive")


@dataclass
class DryRun:
    # (kind, action) -> the provider's ids of the records it would happen to
    ids: dict = field(default_factory=lambda: defaultdict(set))
    examples: dict = field(default_factory=lambda: defaultdict(list))  # (kind, action) -> labels
    # (kind, external id) -> a stand-in local id (negative: never a real row) for what a dry
    # page "created", so later records can refer to it (a task under a new project).
    _planned: dict = field(default_factory=dict)

    def note(self, kind: str, action: str, external_id: str, label: str) -> None:
        ids = self.ids[(kind, action)]
        if external_id in ids:
            return
        ids.add(external_id)
        if len(self.examples[(kind, action)]) < EXAMPLES_PER_ACTION:
            self.examples[(kind, action)].append(label[:200])

    def plan_create(self, record: RemoteRecord) -> None:
        self._planned[(record.kind, record.external_id)] = -(len(self._planned) + 1)
        self.note(record.kind, "create", record.external_id, label_of(record))

    def planned_id(self, kind: str, external_id: str | None) -> int | None:
        return self._planned.get((kind, external_id))

    def summary(self) -> list[dict]:
        """[{kind, action, count, examples}] in a stable order, for storing and showing."""
        order = sorted(self.ids, key=lambda key: (key[0], ACTIONS.index(key[1])))
        return [{"kind": kind, "action": action, "count": len(self.ids[(kind, action)]),
                 "examples": list(self.examples[(kind, action)])} for kind, action in order]


def label_of(record: RemoteRecord) -> str:
    """How a preview names a record: its title or name, else the provider's key or id."""
    fields = record.fields or {}
    return str(fields.get("title") or fields.get("name") or fields.get("external_key") or record.external_id)


def local_label(row) -> str:
    """How a preview names a local row (a task, a project, an entry to push)."""
    for name in ("title", "name", "number", "description"):
        if value := getattr(row, name, None):
            return str(value)
    return f"#{row.id}"
