"""The cost of one purchase authorisation over the API, in queries (issue 14: the storefront's hot path).

A fixed number, so a change that adds a round trip to every purchase fails here and has to say why.
Counted after a first purchase on the same client (token ``last_used_at`` written, per-process caches
warm), with the risk rules registered as in production."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from accounts.models import CreditAccount
from installments.models import Plan, Purchase, ScheduleLine
from ledger.models import JournalEntry
from tests.factories_api import api_for
from tests.factories_installments import open_account

pytestmark = pytest.mark.django_db

#: Token look-up 1; idempotency record 2 (claim, complete); the account locked by its reference in one
#: query that also brings its product and terms, the business date, the temporary limits active on it and
#: the merchant order's earlier purchase 1; risk rules 1 and facts 1 (velocity and usual amount together);
#: purchase, plan, plan history, schedule lines 4; journal entry and lines 2; used amount update 1 (the
#: new figure is computed under the lock, not read back); the answer is built from what was written (0);
#: and three savepoints (idempotency claim, handler, authorisation — the outer two are BEGIN/COMMIT
#: outside a test, so a production purchase makes 15 round trips) 6. A tenor adds its fee rates 1.
#: 43 before issue 14, then 36: the account read by reference and then locked, the order, the business
#: date, terms and temporary limits each read on their own, two risk counts, the used amount read back,
#: the answer's plan and lines read again, and six savepoints (risk check, posting, journal too).
#: Issue 23 adds 2: the client's approved grant of ``purchases:write`` (with who asked and who approved, one
#: query) and the call's ``api_money_call`` audit row naming them.
QUERIES_PER_PURCHASE = 21
QUERIES_FOR_A_TENOR = 1


@pytest.fixture
def http_and_account(business_date):
    business_date("2026-01-05")
    account = open_account(limit="10000.00", opened_on=dt.date(2026, 1, 1))
    http = api_for()[0]
    response = http.post("/api/v1/purchases/", {"account": account.reference, "amount": "100.00",
                                                "merchant_order_id": "warm-up"},
                         format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.content
    return http, account


@pytest.mark.parametrize("tenor", [None, 3])
def test_one_purchase_authorisation_costs_a_fixed_number_of_queries(http_and_account, django_assert_num_queries,
                                                                    tenor):
    http, account = http_and_account
    body = {"account": account.reference, "amount": "300.00", "merchant_order_id": "order-2"}
    if tenor:
        body["tenor"] = tenor
    with django_assert_num_queries(QUERIES_PER_PURCHASE + (QUERIES_FOR_A_TENOR if tenor else 0)):
        response = http.post("/api/v1/purchases/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.content
    data = response.json()
    # The answer is built from what the service returned: the right purchase, plan and available limit.
    assert data["status"] == "approved"
    assert data["available"] == "9600.00"
    assert CreditAccount.objects.get(pk=account.pk).used_amount == Decimal("400.00")
    purchase = Purchase.objects.get(account=account, merchant_order_id="order-2")
    assert data["id"] == purchase.reference
    plan = Plan.objects.get(purchase=purchase)
    assert data["plan"]["id"] == plan.reference
    assert ScheduleLine.objects.filter(plan=plan).count() == (tenor or 1)
    assert len(data["plan"]["schedule"]) == (tenor or 1)
    assert JournalEntry.objects.filter(source=f"purchase:{purchase.reference}").count() == 1


def test_a_replayed_order_answers_the_available_limit_from_the_account(http_and_account):
    http, account = http_and_account
    body = {"account": account.reference, "amount": "100.00", "merchant_order_id": "warm-up"}
    response = http.post("/api/v1/purchases/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 200, response.content
    assert response.json()["available"] == "9900.00"
    assert Purchase.objects.filter(account=account).count() == 1
    assert CreditAccount.objects.get(pk=account.pk).used_amount == Decimal("100.00")
