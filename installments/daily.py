"""Close-of-business step functions (PRODUCT §11), set-based.

Each step takes ``(*, on, account_ids=None)`` and returns a count. Each one is idempotent for a date
(running it twice changes nothing) and works with ``INSERT … SELECT`` / ``UPDATE … WHERE`` /
aggregates over the whole chunk at once — never a Python loop over accounts or lines (the one
exception: accounts that hold a credit balance on their bill day, a handful, go through the credit
application service). The SQL is portable between PostgreSQL and SQLite: dates are compared as
dates, day differences go through :func:`_days`, money arithmetic is rounded to the cent (or done
in integer cents) so SQLite's binary floats give the same cents as PostgreSQL's numerics.

When ``account_ids`` is given, the chunk's account rows are locked first (ascending pk), so a step
never interleaves with a purchase or repayment on the same account.

Step order of one business day (``run_day``): expire temporary limits → statements → due dates →
delinquency (DPD, buckets, late and deferral fees) → freezes → write-offs.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import transaction

from accounts.models import BucketChange, CreditAccount, StatusChange
from core.actors import Actor
from core.business_date import get_business_date, set_business_date
from core.sql import cents as _cents, date as _date, date_literal as _lit, days as _days, execute as _exec
from core.sql import from_cents as _from_cents, is_id_range as _is_range, money as _money, now as _now, pg as _pg
from core.sql import positive as _positive, scalar as _scalar
from installments.models import (
    Allocation, Charge, Plan, ProductTerms, Purchase, Refund, Repayment, ScheduleLine, Statement, StatementLine,
    WriteOff,
)
from ledger.models import Codes, JournalEntry
from ledger.services import journal_entry_open, journal_post_select

SYSTEM = Actor.system("cob")

T_ACC = CreditAccount._meta.db_table
T_LINE = ScheduleLine._meta.db_table
T_STMT = Statement._meta.db_table
T_SLINE = StatementLine._meta.db_table
T_CHG = Charge._meta.db_table
T_REP = Repayment._meta.db_table
T_REF = Refund._meta.db_table
T_PLAN = Plan._meta.db_table
T_PUR = Purchase._meta.db_table
T_ALLOC = Allocation._meta.db_table
T_BUCKET = BucketChange._meta.db_table
T_STATUS = StatusChange._meta.db_table
T_WO = WriteOff._meta.db_table

PRINCIPAL_OPEN = "({a}.principal - {a}.principal_paid - {a}.principal_reduced - {a}.principal_written_off)"
FEE_OPEN = "({a}.fee - {a}.fee_paid - {a}.fee_waived - {a}.fee_written_off)"
CHARGE_OPEN = "({a}.amount - {a}.paid - {a}.waived - {a}.written_off)"


#: Cash-loan lines (issue 16) post to their own ledger accounts; the set-based posters split them off.
_NOT_CASH = f"NOT EXISTS (SELECT 1 FROM {T_PLAN} cp WHERE cp.id = l.plan_id AND cp.kind = 'cash_loan')"


def _cash_interest_billed(drafts: str, params: list) -> list:
    """The interest of cash-loan lines billed now: receivable per account, income in total."""
    base = f"""FROM {T_LINE} l JOIN {T_PLAN} cp ON cp.id = l.plan_id AND cp.kind = 'cash_loan'
               WHERE l.statement_id IN ({drafts}) AND l.billed_on = %s"""
    return [
        (f"""SELECT '{Codes.CASH_LOAN_INTEREST}' AS ledger_account_id, l.account_id AS credit_account_id,
                    {_money('SUM(l.fee - l.fee_waived)')} AS debit, 0 AS credit {base} GROUP BY l.account_id""", params),
        (f"""SELECT '{Codes.CASH_LOAN_INTEREST_INCOME}' AS ledger_account_id, CAST(NULL AS BIGINT) AS credit_account_id,
                    0 AS debit, {_money('SUM(l.fee - l.fee_waived)')} AS credit {base}""", params),
    ]


def _cash_open(part: str, w: str, *, bare: bool = False) -> str:
    """Open cash-loan principal (``p``) or billed interest (``f``) of the account of write-off row ``w``,
    before the lines are written off; ``bare`` for the amount alone (else in parentheses for subtraction)."""
    expr = ("cl.principal - cl.principal_paid - cl.principal_reduced - cl.principal_written_off" if part == "p"
            else "cl.fee - cl.fee_paid - cl.fee_waived - cl.fee_written_off")
    billed = "" if part == "p" else " AND cl.billed_on IS NOT NULL"
    sql = (f"""COALESCE((SELECT SUM({expr}) FROM {T_LINE} cl JOIN {T_PLAN} cp ON cp.id = cl.plan_id AND cp.kind = 'cash_loan'
              WHERE cl.account_id = {w}.account_id AND cl.status IN ('pending', 'due', 'deferred', 'overdue'){billed}), 0)""")
    return _money(sql) if bare else f"({_money(sql)})"


def _p_open(a: str) -> str:
    return PRINCIPAL_OPEN.format(a=a)


def _f_open(a: str) -> str:
    return FEE_OPEN.format(a=a)


def _c_open(a: str) -> str:
    return CHARGE_OPEN.format(a=a)


def _ppm(rate) -> int:
    return int((rate * 1_000_000).to_integral_value())


def _chunk_open(account_ids: Sequence[int] | None) -> None:
    """Prepare the chunk filter of :func:`_chunk`. A chunk of close of business is a range of account ids
    (``CobChunk.account_ids``): filtered as ``BETWEEN lo AND hi`` (an index range scan, and the planner
    knows its size). Any other list of ids goes into a per-connection temporary table (``engine_chunk``)
    that every statement of the step semi-joins, instead of repeating a list of 10,000 ids in each
    subquery (which PostgreSQL plans and evaluates far more slowly)."""
    if account_ids is None or _is_range(account_ids):
        return
    _exec("DROP TABLE IF EXISTS engine_chunk")
    _exec("CREATE TEMPORARY TABLE engine_chunk (id BIGINT PRIMARY KEY)")
    ids = sorted({int(i) for i in account_ids})
    for start in range(0, len(ids), 5000):
        _exec("INSERT INTO engine_chunk (id) VALUES " + ", ".join(f"({i})" for i in ids[start:start + 5000]))
    _exec("ANALYZE engine_chunk")  # the planner then knows it holds a chunk, not a guess


def _chunk(alias: str, account_ids: Sequence[int] | None, column: str = "account_id") -> tuple[str, list]:
    """The chunk filter for ``alias.column`` (after :func:`_chunk_open`); no parameters (a range's bounds
    are integers written into the SQL)."""
    if account_ids is None:
        return "", []
    if _is_range(account_ids):
        return f" AND {alias}.{column} BETWEEN {int(account_ids.start)} AND {int(account_ids.stop) - 1}", []
    return f" AND {alias}.{column} IN (SELECT id FROM engine_chunk)", []


def _lock_chunk(account_ids: Sequence[int] | None) -> None:
    """Row-lock the chunk's accounts in ascending pk order (as the services lock one account)."""
    if account_ids is not None:
        chunk_a, _ = _chunk(T_ACC, account_ids, "id")
        _exec(f"SELECT id FROM {T_ACC} WHERE TRUE {chunk_a} ORDER BY id FOR UPDATE"
              if _pg() else "SELECT 1")  # SQLite locks the whole database for a write transaction


