"""The JSON API under /api/v1: the blueprint (blueprint.py: authentication, ETags) and one
module per resource, each adding its routes to it; app/api_spec describes them all."""
from __future__ import annotations

from app.routes.api import (  # noqa: F401  (importing a module registers its routes)
    catalog,
    entries,
    integrations,
    invoices,
    meta,
    reports,
    tags,
    users,
)
from app.routes.api.blueprint import bp

__all__ = ["bp"]
