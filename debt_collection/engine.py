"""What collections reads from the credit engine (``installments``): statements, amounts past due and
repayments. Every read of the engine's tables goes through here, in set-based queries, so the rest of
the app depends on a handful of functions rather than on the engine's schema."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Sequence

from django.db.models import DecimalField, ExpressionWrapper, F, Q, QuerySet, Sum, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, ZERO
from accounts.models import CreditAccount
from installments.models import Charge, Repayment, ScheduleLine, Statement

_MONEY = DecimalField(max_digits=MONEY_MAX_DIGITS + 2, decimal_places=MONEY_DECIMAL_PLACES)
_PRINCIPAL_OPEN = F("principal") - F("principal_paid") - F("principal_reduced") - F("principal_written_off")
_FEE_OPEN = F("fee") - F("fee_paid") - F("fee_waived") - F("fee_written_off")
_CHARGE_OPEN = F("amount") - F("paid") - F("waived") - F("written_off")
OPEN_BILLED = [s.value for s in ScheduleLine.OPEN_BILLED]
OPEN_LINES = [s.value for s in ScheduleLine.OPEN]


def _account_filter(account_ids: Sequence[int] | None, field: str = "account_id") -> Q:
    if account_ids is None:
        return Q()
    if isinstance(account_ids, range) and account_ids.step == 1:
        return Q(**{f"{field}__gte": account_ids.start, f"{field}__lt": account_ids.stop})
    return Q(**{f"{field}__in": list(account_ids)})


@dataclass(frozen=True)
class AccountAmounts:
    past_due: Decimal = ZERO  # overdue lines + open late fees and overdue charges (what cures the account)
    billed_unpaid: Decimal = ZERO  # every billed, unpaid line + open charges (what clears the bills)
    balance: Decimal = ZERO  # everything owed: open principal (billed or not) + billed fees + charges


def _amount_querysets(where: Q) -> tuple[QuerySet, QuerySet]:
    """The two grouped queries behind :func:`account_amounts` (lines, charges), for the accounts ``where``
    selects (a filter on ``account_id``)."""
    def total(expr, condition: Q):
        return Coalesce(Sum(ExpressionWrapper(expr, output_field=_MONEY), filter=condition), Value(ZERO),
                        output_field=_MONEY)

    lines = (
        ScheduleLine.objects.filter(where, status__in=OPEN_LINES)
        .values("account_id")
        .annotate(
            overdue=total(_PRINCIPAL_OPEN + _FEE_OPEN, Q(status=ScheduleLine.Status.OVERDUE)),
            billed=total(_PRINCIPAL_OPEN + _FEE_OPEN, Q(status__in=OPEN_BILLED)),
            unbilled=total(_PRINCIPAL_OPEN, Q(status=ScheduleLine.Status.PENDING)),
        )
        .values_list("account_id", "overdue", "billed", "unbilled")
    )
    charges = (
        Charge.objects.filter(where)
        .values("account_id")
        .annotate(
            open=total(_CHARGE_OPEN, Q()),
            past=total(_CHARGE_OPEN, Q(overdue_from__isnull=False) | Q(kind=Charge.Kind.LATE_FEE)),
        )
        .values_list("account_id", "open", "past")
    )
    return lines, charges


def account_amounts_sql(accounts_sql: str) -> tuple[str, list]:
    """The same amounts as :func:`account_amounts`, as one SQL query for set-based steps:
    ``SELECT account_id, past_due, balance`` (one row per account that owes anything) for the accounts
    whose ids ``accounts_sql`` selects (a constant SQL subquery, e.g. over a temporary table)."""
    lines, charges = _amount_querysets(Q(account_id__in=RawSQL(accounts_sql, [])))
    lines_sql, lines_params = lines.query.sql_with_params()
    charges_sql, charges_params = charges.query.sql_with_params()
    sql = (
        "SELECT u.account_id, SUM(u.past_due) AS past_due, SUM(u.balance) AS balance FROM ("
        f"SELECT l.account_id, l.overdue AS past_due, l.billed + l.unbilled AS balance FROM ({lines_sql}) l "
        f"UNION ALL SELECT c.account_id, c.past AS past_due, c.open AS balance FROM ({charges_sql}) c"
        ") u GROUP BY u.account_id"
    )
    return sql, [*lines_params, *charges_params]


def account_amounts(account_ids: Sequence[int] | None) -> dict[int, AccountAmounts]:
    """Amounts per account: two grouped queries (lines, charges), whatever the number of accounts."""
    lines, charges = _amount_querysets(_account_filter(account_ids))
    parts: dict[int, list[Decimal]] = defaultdict(lambda: [ZERO] * 5)
    for account_id, overdue, billed, unbilled in lines:
        parts[account_id][0:3] = [overdue, billed, unbilled]
    for account_id, open_charges, past in charges:
        parts[account_id][3:5] = [open_charges, past]
    return {
        account_id: AccountAmounts(
            past_due=overdue + past, billed_unpaid=billed + open_charges, balance=billed + unbilled + open_charges,
        )
        for account_id, (overdue, billed, unbilled, open_charges, past) in parts.items()
    }


# --- Statements for reminders ------------------------------------------------------------------


@dataclass(frozen=True)
class StatementDue:
    statement_id: int
    account_id: int
    due_date: dt.date  # the due date the reminder counts from (T−n before it, D+n after it)
    minimum_payment: Decimal  # what to pay now: the rest of the minimum, or the past-due amount when overdue
    amount_due: Decimal  # what clears the bills


def _paid_toward(statements: Iterable[Statement]) -> dict[int, Decimal]:
    """Posted repayments (not recoveries) received on or after each statement's bill date — what the
    engine counts toward the minimum (one query)."""
    statements = list(statements)
    if not statements:
        return {}
    earliest = min(s.bill_date for s in statements)
    rows = (
        Repayment.objects.filter(account_id__in={s.account_id for s in statements}, received_on__gte=earliest,
                                 status=Repayment.Status.POSTED)
        .exclude(kind=Repayment.Kind.RECOVERY).values_list("account_id", "received_on", "amount")
    )
    by_account: dict[int, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for account_id, received_on, amount in rows:
        by_account[account_id].append((received_on, amount))
    return {
        s.pk: sum((a for d, a in by_account.get(s.account_id, ()) if d >= s.bill_date), ZERO) for s in statements
    }


_FIELDS = ("pk", "account_id", "due_date", "bill_date", "minimum_payment", "status")


def statements_before_due(account_ids: Sequence[int] | None, *, due_dates: Iterable[dt.date]) -> list[StatementDue]:
    """Open statements falling due on one of ``due_dates`` whose bills are not cleared."""
    statements = list(
        Statement.objects.filter(_account_filter(account_ids), due_date__in=list(due_dates), status=Statement.Status.OPEN)
        .only(*_FIELDS)
    )
    return _with_amounts(statements)


def statements_past_due(account_ids: Sequence[int] | None, *, on: dt.date) -> list[StatementDue]:
    """One statement per account whose due date has passed unpaid, as of the close of ``on``:

    - an overdue account (DPD > 0, not written off): the statement its days past due count from
      (``due_date`` = ``on − dpd``), with the past-due amount to pay;
    - otherwise a statement still open after its due date (inside the grace days), with the rest of
      its minimum to pay."""
    overdue = dict(
        CreditAccount.objects.filter(_account_filter(account_ids, "pk"), dpd__gt=0, written_off_on__isnull=True)
        .values_list("pk", "dpd")
    )
    since = {account_id: on - dt.timedelta(days=dpd) for account_id, dpd in overdue.items()}
    chosen: dict[int, tuple[Statement, dt.date]] = {}
    if overdue:
        for statement in (
            Statement.objects.filter(account_id__in=list(overdue), status=Statement.Status.OVERDUE)
            .order_by("account_id", "due_date", "pk").only(*_FIELDS)
        ):
            if statement.due_date <= since[statement.account_id]:
                chosen[statement.account_id] = (statement, since[statement.account_id])  # the latest such
    for statement in (
        Statement.objects.filter(_account_filter(account_ids), status=Statement.Status.OPEN, due_date__lte=on)
        .order_by("account_id", "due_date", "pk").only(*_FIELDS)
    ):
        if statement.account_id not in overdue:
            chosen.setdefault(statement.account_id, (statement, statement.due_date))
    return _with_amounts([s for s, _ in chosen.values()], due_dates={s.pk: d for s, d in chosen.values()},
                         past_due_accounts=set(overdue))


def _with_amounts(statements: list[Statement], *, due_dates: dict[int, dt.date] | None = None,
                  past_due_accounts: set[int] = frozenset()) -> list[StatementDue]:
    if not statements:
        return []
    amounts = account_amounts([s.account_id for s in statements])
    paid = _paid_toward(statements)
    result = []
    for s in statements:
        totals = amounts.get(s.account_id, AccountAmounts())
        owed = totals.billed_unpaid
        if owed <= ZERO:
            continue
        if s.account_id in past_due_accounts and s.status == Statement.Status.OVERDUE:
            to_pay = totals.past_due
        else:
            to_pay = max(s.minimum_payment - paid.get(s.pk, ZERO), ZERO)
        result.append(StatementDue(s.pk, s.account_id, (due_dates or {}).get(s.pk, s.due_date), min(to_pay, owed), owed))
    return result


def statement_still_unpaid(statement_id: int) -> bool:
    """Whether a reminder about the statement is still true at send time (two small queries): an open
    statement whose account has billed lines or charges still open, or an overdue one on an account
    still past due."""
    statement = Statement.objects.filter(pk=statement_id).values("status", "account_id").first()
    if statement is None or statement["status"] not in (Statement.Status.OPEN, Statement.Status.OVERDUE):
        return False
    account_id = statement["account_id"]
    if statement["status"] == Statement.Status.OVERDUE:
        return CreditAccount.objects.filter(pk=account_id, dpd__gt=0, written_off_on__isnull=True).exists()
    return (
        ScheduleLine.objects.filter(account_id=account_id, status__in=OPEN_BILLED).exists()
        or Charge.objects.annotate(open=ExpressionWrapper(_CHARGE_OPEN, output_field=_MONEY))
        .filter(account_id=account_id, open__gt=0).exists()
    )


# --- Repayments -----------------------------------------------------------------------------------


def repayments_received(account_ids: Iterable[int], *, start: dt.date, end: dt.date) -> list[tuple[int, dt.date, Decimal]]:
    """Posted (not reversed) repayments received from ``start`` through ``end``: (account, date, amount)."""
    return list(
        Repayment.objects.filter(account_id__in=list(account_ids), received_on__gte=start, received_on__lte=end,
                                 status=Repayment.Status.POSTED)
        .order_by("received_on", "pk").values_list("account_id", "received_on", "amount")
    )


def account_statements(account_id: int, *, limit: int = 6) -> QuerySet[Statement]:
    return Statement.objects.filter(account_id=account_id).exclude(status=Statement.Status.DRAFT).order_by(
        "-bill_date")[:limit]


def account_repayments(account_id: int, *, limit: int = 10) -> QuerySet[Repayment]:
    return Repayment.objects.filter(account_id=account_id).order_by("-received_on", "-pk")[:limit]
