"""An integration's own page: its sync history, live progress, "Sync now" and
the pushes that gave up, with a retry button.

Integrations are looked up only through IntegrationService (it owns the
global/per-user rules); the runs and the outbox are read here, and the only
changes go through the job queue and sync_service.retry_failed.
"""
from __future__ import annotations

from dataclasses import dataclass
from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from app import timefmt, tuning
from app.extensions import db
from app.integrations import registry
from app.integrations.capabilities import ManagesRemoteSetup, moves_data
from app.integrations.spec import ProviderSpec
from app.models import Integration, OutboxItem, SyncRun
from app.models.base import utcnow
from app.services import personal_links, sync_service, work_queue
from app.services.integration_service import Forbidden, IntegrationError, IntegrationService, NotFound

bp = Blueprint("sync", __name__)
timefmt.register_filters(bp)

HISTORY_LIMIT = 30  # runs in the table and bars in the chart
PUSHES_SHOWN_LIMIT = 200


# -- lookups ---------------------------------------------------------------------


def _visible(integration_id: int) -> tuple[IntegrationService, Integration, ProviderSpec]:
    """The integration if the viewer may see it; 404 otherwise (also for another user's)."""
    svc = IntegrationService()
    try:
        integration = svc.visible_integration(current_user, integration_id)
        return svc, integration, svc.spec(integration.provider)
    except NotFound:
        abort(404)


def _can_manage(svc: IntegrationService, spec: ProviderSpec) -> bool:
    try:
        svc.require_manage(current_user, spec)
    except Forbidden:
        return False
    return True


def _managed(integration_id: int) -> tuple[Integration, ProviderSpec]:
    """For changes: 404 when the viewer cannot see it, 403 when they may only look."""
    svc, integration, spec = _visible(integration_id)
    if not _can_manage(svc, spec):
        abort(403)
    return integration, spec


def _active_run(integration_id: int) -> SyncRun | None:
    """The run in progress, if its worker is alive."""
    run = db.session.scalars(select(SyncRun).where(
        SyncRun.integration_id == integration_id, SyncRun.status == "running")).first()
    return None if run is None or sync_service.is_stale(run) else run


def _latest_run(integration_id: int) -> SyncRun | None:
    return db.session.scalars(select(SyncRun).where(SyncRun.integration_id == integration_id)
                              .order_by(SyncRun.id.desc()).limit(1)).first()


def _recent_runs(integration_id: int) -> list[SyncRun]:
    """The latest runs, newest first."""
    return list(db.session.scalars(select(SyncRun).where(SyncRun.integration_id == integration_id)
                                   .order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(HISTORY_LIMIT)))


def _pushes_in(integration_id: int, status: str) -> tuple[list[OutboxItem], int]:
    """The latest outbox items in `status` ("failed", "skipped") and how many there are."""
    where = (OutboxItem.integration_id == integration_id, OutboxItem.status == status)
    total = db.session.scalar(select(func.count(OutboxItem.id)).where(*where))
    items = list(db.session.scalars(select(OutboxItem).where(*where)
                                    .order_by(OutboxItem.updated_at.desc(), OutboxItem.id.desc())
                                    .limit(PUSHES_SHOWN_LIMIT)))
    return items, total


# -- what the page shows ------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """What the live part of the page shows: `state` drives the polling script.

    running:  a run is in progress (poll);
    queued:   "Sync now" was pressed and no worker has started it yet (poll);
    stalled:  a run stopped reporting progress (do not poll);
    finished: the latest run ended, or there has never been one (do not poll).
    """

    state: str
    run: SyncRun | None
    poll_url: str


def _progress(integration_id: int, queued_after: int | None) -> Progress:
    run = _latest_run(integration_id)
    url = url_for("sync.progress", integration_id=integration_id)
    if queued_after is not None and (run is None or run.id <= queued_after):
        return Progress("queued", run, url_for("sync.progress", integration_id=integration_id, after=queued_after))
    if run is not None and run.status == "running":
        return Progress("stalled" if sync_service.is_stale(run) else "running", run, url)
    return Progress("finished", run, url)


def _queued_after() -> int | None:
    """`?after=<run id>`: the latest run's id when "Sync now" was pressed."""
    return request.args.get("after", type=int)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    status: str
    label: str


CHART_HEIGHT = 140
CHART_SLOT = 28  # horizontal room per run
CHART_BAR = 20
CHART_MIN_BAR = 2  # a run that touched nothing still shows up


def records_of(run: SyncRun) -> int:
    """What a run moved: records pulled from the provider plus pushes sent to it."""
    return run.pulled + run.pushed


