"""What collections reads from the credit engine (``installments``): statements, amounts past due and
repayments. Every read of the engine's tables goes through here, in set-based queries, so the rest of
the app depends on a handful of functions rather than on the engine's schema."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import DecimalField, ExpressionWrapper, F, Q, QuerySet, Sum, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from accounts.models import CreditAccount
from core import sql
from core.money import CENT, MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, ZERO
from core.sql import account_filter
from installments.models import Charge, Repayment, ScheduleLine, Statement

_MONEY = DecimalField(max_digits=MONEY_MAX_DIGITS + 2, decimal_places=MONEY_DECIMAL_PLACES)
_PRINCIPAL_OPEN = F("principal") - F("principal_paid") - F("principal_reduced") - F("principal_written_off")
_FEE_OPEN = F("fee") - F("fee_paid") - F("fee_waived") - F("fee_written_off")
_CHARGE_OPEN = F("amount") - F("paid") - F("waived") - F("written_off")
OPEN_BILLED = [s.value for s in ScheduleLine.OPEN_BILLED]
OPEN_LINES = [s.value for s in ScheduleLine.OPEN]


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
    ``SELECT account_id, past_due, billed_unpaid, balance`` (one row per account that owes anything) for the accounts
    whose ids ``accounts_sql`` selects (a constant SQL subquery, e.g. over a temporary table)."""
    # RawSQL is safe here: accounts_sql is a constant subquery over a temporary table named in the code
    lines, charges = _amount_querysets(Q(account_id__in=RawSQL(accounts_sql, [])))  # nosec B611
    lines_sql, lines_params = lines.query.sql_with_params()
    charges_sql, charges_params = charges.query.sql_with_params()
    sql = (
        "SELECT u.account_id, SUM(u.past_due) AS past_due, SUM(u.billed_unpaid) AS billed_unpaid,"
        " SUM(u.balance) AS balance FROM ("
        "SELECT l.account_id, l.overdue AS past_due, l.billed AS billed_unpaid, l.billed + l.unbilled AS balance"
        f" FROM ({lines_sql}) l UNION ALL"
        " SELECT c.account_id, c.past AS past_due, c.open AS billed_unpaid, c.open AS balance"
        f" FROM ({charges_sql}) c) u GROUP BY u.account_id"
    )
    return sql, [*lines_params, *charges_params]


def account_amounts(account_ids: Sequence[int] | None) -> dict[int, AccountAmounts]:
    """Amounts per account: two grouped queries (lines, charges), whatever the number of accounts."""
    lines, charges = _amount_querysets(account_filter(account_ids))
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


def statement_due(*, statement_id: int, account_id: int, due_date: dt.date, amounts: AccountAmounts,
                  minimum_payment: Decimal, paid: Decimal, past_due_counts: bool) -> StatementDue | None:
    """What a reminder asks for: ``None`` when the bills are cleared; else the amount that clears them and
    what to pay now — the past-due amount (an overdue statement of an overdue account) or the rest of the
    minimum after what was paid since the bill date — never more than what clears the bills."""
    owed = amounts.billed_unpaid
    if owed <= ZERO:
        return None
    to_pay = amounts.past_due if past_due_counts else max(minimum_payment - paid, ZERO)
    return StatementDue(statement_id, account_id, due_date, min(to_pay, owed), owed)


# --- The same, set-based (close of business: one chunk of accounts at a time) ---------------------

T_STMT, T_ACC, T_REP = Statement._meta.db_table, CreditAccount._meta.db_table, Repayment._meta.db_table