def _terms() -> list[ProductTerms]:
    return list(ProductTerms.objects.all())


def _any(sql: str, params: Sequence = ()) -> bool:
    """A cheap guard: skip a step's statements on a day with nothing for them to do."""
    return _scalar(f"SELECT 1 WHERE EXISTS ({sql})", params) is not None


# ------------------------------------------------------------------------------------------------
# statements


@transaction.atomic
def statements_generate(*, on: dt.date, account_ids: Sequence[int] | None = None) -> int:
    """Generate the statement of every account whose bill day is ``on`` and that owes something, holds a
    credit balance or paid something in the cycle. One statement per account and bill date."""
    _chunk_open(account_ids)
    chunk_a, ids = _chunk("a", account_ids, "id")
    if not _any(f"SELECT 1 FROM {T_ACC} a WHERE a.bill_day = %s {chunk_a}", [on.day, *ids]):
        return 0
    _lock_chunk(account_ids)
    created = 0
    for terms in _terms():
        created += _statements_for_product(on, terms, account_ids)
    return created


def _statements_for_product(on: dt.date, terms: ProductTerms, account_ids) -> int:
    due = on + dt.timedelta(days=terms.due_offset_days)
    d_on, d_due, now = _date(on), _date(due), _now()
    chunk_a, ids = _chunk("a", account_ids, "id")
    money_cols = [
        "opening_balance", "purchases_amount", "installments_principal", "installments_fee", "deferral_fees",
        "late_fees", "payments_amount", "refunds_amount", "credit_applied", "adjustments", "closing_balance",
        "revolving_due", "installments_due", "fees_due", "past_due", "minimum_payment",
    ]
    created = _exec(
        f"""
        INSERT INTO {T_STMT} (account_id, bill_date, due_date, period_start, status, resolved_on, created_at,
                              {', '.join(money_cols)})
        SELECT a.id, %s, %s,
               COALESCE((SELECT MAX(p.bill_date) FROM {T_STMT} p WHERE p.account_id = a.id), a.opened_on),
               'draft', NULL, %s,
               COALESCE((SELECT p.closing_balance FROM {T_STMT} p WHERE p.account_id = a.id
                         ORDER BY p.bill_date DESC LIMIT 1), 0),
               {', '.join(['0'] * (len(money_cols) - 1))}
        FROM {T_ACC} a
        WHERE a.product_id = %s AND a.bill_day = %s AND a.status <> 'closed' AND a.written_off_on IS NULL
          AND a.opened_on < %s {chunk_a}
          AND NOT EXISTS (SELECT 1 FROM {T_STMT} s WHERE s.account_id = a.id AND s.bill_date = %s)
          AND (a.used_amount > 0 OR a.credit_balance > 0
               OR EXISTS (SELECT 1 FROM {T_REP} r WHERE r.account_id = a.id AND r.statement_id IS NULL
                          AND r.received_on < %s)
               OR EXISTS (SELECT 1 FROM {T_REF} f WHERE f.account_id = a.id AND f.statement_id IS NULL
                          AND f.created_on < %s))
        """,
        [d_on, d_due, now, terms.product_id, on.day, d_on, *ids, d_on, d_on, d_on],
    )
    if not created:
        return 0
    chunk_s, ids_s = _chunk("s", account_ids)
    drafts = f"SELECT s.id FROM {T_STMT} s WHERE s.status = 'draft' AND s.bill_date = %s {chunk_s}"
    draft_accounts = f"SELECT s.account_id FROM {T_STMT} s WHERE s.status = 'draft' AND s.bill_date = %s {chunk_s}"
    dparams = [d_on, *ids_s]
    this_stmt = f"(SELECT s.id FROM {T_STMT} s WHERE s.account_id = {{t}}.account_id AND s.bill_date = %s)"

    # Bill the lines falling due on this statement's due date (and any left behind by a bill-day change).
    _exec(
        f"""UPDATE {T_LINE} SET status = 'due', billed_on = %s, due_date = %s, statement_id = {this_stmt.format(t=T_LINE)}
            WHERE status = 'pending' AND due_date <= %s AND account_id IN ({draft_accounts})""",
        [d_on, d_due, d_on, d_due, *dparams],
    )
    # Add-ons above the engine bill their per-period amounts with the installments (issue 16: insurance
    # premiums, as charges dated the day before the bill date so every rule for charges applies to them).
    from installments.hooks import run_statement_billers

    run_statement_billers(on=on, drafts=drafts, params=dparams)
    # The cycle's payments, refunds and charges belong to this statement.
    for table, date_col in ((T_REP, "received_on"), (T_REF, "created_on"), (T_CHG, "accrued_on")):
        _exec(
            f"""UPDATE {table} SET statement_id = {this_stmt.format(t=table)}
                WHERE statement_id IS NULL AND {date_col} < %s AND account_id IN ({draft_accounts})""",
            [d_on, d_on, *dparams],
        )
    # Fees of the installments billed now become receivable (journal + used amount).
    entry = journal_post_select(
        kind=JournalEntry.Kind.FEE_BILLED, on=on, memo=f"Installment fees billed {on}", source=f"cob:fees:{on}",
        actor=SYSTEM, balance=(Codes.FEE_INCOME, "credit"),
        selects=[(
            f"""SELECT '{Codes.RECEIVABLE_FEES}' AS ledger_account_id, l.account_id AS credit_account_id,
                       {_money('SUM(l.fee - l.fee_waived)')} AS debit, 0 AS credit
                FROM {T_LINE} l WHERE l.statement_id IN ({drafts}) AND l.billed_on = %s AND {_NOT_CASH}
                GROUP BY l.account_id""",
            [*dparams, d_on],
        ), *_cash_interest_billed(drafts, [*dparams, d_on])],
    )
    if entry is not None:
        _exec(
            f"""UPDATE {T_ACC} SET used_amount = {_money(f'{T_ACC}.used_amount + x.fees')}
                FROM (SELECT l.account_id, SUM(l.fee - l.fee_waived) AS fees FROM {T_LINE} l
                      WHERE l.statement_id IN ({drafts}) AND l.billed_on = %s GROUP BY l.account_id) x
                WHERE {T_ACC}.id = x.account_id AND ROUND(x.fees * 100) <> 0""",
            [*dparams, d_on],
        )
    # Credit balances pay the new bill (the few accounts that hold one).
    from installments.services.repayments import credit_balance_apply

    chunk_set = account_ids if account_ids is None or _is_range(account_ids) else set(account_ids)
    drafts_with_credit = Statement.objects.filter(status=Statement.Status.DRAFT, bill_date=on, account__credit_balance__gt=0)
    if _is_range(account_ids):
        drafts_with_credit = drafts_with_credit.filter(account_id__gte=account_ids.start, account_id__lt=account_ids.stop)
    for statement in drafts_with_credit.select_related("account"):
        if account_ids is not None and statement.account_id not in chunk_set:
            continue
        credit_balance_apply(account=statement.account, on=on, statement=statement, actor=SYSTEM)

    _statement_amounts(on, terms, drafts, dparams)
    _statement_lines(on, drafts, dparams)
    _exec(
        f"""UPDATE {T_STMT} SET status = CASE WHEN {_cents('closing_balance')} <= 0 THEN 'paid' ELSE 'open' END,
                   resolved_on = CASE WHEN {_cents('closing_balance')} <= 0 THEN %s ELSE NULL END
            WHERE id IN ({drafts})""",
        [d_on, *dparams],
    )
    return created


