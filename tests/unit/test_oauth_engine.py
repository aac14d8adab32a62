"""The OAuth engine (app.integrations.oauth) against the strict fake server over
real loopback HTTP, without the web layer."""
from __future__ import annotations

import dataclasses
import time
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from app import tuning
from app.integrations import oauth, registry
from tests.fakes.oauth_provider import FakeOAuthProvider, s256

SLUG = "google_calendar"
REDIRECT_URI = "https://timehub.test/integrations/google_calendar/callback"


@pytest.fixture
def fake(monkeypatch):
    with FakeOAuthProvider(redirect_uris=(REDIRECT_URI,)) as server:
        for name, value in server.env(SLUG).items():
            monkeypatch.setenv(name, value)
        yield server


def provider_for(fake: FakeOAuthProvider, **kwargs) -> oauth.OAuthProvider:
    spec = registry.get_spec(SLUG)
    return oauth.OAuthProvider.build(spec, fake.client_id, fake.client_secret, {}, registry.get_connector(SLUG),
                                     **kwargs)


def query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def authorize(fake, provider, session, user_id=1) -> dict[str, str]:
    """Start an authorization and follow it through the fake; returns the callback's query."""
    url = oauth.start_authorization(provider, session, user_id=user_id, redirect_uri=REDIRECT_URI)
    response = httpx2.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return query(location)


def connect(fake, provider, session=None) -> oauth.TokenSet:
    session = {} if session is None else session
    params = authorize(fake, provider, session)
    pending = oauth.take_pending(session, slug=SLUG, user_id=1, state=params["state"])
    return oauth.exchange_code(provider, pending, params["code"])


def test_authorize_url_carries_state_pkce_scopes_and_redirect(fake):
    session: dict = {}
    provider = provider_for(fake)
    url = oauth.start_authorization(provider, session, user_id=7, redirect_uri=REDIRECT_URI)
    params = query(url)
    assert url.startswith(fake.base_url + "/authorize?")
    assert params["client_id"] == fake.client_id
    assert params["response_type"] == "code"
    assert params["redirect_uri"] == REDIRECT_URI
    assert params["scope"] == " ".join(provider.spec.scopes)
    pending = session[oauth.SESSION_KEY][params["state"]]
    assert pending["user_id"] == 7 and pending["slug"] == SLUG
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == s256(pending["code_verifier"])
    assert len(params["state"]) >= 32


def test_provider_authorize_parameters_come_from_profile_and_hook(fake, monkeypatch):
    class Connector:
        @staticmethod
        def oauth_authorize_params(app_settings):
            return {"login_hint": app_settings["hint"], "scope": "only-this"}

    profile = oauth.OAuthProfile(pkce=False, scope_separator=",",
                                 authorize_params={"access_type": "offline", "prompt": "consent"})
    provider = oauth.OAuthProvider.build(registry.get_spec(SLUG), fake.client_id, fake.client_secret,
                                         {"hint": "me@example.com"}, Connector, profile=profile)
    session: dict = {}
    params = query(oauth.start_authorization(provider, session, user_id=1, redirect_uri=REDIRECT_URI))
    assert params["access_type"] == "offline" and params["prompt"] == "consent"
    assert params["login_hint"] == "me@example.com" and params["scope"] == "only-this"
    assert "code_challenge" not in params
    assert session[oauth.SESSION_KEY][params["state"]]["code_verifier"] is None
    comma = oauth.OAuthProvider.build(registry.get_spec(SLUG), fake.client_id, fake.client_secret,
                                      profile=oauth.OAuthProfile(scope_separator=","))
    assert query(oauth.start_authorization(comma, {}, user_id=1, redirect_uri=REDIRECT_URI))["scope"] == \
        ",".join(registry.get_spec(SLUG).scopes)


def test_states_are_unique_and_the_session_keeps_only_a_few(fake):
    session: dict = {}
    provider = provider_for(fake)
    states = [query(oauth.start_authorization(provider, session, user_id=1, redirect_uri=REDIRECT_URI))["state"]
              for _ in range(tuning.MAX_PENDING_AUTHORIZATIONS + 2)]
    assert len(set(states)) == len(states)
    assert list(session[oauth.SESSION_KEY]) == states[-tuning.MAX_PENDING_AUTHORIZATIONS:]


