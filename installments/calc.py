"""Pure calculations of the credit engine (PRODUCT §2, §4, §5, §6).

Plain functions over ``Decimal``: no database, no Django, no clock, no floats. The services and the
batch jobs call these; the tests exercise them exhaustively (worked examples + hypothesis).

Conventions used throughout:

- Money arguments must be exact cents (``Decimal("12.30")``, ``12``, ``"12.3"``); anything finer, a
  ``float`` or a ``bool`` is refused with :class:`CalcInputError` — a caller that rounds silently is a
  bug we want to hear about. Every money result is rounded by the one helper ``core.money.money``
  (ROUND_HALF_UP to the cent).
- Rates are fractions (``Decimal("0.006")`` = 0.6 % per period, ``Decimal("0.0005")`` = 0.05 %/day).
- Percentages in results (APR) are percent with 2 places, ROUND_HALF_UP (``Decimal("10.77")``).
- Invalid input raises :class:`CalcInputError`, which is both a ``ValueError`` (for plain Python
  callers) and the kernel's ``ValidationError`` (so an unchecked one still renders as a 400 with a
  machine-readable code, never a 500).
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum

from core.errors import ValidationError
from core.money import CENT, MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, ZERO, money, split

__all__ = [
    "TENORS",
    "MONEY_MAX",
    "IRR_PRECISION",
    "IRR_QUANTUM",
    "APR_REFERENCE_PRINCIPAL",
    "CalcInputError",
    "AllocationKind",
    "DEFAULT_ALLOCATION_ORDER",
    "AllocationStrategy",
    "ScheduleLine",
    "schedule",
    "monthly_irr",
    "npv",
    "Apr",
    "apr",
    "apr_from_monthly_irr",
    "product_apr",
    "Quote",
    "quote",
    "late_fee_for_day",
    "late_fee",
    "deferral_fee",
    "deferral_fee_accrual",
    "BUCKET_BOUNDS",
    "bucket_for_dpd",
    "days_past_due",
    "freeze_transition",
    "minimum_payment",
    "Due",
    "Allocation",
    "allocate",
    "SettlementPolicy",
    "SettlementQuote",
    "settlement_quote",
    "RefundLine",
    "RefundResult",
    "refund_offset",
    "annualised_daily_rate_pct",
    "PricingViolation",
    "pricing_violations",
]

TENORS = (3, 6, 12, 24)

#: The largest amount a ``MoneyField`` (14 digits, 2 places) can hold: 999,999,999,999.99.
MONEY_MAX = Decimal(10) ** (MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES) - CENT

#: Working precision of the IRR solver (significant digits) and the quantum of its result.
IRR_PRECISION = 50
IRR_QUANTUM = Decimal("1e-30")
_IRR_CONTEXT = Context(prec=IRR_PRECISION, rounding=ROUND_HALF_EVEN)
_IRR_MAX_ITERATIONS = 400

#: Kept for callers that want "the APR of a product on a typical amount"; :func:`product_apr` itself
#: is exact and does not depend on any principal (see its docstring).
APR_REFERENCE_PRINCIPAL = Decimal("12000.00")

_PCT = Decimal("0.01")
_HUNDRED = Decimal(100)
_DAYS_PER_YEAR = 365


class CalcInputError(ValidationError, ValueError):
    """An argument a calculation cannot accept (a float, a negative amount, fractions of a cent…)."""

    code = "invalid_calculation_input"


# --------------------------------------------------------------------------------------------------
# input checking


def _dec(value: Decimal | int | str, name: str) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise CalcInputError(f"{name} must be a Decimal, int or str, not {type(value).__name__}",
                             details={"field": name})
    if isinstance(value, Decimal):
        result = value
    else:
        try:
            result = Decimal(value)
        except Exception as exc:  # decimal.InvalidOperation, TypeError
            raise CalcInputError(f"{name} is not a number: {value!r}", details={"field": name}) from exc
    if not result.is_finite():
        raise CalcInputError(f"{name} must be finite", details={"field": name})
    return result


def _cents(value: Decimal | int | str, name: str, *, positive: bool = False) -> Decimal:
    """An exact, non-negative (or positive) amount of cents, returned with 2 places."""
    d = _dec(value, name)
    if d != d.quantize(CENT):
        raise CalcInputError(f"{name} must be a whole number of cents, got {d}", details={"field": name})
    d = money(d)
    if d < 0 or (positive and d == 0):
        raise CalcInputError(f"{name} must be {'positive' if positive else 'zero or more'}, got {d}",
                             details={"field": name})
    if d > MONEY_MAX:
        raise CalcInputError(f"{name} exceeds the largest storable amount {MONEY_MAX}", details={"field": name})
    return d


def _rate(value: Decimal | int | str, name: str, *, at_most_one: bool = False) -> Decimal:
    d = _dec(value, name)
    if d < 0:
        raise CalcInputError(f"{name} must be zero or more, got {d}", details={"field": name})
    if at_most_one and d > 1:
        raise CalcInputError(f"{name} is a fraction (0.10 = 10 %), got {d}", details={"field": name})
    return d


def _count(value: int, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CalcInputError(f"{name} must be an int, got {type(value).__name__}", details={"field": name})
    if value < minimum:
        raise CalcInputError(f"{name} must be at least {minimum}, got {value}", details={"field": name})
    return value


def _pct(fraction: Decimal) -> Decimal:
    """A fraction as a percentage with 2 places, half up (0.107679… → 10.77)."""
    with localcontext(_IRR_CONTEXT):
        return (fraction * _HUNDRED).quantize(_PCT, rounding=ROUND_HALF_UP)


# --------------------------------------------------------------------------------------------------
# schedules (§2, §5)


@dataclass(frozen=True)
class ScheduleLine:
    period: int
    principal: Decimal
    fee: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.fee


def schedule(principal: Decimal, tenor: int, fee_rate: Decimal) -> list[ScheduleLine]:
    """Equal principal (``core.money.split``: rounded down, the remainder in the last period) and a fee
    of ``money(principal × fee_rate)`` in **every** period on the **original** principal (§5).

    ``schedule(Decimal("6000.00"), 3, Decimal("0.006"))`` → 3 × (2000.00 + 36.00).
    Tenor 1 at rate 0 is a revolving purchase: one line, no fee.
    """
    principal = _cents(principal, "principal", positive=True)
    tenor = _count(tenor, "tenor", minimum=1)
    fee_rate = _rate(fee_rate, "fee_rate", at_most_one=True)
    fee = money(principal * fee_rate)
    if principal + fee * tenor > MONEY_MAX:
        raise CalcInputError(f"the plan's total payable exceeds the largest storable amount {MONEY_MAX}",
                             details={"field": "principal"})
    return [ScheduleLine(period=k, principal=part, fee=fee) for k, part in enumerate(split(principal, tenor), 1)]


# --------------------------------------------------------------------------------------------------
# IRR and APR (§5, PBoC announcement 2021 No. 3)


def _npv_and_slope(i: Decimal, principal: Decimal, payments: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """``f(i) = Σ A_k (1+i)^-k − P`` and ``f'(i)``; call inside the IRR context."""
    v = 1 / (1 + i)
    discount = Decimal(1)
    value = -principal
    slope = Decimal(0)
    for k, amount in enumerate(payments, 1):
        discount *= v
        value += amount * discount
        slope -= k * amount * discount * v
    return value, slope


