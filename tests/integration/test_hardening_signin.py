"""Sessions end when they should, sign-in is throttled, unknown e-mails answer as slowly
as known ones, weak passwords are refused, and self-hosted e-mail domains are accepted."""
from __future__ import annotations

import logging

import pytest

from app.services import user_service
from app.services.user_service import UserError
from tests.conftest import PASSWORD, csrf_token, login, post_form


def _signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def _copy_session(client, app):
    """A second browser holding a copy of `client`'s session cookie, as an attacker would."""
    thief = app.test_client()
    cookie = client.get_cookie("session")
    thief.set_cookie("session", cookie.value)
    return thief


def test_a_cookie_copied_before_logout_no_longer_works(app, user):
    client = login(app.test_client(), user)
    thief = _copy_session(client, app)
    assert _signed_in(thief)
    post_form(client, "/logout", page="/account")
    assert not _signed_in(client)
    assert not _signed_in(thief)


def test_changing_the_password_ends_every_other_session(app, user):
    laptop = login(app.test_client(), user)
    phone = login(app.test_client(), user)
    response = post_form(laptop, "/account/password", {"current": PASSWORD, "password": "a new secret",
                                                       "confirm": "a new secret"}, page="/account")
    assert response.status_code == 302
    assert _signed_in(laptop), "the session that changed the password goes on"
    assert not _signed_in(phone)


def test_an_admin_reset_ends_the_users_sessions(app, admin, user):
    victim = login(app.test_client(), user)
    admin_client = login(app.test_client(), admin)
    response = post_form(admin_client, f"/admin/users/{user.id}/password",
                         {"password": "brand new secret", "confirm": "brand new secret"}, page="/admin/users")
    assert response.status_code == 302
    assert not _signed_in(victim)
    assert _signed_in(admin_client)


def test_an_admin_can_sign_a_user_out_everywhere(app, admin, user):
    sessions = [login(app.test_client(), user) for _ in range(2)]
    admin_client = login(app.test_client(), admin)
    assert post_form(admin_client, f"/admin/users/{user.id}/sessions/end", page="/admin/users").status_code == 302
    assert not any(_signed_in(session) for session in sessions)
    assert _signed_in(login(app.test_client(), user)), "the password still works"


def test_a_forged_or_old_style_session_id_is_refused(app, user):
    client = app.test_client()
    for forged in (str(user.id), f"{user.id}:", f"{user.id}:guess", "²:x", f"{'9' * 40}:x"):
        with client.session_transaction() as session:
            session["_user_id"] = forged
        assert not _signed_in(client), forged


def _fail_login(client, email: str):
    return client.post("/login", data={"email": email, "password": "not the password",
                                       "csrf_token": csrf_token(client)})


def test_failed_sign_ins_are_throttled_per_account_with_retry_after(app, user, caplog):
    client = app.test_client()
    caplog.set_level(logging.WARNING, logger="app.throttle")
    answers = [_fail_login(client, user.email).status_code for _ in range(6)]
    assert answers == [422] * 5 + [429]
    refused = _fail_login(client, user.email)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    # Even the right password waits: the account is what is being guessed.
    right = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert right.status_code == 429
    assert "sign-in throttled" in caplog.text


def test_one_accounts_limit_leaves_other_accounts_alone(app, user, admin):
    client = app.test_client()
    for _ in range(6):
        _fail_login(client, user.email)
    assert login(client, admin)


def test_failed_sign_ins_are_throttled_per_address(app, user):
    client = app.test_client()
    statuses = [_fail_login(client, f"nobody{number}@example.com").status_code for number in range(21)]
    assert statuses[:20] == [422] * 20 and statuses[20] == 429
    assert "Retry-After" in _fail_login(client, "someone-else@example.com").headers


