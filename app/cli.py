"""TimeHub's commands on Flask's CLI (the console script itself is app.console)."""
from __future__ import annotations

import os

import click
from flask import Flask
from sqlalchemy import select

from app.cli_integrations import integrations_group
from app.extensions import db


def register_cli(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(secrets_group)
    app.cli.add_command(serve)
    app.cli.add_command(worker)
    app.cli.add_command(integrations_group)


@click.group()
def users() -> None:
    """Manage user accounts."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--name", default=None, help="Display name (defaults to the e-mail's local part).")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.option("--timezone", default="UTC", show_default=True)
def create_user(email: str, password: str, name: str | None, admin: bool, timezone: str) -> None:
    """Create a user account."""
    from app.services.user_service import UserError
    from app.services.user_service import create_user as create
    try:
        user = create(email=email, password=password, name=name, admin=admin, timezone=timezone)
    except UserError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Created {'admin' if user.is_admin else 'user'} {user.email} (id {user.id}).")


@users.command("list")
def list_users() -> None:
    """List user accounts."""
    from app.models import User
    for user in db.session.scalars(select(User).order_by(User.id)):
        click.echo(f"{user.id}\t{user.email}\t{user.role}\t{user.timezone}")


@users.command("token")
@click.option("--email", required=True)
@click.option("--name", default="cli", show_default=True)
def create_token(email: str, name: str) -> None:
    """Issue a personal API token (printed once; only its digest is stored)."""
    from app.models import ApiToken, User
    user = db.session.scalars(select(User).where(User.email == email.strip().lower())).one_or_none()
    if user is None:
        raise click.ClickException(f"no user with e-mail {email}")
    token, plain = ApiToken.issue(user, name)
    db.session.add(token)
    db.session.commit()
    click.echo(plain)


@click.group("secrets")
def secrets_group() -> None:
    """Manage encryption of stored secrets."""


@secrets_group.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored secret under the current (first) key of TIMEHUB_ENCRYPTION_KEYS."""
    from app.services.integration_service import rotate_all_secrets
    count = rotate_all_secrets()
    click.echo(f"Re-encrypted {count} stored secret(s) under the current key.")


@click.command("serve")
@click.option("--host", envvar="HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="PORT", default=5000, type=int, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve TimeHub with the embedded defaults (for scale, run gunicorn 'app.wsgi:app')."""
    from flask import current_app
    from werkzeug.serving import run_simple

    from app.web_security import QuietRequestHandler

    if os.environ.get("TIMEHUB_INPROCESS_WORKER", "1") != "0":
        from app.jobs import start_in_process_consumer
        start_in_process_consumer()
        click.echo("Background jobs run inside this process (TIMEHUB_INPROCESS_WORKER=0 turns that off).")
    click.echo(f"TimeHub on http://{host}:{port}")
    run_simple(host, port, current_app._get_current_object(), threaded=True, request_handler=QuietRequestHandler)


@click.command("worker")
@click.option("--workers", default=2, show_default=True, help="Worker threads in this process.")
@click.option("--scheduler/--no-scheduler", default=True, show_default=True,
              help="Also enqueue periodic work (due syncs, token refresh); one scheduler per installation is enough.")
def worker(workers: int, scheduler: bool) -> None:
    """Consume background jobs (syncs, pushes, webhooks) and, by default, run the scheduler."""
    from app.jobs import run_worker
    run_worker(workers, scheduler)