def npv(rate: Decimal, principal: Decimal, payments: Sequence[Decimal]) -> Decimal:
    """``Σ A_k/(1+rate)^k − P`` (k = 1..n) at the solver's precision: zero at the IRR."""
    rate = _dec(rate, "rate")
    if rate <= -1:
        raise CalcInputError("rate must be above -1", details={"field": "rate"})
    with localcontext(_IRR_CONTEXT):
        return _npv_and_slope(rate, _dec(principal, "principal"),
                              [_dec(a, "payment") for a in payments])[0]


def monthly_irr(principal: Decimal, payments: Sequence[Decimal]) -> Decimal:
    """The periodic rate ``i`` solving ``P = Σ A_k/(1+i)^k`` (k = 1..n).

    Safeguarded Newton inside a bisection bracket, in a 50-digit ``Decimal`` context; the result is
    quantized to 1e-30 (so it solves the equation far inside 1e-12 for any storable amount). With
    non-negative payments the NPV is strictly decreasing in ``i`` on (−1, ∞), so the root is unique;
    it is negative when the payments sum to less than the principal and exactly 0 when they sum to it.
    Amounts need not be whole cents here (the pricing check uses exact, unrounded cash flows).
    """
    principal = _dec(principal, "principal")
    if principal <= 0:
        raise CalcInputError("principal must be positive", details={"field": "principal"})
    flows = [_dec(a, "payment") for a in payments]
    if not flows:
        raise CalcInputError("at least one payment is needed", details={"field": "payments"})
    if any(a < 0 for a in flows):
        raise CalcInputError("payments must be zero or more", details={"field": "payments"})
    total = sum(flows, Decimal(0))
    if total == 0:
        raise CalcInputError("payments must not all be zero", details={"field": "payments"})

    with localcontext(_IRR_CONTEXT):
        if total == principal:
            return Decimal(0).quantize(IRR_QUANTUM)

        def f(x: Decimal) -> Decimal:
            return _npv_and_slope(x, principal, flows)[0]

        # Bracket the root: f(lo) > 0 > f(hi).
        if total > principal:
            lo, hi = Decimal(0), Decimal(1)
            for _ in range(_IRR_MAX_ITERATIONS):
                if f(hi) < 0:
                    break
                lo, hi = hi, hi * 2
            else:  # pragma: no cover - needs a payment ~2^400 times the principal
                raise CalcInputError("no IRR found: payments are out of range", details={"field": "payments"})
        else:
            lo, hi = Decimal("-0.5"), Decimal(0)
            for _ in range(_IRR_MAX_ITERATIONS):
                if f(lo) > 0:
                    break
                lo, hi = -1 + (1 + lo) / 2, lo
            else:  # pragma: no cover
                raise CalcInputError("no IRR found: payments are out of range", details={"field": "payments"})

        tolerance = IRR_QUANTUM / 1000
        i = (lo + hi) / 2
        for _ in range(_IRR_MAX_ITERATIONS):
            value, slope = _npv_and_slope(i, principal, flows)
            if value == 0:
                break
            if value > 0:
                lo = i
            else:
                hi = i
            candidate = i - value / slope if slope else (lo + hi) / 2
            if not lo < candidate < hi:
                candidate = (lo + hi) / 2
            if abs(candidate - i) <= tolerance or hi - lo <= tolerance:
                i = candidate
                break
            i = candidate
        return i.quantize(IRR_QUANTUM)


