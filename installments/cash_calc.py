"""Cash-loan arithmetic (issue 16 item 3): equal installments (等额本息, amortising) at a daily rate,
its APR by IRR, and the interest accrued to a day for early repayment. Plain functions over ``Decimal``,
no database.

Convention (documented in docs/cash-loans.md): the product's rate is **daily**; a period is a
month and its rate is ``daily × 30`` (0.03 %/day → 0.90 %/month). Each period's interest is the
principal still outstanding × the monthly rate, rounded half up to the cent; the installment is the
annuity ``P·i / (1 − (1+i)^−n)`` rounded half up to the cent; every period but the last pays exactly
that installment, and the last pays whatever principal is left plus its interest (it absorbs the cents).
Interest for early repayment is counted by the day: outstanding principal × daily rate × days since
the period began (the drawdown, or the previous due date), never more than that period's interest.

Worked example: 10,000.00 at 0.03 %/day over 12 months → installment 882.88 (last 882.93), total
interest 594.61, APR 10.80 % nominal / 11.35 % effective.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

from core.money import CENT, ZERO, money
from installments.calc import Apr, CalcInputError, apr, apr_from_monthly_irr

DAYS_PER_PERIOD = 30
_CONTEXT = Context(prec=50, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CashLine:
    period: int
    principal: Decimal
    interest: Decimal
    balance_after: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest


@dataclass(frozen=True)
class CashSchedule:
    principal: Decimal
    tenor: int
    daily_rate: Decimal
    monthly_rate: Decimal
    lines: list[CashLine]
    apr: Apr

    @property
    def installment(self) -> Decimal:
        return self.lines[0].total

    @property
    def last_installment(self) -> Decimal:
        return self.lines[-1].total

    @property
    def total_interest(self) -> Decimal:
        return sum((line.interest for line in self.lines), ZERO)

    @property
    def total_payable(self) -> Decimal:
        return self.principal + self.total_interest


def _check(principal: Decimal, tenor: int, daily_rate: Decimal) -> None:
    if isinstance(principal, float) or isinstance(daily_rate, float):
        raise CalcInputError("amounts and rates must be Decimal, never float", details={"field": "principal"})
    if not isinstance(principal, Decimal) or principal != principal.quantize(CENT) or principal <= 0:
        raise CalcInputError(f"principal must be a positive whole number of cents, got {principal}",
                             details={"field": "principal"})
    if isinstance(tenor, bool) or not isinstance(tenor, int) or tenor < 1:
        raise CalcInputError(f"tenor must be a positive int, got {tenor!r}", details={"field": "tenor"})
    if not isinstance(daily_rate, Decimal) or daily_rate < 0 or daily_rate >= Decimal("0.01"):
        raise CalcInputError(f"daily_rate is a fraction per day below 1 % (0.0003 = 0.03 %), got {daily_rate}",
                             details={"field": "daily_rate"})


def monthly_rate(daily_rate: Decimal) -> Decimal:
    return daily_rate * DAYS_PER_PERIOD


def annuity(principal: Decimal, tenor: int, rate: Decimal) -> Decimal:
    """The level installment ``P·i / (1 − (1+i)^−n)``, rounded half up to the cent (P/n at rate 0)."""
    with localcontext(_CONTEXT):
        if rate == 0:
            return money(principal / tenor)
        return money(principal * rate / (1 - (1 + rate) ** -tenor))


def cash_schedule(principal: Decimal, tenor: int, daily_rate: Decimal) -> CashSchedule:
    """Equal installments at ``daily_rate × 30`` a month; the last installment absorbs the rounding.

    The lines' principal sums exactly to ``principal``; the APR is the IRR of the rounded installments."""
    _check(principal, tenor, daily_rate)
    rate = monthly_rate(daily_rate)
    payment = annuity(principal, tenor, rate)
    lines: list[CashLine] = []
    balance = principal
    for period in range(1, tenor + 1):
        interest = money(balance * rate)
        part = balance if period == tenor else min(payment - interest, balance)
        if part < 0:  # pragma: no cover - the annuity always covers a period's interest
            raise CalcInputError("installment below interest", details={"field": "daily_rate"})
        balance -= part
        lines.append(CashLine(period=period, principal=part, interest=interest, balance_after=balance))
    return CashSchedule(principal=principal, tenor=tenor, daily_rate=daily_rate, monthly_rate=rate, lines=lines,
                        apr=apr(principal, [line.total for line in lines]))


def product_cash_apr(daily_rate: Decimal) -> Apr:
    """The APR a daily rate charges before any cent is rounded: the IRR of an annuity at ``daily × 30`` a
    month *is* that monthly rate, for every amount and tenor. The product's ceiling check uses it."""
    if isinstance(daily_rate, float) or not isinstance(daily_rate, Decimal) or daily_rate < 0:
        raise CalcInputError("daily_rate must be a non-negative Decimal", details={"field": "daily_rate"})
    return apr_from_monthly_irr(monthly_rate(daily_rate))


def accrued_interest(outstanding: Decimal, daily_rate: Decimal, since: dt.date, on: dt.date, *,
                     cap: Decimal | None = None) -> Decimal:
    """Interest accrued by the day on ``outstanding`` from ``since`` (exclusive) to ``on`` (inclusive):
    ``outstanding × daily_rate × days`` rounded half up, 0 on the day itself, at most ``cap``."""
    days = max((on - since).days, 0)
    with localcontext(_CONTEXT):
        amount = money(outstanding * daily_rate * days)
    if cap is not None:
        amount = min(amount, cap)
    return max(amount, ZERO)
