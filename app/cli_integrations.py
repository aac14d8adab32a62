"""`timehub integrations status` and `timehub integrations refresh`.

What an operator needs to see about every connection, and a way to refresh one
now. Neither ever prints a token or secret: only the clear columns (status,
account label, the access token's expiry) and the token service's messages,
which are safe to show. Integrations are looked up through IntegrationService.
"""
from __future__ import annotations

from datetime import datetime

import click
from sqlalchemy import select

from app.cli import _integration_for_cli, integrations_group
from app.extensions import db
from app.integrations import registry

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