@dataclass(frozen=True)
class Apr:
    """Monthly IRR and the two annualised rates, in percent with 2 places."""

    monthly_irr: Decimal
    nominal_pct: Decimal  # 12·i — the figure PBoC 2021 No. 3 asks to disclose, and the one the ceiling checks
    effective_pct: Decimal  # (1+i)^12 − 1


def apr_from_monthly_irr(i: Decimal) -> Apr:
    """Annualise an unrounded monthly IRR. The rounding to 2 places happens **once, at the end**:
    rounding ``i`` first (e.g. to 0.90 %) and then multiplying by 12 gives wrong figures (10.80 instead of
    10.77 for the 3-period worked example)."""
    i = _dec(i, "monthly_irr")
    with localcontext(_IRR_CONTEXT):
        return Apr(monthly_irr=i, nominal_pct=_pct(12 * i), effective_pct=_pct((1 + i) ** 12 - 1))


def apr(principal: Decimal, payments: Sequence[Decimal]) -> Apr:
    """APR by IRR (§5): nominal = 12·i, effective = (1+i)^12 − 1, percent, 2 places."""
    return apr_from_monthly_irr(monthly_irr(principal, payments))


def product_apr(tenor: int, fee_rate: Decimal) -> Apr:
    """The APR a product charges, independent of the amount and of cent rounding.

    With equal principal and a fee on the original principal, the cash flows scale with P, so the IRR of
    ``P = n`` repaid as ``n × (1 + n·rate)`` is *the* product's IRR — exact, with no cent rounded. A real
    quote of a small amount can come out higher because its per-period fee is rounded up to the cent
    (see :func:`quote`); the services decide what to do about that.
    """
    tenor = _count(tenor, "tenor", minimum=1)
    fee_rate = _rate(fee_rate, "fee_rate", at_most_one=True)
    with localcontext(_IRR_CONTEXT):
        payment = 1 + tenor * fee_rate
        return apr(Decimal(tenor), [payment] * tenor)


