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
        health,
        integration_settings,
        integrations,
        invitations,
        invoices,
        notify_settings,
        oauth,
        oauth_choosers,
        personal_links,
        password_reset,
        projects,
        rates,
        reports,
        timesheet,
        sync,
        sync_preview,
        time_entries,
        webhooks,
    )

    for module in (auth, account, time_entries, projects, invoices, calendar, reports, integrations, sync, sync_preview,
                   integration_settings, oauth, oauth_choosers, admin, api, webhooks, commands, notify_settings,
                   banners, accounting, personal_links, invitations, password_reset, rates, timesheet, health):
        app.register_blueprint(module.bp)
