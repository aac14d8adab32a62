"""Outgoing e-mail over SMTP (the standard library's smtplib), configured by the
TIMEHUB_SMTP_* settings. Without TIMEHUB_SMTP_HOST nothing is sent, and the pages
that would send offer what works without mail (an invitation link to copy)."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

TIMEOUT_SECONDS = 20
SECURITY_MODES = ("starttls", "ssl", "none")


class MailError(Exception):
    pass


def is_configured(config) -> bool:
    return bool(config.get("TIMEHUB_SMTP_HOST"))


def send(config, *, to: str, subject: str, body: str) -> None:
    """Send one plain-text message; MailError says why it could not be."""
    if not is_configured(config):
        raise MailError("No mail server is configured (TIMEHUB_SMTP_HOST).")
    sender = config.get("TIMEHUB_SMTP_FROM") or f"TimeHub <timehub@{config['TIMEHUB_SMTP_HOST']}>"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = make_msgid(domain="timehub")
    message.set_content(body)
    host, port = config["TIMEHUB_SMTP_HOST"], int(config.get("TIMEHUB_SMTP_PORT") or 587)
    security = config.get("TIMEHUB_SMTP_SECURITY") or "starttls"
    if security not in SECURITY_MODES:  # never fall back to plain text on a typo
        raise MailError(f"TIMEHUB_SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}, not {security!r}.")
    try:
        if security == "ssl":
            connection = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context())
        else:
            connection = smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS)
        with connection:
            if security == "starttls":
                connection.starttls(context=ssl.create_default_context())
            if config.get("TIMEHUB_SMTP_USER"):
                connection.login(config["TIMEHUB_SMTP_USER"], config.get("TIMEHUB_SMTP_PASSWORD") or "")
            connection.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"The mail server {host}:{port} refused or could not be reached: {exc}") from None
