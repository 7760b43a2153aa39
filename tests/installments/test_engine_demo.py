"""The demo activity fills every screen and leaves the books clean."""
import datetime as dt
import random

import pytest

from core.business_date import get_business_date
from installments import demo
from installments.models import Charge, Plan, Purchase, Refund, Repayment, Statement
from tests.factories_installments import books_clean, no_risk_checks, open_account  # noqa: F401

pytestmark = pytest.mark.django_db


def test_demo_seed_makes_every_kind_of_record_and_the_books_prove(business_date):
    start, end = dt.date(2026, 1, 1), dt.date(2026, 4, 20)
    business_date(start)
    accounts = [open_account(limit="20000.00", opened_on=dt.date(2025, 12, 1), bill_day=1 + i % 28) for i in range(12)]
    counts = demo.seed(accounts=accounts, rng=random.Random(7), start=start, end=end)
    assert get_business_date() == end
    assert counts["purchases"] > 20 and counts["repayments"] >= 5
    assert {t for t in Purchase.objects.values_list("tenor", flat=True)} >= {None, 3, 6, 12, 24}
    assert Statement.objects.filter(status="paid").exists() and Statement.objects.filter(status="overdue").exists()
    assert Plan.objects.filter(kind="bill_installment").exists()
    assert Charge.objects.filter(kind="late_fee").exists() and Charge.objects.filter(kind="deferral_fee").exists()
    assert Refund.objects.exists() and Repayment.objects.filter(to_credit_balance__gt=0).exists()
    books_clean()
