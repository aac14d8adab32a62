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
        commands,
        integration_settings,
        integrations,
        invitations,
        invoices,
        notify_settings,
        oauth,
        oauth_choosers,
        password_reset,
        projects,
        reports,
        sync,
        time_entries,
        webhooks,
    )

    for module in (auth, account, time_entries, projects, invoices, calendar, reports, integrations, sync,
                   integration_settings, oauth, oauth_choosers, admin, api, webhooks, commands, notify_settings,
                   banners, accounting, invitations, password_reset):
        app.register_blueprint(module.bp)
