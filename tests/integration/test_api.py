"""GET /api/v1/integrations, by session and by personal token, checked against our own OpenAPI document."""
import json

import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from app.models import ApiToken


@pytest.fixture
def token_for(db):
    def issue(user):
        token, plain = ApiToken.issue(user, "test")
        db.session.add(token)
        db.session.commit()
        return plain
    return issue


def validate(client, path: str, response):
    spec = client.get("/api/v1/openapi.json").get_json()
    # Error answers are RFC 9457 problem details, JSON under their own media type.
    api = OpenAPI.from_dict(spec, config=Config(extra_media_type_deserializers={"application/problem+json": json.loads}))
    request = MockRequest("http://localhost", "get", f"/api/v1{path}")
    api.validate_response(request, MockResponse(response.data, status_code=response.status_code,
                                                 content_type=response.mimetype))


def test_session_user_gets_every_provider(user_client):
    response = user_client.get("/api/v1/integrations")
    assert response.status_code == 200
    items = {i["slug"]: i for i in response.get_json()["integrations"]}
    assert len(items) == 12
    assert items["google_calendar"]["scope"] == "per_user"
    assert items["jira"] == {"slug": "jira", "name": "Jira", "scope": "global", "auth_kind": "oauth2",
                             "configured": False, "connected": False, "status": "not_configured",
                             "account": None, "last_sync_at": None, "last_sync_status": None}
    assert items["trello"]["auth_kind"] == "api_key"
    validate(user_client, "/integrations", response)


def test_bearer_token_authenticates(client, user, token_for, db):
    plain = token_for(user)
    response = client.get("/api/v1/integrations", headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 200
    assert db.session.scalars(db.select(ApiToken)).one().last_used_at is not None
    assert plain not in db.session.execute(db.text("SELECT token_digest FROM api_tokens")).scalar_one()


def test_wrong_or_missing_token_is_401_json(client, user):
    for headers in ({}, {"Authorization": "Bearer th_not-a-token"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/v1/integrations", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"] == "unauthorized"
        validate(client, "/integrations", response)


def test_per_user_status_is_the_callers_own(client, make_user, token_for, db):
    from app.models import Integration, IntegrationCredential
    ann, bob = make_user(), make_user()
    integration = Integration(provider="google_calendar", is_global=False, user_id=ann.id, status="active",
                              account_label="ann@gmail.example")
    integration.credential = IntegrationCredential(kind="oauth2")
    integration.credential.payload = {"access_token": "t"}
    db.session.add(integration)
    db.session.commit()
    def google(user):
        body = client.get("/api/v1/integrations", headers={"Authorization": f"Bearer {token_for(user)}"}).get_json()
        return next(i for i in body["integrations"] if i["slug"] == "google_calendar")
    assert google(ann)["connected"] is True and google(ann)["account"] == "ann@gmail.example"
    assert google(bob)["connected"] is False and google(bob)["account"] is None


def test_openapi_document_is_valid(client):
    from openapi_spec_validator import validate as validate_spec
    spec = client.get("/api/v1/openapi.json").get_json()
    validate_spec(json.loads(json.dumps(spec)))
    assert "/integrations" in spec["paths"]


def test_the_document_describes_every_api_route_and_method(app, client):
    """Each /api/v1 rule (but the document itself) is an operation of the document, and back."""
    import re
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            served |= {(path, method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented
