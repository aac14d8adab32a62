"""Hourly rates and project budgets (admins' eyes only: callers show money to admins alone).

Precedence for an entry's rate: the project's rate, else the user's own rate, else the
team's default. A project rate of 0 counts as "no rate of its own" (the column has always
defaulted to 0, so 0 cannot tell "free" from "not set"); a user rate is NULL when not set.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from app.extensions import db
from app.models import Project, RateSettings, TimeEntry, User
from app.models.invoice import CENTS
from app.services.hours import SECONDS_PER_HOUR, hours_for

ZERO = Decimal("0")
RATE_MAX = Decimal("99999999.99")  # Numeric(10, 2)
BUDGET_MAX = Decimal("9999999999.99")  # Numeric(12, 2)


def default_rate() -> Decimal:
    settings = db.session.get(RateSettings, 1)
    return settings.default_hourly_rate if settings is not None else ZERO


def set_default_rate(rate: Decimal) -> None:
    settings = db.session.get(RateSettings, 1) or RateSettings(id=1)
    settings.default_hourly_rate = rate
    db.session.add(settings)
    db.session.commit()


def set_user_rate(user: User, rate: Decimal | None) -> None:
    user.hourly_rate = rate
    db.session.commit()


def rate_for(project_rate: Decimal | None, user_rate: Decimal | None, default: Decimal) -> Decimal:
    """Project rate > user rate > default."""
    if project_rate:
        return project_rate
    if user_rate is not None:
        return user_rate
    return default


def amount(seconds: int, rate: Decimal) -> Decimal:
    """Money for `seconds` of work at `rate`, unrounded: sums round once, to cents, at the end
    (rounding each entry would drift from the hours x rate of the sum)."""
    return Decimal(int(seconds)) * rate / SECONDS_PER_HOUR


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENTS, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class BudgetUse:
    kind: str  # "hours" or "money"
    budget: Decimal
    used: Decimal

    @property
    def share(self) -> float:
        """Used part of the budget (1.0 = all of it; may exceed 1)."""
        return float(self.used / self.budget) if self.budget else 0.0

    @property
    def percent(self) -> int:
        return int((Decimal(str(self.share)) * 100).to_integral_value(rounding=ROUND_HALF_UP))

    @property
    def over(self) -> bool:
        return self.used > self.budget


def budget_use(project: Project) -> BudgetUse | None:
    """How much of the project's budget its finished time has used; None without a budget.

    Hours count all finished time; money counts billable time at each entry's rate."""
    if project.budget_kind is None or project.budget_amount is None:
        return None
    rows = db.session.execute(
        select(TimeEntry.started_at, TimeEntry.ended_at, TimeEntry.billable, User.hourly_rate)
        .join(User, User.id == TimeEntry.user_id)
        .where(TimeEntry.project_id == project.id, TimeEntry.ended_at.is_not(None))
    ).all()
    if project.budget_kind == "hours":
        seconds = sum(int((ended - started).total_seconds()) for started, ended, _b, _r in rows)
        return BudgetUse("hours", project.budget_amount, hours_for(seconds))
    default = default_rate()
    used = sum((amount(int((ended - started).total_seconds()), rate_for(project.hourly_rate, user_rate, default))
                for started, ended, billable, user_rate in rows if billable), ZERO)
    return BudgetUse("money", project.budget_amount, cents(used))
