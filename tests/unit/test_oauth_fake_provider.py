"""The fake authorization server is only useful if it is as strict as a real one."""
from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest

from tests.fakes.oauth_provider import FakeOAuthProvider, s256

REDIRECT_URI = "http://localhost/cb"
VERIFIER = "v" * 64


@pytest.fixture
def fake():
    with FakeOAuthProvider(redirect_uris=(REDIRECT_URI,)) as server:
        yield server


def authorize(fake, **overrides) -> httpx2.Response:
    params = {"client_id": fake.client_id, "redirect_uri": REDIRECT_URI, "response_type": "code",
              "state": "s1", "code_challenge": s256(VERIFIER), "code_challenge_method": "S256"}
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    return httpx2.get(f"{fake.base_url}/authorize?{urlencode(params)}", follow_redirects=False)


def redirected(response: httpx2.Response) -> dict[str, str]:
    assert response.status_code == 302
    return {k: v[-1] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def token(fake, **form) -> httpx2.Response:
    form.setdefault("client_id", fake.client_id)
    form.setdefault("client_secret", fake.client_secret)
    return httpx2.post(f"{fake.base_url}/token", data=form)


def code_for(fake) -> str:
    return redirected(authorize(fake))["code"]


@pytest.mark.parametrize("override", [{"client_id": "someone-else"}, {"redirect_uri": "http://evil.example/cb"}])
def test_an_unknown_client_or_redirect_uri_is_never_redirected_to(fake, override):
    response = authorize(fake, **override)
    assert response.status_code == 400 and "Location" not in response.headers


def test_authorize_passes_state_through_and_requires_pkce(fake):
    assert redirected(authorize(fake))["state"] == "s1"
    assert redirected(authorize(fake, code_challenge=None))["error"] == "invalid_request"
    assert redirected(authorize(fake, code_challenge_method="plain"))["error"] == "invalid_request"
    assert redirected(authorize(fake, response_type="token"))["error"] == "unsupported_response_type"
    fake.deny = True
    assert redirected(authorize(fake)) == {"error": "access_denied", "error_description": "The user declined.",
                                           "state": "s1"}


def test_pkce_is_optional_when_not_required(fake):
    fake.require_pkce = False
    code = redirected(authorize(fake, code_challenge=None, code_challenge_method=None))["code"]
    response = token(fake, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI)
    assert response.status_code == 200 and response.json()["refresh_token"]


def test_a_code_needs_its_verifier_and_redirect_uri(fake):
    response = token(fake, grant_type="authorization_code", code=code_for(fake), redirect_uri=REDIRECT_URI)
    assert response.json()["error"] == "invalid_grant"  # no code_verifier
    response = token(fake, grant_type="authorization_code", code=code_for(fake),
                     redirect_uri="http://localhost/other", code_verifier=VERIFIER)
    assert response.json()["error"] == "invalid_grant"


def test_codes_expire(fake):
    fake.code_lifetime = -1
    response = token(fake, grant_type="authorization_code", code=code_for(fake), redirect_uri=REDIRECT_URI,
                     code_verifier=VERIFIER)
    assert response.status_code == 400 and response.json()["error_description"] == "code expired"


def test_client_authentication(fake):
    form = {"grant_type": "authorization_code", "code": code_for(fake), "redirect_uri": REDIRECT_URI,
            "code_verifier": VERIFIER}
    assert token(fake, **form, client_secret="wrong").status_code == 401
    basic = base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()
    response = httpx2.post(f"{fake.base_url}/token", data=form, headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200
    fake.client_auth_methods = ("client_secret_basic",)
    form["code"] = code_for(fake)
    assert token(fake, **form).json()["error"] == "invalid_client"


def test_refresh_rotation_and_reuse_detection(fake):
    first = token(fake, grant_type="authorization_code", code=code_for(fake), redirect_uri=REDIRECT_URI,
                  code_verifier=VERIFIER).json()
    second = token(fake, grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    reused = token(fake, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.json()["error"] == "invalid_grant"
    assert token(fake, grant_type="refresh_token", refresh_token=second["refresh_token"]).status_code == 400
    me = httpx2.get(f"{fake.base_url}/api/me", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert me.status_code == 401  # the whole grant was revoked
    assert fake.counts["refresh_token"] == 3


def test_access_tokens_expire_and_injected_failures_come_first(fake):
    fake.access_token_lifetime = -1
    issued = token(fake, grant_type="authorization_code", code=code_for(fake), redirect_uri=REDIRECT_URI,
                   code_verifier=VERIFIER).json()
    me = httpx2.get(f"{fake.base_url}/api/me", headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert me.status_code == 401
    fake.fail_next_token_requests(1, status=500)
    assert token(fake, grant_type="refresh_token", refresh_token=issued["refresh_token"]).status_code == 500
    assert token(fake, grant_type="refresh_token", refresh_token=issued["refresh_token"]).status_code == 200