def test_code_exchange_returns_tokens_with_expiry(fake):
    fake.access_token_lifetime = 1800
    before = time.time()
    token = connect(fake, provider_for(fake))
    assert token.access_token and token.refresh_token
    assert before + 1800 - 1 <= token.expires_at <= time.time() + 1800 + 1
    assert fake.requests[-1] == {"endpoint": "token", "grant_type": "authorization_code",
                                 "client_auth": "client_secret_post"}
    assert "access_token" not in repr(token) and token.access_token not in repr(token)


def test_client_secret_basic_when_the_profile_asks_for_it(fake):
    fake.client_auth_methods = ("client_secret_basic",)
    basic = provider_for(fake, profile=oauth.OAuthProfile(token_auth_method="client_secret_basic"))
    assert connect(fake, basic).access_token
    assert fake.requests[-1]["client_auth"] == "client_secret_basic"
    with pytest.raises(oauth.TokenRequestRejected) as caught:
        connect(fake, provider_for(fake))  # client_secret_post is refused by this provider
    assert caught.value.message == "Google Calendar refused the token request: invalid_client"
    assert caught.value.error == "invalid_client"


def test_state_is_single_use(fake):
    session: dict = {}
    params = authorize(fake, provider_for(fake), session)
    oauth.take_pending(session, slug=SLUG, user_id=1, state=params["state"])
    with pytest.raises(oauth.StateError):
        oauth.take_pending(session, slug=SLUG, user_id=1, state=params["state"])


# What the callback page tells the person, for each way a state can be bad.
STATE_ERRORS = {
    "missing": "The sign-in response carried no state.",
    "unknown": "This sign-in link is unknown or was already used.",
    "other_user": "This sign-in response does not belong to this connection.",
    "other_provider": "This sign-in response does not belong to this connection.",
    "expired": "This sign-in took longer than 10 minutes and expired.",
}


@pytest.mark.parametrize("case", list(STATE_ERRORS))
def test_bad_states_are_refused_and_consumed(fake, case):
    session: dict = {}
    params = authorize(fake, provider_for(fake), session)
    state, slug, user_id, now = params["state"], SLUG, 1, time.time()
    if case == "missing":
        state = None
    elif case == "unknown":
        state = "forged-" + state
    elif case == "other_user":
        user_id = 2
    elif case == "other_provider":
        slug = "jira"
    elif case == "expired":
        now += tuning.STATE_TTL_SECONDS + 1
    with pytest.raises(oauth.StateError) as caught:
        oauth.take_pending(session, slug=slug, user_id=user_id, state=state, now=now)
    assert caught.value.message == STATE_ERRORS[case]
    if case != "missing" and case != "unknown":
        assert params["state"] not in session[oauth.SESSION_KEY]


def test_a_wrong_pkce_verifier_is_refused_by_the_provider(fake):
    session: dict = {}
    provider = provider_for(fake)
    params = authorize(fake, provider, session)
    pending = oauth.take_pending(session, slug=SLUG, user_id=1, state=params["state"])
    forged = oauth.PendingAuthorization(SLUG, 1, pending.redirect_uri, code_verifier="x" * 64)
    with pytest.raises(oauth.InvalidGrant):
        oauth.exchange_code(provider, forged, params["code"])


def test_codes_are_single_use(fake):
    session: dict = {}
    provider = provider_for(fake)
    params = authorize(fake, provider, session)
    pending = oauth.take_pending(session, slug=SLUG, user_id=1, state=params["state"])
    first = oauth.exchange_code(provider, pending, params["code"])
    with pytest.raises(oauth.InvalidGrant):
        oauth.exchange_code(provider, pending, params["code"])
    # The replay also revoked what the code had issued.
    assert fake.grant_for(first.refresh_token).revoked


