"""app.mailer against a real SMTP server on loopback (aiosmtpd)."""
from __future__ import annotations

import pytest

from app import mailer
from tests.fakes.smtp import SmtpInbox

# The login test's server takes AUTH without TLS on purpose (loopback, no certificate here).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def settings(inbox: SmtpInbox, **more) -> dict:
    return {"TIMEHUB_SMTP_HOST": "127.0.0.1", "TIMEHUB_SMTP_PORT": inbox.port, "TIMEHUB_SMTP_SECURITY": "none",
            "TIMEHUB_SMTP_FROM": "TimeHub <timehub@example.com>", **more}


def test_a_message_goes_over_smtp_with_its_headers_and_body():
    with SmtpInbox() as inbox:
        mailer.send(settings(inbox), to="ann@example.com", subject="Hello", body="Line one\nLine two\n")
    (message,) = inbox.messages
    assert (message["From"], message["To"], message["Subject"]) == (
        "TimeHub <timehub@example.com>", "ann@example.com", "Hello")
    assert message.get_content().splitlines() == ["Line one", "Line two"]  # CRLF on the wire
    assert inbox.envelopes == [("timehub@example.com", ["ann@example.com"])]


def test_the_configured_login_is_used_and_a_wrong_one_is_a_clear_error():
    with SmtpInbox(login=("timehub", "s3cret-relay")) as inbox:
        mailer.send(settings(inbox, TIMEHUB_SMTP_USER="timehub", TIMEHUB_SMTP_PASSWORD="s3cret-relay"),
                    to="ann@example.com", subject="Hi", body="x")
        with pytest.raises(mailer.MailError, match="refused"):
            mailer.send(settings(inbox, TIMEHUB_SMTP_USER="timehub", TIMEHUB_SMTP_PASSWORD="wrong"),
                        to="ann@example.com", subject="Hi", body="x")
        with pytest.raises(mailer.MailError):  # no login at all: the server wants one
            mailer.send(settings(inbox), to="ann@example.com", subject="Hi", body="x")
    # smtplib tries each mechanism the server offers (PLAIN, LOGIN) with the wrong password.
    assert inbox.logins[0] == ("timehub", True)
    assert inbox.logins[1:] and all(entry == ("timehub", False) for entry in inbox.logins[1:])
    assert [m["To"] for m in inbox.messages] == ["ann@example.com"]


def test_an_unknown_security_mode_is_refused_rather_than_sent_in_plain_text():
    with SmtpInbox() as inbox:
        with pytest.raises(mailer.MailError, match="TIMEHUB_SMTP_SECURITY must be one of"):
            mailer.send(settings(inbox, TIMEHUB_SMTP_SECURITY="tls"), to="ann@example.com", subject="x", body="x")
    assert inbox.messages == []


def test_without_a_host_nothing_is_configured_or_sent():
    assert not mailer.is_configured({"TIMEHUB_SMTP_HOST": None})
    with pytest.raises(mailer.MailError, match="No mail server"):
        mailer.send({}, to="ann@example.com", subject="x", body="x")
