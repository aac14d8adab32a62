"""The `timehub` console script: Flask's CLI (db, routes, run) plus TimeHub's commands.

The one module that builds the app for the command line; nothing imports it."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from app import create_app


def _create_app(*_args) -> Flask:
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app)
def main() -> None:
    """TimeHub: time tracking for small teams, built around its integrations."""
