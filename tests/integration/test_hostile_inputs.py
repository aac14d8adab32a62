"""Property-based: random and edge values posted into every form field and query
parameter the URL map offers (the route matrix's rows, signed in as an admin) never
get a 5xx, and a refused request (4xx) changes nothing in the database.

The field names are read from the forms the pages render, plus the query parameters
the pages take. Examples are few enough (tuned by MAX_EXAMPLES) that a backend takes
well under a minute.
"""
from __future__ import annotations

import hashlib
import re
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.extensions import db as _db
from tests.conftest import csrf_token
from tests.integration.test_route_matrix import ROWS, sign_in, world  # noqa: F401

MAX_EXAMPLES = 120
# Rows that end the signed-in session or leave the app: the rest is fair game.
SKIPPED = {"auth.logout", "auth.setup", "oauth.connect", "oauth.callback", "webhooks.receive", "webhooks.probe",
           "admin.end_sessions", "static", "api.openapi"}
QUERY_NAMES = ["until", "week", "user", "client", "next", "status", "page"]
NAME_RE = re.compile(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"')
EDGES = ["", "0", "-1", "1", "²", "１２", "9" * 400, "99999999999999999999", str(2**31), str(2**63),
         "0001-01-01", "9999-12-31", "1969-12-31", "2101-01-01", "2026-02-30", "9999-12-31T23:30",
         "9999-12-31 23:30", "23:30", "24:00", "25:61", "99999999", "9999999:00", "1e999", "NaN", "Infinity", "-0",
         " 1 ", "1.5", "1,5h", "\x00", "a\x00b", "a\r\nLocation: //evil.example", "//evil.example", "/\\evil.example",
         "https://evil.example/", "dollars", "DOL", "EUR", "eur", "XXX", "all", "y", "on", "<script>x</script>",
         "🎉" * 60, "x" * 5000, "admin", "user", "UTC", "Mars/Olympus"]
VALUES = st.one_of(st.sampled_from(EDGES), st.text(max_size=40), st.integers(-(2**70), 2**70).map(str))
ROUTES = [row for row in ROWS if row.endpoint not in SKIPPED and row.method in ("GET", "POST")]


def database_digest() -> str:
    """Every row of every table, so that any write shows."""
    digest = hashlib.sha256()
    for table in _db.metadata.sorted_tables:
        order = list(table.primary_key.columns) or list(table.columns)
        for row in _db.session.execute(select(table).order_by(*order)):
            digest.update(repr(tuple(row)).encode())
    _db.session.rollback()
    return digest.hexdigest()


@pytest.fixture
def admin_browser(app, world):  # noqa: F811
    client = app.test_client()
    sign_in(client, world["accounts"]["admin"])
    names = set(QUERY_NAMES)
    for row in ROWS:
        if row.method == "GET" and row.endpoint not in SKIPPED:
            response = client.get(row.path.format(**world["ids"]))
            if response.mimetype == "text/html":  # not the report's XLSX and PDF downloads
                names.update(NAME_RE.findall(response.get_data(as_text=True)))
    names.discard("csrf_token")
    return client, sorted(names), csrf_token(client, "/")


@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_and_edge_values_never_crash_or_half_save(app, world, admin_browser, data):  # noqa: F811
    client, names, token = admin_browser
    row = data.draw(st.sampled_from(ROUTES), label="route")
    values = data.draw(st.dictionaries(st.sampled_from(names), VALUES, max_size=8), label="values")
    path = row.path.format(**world["ids"])
    before = database_digest()
    if row.method == "GET":
        response = client.get(path + ("&" if "?" in path else "?") + urlencode(values))
    else:
        query = {key: value for key, value in values.items() if key in QUERY_NAMES and data.draw(st.booleans())}
        response = client.post(path + ("?" + urlencode(query) if query else ""),
                               data={**values, "csrf_token": token})
    assert response.status_code < 500, (row.label, values, response.get_data(as_text=True)[:300])
    if response.status_code >= 400:
        assert database_digest() == before, f"{row.label} answered {response.status_code} but wrote"


@pytest.mark.parametrize("path, field", [("/entries", "entry-description"), ("/clients/new", "name"),
                                         ("/account", "name")])
def test_a_file_sent_in_a_text_field_is_a_400(app, world, admin_browser, path, field):  # noqa: F811
    client, _names, token = admin_browser
    before = database_digest()
    import io
    response = client.post(path, data={"csrf_token": token, field: (io.BytesIO(b"file body"), "notes.txt")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert database_digest() == before
