"""The preview of an integration's next sync: a button that queues it and a page that shows
what the sync would create, update, archive and push (app/services/sync_preview.py). Only
whoever manages the integration may ask for one or see it."""
from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, url_for
from flask_login import login_required

from app.integrations import registry
from app.integrations.capabilities import moves_data
from app.routes.integration_access import managed_integration
from app.services import sync_preview

bp = Blueprint("sync_preview", __name__)

# While a preview is computed, its page reloads itself this often (seconds).
REFRESH_SECONDS = 2


@bp.post("/integrations/<int:integration_id>/preview")
@login_required
def request_preview(integration_id: int):
    integration, spec = managed_integration(integration_id)
    if not integration.connected or not moves_data(registry.get_connector(spec.slug)):
        flash(f"{spec.name} is not connected, or its connector moves no data: there is nothing to preview.", "error")
        return redirect(url_for("sync.show", integration_id=integration_id))
    sync_preview.request_preview(integration)
    return redirect(url_for("sync_preview.show", integration_id=integration_id))


@bp.get("/integrations/<int:integration_id>/preview")
@login_required
def show(integration_id: int):
    integration, spec = managed_integration(integration_id)
    preview = sync_preview.latest_preview(integration_id)
    response = make_response(render_template("sync/preview.html", integration=integration, spec=spec,
                                             preview=preview, refresh_seconds=REFRESH_SECONDS))
    response.headers["Cache-Control"] = "no-store"
    return response
