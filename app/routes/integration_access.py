"""Who may open an integration's pages, in HTTP terms: the rules themselves are
IntegrationService's (global: admins manage; per-user: the owner only)."""
from __future__ import annotations

from flask import abort
from flask_login import current_user

from app.integrations.spec import ProviderSpec
from app.models import Integration
from app.services.integration_service import Forbidden, IntegrationService, NotFound


def managed_integration(integration_id: int) -> tuple[Integration, ProviderSpec]:
    """The integration and its spec when the viewer may change it; 404 when they cannot see
    it (another user's per-user integration included), 403 when they may only look at it."""
    svc = IntegrationService()
    try:
        integration = svc.visible_integration(current_user, integration_id)
        spec = svc.spec(integration.provider)
        svc.require_manage(current_user, spec)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    return integration, spec
