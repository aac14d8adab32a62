"""Currencies are ISO 4217 codes, checked against pycountry's copy of the standard
(maintained with Debian's iso-codes), so "dollars" (-> "DOL") is refused."""
from __future__ import annotations

import pycountry
from wtforms.validators import StopValidation


def is_currency(code: str | None) -> bool:
    return bool(code) and len(code) == 3 and pycountry.currencies.get(alpha_3=code.upper()) is not None


def iso_4217(_form, field) -> None:
    """WTForms validator: a currency code that exists."""
    if field.data and not is_currency(field.data):
        raise StopValidation(f"{field.data} is not an ISO 4217 currency code (like EUR or USD).")
