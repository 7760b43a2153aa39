"""Factories and helpers for the credit-engine tests."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from accounts.models import CreditAccount, CreditProduct
from accounts.services import account_open
from core.actors import Actor
from tests.factories import CustomerFactory

SYSTEM = Actor.system("test")


def ensure_reference_data() -> None:
    """The chart of accounts and the default product are data migrations; a ``transaction=True`` test
    elsewhere may have flushed them. Put them back (idempotent)."""
    import importlib

    from django.apps import apps

    from ledger.models import LedgerAccount

    if not LedgerAccount.objects.exists():
        importlib.import_module("ledger.migrations.0002_chart").create_chart(apps, None)
    if not CreditProduct.objects.filter(code="baitiao", terms__isnull=False).exists():
        importlib.import_module("installments.migrations.0003_default_product").create_default_product(apps, None)
    if not LedgerAccount.objects.filter(code="1200").exists():
        importlib.import_module("ledger.migrations.0003_cash_loan_accounts").create_accounts(apps, None)
    if not CreditProduct.objects.filter(code="baitiao", cash_loan_product__isnull=False).exists():
        importlib.import_module("cashloans.migrations.0002_default_cash_product").create_default(apps, None)


def baitiao() -> CreditProduct:
    """The default product the data migration creates (with default terms)."""
    ensure_reference_data()
    return CreditProduct.objects.get(code="baitiao")


def open_account(*, limit: str | Decimal = "10000.00", bill_day: int = 1, opened_on: dt.date | None = None,
                 product: CreditProduct | None = None) -> CreditAccount:
    return account_open(
        customer=CustomerFactory(), product=product or baitiao(), fixed_limit=Decimal(limit), actor=SYSTEM,
        bill_day=bill_day, opened_on=opened_on,
    )


def D(value: str) -> Decimal:  # noqa: N802
    return Decimal(value)


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def no_risk_checks(monkeypatch):
    """The engine's tests exercise the engine: risk rules (another app's) are switched off here, and
    tests that need a check register their own."""
    from installments import hooks

    monkeypatch.setattr(hooks, "_purchase_checks", {})


def books_clean():
    """Assert check_books finds nothing wrong; returns the report."""
    from installments.books import books_check

    report = books_check()
    assert report.ok, "\n".join(str(b) for b in report.breaches)
    assert report.total_debit == report.total_credit
    return report


def money_snapshot() -> dict:
    """Every money-bearing row of the engine, for "nothing changed" assertions."""
    from accounts.models import BucketChange, CreditAccount, StatusChange
    from installments.models import (
        Adjustment, Allocation, Charge, Plan, Purchase, Refund, Repayment, ScheduleLine, Statement, StatementLine,
        WriteOff,
    )
    from ledger.models import JournalEntry, JournalLine

    def rows(model, *exclude):
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in ("created_at", "updated_at", *exclude)]
        return sorted(model.objects.values_list(*fields))

    return {
        "accounts": rows(CreditAccount, "reference"),
        "purchases": rows(Purchase),
        "plans": rows(Plan),
        "lines": rows(ScheduleLine),
        "statements": rows(Statement),
        "statement_lines": rows(StatementLine),
        "charges": rows(Charge),
        "repayments": rows(Repayment),
        "allocations": rows(Allocation),
        "refunds": rows(Refund),
        "adjustments": rows(Adjustment),
        "write_offs": rows(WriteOff),
        "journal_entries": rows(JournalEntry),
        "journal_lines": rows(JournalLine),
        "bucket_changes": rows(BucketChange),
        "status_changes": rows(StatusChange),
    }
