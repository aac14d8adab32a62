"""Seconds of work as the hours invoices and reports print: Decimal, 0.01 h, half up."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

HOURS_STEP = Decimal("0.01")
SECONDS_PER_HOUR = Decimal(3600)


def hours_for(seconds: int | float) -> Decimal:
    """Seconds of work as billable hours, rounded half up to 0.01 h."""
    return (Decimal(int(seconds)) / SECONDS_PER_HOUR).quantize(HOURS_STEP, rounding=ROUND_HALF_UP)
