"""Helpers shared by the engine's services: terms, dates, open dues, applying an allocation, journal legs."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from collections.abc import Iterable

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Round

from accounts.models import CreditAccount, CreditProduct
from core.errors import ValidationError
from core.money import ZERO, money
from installments.calc import AllocationKind, Due
from installments.models import Allocation, Charge, Plan, ProductTerms, ScheduleLine, TenorRate
from ledger.models import Codes
from ledger.services import Leg

DEFAULT_TENOR_RATES = {3: Decimal("0.006"), 6: Decimal("0.006"), 12: Decimal("0.005"), 24: Decimal("0.005")}

RECEIVABLE_CODE = {
    AllocationKind.PRINCIPAL: Codes.RECEIVABLE_PRINCIPAL,
    AllocationKind.INSTALLMENT_FEE: Codes.RECEIVABLE_FEES,
    AllocationKind.LATE_FEE: Codes.RECEIVABLE_LATE_FEES,
    AllocationKind.DEFERRAL_FEE: Codes.RECEIVABLE_DEFERRAL_FEES,
    AllocationKind.PREMIUM: Codes.RECEIVABLE_PREMIUM,
}
CHARGE_KIND = {
    Charge.Kind.LATE_FEE: AllocationKind.LATE_FEE,
    Charge.Kind.DEFERRAL_FEE: AllocationKind.DEFERRAL_FEE,
    Charge.Kind.SETTLEMENT_FEE: AllocationKind.INSTALLMENT_FEE,
    Charge.Kind.PREMIUM: AllocationKind.PREMIUM,
}
CHARGE_CODE = {
    Charge.Kind.LATE_FEE: Codes.RECEIVABLE_LATE_FEES,
    Charge.Kind.DEFERRAL_FEE: Codes.RECEIVABLE_DEFERRAL_FEES,
    Charge.Kind.SETTLEMENT_FEE: Codes.RECEIVABLE_FEES,
    Charge.Kind.PREMIUM: Codes.RECEIVABLE_PREMIUM,
}

#: A plan's ledger codes: (principal receivable, fee receivable, fee income). Cash loans keep their own
#: accounts (issue 16); every other kind uses the installment ones.
DEFAULT_PLAN_CODES = (Codes.RECEIVABLE_PRINCIPAL, Codes.RECEIVABLE_FEES, Codes.FEE_INCOME)
PLAN_CODES = {
    Plan.Kind.CASH_LOAN.value: (Codes.CASH_LOAN_PRINCIPAL, Codes.CASH_LOAN_INTEREST, Codes.CASH_LOAN_INTEREST_INCOME),
}


def plan_codes(kind: str | None) -> tuple[str, str, str]:
    return PLAN_CODES.get(kind or "", DEFAULT_PLAN_CODES)


def line_plan_kind(line: ScheduleLine) -> str:
    """The kind of a line's plan: annotated by :func:`open_dues` (``plan_kind``), else read."""
    kind = getattr(line, "plan_kind", None)
    if kind is None:
        kind = Plan.objects.filter(pk=line.plan_id).values_list("kind", flat=True).first()
    return kind or ""


def plus(field: str, delta) -> Round:
    """``field + delta`` rounded to the cent in SQL (SQLite keeps decimals as floats: 0.30 − 0.10 − 0.20
    must be 0.00 there too, or the non-negative constraints would trip)."""
    return Round(F(field) + delta, 2)


def positive_money(value, field: str = "amount") -> Decimal:
    if isinstance(value, float):
        raise ValidationError(f"{field} must not be a float.", code="invalid_amount")
    try:
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError(f"{field} is not an amount.", code="invalid_amount", details={field: str(value)}) from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise ValidationError(f"{field} must be a whole number of cents.", code="invalid_amount", details={field: str(value)})
    amount = money(amount)
    if amount <= 0:
        raise ValidationError(f"{field} must be above zero.", code="invalid_amount", details={field: str(amount)})
    if amount >= Decimal("1000000000000"):
        raise ValidationError(f"{field} is too large.", code="invalid_amount", details={field: str(amount)})
    return amount


def require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.", code="reason_required")
    return reason[:500]


@transaction.atomic
def product_terms_create_default(*, product: CreditProduct) -> ProductTerms:
    terms, created = ProductTerms.objects.get_or_create(product=product)
    if created:
        TenorRate.objects.bulk_create(TenorRate(terms=terms, tenor=t, fee_rate=r) for t, r in DEFAULT_TENOR_RATES.items())
    return terms


