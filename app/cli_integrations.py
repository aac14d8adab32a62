"""`timehub integrations status`, `timehub integrations refresh` and `timehub integrations sync`.

What an operator needs to see about every connection, a way to refresh one
now, and a sync run in the foreground with its progress. None ever prints a
token or secret: only the clear columns (status, account label, the access
token's expiry), counts, and the services' messages, which are safe to show.
Integrations are looked up through IntegrationService.
"""
from __future__ import annotations

import sys
from datetime import datetime

import click
from sqlalchemy import select

from app.extensions import db
from app.integrations import registry


@click.group("integrations")
def integrations_group() -> None:
    """Inspect and drive integrations."""


def _integration_for_cli(slug: str, email: str | None):
    from app.models import User
    from app.services.integration_service import IntegrationService, NotFound
    service = IntegrationService()
    try:
        spec = service.spec(slug)
    except NotFound:
        raise click.ClickException(f"unknown provider {slug}") from None
    user = None
    if not spec.is_global:
        if not email:
            raise click.ClickException(f"{spec.name} is per user: pass --user EMAIL")
        user = db.session.scalars(select(User).where(User.email == email.strip().lower())).one_or_none()
        if user is None:
            raise click.ClickException(f"no user with e-mail {email}")
    integration = service.integration_for(user, slug)
    if integration is None or integration.credential is None:
        raise click.ClickException(f"{spec.name} is not connected")
    return spec, integration

COLUMNS = ("PROVIDER", "SCOPE", "OWNER", "STATUS", "ACCOUNT", "TOKEN EXPIRES", "LAST SYNC", "LAST ERROR")
ERROR_WIDTH = 80  # keeps a long provider error from wrapping the table


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def _rows() -> list[tuple[str, ...]]:
    """One row per global provider (set up or not) and per user's own connection."""
    from app.models import User
    from app.services.integration_service import IntegrationService
    service = IntegrationService()
    users = db.session.scalars(select(User).order_by(User.email)).all()
    rows = []
    for spec in registry.all_specs():
        owners = [None] if spec.is_global else users
        for owner in owners:
            integration = service.integration_for(owner, spec.slug)
            if integration is None:
                if spec.is_global:
                    rows.append((spec.slug, "global", "-", "not_configured", "-", "-", "-", "-"))
                continue
            credential = integration.credential
            last_sync = _when(integration.last_sync_at)
            if integration.last_sync_status:
                last_sync += f" ({integration.last_sync_status})"
            error = (integration.last_error or "-").replace("\n", " ")
            if len(error) > ERROR_WIDTH:
                error = error[:ERROR_WIDTH - 1] + "…"
            rows.append((
                spec.slug,
                "global" if spec.is_global else "per_user",
                owner.email if owner else "-",
                integration.status,
                integration.account_label or "-",
                _when(credential.expires_at) if credential is not None else "-",
                last_sync,
                error,
            ))
    return rows


@integrations_group.command("status")
def status() -> None:
    """Show every integration: status, account, token expiry, last sync, last error."""
    table = [COLUMNS, *_rows()]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    for row in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@integrations_group.command("refresh")
@click.argument("slug")
@click.option("--user", "email", default=None, help="For per-user providers: whose connection.")
def refresh(slug: str, email: str | None) -> None:
    """Refresh an OAuth connection's access token now and show its new expiry."""
    from app.services import token_service
    spec, integration = _integration_for_cli(slug, email)
    if spec.auth_kind != "oauth2":
        raise click.ClickException(f"{spec.name} uses an API key, which has no token to refresh")
    if integration.status == "needs_reconnect":
        reason = integration.last_error or f"{spec.name} needs to be reconnected."
        raise click.ClickException(f"{reason} (a refresh cannot help: reconnect it from /integrations)")
    try:
        token = token_service.force_refresh(integration)
    except token_service.ReconnectRequired as exc:
        raise click.ClickException(f"the provider refused the refresh token: {exc.message}") from None
    except token_service.TokenError as exc:
        raise click.ClickException(exc.message) from None
    expiry = _when(token.expires_at_utc) if token.expires_at_utc else "no expiry given by the provider"
    click.echo(f"{spec.name}: refreshed; the access token now expires {expiry}.")