def _statement_amounts(on: dt.date, terms: ProductTerms, drafts: str, dparams: list) -> None:
    S = T_STMT
    d_on = _date(on)
    line_sum = f"COALESCE((SELECT {{expr}} FROM {T_LINE} l WHERE l.statement_id = {S}.id AND {{cond}}), 0)"
    acct_line_sum = f"COALESCE((SELECT {{expr}} FROM {T_LINE} l WHERE l.account_id = {S}.account_id AND {{cond}}), 0)"
    _exec(
        f"""UPDATE {S} SET
            purchases_amount = {_money(line_sum.format(expr='SUM(l.principal - l.principal_reduced)', cond='l.is_revolving'))},
            installments_principal = {_money(line_sum.format(expr='SUM(l.principal - l.principal_reduced)', cond='NOT l.is_revolving'))},
            installments_fee = {_money(line_sum.format(expr='SUM(l.fee - l.fee_waived)', cond='NOT l.is_revolving'))},
            deferral_fees = {_money(f"COALESCE((SELECT SUM(c.amount - c.waived) FROM {T_CHG} c WHERE c.statement_id = {S}.id AND c.kind = 'deferral_fee'), 0)")},
            late_fees = {_money(f"COALESCE((SELECT SUM(c.amount - c.waived) FROM {T_CHG} c WHERE c.statement_id = {S}.id AND c.kind NOT IN ('deferral_fee', 'premium')), 0)")},
            premiums = {_money(f"COALESCE((SELECT SUM(c.amount - c.waived) FROM {T_CHG} c WHERE c.statement_id = {S}.id AND c.kind = 'premium'), 0)")},
            payments_amount = {_money(f"COALESCE((SELECT SUM(r.amount) FROM {T_REP} r WHERE r.statement_id = {S}.id AND r.status = 'posted'), 0)")},
            refunds_amount = {_money(f'''COALESCE((SELECT SUM(f.billed_principal_reduced + f.fees_waived_billed
                                  + CASE WHEN f.excess_to = 'credit_balance' THEN f.excess ELSE 0 END)
                                  FROM {T_REF} f WHERE f.statement_id = {S}.id), 0)''')},
            credit_applied = {_money(f"COALESCE((SELECT SUM(x.amount) FROM {T_ALLOC} x WHERE x.statement_id = {S}.id), 0)")},
            revolving_due = {_money(acct_line_sum.format(expr=f"SUM({_p_open('l')})", cond="l.is_revolving AND l.status IN ('due', 'deferred')"))},
            installments_due = {_money(acct_line_sum.format(expr=f"SUM({_p_open('l')} + {_f_open('l')})", cond="NOT l.is_revolving AND l.status IN ('due', 'deferred')"))},
            past_due = {_money(acct_line_sum.format(expr=f"SUM({_p_open('l')} + {_f_open('l')})", cond="l.status = 'overdue'"))},
            fees_due = {_money(f"COALESCE((SELECT SUM({_c_open('c')}) FROM {T_CHG} c WHERE c.account_id = {S}.account_id AND c.accrued_on < %s), 0)")}
        WHERE id IN ({drafts})""",
        [d_on, *dparams],
    )
    ppm = _ppm(terms.minimum_payment_rate)
    owed = "(revolving_due + installments_due + past_due + fees_due)"
    credit = f"(SELECT a.credit_balance FROM {T_ACC} a WHERE a.id = {S}.account_id)"
    share = _from_cents(f"({_cents('revolving_due')} * {ppm} + 500000) / 1000000")
    minimum_sql = f"{share} + installments_due + past_due + fees_due"
    rolled = ("(opening_balance + purchases_amount + installments_principal + installments_fee + deferral_fees + late_fees + premiums"
              " - payments_amount - refunds_amount)")
    _exec(
        f"""UPDATE {S} SET
            closing_balance = {_money(f'{owed} - {credit}')},
            minimum_payment = {_money(minimum_sql)}
        WHERE id IN ({drafts})""",
        dparams,
    )
    _exec(f"UPDATE {S} SET adjustments = {_money(f'closing_balance - {rolled}')} WHERE id IN ({drafts})", dparams)