def test_behind_a_trusted_proxy_each_client_address_has_its_own_limit(app, user):
    """TIMEHUB_PROXY_HOPS=1: the address the proxy saw is the client's; without it, every
    client behind the proxy would share the proxy's one address, and one limit."""
    from app import create_app
    proxied = create_app({key: app.config[key] for key in (
        "TESTING", "SQLALCHEMY_DATABASE_URI", "REDIS_URL", "TIMEHUB_QUEUE_NAME", "PASSWORD_HASH_METHOD")}
        | {"TIMEHUB_PROXY_HOPS": 1, "RATELIMIT_KEY_PREFIX": f"proxied-{app.config['TIMEHUB_QUEUE_NAME']}"})
    client = proxied.test_client()

    def attempt(number: int, address: str) -> int:
        with proxied.app_context():
            token = csrf_token(client)
            return client.post("/login", data={"email": f"nobody{number}@example.com", "password": "wrong",
                                               "csrf_token": token},
                               headers={"X-Forwarded-For": address}).status_code
    assert [attempt(number, "203.0.113.7") for number in range(21)][-1] == 429
    assert attempt(99, "198.51.100.4") == 422  # another client behind the same proxy


def test_the_proxy_hop_count_is_bounded():
    from app.config import proxy_hops
    assert proxy_hops("2") == 2
    for bad in ("-1", "6", "two"):
        with pytest.raises(SystemExit):
            proxy_hops(bad)


def test_successful_sign_ins_do_not_count(app, user):
    for _ in range(8):
        client = login(app.test_client(), user)
        post_form(client, "/logout", page="/account")


def _checks_made(monkeypatch) -> list[str]:
    """The hashes werkzeug is asked to check a password against (a spy on the library, which
    still does the work)."""
    from app import password_hashing
    checked: list[str] = []
    real_check = password_hashing.check_password_hash

    def spy(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return real_check(password_hash, password)

    monkeypatch.setattr(password_hashing, "check_password_hash", spy)
    return checked


def _method_and_cost(password_hash: str) -> str:
    return password_hash.split("$", 1)[0]  # werkzeug's "method:cost...$salt$hash"


@pytest.mark.parametrize("method", ["scrypt", "pbkdf2:sha256:1000"])
def test_unknown_emails_cost_the_same_hash_check_as_wrong_passwords(app, user, monkeypatch, method):
    """The time of the answer must not tell which accounts exist: an unknown e-mail is checked
    once against a hash of the same method and cost as a real account's (the deployment's scrypt
    and the suite's cheap method alike). Compared as hashes rather than timed, as timings belong
    in benchmarks."""
    app.config["PASSWORD_HASH_METHOD"] = method
    user.set_password("a password of this method")
    checked = _checks_made(monkeypatch)

    assert user_service.authenticate(user.email, "not the password") is None
    assert user_service.authenticate("nobody@example.com", "not the password") is None

    known, unknown = checked
    assert known == user.password_hash
    assert unknown != known and _method_and_cost(unknown) == _method_and_cost(known)


@pytest.mark.parametrize("password", ["password", "12345678", "Password1", "qwertyuiop", "iloveyou"])
def test_common_and_breached_passwords_are_refused(app, password):
    with pytest.raises(UserError) as refused:
        user_service.create_user(email="new@example.com", password=password)
    assert "common or breached" in refused.value.message and refused.value.field == "password"


def test_a_password_containing_the_email_is_refused(app, user):
    with pytest.raises(UserError, match="e-mail"):
        user_service.create_user(email="margaret@example.com", password="margaret@example.com!")
    with pytest.raises(UserError, match="e-mail"):
        user_service.reset_password(user, "xx-user-2024-xx")  # user@example.com's local part


def test_the_account_page_shows_a_refused_password_under_the_field(app, user_client):
    response = post_form(user_client, "/account/password", {"current": PASSWORD, "password": "password",
                                                            "confirm": "password"}, page="/account")
    assert response.status_code == 422 and "common or breached" in response.get_data(as_text=True)


@pytest.mark.parametrize("email", ["team@company.internal", "me@host.local", "ops@intranet.home.arpa"])
def test_self_hosted_domains_are_accepted(app, email):
    assert user_service.create_user(email=email, password="a long secret").email == email


@pytest.mark.parametrize("email", ["bad@@example.com", "no-at-sign", "a b@example.com", "x@example..com",
                                   "someone@nowhere.invalid", "trailing@dot.com.", ""])
def test_malformed_emails_are_refused(app, email):
    with pytest.raises(UserError, match="Invalid e-mail"):
        user_service.create_user(email=email, password="a long secret")