@dataclass(frozen=True)
class Quote:
    principal: Decimal
    tenor: int
    fee_rate: Decimal
    lines: list[ScheduleLine]
    fee_per_period: Decimal
    total_fee: Decimal
    total_payable: Decimal
    apr: Apr

    @property
    def payment_per_period(self) -> Decimal:
        """The first period's payment (every period but the last pays exactly this)."""
        return self.lines[0].total

    @property
    def last_payment(self) -> Decimal:
        return self.lines[-1].total


def quote(principal: Decimal, tenor: int, fee_rate: Decimal) -> Quote:
    """Schedule, fees and APR of a plan, as shown to the customer before they commit (§5)."""
    lines = schedule(principal, tenor, fee_rate)
    principal = money(_dec(principal, "principal"))
    fee = lines[0].fee
    total_fee = fee * len(lines)
    return Quote(
        principal=principal,
        tenor=tenor,
        fee_rate=_dec(fee_rate, "fee_rate"),
        lines=lines,
        fee_per_period=fee,
        total_fee=total_fee,
        total_payable=principal + total_fee,
        apr=apr(principal, [line.total for line in lines]),
    )


# --------------------------------------------------------------------------------------------------
# late fee, deferral fee, minimum payment (§4, §6)


def late_fee_for_day(past_due: Decimal, *, daily_rate: Decimal, daily_minimum: Decimal) -> Decimal:
    """One day's late fee: ``money(past_due × daily_rate)``, at least ``daily_minimum`` while anything
    is past due; 0 when nothing is (``past_due <= 0``; a credit balance counts as nothing past due).

    At 0.05 %/day and a 0.01 minimum: 10.00 → 0.01 (0.005 rounds half up), 100.00 → 0.05,
    1,234.56 → 0.62, 1.00 → 0.01 (the minimum).
    """
    past_due = _dec(past_due, "past_due")
    daily_rate = _rate(daily_rate, "daily_rate", at_most_one=True)
    daily_minimum = _cents(daily_minimum, "daily_minimum")
    if past_due <= 0:
        return ZERO
    past_due = _cents(past_due, "past_due")
    return max(money(past_due * daily_rate), daily_minimum)


def late_fee(past_due: Decimal, days: int, *, daily_rate: Decimal, daily_minimum: Decimal) -> Decimal:
    """``days`` days of late fee on an unchanged past-due amount (each day rounded on its own, as the
    daily accrual posts it)."""
    days = _count(days, "days", minimum=0)
    return days * late_fee_for_day(past_due, daily_rate=daily_rate, daily_minimum=daily_minimum)


def deferral_fee(unpaid_revolving: Decimal, days: int, *, daily_rate: Decimal) -> Decimal:
    """Deferral fee on an unpaid revolving balance after paying at least the minimum (§4):
    ``money(balance × rate × days)``, rounded once; 0 on a zero or negative balance."""
    unpaid_revolving = _dec(unpaid_revolving, "unpaid_revolving")
    days = _count(days, "days", minimum=0)
    daily_rate = _rate(daily_rate, "daily_rate", at_most_one=True)
    if unpaid_revolving <= 0:
        return ZERO
    unpaid_revolving = _cents(unpaid_revolving, "unpaid_revolving")
    return money(unpaid_revolving * daily_rate * days)