def _statement_lines(on: dt.date, drafts: str, dparams: list) -> None:
    d_on = _date(on)
    cols = "(statement_id, position, kind, on_date, description, principal, fee, amount, ref)"
    concat = (lambda *parts: " || ".join(parts))
    inserts = [
        # opening balance
        (f"""SELECT s.id, 0, 'opening', s.period_start, 'Opening balance', 0, 0, s.opening_balance, ''
             FROM {T_STMT} s WHERE s.id IN ({drafts})""", dparams),
        # new revolving purchases
        (f"""SELECT l.statement_id, 10, 'purchase', p.posted_on, {concat("'Purchase '", 'p.merchant_order_id')},
                    l.principal - l.principal_reduced, 0, l.principal - l.principal_reduced, p.reference
             FROM {T_LINE} l JOIN {T_PLAN} pl ON pl.id = l.plan_id JOIN {T_PUR} p ON p.id = pl.purchase_id
             WHERE l.statement_id IN ({drafts}) AND l.is_revolving""", dparams),
        # installments falling due
        (f"""SELECT l.statement_id, 20, 'installment', l.due_date,
                    {concat("'Installment '", 'CAST(l.period AS VARCHAR(4))', "'/'", 'CAST(pl.tenor AS VARCHAR(4))', "' of '", 'pl.reference')},
                    l.principal - l.principal_reduced, l.fee - l.fee_waived,
                    l.principal - l.principal_reduced + l.fee - l.fee_waived, pl.reference
             FROM {T_LINE} l JOIN {T_PLAN} pl ON pl.id = l.plan_id
             WHERE l.statement_id IN ({drafts}) AND NOT l.is_revolving AND l.billed_on = %s""", [*dparams, d_on]),
        # fees of the cycle
        (f"""SELECT s.id, 30, 'deferral_fee', NULL, 'Deferral fees', 0, s.deferral_fees, s.deferral_fees, ''
             FROM {T_STMT} s WHERE s.id IN ({drafts}) AND {_positive('s.deferral_fees')}""", dparams),
        (f"""SELECT s.id, 31, 'late_fee', NULL, 'Late fees', 0, s.late_fees, s.late_fees, ''
             FROM {T_STMT} s WHERE s.id IN ({drafts}) AND {_positive('s.late_fees')}""", dparams),
        (f"""SELECT s.id, 32, 'premium', NULL, 'Insurance premiums', 0, s.premiums, s.premiums, ''
             FROM {T_STMT} s WHERE s.id IN ({drafts}) AND {_positive('s.premiums')}""", dparams),
        # payments and refunds received
        (f"""SELECT r.statement_id, 40, 'payment', r.received_on, {concat("'Payment '", 'r.external_ref')}, 0, 0, -r.amount, r.reference
             FROM {T_REP} r WHERE r.statement_id IN ({drafts}) AND r.status = 'posted'""", dparams),
        (f"""SELECT f.statement_id, 50, 'refund', f.created_on, {concat("'Refund of '", 'p.merchant_order_id')}, 0, 0,
                    -(f.billed_principal_reduced + f.fees_waived_billed + CASE WHEN f.excess_to = 'credit_balance' THEN f.excess ELSE 0 END),
                    f.reference
             FROM {T_REF} f JOIN {T_PUR} p ON p.id = f.purchase_id WHERE f.statement_id IN ({drafts})""", dparams),
        (f"""SELECT s.id, 80, 'adjustment', NULL, 'Other adjustments (bill installments, early settlement, refunds of future installments)',
                    0, 0, s.adjustments, ''
             FROM {T_STMT} s WHERE s.id IN ({drafts}) AND ROUND(s.adjustments * 100) <> 0""", dparams),
        (f"""SELECT s.id, 90, 'closing', s.bill_date, 'Closing balance', 0, 0, s.closing_balance, ''
             FROM {T_STMT} s WHERE s.id IN ({drafts})""", dparams),
    ]
    # One statement for all the kinds of line (fewer round trips per chunk).
    _exec(f"INSERT INTO {T_SLINE} {cols} " + " UNION ALL ".join(sql for sql, _ in inserts),
          [p for _, params in inserts for p in params])


# ------------------------------------------------------------------------------------------------
# due dates


def _paid_toward(s: str) -> str:
    """Payments and bill credits received since the statement's bill date (PRODUCT §4: toward the minimum)."""
    return (f"(COALESCE((SELECT SUM(r.amount) FROM {T_REP} r WHERE r.account_id = {s}.account_id AND r.status = 'posted'"
            f" AND r.kind <> 'recovery' AND r.received_on >= {s}.bill_date), 0)"
            f" + COALESCE((SELECT SUM(f.billed_principal_reduced + f.fees_waived_billed) FROM {T_REF} f"
            f" WHERE f.account_id = {s}.account_id AND f.created_on >= {s}.bill_date), 0))")