def get_terms(product_id: int) -> ProductTerms:
    """The product's terms (created with the defaults the first time a product without terms is used)."""
    terms = ProductTerms.objects.filter(product_id=product_id).prefetch_related("tenor_rates").first()
    if terms is None:
        product_terms_create_default(product=CreditProduct.objects.get(pk=product_id))
        terms = ProductTerms.objects.prefetch_related("tenor_rates").get(product_id=product_id)
    return terms


def next_bill_date(on: dt.date, bill_day: int) -> dt.date:
    """PRODUCT §4: a purchase dated before the bill date posts to this cycle, on or after it to the next."""
    if on.day < bill_day:
        return on.replace(day=bill_day)
    return (on.replace(day=1) + relativedelta(months=1)).replace(day=bill_day)


def line_due_dates(first_bill_date: dt.date, tenor: int, offset_days: int) -> list[dt.date]:
    """Due dates of periods 1..tenor: the due dates of the statement the plan posts to and the next ones."""
    return [first_bill_date + relativedelta(months=k) + dt.timedelta(days=offset_days) for k in range(tenor)]


def open_dues(account_id: int) -> tuple[list[Due], dict]:
    """Everything a repayment can pay now: billed, unpaid line fees and principal, and unpaid charges.

    Returned in a stable order (due date, installments before revolving, plan, period) so ties break the
    same way every time; the second value maps each due key to its row."""
    dues: list[Due] = []
    rows: dict = {}
    charges = Charge.objects.filter(account_id=account_id).exclude(
        amount=Round(F("paid") + F("waived") + F("written_off"), 2)
    ).order_by("accrued_on", "id")
    for charge in charges:
        key = ("charge", charge.pk)
        rows[key] = charge
        dues.append(Due(key=key, kind=CHARGE_KIND[charge.kind], due_date=charge.accrued_on, amount=charge.open_amount))
    lines = ScheduleLine.objects.filter(account_id=account_id, status__in=ScheduleLine.OPEN_BILLED).annotate(
        plan_kind=F("plan__kind")
    ).order_by("due_date", "is_revolving", "plan_id", "period")
    for line in lines:
        if line.fee_open > 0:
            key = ("fee", line.pk)
            rows[key] = line
            dues.append(Due(key=key, kind=AllocationKind.INSTALLMENT_FEE, due_date=line.due_date, amount=line.fee_open))
        if line.principal_open > 0:
            key = ("principal", line.pk)
            rows[key] = line
            dues.append(Due(key=key, kind=AllocationKind.PRINCIPAL, due_date=line.due_date, amount=line.principal_open))
    return dues, rows


def close_if_settled(line: ScheduleLine, on: dt.date) -> None:
    if line.status in ScheduleLine.OPEN and line.principal_open == 0 and line.fee_open == 0:
        line.status = ScheduleLine.Status.CLOSED
        line.closed_on = on


def reopen_status(line: ScheduleLine) -> str:
    """The status a closed line returns to when a reversal re-opens it."""
    S = ScheduleLine.Status
    if line.overdue_from:
        return S.OVERDUE
    if line.deferred_from:
        return S.DEFERRED
    if line.billed_on:
        return S.DUE
    return S.PENDING


def apply_paid(
    *,
    account: CreditAccount,
    paid: Iterable[tuple[Due, Decimal]],
    rows: dict,
    on: dt.date,
    source: str,
    repayment=None,
    statement=None,
) -> dict[str, Decimal]:
    """Write an allocation: raise the paid parts of lines and charges, close what is settled, add the
    allocation rows. Returns the amount paid per receivable ledger code (for the journal)."""
    by_code: dict[str, Decimal] = defaultdict(lambda: ZERO)
    touched_lines: dict[int, ScheduleLine] = {}
    touched_charges: dict[int, Charge] = {}
    allocations = []
    for due, amount in paid:
        row = rows[due.key]
        kind_tag = due.key[0]
        if kind_tag == "charge":
            row.paid += amount
            touched_charges[row.pk] = row
            alloc_kind = row.kind
            by_code[CHARGE_CODE[row.kind]] += amount
            allocations.append(Allocation(account=account, source=source, repayment=repayment, statement=statement,
                                          charge=row, kind=alloc_kind, amount=amount, on_date=on))
        else:
            principal_code, fee_code, _ = plan_codes(line_plan_kind(row))
            if kind_tag == "fee":
                row.fee_paid += amount
                alloc_kind = Allocation.Kind.INSTALLMENT_FEE
                by_code[fee_code] += amount
            else:
                row.principal_paid += amount
                alloc_kind = Allocation.Kind.PRINCIPAL
                by_code[principal_code] += amount
            touched_lines[row.pk] = row
            allocations.append(Allocation(account=account, source=source, repayment=repayment, statement=statement,
                                          line=row, kind=alloc_kind, amount=amount, on_date=on))
    for line in touched_lines.values():
        close_if_settled(line, on)
        line.save(update_fields=["fee_paid", "principal_paid", "status", "closed_on"])
    for charge in touched_charges.values():
        charge.save(update_fields=["paid"])
    Allocation.objects.bulk_create(allocations)
    plans_paid_off({line.plan_id for line in touched_lines.values()}, on)
    return dict(by_code)