def deferral_fee_accrual(
    base: Decimal, days: int, *, daily_rate: Decimal, unrounded_before: Decimal = ZERO, charged_before: Decimal = ZERO,
) -> Decimal:
    """One daily posting of the deferral fee under the **one rule** of §4: the fee accrues unrounded and
    is rounded once, for everything not yet billed. ``unrounded_before`` is the exact fee accrued since
    the last statement (``Σ base × rate × days`` of the postings not yet billed), ``charged_before``
    what those postings charged (whole cents); the posting is whatever makes the running total equal
    ``money(unrounded total)``. So a run of days on an unchanged balance charges exactly
    :func:`deferral_fee` (450.00 × 0.05 % for 18 days → 4.05, not 18 × 0.23 = 4.14), and a day whose
    exact fee does not reach the next cent posts nothing (the close of business then posts no row; the
    next posting covers both days)."""
    days = _count(days, "days", minimum=0)
    daily_rate = _rate(daily_rate, "daily_rate", at_most_one=True)
    unrounded_before = _dec(unrounded_before, "unrounded_before")
    charged_before = _cents(charged_before, "charged_before")
    base = _dec(base, "base")
    today = _cents(base, "base") * daily_rate * days if base > 0 else ZERO
    return max(money(unrounded_before + today) - charged_before, ZERO)


#: Upper DPD bound of each bucket (PRODUCT §6): M0 current; M1 1–30 … M6 151–180; M7 beyond.
BUCKET_BOUNDS = (("M0", 0), ("M1", 30), ("M2", 60), ("M3", 90), ("M4", 120), ("M5", 150), ("M6", 180))


def bucket_for_dpd(dpd: int) -> str:
    """The bucket of a DPD (PRODUCT §6): 0 → M0, 1–30 → M1, …, 151–180 → M6, beyond → M7."""
    dpd = _count(dpd, "dpd", minimum=-10**6)
    for bucket, upper in BUCKET_BOUNDS:
        if dpd <= upper:
            return bucket
    return "M7"


def days_past_due(since: date | None, on: date) -> int:
    """DPD at the close of ``on``: whole days from the oldest overdue due date ``since`` (PRODUCT §6: DPD
    counts from the day after the due date); 0 when nothing is overdue."""
    if since is None:
        return 0
    return max((on - since).days, 0)


def freeze_transition(*, status: str, freeze_reason: str, dpd: int, written_off: bool) -> tuple[str, str]:
    """The automatic freeze rule (PRODUCT §3): an active account with DPD > 0 is frozen for ``overdue``;
    an account frozen for ``overdue`` with DPD 0 (not written off) is unfrozen. A manual freeze and a
    closed account are never touched. Returns the (status, freeze_reason) after the rule."""
    if status == "active" and dpd > 0:
        return "frozen", "overdue"
    if status == "frozen" and freeze_reason == "overdue" and dpd == 0 and not written_off:
        return "active", ""
    return status, freeze_reason


def minimum_payment(
    *,
    revolving: Decimal,
    installments_due: Decimal,
    fees_due: Decimal,
    past_due: Decimal,
    percentage: Decimal,
) -> Decimal:
    """Minimum payment of a statement (§4): ``money(revolving × percentage)`` + installments falling due
    + fees and late fees + anything already past due — never more than all of it together.

    The four amounts are disjoint parts of what the statement asks for (``revolving`` is the
    non-installment balance that is *not* already past due).
    """
    revolving = _cents(revolving, "revolving")
    installments_due = _cents(installments_due, "installments_due")
    fees_due = _cents(fees_due, "fees_due")
    past_due = _cents(past_due, "past_due")
    percentage = _rate(percentage, "percentage", at_most_one=True)
    owed = revolving + installments_due + fees_due + past_due
    return min(money(revolving * percentage) + installments_due + fees_due + past_due, owed)


# --------------------------------------------------------------------------------------------------
# allocation of a repayment (§6)


