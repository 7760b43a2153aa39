"""How long the portfolio dashboard takes at scale (issue 6) — a benchmark, not a test.

    .venv/bin/python bench/dashboard.py [--accounts 1000000] [--flows 1000000] [--keep]

1. Creates a fresh PostgreSQL database (``bench_dashboard`` on 127.0.0.1:5432 unless
   ``BENCH_DATABASE_URL``) and migrates it.
2. Fills it with SQL (``INSERT … SELECT … generate_series``, copying one template row made through the
   ORM): ``--accounts`` customers with one credit account each (buckets M0…M7 in a realistic mix,
   random balances), ``--flows`` approved purchases and as many repayments spread over the last 90
   days, and 120 days of portfolio snapshots.
3. Builds the dashboard cold (no cache) five times and prints each query's time and the total.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_dashboard"


def _copy(cursor, table: str, template_id: int, count_sql: str, overrides: dict[str, str], source: str = "") -> None:
    """INSERT into ``table`` one row per row of ``count_sql``'s ``g``, copying the template row and
    replacing the ``overrides`` columns by SQL expressions."""
    cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name <> 'id' "
        "ORDER BY ordinal_position", [table])
    columns = [r[0] for r in cursor.fetchall()]
    select = ", ".join(overrides.get(c, f"t.{c}") for c in columns)
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {table} t, {count_sql} {source} "  # noqa: S608
        f"WHERE t.id = %s", [template_id])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="Keep the database when done.")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
    import psycopg

    admin_url, name = url.rsplit("/", 1)
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from accounts.models import CreditAccount
    from core.business_date import set_business_date
    from installments.services import purchase_authorize, repayment_post
    from staff.models import PortfolioSnapshot
    from staff.selectors import dashboard_build
    from tests.factories import CustomerFactory
    from tests.factories_installments import SYSTEM, open_account

    today = dt.date(2026, 3, 10)
    set_business_date(today)
    account = open_account(opened_on=dt.date(2026, 1, 1))
    purchase_authorize(account=account, amount=Decimal("100.00"), merchant_order_id="template", actor=SYSTEM)
    repayment_post(account=account, amount=Decimal("10.00"), external_ref="template", channel="wallet", actor=SYSTEM)
    customer = CustomerFactory()
    start = time.monotonic()
    with connection.cursor() as cursor:
        n = args.accounts
        _copy(cursor, "accounts_customer", customer.pk, f"generate_series(1, {n}) g", {
            "reference": "'C' || lpad(g::text, 11, '0')", "id_number_hash": "md5('c' || g::text)",
            "external_id": "'bench-' || g::text"})
        _copy(cursor, "accounts_creditaccount", account.pk,
              "(SELECT id AS cid, row_number() OVER () AS g FROM accounts_customer WHERE external_id LIKE 'bench-%%') c", {
                  "reference": "'A' || lpad(c.g::text, 11, '0')", "customer_id": "c.cid",
                  "used_amount": "round((random() * 10000)::numeric, 2)",
                  "bucket": "(ARRAY['M0','M0','M0','M0','M0','M0','M0','M0','M0','M0','M0','M0','M0','M0','M1',"
                            "'M1','M2','M3','M4','M5','M6','M7'])[1 + mod(c.g, 22)::int]",
                  "dpd": "0"})
        purchase = account.purchases.get()
        _copy(cursor, "installments_purchase", purchase.pk, f"generate_series(1, {args.flows}) g", {
            "reference": "'P' || lpad(g::text, 11, '0')", "merchant_order_id": "'bench-' || g::text",
            "requested_on": f"date '{today}' - mod(g, 90)::int", "posted_on": f"date '{today}' - mod(g, 90)::int",
            "cycle_bill_date": f"date '{today}' + 30"})
        repayment = account.repayments.get()
        _copy(cursor, "installments_repayment", repayment.pk, f"generate_series(1, {args.flows}) g", {
            "reference": "'R' || lpad(g::text, 11, '0')", "external_ref": "'bench-' || g::text",
            "posted_on": f"date '{today}' - mod(g, 90)::int", "received_on": f"date '{today}' - mod(g, 90)::int",
            "journal_entry_id": "NULL"})
        cursor.execute("ANALYZE")
    PortfolioSnapshot.objects.bulk_create(
        PortfolioSnapshot(on_date=today - dt.timedelta(days=d), bucket=b, accounts=1000, balance=Decimal(1000 + d))
        for d in range(1, 121) for b in CreditAccount.Bucket.values)
    print(f"filled in {time.monotonic() - start:.1f}s: {CreditAccount.objects.count():,} accounts, "
          f"{args.flows:,} purchases and repayments, 960 snapshot rows")

    timings = []
    for attempt in range(5):
        from django.db import reset_queries
        from django.test.utils import CaptureQueriesContext

        reset_queries()
        begin = time.monotonic()
        with CaptureQueriesContext(connection) as ctx:
            board = dashboard_build(on=today)
        total = time.monotonic() - begin
        timings.append(total)
        print(f"dashboard #{attempt + 1}: {total * 1000:.0f} ms, {len(ctx.captured_queries)} queries "
              f"({', '.join(q['time'] for q in ctx.captured_queries)} s); outstanding ¥{board.outstanding:,}; "
              "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if not args.keep:
        connection.close()
        with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    print(f"dashboard_cold_ms_median={sorted(timings)[len(timings) // 2] * 1000:.0f} queries={len(ctx.captured_queries)} "
          "load_avg={:.2f}/{:.2f}/{:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
