"""The minimum payment lives twice (PRODUCT §4): in the statement SQL of close of business
(``installments/daily.py``) and in Python (``installments.calc.minimum_payment``, used where a statement is
amended). Every statement a seeded portfolio produces over four bill cycles — revolving balances, installments
falling due, past due amounts and late fees, partial payments — has the minimum the Python rule gives for its
own parts. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from installments import calc
from installments.daily import run_through
from installments.models import Statement
from installments.services import purchase_authorize, repayment_post
from installments.services.common import get_terms
from tests.factories_installments import SYSTEM, no_risk_checks, open_account  # noqa: F401

pytestmark = pytest.mark.django_db
CENT = Decimal("0.01")


def test_every_statement_minimum_equals_the_python_rule(business_date):
    business_date("2026-01-05")
    rng = random.Random(20261208)
    accounts = [open_account(limit="50000.00", opened_on=dt.date(2026, 1, 1), bill_day=rng.choice([1, 5, 15, 28]))
                for _ in range(12)]
    for i, account in enumerate(accounts):
        for j in range(rng.randint(1, 3)):
            amount = Decimal(rng.randint(1, 900_000)) * CENT
            purchase_authorize(account=account, amount=amount, merchant_order_id=f"o{i}-{j}",
                               tenor=rng.choice([None, None, 3, 6, 12]), actor=SYSTEM)
    for month, until in enumerate((dt.date(2026, 2, 10), dt.date(2026, 3, 10), dt.date(2026, 4, 10),
                                   dt.date(2026, 5, 20))):
        run_through(until)
        for account in accounts:  # some pay part of what they owe, some nothing (they go past due, with late fees)
            if rng.random() < 0.5:
                repayment_post(account=account, amount=Decimal(rng.randint(1, 50_000)) * CENT,
                               external_ref=f"r{account.pk}-{month}", channel="card", actor=SYSTEM)
    statements = list(Statement.objects.select_related("account").order_by("pk"))
    assert len(statements) >= 36
    assert any(s.past_due > 0 for s in statements) and any(s.fees_due > 0 for s in statements)
    assert any(s.installments_due > 0 for s in statements) and any(s.revolving_due > 0 for s in statements)
    for s in statements:
        rate = get_terms(s.account.product_id).minimum_payment_rate
        expected = calc.minimum_payment(revolving=s.revolving_due, installments_due=s.installments_due,
                                        fees_due=s.fees_due, past_due=s.past_due, percentage=rate)
        assert s.minimum_payment == expected, (s.reference, s.revolving_due, s.installments_due, s.fees_due, s.past_due)
