"""A fake Atlassian for Jira's OAuth 2.0 (3LO), over loopback.

Two servers, as at Atlassian: the authorization server (auth.atlassian.com,
the strict FakeOAuthProvider) and the API gateway (api.atlassian.com), which
here answers `GET /oauth/token/accessible-resources` for a valid bearer token
with the sites the grant reaches (401 otherwise), shaped like Atlassian's
documented answer: `[{"id", "name", "url", "scopes", "avatarUrl"}]`.

    with FakeAtlassian(redirect_uris=(...,)) as atlassian:
        atlassian.sites = [site("acme")]
        env = atlassian.env()     # JIRA_AUTHORIZE_URL, _TOKEN_URL, _REVOKE_URL, _API_BASE
"""
from __future__ import annotations

import dataclasses
import json
import re
import time
import uuid

from werkzeug.wrappers import Request, Response

from tests.fakes.oauth_provider import FakeOAuthProvider, FakeProviderWithApi
from tests.contract import Description
from tests.fakes.server import FakeServer, RecordedRequest

JIRA_REST = re.compile(r"^/ex/jira/[^/]+(?P<rest>/.*)$")


def _as_on_the_site(recorded: RecordedRequest) -> RecordedRequest | None:
    """The gateway serves a site's REST API under /ex/jira/{cloudId}; the description knows it at the
    site root. The gateway's own calls (accessible-resources) are not in the description."""
    match = JIRA_REST.match(recorded.path)
    if match is None:
        return None
    return dataclasses.replace(recorded, path=match["rest"])


JIRA_DESCRIPTION = Description("jira", "https://fake.atlassian.net", _as_on_the_site)
JIRA_SCOPES = ["read:jira-work", "write:jira-work", "read:jira-user", "manage:jira-webhook"]


def site(name: str, *, scopes: list[str] | None = None) -> dict:
    """One accessible resource: a Jira site unless `scopes` says otherwise."""
    return {"id": str(uuid.uuid4()), "name": name, "url": f"https://{name}.atlassian.net",
            "scopes": list(JIRA_SCOPES if scopes is None else scopes),
            "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/flag.png"}


# The classic scopes each Jira REST call needs, as jira.json's `security` states per operation
# (tests/integration/test_fake_request_validation.py proves the two agree): (method, path pattern).
READ_WORK, WRITE_WORK, READ_USER, WEBHOOKS = "read:jira-work", "write:jira-work", "read:jira-user", "manage:jira-webhook"
SCOPES_NEEDED: list[tuple[str, re.Pattern, frozenset[str]]] = [
    (method, re.compile(pattern), frozenset(scopes)) for method, pattern, scopes in (
        ("GET", r"/rest/api/3/search/jql", {READ_WORK}),
        ("POST", r"/rest/api/3/search/jql", {READ_WORK}),
        ("GET", r"/rest/api/3/project/search", {READ_WORK}),
        ("GET", r"/rest/api/3/project", {READ_WORK}),
        ("GET", r"/rest/api/3/status", {READ_WORK}),
        ("GET", r"/rest/api/3/issue/[^/]+", {READ_WORK}),
        ("GET", r"/rest/api/3/issue/[^/]+/worklog", {READ_WORK}),
        ("POST", r"/rest/api/3/issue/[^/]+/worklog", {WRITE_WORK}),
        ("PUT", r"/rest/api/3/issue/[^/]+/worklog/[^/]+", {WRITE_WORK}),
        ("DELETE", r"/rest/api/3/issue/[^/]+/worklog/[^/]+", {WRITE_WORK}),
        ("GET", r"/rest/api/3/myself", {READ_USER}),
        ("GET", r"/rest/api/3/users?/search", {READ_USER}),
        ("GET", r"/rest/api/3/webhook", {READ_WORK, WEBHOOKS}),
        ("POST", r"/rest/api/3/webhook", {READ_WORK, WEBHOOKS}),
        ("DELETE", r"/rest/api/3/webhook", {READ_WORK, WEBHOOKS}),
        ("PUT", r"/rest/api/3/webhook/refresh", {READ_WORK, WEBHOOKS}),
    )]
# What Atlassian's gateway answers a token whose grant lacks a scope the call needs.
SCOPE_MISMATCH = (401, {"code": 401, "message": "Unauthorized; scope does not match"})


def scopes_needed(method: str, rest_path: str) -> frozenset[str]:
    """The scopes a call needs; an unlisted call needs none here (Jira answers it 404 anyway)."""
    path = rest_path.rstrip("/") or "/"
    for needed_method, pattern, scopes in SCOPES_NEEDED:
        if method == needed_method and pattern.fullmatch(path):
            return scopes
    return frozenset()


def granted_scopes(authorization_server: FakeOAuthProvider, header: str | None) -> set[str]:
    token = header[7:] if header and header.startswith("Bearer ") else ""
    grant = authorization_server.grant_for(token) if token else None
    return set(grant.scope.split()) if grant is not None else set()


def bearer_is_valid(authorization_server: FakeOAuthProvider, header: str | None) -> bool:
    """Whether `Authorization: Bearer <token>` names a live access token of the fake's grants."""
    token = header[7:] if header and header.startswith("Bearer ") else ""
    grant = authorization_server.grant_for(token) if token else None
    return grant is not None and not grant.revoked and grant.access_tokens.get(token, 0) > time.time()


class FakeAtlassian(FakeProviderWithApi):
    slug = "jira"

    def __init__(self, *, redirect_uris: tuple[str, ...], client_id: str = "jira-client",
                 client_secret: str = "jira-secret"):
        # Atlassian's token endpoint takes the client credentials in the request body.
        self.oauth = FakeOAuthProvider(client_id=client_id, client_secret=client_secret, redirect_uris=redirect_uris,
                                       client_auth_methods=("client_secret_post",))
        self.sites: list[dict] = [site("acme")]
        self.sites_unavailable = False     # accessible-resources answers 503, as in an Atlassian outage
        self.api = FakeServer(self._app, description=JIRA_DESCRIPTION)



    def _app(self, environ, start_response):
        request = Request(environ)
        if request.path != "/oauth/token/accessible-resources" or request.method != "GET":
            response = Response('{"message": "Not Found"}', 404, content_type="application/json")
        elif not bearer_is_valid(self.oauth, request.headers.get("Authorization")):
            response = Response('{"code": 401, "message": "Unauthorized"}', 401, content_type="application/json")
        elif self.sites_unavailable:
            response = Response('{"code": 503, "message": "Service Unavailable"}', 503, content_type="application/json")
        else:
            response = Response(json.dumps(self.sites), 200, content_type="application/json")
        return response(environ, start_response)
