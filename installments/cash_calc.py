"""Cash-loan arithmetic (issue 16 item 3, issue 25 item 1): equal installments (等额本息) with interest
**by the actual day** (PRODUCT §13, Civil Code Art. 677), the APR as the IRR of the real cash-flow dates,
interest accrued to a day for early repayment, and the re-amortisation after a partial prepayment. Plain
functions over ``Decimal``, no database.

Convention (docs/products.md):

* a period runs from the drawdown (or the previous due date) to its due date; its interest is the
  principal outstanding × the daily rate × the **actual days** of the period, rounded half up to the cent
  (a loan drawn 01-31 whose first due date is 02-10 pays 10 days for its first period, not 30);
* the installment is the level payment that repays the principal over those irregular periods: with
  ``g_k = 1 + r·d_k`` it is ``P·Πg / Σ_j Π_{k>j} g_k`` rounded half up; every period but the last pays it, the
  last pays the principal left plus its interest (it absorbs the cents);
* the APR is the **daily IRR x of the dated cash flows** (XIRR): ``P = Σ A_k / (1+x)^t_k`` with ``t_k`` the
  days from the drawdown to the k-th due date; nominal APR = 365·x (the figure the ceiling checks),
  effective = (1+x)^365 − 1. ``x`` is found by bisection in 50-digit ``Decimal`` arithmetic to 1e-24 (far
  inside a cent on any storable amount); the percentages are rounded once, at the end.

Because a period's interest is simple (no compounding inside a period), x never exceeds the daily rate
(up to cent rounding), so 365 × the daily rate bounds every loan's nominal APR: the product check.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

from core.money import CENT, ZERO, money
from installments.calc import CalcInputError

#: The plan's ``fee_rate`` of a cash loan is the monthly equivalent daily × 30, for display only.
DAYS_PER_PERIOD = 30
YEAR_DAYS = 365
_CONTEXT = Context(prec=50, rounding=ROUND_HALF_UP)
_IRR_TOLERANCE = Decimal("1e-24")
_PCT = Decimal("0.01")


@dataclass(frozen=True)
class CashApr:
    """The APR of dated cash flows: daily IRR and the two annualised rates (percent, 2 places)."""

    daily_irr: Decimal
    nominal_pct: Decimal  # 365·x — disclosed first, checked against the ceiling
    effective_pct: Decimal  # (1+x)^365 − 1

    @property
    def nominal(self) -> Decimal:
        """365·x unrounded, as a fraction (0.24 = 24 %)."""
        with localcontext(_CONTEXT):
            return self.daily_irr * YEAR_DAYS


@dataclass(frozen=True)
class CashLine:
    period: int
    due_date: dt.date
    days: int
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
    drawn_on: dt.date
    lines: list[CashLine]
    apr: CashApr

    @property
    def monthly_rate(self) -> Decimal:
        return monthly_rate(self.daily_rate)

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
    """The monthly equivalent shown beside the daily rate (daily × 30); no amount is computed with it."""
    return daily_rate * DAYS_PER_PERIOD


def period_days(start: dt.date, due_dates: Sequence[dt.date]) -> list[int]:
    """The actual days of each period: from ``start`` (the drawdown) to the first due date, then between
    due dates. Every period has at least one day."""
    days, previous = [], start
    for due in due_dates:
        d = (due - previous).days
        if d < 1:
            raise CalcInputError(f"due dates must follow the drawdown and each other ({previous} → {due})",
                                 details={"field": "due_dates"})
        days.append(d)
        previous = due
    return days


def level_installment(principal: Decimal, daily_rate: Decimal, days: Sequence[int], *,
                      first_extra: Decimal = ZERO) -> Decimal:
    """The level payment that repays ``principal`` over periods of ``days`` at simple interest within each
    period, rounded half up (``first_extra``: interest already accrued, added to the first period)."""
    with localcontext(_CONTEXT):
        growth = [1 + daily_rate * d for d in days]
        balance = principal * growth[0] + first_extra
        for g in growth[1:]:
            balance *= g
        annuity_sum, factor = Decimal(0), Decimal(1)
        for g in reversed(growth):
            annuity_sum += factor
            factor *= g
        return money(balance / annuity_sum)


def amortise(balance: Decimal, daily_rate: Decimal, due_dates: Sequence[dt.date], start: dt.date, *,
             installment: Decimal | None = None, first_extra: Decimal = ZERO,
             first_period: int = 1) -> list[CashLine]:
    """Lines repaying ``balance`` from ``start`` on ``due_dates`` by the day. With ``installment`` given (a
    shortened term) the lines stop once the balance is repaid; otherwise the level installment is solved
    for all the dates. The last line pays what is left plus its interest."""
    days = period_days(start, due_dates)
    payment = installment if installment is not None else level_installment(balance, daily_rate, days,
                                                                            first_extra=first_extra)
    lines: list[CashLine] = []
    for k, (due, d) in enumerate(zip(due_dates, days, strict=True)):
        with localcontext(_CONTEXT):
            interest = money(balance * daily_rate * d) + (first_extra if k == 0 else ZERO)
        last = k == len(due_dates) - 1 or payment - interest >= balance
        part = balance if last else payment - interest
        if part < 0:
            raise CalcInputError("the installment does not cover a period's interest", details={"field": "daily_rate"})
        balance -= part
        lines.append(CashLine(period=first_period + k, due_date=due, days=d, principal=part, interest=interest,
                              balance_after=balance))
        if last:
            break
    return lines


def cash_schedule(principal: Decimal, tenor: int, daily_rate: Decimal, *, drawn_on: dt.date,
                  due_dates: Sequence[dt.date]) -> CashSchedule:
    """Equal installments with interest by the actual day; the last installment absorbs the rounding.

    The lines' principal sums exactly to ``principal``; the APR is the XIRR of the rounded installments on
    their due dates."""
    _check(principal, tenor, daily_rate)
    if len(due_dates) != tenor:
        raise CalcInputError("one due date per period is needed", details={"field": "due_dates"})
    lines = amortise(principal, daily_rate, due_dates, drawn_on)
    return CashSchedule(principal=principal, tenor=tenor, daily_rate=daily_rate, drawn_on=drawn_on, lines=lines,
                        apr=xirr(principal, drawn_on, [(line.due_date, line.total) for line in lines]))


def _annualise(x: Decimal) -> CashApr:
    with localcontext(_CONTEXT):
        nominal = (x * YEAR_DAYS * 100).quantize(_PCT, rounding=ROUND_HALF_UP)
        effective = (((1 + x) ** YEAR_DAYS - 1) * 100).quantize(_PCT, rounding=ROUND_HALF_UP)
    return CashApr(daily_irr=x, nominal_pct=nominal, effective_pct=effective)


def xirr(principal: Decimal, drawn_on: dt.date, flows: Sequence[tuple[dt.date, Decimal]]) -> CashApr:
    """The APR of a loan of ``principal`` paid out on ``drawn_on`` and repaid by ``flows`` (date, amount):
    the daily rate x with ``P = Σ A / (1+x)^days``, found by bisection (the present value falls strictly as x
    rises, so the root is unique) to within 1e-24."""
    if not flows or any(a < 0 for _, a in flows) or principal <= 0:
        raise CalcInputError("a positive principal and non-negative repayments are needed", details={"field": "payments"})
    terms = [((when - drawn_on).days, Decimal(amount)) for when, amount in flows]
    if any(t < 1 for t, _ in terms):
        raise CalcInputError("repayments fall after the drawdown", details={"field": "payments"})
    with localcontext(_CONTEXT):
        def pv(x: Decimal) -> Decimal:
            return sum((a / (1 + x) ** t for t, a in terms), Decimal(0)) - principal

        if pv(Decimal(0)) == 0:
            return _annualise(Decimal(0))
        lo, hi = (Decimal(0), Decimal("0.01")) if pv(Decimal(0)) > 0 else (Decimal("-0.01"), Decimal(0))
        while pv(hi) > 0:  # pragma: no cover - more than 1 % a day
            lo, hi = hi, hi * 2
        while pv(lo) < 0:  # pragma: no cover - repaid far below the principal
            hi, lo = lo, lo * 2
        while hi - lo > _IRR_TOLERANCE:
            mid = (lo + hi) / 2
            if pv(mid) > 0:
                lo = mid
            else:
                hi = mid
        return _annualise((lo + hi) / 2)


def product_cash_apr(daily_rate: Decimal) -> CashApr:
    """The highest APR a daily rate can charge: a period's interest is simple, so no loan's daily IRR
    exceeds the daily rate itself (cent rounding aside, which each drawdown checks again). The product's
    ceiling check uses 365 × the daily rate."""
    if isinstance(daily_rate, float) or not isinstance(daily_rate, Decimal) or daily_rate < 0:
        raise CalcInputError("daily_rate must be a non-negative Decimal", details={"field": "daily_rate"})
    return _annualise(daily_rate)


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
