"""GET /api/v1/accounts/{id}/: limits (fixed + active temporary), used, available, status, bill day."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.services import account_freeze, temporary_limit_grant
from integrations.models import IdempotencyRecord
from integrations.tasks import idempotency_records_purge_task
from tests.factories import CreditAccountFactory
from tests.factories_api import api_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def http(business_date):
    return api_for(["accounts:read"])[0]


def test_limits_used_and_available_on_the_business_date(http, business_date, system):
    business_date("2026-06-10")
    account = CreditAccountFactory(fixed_limit=Decimal("10000.00"), used_amount=Decimal("9500.50"), bill_day=12)
    temporary_limit_grant(account=account, amount=Decimal("3000.00"), starts_on=dt.date(2026, 6, 1),
                          ends_on=dt.date(2026, 6, 20), actor=system, reason="618", campaign="618")
    temporary_limit_grant(account=account, amount=Decimal("1000.00"), starts_on=dt.date(2026, 7, 1),
                          ends_on=dt.date(2026, 7, 2), actor=system, reason="later", campaign="summer")

    body = http.get(f"/api/v1/accounts/{account.reference}/").json()

    assert body == {
        "id": account.reference, "customer_id": account.customer.reference, "product": "baitiao", "status": "active",
        "freeze_reason": "", "fixed_limit": "10000.00", "temporary_limit": "3000.00", "total_limit": "13000.00",
        "used_amount": "9500.50", "held_amount": "0.00", "available": "3499.50", "credit_balance": "0.00",
        "temporary_limits": [{"amount": "3000.00", "starts_on": "2026-06-01", "ends_on": "2026-06-20", "campaign": "618"}],
        "bill_day": 12, "opened_on": "2026-01-01", "closed_on": None, "dpd": 0, "bucket": "M0", "as_of": "2026-06-10",
        # cash loans: half the fixed line (temporary campaign limits are for purchases), capped by what is left
        "cash_limit": "5000.00", "cash_used": "0.00", "cash_available": "3499.50",
    }

    business_date("2026-06-21")  # the campaign ended: available is shown as 0, never negative
    body = http.get(f"/api/v1/accounts/{account.reference}/").json()
    assert (body["temporary_limit"], body["total_limit"], body["available"], body["temporary_limits"]) == (
        "0.00", "10000.00", "499.50", [])


def test_over_the_limit_shows_zero_available(http):
    account = CreditAccountFactory(fixed_limit=Decimal("100.00"), used_amount=Decimal("150.00"))

    assert http.get(f"/api/v1/accounts/{account.reference}/").json()["available"] == "0.00"


def test_frozen_account_says_why(http, staff):
    account = CreditAccountFactory()
    account_freeze(account=account, manual=True, actor=staff, reason="fraud check")

    body = http.get(f"/api/v1/accounts/{account.reference}/").json()

    assert (body["status"], body["freeze_reason"]) == ("frozen", "manual")


def test_unknown_account_is_404(http):
    response = http.get("/api/v1/accounts/NOPE/")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "account_not_found", "message": "No account with this id.",
                                         "details": {"id": "NOPE"}}}


def test_read_in_a_fixed_number_of_queries(http, django_assert_num_queries):
    account = CreditAccountFactory()
    http.get(f"/api/v1/accounts/{account.reference}/")  # token's last_used_at written once a minute

    with django_assert_num_queries(5):  # token+client, account, business date, temporary limits, cash product + cash used
        assert http.get(f"/api/v1/accounts/{account.reference}/").status_code == 200


def test_the_purge_task_runs(business_date):
    assert idempotency_records_purge_task() == 0
    assert IdempotencyRecord.objects.count() == 0
