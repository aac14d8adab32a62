"""A real SMTP server on loopback (aiosmtpd), keeping what it receives: the mail the
app sends goes over the wire as it would to a company's relay."""
from __future__ import annotations

import socket
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpInbox:
    """With `login=(user, password)` the server refuses mail from a client that has not
    logged in with exactly those (AUTH over plain text: loopback only, no TLS here)."""

    def __init__(self, login: tuple[str, str] | None = None):
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[tuple[str, bool]] = []
        self._login = login
        self._lock = threading.Lock()
        options = {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": False} \
            if login else {}
        self.controller = Controller(self, hostname="127.0.0.1", port=_free_port(), **options)

    def _authenticate(self, _server, _session, _envelope, _mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self._login
        self.logins.append((data.login.decode() if isinstance(data, LoginPassword) else "?", ok))
        return AuthResult(success=ok, handled=False)  # let aiosmtpd answer 535 to a wrong login

    async def handle_DATA(self, _server, _session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self._lock:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    @property
    def port(self) -> int:
        return self.controller.port

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 30.0) -> EmailMessage:
        """The `count`-th message to `address`, waiting for a queued job to send it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(found := self.to(address)) >= count:
                return found[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"no mail to {address} arrived; got {[m['To'] for m in self.messages]}")

    def __enter__(self) -> "SmtpInbox":
        self.controller.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.controller.stop()
