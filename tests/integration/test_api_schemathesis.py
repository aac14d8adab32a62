"""schemathesis against /api/v1/openapi.json: for every operation, generated requests (valid
ones and, for negative data, invalid ones) never meet a server error nor an answer the
document does not describe (status, content type, headers, body schema).

The examples are bounded (hypothesis `max_examples`) so `make test` stays quick; the
database is a real one seeded with a client, projects, a task, entries (one on an issued
invoice) and a connected integration, so generated ids sometimes reach real rows.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api_spec import openapi_document
from app.models import ApiToken, Client, Integration, IntegrationCredential, Invoice, Project, Task, TimeEntry
from app.models.base import utcnow

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
EXAMPLES = 8  # per operation and phase: about 30 operations in under a minute on SQLite
USER_EXAMPLES = 4  # the user's run mostly meets 403s and 404s, which need fewer


def seed(db, admin, user) -> None:
    client = Client(name="Acme", currency="EUR")
    db.session.add(client)
    db.session.flush()
    projects = [Project(name="Website", client_id=client.id, hourly_rate=Decimal("80")), Project(name="Intranet")]
    db.session.add_all(projects)
    db.session.flush()
    db.session.add(Task(project_id=projects[0].id, title="Home page"))
    invoice = Invoice(number="INV-2026-0001", client_id=client.id, currency="EUR", issue_date=date.today(),
                      status="issued")
    db.session.add(invoice)
    db.session.flush()
    now = utcnow()
    for owner, hours_ago, invoiced in ((admin, 30, False), (user, 28, False), (admin, 50, True)):
        start = now - timedelta(hours=hours_ago)
        db.session.add(TimeEntry(user_id=owner.id, project_id=projects[0].id, started_at=start,
                                 ended_at=start + timedelta(hours=1), invoice_id=invoice.id if invoiced else None))
    github = Integration(provider="github", is_global=True, status="active", account_label="acme")
    github.credential = IntegrationCredential(kind="oauth2")
    github.credential.payload = {"access_token": "not used: the sync is only queued"}
    db.session.add(github)
    db.session.commit()


def _wsgi(app):
    def isolated(environ, start_response):
        # Each request in its own app context, as in production (see IsolatedClient in conftest).
        with app.app_context():
            return app(environ, start_response)
    return isolated


def _token(db, owner) -> dict:
    token, plain = ApiToken.issue(owner, "schemathesis")
    db.session.add(token)
    db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


@pytest.fixture
def api(app, db, admin, user) -> dict:
    """The app as a WSGI callable and the admin's token: every operation is reachable,
    admin-only ones included."""
    seed(db, admin, user)
    return {"app": _wsgi(app), "headers": _token(db, admin)}


@pytest.fixture
def user_api(app, db, admin, user) -> dict:
    """The same with a user's token: the admin-only answers (403) and others' rows (404)."""
    seed(db, admin, user)
    return {"app": _wsgi(app), "headers": _token(db, user)}


# The document the app serves (test_api.py checks that it is this one and valid OpenAPI 3.1).
schema = schemathesis.openapi.from_dict(openapi_document("http://localhost"))


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_the_api_answers_as_its_document_says(case, api):
    case.call_and_validate(app=api["app"], headers=api["headers"], checks=CHECKS)


@schema.parametrize()
@settings(max_examples=USER_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_the_api_answers_a_user_as_its_document_says(case, user_api):
    case.call_and_validate(app=user_api["app"], headers=user_api["headers"], checks=CHECKS)
