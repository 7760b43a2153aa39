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
from django.db.models.functions import Coalesce

from core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, ZERO
from installments.models import Charge, Repayment, ScheduleLine, Statement

_MONEY = DecimalField(max_digits=MONEY_MAX_DIGITS + 2, decimal_places=MONEY_DECIMAL_PLACES)
_PRINCIPAL_OPEN = F("principal") - F("principal_paid") - F("principal_reduced") - F("principal_written_off")
_FEE_OPEN = F("fee") - F("fee_paid") - F("fee_waived") - F("fee_written_off")
_CHARGE_OPEN = F("amount") - F("paid") - F("waived") - F("written_off")
OPEN_BILLED = [s.value for s in ScheduleLine.OPEN_BILLED]
OPEN_LINES = [s.value for s in ScheduleLine.OPEN]


def _sum(expr) -> Coalesce:
    return Coalesce(Sum(ExpressionWrapper(expr, output_field=_MONEY)), Value(ZERO), output_field=_MONEY)


def _account_filter(account_ids: Sequence[int] | None, field: str = "account_id") -> Q:
    if account_ids is None:
        return Q()
    if isinstance(account_ids, range) and account_ids.step == 1:
        return Q(**{f"{field}__gte": account_ids.start, f"{field}__lt": account_ids.stop})
    return Q(**{f"{field}__in": list(account_ids)})


@dataclass(frozen=True)
class AccountAmounts:
    past_due: Decimal = ZERO  # overdue lines + open late fees
    billed_unpaid: Decimal = ZERO  # every billed, unpaid line + open charges (what clears the bills)
    balance: Decimal = ZERO  # everything owed: open principal (billed or not) + billed fees + charges


def account_amounts(account_ids: Sequence[int] | None) -> dict[int, AccountAmounts]:
    """Amounts per account (three grouped queries, whatever the number of accounts)."""
    overdue = dict(
        ScheduleLine.objects.filter(_account_filter(account_ids), status=ScheduleLine.Status.OVERDUE)
        .values("account_id").annotate(t=_sum(_PRINCIPAL_OPEN + _FEE_OPEN)).values_list("account_id", "t")
    )
    billed = dict(
        ScheduleLine.objects.filter(_account_filter(account_ids), status__in=OPEN_BILLED)
        .values("account_id").annotate(t=_sum(_PRINCIPAL_OPEN + _FEE_OPEN)).values_list("account_id", "t")
    )
    unbilled = dict(
        ScheduleLine.objects.filter(_account_filter(account_ids), status=ScheduleLine.Status.PENDING)
        .values("account_id").annotate(t=_sum(_PRINCIPAL_OPEN)).values_list("account_id", "t")
    )
    charges: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for account_id, kind, total in (
        Charge.objects.filter(_account_filter(account_ids))
        .values("account_id", "kind").annotate(t=_sum(_CHARGE_OPEN)).values_list("account_id", "kind", "t")
    ):
        charges[account_id][kind] = total
    result: dict[int, AccountAmounts] = {}
    for account_id in set(overdue) | set(billed) | set(unbilled) | set(charges):
        open_charges = sum(charges.get(account_id, {}).values(), ZERO)
        late = charges.get(account_id, {}).get(Charge.Kind.LATE_FEE, ZERO)
        result[account_id] = AccountAmounts(
            past_due=overdue.get(account_id, ZERO) + late,
            billed_unpaid=billed.get(account_id, ZERO) + open_charges,
            balance=billed.get(account_id, ZERO) + unbilled.get(account_id, ZERO) + open_charges,
        )
    return result


# --- Statements for reminders ------------------------------------------------------------------


@dataclass(frozen=True)
class StatementDue:
    statement_id: int
    account_id: int
    due_date: dt.date
    minimum_payment: Decimal  # still to pay to reach the minimum
    amount_due: Decimal  # still to pay to clear the bills


def _paid_since(statements: Iterable[Statement]) -> dict[int, Decimal]:
    """Posted repayments per statement received after its bill date (one query)."""
    statements = list(statements)
    if not statements:
        return {}
    earliest = min(s.bill_date for s in statements)
    rows = (
        Repayment.objects.filter(account_id__in={s.account_id for s in statements}, received_on__gt=earliest,
                                 status=Repayment.Status.POSTED)
        .values_list("account_id", "received_on", "amount")
    )
    by_account: dict[int, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for account_id, received_on, amount in rows:
        by_account[account_id].append((received_on, amount))
    return {
        s.pk: sum((a for d, a in by_account.get(s.account_id, ()) if d > s.bill_date), ZERO) for s in statements
    }


def statements_before_due(account_ids: Sequence[int] | None, *, due_dates: Iterable[dt.date]) -> list[StatementDue]:
    """Open statements falling due on one of ``due_dates`` whose bills are not cleared."""
    statements = list(
        Statement.objects.filter(_account_filter(account_ids), due_date__in=list(due_dates), status=Statement.Status.OPEN)
        .only("pk", "account_id", "due_date", "bill_date", "minimum_payment")
    )
    return _with_amounts(statements)


def statements_past_due(account_ids: Sequence[int] | None, *, on: dt.date) -> list[StatementDue]:
    """Per account, the oldest statement that fell due before ``on`` with its minimum unpaid
    (the one the days past due count from)."""
    statements = list(
        Statement.objects.filter(_account_filter(account_ids), status=Statement.Status.OVERDUE, due_date__lt=on,
                                 resolved_on__isnull=True)
        .order_by("account_id", "due_date", "pk")
        .only("pk", "account_id", "due_date", "bill_date", "minimum_payment")
    )
    oldest: dict[int, Statement] = {}
    for statement in statements:
        oldest.setdefault(statement.account_id, statement)
    return _with_amounts(list(oldest.values()))


def _with_amounts(statements: list[Statement]) -> list[StatementDue]:
    if not statements:
        return []
    amounts = account_amounts([s.account_id for s in statements])
    paid = _paid_since(statements)
    result = []
    for s in statements:
        owed = amounts.get(s.account_id, AccountAmounts()).billed_unpaid
        if owed <= ZERO:
            continue
        minimum = max(s.minimum_payment - paid.get(s.pk, ZERO), ZERO)
        result.append(StatementDue(s.pk, s.account_id, s.due_date, min(minimum, owed), owed))
    return result


def statement_still_unpaid(statement_id: int) -> bool:
    """Whether the statement a reminder is about still needs paying (checked again at send time)."""
    statement = Statement.objects.filter(pk=statement_id).only("status", "account_id", "resolved_on").first()
    if statement is None or statement.status in (Statement.Status.PAID,):
        return False
    amounts = account_amounts([statement.account_id]).get(statement.account_id, AccountAmounts())
    return amounts.billed_unpaid > ZERO


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
