"""Factories and helpers for the credit-engine tests."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from accounts.models import CreditAccount, CreditProduct
from accounts.services import account_open
from core.actors import Actor
from tests.factories import CustomerFactory

SYSTEM = Actor.system("test")


def baitiao() -> CreditProduct:
    """The default product the data migration creates (with default terms)."""
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
