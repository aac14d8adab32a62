"""Invitations (by link, and by e-mail with SMTP) and password resets by e-mail, through
the real pages, database, job queue and a real SMTP server on loopback (aiosmtpd)."""
from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app import jobs
from app.models import AccountToken, User
from app.models.base import utcnow
from app.services import user_service
from tests.conftest import CSRF_RE, PASSWORD, csrf_token, login, post_form
from tests.fakes.smtp import SmtpInbox

NEW_PASSWORD = "violet-harbour-lantern"
LINK_RE = re.compile(r"(/invite/[0-9]+\.[A-Za-z0-9_-]+)")
RESET_RE = re.compile(r"https://timehub\.example(/password/reset/[0-9]+\.[A-Za-z0-9_-]+)")


@pytest.fixture
def smtp(app):
    with SmtpInbox() as inbox:
        app.config.update(TIMEHUB_SMTP_HOST="127.0.0.1", TIMEHUB_SMTP_PORT=inbox.port, TIMEHUB_SMTP_SECURITY="none",
                          TIMEHUB_SMTP_FROM="TimeHub <timehub@example.com>",
                          TIMEHUB_EXTERNAL_URL="https://timehub.example")
        yield inbox


@contextmanager
def consumer():
    """The real job queue, consumed in this process while the block runs."""
    running = jobs.start_in_process_consumer(workers=1)
    try:
        yield
    finally:
        running.stop(graceful=True)


def invite(admin_client, email="new@example.com", role="user"):
    return post_form(admin_client, "/admin/invitations", {"email": email, "role": role}, page="/admin/invitations")


def accept(client, path, **fields):
    data = {"name": "Nina New", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "timezone": "Europe/Berlin",
            **fields}
    return client.post(path, data={**data, "csrf_token": csrf_token(client, path)})