class AllocationKind(StrEnum):
    LATE_FEE = "late_fee"
    DEFERRAL_FEE = "deferral_fee"
    INSTALLMENT_FEE = "installment_fee"
    PREMIUM = "premium"  # consumer-credit insurance premium (issue 16): after the fees, before principal
    PRINCIPAL = "principal"


DEFAULT_ALLOCATION_ORDER = (
    AllocationKind.LATE_FEE,
    AllocationKind.DEFERRAL_FEE,
    AllocationKind.INSTALLMENT_FEE,
    AllocationKind.PREMIUM,
    AllocationKind.PRINCIPAL,
)


class AllocationStrategy(StrEnum):
    KIND_FIRST = "kind_first"  # all late fees (oldest first), then all deferral fees, … then principal
    DATE_FIRST = "date_first"  # oldest due date first; within one date, by kind order


@dataclass(frozen=True)
class Due:
    key: Hashable
    kind: AllocationKind
    due_date: date
    amount: Decimal


@dataclass(frozen=True)
class Allocation:
    paid: list[tuple[Due, Decimal]]  # in payment order, only non-zero amounts
    leftover: Decimal  # not needed by any due: becomes a credit balance

    @property
    def applied(self) -> Decimal:
        return sum((amount for _, amount in self.paid), ZERO)


def allocate(
    amount: Decimal,
    dues: Sequence[Due],
    *,
    strategy: AllocationStrategy | str = AllocationStrategy.KIND_FIRST,
    order: Sequence[AllocationKind | str] = DEFAULT_ALLOCATION_ORDER,
) -> Allocation:
    """Apply a payment to open dues (§6). Never pays a due more than its amount; the amounts paid plus
    the leftover equal ``amount`` exactly. Ties are broken by due date, then by the order the dues were
    given in (so pass them in a stable order, e.g. by pk)."""
    amount = _cents(amount, "amount")
    try:
        strategy = AllocationStrategy(strategy)
    except ValueError as exc:
        raise CalcInputError(f"unknown allocation strategy {strategy!r}", details={"field": "strategy"}) from exc
    try:
        kinds = [AllocationKind(kind) for kind in order]
    except ValueError as exc:
        raise CalcInputError(f"unknown kind in allocation order {order!r}", details={"field": "order"}) from exc
    if len(set(kinds)) != len(kinds):
        raise CalcInputError("the allocation order names a kind twice", details={"field": "order"})
    rank = {kind: position for position, kind in enumerate(kinds)}

    keyed = []
    for index, due in enumerate(dues):
        kind = AllocationKind(due.kind)
        if kind not in rank:
            raise CalcInputError(f"the allocation order does not place {kind.value}", details={"field": "order"})
        due_amount = _cents(due.amount, "due.amount")
        if strategy is AllocationStrategy.KIND_FIRST:
            sort_key = (rank[kind], due.due_date, index)
        else:
            sort_key = (due.due_date, rank[kind], index)
        keyed.append((sort_key, due, due_amount))
    keyed.sort(key=lambda item: item[0])

    remaining = amount
    paid: list[tuple[Due, Decimal]] = []
    for _, due, due_amount in keyed:
        if remaining == 0:
            break
        portion = min(remaining, due_amount)
        if portion > 0:
            paid.append((due, portion))
            remaining -= portion
    return Allocation(paid=paid, leftover=remaining)


# --------------------------------------------------------------------------------------------------
# early settlement (§5)


class SettlementPolicy(StrEnum):
    WAIVE_FUTURE_FEES = "waive_future_fees"  # Civil Code Art. 677: the default
    CHARGE_NEXT_FEE = "charge_next_fee"


@dataclass(frozen=True)
class SettlementQuote:
    remaining_principal: Decimal
    billed_unpaid: Decimal
    fee: Decimal
    total: Decimal


