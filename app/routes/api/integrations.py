"""Integrations as the caller sees them (team-wide ones and their own), their sync runs,
and "Sync now"; every rule is IntegrationService's."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from app.models import SyncRun
from app.routes.api.blueprint import bp
from app.routes.api.support import ApiProblem, caller, conflict, iso, list_response, not_found, page_of
from app.services.integration_service import Forbidden, IntegrationService, IntegrationView, NotFound, SyncRefused


def integration_json(view: IntegrationView) -> dict:
    integ = view.integration
    return {
        "slug": view.spec.slug,
        "name": view.spec.name,
        "scope": view.spec.scope,
        "auth_kind": view.spec.auth_kind,
        "configured": view.configured,
        "connected": view.connected,
        "status": view.status,
        "account": integ.account_label if integ else None,
        "last_sync_at": iso(integ.last_sync_at) if integ else None,
        "last_sync_status": integ.last_sync_status if integ else None,
    }


def run_json(run: SyncRun) -> dict:
    return {"id": run.id, "trigger": run.trigger, "status": run.status, "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at), "pulled": run.pulled, "created": run.created,
            "updated": run.updated, "archived": run.archived, "pushed": run.pushed, "failed": run.failed,
            "error": run.error}


def _view(slug: str) -> IntegrationView:
    try:
        return IntegrationService().view(caller(), slug)
    except NotFound:
        raise not_found("integration") from None


@bp.get("/integrations")
def integrations():
    team, mine = IntegrationService().list_for(caller())
    return jsonify(integrations=[integration_json(v) for v in team + mine])


@bp.get("/integrations/<slug>")
def get_integration(slug: str):
    return jsonify(integration_json(_view(slug)))


@bp.get("/integrations/<slug>/runs")
def list_runs(slug: str):
    view = _view(slug)
    # No connection row yet: no runs (an id no run has keeps the answer a normal page).
    integration_id = view.integration.id if view.integration else 0
    runs, next_cursor = page_of(select(SyncRun).where(SyncRun.integration_id == integration_id), (SyncRun.id,),
                                descending=True)
    return list_response([run_json(r) for r in runs], next_cursor)


@bp.post("/integrations/<slug>/sync")
def sync_now(slug: str):
    view = _view(slug)
    try:
        IntegrationService().request_sync(caller(), view.integration, view.spec)
    except Forbidden:
        raise ApiProblem(403, "Forbidden", f"Only administrators may sync {view.spec.name}.") from None
    except SyncRefused as exc:
        raise conflict(exc.message) from None
    return jsonify(queued=True, integration=slug), 202
