"""The route x role matrix: every rule in the URL map, asked by an anonymous
visitor, an intruder (the issue's "other user": a second ordinary user who owns
nothing the URLs name), the user and an admin, with the status each must get.

Pages are fetched with GET; actions are POSTed with a valid CSRF token and no
other form data (so a permitted form answers 422, a permitted button does its
thing). URL parameters are filled with ids of real rows made for each test:
the user's own entry and another user's, a global integration, another
user's per-user integration, and so on. `test_every_route_has_a_row` fails as
soon as a route appears without an entry here.

The intruder gets the user's answer unless a row says otherwise; a row whose
path names one of the user's own objects must say (`OWN_OBJECTS`). Whatever the
status, the intruder's answer never shows the user's private values and leaves
every row the user owns as it was (`_owned_rows`).

Runs on SQLite and PostgreSQL (the `app` fixture).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest
from markupsafe import escape
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.extensions import db as _db
from app.models import (
    ApiToken,
    CalendarEvent,
    CalendarEventPerson,
    Client,
    Integration,
    Invoice,
    Project,
    Task,
    TimeEntry,
    User,
)
from app.models.base import utcnow
from app.services import session_service
from tests.conftest import csrf_token

# In the order they are asked: the intruder before the user, so the user's objects are
# untouched when the intruder tries them (the user's own timer, tokens, entries...).
ROLES = ("anonymous", "intruder", "user", "admin")
SAME_AS_USER = "same as user"
# The placeholders naming the user's own objects: a row with one says what the intruder gets.
OWN_OBJECTS = ("{user_entry}", "{user_integration}", "{user_token}", "{user_event}")
# What only the user may see (the calendar's: not even an admin, issue 11).
PRIVATE_TO_USER = ("Ulla's private note", "Ulla's laptop token", "ulla.private@calendar.example",
                   "Ulla's private meeting", "ulla@team.example")
PRIVATE_FROM_ADMIN = ("ulla.private@calendar.example", "Ulla's private meeting")
LOGIN = "login"  # 302 to the login page
IGNORED_METHODS = {"HEAD", "OPTIONS"}
# One hash for every account here: signing in goes through the session, not the password.
PASSWORD_HASH = generate_password_hash("not used by these tests")


@dataclass(frozen=True)
class Row:
    endpoint: str
    method: str
    path: str                       # {placeholders} are ids from the `world` fixture
    anonymous: int | str
    user: int | str
    admin: int | str
    case: str = ""                  # what the row shows, when a route has several
    intruder: int | str = SAME_AS_USER
    xfail: dict[str, str] = field(default_factory=dict)  # role -> why the app answers wrongly
    # The roles share one world per row, asked in ROLES order; a row where one role's
    # success would change another's answer (or with an xfail) gets a world per role.
    isolate: bool = False

    def expected(self, role: str) -> int | str:
        if role == "intruder" and self.intruder == SAME_AS_USER:
            return self.user
        return getattr(self, role)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}" + (f" ({self.case})" if self.case else "")


def page(endpoint, path, anonymous, user, admin, case="", **kw) -> Row:
    return Row(endpoint, "GET", path, anonymous, user, admin, case, **kw)


def action(endpoint, path, anonymous, user, admin, case="", **kw) -> Row:
    return Row(endpoint, "POST", path, anonymous, user, admin, case, **kw)


ROWS: list[Row] = [
    # -- signing in ------------------------------------------------------------------
    page("auth.login", "/login", 200, 200, 200),
    action("auth.login", "/login", 422, 422, 422, "empty form"),
    action("auth.logout", "/logout", LOGIN, 302, 302),
    page("auth.setup", "/setup", 404, 404, 404, "accounts exist: the one-time setup is gone"),
    action("auth.setup", "/setup", 404, 404, 404, "accounts exist: the one-time setup is gone"),
    page("static", "/static/style.css", 200, 200, 200),
    # Health checks for load balancers: nobody signs in to them (app/routes/health.py).
    page("health.healthz", "/healthz", 200, 200, 200),
    page("health.readyz", "/readyz", 200, 200, 200, "database, queue and migrations all current"),
    page("password_reset.forgot", "/password/forgot", 404, 404, 404, "no mail server: not offered"),
    # Isolated: reset requests are throttled per account (3 a minute), and every role asks for the same empty one.
    action("password_reset.forgot", "/password/forgot", 404, 404, 404, "no mail server: not offered", isolate=True),
    page("password_reset.reset", "/password/reset/1.unknown", 404, 404, 404, "an unknown link"),
    action("password_reset.reset", "/password/reset/1.unknown", 404, 404, 404, "an unknown link"),
    page("invitations.accept", "/invite/1.unknown", 404, 404, 404, "an unknown link"),
    action("invitations.accept", "/invite/1.unknown", 404, 404, 404, "an unknown link"),

    # -- own account -----------------------------------------------------------------
    page("account.profile", "/account", LOGIN, 200, 200),
    # A POST without the fields keeps the stored values (WTForms reads absent fields from the object).
    action("account.profile", "/account", LOGIN, 302, 302, "no fields: nothing changes"),
    action("account.change_password", "/account/password", LOGIN, 422, 422, "empty form"),
    action("account.create_token", "/account/tokens", LOGIN, 422, 422, "empty form"),
    # The team's Jira is connected and the user has linked their own account to it (the world);
    # linking needs the Jira app's setup too, which is not saved: back to the account page.
    action("personal_links.link", "/account/links/jira", LOGIN, 302, 302, "no Jira app saved"),
    action("personal_links.link", "/account/links/slack", LOGIN, 404, 404, "Slack has no personal links"),
    # Each person unlinks only their own: the intruder (asked first) leaves the user's link as it was.
    action("personal_links.unlink", "/account/links/jira/remove", LOGIN, 302, 302,
           "the user's own link removed; the others have none"),
    action("personal_links.link_with_token", "/account/links/jira_datacenter/token", LOGIN, 302, 302,
           "the team's Jira Data Center is not connected"),
    action("personal_links.link_with_token", "/account/links/slack/token", LOGIN, 404, 404,
           "Slack has no personal links"),
    action("account.revoke_token", "/account/tokens/{user_token}/revoke", LOGIN, 302, 404,
           "the user's token: nobody else's to revoke", intruder=404),

    # -- time entries ----------------------------------------------------------------
    page("time_entries.index", "/", LOGIN, 200, 200),
    action("time_entries.start_timer", "/timer/start", LOGIN, 302, 302, "no description needed"),
    action("time_entries.stop_timer", "/timer/stop", LOGIN, 302, 302),
    action("time_entries.create", "/entries", LOGIN, 422, 422, "empty form"),
    page("time_entries.edit", "/entries/{user_entry}/edit", LOGIN, 200, 200, "the user's own entry", intruder=404),
    page("time_entries.edit", "/entries/{other_entry}/edit", LOGIN, 404, 200, "another user's entry"),
    page("time_entries.edit", "/entries/999999/edit", LOGIN, 404, 404, "no such entry"),
    action("time_entries.edit", "/entries/{user_entry}/edit", LOGIN, 302, 302, "the user's own entry, no fields",
           intruder=404),
    action("time_entries.edit", "/entries/{other_entry}/edit", LOGIN, 404, 302, "another user's entry, no fields"),
    action("time_entries.delete", "/entries/{user_entry}/delete", LOGIN, 302, 302, "the user's own entry",
           intruder=404, isolate=True),
    action("time_entries.delete", "/entries/{other_entry}/delete", LOGIN, 404, 302, "another user's entry"),
    action("time_entries.continue_entry", "/entries/{user_entry}/continue", LOGIN, 302, 302, "the user's own entry",
           intruder=404, isolate=True),
    action("time_entries.continue_entry", "/entries/{other_entry}/continue", LOGIN, 404, 302,
           "another user's entry: an admin continues it as their own timer"),

    # -- calendar ----------------------------------------------------------------------
    page("calendar.week", "/calendar", LOGIN, 200, 200),
    page("calendar.week", "/calendar?user={other_user}", LOGIN, 404, 200, "another user's week"),
    action("calendar.convert", "/calendar/events/{user_event}/convert", LOGIN, 302, 404,
           "the user's own suggestion: nobody else's to take", intruder=404),
    action("calendar.convert", "/calendar/events/999999/convert", LOGIN, 404, 404, "no such event of theirs"),

    # -- reports -----------------------------------------------------------------------
    page("reports.index", "/reports", LOGIN, 200, 200),
    page("reports.index", "/reports?user={other_user}", LOGIN, 404, 200, "another user's time"),
    page("reports.export_csv", "/reports/export.csv", LOGIN, 200, 200),
    page("reports.export_csv", "/reports/export.csv?user=all", LOGIN, 404, 200, "everyone's time"),
    page("reports.export_xlsx", "/reports/export.xlsx", LOGIN, 200, 200),
    page("reports.export_xlsx", "/reports/export.xlsx?user=all", LOGIN, 404, 200, "everyone's time"),
    page("reports.export_pdf", "/reports/export.pdf", LOGIN, 200, 200),
    page("reports.export_pdf", "/reports/export.pdf?user={other_user}", LOGIN, 404, 200, "another user's time"),
    page("timesheet.week", "/timesheet", LOGIN, 200, 200),
    page("timesheet.week", "/timesheet?week=yesterday", LOGIN, 400, 400, "not a date"),
    action("timesheet.save", "/timesheet", LOGIN, 302, 302, "no cells typed: nothing changes"),

    # -- clients and projects ----------------------------------------------------------
    page("projects.clients", "/clients", LOGIN, 200, 200),
    page("projects.new_client", "/clients/new", LOGIN, 403, 200),
    action("projects.new_client", "/clients/new", LOGIN, 403, 422, "empty form"),
    page("projects.edit_client", "/clients/{client}/edit", LOGIN, 403, 200),
    action("projects.edit_client", "/clients/{client}/edit", LOGIN, 403, 302, "no fields: nothing changes"),
    action("projects.archive_client", "/clients/{client}/archive", LOGIN, 403, 302),
    page("projects.index", "/projects", LOGIN, 200, 200),
    page("projects.new_project", "/projects/new", LOGIN, 403, 200),
    action("projects.new_project", "/projects/new", LOGIN, 403, 422, "empty form"),
    page("projects.detail", "/projects/{project}", LOGIN, 200, 200),
    page("projects.detail", "/projects/999999", LOGIN, 404, 404, "no such project"),
    page("projects.edit_project", "/projects/{project}/edit", LOGIN, 403, 200),
    action("projects.edit_project", "/projects/{project}/edit", LOGIN, 403, 422, "empty form"),
    action("projects.archive_project", "/projects/{project}/archive", LOGIN, 403, 302),
    page("projects.new_task", "/projects/{project}/tasks/new", LOGIN, 200, 200),
    action("projects.new_task", "/projects/{project}/tasks/new", LOGIN, 422, 422, "empty form"),
    page("projects.edit_task", "/projects/{project}/tasks/{task}/edit", LOGIN, 200, 200),
    page("projects.edit_task", "/projects/{other_project}/tasks/{task}/edit", LOGIN, 404, 404,
         "the task of another project"),
    action("projects.edit_task", "/projects/{project}/tasks/{task}/edit", LOGIN, 422, 422, "empty form"),
    action("projects.task_status", "/projects/{project}/tasks/{task}/status", LOGIN, 422, 422, "no status"),
    action("projects.archive_task", "/projects/{project}/tasks/{task}/archive", LOGIN, 302, 302),

    # -- invoices ------------------------------------------------------------------------
    page("invoices.index", "/invoices", LOGIN, 403, 200, "invoices are for admins"),
    page("invoices.new", "/invoices/new", LOGIN, 403, 200),
    action("invoices.new", "/invoices/new", LOGIN, 403, 422, "empty form"),
    page("invoices.detail", "/invoices/{invoice}", LOGIN, 403, 200, "invoices are for admins"),
    page("invoices.detail", "/invoices/999999", LOGIN, 403, 404, "no such invoice"),
    page("invoices.edit", "/invoices/{invoice}/edit", LOGIN, 403, 200),
    action("invoices.edit", "/invoices/{invoice}/edit", LOGIN, 403, 422, "a draft, a tax rate is needed"),
    action("invoices.issue", "/invoices/{invoice}/issue", LOGIN, 403, 302),
    action("invoices.mark_paid", "/invoices/{invoice}/paid", LOGIN, 403, 302, "a draft: refused with a message"),
    action("invoices.delete", "/invoices/{invoice}/delete", LOGIN, 403, 302),
    page("invoices.pdf", "/invoices/{invoice}.pdf", LOGIN, 403, 200),
    page("invoices.seller", "/invoices/seller", LOGIN, 403, 200),
    action("invoices.seller", "/invoices/seller", LOGIN, 403, 422, "empty form: a name is needed"),
    # -- accounting (an active Xero connection without tokens: the provider cannot be asked) --
    page("accounting.preview", "/invoices/{invoice}/export/{global_integration}/preview", LOGIN, 403, 200,
         "the page says why nothing can be shown"),
    page("accounting.preview", "/invoices/{invoice}/export/{user_integration}/preview", LOGIN, 403, 404,
         "not an accounting connection", intruder=403),
    action("accounting.send", "/invoices/{invoice}/export/{global_integration}", LOGIN, 403, 302),
    action("accounting.send", "/invoices/999999/export/{global_integration}", LOGIN, 403, 404, "no such invoice"),
    action("accounting.confirm", "/invoices/{invoice}/export/{global_integration}/confirm", LOGIN, 403, 400,
           "no digest of a preview: refused"),
    page("accounting.customers", "/integrations/{global_integration}/customers", LOGIN, 403, 200,
         "the page says why nothing can be shown"),
    action("accounting.customers", "/integrations/{global_integration}/customers", LOGIN, 403, 200,
           "nothing saved while the provider cannot be asked"),
    page("accounting.customers", "/integrations/{user_integration}/customers", LOGIN, 403, 404,
         "not an accounting connection", intruder=403),
    page("accounting.time_preview", "/integrations/{global_integration}/clients/{client}/time-preview", LOGIN, 403,
         404, "Xero takes no time (QuickBooks' own: test_export_gate.py)"),
    action("accounting.confirm_time", "/integrations/{global_integration}/clients/{client}/time-preview/confirm",
           LOGIN, 403, 404, "Xero takes no time"),

    # -- user management -------------------------------------------------------------------
    page("admin.users", "/admin/users", LOGIN, 403, 200, "user on an admin page"),
    page("admin.new_user", "/admin/users/new", LOGIN, 403, 200),
    action("admin.new_user", "/admin/users/new", LOGIN, 403, 422, "empty form"),
    page("admin.edit_user", "/admin/users/{other_user}/edit", LOGIN, 403, 200),
    page("admin.edit_user", "/admin/users/999999/edit", LOGIN, 403, 404, "no such user"),
    action("admin.edit_user", "/admin/users/{other_user}/edit", LOGIN, 403, 302, "no fields: nothing changes"),
    action("admin.reset_password", "/admin/users/{other_user}/password", LOGIN, 403, 422, "empty form"),
    action("admin.end_sessions", "/admin/users/{other_user}/sessions/end", LOGIN, 403, 302),
    page("admin.delete_user", "/admin/users/{other_user}/delete", LOGIN, 403, 200),
    action("admin.delete_user", "/admin/users/{other_user}/delete", LOGIN, 403, 422,
           "time entries: refused, deactivate instead"),
    action("admin.delete_user", "/admin/users/{newcomer}/delete", LOGIN, 403, 302, "no history: deleted"),
    action("admin.deactivate_user", "/admin/users/{other_user}/deactivate", LOGIN, 403, 302),
    action("admin.reactivate_user", "/admin/users/{other_user}/reactivate", LOGIN, 403, 302),
    page("invitations.index", "/admin/invitations", LOGIN, 403, 200),
    action("invitations.index", "/admin/invitations", LOGIN, 403, 422, "empty form"),
    action("invitations.withdraw", "/admin/invitations/999999/withdraw", LOGIN, 403, 302, "no such invitation: says so"),
    page("rates.index", "/admin/rates", LOGIN, 403, 200, "rates are for admins"),
    action("rates.save_default", "/admin/rates/default", LOGIN, 403, 422, "empty form"),
    action("rates.save_user", "/admin/rates/users/{other_user}", LOGIN, 403, 302, "empty: the default applies"),
    action("rates.save_user", "/admin/rates/users/999999", LOGIN, 403, 404, "no such user"),

    # -- integrations ------------------------------------------------------------------------
    page("integrations.index", "/integrations", LOGIN, 200, 200),
    page("integrations.legacy_calendar_integrations", "/calendar/integrations", 301, 301, 301),
    page("integrations.setup", "/admin/integrations/xero", LOGIN, 403, 200, "user on an admin page"),
    page("integrations.setup", "/admin/integrations/google_calendar", LOGIN, 403, 200, "the per-user provider's app"),
    page("integrations.setup", "/admin/integrations/nope", LOGIN, 403, 404, "unknown slug"),
    action("integrations.setup", "/admin/integrations/xero", LOGIN, 403, 422, "empty form"),
    action("integrations.test_connection", "/admin/integrations/trello/test", LOGIN, 403, 302, "not connected"),
    action("integrations.connect_token", "/admin/integrations/jira_datacenter/token", LOGIN, 403, 302,
           "no token: said on the page"),
    action("integrations.connect_token", "/admin/integrations/jira/token", LOGIN, 403, 404, "OAuth only"),
    action("integrations.connect_token", "/admin/integrations/nope/token", LOGIN, 403, 404, "unknown slug"),
    action("integrations.test_connection", "/admin/integrations/nope/test", LOGIN, 404, 404, "unknown slug"),
    action("integrations.disconnect", "/integrations/xero/disconnect", LOGIN, 403, 302, "global: admins only"),
    action("integrations.disconnect", "/integrations/google_calendar/disconnect", LOGIN, 302, 302,
           "per-user: each their own"),
    action("integrations.disconnect", "/integrations/nope/disconnect", LOGIN, 404, 404, "unknown slug"),
    action("oauth.connect", "/integrations/xero/connect", LOGIN, 403, 302, "global, no app registered yet"),
    action("oauth.connect", "/integrations/google_calendar/connect", LOGIN, 302, 302,
           "per-user, no app registered yet"),
    action("oauth.connect", "/integrations/trello/connect", LOGIN, 404, 404, "an API-key provider"),
    action("oauth.connect", "/integrations/nope/connect", LOGIN, 404, 404, "unknown slug"),
    page("oauth.callback", "/integrations/xero/callback", LOGIN, 403, 400, "no state: refused"),
    page("oauth.callback", "/integrations/google_calendar/callback", LOGIN, 400, 400, "no state: refused"),
    page("oauth.callback", "/integrations/nope/callback", LOGIN, 404, 404, "unknown slug"),
    page("oauth_choosers.choose", "/integrations/xero/choose", LOGIN, 403, 302, "nothing waiting"),
    page("oauth_choosers.choose", "/integrations/nope/choose", LOGIN, 404, 404, "unknown slug"),
    action("oauth_choosers.choose", "/integrations/xero/choose", LOGIN, 403, 302, "nothing waiting"),
    page("sync.show", "/integrations/{global_integration}", LOGIN, 200, 200, "a global integration"),
    page("sync.show", "/integrations/{user_integration}", LOGIN, 200, 404, "the user's own per-user integration",
         intruder=404),
    page("sync.show", "/integrations/{other_integration}", LOGIN, 404, 404,
         "another user's per-user integration"),
    page("sync.show", "/integrations/999999", LOGIN, 404, 404, "no such integration"),
    page("sync.progress", "/integrations/{global_integration}/progress", LOGIN, 200, 200),
    page("sync.progress", "/integrations/{user_integration}/progress", LOGIN, 200, 404,
         "the user's own per-user integration", intruder=404),
    page("sync.progress", "/integrations/{other_integration}/progress", LOGIN, 404, 404,
         "another user's per-user integration"),
    action("sync.sync_now", "/integrations/{global_integration}/sync", LOGIN, 403, 302, "global: admins only"),
    action("sync.sync_now", "/integrations/{user_integration}/sync", LOGIN, 302, 404,
           "the user's own per-user integration", intruder=404),
    action("sync.sync_now", "/integrations/{other_integration}/sync", LOGIN, 404, 404,
           "another user's per-user integration"),
    action("sync.retry", "/integrations/{global_integration}/retry", LOGIN, 403, 302, "global: admins only"),
    action("sync.retry", "/integrations/{user_integration}/retry", LOGIN, 302, 404,
           "the user's own per-user integration", intruder=404),
    action("sync.retry", "/integrations/{other_integration}/retry", LOGIN, 404, 404,
           "another user's per-user integration"),
    action("sync.set_interval", "/integrations/{global_integration}/interval", LOGIN, 403, 302,
           "global: admins only"),
    action("sync.set_interval", "/integrations/{user_integration}/interval", LOGIN, 302, 404,
           "the user's own per-user integration", intruder=404),
    page("sync_preview.show", "/integrations/{global_integration}/preview", LOGIN, 403, 200, "global: admins only"),
    page("sync_preview.show", "/integrations/{user_integration}/preview", LOGIN, 200, 404,
         "the user's own per-user integration", intruder=404),
    page("sync_preview.show", "/integrations/{other_integration}/preview", LOGIN, 404, 404,
         "another user's per-user integration"),
    action("sync_preview.request_preview", "/integrations/{global_integration}/preview", LOGIN, 403, 302,
           "global: admins only"),
    action("sync_preview.request_preview", "/integrations/{user_integration}/preview", LOGIN, 302, 404,
           "the user's own per-user integration", intruder=404),
    action("sync_preview.request_preview", "/integrations/{other_integration}/preview", LOGIN, 404, 404,
           "another user's per-user integration"),
    page("integration_settings.edit", "/integrations/{global_integration}/settings", LOGIN, 403, 200,
         "global: admins only"),
    page("integration_settings.edit", "/integrations/{user_integration}/settings", LOGIN, 200, 404,
         "the user's own per-user integration", intruder=404),
    page("integration_settings.edit", "/integrations/{other_integration}/settings", LOGIN, 404, 404,
         "another user's per-user integration"),
    page("integration_settings.edit", "/integrations/999999/settings", LOGIN, 404, 404, "no such integration"),
    action("integration_settings.edit", "/integrations/{global_integration}/settings", LOGIN, 403, 422,
           "global: admins only, empty form (Xero pulls payment status: its interval is required)"),
    action("integration_settings.edit", "/integrations/{user_integration}/settings", LOGIN, 422, 404,
           "the user's own per-user integration, empty form (Google Calendar pulls: its interval is required)",
           intruder=404),
    action("integration_settings.edit", "/integrations/{other_integration}/settings", LOGIN, 404, 404,
           "another user's per-user integration"),

    action("notify_settings.test_message", "/integrations/{global_integration}/test-message", LOGIN, 403, 302,
           "global: admins only (a provider that does not notify: back to its page)"),
    action("notify_settings.test_message", "/integrations/{user_integration}/test-message", LOGIN, 302, 404,
           "the user's own per-user integration (it does not notify: back to its page)", intruder=404),
    action("notify_settings.test_message", "/integrations/{other_integration}/test-message", LOGIN, 404, 404,
           "another user's per-user integration"),

    # -- API and webhooks: their own answers ---------------------------------------------------
    page("api.integrations", "/api/v1/integrations", 401, 200, 200),
    page("api.openapi", "/api/v1/openapi.json", 200, 200, 200, "the API's public description"),
    # The session cookie reads; every write needs a Bearer token (401), see tests/integration/test_api.py.
    page("api.me", "/api/v1/me", 401, 200, 200),
    page("api.list_clients", "/api/v1/clients", 401, 200, 200),
    page("api.get_client", "/api/v1/clients/{client}", 401, 200, 200),
    page("api.list_projects", "/api/v1/projects", 401, 200, 200),
    page("api.get_project", "/api/v1/projects/{project}", 401, 200, 200),
    page("api.list_tasks", "/api/v1/tasks", 401, 200, 200),
    page("api.list_tags", "/api/v1/tags", 401, 200, 200),
    page("api.get_task", "/api/v1/tasks/{task}", 401, 200, 200),
    page("api.list_entries", "/api/v1/time-entries", 401, 200, 200),
    page("api.get_entry", "/api/v1/time-entries/{user_entry}", 401, 200, 200, "the user's own entry", intruder=404),
    page("api.get_entry", "/api/v1/time-entries/{other_entry}", 401, 404, 200, "another user's entry"),
    page("api.get_timer", "/api/v1/timer", 401, 200, 200),
    page("api.get_report", "/api/v1/reports", 401, 200, 200),
    page("api.list_invoices", "/api/v1/invoices", 401, 403, 200),
    page("api.get_invoice", "/api/v1/invoices/{invoice}", 401, 403, 200),
    page("api.list_users", "/api/v1/users", 401, 403, 200),
    page("api.get_user", "/api/v1/users/{other_user}", 401, 403, 200),
    page("api.get_integration", "/api/v1/integrations/xero", 401, 200, 200),
    page("api.list_runs", "/api/v1/integrations/xero/runs", 401, 200, 200),
    action("api.create_client", "/api/v1/clients", 401, 401, 401, "a cookie cannot write"),
    action("api.create_project", "/api/v1/projects", 401, 401, 401, "a cookie cannot write"),
    action("api.create_task", "/api/v1/tasks", 401, 401, 401, "a cookie cannot write"),
    action("api.create_tag", "/api/v1/tags", 401, 401, 401, "a cookie cannot write"),
    action("api.create_entry", "/api/v1/time-entries", 401, 401, 401, "a cookie cannot write"),
    action("api.start_timer", "/api/v1/timer/start", 401, 401, 401, "a cookie cannot write"),
    action("api.stop_timer", "/api/v1/timer/stop", 401, 401, 401, "a cookie cannot write"),
    action("api.sync_now", "/api/v1/integrations/xero/sync", 401, 401, 401, "a cookie cannot write"),
    action("api.create_invoice", "/api/v1/invoices", 401, 401, 401, "a cookie cannot write"),
    action("api.issue_invoice", "/api/v1/invoices/{invoice}/issue", 401, 401, 401, "a cookie cannot write"),
    action("api.pay_invoice", "/api/v1/invoices/{invoice}/pay", 401, 401, 401, "a cookie cannot write"),
    Row("api.update_invoice", "PATCH", "/api/v1/invoices/{invoice}", 401, 401, 401, "a cookie cannot write"),
    Row("api.update_client", "PATCH", "/api/v1/clients/{client}", 401, 401, 401, "a cookie cannot write"),
    Row("api.update_project", "PATCH", "/api/v1/projects/{project}", 401, 401, 401, "a cookie cannot write"),
    Row("api.update_task", "PATCH", "/api/v1/tasks/{task}", 401, 401, 401, "a cookie cannot write"),
    Row("api.update_entry", "PATCH", "/api/v1/time-entries/{user_entry}", 401, 401, 401, "a cookie cannot write",
        intruder=401),
    Row("api.delete_entry", "DELETE", "/api/v1/time-entries/{user_entry}", 401, 401, 401,
        "a cookie cannot write", intruder=401),
    # A configured integration whose connector verifies webhooks refuses an unsigned delivery (401).
    action("webhooks.receive", "/webhooks/github/{webhook_token}", 415, 415, 415,
           "a form body: refused as not JSON before any signature is read"),
    action("webhooks.receive", "/webhooks/github/wrong-token", 404, 404, 404, "unknown address"),
    action("webhooks.receive", "/webhooks/nope/{webhook_token}", 404, 404, 404, "unknown slug"),
    action("commands.answer", "/commands/github/{webhook_token}", 404, 404, 404, "GitHub answers no commands"),
    action("commands.answer", "/commands/nope/{webhook_token}", 404, 404, 404, "unknown slug"),
    # The probe answers as POST would (issue 14): GitHub verifies its deliveries, so its address is heard.
    Row("webhooks.probe", "HEAD", "/webhooks/github/{webhook_token}", 200, 200, 200,
        "a configured address whose provider sends deliveries"),
    Row("webhooks.probe", "HEAD", "/webhooks/trello/{webhook_token}", 404, 404, 404,
        "another integration's token: unknown address"),
]


def _params():
    for row in ROWS:
        if not (row.isolate or row.xfail):
            yield pytest.param(row, ROLES, id=row.label)
            continue
        for role in ROLES:
            marks = [pytest.mark.xfail(reason=row.xfail[role], strict=True)] if role in row.xfail else []
            yield pytest.param(row, (role,), id=f"{row.label}-{role}", marks=marks)


# -- the world each request is made in --------------------------------------------------------

def _account(email: str, name: str, role: str = "user") -> User:
    user = User(email=email, name=name, role=role, timezone="UTC", password_hash=PASSWORD_HASH)
    _db.session.add(user)
    return user


def _entry(owner: User, project: Project, hours_ago: int, description: str, running: bool = False) -> TimeEntry:
    started = utcnow() - timedelta(hours=hours_ago)
    entry = TimeEntry(user=owner, project_id=project.id, description=description, started_at=started,
                      ended_at=None if running else started + timedelta(hours=1), billable=True)
    _db.session.add(entry)
    return entry


@pytest.fixture
def world(app) -> dict:
    """The rows the URLs point at, and the accounts (by role)."""
    admin = _account("admin@example.com", "Ada Admin", "admin")
    user = _account("user@example.com", "Ulla User")
    intruder = _account("intruder@example.com", "Ivo Intruder")  # owns nothing any URL names
    other = _account("other@example.com", "Otto Other")
    newcomer = _account("new@example.com", "Nina Newcomer")  # no history: the only one deletable
    client = Client(name="Acme", currency="EUR")
    _db.session.add(client)
    _db.session.flush()
    project = Project(name="Website", client_id=client.id, hourly_rate=Decimal(80))
    other_project = Project(name="Intranet", client_id=client.id)
    _db.session.add_all([project, other_project])
    _db.session.flush()
    task = Task(project_id=project.id, title="Home page")
    invoice = Invoice(number="INV-0001", client_id=client.id, currency="EUR", issue_date=date.today())
    token, _plain = ApiToken.issue(user, "Ulla's laptop token")
    github = Integration(provider="github", is_global=True, status="active")  # receives signed webhooks
    integrations = {
        "global_integration": Integration(provider="xero", is_global=True, status="active"),
        "user_integration": Integration(provider="google_calendar", is_global=False, user=user, status="active",
                                        account_label="ulla.private@calendar.example"),
        "other_integration": Integration(provider="google_calendar", is_global=False, user=other, status="active"),
    }
    entries = {"user_entry": _entry(user, project, 30, "Ulla's private note"),
               "other_entry": _entry(other, project, 28, "work of Otto")}
    # The user's timer runs: nobody else's stop or start may end it.
    _db.session.add(_entry(user, project, 2, "Ulla's private note, still running", running=True))
    _db.session.add_all([task, invoice, token, github, *integrations.values()])
    _db.session.flush()
    # The team's Jira, and the user's own account linked to it (issue 16): nobody else's
    # unlink or link may touch that link.
    jira = Integration(provider="jira", is_global=True, status="active", account_label="team site")
    _db.session.add(jira)
    _db.session.flush()
    _db.session.add(Integration(provider="jira", is_global=False, user=user, status="active",
                                team_integration_id=jira.id, account_label="ulla@team.example"))
    _db.session.flush()
    event = CalendarEvent(integration_id=integrations["user_integration"].id, title="Ulla's private meeting",
                          starts_at=utcnow() - timedelta(hours=5), ends_at=utcnow() - timedelta(hours=4))
    event.people.append(CalendarEventPerson(user_id=user.id))
    _db.session.add(event)
    _db.session.commit()
    ids = {name: row.id for name, row in {**integrations, **entries}.items()}
    ids["user_event"] = event.id
    ids.update(client=client.id, project=project.id, other_project=other_project.id, task=task.id,
               invoice=invoice.id, user_token=token.id, other_user=other.id, newcomer=newcomer.id, webhook_token=github.webhook_token)
    return {"ids": ids, "accounts": {"user": user.id, "intruder": intruder.id, "admin": admin.id}}


def sign_in(client, user_id: int) -> None:
    """What a successful login leaves in the session (Flask-Login's keys), for a session started on the server."""
    session_key = session_service.start(_db.session.get(User, user_id))
    with client.session_transaction() as session:
        session["_user_id"] = session_key
        session["_fresh"] = True


def ask(app, world: dict, row: Row, role: str):
    client = app.test_client()
    # Each role from its own address, as different people are: the sign-in throttle counts per address.
    client.environ_base["REMOTE_ADDR"] = f"192.0.2.{ROLES.index(role) + 1}"
    if role != "anonymous":
        sign_in(client, world["accounts"][role])
    path = row.path.format(**world["ids"])
    if row.method == "GET":
        return client.get(path)
    if row.method == "HEAD":
        return client.head(path)
    if row.method in ("PATCH", "DELETE"):
        return client.open(path, method=row.method, json={})
    return client.post(path, data={"csrf_token": csrf_token(client, "/login")})


# -- the tests ------------------------------------------------------------------------------------

def _route_methods(app) -> set[tuple[str, str]]:
    pairs = set()
    for rule in app.url_map.iter_rules():
        methods = (rule.methods or set()) - IGNORED_METHODS or {"HEAD"}
        pairs |= {(rule.endpoint, method) for method in methods}
    return pairs


def _owned_rows(user_id: int) -> dict[str, list[tuple]]:
    """Every row the user owns: their account, each table's rows with their user_id, and the
    rows hanging off their per-user integrations (credentials, links, cursors). A new table
    with a user_id column is in it without a change here."""
    _db.session.rollback()  # read what the requests committed, not an old snapshot
    tables = _db.metadata.sorted_tables
    owned = {"users": _db.session.execute(select(User.__table__).where(User.__table__.c.id == user_id)).all()}
    for table in tables:
        if "user_id" in table.c:
            owned[table.name] = _db.session.execute(select(table).where(table.c.user_id == user_id)).all()
    integration_ids = [row.id for row in owned["integrations"]]
    for table in tables:
        if "integration_id" in table.c:
            owned[table.name] = _db.session.execute(
                select(table).where(table.c.integration_id.in_(integration_ids))).all()
    return {name: sorted(map(tuple, rows), key=repr) for name, rows in owned.items()}


def test_rows_on_the_users_own_objects_say_what_the_intruder_gets():
    silent = [row.label for row in ROWS
              if row.intruder == SAME_AS_USER and any(name in row.path for name in OWN_OBJECTS)]
    assert silent == [], "rows naming the user's own objects: give `intruder=` (what a second user gets)"


def test_every_route_has_a_row(app):
    covered = {(row.endpoint, row.method) for row in ROWS}
    routes = _route_methods(app)
    assert sorted(routes - covered) == [], "routes without a row in the matrix: add one per method"
    assert sorted(covered - routes) == [], "rows for routes that no longer exist"


@pytest.mark.parametrize("row, roles", list(_params()))
def test_route_answers_each_role_as_expected(app, world, row: Row, roles: tuple[str, ...]):
    path = row.path.format(**world["ids"]).split("?")[0]
    adapter = app.url_map.bind("localhost")
    assert adapter.match(path, method=row.method)[0] == row.endpoint, "the row's path reaches another route"

    wrong = []
    for role in roles:
        before = _owned_rows(world["accounts"]["user"]) if role in ("anonymous", "intruder") else None
        response = ask(app, world, row, role)
        if before is not None and _owned_rows(world["accounts"]["user"]) != before:
            wrong.append(f"{role}: changed the user's rows")
        private = {"anonymous": PRIVATE_TO_USER, "intruder": PRIVATE_TO_USER, "admin": PRIVATE_FROM_ADMIN}
        body = response.get_data()  # bytes: exports are binary
        shown = [value for value in private.get(role, ())
                 if value.encode() in body or str(escape(value)).encode() in body]
        if shown:
            wrong.append(f"{role}: shown the user's {shown}")
        expected = row.expected(role)
        location = response.headers.get("Location", "")
        if expected == LOGIN:
            ok = response.status_code == 302 and location.startswith("/login")
        else:
            ok = response.status_code == expected
        if not ok:
            answer = f"{response.status_code} {location}".strip()
            wrong.append(f"{role}: expected {expected}, got {answer}: {response.get_data(as_text=True)[:200]!r}")
    assert not wrong, f"{row.label}\n" + "\n".join(wrong)


# -- CSRF: every state-changing route refuses a form without its token --------------------------

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# The blueprints that authenticate each request themselves instead of by the session cookie, so
# a forged cross-site form cannot act as anyone (and must not need a token a provider never has).
CSRF_EXEMPT = {
    "webhooks": "a provider's deliveries: verified by the provider's signature or the address's token",
    "commands": "a provider's slash commands: verified by the provider's signature",
    "api": "the JSON API: every write needs a Bearer token, a cookie alone is refused (401)",
}


def _database_rows() -> dict[str, list[str]]:
    """Every row of every table, but when a session was last seen (each request notes it)."""
    _db.session.rollback()
    rows = {}
    for table in _db.metadata.sorted_tables:
        columns = [column for column in table.c if column.name != "last_seen_at"]
        rows[table.name] = sorted(repr(tuple(row)) for row in _db.session.execute(select(*columns)).all())
    return rows


def test_the_exemptions_are_the_apps(app):
    csrf = app.extensions["csrf"]
    exempt = {getattr(blueprint, "name", blueprint) for blueprint in csrf._exempt_blueprints}
    assert exempt == set(CSRF_EXEMPT), "a CSRF exemption without a reason here"
    assert not csrf._exempt_views, "a view exempt from CSRF: list it in CSRF_EXEMPT with why"


def test_every_state_changing_route_refuses_a_form_without_its_token(app, world):
    """One row per (route, method) of the URL map (the matrix has one for each, see above),
    sent by a signed-in admin with no token: 400, and not one row of the database changed."""
    pairs = sorted((endpoint, method) for endpoint, method in _route_methods(app)
                   if method in STATE_CHANGING and endpoint.split(".")[0] not in CSRF_EXEMPT)
    first_row = {}
    for row in ROWS:
        first_row.setdefault((row.endpoint, row.method), row)
    client = app.test_client()
    sign_in(client, world["accounts"]["admin"])
    wrong = []
    for pair in pairs:
        row = first_row[pair]
        before = _database_rows()
        response = client.open(row.path.format(**world["ids"]), method=row.method, data={})
        if response.status_code != 400 or "CSRF" not in response.get_data(as_text=True):
            wrong.append(f"{row.label}: {response.status_code} {response.headers.get('Location', '')}")
        elif _database_rows() != before:
            wrong.append(f"{row.label}: refused, but the database changed")
    assert len(pairs) > 50  # the URL map was read
    assert not wrong, "\n".join(wrong)