def chart_bars(runs_oldest_first: list[SyncRun]) -> tuple[list[Bar], int]:
    """One bar per run, its height the run's records against the busiest run."""
    peak = max((records_of(r) for r in runs_oldest_first), default=0)
    bars = []
    for index, run in enumerate(runs_oldest_first):
        height = CHART_MIN_BAR if peak == 0 else max(CHART_MIN_BAR, CHART_HEIGHT * records_of(run) / peak)
        started = timefmt.local_filter(run.started_at, "%Y-%m-%d %H:%M")
        bars.append(Bar(
            x=index * CHART_SLOT + (CHART_SLOT - CHART_BAR) / 2, y=CHART_HEIGHT - height,
            width=CHART_BAR, height=height, status=run.status,
            label=f"{started}: {records_of(run)} records, {run.failed} failed ({run.status})",
        ))
    return bars, peak


def duration_label(run: SyncRun) -> str:
    """"42 s", "3 min 5 s", "1 h 2 min"; a running run counts up to now."""
    seconds = int(((run.finished_at or utcnow()) - run.started_at).total_seconds())
    seconds = max(seconds, 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@bp.app_template_filter("sync_duration")
def _duration_filter(run: SyncRun) -> str:
    return duration_label(run)


# -- routes ---------------------------------------------------------------------------


@bp.get("/integrations/<int:integration_id>")
@login_required
def show(integration_id: int):
    svc, integration, spec = _visible(integration_id)
    runs = _recent_runs(integration_id)
    bars, peak = chart_bars(list(reversed(runs)))
    failed, failed_total = _pushes_in(integration_id, "failed")
    skipped, skipped_total = _pushes_in(integration_id, "skipped")
    return render_template(
        "sync/show.html", integration=integration, spec=spec, can_manage=_can_manage(svc, spec),
        progress=_progress(integration_id, _queued_after()), running=_active_run(integration_id) is not None,
        runs=runs, bars=bars, peak=peak, chart_width=max(len(bars), 1) * CHART_SLOT, chart_height=CHART_HEIGHT,
        failed=failed, failed_total=failed_total, skipped=skipped, skipped_total=skipped_total,
        default_interval=tuning.DEFAULT_SYNC_INTERVAL_MINUTES,
        min_interval=tuning.MIN_SYNC_INTERVAL_MINUTES, max_interval=tuning.MAX_SYNC_INTERVAL_MINUTES,
        syncs_anything=_syncs_anything(spec.slug),
        facts=_status_facts(integration),
        linked_people=personal_links.linked_people(db.session, integration)
        if personal_links.links_personal_accounts(spec.slug) else None,
    )


def _status_facts(integration: Integration) -> list[tuple[str, str]]:
    """What the connection set up at the provider (Jira's webhooks), as its connector tells it."""
    connector = registry.get_connector(integration.provider)
    if not issubclass(connector, ManagesRemoteSetup):
        return []
    return connector.status_facts(integration.connector_state or {})


def _syncs_anything(slug: str) -> bool:
    """Whether the provider's connector pulls or pushes anything yet."""
    return moves_data(registry.get_connector(slug))


@bp.get("/integrations/<int:integration_id>/progress")
@login_required
def progress(integration_id: int):
    """The live part of the page, polled by static/sync.js while a run is under way."""
    _visible(integration_id)
    response = make_response(render_template("sync/_progress.html",
                                              progress=_progress(integration_id, _queued_after())))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/integrations/<int:integration_id>/sync")
@login_required
def sync_now(integration_id: int):
    integration, spec = _managed(integration_id)
    page = url_for("sync.show", integration_id=integration_id)
    if not integration.connected:
        flash(f"{spec.name} is not connected: connect it before syncing.", "error")
        return redirect(page)
    if not _syncs_anything(spec.slug):
        flash(f"The {spec.name} connector does not import or push anything yet.", "info")
        return redirect(page)
    if _active_run(integration_id) is not None:
        flash(f"A sync of {spec.name} is already running; wait for it to finish.", "warning")
        return redirect(page)
    latest = _latest_run(integration_id)
    IntegrationService.queue_sync(integration, "manual")
    flash(f"Sync of {spec.name} queued.", "info")
    return redirect(url_for("sync.show", integration_id=integration_id, after=latest.id if latest else 0))


@bp.post("/integrations/<int:integration_id>/retry")
@login_required
def retry(integration_id: int):
    integration, _spec = _managed(integration_id)
    count = sync_service.retry_failed(db.session, integration.id)
    if count:
        work_queue.queue_push(integration.id)  # send them now rather than at the scheduler's next tick
        flash(f"{count} failed push{'es' if count != 1 else ''} queued again.", "success")
    else:
        flash("There were no failed pushes to retry.", "info")
    return redirect(url_for("sync.show", integration_id=integration_id))


@bp.post("/integrations/<int:integration_id>/interval")
@login_required
def set_interval(integration_id: int):
    integration, spec = _managed(integration_id)
    try:
        minutes = int(request.form.get("sync_interval_minutes", ""))
        IntegrationService().set_sync_interval(current_user, integration, minutes)
    except ValueError:
        flash("The sync interval must be a whole number of minutes.", "error")
    except IntegrationError as exc:
        flash(exc.message, "error")
    else:
        flash(f"{spec.name} now syncs every {minutes} minutes.", "success")
    return redirect(url_for("sync.show", integration_id=integration_id))
