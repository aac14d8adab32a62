"""Blueprints, one module each."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from app.routes import account, admin, api, auth, calendar, integrations, invoices, oauth, projects, sync, time_entries, webhooks

    for module in (auth, account, time_entries, projects, invoices, calendar, integrations, sync, oauth, admin, api, webhooks):
        app.register_blueprint(module.bp)