# -- `integrations sync`: one run in the foreground, with its progress -------------

BAR_WIDTH = 30
SPINNER = "|/-\\"
PLAIN_LINE_EVERY_PAGES = 20  # without a terminal: a line per this many pages of a long stream


class StreamProgress:
    """What one stream pulled so far in this run, and how that reads."""

    def __init__(self, name: str):
        self.name = name
        self.records = 0
        self.pages = 0
        self.total: int | None = None  # the provider's count for the listing, when it gives one

    def add(self, page) -> None:
        self.records += len(page.records)
        self.pages += 1
        if page.total is not None:
            self.total = page.total

    def _out_of(self) -> int:
        # A listing can grow while it is read: never show more done than the whole.
        return max(self.total, self.records)

    def live_line(self, finished: bool) -> str:
        if self.total is None:
            mark = "" if finished else SPINNER[self.pages % len(SPINNER)] + " "
            return f"{mark}{self.records} {self.name}"
        whole = self._out_of()
        filled = BAR_WIDTH * self.records // whole if whole else BAR_WIDTH
        return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.records}/{whole} {self.name}"

    def plain_line(self) -> str:
        count = f"{self.records}/{self._out_of()}" if self.total is not None else f"{self.records}"
        return f"{self.name}: {count} records, {self.pages} page{'s' if self.pages != 1 else ''}"


class SyncProgress:
    """The engine's progress callback for the terminal. Live: one redrawn line per
    stream (a bar when the listing's size is known, else a count with a spinner),
    kept when the stream ends. Plain (output not a terminal, so no carriage-return
    garbage in logs): a line when a stream ends, and one every
    PLAIN_LINE_EVERY_PAGES pages of a long one."""

    def __init__(self, live: bool):
        self.live = live
        self.stream: StreamProgress | None = None
        self._width = 0  # of the live line drawn last: a shorter redraw blanks the rest

    def __call__(self, _run, stream: str, page) -> None:
        if self.stream is None or self.stream.name != stream:
            self.finish_stream()
            self.stream = StreamProgress(stream)
        self.stream.add(page)
        if self.live:
            self._draw(self.stream.live_line(finished=False))
        elif self.stream.pages % PLAIN_LINE_EVERY_PAGES == 0:
            click.echo(self.stream.plain_line())

    def finish_stream(self) -> None:
        if self.stream is None:
            return
        if self.live:
            self._draw(self.stream.live_line(finished=True))
            click.echo()
            self._width = 0
        elif self.stream.pages % PLAIN_LINE_EVERY_PAGES:  # else its last line is out already
            click.echo(self.stream.plain_line())
        self.stream = None

    def _draw(self, line: str) -> None:
        click.echo("\r" + line.ljust(self._width), nl=False)
        self._width = len(line)


@integrations_group.command("sync")
@click.argument("slug")
@click.option("--user", "email", default=None, help="For per-user providers: whose connection.")
@click.option("--bar/--no-bar", "live", default=None,
              help="Redraw a progress line per stream (default: when the output is a terminal).")
def sync_now(slug: str, email: str | None, live: bool | None) -> None:
    """Run one sync in the foreground, showing each stream's progress."""
    from app.services.sync_service import SyncAlreadyRunning, run_sync
    spec, integration = _integration_for_cli(slug, email)
    progress = SyncProgress(sys.stdout.isatty() if live is None else live)
    click.echo(f"Syncing {spec.name}")
    try:
        run = run_sync(integration.id, trigger="manual", progress=progress)
    except SyncAlreadyRunning:
        raise click.ClickException(f"a sync of {spec.name} is already running") from None
    finally:
        progress.finish_stream()  # also when the run broke off: leave no half-drawn line
    click.echo(f"{run.status}: {run.pulled} pulled, {run.created} created, {run.updated} updated, "
               f"{run.archived} archived, {run.pushed} pushed, {run.failed} failed")
    if run.error:
        raise click.ClickException(run.error)