def invitation_link(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return LINK_RE.search(response.get_data(as_text=True)).group(1)


def test_an_invitation_link_creates_the_account_once(app, admin_client, db):
    path = invitation_link(invite(admin_client, role="admin"))
    invited = app.test_client()
    page = invited.get(path)
    assert page.status_code == 200 and "new@example.com" in page.get_data(as_text=True)

    response = accept(invited, path)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    user = db.session.scalars(select(User).where(User.email == "new@example.com")).one()
    assert (user.name, user.role, user.timezone) == ("Nina New", "admin", "Europe/Berlin")
    assert invited.get("/account").status_code == 200  # signed in as the new account

    again = app.test_client()
    assert again.get(path).status_code == 404
    reused = again.post(path, data={"name": "Mallory", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                                    "csrf_token": csrf_token(again, "/login")})
    assert reused.status_code == 404 and "This link is not valid" in reused.get_data(as_text=True)
    assert db.session.scalars(select(User).where(User.name == "Mallory")).first() is None
    assert "new@example.com" not in admin_client.get("/admin/invitations").get_data(as_text=True)


def test_only_a_digest_of_the_link_is_stored_and_the_link_is_shown_once(admin_client, db):
    response = invite(admin_client)
    path = invitation_link(response)
    secret = path.rsplit(".", 1)[1]
    row = db.session.scalars(select(AccountToken)).one()
    assert secret not in row.token_digest and len(row.token_digest) == 64
    assert row.matches(secret) and not row.matches(secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    listing = admin_client.get("/admin/invitations").get_data(as_text=True)
    assert "new@example.com" in listing and secret not in listing


def test_invitations_are_for_admins_with_csrf_and_valid_new_addresses(app, admin_client, user_client, user, db):
    assert user_client.get("/admin/invitations").status_code == 403
    assert post_form(user_client, "/admin/invitations", {"email": "x@example.com", "role": "admin"}).status_code == 403
    assert admin_client.post("/admin/invitations", data={"email": "x@example.com", "role": "user"}).status_code == 400
    taken = invite(admin_client, email=user.email)
    assert taken.status_code == 422 and "already exists" in taken.get_data(as_text=True)
    bad = invite(admin_client, email="not-an-address", role="owner")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Invalid e-mail address" in html and "Not a valid choice" in html
    assert db.session.scalar(select(AccountToken.id)) is None


def test_an_expired_withdrawn_or_replaced_invitation_no_longer_works(app, admin_client, db):
    first = invitation_link(invite(admin_client))
    second = invitation_link(invite(admin_client))  # a new invitation to the same address replaces the first
    visitor = app.test_client()
    assert visitor.get(first).status_code == 404
    assert visitor.get(second).status_code == 200

    db.session.execute(update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert visitor.get(second).status_code == 404

    third = invitation_link(invite(admin_client, email="other@example.com"))
    row = db.session.scalars(select(AccountToken).where(AccountToken.email == "other@example.com")).one()
    assert post_form(admin_client, f"/admin/invitations/{row.id}/withdraw", page="/admin/invitations").status_code == 302
    assert visitor.get(third).status_code == 404
    for forged in ("/invite/abc", f"/invite/{row.id}.", f"/invite/{row.id}.{'x' * 43}", "/invite/" + "9" * 200,
                   f"/invite/{2**31}.{'x' * 43}", f"/invite/{'9' * 19}.x", f"/invite/-{row.id}.x"):
        assert visitor.get(forged).status_code == 404, forged


def test_a_refused_password_keeps_the_invitation_usable(app, admin_client, db):
    path = invitation_link(invite(admin_client))
    invited = app.test_client()
    weak = accept(invited, path, password="password", confirm="password")
    assert weak.status_code == 422 and "common or breached" in weak.get_data(as_text=True)
    differ = accept(invited, path, confirm="something-else-entirely")
    assert differ.status_code == 422 and "Passwords differ." in differ.get_data(as_text=True)
    assert accept(invited, path).status_code == 302


def test_with_smtp_the_invitation_is_mailed(app, admin_client, smtp, db):
    page = admin_client.get("/admin/invitations").get_data(as_text=True)
    assert "Send invitation" in page
    response = invite(admin_client, email="mailed@example.com")
    assert "Invitation mailed to mailed@example.com" in response.get_data(as_text=True)
    mail = smtp.wait_for("mailed@example.com")
    assert mail["Subject"] == "You are invited to TimeHub" and mail["From"] == "TimeHub <timehub@example.com>"
    body = mail.get_content()
    assert "Ada Admin invites you" in body
    path = re.search(r"https://timehub\.example(/invite/\S+)", body).group(1)
    assert accept(app.test_client(), path).status_code == 302
    assert db.session.scalars(select(User).where(User.email == "mailed@example.com")).one().role == "user"


def test_a_mail_server_that_cannot_be_reached_still_gives_the_link(app, admin_client, db):
    app.config.update(TIMEHUB_SMTP_HOST="127.0.0.1", TIMEHUB_SMTP_PORT=1, TIMEHUB_SMTP_SECURITY="none")
    response = invite(admin_client)
    html = response.get_data(as_text=True)
    assert "the mail could not be sent" in html
    assert LINK_RE.search(html)


# ---- password reset --------------------------------------------------------------------------

def ask_reset(client, email: str):
    return client.post("/password/forgot", data={"email": email, "csrf_token": csrf_token(client, "/password/forgot")})


def without_csrf(html: str) -> str:
    return CSRF_RE.sub("", html)


def test_reset_by_mail_is_offered_only_with_smtp_and_a_public_address(app, client, user):
    assert "Forgot your password?" not in client.get("/login").get_data(as_text=True)
    assert client.get("/password/forgot").status_code == 404
    app.config.update(TIMEHUB_SMTP_HOST="127.0.0.1")
    assert client.get("/password/forgot").status_code == 404  # no TIMEHUB_EXTERNAL_URL: no link from Host headers
    app.config.update(TIMEHUB_EXTERNAL_URL="https://timehub.example")
    assert "Forgot your password?" in client.get("/login").get_data(as_text=True)
    assert client.get("/password/forgot").status_code == 200


def test_a_reset_mail_sets_a_new_password_once_and_ends_every_session(app, user, smtp, db):
    signed_in = login(app.test_client(), user)
    with consumer():
        response = ask_reset(app.test_client(), "  USER@example.com ")
        assert response.status_code == 302
        mail = smtp.wait_for(user.email)
    assert mail["Subject"] == "Reset your TimeHub password"
    path = RESET_RE.search(mail.get_content()).group(1)

    visitor = app.test_client()
    weak = visitor.post(path, data={"password": "password", "confirm": "password",
                                    "csrf_token": csrf_token(visitor, path)})
    assert weak.status_code == 422  # refused, and the link still works
    done = visitor.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                                    "csrf_token": csrf_token(visitor, path)})
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert signed_in.get("/account").status_code == 302  # the old session ended
    db.session.expire_all()
    assert user_service.authenticate(user.email, NEW_PASSWORD) is not None
    assert user_service.authenticate(user.email, PASSWORD) is None
    assert visitor.get(path).status_code == 404  # used once


def test_unknown_and_known_addresses_get_the_same_answer_and_only_accounts_get_mail(app, user, make_user, smtp, db):
    gone = make_user("gone@example.com")
    user_service.deactivate_user(gone, acting=user)
    with consumer():
        answers = {}
        for email in (user.email, "nobody@example.com", gone.email, "not an address"):
            browser = app.test_client()
            response = ask_reset(browser, email)
            answers[email] = (response.status_code, response.headers.get("Location"),
                              without_csrf(browser.get("/login").get_data(as_text=True)))
        smtp.wait_for(user.email)
    assert len(set(answers.values())) == 1, answers.keys()
    assert "If an active account uses that address" in answers[user.email][2]
    assert [m["To"] for m in smtp.messages] == [user.email]
    assert db.session.scalars(select(AccountToken.email)).all() == [user.email]


def test_an_expired_or_superseded_reset_link_is_refused(app, user, smtp, db):
    with consumer():
        ask_reset(app.test_client(), user.email)
        first = RESET_RE.search(smtp.wait_for(user.email).get_content()).group(1)
        ask_reset(app.test_client(), user.email)
        second = RESET_RE.search(smtp.wait_for(user.email, count=2).get_content()).group(1)
    visitor = app.test_client()
    assert visitor.get(first).status_code == 404  # the newer request replaced it
    assert visitor.get(second).status_code == 200
    db.session.execute(update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert visitor.get(second).status_code == 404

def test_a_reset_link_is_no_invitation_link(app, user, smtp, db):
    with consumer():
        ask_reset(app.test_client(), user.email)
        path = RESET_RE.search(smtp.wait_for(user.email).get_content()).group(1)
    assert app.test_client().get(path.replace("/password/reset/", "/invite/")).status_code == 404


def test_reset_requests_and_link_guessing_are_throttled(app, user, smtp):
    browser = app.test_client()
    statuses = [ask_reset(browser, user.email).status_code for _ in range(4)]
    assert statuses == [302, 302, 302, 429]
    guesser = app.test_client()
    answers = [guesser.get(f"/password/reset/1.guess{n}").status_code for n in range(21)]
    assert answers == [404] * 20 + [429]


def test_the_request_itself_does_the_same_work_for_every_address_the_job_does_the_rest(app, user, smtp, db):
    """Without a consumer running nothing is looked up or sent: the answer cannot depend on the address."""
    assert ask_reset(app.test_client(), user.email).status_code == 302
    assert db.session.scalar(select(AccountToken.id)) is None and smtp.messages == []
    with consumer():
        smtp.wait_for(user.email)
    assert db.session.scalars(select(AccountToken.email)).all() == [user.email]


def test_a_reset_mail_that_cannot_be_sent_is_logged_not_raised(app, user, caplog, db):
    app.config.update(TIMEHUB_SMTP_HOST="127.0.0.1", TIMEHUB_SMTP_PORT=1, TIMEHUB_SMTP_SECURITY="none")
    with caplog.at_level("WARNING", logger="app.jobs"):
        jobs.send_password_reset.call_local(user.email, "https://timehub.example")
    assert "password reset mail not sent" in caplog.text and "127.0.0.1:1" in caplog.text
