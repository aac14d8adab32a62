"""E-mail addresses of accounts: well-formed, on any domain a self-hosted team uses.

email-validator refuses special-use domains (RFC 6761) by default; a team's own
mail server is often on one (`me@host.local`), and `company.internal` needs
`globally_deliverable=False`. Only `.invalid`, which by definition can never
receive mail, stays refused. No DNS look-ups: sign-up must work offline.
"""
from __future__ import annotations

import email_validator
from email_validator import EmailNotValidError, validate_email

# The library's documented switch: its module-level list of refused special-use names.
email_validator.SPECIAL_USE_DOMAIN_NAMES[:] = [
    name for name in email_validator.SPECIAL_USE_DOMAIN_NAMES if name == "invalid"]


class InvalidEmail(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def normalise(address: str) -> str:
    try:
        return validate_email(address.strip(), check_deliverability=False,
                              globally_deliverable=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidEmail(f"Invalid e-mail address: {exc}") from None
