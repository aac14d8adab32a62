"""Currencies are ISO 4217 codes, checked against pycountry's copy of the standard
(maintained with Debian's iso-codes), so "dollars" (-> "DOL") is refused."""
from __future__ import annotations

from decimal import Decimal

import pycountry
from wtforms.validators import StopValidation


def is_currency(code: str | None) -> bool:
    return bool(code) and len(code) == 3 and pycountry.currencies.get(alpha_3=code.upper()) is not None


def iso_4217(_form, field) -> None:
    """WTForms validator: a currency code that exists."""
    if field.data and not is_currency(field.data):
        raise StopValidation(f"{field.data} is not an ISO 4217 currency code (like EUR or USD).")


def format_money(value, currency: str | None = None) -> str:
    """1234.5 -> "1,234.50 EUR": always two decimals, never through float (pages and PDFs)."""
    if value is None:
        return ""
    text = f"{Decimal(value).quantize(Decimal('0.01')):,}"
    return f"{text} {currency}" if currency else text