def test_refresh_rotates_and_an_old_refresh_token_kills_the_grant(fake):
    provider = provider_for(fake)
    first = connect(fake, provider)
    second = oauth.refresh(provider, first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    with pytest.raises(oauth.InvalidGrant):
        oauth.refresh(provider, first.refresh_token)
    with pytest.raises(oauth.InvalidGrant):
        oauth.refresh(provider, second.refresh_token)  # the whole grant is gone
    assert fake.counts["refresh_token"] == 3


def test_refresh_without_a_new_refresh_token_keeps_the_old_one(fake):
    fake.rotate_refresh_tokens = False
    provider = provider_for(fake)
    first = connect(fake, provider)
    second = oauth.refresh(provider, first.refresh_token)
    assert second.refresh_token == first.refresh_token
    assert second.access_token != first.access_token


def test_transient_failures_are_told_apart_from_dead_grants(fake, monkeypatch):
    provider = provider_for(fake)
    token = connect(fake, provider)
    fake.fail_next_token_requests(1, status=503)
    with pytest.raises(oauth.TokenEndpointUnavailable):
        oauth.refresh(provider, token.refresh_token)
    fake.fail_next_token_requests(1, status=400, error="temporarily_unavailable")
    with pytest.raises(oauth.TokenEndpointUnavailable):
        oauth.refresh(provider, token.refresh_token)
    monkeypatch.setattr(tuning, "TOKEN_ENDPOINT_TIMEOUT", httpx2.Timeout(0.2))
    fake.hang_next_token_requests(1)
    with pytest.raises(oauth.TokenEndpointUnavailable, match="in time"):
        oauth.refresh(provider, token.refresh_token)
    # Nothing above spent the refresh token.
    assert oauth.refresh(provider, token.refresh_token).access_token
    fake.revoke_all()
    with pytest.raises(oauth.InvalidGrant) as caught:
        oauth.refresh(provider, token.refresh_token)
    assert token.refresh_token not in caught.value.message


def test_a_refresh_answered_without_a_new_refresh_token_keeps_the_one_it_used(fake):
    fake.rotate_refresh_tokens = False  # Google, GitHub: the refresh token stays the same
    provider = provider_for(fake)
    token = connect(fake, provider)
    refreshed = oauth.refresh(provider, token.refresh_token)
    assert refreshed.access_token != token.access_token
    assert refreshed.refresh_token == token.refresh_token
    assert oauth.refresh(provider, refreshed.refresh_token).access_token


def test_refreshing_without_a_refresh_token_asks_to_reconnect_without_calling_the_provider(fake):
    provider = provider_for(fake)
    with pytest.raises(oauth.InvalidGrant) as caught:
        oauth.refresh(provider, "")
    assert caught.value.error == "invalid_grant"
    assert caught.value.message == f"{provider.spec.name} gave no refresh token; reconnect to continue."
    assert str(caught.value) == caught.value.message
    assert [r for r in fake.requests if r["endpoint"] == "token"] == []


def test_revoke_ends_the_grant_at_the_provider(fake):
    provider = provider_for(fake)
    token = connect(fake, provider)
    assert oauth.revoke(provider, token) is True
    assert fake.grant_for(token.refresh_token).revoked
    with pytest.raises(oauth.InvalidGrant):
        oauth.refresh(provider, token.refresh_token)


def test_revoke_sends_the_refresh_token_named_as_such_so_the_whole_grant_ends(fake):
    provider = provider_for(fake)
    token = connect(fake, provider)
    assert oauth.revoke(provider, token) is True
    assert fake.revoked_token_kinds == ["refresh_token"]
    assert fake.revoke_hints == ["refresh_token"]


def test_a_provider_that_revokes_access_tokens_is_sent_the_access_token(fake):
    provider = provider_for(fake)
    token = connect(fake, provider)
    by_access = dataclasses.replace(provider, profile=dataclasses.replace(provider.profile,
                                                                           revoke_token_hint="access_token"))
    assert oauth.revoke(by_access, token) is True
    assert fake.revoked_token_kinds == ["access_token"]
    assert fake.revoke_hints == ["access_token"]


def test_revoke_is_skipped_where_the_provider_has_none_and_reported_when_it_fails(fake, monkeypatch):
    token = connect(fake, provider_for(fake))
    monkeypatch.delenv("GOOGLE_CALENDAR_REVOKE_URL")
    spec = registry.get_spec("microsoft_teams")  # Microsoft offers no revocation endpoint
    teams = oauth.OAuthProvider.build(spec, fake.client_id, fake.client_secret, {})
    assert oauth.revoke(teams, token) is False
    monkeypatch.setenv("GOOGLE_CALENDAR_REVOKE_URL", fake.base_url + "/nowhere")
    with pytest.raises(oauth.RevocationFailed, match="404"):
        oauth.revoke(provider_for(fake), token)


def test_token_set_round_trips_through_the_stored_payload():
    token = oauth.TokenSet.from_response({"access_token": "a", "refresh_token": "r", "expires_in": 60,
                                          "scope": "x y", "token_type": "bearer"}, now=1000)
    assert token.expires_at == 1060
    # What is stored is what the provider said: the granted scopes (read by the scope checks) and the type.
    assert (token.scope, token.token_type, token.obtained_at) == ("x y", "bearer", 1000)
    assert oauth.TokenSet.from_payload(token.payload()) == token
    assert oauth.TokenSet.from_payload({"access_token": "a"}).token_type == "Bearer"
    assert token.expires_within(60, now=1000) and not token.expires_within(59, now=1000)
    no_expiry = oauth.TokenSet.from_response({"access_token": "a"})
    assert no_expiry.expires_at is None and not no_expiry.expires_within(10 ** 9)


# -- what the errors tell the person connecting (shown on the pages as they are) ----------------

def test_flow_errors_name_the_provider_and_what_went_wrong(fake, monkeypatch):
    provider = provider_for(fake)
    with pytest.raises(oauth.OAuthFlowError) as caught:
        oauth.exchange_code(provider, oauth.PendingAuthorization(SLUG, 1, REDIRECT_URI), "")
    assert caught.value.message == "Google Calendar sent no authorization code."
    assert str(caught.value) == caught.value.message
    no_authorize = dataclasses.replace(provider, endpoints=dataclasses.replace(provider.endpoints,
                                                                               authorize_url=None))
    with pytest.raises(oauth.OAuthFlowError) as caught:
        oauth.start_authorization(no_authorize, {}, user_id=1, redirect_uri=REDIRECT_URI)
    assert caught.value.message == "Google Calendar has no authorization endpoint configured."


def test_token_endpoint_errors_carry_the_providers_error_code(fake):
    provider = provider_for(fake)
    token = connect(fake, provider)
    fake.fail_next_token_requests(1, status=400, error="slow_down")
    with pytest.raises(oauth.TokenEndpointUnavailable) as caught:
        oauth.refresh(provider, token.refresh_token)
    assert caught.value.error == "slow_down"
    assert caught.value.message == "Google Calendar refused the token request: slow_down"
    fake.revoke_all()
    with pytest.raises(oauth.InvalidGrant) as caught:
        oauth.refresh(provider, token.refresh_token)
    assert caught.value.error == "invalid_grant"


def test_a_failed_revocation_says_why(fake, monkeypatch):
    token = connect(fake, provider_for(fake))
    monkeypatch.setenv("GOOGLE_CALENDAR_REVOKE_URL", fake.base_url + "/nowhere")
    with pytest.raises(oauth.RevocationFailed) as caught:
        oauth.revoke(provider_for(fake), token)
    assert caught.value.message == "Google Calendar answered 404 to the revocation request"
    assert str(caught.value) == caught.value.message
    # A provider that does not answer: the token endpoint of the fake, told to hang, stands in for it.
    monkeypatch.setenv("GOOGLE_CALENDAR_REVOKE_URL", fake.base_url + "/token")
    monkeypatch.setattr(tuning, "TOKEN_ENDPOINT_TIMEOUT", httpx2.Timeout(0.2))
    fake.hang_next_token_requests(1)
    with pytest.raises(oauth.RevocationFailed) as caught:
        oauth.revoke(provider_for(fake), token)
    assert caught.value.message == "Google Calendar did not answer the revocation request in time"


def test_revocation_goes_through_the_connectors_own_hook(fake):
    revoked = []

    class Connector(oauth.OAuthHooks):
        @classmethod
        def oauth_revoke(cls, provider, token):
            revoked.append((provider.spec.slug, token.access_token))
            return False

    token = connect(fake, provider_for(fake))
    provider = oauth.OAuthProvider.build(registry.get_spec(SLUG), fake.client_id, fake.client_secret, {}, Connector)
    assert oauth.revoke(provider, token) is False
    assert revoked == [(SLUG, token.access_token)]
    assert fake.counts["revoke"] == 0
