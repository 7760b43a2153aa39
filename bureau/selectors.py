"""Reads for credit-bureau reporting: each account's figures in one pass of aggregate queries."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db.models import Case, Q, QuerySet, Value, When

from accounts.models import CreditAccount
from bureau.models import BureauFile, BureauPolicy, Classification
from core.money import ZERO, money
from installments.models import Charge, ScheduleLine, WriteOff
from core.money import money_sum as _sum
from installments.selectors import CHARGE_OPEN, FEE_OPEN, MONEY as _D, PRINCIPAL_OPEN


@dataclass(frozen=True)
class AccountFigures:
    account_id: int
    credit_limit: Decimal
    balance: Decimal
    overdue_amount: Decimal
    dpd: int
    account_status: str
    written_off: bool


def policy_get() -> BureauPolicy:
    policy, _ = BureauPolicy.objects.get_or_create(pk=1)
    return policy


def classify(*, dpd: int, written_off: bool, policy: BureauPolicy) -> str:
    """The five-level classification of an account from its DPD (a written-off account is a loss)."""
    if written_off or dpd >= policy.loss_from_dpd:
        return Classification.LOSS
    if dpd >= policy.doubtful_from_dpd:
        return Classification.DOUBTFUL
    if dpd >= policy.substandard_from_dpd:
        return Classification.SUBSTANDARD
    if dpd >= policy.special_mention_from_dpd:
        return Classification.SPECIAL_MENTION
    return Classification.NORMAL


def is_negative(*, dpd: int, written_off: bool) -> bool:
    """Negative data (不良信息): anything past due after grace, or a written-off account."""
    return written_off or dpd > 0


def reportable_accounts(*, period: dt.date) -> QuerySet[CreditAccount]:
    """Every account that was open at some time in the month starting ``period``."""
    return CreditAccount.objects.filter(Q(closed_on__isnull=True) | Q(closed_on__gte=period),
                                        opened_on__lt=period + relativedelta(months=1))


def account_figures(*, account_ids: list[int]) -> dict[int, AccountFigures]:
    """Limit, balance, overdue amount, DPD and status per account, from a fixed number of queries."""
    accounts = CreditAccount.objects.filter(pk__in=account_ids).values(
        "pk", "fixed_limit", "dpd", "status", "written_off_on")
    billed_fee = Case(When(billed_on__isnull=False, then=FEE_OPEN), default=Value(ZERO), output_field=_D)
    overdue_line = Case(When(status=ScheduleLine.Status.OVERDUE, then=PRINCIPAL_OPEN + FEE_OPEN),
                        default=Value(ZERO), output_field=_D)
    lines = {
        row["account_id"]: row
        for row in ScheduleLine.objects.filter(account_id__in=account_ids, status__in=ScheduleLine.OPEN)
        .values("account_id").annotate(owed=_sum(PRINCIPAL_OPEN + billed_fee), overdue=_sum(overdue_line))
    }
    late = Case(When(kind=Charge.Kind.LATE_FEE, then=CHARGE_OPEN), default=Value(ZERO), output_field=_D)
    charges = {
        row["account_id"]: row
        for row in Charge.objects.filter(account_id__in=account_ids).values("account_id")
        .annotate(owed=_sum(CHARGE_OPEN), late=_sum(late))
    }
    written_off = {
        w.account_id: money(w.principal + w.fees + w.late_fees + w.deferral_fees + w.premiums - w.recovered)
        for w in WriteOff.objects.filter(account_id__in=account_ids)
    }
    result = {}
    for row in accounts:
        pk = row["pk"]
        line, charge = lines.get(pk, {}), charges.get(pk, {})
        balance = money(line.get("owed", ZERO) + charge.get("owed", ZERO))
        overdue = money(line.get("overdue", ZERO) + charge.get("late", ZERO))
        is_written_off = row["written_off_on"] is not None
        if is_written_off:
            balance = overdue = max(written_off.get(pk, ZERO) + balance, ZERO)
        status = {"active": "N", "frozen": "F", "closed": "C"}[row["status"]]
        result[pk] = AccountFigures(
            account_id=pk, credit_limit=money(row["fixed_limit"]), balance=balance, overdue_amount=overdue,
            dpd=row["dpd"], account_status="W" if is_written_off else status, written_off=is_written_off,
        )
    return result


def bureau_file_current(*, period: dt.date) -> BureauFile | None:
    return BureauFile.objects.filter(period=period, status=BureauFile.Status.CURRENT).first()