@transaction.atomic
def due_dates_settle(*, on: dt.date, account_ids: Sequence[int] | None = None) -> int:
    """Judge every open statement whose due date has come: paid in full → nothing charged; at least the
    minimum paid → its unpaid lines are deferred (deferral fee accrues on the revolving part); below the
    minimum once the grace days have passed → overdue (lines and unpaid charges, from the due date)."""
    _chunk_open(account_ids)
    S = T_STMT
    d_on = _date(on)
    resolved = 0
    chunk_s, ids = _chunk(S, account_ids)
    chunk_stmt, _ = _chunk("s", account_ids)
    if not _any(f"SELECT 1 FROM {S} WHERE {S}.status = 'open' AND {S}.due_date <= %s {chunk_s}", [d_on, *ids]):
        return 0
    _lock_chunk(account_ids)
    for terms in _terms():
        product = f"AND EXISTS (SELECT 1 FROM {T_ACC} a WHERE a.id = {S}.account_id AND a.product_id = %s)"
        base = f"{S}.status = 'open' AND {S}.due_date <= %s {product} {chunk_s}"
        bparams = [d_on, terms.product_id, *ids]
        open_lines = (f"EXISTS (SELECT 1 FROM {T_LINE} l WHERE l.account_id = {S}.account_id"
                      f" AND l.status IN ('due', 'deferred', 'overdue') AND l.due_date <= {S}.due_date)")
        open_charges = (f"EXISTS (SELECT 1 FROM {T_CHG} c WHERE c.account_id = {S}.account_id"
                        f" AND c.accrued_on < {S}.bill_date AND {_positive(_c_open('c'))})")
        resolved += _exec(
            f"UPDATE {S} SET status = 'paid', resolved_on = %s WHERE {base} AND NOT {open_lines} AND NOT {open_charges}",
            [d_on, *bparams],
        )
        n_min = _exec(
            f"""UPDATE {S} SET status = 'minimum_paid', resolved_on = %s
                WHERE {base} AND {_cents(_paid_toward(S))} >= {_cents(f'{S}.minimum_payment')}""",
            [d_on, *bparams],
        )
        resolved += n_min
        if n_min:
            # One aggregate of today's minimum-paid statements per account, joined (not a correlated
            # subquery per line).
            _exec(
                f"""UPDATE {T_LINE} SET status = 'deferred', deferred_from = COALESCE({T_LINE}.deferred_from, x.due)
                    FROM (SELECT s.account_id, MAX(s.due_date) AS due FROM {T_STMT} s
                          WHERE s.status = 'minimum_paid' AND s.resolved_on = %s {chunk_stmt} GROUP BY s.account_id) x
                    WHERE {T_LINE}.account_id = x.account_id AND {T_LINE}.status = 'due' AND {T_LINE}.due_date <= x.due""",
                [d_on],
            )
        cutoff = on - dt.timedelta(days=terms.grace_days)
        n_over = _exec(
            f"UPDATE {S} SET status = 'overdue', resolved_on = %s WHERE {S}.status = 'open' AND {S}.due_date <= %s {product} {chunk_s}",
            [d_on, _date(cutoff), terms.product_id, *ids],
        )
        resolved += n_over
        if n_over:
            # Today's overdue statements aggregated once per account of the chunk, then joined.
            went = (f"""(SELECT s.account_id, MIN(s.due_date) AS since, MAX(s.due_date) AS due, MAX(s.bill_date) AS bill
                         FROM {T_STMT} s WHERE s.status = 'overdue' AND s.resolved_on = %s {chunk_stmt}
                         GROUP BY s.account_id) x""")
            _exec(
                f"""UPDATE {T_LINE} SET status = 'overdue', overdue_from = x.since FROM {went}
                    WHERE {T_LINE}.account_id = x.account_id AND {T_LINE}.status IN ('due', 'deferred')
                      AND {T_LINE}.due_date <= x.due""",
                [d_on],
            )
            _exec(
                f"""UPDATE {T_CHG} SET overdue_from = x.since FROM {went}
                    WHERE {T_CHG}.account_id = x.account_id AND {T_CHG}.overdue_from IS NULL
                      AND {_positive(_c_open(T_CHG))} AND {T_CHG}.accrued_on < x.bill""",
                [d_on],
            )
    return resolved


# ------------------------------------------------------------------------------------------------
# delinquency: DPD, buckets, late fees, deferral fees


def _bucket_case(dpd: str) -> str:
    return (f"CASE WHEN {dpd} <= 0 THEN 'M0' WHEN {dpd} <= 30 THEN 'M1' WHEN {dpd} <= 60 THEN 'M2'"
            f" WHEN {dpd} <= 90 THEN 'M3' WHEN {dpd} <= 120 THEN 'M4' WHEN {dpd} <= 150 THEN 'M5'"
            f" WHEN {dpd} <= 180 THEN 'M6' ELSE 'M7' END")


def _greatest(a: str, b: str) -> str:
    return f"GREATEST({a}, {b})" if _pg() else f"MAX({a}, {b})"


def _fence() -> str:
    """Keep a derived table from being flattened (so a correlated subquery in it runs once per row)."""
    return " OFFSET 0" if _pg() else " LIMIT -1 OFFSET 0"


