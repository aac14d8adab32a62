"""The Atlassian webhook JWT check (app/integrations/jwt_hs256.py): signature, algorithm
and expiry, with the tokens built as the fake Jira builds them."""
from __future__ import annotations

import time

import pytest

from app.integrations import jira, jwt_hs256
from app.integrations.exchange import WebhookRejected
from app.integrations.jira import JiraConnector
from tests.fakes.jira_webhooks import _b64, hs256_jwt, webhook_jwt

SECRET = "jira-secret"
NOW = 1_800_000_000


def token(**claims) -> str:
    return hs256_jwt({"iss": "jira-client", "iat": NOW - 60, **claims}, SECRET)


def test_a_live_token_gives_its_claims():
    assert jwt_hs256.verify(token(exp=NOW + 120), SECRET, now=NOW)["iss"] == "jira-client"


def test_an_expired_token_is_refused():
    with pytest.raises(jwt_hs256.InvalidToken, match="expired"):
        jwt_hs256.verify(token(exp=NOW - 1), SECRET, now=NOW)


def test_the_leeway_covers_clock_skew_and_nothing_beyond():
    assert jwt_hs256.verify(token(exp=NOW - 30), SECRET, leeway_seconds=60, now=NOW)
    with pytest.raises(jwt_hs256.InvalidToken, match="expired"):
        jwt_hs256.verify(token(exp=NOW - 61), SECRET, leeway_seconds=60, now=NOW)


def test_expiry_is_read_against_the_clock_when_no_time_is_given():
    assert jwt_hs256.verify(webhook_jwt("jira-client", SECRET), SECRET)
    with pytest.raises(jwt_hs256.InvalidToken, match="expired"):
        jwt_hs256.verify(hs256_jwt({"exp": int(time.time()) - 3600}, SECRET), SECRET)


@pytest.mark.parametrize("exp", ["1800000000", [NOW + 60], {"at": NOW + 60}])
def test_an_expiry_that_is_not_a_number_is_refused(exp):
    with pytest.raises(jwt_hs256.InvalidToken, match="exp is not a time"):
        jwt_hs256.verify(token(exp=exp), SECRET, now=NOW)


def test_a_token_without_expiry_is_not_refused_for_it():
    assert jwt_hs256.verify(token(), SECRET, now=NOW)["iat"] == NOW - 60


def test_another_secret_or_algorithm_is_refused():
    with pytest.raises(jwt_hs256.InvalidToken, match="signature"):
        jwt_hs256.verify(token(exp=NOW + 60), "other-secret", now=NOW)
    unsigned = _b64(b'{"alg":"none","typ":"JWT"}') + "." + token(exp=NOW + 60).split(".")[1] + "."
    with pytest.raises(jwt_hs256.InvalidToken, match="HS256"):
        jwt_hs256.verify(unsigned, SECRET, now=NOW)
    with pytest.raises(jwt_hs256.InvalidToken, match="not a JWT"):
        jwt_hs256.verify("not.a-jwt", SECRET, now=NOW)


def test_the_jira_connector_answers_401_to_a_delivery_with_an_expired_jwt():
    expired = hs256_jwt({"iss": "jira-client", "exp": int(time.time()) - jira.WEBHOOK_JWT_LEEWAY_SECONDS - 5},
                        SECRET)
    headers = {"Authorization": f"Bearer {expired}", "X-Atlassian-Webhook-Identifier": "d-1"}
    with pytest.raises(WebhookRejected) as refused:
        JiraConnector.verify_webhook(None, {"client_secret": SECRET}, headers,
                                     b'{"webhookEvent": "jira:issue_updated"}', "http://127.0.0.1/webhooks/jira/t")
    assert refused.value.status == 401 and "expired" in str(refused.value)
