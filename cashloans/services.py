"""Cash-loan writes (issue 16 item 3): draw a cash loan to a bank card within the line and its cash
sub-limit, and repay it early. The schedule is an installment plan on the engine (kind ``cash_loan``);
from there on statements, overdue, late fees, collections and write-off treat it like any other plan."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from accounts.models import CreditAccount
from accounts.selectors import account_limits
from accounts.services import lock_account
from cashloans.models import CASH_TENORS, AccountCashLimit, CashLoan, CashLoanProduct
from cashloans.selectors import cash_limit_of, cash_override_of, cash_product_for, cash_used
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import BusinessRuleError, ValidationError
from core.money import ZERO
from installments.calc import CalcInputError
from installments.cash_calc import CashSchedule, cash_schedule, product_cash_apr
from installments.models import Plan, Repayment, ScheduleLine
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
    The APR by IRR of the daily rate (daily × 30 a month) must not exceed the ceiling."""
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
            if apr.monthly_irr * 12 > apr_ceiling:
                problems["daily_rate"] = (f"This daily rate makes the APR {apr.nominal_pct} % (nominal, by IRR), above the "
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


def _checked_schedule(product: CashLoanProduct, amount, tenor) -> CashSchedule:
    amount = positive_money(amount)
    if amount < product.min_amount or amount > product.max_amount:
        raise BusinessRuleError(
            f"A cash loan is between {product.min_amount} and {product.max_amount}.", code="cash_amount_out_of_range",
            details={"min_amount": str(product.min_amount), "max_amount": str(product.max_amount), "amount": str(amount)},
        )
    if isinstance(tenor, bool) or not isinstance(tenor, int) or tenor not in product.tenors:
        raise BusinessRuleError(f"Tenor {tenor} is not offered; choose one of {sorted(product.tenors)}.", code="invalid_tenor",
                              details={"tenors": sorted(product.tenors)})
    schedule = cash_schedule(amount, tenor, product.daily_rate)
    if schedule.apr.monthly_irr * 12 > product.apr_ceiling:
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
    schedule = _checked_schedule(product, amount, tenor)
    terms = get_terms(account.product_id)
    dues = line_due_dates(next_bill_date(get_business_date(), account.bill_day), tenor, terms.due_offset_days)
    return CashQuote(product=product, schedule=schedule, due_dates=dues)


def _requested_via(actor: Actor) -> str:
    return (actor.rule if actor.is_system else f"user:{actor.user.pk}")[:80]


@transaction.atomic
def cash_loan_draw(*, account: CreditAccount, amount, tenor: int, card_number: str, actor: Actor) -> CashLoan:
    """Draw a cash loan: checked against the line's available amount **and** the cash sub-limit on the
    locked account row (two drawdowns at once cannot both pass), then an installment plan of equal
    installments is created, the principal is journalled (Dr 1200 cash-loan principal, Cr 1000 cash paid
    to the card) and counts in the account's used amount."""
    card = mask_card(card_number)
    product = _product(account)
    schedule = _checked_schedule(product, amount, tenor)
    amount = schedule.principal
    account = lock_account(account.pk)
    if account.written_off_on or account.status != CreditAccount.Status.ACTIVE:
        raise BusinessRuleError("The account is not active.", code="account_not_active", details={"status": account.status})
    today = get_business_date()
    total, available = account_limits(account=account, on=today)
    if amount > available:
        raise BusinessRuleError("Not enough credit line available.", code="insufficient_limit",
                                details={"available": str(available), "amount": str(amount)})
    used = cash_used(account_id=account.pk)
    cash_left = max(cash_limit_of(product, total, cash_override_of(account.pk)) - used, ZERO)
    if amount > cash_left:
        raise BusinessRuleError("Not enough of the cash sub-limit available.", code="insufficient_cash_limit",
                                details={"cash_available": str(cash_left), "amount": str(amount)})
    terms = get_terms(account.product_id)
    s = schedule
    plan = Plan.objects.create(
        account=account, kind=Plan.Kind.CASH_LOAN, principal=amount, tenor=tenor, fee_rate=s.monthly_rate,
        fee_per_period=s.lines[0].interest, total_fee=s.total_interest, apr_nominal_pct=s.apr.nominal_pct,
        apr_effective_pct=s.apr.effective_pct, created_on=today,
    )
    dues = line_due_dates(next_bill_date(today, account.bill_day), tenor, terms.due_offset_days)
    ScheduleLine.objects.bulk_create(
        ScheduleLine(plan=plan, account=account, period=line.period, due_date=dues[line.period - 1],
                     principal=line.principal, fee=line.interest)
        for line in s.lines
    )
    loan = CashLoan.objects.create(
        account=account, product=product, plan=plan, amount=amount, tenor=tenor, daily_rate=product.daily_rate,
        installment=s.installment, last_installment=s.last_installment, total_interest=s.total_interest,
        apr_nominal_pct=s.apr.nominal_pct, apr_effective_pct=s.apr.effective_pct, card_masked=card, drawn_on=today,
        requested_via=_requested_via(actor),
    )
    legs = [Dr(Codes.CASH_LOAN_PRINCIPAL, amount, account.pk), Cr(Codes.CASH, amount)]
    journal_post(kind=JournalEntry.Kind.CASH_LOAN, on=today, legs=legs, memo=f"Cash loan to card {card[-4:]}",
                 source=f"cash_loan:{loan.reference}", actor=actor)
    apply_account_deltas(account, legs)
    audit_record(actor=actor, action="cash_loan_draw", obj=loan, new={"amount": str(amount), "tenor": tenor, "card": card})
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