@transaction.atomic
def delinquency_update(*, on: dt.date, account_ids: Sequence[int] | None = None) -> int:
    """DPD from the oldest overdue due date (PRODUCT §6), bucket with a ``BucketChange`` per change, the
    day's late fees (every day past due, grace days included once grace is exceeded; at least the daily
    minimum) and deferral fees. Returns the number of accounts updated plus charges accrued.

    One pass over the overdue lines fills a per-connection temporary table (oldest overdue date and
    unpaid past-due amount per account) that the fee, bucket and account statements then read."""
    _chunk_open(account_ids)
    lit = _lit(on)
    chunk_l, ids = _chunk("l", account_ids)
    chunk_c, _ = _chunk("c", account_ids)
    chunk_a, _ = _chunk(T_ACC, account_ids, "id")
    if not (_any(f"SELECT 1 FROM {T_LINE} l WHERE l.status IN ('overdue', 'deferred') {chunk_l}", ids)
            or _any(f"SELECT 1 FROM {T_ACC} WHERE {T_ACC}.dpd > 0 AND {T_ACC}.written_off_on IS NULL {chunk_a}", ids)):
        return 0
    _lock_chunk(account_ids)
    _exec("DROP TABLE IF EXISTS engine_overdue")
    # Unpaid charges keep an account past due only once its overdue lines are repaid: looked up just for
    # accounts already past due without an overdue line (so the charges table is never scanned whole).
    _exec(
        f"""CREATE TEMPORARY TABLE engine_overdue AS
            SELECT u.account_id, MIN(u.since) AS since, {_money('SUM(u.base)')} AS base FROM (
                SELECT l.account_id, l.overdue_from AS since, {_p_open('l')} + {_f_open('l')} AS base
                FROM {T_LINE} l WHERE l.status = 'overdue' {chunk_l}
                UNION ALL
                SELECT c.account_id, c.overdue_from, 0 FROM {T_CHG} c JOIN {T_ACC} ca ON ca.id = c.account_id
                WHERE ca.dpd > 0 AND NOT EXISTS (SELECT 1 FROM {T_LINE} l2 WHERE l2.account_id = ca.id AND l2.status = 'overdue')
                  AND c.overdue_from IS NOT NULL AND {_positive(_c_open('c'))} {chunk_c}) u
            GROUP BY u.account_id""",
        [*ids, *ids],
    )
    entries = []
    count = 0
    for terms in _terms():
        for kind in (Charge.Kind.LATE_FEE, Charge.Kind.DEFERRAL_FEE):
            n, entry = _accrue(on, terms, account_ids, kind=kind)
            count += n
            if entry is not None:
                entries.append(entry.pk)
    new_dpd = _days(lit, "x.since")
    delta = f"""(SELECT t.account_id, MIN(t.since) AS since, {_money('SUM(t.added)')} AS added FROM (
                    SELECT o.account_id, o.since, 0 AS added FROM engine_overdue o
                    {f"UNION ALL SELECT c.account_id, NULL, c.amount FROM {T_CHG} c WHERE c.journal_entry_id IN ({', '.join(str(e) for e in entries)})" if entries else ""}
                ) t GROUP BY t.account_id)"""
    # Bucket history first (it needs the old bucket), then DPD, bucket and the day's charges in one update.
    # ON CONFLICT (not NOT EXISTS): the planner's statistics never count the rows earlier chunks inserted
    # today, and an anti-join planned for "no rows" scanned them once per account (2.9 s a chunk at 1M lines).
    _exec(
        f"""INSERT INTO {T_BUCKET} (account_id, on_date, old_bucket, new_bucket, dpd, created_at)
            SELECT a.id, %s, a.bucket, {_bucket_case(new_dpd)}, {new_dpd}, %s
            FROM {T_ACC} a JOIN engine_overdue x ON x.account_id = a.id
            WHERE a.written_off_on IS NULL AND a.bucket <> {_bucket_case(new_dpd)}
            ON CONFLICT (account_id, on_date) DO NOTHING""",
        [_date(on), _now()],
    )
    dpd_or_keep = f"CASE WHEN x.since IS NULL THEN {T_ACC}.dpd ELSE {new_dpd} END"
    count += _exec(
        f"""UPDATE {T_ACC} SET dpd = {dpd_or_keep}, bucket = CASE WHEN x.since IS NULL THEN {T_ACC}.bucket ELSE {_bucket_case(new_dpd)} END,
                   used_amount = {_money(f'{T_ACC}.used_amount + x.added')}
            FROM {delta} x
            WHERE x.account_id = {T_ACC}.id AND {T_ACC}.written_off_on IS NULL
              AND ({T_ACC}.dpd <> {dpd_or_keep} OR ROUND(x.added * 100) <> 0)""",
    )
    cured = f"""{T_ACC}.dpd > 0 AND {T_ACC}.written_off_on IS NULL {chunk_a}
                AND NOT EXISTS (SELECT 1 FROM engine_overdue o WHERE o.account_id = {T_ACC}.id)"""
    _exec(
        f"""INSERT INTO {T_BUCKET} (account_id, on_date, old_bucket, new_bucket, dpd, created_at)
            SELECT {T_ACC}.id, %s, {T_ACC}.bucket, 'M0', 0, %s FROM {T_ACC}
            WHERE {cured} AND {T_ACC}.bucket <> 'M0'
            ON CONFLICT (account_id, on_date) DO NOTHING""",
        [_date(on), _now(), *ids],
    )
    count += _exec(f"UPDATE {T_ACC} SET dpd = 0, bucket = 'M0' WHERE {cured}", ids)
    _exec("DROP TABLE engine_overdue")
    return count


