"""Which passwords TimeHub refuses, as NIST SP 800-63B (5.1.1.2) advises: too short,
found on lists of common and breached passwords, or made from the account's own
e-mail address. No composition rules ("one digit, one symbol"): they do not help.

The list is zxcvbn's ranked password list (30,000 entries taken from breach
corpora), which ships inside the package: nothing is fetched at run time.
"""
from __future__ import annotations

import re

from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 8
MAX_LENGTH = 256  # hashing is deliberately slow; a megabyte "password" must not make it slower
_COMMON = frozenset(FREQUENCY_LISTS["passwords"])
_SEPARATORS = re.compile(r"[\s._\-+]+")


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why `password` may not be used (by the account with `email`), or None."""
    if len(password) < MIN_LENGTH:
        return f"The password must have at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"The password may have at most {MAX_LENGTH} characters."
    folded = password.casefold()
    if folded in _COMMON or _SEPARATORS.sub("", folded) in _COMMON:
        return "This password is on lists of common or breached passwords; choose another."
    if email:
        address = email.strip().casefold()
        local = address.split("@", 1)[0]
        if address in folded or (len(local) >= 3 and local in folded):
            return "The password may not contain your e-mail address."
    return None