def settlement_quote(
    *,
    remaining_principal: Decimal,
    billed_unpaid: Decimal,
    next_period_fee: Decimal,
    policy: SettlementPolicy | str,
    same_day: bool,
) -> SettlementQuote:
    """Early-settlement quote of a plan (§5) = unbilled principal + what is billed and unpaid + the fee
    the policy asks for. Settling on the day the plan was created costs no fee at all, whatever the
    policy; otherwise ``WAIVE_FUTURE_FEES`` charges none and ``CHARGE_NEXT_FEE`` charges one period's fee
    (none when no unbilled principal is left: there is no next period to bill)."""
    remaining_principal = _cents(remaining_principal, "remaining_principal")
    billed_unpaid = _cents(billed_unpaid, "billed_unpaid")
    next_period_fee = _cents(next_period_fee, "next_period_fee")
    try:
        policy = SettlementPolicy(policy)
    except ValueError as exc:
        raise CalcInputError(f"unknown settlement policy {policy!r}", details={"field": "policy"}) from exc
    if same_day or policy is SettlementPolicy.WAIVE_FUTURE_FEES or remaining_principal == 0:
        fee = ZERO
    else:
        fee = next_period_fee
    return SettlementQuote(
        remaining_principal=remaining_principal,
        billed_unpaid=billed_unpaid,
        fee=fee,
        total=remaining_principal + billed_unpaid + fee,
    )


# --------------------------------------------------------------------------------------------------
# refund offset (§5)


@dataclass(frozen=True)
class RefundLine:
    key: Hashable
    period: int
    principal_open: Decimal  # principal of this line not yet repaid (0 once paid)
    fee_open: Decimal  # fee of this line not yet paid (paid fees are not here: they are kept)


@dataclass(frozen=True)
class RefundResult:
    principal_reductions: dict[Hashable, Decimal]  # only non-zero, last period first
    fee_reductions: dict[Hashable, Decimal]  # only non-zero
    excess: Decimal  # refund not absorbed by open principal (already repaid → credit balance / refund payable)

    @property
    def absorbed(self) -> Decimal:
        return sum(self.principal_reductions.values(), ZERO)

    @property
    def fees_waived(self) -> Decimal:
        return sum(self.fee_reductions.values(), ZERO)


def refund_offset(
    refund_amount: Decimal,
    lines: Sequence[RefundLine],
    *,
    original_principal: Decimal,
    fees_pro_rata: bool,
) -> RefundResult:
    """Offset a refund of (part of) a purchase against its plan (§5).

    - Principal: reduced from the **last** open line backwards; what open principal cannot absorb
      (because it was already repaid) is ``excess`` — a credit balance or refund payable.
    - Fees, purchase installment (``fees_pro_rata=True``): each line's *unpaid* fee shrinks in the
      proportion the purchase's principal shrinks: ``money(fee_open × refund / original_principal)``,
      whether the refunded principal lands on open lines or on repaid ones (the customer no longer
      owes a fee on goods returned). Refunding the whole ``original_principal`` therefore zeroes every
      open fee exactly. Paid fees are kept (they are not in ``fee_open``).
    - Fees, bill installment (``fees_pro_rata=False``): unchanged.

    ``original_principal`` is the principal the current open fees were computed on: the plan's
    principal less any **earlier** refunds (for a first refund, simply the plan's principal). With that
    base a second partial refund shrinks the fees by the right share, e.g. 6,000.00 at 36.00/period,
    refund 3,000.00 → 18.00 left; then refund 1,000.00 of the remaining 3,000.00 → 12.00 left.

    Invariant: ``absorbed + excess == refund_amount`` and, with ``repaid = original − Σ principal_open``,
    ``refund + (Σ principal_open after + repaid − excess) == original``; no line goes negative.
    """
    refund_amount = _cents(refund_amount, "refund_amount")
    original_principal = _cents(original_principal, "original_principal")
    if refund_amount > original_principal:
        raise CalcInputError(f"refund {refund_amount} is more than the principal {original_principal}",
                             details={"field": "refund_amount"})
    checked = []
    for line in lines:
        checked.append((line, _cents(line.principal_open, "principal_open"), _cents(line.fee_open, "fee_open")))
    open_total = sum((principal for _, principal, _ in checked), ZERO)
    if open_total > original_principal:
        raise CalcInputError(f"open principal {open_total} is more than the principal {original_principal}",
                             details={"field": "lines"})
    if len({line.period for line in lines}) != len(lines):
        raise CalcInputError("two lines have the same period", details={"field": "lines"})

    remaining = refund_amount
    principal_reductions: dict[Hashable, Decimal] = {}
    for line, principal_open, _ in sorted(checked, key=lambda item: item[0].period, reverse=True):
        if remaining == 0:
            break
        cut = min(remaining, principal_open)
        if cut > 0:
            principal_reductions[line.key] = cut
            remaining -= cut

    fee_reductions: dict[Hashable, Decimal] = {}
    if fees_pro_rata and refund_amount > 0:
        full = refund_amount == original_principal
        for line, _, fee_open in sorted(checked, key=lambda item: item[0].period, reverse=True):
            cut = fee_open if full else money(fee_open * refund_amount / original_principal)
            if cut > 0:
                fee_reductions[line.key] = cut
    return RefundResult(principal_reductions=principal_reductions, fee_reductions=fee_reductions, excess=remaining)