def statements_due_into(table: str, account_ids: Sequence[int] | None, *, on: dt.date,
                        before_due_dates: Iterable[dt.date]) -> None:
    """Temporary table ``table`` (statement_id, account_id, due_date, bill_date, minimum_payment,
    past_due_counts) of the statements a reminder may be about, as of the close of ``on`` (three
    ``SELECT``s over the chunk):

    - open statements falling due on one of ``before_due_dates`` (T−n reminders);
    - an overdue account (DPD > 0, not written off): the latest overdue statement its days past due
      count from, with ``due_date`` = ``on − dpd`` and the past-due amount to pay (``past_due_counts``);
    - any other account: its earliest statement still open after its due date (inside the grace
      days), with the rest of its minimum to pay.

    Whether the bills are cleared and what to pay is :func:`statement_dues_from`'s question."""
    d = sql.date(on)
    where, params = sql.scope("s.account_id", account_ids, table=f"{table}_chunk")
    before = [sql.date(x) for x in before_due_dates] or [None]
    since = ("(CAST(%s AS DATE) - a.dpd)" if sql.pg()
             else "date(%s, '-' || a.dpd || ' days')")  # the day the account's DPD count from
    overdue = "a.dpd > 0 AND a.written_off_on IS NULL"
    sql.temp_table(table, f"""
        SELECT s.id AS statement_id, s.account_id, s.due_date, s.bill_date, s.minimum_payment, 0 AS past_due_counts
        FROM {T_STMT} s WHERE s.status = 'open' AND s.due_date IN ({", ".join(["%s"] * len(before))}){where}
        UNION ALL
        SELECT o.statement_id, o.account_id, o.due_date, o.bill_date, o.minimum_payment, 1 FROM (
            SELECT s.id AS statement_id, s.account_id, {since} AS due_date, s.bill_date, s.minimum_payment,
                   ROW_NUMBER() OVER (PARTITION BY s.account_id ORDER BY s.due_date DESC, s.id DESC) AS n
            FROM {T_STMT} s JOIN {T_ACC} a ON a.id = s.account_id
            WHERE {overdue} AND s.status = 'overdue' AND s.due_date <= {since}{where}) o
        WHERE o.n = 1
        UNION ALL
        SELECT o.statement_id, o.account_id, o.due_date, o.bill_date, o.minimum_payment, 0 FROM (
            SELECT s.id AS statement_id, s.account_id, s.due_date, s.bill_date, s.minimum_payment,
                   ROW_NUMBER() OVER (PARTITION BY s.account_id ORDER BY s.due_date, s.id) AS n
            FROM {T_STMT} s JOIN {T_ACC} a ON a.id = s.account_id
            WHERE NOT ({overdue}) AND s.status = 'open' AND s.due_date <= %s{where}) o
        WHERE o.n = 1""", [*before, *params, d, d, *params, d, *params], key="statement_id")


def statement_dues_from(table: str) -> tuple[list[StatementDue], dict[int, Decimal]]:
    """:class:`StatementDue` of every statement in the temporary table ``table`` (columns of
    :func:`statements_due_into`): the amounts of their accounts and the repayments toward each
    statement in two grouped queries, the arithmetic in :func:`statement_due`; and each account's
    past-due amount."""
    amounts_sql, amounts_params = account_amounts_sql(f"SELECT account_id FROM {table}")
    rows = sql.rows(f"""
        SELECT t.statement_id, t.account_id, t.due_date, t.minimum_payment, t.past_due_counts,
               {sql.money("COALESCE(m.past_due, 0)")}, {sql.money("COALESCE(m.billed_unpaid, 0)")},
               {sql.money("COALESCE(p.paid, 0)")}
        FROM {table} t LEFT JOIN ({amounts_sql}) m ON m.account_id = t.account_id
        LEFT JOIN (SELECT t.statement_id, SUM(r.amount) AS paid FROM {table} t
                   JOIN {T_REP} r ON r.account_id = t.account_id AND r.received_on >= t.bill_date
                   WHERE r.status = %s AND r.kind <> %s GROUP BY t.statement_id) p ON p.statement_id = t.statement_id
        ORDER BY t.account_id, t.statement_id""",
        [*amounts_params, Repayment.Status.POSTED, Repayment.Kind.RECOVERY])
    dues, past_dues = [], {}
    for statement_id, account_id, due_date, minimum, counts, past_due, billed_unpaid, paid in rows:
        past_dues[account_id] = as_money(past_due)
        due = statement_due(
            statement_id=statement_id, account_id=account_id, due_date=as_date(due_date),
            amounts=AccountAmounts(past_due=as_money(past_due), billed_unpaid=as_money(billed_unpaid)),
            minimum_payment=as_money(minimum), paid=as_money(paid), past_due_counts=bool(counts),
        )
        if due is not None:
            dues.append(due)
    return dues, past_dues


def as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def as_money(value) -> Decimal:
    """A raw SQL amount (a numeric on PostgreSQL, a float rounded to the cent on SQLite) as money."""
    if isinstance(value, Decimal):
        return value.quantize(CENT)
    return Decimal(str(value)).quantize(CENT)


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


def oldest_overdue_due_date(account_id: int) -> dt.date | None:
    """The due date an account's delinquency runs from: its oldest overdue statement's."""
    return (Statement.objects.filter(account_id=account_id, status=Statement.Status.OVERDUE)
            .order_by("due_date").values_list("due_date", flat=True).first())
