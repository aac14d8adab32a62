"""Blueprints, one module each."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from app.routes import (
        accounting,
        account,
        admin,
        api,
        auth,
        banners,
        calendar,
        integration_settings,
        integrations,
        invoices,
        oauth,
        oauth_choosers,
        projects,
        sync,
        time_entries,
        webhooks,
    )

    for module in (auth, account, time_entries, projects, invoices, calendar, integrations, sync,
                   integration_settings, oauth, oauth_choosers, admin, api, webhooks, banners, accounting):
        app.register_blueprint(module.bp)