# --------------------------------------------------------------------------------------------------
# pricing check against the APR ceiling (§5)


def annualised_daily_rate_pct(daily_rate: Decimal) -> Decimal:
    """A daily rate annualised simply over 365 days, percent with 2 places (0.0005 → 18.25)."""
    return _pct(_rate(daily_rate, "daily_rate") * _DAYS_PER_YEAR)


@dataclass(frozen=True)
class PricingViolation:
    what: str  # "tenor 6" / "late fee" / "deferral fee"
    rate: Decimal  # the offending rate, per period or per day, as configured
    apr_pct: Decimal  # its APR (nominal, by IRR) or annualised daily rate, percent with 2 places
    ceiling_pct: Decimal

    def __str__(self) -> str:
        per = "per day" if self.what in ("late fee", "deferral fee") else "per period"
        rate_pct = f"{(self.rate * _HUNDRED).normalize():f}"
        return (f"{self.what}: {rate_pct} % {per} is {self.apr_pct} % a year, "
                f"above the {self.ceiling_pct} % ceiling")


def pricing_violations(
    *,
    fee_rates: Mapping[int, Decimal],
    late_fee_daily_rate: Decimal,
    deferral_daily_rate: Decimal,
    apr_ceiling: Decimal,
) -> list[PricingViolation]:
    """Everything in a product's pricing whose annual rate exceeds the ceiling (a fraction: 0.24 = 24 %).

    Installment fees: the nominal APR by IRR (12·i, the figure PBoC 2021 No. 3 prescribes) of each tenor,
    computed exactly by :func:`product_apr` (no amount, no cent rounding). Daily fees: rate × 365.
    Compared unrounded — 24.004 % is above a 24 % ceiling even though it displays as 24.00.
    Returns tenors in ascending order, then the late fee, then the deferral fee; empty when all is well.
    """
    ceiling = _rate(apr_ceiling, "apr_ceiling", at_most_one=True)
    if ceiling == 0:
        raise CalcInputError("apr_ceiling must be positive", details={"field": "apr_ceiling"})
    ceiling_pct = _pct(ceiling)
    violations: list[PricingViolation] = []
    for tenor in sorted(fee_rates):
        rate = _rate(fee_rates[tenor], f"fee_rates[{tenor}]", at_most_one=True)
        product = product_apr(tenor, rate)
        with localcontext(_IRR_CONTEXT):
            over = 12 * product.monthly_irr > ceiling
        if over:
            violations.append(PricingViolation(f"tenor {tenor}", rate, product.nominal_pct, ceiling_pct))
    for what, value in (("late fee", late_fee_daily_rate), ("deferral fee", deferral_daily_rate)):
        rate = _rate(value, what, at_most_one=True)
        if rate * _DAYS_PER_YEAR > ceiling:
            violations.append(PricingViolation(what, rate, annualised_daily_rate_pct(rate), ceiling_pct))
    return violations