def plans_paid_off(plan_ids: set[int], on: dt.date) -> None:
    """Active plans with no open line left are paid off."""
    if not plan_ids:
        return
    still_open = set(
        ScheduleLine.objects.filter(plan_id__in=plan_ids, status__in=ScheduleLine.OPEN).values_list("plan_id", flat=True)
    )
    done = plan_ids - still_open
    if done:
        Plan.objects.filter(pk__in=done, status=Plan.Status.ACTIVE).update(status=Plan.Status.PAID_OFF, closed_on=on)


def receivable_legs(by_code: dict[str, Decimal], account_id: int, *, side: str) -> list[Leg]:
    legs = []
    for code in Codes.RECEIVABLES:
        amount = by_code.get(code, ZERO)
        if amount:
            legs.append(Leg(code=code, credit=amount, credit_account_id=account_id) if side == "credit"
                        else Leg(code=code, debit=amount, credit_account_id=account_id))
    return legs


def apply_account_deltas(account: CreditAccount, legs: Iterable[Leg], *, locked: bool = False) -> CreditAccount:
    """Move ``used_amount`` and ``credit_balance`` by exactly what the journal legs did to the account's
    receivables (debit − credit) and credit-balance liability (credit − debit). One source of truth.

    ``locked``: the caller row-locked ``account`` in this transaction and read it under the lock, so its
    figures are the row's and the new ones are computed here instead of read back (one query less)."""
    used = ZERO
    credit = ZERO
    for leg in legs:
        if leg.credit_account_id != account.pk:
            continue
        if leg.code in Codes.RECEIVABLES:
            used += leg.debit - leg.credit
        elif leg.code == Codes.CUSTOMER_CREDIT:
            credit += leg.credit - leg.debit
    if used or credit:
        CreditAccount.objects.filter(pk=account.pk).update(
            used_amount=plus("used_amount", used), credit_balance=plus("credit_balance", credit)
        )
        if locked:
            account.used_amount = money(account.used_amount + used)
            account.credit_balance = money(account.credit_balance + credit)
        else:
            account.refresh_from_db(fields=["used_amount", "credit_balance"])
    return account


def repayment_ceiling_check(*, account: CreditAccount, amount: Decimal) -> None:
    """Refuse a repayment above what the account owes, less the credit balance it already holds, plus the
    product's credit tolerance (issue 13): the credit balance a repayment leaves never exceeds the
    tolerance. What the account owes is its used amount — on a written-off account, what is left to
    recover. Called on the locked account, before anything is written."""
    from core.errors import BusinessRuleError
    from installments.models import WriteOff

    if account.written_off_on:
        write_off = WriteOff.objects.filter(account_id=account.pk).first()
        owed = write_off.total - write_off.recovered if write_off else ZERO
    else:
        owed = account.used_amount
    owed, credit = money(owed), money(account.credit_balance)
    tolerance = get_terms(account.product_id).repayment_credit_tolerance
    ceiling = max(owed - credit + tolerance, ZERO)
    if amount > ceiling:
        raise BusinessRuleError(
            f"A repayment of {amount} is more than the account owes ({owed}) less its credit balance ({credit}) "
            f"plus the credit tolerance ({tolerance}): at most {ceiling}.",
            code="repayment_above_outstanding",
            details={"amount": str(amount), "owed": str(owed), "credit_balance": str(credit),
                     "tolerance": str(tolerance), "maximum": str(ceiling)},
        )
