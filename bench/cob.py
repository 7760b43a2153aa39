#!/usr/bin/env python
"""Benchmark of close of business on PostgreSQL (not a test).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_cob .venv/bin/python bench/cob.py --lines 1000000

1. **Portfolio.** A template of ~100 accounts is built through the real services and the real close
   of business, moving the business date from 2026-01-06 to the run date 2026-03-13: installment plans
   of every tenor and revolving purchases, accounts that pay in full, that pay the minimum (deferral
   fees), that went overdue in February (late fees, DPD ~30) and that fall overdue on the run date
   (their 1 March bill unpaid after its grace days). The template is then copied with
   ``INSERT … SELECT … CROSS JOIN generate_series`` (every table that hangs off an account, the
   journal included, keys shifted per copy) until the portfolio holds ``--lines`` open schedule lines,
   about 12 % of which fall overdue on the run date; then ``VACUUM ANALYZE``. The built database is kept
   (``--rebuild`` to build it again) and each run works on a fresh copy (``CREATE DATABASE … TEMPLATE``).
2. **Floor.** A hand-written raw-SQL version of the overdue, DPD and late-fee steps (with the deferral
   fees, the bucket history and the journal, as the engine does them) — each a few statements over the
   whole portfolio, no chunks, no locks. Run in a transaction and rolled back; its result is
   fingerprinted and must equal the real close of business's.
3. **ORM loop.** The same steps written object-at-a-time with the ORM (one account after another,
   one journal entry per fee), on a sample of accounts, rolled back and extrapolated.
4. **Close of business.** The real daily run for the run date (every registered step: statements,
   due dates, delinquency, freezes, collections, write-offs …), in process, or with ``--workers N``
   fanned out to N Celery worker processes over Redis.

It prints the figures of each run (with the machine's load average: a busy machine, not a slow program),
the medians over ``--runs``, and on its last line ``cob_s=… overdue_fees_s=… floor_s=… ratio_vs_floor=…
ratio_vs_orm_loop=… lines=… load_avg_during=… load_avg_now=…`` where ``cob_s`` is the whole daily run and
both ratios compare the engine's overdue + late-fee steps (``due_dates_settle`` + ``delinquency_update``)
with the floor and with the extrapolated ORM loop (time ÷ time: below 1 is faster). The growth from 100k
to 1M lines is the ratio of two runs' ``cob_s``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

START = dt.date(2026, 1, 6)
RUN_DATE = dt.date(2026, 3, 13)
TEMPLATE_VERSION = "cob-bench-v1"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000, help="open schedule lines in the portfolio")
    parser.add_argument("--runs", type=int, default=3, help="measured runs (medians are reported)")
    parser.add_argument("--chunk-size", type=int, default=10_000, help="accounts per chunk")
    parser.add_argument("--sample-accounts", type=int, default=1_000, help="accounts of the ORM-loop sample")
    parser.add_argument("--workers", type=int, default=0,
                        help="fan the run out to N Celery worker processes over Redis (0: in process)")
    parser.add_argument("--broker", default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument("--rebuild", action="store_true", help="build the portfolio again even if it exists")
    parser.add_argument("--check-books", action="store_true", help="run check_books after the last run")
    parser.add_argument("--skip-orm", action="store_true", help="no ORM-loop measurement")
    return parser.parse_args()


ARGS = parse_args()
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_cob")
if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
    sys.exit("bench/cob.py needs PostgreSQL: set DATABASE_URL=postgres://…/bench_cob")
BASE_URL, BASE_DB = DATABASE_URL.rsplit("/", 1)
RUN_DB = f"{BASE_DB}_run"
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"
if ARGS.workers:
    os.environ["CELERY_BROKER_URL"] = ARGS.broker

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.apps import apps  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, models, transaction  # noqa: E402
from django.db.models import Max, Sum  # noqa: E402

from accounts.models import BucketChange, CreditAccount, CreditProduct  # noqa: E402
from accounts.services import account_open, customer_create  # noqa: E402
from cob import pipeline  # noqa: E402
from cob.models import CobRun, RunState  # noqa: E402
from core.actors import Actor  # noqa: E402
from core.business_date import get_business_date, set_business_date  # noqa: E402
from core.identity import make_id_number  # noqa: E402
from installments import calc, hooks  # noqa: E402
from installments.models import Charge, ProductTerms, Repayment, ScheduleLine, Statement  # noqa: E402
from installments.services import purchase_authorize, repayment_post  # noqa: E402
from ledger.models import Codes, JournalEntry, JournalLine  # noqa: E402
from ledger.services import Cr, Dr, journal_post  # noqa: E402

SYSTEM = Actor.system("bench")
hooks._purchase_checks.clear()  # the benchmark measures close of business, not the purchase risk rules


def say(text: str) -> None:
    print(text, flush=True)


def load_average() -> str:
    """The machine's load average (1, 5, 15 min), printed beside the figures: a busy machine, not a slow program."""
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def admin(sql: str) -> None:
    with psycopg.connect(f"{BASE_URL}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def use_database(name: str) -> None:
    connection.close()
    connection.settings_dict["NAME"] = name


def exec_sql(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def scalar(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


# ----------------------------------------------------------------------------------------------------
# 1. the portfolio


def build_template() -> dict[str, int]:
    """~100 accounts through the real services and the real close of business, 6 Jan → 13 Mar."""
    set_business_date(START)
    product = CreditProduct.objects.get(code="baitiao")
    plans: list[tuple[str, int, list[tuple[dt.date, str, int | None]]]] = []
    cur_days = [d for d in range(2, 29) if d not in (1,)]
    for i in range(54):  # pay every bill in full, the day before it is due
        plans.append(("current", cur_days[i % len(cur_days)], [(START, "2400.00", 12), (START, f"{150 + i}.50", None)]))
    for i in range(14):  # pay the minimum: deferral fees accrue
        plans.append(("minimum", 1, [(START, "4800.00", 24)] + [(START, f"{300 + 7 * i + k}.10", None) for k in range(3)]))
    for i in range(8):  # went overdue on 13 February: DPD 28 on the run date
        plans.append(("late", 1, [(START, "900.00", 3), (START, f"{200 + i}.00", None), (START, "55.55", None)]))
    for i in range(13):  # bought in February, the 1 March bill unpaid: overdue on the run date
        purchases = [(dt.date(2026, 2, 2), "1200.00", 6)]
        purchases += [(dt.date(2026, 2, 2 + k), f"{40 + 3 * i + k}.{k}0", None) for k in range(9)]
        plans.append(("overdue", 1, purchases))
    behaviour: dict[int, str] = {}
    buys: dict[dt.date, list[tuple[CreditAccount, str, int | None, str]]] = {}
    for n, (kind, bill_day, purchases) in enumerate(plans):
        customer = customer_create(name=f"Bench {n}", id_number=make_id_number("110105", dt.date(1985, 1, 1) + dt.timedelta(days=n // 900), n % 900),
                                   mobile=f"139{n:08d}")
        account = account_open(customer=customer, product=product, fixed_limit=Decimal("50000.00"), actor=SYSTEM,
                               bill_day=bill_day, opened_on=dt.date(2026, 1, 1))
        behaviour[account.pk] = kind
        for k, (on, amount, tenor) in enumerate(purchases):
            buys.setdefault(on, []).append((account, amount, tenor, f"b{n}-{k}"))
    day = START
    while day < RUN_DATE:
        for account, amount, tenor, order in buys.get(day, []):
            purchase_authorize(account=account, amount=Decimal(amount), merchant_order_id=order, tenor=tenor, actor=SYSTEM)
        due = Statement.objects.filter(status=Statement.Status.OPEN, due_date=day + dt.timedelta(days=1))
        for statement in due.select_related("account"):
            kind = behaviour[statement.account_id]
            amount = statement.closing_balance if kind == "current" else statement.minimum_payment if kind == "minimum" else None
            if amount and amount > 0:
                repayment_post(account=statement.account, amount=amount, external_ref=f"pay-{statement.pk}",
                               channel=Repayment.Channel.BANK_TRANSFER, actor=SYSTEM)
        pipeline.run_date(day, chunk_size=10_000)
        day += dt.timedelta(days=1)
    assert get_business_date() == RUN_DATE
    return Counter(behaviour.values())


SHARED = {"accounts.CreditProduct", "installments.ProductTerms", "installments.TenorRate", "ledger.LedgerAccount"}
APPS = ("accounts", "installments", "ledger", "collections", "risk", "staff", "privacy")


def replicated_models() -> list[type[models.Model]]:
    """Every table that hangs off an account (or is the journal), in foreign-key order."""
    candidates = [
        m for label in APPS for m in _app_models(label)
        if not m.__name__.startswith("Historical") and not m._meta.proxy and m._meta.managed
        and m._meta.label not in SHARED and m._default_manager.exists()
    ]
    chosen = {apps.get_model("accounts.Customer"), CreditAccount, JournalEntry}
    grew = True
    while grew:
        grew = False
        for model in candidates:
            if model not in chosen and any(f.is_relation and f.related_model in chosen for f in model._meta.concrete_fields):
                chosen.add(model)
                grew = True
    ordered: list[type[models.Model]] = []
    while len(ordered) < len(chosen):
        for model in sorted(chosen - set(ordered), key=lambda m: m._meta.label):
            deps = {f.related_model for f in model._meta.concrete_fields if f.is_relation} & chosen - {model}
            if deps <= set(ordered):
                ordered.append(model)
    return ordered


def _app_models(label: str):
    try:
        return apps.get_app_config(label).get_models()
    except LookupError:
        return []


def replicate(copies: int) -> None:
    """Copy every account-bound row ``copies - 1`` times, shifting keys by the template's largest key."""
    chosen = replicated_models()
    stride = {m: scalar(f"SELECT MAX(id) FROM {m._meta.db_table}") for m in chosen}
    for model in chosen:
        table = model._meta.db_table
        transformed = set()
        columns, exprs = [], []
        for f in model._meta.concrete_fields:
            col = connection.ops.quote_name(f.column)
            columns.append(col)
            if f.primary_key:
                exprs.append(f"t.{col} + g * {stride[model]}")
                transformed.add(f.name)
            elif f.is_relation and f.related_model in stride:
                exprs.append(f"t.{col} + g * {stride[f.related_model]}")
                transformed.add(f.name)
            elif f.unique and isinstance(f, models.CharField):
                exprs.append(f"substr(md5(t.{col} || ':' || g) || md5(g || ':' || t.{col}), 1, {f.max_length})")
                transformed.add(f.name)
            else:
                exprs.append(f"t.{col}")
        for constraint in model._meta.constraints:
            if isinstance(constraint, models.UniqueConstraint) and constraint.fields and not set(constraint.fields) & transformed:
                raise SystemExit(f"cannot copy {model._meta.label}: unique {constraint.fields} would repeat")
        started = time.perf_counter()
        rows = exec_sql(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(exprs)} FROM {table} t "
            f"CROSS JOIN generate_series(1, %s) AS g WHERE t.id <= %s",
            [copies - 1, stride[model]],
        )
        exec_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        say(f"    {model._meta.label:<32} +{rows:>10,} rows  {time.perf_counter() - started:6.1f} s")


def open_lines() -> int:
    return ScheduleLine.objects.filter(status__in=ScheduleLine.OPEN).count()


def build_portfolio(lines: int) -> None:
    say(f"Building the portfolio in {BASE_DB} ({lines:,} open lines) …")
    connection.close()
    admin(f'DROP DATABASE IF EXISTS "{RUN_DB}"')
    admin(f'DROP DATABASE IF EXISTS "{BASE_DB}"')
    admin(f'CREATE DATABASE "{BASE_DB}"')
    use_database(BASE_DB)
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    say(f"  migrated in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    mix = build_template()
    template_lines = open_lines()
    say(f"  template: {sum(mix.values())} accounts {dict(mix)}, {template_lines} open lines, "
        f"built through {(RUN_DATE - START).days} days of close of business in {time.perf_counter() - started:.1f} s")
    copies = max(1, math.ceil(lines / template_lines))
    started = time.perf_counter()
    say(f"  copying the template {copies:,} times:")
    with transaction.atomic():
        exec_sql("SET LOCAL synchronous_commit = off")
        replicate(copies)
    say(f"  copied in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    connection.close()
    with psycopg.connect(f"{BASE_URL}/{BASE_DB}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    say(f"  VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")
    admin(f"COMMENT ON DATABASE \"{BASE_DB}\" IS '{TEMPLATE_VERSION} lines={lines}'")


def portfolio_ready(lines: int) -> bool:
    with psycopg.connect(f"{BASE_URL}/postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [BASE_DB]
        ).fetchone()
    return bool(row) and row[0] == f"{TEMPLATE_VERSION} lines={lines}"


# ----------------------------------------------------------------------------------------------------
# 2. the floor: the overdue, DPD and late-fee steps in hand-written SQL


def floor(on: dt.date) -> None:
    terms = ProductTerms.objects.get()
    grace_cutoff = on - dt.timedelta(days=terms.grace_days)
    late_ppm = int(terms.late_fee_daily_rate * 1_000_000)
    minimum = int(terms.late_fee_daily_minimum * 100)
    deferral_ppm = int(terms.deferral_daily_rate * 1_000_000)
    p_open = "(l.principal - l.principal_paid - l.principal_reduced - l.principal_written_off)"
    f_open = "(l.fee - l.fee_paid - l.fee_waived - l.fee_written_off)"
    c_open = "(c.amount - c.paid - c.waived - c.written_off)"
    bucket = ("CASE WHEN {d} <= 0 THEN 'M0' WHEN {d} <= 30 THEN 'M1' WHEN {d} <= 60 THEN 'M2' WHEN {d} <= 90 THEN 'M3'"
              " WHEN {d} <= 120 THEN 'M4' WHEN {d} <= 150 THEN 'M5' WHEN {d} <= 180 THEN 'M6' ELSE 'M7' END")
    S, L, C, A = (Statement._meta.db_table, ScheduleLine._meta.db_table, Charge._meta.db_table, CreditAccount._meta.db_table)
    R, B = Repayment._meta.db_table, BucketChange._meta.db_table
    refunds = apps.get_model("installments.Refund")._meta.db_table
    # Due dates: paid in full, minimum paid (→ deferred), below the minimum after grace (→ overdue).
    exec_sql(f"""
        CREATE TEMP TABLE due_now ON COMMIT DROP AS
        SELECT s.id, s.account_id, s.bill_date, s.due_date, s.minimum_payment,
               EXISTS (SELECT 1 FROM {L} l WHERE l.account_id = s.account_id AND l.status IN ('due', 'deferred', 'overdue')
                       AND l.due_date <= s.due_date)
               OR EXISTS (SELECT 1 FROM {C} c WHERE c.account_id = s.account_id AND c.accrued_on < s.bill_date
                          AND {c_open} > 0) AS owes,
               COALESCE((SELECT SUM(r.amount) FROM {R} r WHERE r.account_id = s.account_id AND r.status = 'posted'
                         AND r.kind <> 'recovery' AND r.received_on >= s.bill_date), 0)
               + COALESCE((SELECT SUM(f.billed_principal_reduced + f.fees_waived_billed) FROM {refunds} f
                           WHERE f.account_id = s.account_id AND f.created_on >= s.bill_date), 0) AS paid
        FROM {S} s WHERE s.status = 'open' AND s.due_date <= %s""", [on])
    exec_sql("ANALYZE due_now")
    exec_sql(f"""UPDATE {S} s SET status = CASE WHEN NOT d.owes THEN 'paid' WHEN d.paid >= d.minimum_payment
                                               THEN 'minimum_paid' ELSE 'overdue' END, resolved_on = %s
                 FROM due_now d WHERE s.id = d.id AND (NOT d.owes OR d.paid >= d.minimum_payment OR d.due_date <= %s)""",
             [on, grace_cutoff])
    exec_sql(f"""UPDATE {L} l SET status = 'deferred', deferred_from = COALESCE(l.deferred_from, x.due)
                 FROM (SELECT account_id, MAX(due_date) AS due FROM {S} WHERE status = 'minimum_paid' AND resolved_on = %s
                       GROUP BY account_id) x
                 WHERE l.account_id = x.account_id AND l.status = 'due' AND l.due_date <= x.due""", [on])
    exec_sql(f"""CREATE TEMP TABLE went_overdue ON COMMIT DROP AS
                 SELECT account_id, MIN(due_date) AS since, MAX(due_date) AS due, MAX(bill_date) AS bill
                 FROM {S} WHERE status = 'overdue' AND resolved_on = %s GROUP BY account_id""", [on])
    exec_sql("ANALYZE went_overdue")
    exec_sql(f"""UPDATE {L} l SET status = 'overdue', overdue_from = x.since FROM went_overdue x
                 WHERE l.account_id = x.account_id AND l.status IN ('due', 'deferred') AND l.due_date <= x.due""")
    exec_sql(f"""UPDATE {C} c SET overdue_from = x.since FROM went_overdue x
                 WHERE c.account_id = x.account_id AND c.overdue_from IS NULL AND {c_open} > 0 AND c.accrued_on < x.bill""")
    # DPD and buckets (with their history), cures.
    exec_sql(f"""CREATE TEMP TABLE since ON COMMIT DROP AS
                 SELECT account_id, %s - MIN(d) AS dpd FROM (
                     SELECT account_id, overdue_from AS d FROM {L} WHERE status = 'overdue'
                     UNION ALL SELECT c.account_id, c.overdue_from FROM {C} c WHERE c.overdue_from IS NOT NULL AND {c_open} > 0) u
                 GROUP BY account_id""", [on])
    exec_sql("ANALYZE since")
    exec_sql(f"""INSERT INTO {B} (account_id, on_date, old_bucket, new_bucket, dpd, created_at)
                 SELECT a.id, %s, a.bucket, {bucket.format(d='x.dpd')}, x.dpd, now() FROM {A} a JOIN since x ON x.account_id = a.id
                 WHERE a.written_off_on IS NULL AND a.bucket <> {bucket.format(d='x.dpd')}""", [on])
    exec_sql(f"""UPDATE {A} a SET dpd = x.dpd, bucket = {bucket.format(d='x.dpd')} FROM since x
                 WHERE x.account_id = a.id AND a.written_off_on IS NULL AND a.dpd <> x.dpd""")
    exec_sql(f"""INSERT INTO {B} (account_id, on_date, old_bucket, new_bucket, dpd, created_at)
                 SELECT a.id, %s, a.bucket, 'M0', 0, now() FROM {A} a
                 WHERE a.dpd > 0 AND a.written_off_on IS NULL AND a.bucket <> 'M0'
                   AND NOT EXISTS (SELECT 1 FROM since x WHERE x.account_id = a.id)""", [on])
    exec_sql(f"""UPDATE {A} a SET dpd = 0, bucket = 'M0' WHERE a.dpd > 0 AND a.written_off_on IS NULL
                 AND NOT EXISTS (SELECT 1 FROM since x WHERE x.account_id = a.id)""")
    # Late fees (every day past due, at least the minimum) and deferral fees, journalled, on the used amount.
    # The deferral fee's one rule (calc.deferral_fee_accrual): the running total of the unbilled postings is
    # the rounded exact fee, so each day's posting needs what the unbilled ones charged and accrued.
    prior = (f"""LEFT JOIN (SELECT account_id, SUM(ROUND(base_amount * 100)::bigint * days)::bigint AS units,
                                   SUM(ROUND(amount * 100)::bigint)::bigint AS cents
                            FROM {C} WHERE kind = 'deferral_fee' AND statement_id IS NULL GROUP BY account_id) p
                 ON p.account_id = x.account_id""")
    for kind, base, where, start, cents, income, receivable, prior_join in (
        ("late_fee", f"SUM({p_open} + {f_open})", "l.status = 'overdue'", "l.overdue_from",
         f"GREATEST(((b.base_cents * {late_ppm} + 500000) / 1000000), {minimum}) * b.days",
         Codes.LATE_FEE_INCOME, Codes.RECEIVABLE_LATE_FEES, ""),
        ("deferral_fee", f"SUM({p_open})", "l.status = 'deferred' AND l.is_revolving AND l.deferred_from < %(on)s",
         "l.deferred_from",
         f"((((b.prior_units + b.base_cents * b.days) * {deferral_ppm} + 500000) / 1000000) - b.prior_cents)",
         Codes.DEFERRAL_FEE_INCOME, Codes.RECEIVABLE_DEFERRAL_FEES, prior),
    ):
        units = "COALESCE(p.units, 0)" if prior_join else "0"
        charged = "COALESCE(p.cents, 0)" if prior_join else "0"
        exec_sql(f"""INSERT INTO {C} (account_id, kind, accrued_on, days, base_amount, amount, paid, waived, written_off,
                                      statement_id, overdue_from, plan_id, journal_entry_id, created_at)
                     SELECT b.account_id, '{kind}', %(on)s, b.days, b.base, ({cents})::numeric / 100, 0, 0, 0,
                            NULL, NULL, NULL, NULL, now()
                     FROM (SELECT x.account_id, x.base, ROUND(x.base * 100)::bigint AS base_cents,
                                  %(on)s - GREATEST(x.since, COALESCE(y.last, x.since)) AS days,
                                  {units} AS prior_units, {charged} AS prior_cents
                           FROM (SELECT l.account_id, ROUND({base}, 2) AS base, MIN({start}) AS since
                                 FROM {L} l JOIN {A} a ON a.id = l.account_id
                                 WHERE {where} AND a.written_off_on IS NULL GROUP BY l.account_id) x
                           LEFT JOIN (SELECT account_id, MAX(accrued_on) AS last FROM {C} WHERE kind = '{kind}'
                                      GROUP BY account_id) y ON y.account_id = x.account_id
                           {prior_join}
                           WHERE x.base > 0) b
                     WHERE b.days > 0 AND ({cents}) > 0""", {"on": on})
        total = scalar(f"SELECT COALESCE(SUM(amount), 0) FROM {C} WHERE kind = %s AND accrued_on = %s", [kind, on])
        if not total:
            continue
        entry = JournalEntry.objects.create(kind=kind, posted_on=on, memo=f"floor {kind}", source=f"floor:{kind}:{on}",
                                            total_debit=total, total_credit=total, actor_rule="bench")
        exec_sql(f"""INSERT INTO {JournalLine._meta.db_table} (entry_id, ledger_account_id, credit_account_id, debit, credit)
                     SELECT %s, %s, account_id, amount, 0 FROM {C} WHERE kind = %s AND accrued_on = %s
                     UNION ALL SELECT %s, %s, NULL, 0, %s""", [entry.pk, receivable, kind, on, entry.pk, income, total])
        exec_sql(f"""UPDATE {A} a SET used_amount = a.used_amount + c.amount FROM {C} c
                     WHERE c.account_id = a.id AND c.kind = %s AND c.accrued_on = %s""", [kind, on])
        exec_sql(f"UPDATE {C} SET journal_entry_id = %s WHERE kind = %s AND accrued_on = %s", [entry.pk, kind, on])


def fingerprint(on: dt.date) -> dict:
    """What the overdue, DPD and fee steps decide for ``on`` (the floor's result must equal the engine's)."""
    return {
        "statements": dict(Counter(Statement.objects.filter(resolved_on=on, bill_date__lt=on).values_list("status", flat=True))),
        "lines_overdue": ScheduleLine.objects.filter(status="overdue").count(),
        "lines_deferred": ScheduleLine.objects.filter(status="deferred").count(),
        "charges": {kind: (n, str(total)) for kind, n, total in Charge.objects.filter(accrued_on=on).order_by().values("kind")
                    .annotate(n=models.Count("id"), total=Sum("amount")).values_list("kind", "n", "total")},
        "dpd": CreditAccount.objects.aggregate(s=Sum("dpd"))["s"],
        "buckets": dict(Counter(CreditAccount.objects.values_list("bucket", flat=True))),
        "bucket_changes": BucketChange.objects.filter(on_date=on).count(),
        "journal": str(JournalEntry.objects.filter(posted_on=on, kind__in=["late_fee", "deferral_fee"])
                       .aggregate(t=Sum("total_debit"))["t"]),
    }


# ----------------------------------------------------------------------------------------------------
# 3. the same steps, object at a time


def bucket_for(dpd: int) -> str:
    for limit, name in ((0, "M0"), (30, "M1"), (60, "M2"), (90, "M3"), (120, "M4"), (150, "M5"), (180, "M6")):
        if dpd <= limit:
            return name
    return "M7"


def orm_loop(on: dt.date, account_ids: list[int]) -> None:
    terms = ProductTerms.objects.get()
    cutoff = on - dt.timedelta(days=terms.grace_days)
    for account_id in account_ids:
        with transaction.atomic():
            account = CreditAccount.objects.select_for_update().get(pk=account_id)
            for st in Statement.objects.filter(account=account, status="open", due_date__lte=on).order_by("due_date"):
                lines = list(ScheduleLine.objects.filter(account=account, status__in=["due", "deferred", "overdue"],
                                                         due_date__lte=st.due_date))
                charges = [c for c in Charge.objects.filter(account=account, accrued_on__lt=st.bill_date) if c.open_amount > 0]
                paid = sum((r.amount for r in Repayment.objects.filter(account=account, status="posted",
                                                                      received_on__gte=st.bill_date).exclude(kind="recovery")),
                           Decimal(0))
                if not lines and not charges:
                    st.status = "paid"
                elif paid >= st.minimum_payment:
                    st.status = "minimum_paid"
                    for line in lines:
                        if line.status == "due":
                            line.status, line.deferred_from = "deferred", line.deferred_from or st.due_date
                            line.save(update_fields=["status", "deferred_from"])
                elif st.due_date <= cutoff:
                    st.status = "overdue"
                    for line in lines:
                        if line.status in ("due", "deferred"):
                            line.status, line.overdue_from = "overdue", st.due_date
                            line.save(update_fields=["status", "overdue_from"])
                    for charge in charges:
                        if charge.overdue_from is None:
                            charge.overdue_from = st.due_date
                            charge.save(update_fields=["overdue_from"])
                else:
                    continue
                st.resolved_on = on
                st.save(update_fields=["status", "resolved_on"])
            overdue = list(ScheduleLine.objects.filter(account=account, status="overdue"))
            dates = [line.overdue_from for line in overdue]
            dates += [c.overdue_from for c in Charge.objects.filter(account=account, overdue_from__isnull=False) if c.open_amount > 0]
            dpd = (on - min(dates)).days if dates else 0
            if account.written_off_on is None and (dpd != account.dpd or bucket_for(dpd) != account.bucket):
                if bucket_for(dpd) != account.bucket:
                    BucketChange.objects.create(account=account, on_date=on, old_bucket=account.bucket,
                                                new_bucket=bucket_for(dpd), dpd=dpd)
                account.dpd, account.bucket = dpd, bucket_for(dpd)
                account.save(update_fields=["dpd", "bucket"])
            for kind, lines, since_of, income, receivable in (
                ("late_fee", overdue, lambda line: line.overdue_from, Codes.LATE_FEE_INCOME, Codes.RECEIVABLE_LATE_FEES),
                ("deferral_fee", [line for line in ScheduleLine.objects.filter(account=account, status="deferred", is_revolving=True)
                                  if line.deferred_from < on], lambda line: line.deferred_from,
                 Codes.DEFERRAL_FEE_INCOME, Codes.RECEIVABLE_DEFERRAL_FEES),
            ):
                if not lines or account.written_off_on:
                    continue
                base = sum((line.principal_open + (line.fee_open if kind == "late_fee" else 0) for line in lines), Decimal(0))
                last = Charge.objects.filter(account=account, kind=kind).aggregate(m=Max("accrued_on"))["m"]
                since = min(since_of(line) for line in lines)
                days = (on - max(since, last or since)).days
                if base <= 0 or days <= 0:
                    continue
                if kind == "late_fee":
                    amount = calc.late_fee(base, days, daily_rate=terms.late_fee_daily_rate,
                                           daily_minimum=terms.late_fee_daily_minimum)
                else:
                    run = Charge.objects.filter(account=account, kind=kind, statement__isnull=True)
                    amount = calc.deferral_fee_accrual(
                        base, days, daily_rate=terms.deferral_daily_rate,
                        unrounded_before=sum((c.base_amount * terms.deferral_daily_rate * c.days for c in run), Decimal(0)),
                        charged_before=sum((c.amount for c in run), Decimal(0)))
                if amount <= 0:
                    continue
                entry = journal_post(kind=kind, on=on, legs=[Dr(receivable, amount, account.pk), Cr(income, amount)],
                                     memo=f"{kind} {on}", source=f"orm:{kind}:{account.pk}", actor=SYSTEM)
                Charge.objects.create(account=account, kind=kind, accrued_on=on, days=days, base_amount=base, amount=amount,
                                      journal_entry=entry)
                account.used_amount += amount
                account.save(update_fields=["used_amount"])


# ----------------------------------------------------------------------------------------------------
# 4. one measured run


class Rollback(Exception):
    pass


def timed_rolled_back(fn, *args) -> tuple[float, dict]:
    try:
        with transaction.atomic():
            started = time.perf_counter()
            fn(*args)
            seconds = time.perf_counter() - started
            result = fingerprint(RUN_DATE)
            raise Rollback
    except Rollback:
        return seconds, result


def run_fan_out(workers: int) -> CobRun:
    log = open(ROOT / "var" / "bench-cob-workers.log", "w")
    env = {**os.environ, "DATABASE_URL": f"{BASE_URL}/{RUN_DB}", "CELERY_BROKER_URL": ARGS.broker,
           "DATABASE_CONN_MAX_AGE": "600", "DJANGO_LOG_LEVEL": "WARNING"}
    queue = f"bench-cob-{os.getpid()}"
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "backoffice", "worker", "-Q", queue, "-n", f"{queue}@%h",
                             f"--concurrency={workers}", "--without-mingle", "--without-gossip", "--loglevel=INFO"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while "ready." not in (ROOT / "var" / "bench-cob-workers.log").read_text():
            if proc.poll() is not None:
                raise SystemExit("the Celery workers did not start (var/bench-cob-workers.log)")
            time.sleep(0.2)
        started = time.perf_counter()
        run = pipeline.dispatch(RUN_DATE, chunk_size=ARGS.chunk_size, queue=queue)
        while True:
            run.refresh_from_db()
            if run.state in (RunState.DONE, RunState.FAILED):
                break
            time.sleep(0.05)
        run.wall = time.perf_counter() - started
        return run
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def measure(index: int) -> dict:
    connection.close()
    admin(f'DROP DATABASE IF EXISTS "{RUN_DB}"')
    admin(f'CREATE DATABASE "{RUN_DB}" TEMPLATE "{BASE_DB}"')
    use_database(RUN_DB)
    call_command("migrate", verbosity=0)  # the kept portfolio may predate the newest migrations
    lines = open_lines()
    accounts = CreditAccount.objects.count()
    for table in (ScheduleLine, Statement, Charge, CreditAccount, JournalLine, Repayment):  # warm the cache
        scalar(f"SELECT COUNT(*) FROM {table._meta.db_table}")
    falling = scalar(f"""SELECT COUNT(*) FROM {ScheduleLine._meta.db_table} l JOIN {Statement._meta.db_table} s
                         ON s.account_id = l.account_id AND s.status = 'open' AND s.due_date <= %s
                         WHERE l.status IN ('due', 'deferred') AND l.due_date <= s.due_date""",
                     [RUN_DATE - dt.timedelta(days=3)])
    result = {"lines": lines, "accounts": accounts, "falling_overdue": falling}

    floor_s, floor_fp = timed_rolled_back(floor, RUN_DATE)
    result["floor_s"] = floor_s

    if not ARGS.skip_orm:
        sample = list(CreditAccount.objects.order_by("pk").values_list("pk", flat=True)[: ARGS.sample_accounts])
        sample_lines = ScheduleLine.objects.filter(account_id__in=sample, status__in=ScheduleLine.OPEN).count()
        orm_s, _ = timed_rolled_back(orm_loop, RUN_DATE, sample)
        result["orm_sample_s"], result["orm_sample_lines"] = orm_s, sample_lines
        result["orm_s"] = orm_s * lines / max(sample_lines, 1)

    if ARGS.workers:
        run = run_fan_out(ARGS.workers)
        cob_s = run.wall
    else:
        started = time.perf_counter()
        run = pipeline.run_date(RUN_DATE, chunk_size=ARGS.chunk_size)
        cob_s = time.perf_counter() - started
    if run.state != RunState.DONE:
        raise SystemExit(f"close of business failed: {run.error}")
    result["cob_s"] = cob_s
    result["steps"] = {s.name: ((s.finished_at - s.started_at).total_seconds(), s.rows, s.chunks_total)
                       for s in run.steps.order_by("position")}
    result["cob_steps_s"] = sum(result["steps"][name][0] for name in
                                ("installments.due_dates_settle", "installments.delinquency_update"))
    cob_fp = fingerprint(RUN_DATE)
    result["same_result"] = cob_fp == floor_fp
    if not result["same_result"]:
        say(f"  ! floor and close of business differ:\n    floor {floor_fp}\n    cob   {cob_fp}")
    result["load"] = os.getloadavg()[0]
    say(f"run {index}: {lines:,} open lines on {accounts:,} accounts, {falling:,} falling overdue "
        f"({100 * falling / lines:.1f} %); load average {load_average()}")
    for name, (seconds, rows, chunks) in result["steps"].items():
        say(f"    {name:<40} {seconds:8.2f} s  {rows:>10,} rows  {chunks:>4} chunks")
    say(f"  close of business  {cob_s:8.2f} s  {lines / cob_s:>12,.0f} lines/s (whole day, every step)")
    say(f"  overdue + fees     {result['cob_steps_s']:8.2f} s  {lines / result['cob_steps_s']:>12,.0f} lines/s "
        "(due_dates_settle + delinquency_update)")
    say(f"  floor (raw SQL)    {floor_s:8.2f} s  {lines / floor_s:>12,.0f} lines/s  same result: {result['same_result']}")
    if "orm_s" in result:
        say(f"  ORM loop           {result['orm_s']:8.2f} s  {lines / result['orm_s']:>12,.0f} lines/s "
            f"(extrapolated from {ARGS.sample_accounts:,} accounts, {result['orm_sample_lines']:,} lines in "
            f"{result['orm_sample_s']:.2f} s)")
    return result


def main() -> None:
    if ARGS.rebuild or not portfolio_ready(ARGS.lines):
        build_portfolio(ARGS.lines)
    else:
        say(f"Using the portfolio in {BASE_DB} ({ARGS.lines:,} lines; --rebuild to build it again)")
    mode = f"fanned out to {ARGS.workers} worker processes" if ARGS.workers else "in process"
    say(f"Close of business for {RUN_DATE}, {mode}, chunks of {ARGS.chunk_size:,} accounts, {ARGS.runs} run(s)")
    results = [measure(i + 1) for i in range(ARGS.runs)]
    if ARGS.check_books:
        out = subprocess.run([sys.executable, "manage.py", "check_books", "--limit", "5"], cwd=ROOT, capture_output=True,
                             text=True, env={**os.environ, "DATABASE_URL": f"{BASE_URL}/{RUN_DB}"})
        say(out.stdout.strip().splitlines()[-1] if out.stdout else out.stderr[-2000:])
    connection.close()
    admin(f'DROP DATABASE IF EXISTS "{RUN_DB}"')  # the built portfolio ({BASE_DB}) is kept for the next run
    med = {key: statistics.median(r[key] for r in results) for key in ("cob_s", "cob_steps_s", "floor_s")}
    lines = results[0]["lines"]
    say(f"medians over {len(results)} run(s), {lines:,} lines: close of business {med['cob_s']:.2f} s "
        f"({lines / med['cob_s']:,.0f} lines/s), overdue + fees {med['cob_steps_s']:.2f} s, floor {med['floor_s']:.2f} s")
    ratio_orm = "n/a"
    if not ARGS.skip_orm:
        med["orm_s"] = statistics.median(r["orm_s"] for r in results)
        ratio_orm = f"{med['cob_steps_s'] / med['orm_s']:.4f}"
        say(f"  ORM loop (extrapolated) {med['orm_s']:.1f} s: the set-based steps are "
            f"{med['orm_s'] / med['cob_steps_s']:.0f}× faster")
    say(f"cob_s={med['cob_s']:.2f} overdue_fees_s={med['cob_steps_s']:.2f} floor_s={med['floor_s']:.2f} "
        f"ratio_vs_floor={med['cob_steps_s'] / med['floor_s']:.2f} ratio_vs_orm_loop={ratio_orm} lines={lines} "
        f"load_avg_during={statistics.median(r['load'] for r in results):.2f} load_avg_now={load_average().replace(' ', '/')}")


if __name__ == "__main__":
    main()