def _accrue(on: dt.date, terms: ProductTerms, account_ids, *, kind: str) -> tuple[int, JournalEntry | None]:
    """Insert the day's charges of ``kind`` for ``terms``' accounts, pointing at a new journal entry, and
    post that entry from them. Returns (charges inserted, entry or None)."""
    d_on = _date(on)
    late = kind == Charge.Kind.LATE_FEE
    if late:
        ppm, minimum = _ppm(terms.late_fee_daily_rate), int(terms.late_fee_daily_minimum * 100)
        source = f"""(SELECT o.account_id, o.base, o.since, 0 AS prior_units, 0 AS prior_cents
                      FROM engine_overdue o JOIN {T_ACC} a ON a.id = o.account_id
                      WHERE a.product_id = %s AND a.written_off_on IS NULL AND {_positive('o.base')})"""
        sparams = [terms.product_id]
    else:
        ppm, minimum = _ppm(terms.deferral_daily_rate), 0
        chunk_l, ids = _chunk("l", account_ids)
        # The one deferral rule (calc.deferral_fee_accrual): unrounded since the last statement, rounded
        # once — each posting tops the running total up to the rounded exact fee of the unbilled run.
        unbilled = f"FROM {T_CHG} c WHERE c.account_id = d.account_id AND c.kind = 'deferral_fee' AND c.statement_id IS NULL"
        source = f"""(SELECT d.account_id, d.base, d.since,
                             CAST(COALESCE((SELECT SUM({_cents('c.base_amount')} * c.days) {unbilled}), 0) AS BIGINT)
                                 AS prior_units,
                             CAST(COALESCE((SELECT SUM({_cents('c.amount')}) {unbilled}), 0) AS BIGINT) AS prior_cents
                      FROM (SELECT l.account_id, {_money(f"SUM({_p_open('l')})")} AS base, MIN(l.deferred_from) AS since
                            FROM {T_LINE} l JOIN {T_ACC} a ON a.id = l.account_id
                            WHERE l.status = 'deferred' AND l.is_revolving AND l.deferred_from < %s AND a.product_id = %s
                              AND a.written_off_on IS NULL {chunk_l}
                            GROUP BY l.account_id) d)"""
        sparams = [d_on, terms.product_id, *ids]
    if ppm == 0 and minimum == 0:
        return 0, None
    last = f"(SELECT MAX(c.accrued_on) FROM {T_CHG} c WHERE c.account_id = x.account_id AND c.kind = '{kind}')"
    days = _days(_lit(on), "y.start")
    base_cents = _cents("y.base")
    if late:
        daily = f"(({base_cents} * {ppm} + 500000) / 1000000)"
        amount_cents = f"(CASE WHEN {daily} < {minimum} THEN {minimum} ELSE {daily} END) * {days}"
    else:
        amount_cents = f"((((y.prior_units + {base_cents} * {days}) * {ppm} + 500000) / 1000000) - y.prior_cents)"
    entry = journal_entry_open(kind=JournalEntry.Kind.LATE_FEE if late else JournalEntry.Kind.DEFERRAL_FEE, on=on,
                               memo=f"{'Late' if late else 'Deferral'} fees accrued {on}", source=f"cob:{kind}:{on}",
                               actor=SYSTEM)
    inserted = _exec(
        f"""INSERT INTO {T_CHG} (account_id, kind, accrued_on, days, base_amount, amount, paid, waived, written_off,
                                 statement_id, overdue_from, plan_id, journal_entry_id, created_at)
            SELECT z.account_id, '{kind}', %s, z.days, z.base, {_from_cents('z.amount_cents')}, 0, 0, 0, NULL, NULL, NULL, %s, %s
            FROM (SELECT y.account_id, y.base, {days} AS days, {amount_cents} AS amount_cents
                  FROM (SELECT x.account_id, x.base, x.prior_units, x.prior_cents,
                               {_greatest(f'COALESCE({last}, x.since)', 'x.since')} AS start
                        FROM {source} x {_fence()}) y) z
            WHERE z.days > 0 AND z.amount_cents > 0""",
        [d_on, entry.pk, _now(), *sparams],
    )
    code, income = ((Codes.RECEIVABLE_LATE_FEES, Codes.LATE_FEE_INCOME) if late
                    else (Codes.RECEIVABLE_DEFERRAL_FEES, Codes.DEFERRAL_FEE_INCOME))
    if not inserted:
        entry.delete()
        return 0, None
    posted = journal_post_select(
        kind=entry.kind, on=on, entry=entry, balance=(income, "credit"),
        selects=[(f"""SELECT '{code}' AS ledger_account_id, c.account_id AS credit_account_id, c.amount AS debit, 0 AS credit
                      FROM {T_CHG} c WHERE c.journal_entry_id = %s""", [entry.pk])],
    )
    return inserted, posted


# ------------------------------------------------------------------------------------------------
# freezes and write-offs


@transaction.atomic
def freezes_sync(*, on: dt.date, account_ids: Sequence[int] | None = None) -> int:
    """Freeze active accounts that are overdue; lift overdue freezes once nothing is past due. A manual
    freeze is never touched (the accounts services' rule), nor a closed or written-off account."""
    _chunk_open(account_ids)
    chunk_a, ids = _chunk(T_ACC, account_ids, "id")
    if not _any(f"""SELECT 1 FROM {T_ACC} WHERE ({T_ACC}.status = 'active' AND {T_ACC}.dpd > 0
                    OR {T_ACC}.status = 'frozen' AND {T_ACC}.freeze_reason = 'overdue' AND {T_ACC}.dpd = 0) {chunk_a}""", ids):
        return 0
    _lock_chunk(account_ids)
    now = _now()
    changed = 0
    for old_status, new_status, old_reason, new_reason, cond, why in (
        ("active", "frozen", "", "overdue", f"{T_ACC}.status = 'active' AND {T_ACC}.dpd > 0", "overdue (DPD > 0)"),
        ("frozen", "active", "overdue", "", f"{T_ACC}.status = 'frozen' AND {T_ACC}.freeze_reason = 'overdue'"
                                              f" AND {T_ACC}.dpd = 0 AND {T_ACC}.written_off_on IS NULL", "cured: nothing past due"),
    ):
        _exec(
            f"""INSERT INTO {T_STATUS} (account_id, old_status, new_status, old_freeze_reason, new_freeze_reason,
                                        reason, actor_id, actor_rule, created_at)
                SELECT {T_ACC}.id, '{old_status}', '{new_status}', '{old_reason}', '{new_reason}', %s, NULL, %s, %s
                FROM {T_ACC} WHERE {cond} {chunk_a}""",
            [why, "cob:freezes_sync", now, *ids],
        )
        changed += _exec(
            f"UPDATE {T_ACC} SET status = '{new_status}', freeze_reason = '{new_reason}', updated_at = %s WHERE {cond} {chunk_a}",
            [now, *ids],
        )
    return changed


