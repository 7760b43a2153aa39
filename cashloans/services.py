"""Cash-loan writes (issue 16 item 3, issue 25 item 1): draw a cash loan to a bank card within the line and
its cash sub-limit (on the fixed line only), reverse a drawdown whose payout failed, prepay part of it, and
repay it early. Interest runs by the actual day (PRODUCT §13). The schedule is an installment plan on the engine (kind ``cash_loan``);
from there on statements, overdue, late fees, collections and write-off treat it like any other plan."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from accounts.models import CreditAccount
from accounts.selectors import account_limits
from accounts.services import lock_account
from cashloans.models import CASH_TENORS, AccountCashLimit, CashLoan, CashLoanPrepayment, CashLoanProduct, LoanPurpose
from cashloans.selectors import cash_limit_of, cash_override_of, cash_product_for, cash_used
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import BusinessRuleError, ValidationError
from core.money import ZERO
from installments.calc import CalcInputError
from installments.cash_calc import CashSchedule, accrued_interest, amortise, cash_schedule, product_cash_apr
from installments.models import Allocation, Plan, Repayment, ScheduleLine
from installments.services.common import (
    apply_account_deltas, get_terms, line_due_dates, next_bill_date, positive_money, require_reason,
)
from installments.services.settlements import PlanSettlement, plan_settle, plan_settlement_quote
from ledger.models import Codes, JournalEntry
from ledger.services import Cr, Dr, journal_post

_CARD_RE = re.compile(r"^\d{12,19}$")


def cash_product_violations(*, daily_rate: Decimal, tenors, apr_ceiling: Decimal, min_amount: Decimal,
                            max_amount: Decimal) -> dict[str, str]:
    """What is wrong with a cash-loan product's numbers (field → message); empty when it may be saved.
    The highest APR the daily rate can charge (365 × the daily rate: a period's interest is simple, so no
    loan's XIRR exceeds it) must not exceed the ceiling: 0.0657 %/day is the most a 24 % ceiling allows."""
    problems: dict[str, str] = {}
    if not isinstance(tenors, list) or not tenors or any(t not in CASH_TENORS for t in tenors) or len(set(tenors)) != len(tenors):
        problems["tenors"] = f"Choose one or more of {', '.join(str(t) for t in CASH_TENORS)} months, each once."
    if min_amount is not None and max_amount is not None and min_amount > max_amount:
        problems["max_amount"] = "The largest amount must not be below the smallest."
    if daily_rate is not None and apr_ceiling is not None:
        try:
            apr = product_cash_apr(Decimal(daily_rate))
        except CalcInputError as exc:
            problems["daily_rate"] = str(exc)
        else:
            if apr.nominal > apr_ceiling:
                problems["daily_rate"] = (f"This daily rate makes the APR up to {apr.nominal_pct} % (nominal, by IRR), above the "
                                          f"{Decimal(apr_ceiling) * 100:.2f} % ceiling.")
    return problems


@transaction.atomic
def cash_product_save(*, product: CashLoanProduct, actor: Actor) -> CashLoanProduct:
    """Save a cash-loan product after checking its numbers (the APR ceiling above all)."""
    problems = cash_product_violations(daily_rate=product.daily_rate, tenors=product.tenors, apr_ceiling=product.apr_ceiling,
                                       min_amount=product.min_amount, max_amount=product.max_amount)
    if problems:
        field, message = next(iter(problems.items()))
        raise ValidationError(message, code="invalid_cash_product", details=problems)
    old = None
    if product.pk:
        old = CashLoanProduct.objects.filter(pk=product.pk).values("daily_rate", "tenors", "min_amount", "max_amount",
                                                                    "cash_share", "apr_ceiling", "is_active").first()
    product.save()
    audit_record(actor=actor, action="cash_product_save", obj=product, old={k: str(v) for k, v in (old or {}).items()},
                 new={k: str(getattr(product, k)) for k in ("daily_rate", "tenors", "min_amount", "max_amount", "cash_share",
                                                            "apr_ceiling", "is_active")})
    return product


def mask_card(card_number: str) -> str:
    """Check a bank card number (12–19 digits, spaces allowed) and return it masked: ``**** **** **** 1234``."""
    digits = re.sub(r"\s+", "", card_number or "")
    if not _CARD_RE.fullmatch(digits):
        raise ValidationError("A bank card number is 12 to 19 digits.", code="invalid_card_number")
    return f"**** **** **** {digits[-4:]}"


def _product(account: CreditAccount) -> CashLoanProduct:
    product = cash_product_for(account)
    if product is None or not product.is_active:
        raise BusinessRuleError("This credit product does not lend cash.", code="cash_loan_not_offered")
    return product


def _due_dates(account: CreditAccount, on, tenor: int) -> list:
    terms = get_terms(account.product_id)
    return line_due_dates(next_bill_date(on, account.bill_day), tenor, terms.due_offset_days)


def _checked_schedule(product: CashLoanProduct, amount, tenor, *, account: CreditAccount, on) -> CashSchedule:
    amount = positive_money(amount)
    if amount < product.min_amount or amount > product.max_amount:
        raise BusinessRuleError(
            f"A cash loan is between {product.min_amount} and {product.max_amount}.", code="cash_amount_out_of_range",
            details={"min_amount": str(product.min_amount), "max_amount": str(product.max_amount), "amount": str(amount)},
        )
    if isinstance(tenor, bool) or not isinstance(tenor, int) or tenor not in product.tenors:
        raise BusinessRuleError(f"Tenor {tenor} is not offered; choose one of {sorted(product.tenors)}.", code="invalid_tenor",
                              details={"tenors": sorted(product.tenors)})
    schedule = cash_schedule(amount, tenor, product.daily_rate, drawn_on=on, due_dates=_due_dates(account, on, tenor))
    if schedule.apr.nominal > product.apr_ceiling:  # the XIRR of the real dates, cents included
        raise BusinessRuleError(
            f"The APR of this loan would be {schedule.apr.nominal_pct} %, above the {product.apr_ceiling * 100:.2f} % ceiling.",
            code="apr_above_ceiling", details={"apr_nominal_pct": str(schedule.apr.nominal_pct)},
        )
    return schedule


@dataclass(frozen=True)
class CashQuote:
    product: CashLoanProduct
    schedule: CashSchedule
    due_dates: list


def cash_loan_quote(*, account: CreditAccount, amount, tenor) -> CashQuote:
    """The schedule and APR a drawdown today would have (nothing is stored, no limit is checked)."""
    product = _product(account)
    schedule = _checked_schedule(product, amount, tenor, account=account, on=get_business_date())
    return CashQuote(product=product, schedule=schedule, due_dates=[line.due_date for line in schedule.lines])


def _requested_via(actor: Actor) -> str:
    return (actor.rule if actor.is_system else f"user:{actor.user.pk}")[:80]


@transaction.atomic
def cash_loan_draw(*, account: CreditAccount, amount, tenor: int, card_number: str, purpose: str,
                   actor: Actor) -> CashLoan:
    """Draw a cash loan: checked against the line's available amount **and** the cash sub-limit on the
    locked account row (two drawdowns at once cannot both pass), then an installment plan of equal
    installments is created, the principal is journalled (Dr 1200 cash-loan principal, Cr 1000 cash paid
    to the card) and counts in the account's used amount. The cash sub-limit is a share of the **fixed**
    line: temporary campaign limits are for purchases (issue 25 item 2). ``purpose`` is required."""
    card = mask_card(card_number)
    if purpose not in LoanPurpose.values:
        raise ValidationError(f"Declare what the cash is for: one of {', '.join(LoanPurpose.values)}.",
                              code="invalid_loan_purpose", details={"purposes": list(LoanPurpose.values)})
    product = _product(account)
    today = get_business_date()
    account = lock_account(account.pk)
    schedule = _checked_schedule(product, amount, tenor, account=account, on=today)
    amount = schedule.principal
    if account.written_off_on or account.status != CreditAccount.Status.ACTIVE:
        raise BusinessRuleError("The account is not active.", code="account_not_active", details={"status": account.status})
    _total, available = account_limits(account=account, on=today)
    if amount > available:
        raise BusinessRuleError("Not enough credit line available.", code="insufficient_limit",
                                details={"available": str(available), "amount": str(amount)})
    used = cash_used(account_id=account.pk)
    cash_left = max(cash_limit_of(product, account.fixed_limit, cash_override_of(account.pk)) - used, ZERO)
    if amount > cash_left:
        raise BusinessRuleError("Not enough of the cash sub-limit available.", code="insufficient_cash_limit",
                                details={"cash_available": str(cash_left), "amount": str(amount)})
    s = schedule
    plan = Plan.objects.create(
        account=account, kind=Plan.Kind.CASH_LOAN, principal=amount, tenor=tenor, fee_rate=s.monthly_rate,
        fee_per_period=s.lines[0].interest, total_fee=s.total_interest, apr_nominal_pct=s.apr.nominal_pct,
        apr_effective_pct=s.apr.effective_pct, created_on=today,
    )
    ScheduleLine.objects.bulk_create(
        ScheduleLine(plan=plan, account=account, period=line.period, due_date=line.due_date,
                     principal=line.principal, fee=line.interest)
        for line in s.lines
    )
    loan = CashLoan.objects.create(
        account=account, product=product, plan=plan, amount=amount, tenor=tenor, daily_rate=product.daily_rate,
        installment=s.installment, last_installment=s.last_installment, total_interest=s.total_interest,
        apr_nominal_pct=s.apr.nominal_pct, apr_effective_pct=s.apr.effective_pct, card_masked=card, drawn_on=today,
        purpose=purpose, requested_via=_requested_via(actor),
    )
    legs = [Dr(Codes.CASH_LOAN_PRINCIPAL, amount, account.pk), Cr(Codes.CASH, amount)]
    journal_post(kind=JournalEntry.Kind.CASH_LOAN, on=today, legs=legs, memo=f"Cash loan to card {card[-4:]}",
                 source=f"cash_loan:{loan.reference}", actor=actor)
    apply_account_deltas(account, legs)
    audit_record(actor=actor, action="cash_loan_draw", obj=loan, new={"amount": str(amount), "tenor": tenor, "card": card,
                                                                         "purpose": purpose})
    loan.available_after = max(available - amount, ZERO)
    loan.cash_available_after = cash_left - amount
    return loan


def cash_loan_settlement_quote(*, loan: CashLoan) -> PlanSettlement:
    """Early repayment today: principal outstanding + billed unpaid + interest accrued to date only."""
    return plan_settlement_quote(plan=loan.plan)


@transaction.atomic
def cash_loan_settle(*, loan: CashLoan, actor: Actor, external_ref: str = "") -> Repayment:
    """Repay a cash loan early through the engine's plan settlement (which, for a cash loan, charges the
    interest accrued by the day and waives every future period's interest)."""
    return plan_settle(plan=loan.plan, actor=actor, external_ref=external_ref)


@transaction.atomic
def account_cash_limit_set(*, account: CreditAccount, cash_limit, actor: Actor, reason: str) -> AccountCashLimit:
    """Set one account's cash sub-limit (a credit officer's decision, with a reason): it replaces the
    product's share of the line, capped at the total limit when used. Cash already drawn stays drawn; a
    limit below it only stops new drawdowns. Audited with the old and new value."""
    reason = require_reason(reason)
    if not (isinstance(cash_limit, (Decimal, int)) and not isinstance(cash_limit, bool) and cash_limit == 0):
        cash_limit = positive_money(cash_limit, "cash_limit")  # 0 (no cash at all) or a positive amount
    cash_limit = Decimal(cash_limit)
    account = lock_account(account.pk)
    row = AccountCashLimit.objects.filter(account=account).first()
    old = str(row.cash_limit) if row else None
    if row is None:
        row = AccountCashLimit(account=account)
    row.cash_limit = cash_limit.quantize(Decimal("0.01"))
    row.reason = reason
    row.save()
    audit_record(actor=actor, action="cash_limit_set", obj=account, reason=reason, old=old, new=str(row.cash_limit))
    return row


# --- a failed payout (issue 25 item 1) ----------------------------------------------------------------------


@transaction.atomic
def cash_loan_payout_fail(*, loan: CashLoan, reason: str, actor: Actor) -> CashLoan:
    """The bank reports that the money never reached the card: the drawdown is reversed as if it had not
    happened — the schedule is cancelled (principal and interest no longer owed), the principal journal is
    reversed (Dr 1000 cash back / Cr 1200), the line and the cash sub-limit are restored, the plan ends
    ``reversed``. Only before anything was billed or repaid on it (else ``payout_reversal_too_late``)."""
    reason = require_reason(reason)
    account = lock_account(loan.account_id)
    loan = CashLoan.objects.select_for_update(of=("self",)).get(pk=loan.pk)
    if loan.payout == CashLoan.Payout.FAILED:
        raise BusinessRuleError("This drawdown was already reversed.", code="payout_already_failed")
    plan = Plan.objects.select_for_update(of=("self",)).get(pk=loan.plan_id)
    lines = list(ScheduleLine.objects.select_for_update(of=("self",)).filter(plan=plan).order_by("pk"))
    touched = any(line.billed_on or line.principal_paid or line.fee_paid or line.principal_reduced or line.fee_waived
                  or line.principal_written_off for line in lines)
    if plan.status != Plan.Status.ACTIVE or touched or Allocation.objects.filter(line__plan=plan).exists():
        raise BusinessRuleError("The loan was billed or repaid since: a failed payout can no longer reverse it.",
                                code="payout_reversal_too_late", details={"plan_status": plan.status})
    today = get_business_date()
    for line in lines:
        line.principal_reduced, line.fee_waived = line.principal, line.fee
        line.status, line.closed_on = ScheduleLine.Status.CLOSED, today
        line.save(update_fields=["principal_reduced", "fee_waived", "status", "closed_on"])
    legs = [Dr(Codes.CASH, loan.amount), Cr(Codes.CASH_LOAN_PRINCIPAL, loan.amount, account.pk)]
    journal_post(kind=JournalEntry.Kind.REVERSAL, on=today, legs=legs, memo=f"Payout of cash loan {loan.reference} failed",
                 source=f"cash_loan:{loan.reference}", actor=actor)
    apply_account_deltas(account, legs)
    plan.status, plan.closed_on = Plan.Status.REVERSED, today
    plan.save(update_fields=["status", "closed_on", "updated_at"])
    loan.payout, loan.payout_failed_on, loan.payout_failure = CashLoan.Payout.FAILED, today, reason[:200]
    loan.save(update_fields=["payout", "payout_failed_on", "payout_failure", "updated_at"])
    audit_record(actor=actor, action="cash_loan_payout_fail", obj=loan, reason=reason, old=CashLoan.Payout.SENT,
                 new={"payout": loan.payout, "reversed": str(loan.amount)})
    return loan


# --- partial prepayment (issue 25 item 1) --------------------------------------------------------------------


@transaction.atomic
def cash_loan_prepay(*, loan: CashLoan, amount, mode: str, actor: Actor, external_ref: str = "",
                     channel: str = Repayment.Channel.BANK_TRANSFER) -> CashLoanPrepayment:
    """Repay part of a cash loan's principal before it is due. The interest accrued on the principal
    outstanding until today stays due with the next installment; the rest of the schedule is re-amortised
    by the day from today on the lower balance: ``shorten`` keeps the installment and drops the periods no
    longer needed, ``lower`` keeps the periods and lowers the installment. Journal Dr 1000 / Cr 1200.

    Refused while an installment is billed and unpaid (pay the bill first: ``cash_loan_billed_unpaid``) and
    when the amount would repay the whole loan (``prepayment_covers_loan``: that is the early repayment)."""
    amount = positive_money(amount)
    if mode not in CashLoanPrepayment.Mode.values:
        raise ValidationError(f"Choose how to use the prepayment: {', '.join(CashLoanPrepayment.Mode.values)}.",
                              code="invalid_prepayment_mode")
    account = lock_account(loan.account_id)
    loan = CashLoan.objects.select_for_update(of=("self",)).get(pk=loan.pk)
    plan = Plan.objects.select_for_update(of=("self",)).get(pk=loan.plan_id)
    if plan.status != Plan.Status.ACTIVE:
        raise BusinessRuleError("Only an active cash loan can be prepaid.", code="plan_not_active")
    if account.written_off_on:
        raise BusinessRuleError("The account is written off.", code="account_written_off")
    lines = list(ScheduleLine.objects.select_for_update(of=("self",)).filter(plan=plan, status__in=ScheduleLine.OPEN)
                 .order_by("period"))
    if any(line.billed_on for line in lines):
        raise BusinessRuleError("An installment is billed and unpaid: pay the bill first.", code="cash_loan_billed_unpaid")
    if any(line.principal_paid or line.fee_paid or line.principal_reduced or line.fee_waived for line in lines[1:]):
        raise BusinessRuleError("The schedule was changed by other means.", code="cash_loan_schedule_changed")
    today = get_business_date()
    first = lines[0]
    previous_due = plan.lines.filter(period__lt=first.period).order_by("-period").values_list("due_date", flat=True).first()
    since = max(previous_due or loan.drawn_on, loan.drawn_on)
    outstanding = sum((line.principal_open for line in lines), ZERO)
    if amount >= outstanding:
        raise BusinessRuleError("This repays the whole loan: use the early repayment.", code="prepayment_covers_loan",
                                details={"outstanding": str(outstanding)})
    # interest earned so far in this period: the scheduled interest less that of the days not used yet
    unearned = accrued_interest(outstanding, loan.daily_rate, today, first.due_date)
    accrued = max(first.fee - first.fee_waived - unearned, ZERO) if first.fee_paid == 0 else None
    if accrued is None:  # pragma: no cover - an unbilled line has no interest paid
        raise BusinessRuleError("The schedule was changed by other means.", code="cash_loan_schedule_changed")
    if today == since:
        accrued = ZERO
    balance = outstanding - amount
    dues = [line.due_date for line in lines]
    level = loan.installment if mode == CashLoanPrepayment.Mode.SHORTEN else None
    new = amortise(balance, loan.daily_rate, dues, today, installment=level, first_extra=accrued,
                   first_period=first.period)
    n = CashLoanPrepayment.objects.filter(loan=loan).count()
    ref = (external_ref or "").strip() or f"prepay-{loan.reference}-{n + 1}"
    if Repayment.objects.filter(external_ref=ref).exists():
        raise ValidationError("This external reference is already used.", code="external_ref_conflict")
    repayment = Repayment.objects.create(
        account=account, amount=amount, external_ref=ref, channel=channel, kind=Repayment.Kind.REPAYMENT,
        received_on=today, posted_on=today, **actor.log_fields(),  # not a settlement: no ``plan``
    )
    for line, fresh in zip(lines, new, strict=False):
        paid = amount if line is first else ZERO
        line.principal, line.fee, line.principal_paid = fresh.principal + paid, fresh.interest, paid
        line.save(update_fields=["principal", "fee", "principal_paid"])
    dropped = [line.pk for line in lines[len(new):]]
    ScheduleLine.objects.filter(pk__in=dropped).delete()
    Allocation.objects.create(account=account, source=Allocation.Source.REPAYMENT, repayment=repayment, line=first,
                              kind=Allocation.Kind.PRINCIPAL, amount=amount, on_date=today)
    legs = [Dr(Codes.CASH, amount), Cr(Codes.CASH_LOAN_PRINCIPAL, amount, account.pk)]
    entry = journal_post(kind=JournalEntry.Kind.REPAYMENT, on=today, legs=legs, memo=f"Prepayment of {loan.reference}",
                         source=f"repayment:{repayment.reference}", actor=actor)
    repayment.journal_entry = entry
    repayment.save(update_fields=["journal_entry"])
    apply_account_deltas(account, legs)
    all_fees = sum((fee for fee in plan.lines.values_list("fee", flat=True)), ZERO)
    waived = sum((w for w in plan.lines.values_list("fee_waived", flat=True)), ZERO)
    plan.total_fee = all_fees - waived
    plan.save(update_fields=["total_fee", "updated_at"])
    loan.installment, loan.last_installment = new[0].total, new[-1].total
    loan.total_interest = plan.total_fee
    loan.save(update_fields=["installment", "last_installment", "total_interest", "updated_at"])
    prepayment = CashLoanPrepayment.objects.create(
        loan=loan, repayment=repayment, mode=mode, amount=amount, accrued_interest=accrued, balance_after=balance,
        installment_after=new[0].total, periods_after=len(new), prepaid_on=today,
    )
    audit_record(actor=actor, action="cash_loan_prepay", obj=loan,
                 old={"outstanding": str(outstanding), "periods": len(lines)},
                 new={"amount": str(amount), "mode": mode, "accrued_interest": str(accrued),
                      "installment": str(new[0].total), "periods": len(new)})
    return prepayment
