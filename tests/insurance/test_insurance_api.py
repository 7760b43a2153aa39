"""The insurance add-on through the API (issue 16): the quote's `insurance` option (the README worked
example), `insurance: true` on purchases and bill installments, reading and cancelling a policy;
authentication, scopes, visibility and validation errors (with nothing changed)."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from core.business_date import set_business_date
from installments.daily import run_through
from installments.models import Charge, Statement
from installments.services import purchase_authorize
from insurance.models import InsurancePolicy, InsuranceProduct
from tests.factories_api import api_for
from tests.factories_installments import SYSTEM, money_snapshot, no_risk_checks, open_account  # noqa: F401
from tests.factories_insurance import ensure_insurance_data

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def account(db):
    ensure_insurance_data()
    set_business_date(dt.date(2026, 1, 5))
    return open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))


@pytest.fixture
def http(account):
    return api_for()[0]


def post(http, url, body):
    return http.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))


@pytest.mark.parametrize("condition", [False, True], ids=["voluntary", "condition-of-credit"])
def test_the_quote_prices_the_insurance_worked_example(http, condition):
    InsuranceProduct.objects.update(condition_of_credit=condition)

    body = http.post("/api/v1/quotes/", {"principal": "6000.00", "tenor": 12, "insurance": True}, format="json").json()

    assert (body["payment_per_period"], body["apr_nominal"], body["apr_effective"]) == ("530.00", "10.90", "11.46")
    ins = body["insurance"]
    assert (ins["premium_rate"], ins["premium_per_period"], ins["total_premium"]) == ("0.001", "6.00", "72.00")
    assert (ins["payment_per_period"], ins["last_payment"]) == ("536.00", "536.00")
    assert (ins["apr_nominal"], ins["apr_effective"]) == ("13.03", "13.84")
    assert ins["condition_of_credit"] is condition and ins["cooling_off_days"] == 15


def test_a_quote_without_the_option_has_no_insurance(http):
    body = http.post("/api/v1/quotes/", {"principal": "6000.00", "tenor": 12}, format="json").json()
    assert body["insurance"] is None


def test_a_purchase_with_insurance_has_a_policy_that_can_be_read_and_cancelled(http, account):
    response = post(http, "/api/v1/purchases/", {"account": account.reference, "amount": "6000.00",
                                                 "merchant_order_id": "JD-1", "tenor": 12, "insurance": True})

    assert response.status_code == 201, response.content
    insurance = response.json()["plan"]["insurance"]
    assert (insurance["premium_per_period"], insurance["total_premium"], insurance["status"]) == ("6.00", "72.00", "active")
    assert insurance["cooling_off_until"] == "2026-01-20"
    url = f"/api/v1/insurance-policies/{insurance['id']}/"
    body = http.get(url).json()
    assert (body["plan"], body["premiums_billed"], body["periods"]) == (response.json()["plan"]["id"], "0.00", 12)

    cancelled = post(http, url + "cancel/", {"reason": "changed my mind"})

    assert cancelled.status_code == 200, cancelled.content
    assert (cancelled.json()["status"], cancelled.json()["cancelled_on"]) == ("cancelled", "2026-01-05")
    again = post(http, url + "cancel/", {"reason": "again"})
    assert (again.status_code, again.json()["error"]["code"]) == (422, "policy_not_active")


def test_a_bill_installment_with_insurance(http, account):
    purchase_authorize(account=account, amount=D("3000.00"), merchant_order_id="o-1", actor=SYSTEM)
    run_through(dt.date(2026, 2, 1))
    statement = Statement.objects.get(account=account)

    response = post(http, f"/api/v1/statements/{account.reference}-20260201/installments/", {"tenor": 6, "insurance": True})

    assert response.status_code == 201, response.content
    assert response.json()["insurance"]["premium_per_period"] == "3.00"
    statement.refresh_from_db()
    assert statement.premiums == D("3.00")


@pytest.mark.parametrize("body, status, code", [
    ({"tenor": None, "insurance": True}, 422, "add_on_needs_installment"),  # a product rule, as a tenor not offered
    ({"tenor": 12, "insurance": "maybe"}, 400, "invalid"),
], ids=["revolving", "not-a-boolean"])
def test_a_refused_insured_purchase_changes_nothing(http, account, body, status, code):
    before = money_snapshot(), InsurancePolicy.objects.count()

    response = post(http, "/api/v1/purchases/", {"account": account.reference, "amount": "6000.00",
                                                 "merchant_order_id": "JD-1", **body})

    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert (money_snapshot(), InsurancePolicy.objects.count()) == before


def test_policies_need_a_token_the_scope_and_are_visible_only_to_their_client(account):
    owner, _, _ = api_for(["purchases:write", "insurance:read", "insurance:write"])
    response = post(owner, "/api/v1/purchases/", {"account": account.reference, "amount": "1200.00",
                                                  "merchant_order_id": "JD-9", "tenor": 3, "insurance": True})
    url = f"/api/v1/insurance-policies/{response.json()['plan']['insurance']['id']}/"
    other, _, _ = api_for(["insurance:read", "insurance:write"])
    reader, _, _ = api_for(["insurance:read"])
    before = money_snapshot(), list(InsurancePolicy.objects.values_list("status", flat=True))

    assert APIClient().get(url).status_code == 401
    assert api_for(["quotes:read"])[0].get(url).status_code == 403
    assert other.get(url).status_code == 404  # another client's policy
    assert post(other, url + "cancel/", {"reason": "x"}).status_code == 404
    assert post(reader, url + "cancel/", {"reason": "x"}).status_code == 403  # read scope only
    bad = post(owner, url + "cancel/", {})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid")
    assert post(owner, "/api/v1/insurance-policies/NOPE/cancel/", {"reason": "x"}).status_code == 404

    assert (money_snapshot(), list(InsurancePolicy.objects.values_list("status", flat=True))) == before
    assert owner.get(url).status_code == 200


def test_the_premium_billed_shows_on_the_policy(http, account):
    response = post(http, "/api/v1/purchases/", {"account": account.reference, "amount": "6000.00",
                                                 "merchant_order_id": "JD-1", "tenor": 12, "insurance": True})
    run_through(dt.date(2026, 2, 1))

    body = http.get(f"/api/v1/insurance-policies/{response.json()['plan']['insurance']['id']}/").json()

    assert body["premiums_billed"] == "6.00" and Charge.objects.filter(kind="premium").count() == 1


def test_the_statement_shows_the_premium(http, account):
    post(http, "/api/v1/purchases/", {"account": account.reference, "amount": "6000.00", "merchant_order_id": "JD-1",
                                     "tenor": 12, "insurance": True})
    run_through(dt.date(2026, 2, 1))

    body = http.get(f"/api/v1/accounts/{account.reference}/statements/").json()

    statement = body["results"][0]
    assert (statement["premiums"], statement["closing_balance"], statement["minimum_payment"]) == ("6.00", "536.00", "536.00")
    assert [(line["kind"], line["amount"]) for line in statement["lines"]] == [
        ("opening", "0.00"), ("installment", "530.00"), ("premium", "6.00"), ("closing", "536.00")]