@transaction.atomic
def write_offs(*, on: dt.date, account_ids: Sequence[int] | None = None) -> int:
    """Charge off accounts at DPD 180 (PRODUCT §6): every open line and charge is written off (unbilled
    future fees are waived: never earned), the loss is journalled, the bucket becomes M7+."""
    _chunk_open(account_ids)
    d_on = _date(on)
    chunk_a, ids = _chunk("a", account_ids, "id")
    if not _any(f"SELECT 1 FROM {T_ACC} a WHERE a.written_off_on IS NULL AND a.dpd >= 180 {chunk_a}", ids):
        return 0
    _lock_chunk(account_ids)
    W = T_WO
    created = _exec(
        f"""INSERT INTO {W} (account_id, on_date, dpd, principal, fees, late_fees, deferral_fees, premiums, recovered,
                            journal_entry_id, created_at)
            SELECT a.id, %s, a.dpd,
                {_money(f"COALESCE((SELECT SUM({_p_open('l')}) FROM {T_LINE} l WHERE l.account_id = a.id AND l.status IN ('pending', 'due', 'deferred', 'overdue')), 0)")},
                {_money(f"COALESCE((SELECT SUM({_f_open('l')}) FROM {T_LINE} l WHERE l.account_id = a.id AND l.status IN ('due', 'deferred', 'overdue')), 0)")},
                {_money(f"COALESCE((SELECT SUM({_c_open('c')}) FROM {T_CHG} c WHERE c.account_id = a.id AND c.kind NOT IN ('deferral_fee', 'premium')), 0)")},
                {_money(f"COALESCE((SELECT SUM({_c_open('c')}) FROM {T_CHG} c WHERE c.account_id = a.id AND c.kind = 'deferral_fee'), 0)")},
                {_money(f"COALESCE((SELECT SUM({_c_open('c')}) FROM {T_CHG} c WHERE c.account_id = a.id AND c.kind = 'premium'), 0)")},
                0, NULL, %s
            FROM {T_ACC} a WHERE a.written_off_on IS NULL AND a.dpd >= 180 {chunk_a}""",
        [d_on, _now(), *ids],
    )
    if not created:
        return 0
    chunk_w, _ = _chunk("w", account_ids)
    new = f"SELECT w.account_id FROM {W} w WHERE w.on_date = %s AND w.journal_entry_id IS NULL {chunk_w}"
    nparams = [d_on, *ids]
    selects = [
        (f"""SELECT '{code}' AS ledger_account_id, w.account_id AS credit_account_id, 0 AS debit, {col} AS credit
             FROM {W} w WHERE w.on_date = %s AND w.journal_entry_id IS NULL {chunk_w}""", nparams)
        for code, col in ((Codes.RECEIVABLE_PRINCIPAL, _money(f"w.principal - {_cash_open('p', 'w')}")),
                          (Codes.RECEIVABLE_FEES, _money(f"w.fees - {_cash_open('f', 'w')}")),
                          (Codes.RECEIVABLE_LATE_FEES, "w.late_fees"), (Codes.RECEIVABLE_DEFERRAL_FEES, "w.deferral_fees"),
                          (Codes.RECEIVABLE_PREMIUM, "w.premiums"),
                          (Codes.CASH_LOAN_PRINCIPAL, _cash_open("p", "w", bare=True)),
                          (Codes.CASH_LOAN_INTEREST, _cash_open("f", "w", bare=True)))
    ]
    entry = journal_post_select(kind=JournalEntry.Kind.WRITE_OFF, on=on, memo=f"Write-offs {on}", source=f"cob:write_off:{on}",
                                actor=SYSTEM, selects=selects, balance=(Codes.CREDIT_LOSS, "debit"))
    _exec(
        f"""UPDATE {T_LINE} SET
              principal_written_off = principal_written_off + {_p_open(T_LINE)},
              fee_written_off = CASE WHEN billed_on IS NOT NULL THEN fee_written_off + {_f_open(T_LINE)} ELSE fee_written_off END,
              fee_waived = CASE WHEN billed_on IS NULL THEN fee_waived + {_f_open(T_LINE)} ELSE fee_waived END,
              status = 'written_off', closed_on = %s
            WHERE status IN ('pending', 'due', 'deferred', 'overdue') AND account_id IN ({new})""",
        [d_on, *nparams],
    )
    _exec(
        f"""UPDATE {T_CHG} SET written_off = written_off + {_c_open(T_CHG)}
            WHERE {_positive(_c_open(T_CHG))} AND account_id IN ({new})""",
        nparams,
    )
    _exec(f"UPDATE {T_PLAN} SET status = 'written_off', closed_on = %s WHERE status = 'active' AND account_id IN ({new})",
          [d_on, *nparams])
    _exec(
        f"""INSERT INTO {T_BUCKET} (account_id, on_date, old_bucket, new_bucket, dpd, created_at)
            SELECT a.id, %s, a.bucket, 'M7', a.dpd, %s FROM {T_ACC} a
            WHERE a.id IN ({new}) AND a.bucket <> 'M7'
            ON CONFLICT (account_id, on_date) DO NOTHING""",
        [d_on, _now(), *nparams],
    )
    _exec(f"UPDATE {T_BUCKET} SET new_bucket = 'M7' WHERE on_date = %s AND new_bucket <> 'M7' AND account_id IN ({new})",
          [d_on, *nparams])
    _exec(
        f"""UPDATE {T_ACC} SET written_off_on = %s, bucket = 'M7',
              used_amount = {_money(f'''used_amount - (SELECT w.principal + w.fees + w.late_fees + w.deferral_fees + w.premiums
                                         FROM {W} w WHERE w.account_id = {T_ACC}.id)''')}
            WHERE id IN ({new})""",
        [d_on, *nparams],
    )
    if entry is not None:
        _exec(f"UPDATE {W} SET journal_entry_id = %s WHERE account_id IN ({new})", [entry.pk, *nparams])
    return created


# ------------------------------------------------------------------------------------------------
# a thin driver for tests and demos (close of business proper lives in its own app)


STEPS = ("statements_generate", "due_dates_settle", "delinquency_update", "freezes_sync", "write_offs")


def run_day(on: dt.date, account_ids: Sequence[int] | None = None) -> dict[str, int]:
    """Close business date ``on``: every step in PRODUCT §11 order. Returns the count of each step."""
    from accounts.services import temporary_limits_expire

    counts = {"temporary_limits_expire": temporary_limits_expire(on=on)}
    for name in STEPS:
        counts[name] = globals()[name](on=on, account_ids=account_ids)
    return counts


def run_through(until: dt.date) -> dt.date:
    """Close every business day from the current business date through ``until``; the business date is
    then ``until + 1``. Returns the new business date."""
    day = get_business_date()
    while day <= until:
        run_day(day)
        day = day + dt.timedelta(days=1)
        set_business_date(day)
    return day
