"""The cash-loan API calls (issue 16 item 3): quote, drawdown (Idempotency-Key), read back, the account's
cash figures; authentication, scopes, validation errors with nothing changed."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from accounts.models import CreditAccount
from cashloans.models import CashLoan
from integrations.models import IdempotencyRecord
from tests.factories_api import api_for
from tests.factories_installments import money_snapshot, no_risk_checks, open_account  # noqa: F401

pytestmark = pytest.mark.django_db
D = Decimal
CARD = "6222020200112233445"


@pytest.fixture
def account(business_date):
    business_date("2026-01-05")
    return open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))


@pytest.fixture
def http(account):
    return api_for()[0]


def post(http, url, body, key: str | None = "auto"):
    headers = {}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = str(uuid.uuid4()) if key == "auto" else key
    return http.post(url, body, format="json", **headers)


def body(acc, **kw):
    return {"account": acc.reference, "amount": "10000.00", "tenor": 12, "card_number": CARD, "purpose": "education", **kw}


def test_quote_shows_the_worked_example_with_due_dates(http, account):
    response = post(http, "/api/v1/cash-loans/quotes/", {"account": account.reference, "amount": "10000.00", "tenor": 12}, None)
    assert response.status_code == 200, response.json()
    data = response.json()
    assert {k: data[k] for k in ("apr_nominal", "apr_effective", "installment", "last_installment", "total_interest",
                                 "total_payable", "daily_rate", "monthly_rate", "cash_available")} == {
        "apr_nominal": "10.90", "apr_effective": "11.52", "installment": "884.69", "last_installment": "884.66",
        "total_interest": "616.25", "total_payable": "10616.25", "daily_rate": "0.0003", "monthly_rate": "0.009",
        "cash_available": "10000.00"}
    assert data["schedule"][0] == {"period": 1, "due_date": "2026-02-10", "principal": "776.69", "interest": "108.00",
                                   "total": "884.69", "balance_after": "9223.31"}
    assert len(data["schedule"]) == 12 and not CashLoan.objects.exists()


def test_drawdown_then_read_back_and_the_account_shows_the_cash_figures(http, account):
    response = post(http, "/api/v1/cash-loans/", body(account))
    assert response.status_code == 201, response.json()
    data = response.json()
    assert {k: data[k] for k in ("amount", "tenor", "apr_nominal", "apr_effective", "installment", "card", "status",
                                 "available", "cash_available", "drawn_on")} == {
        "amount": "10000.00", "tenor": 12, "apr_nominal": "10.90", "apr_effective": "11.52", "installment": "884.69",
        "card": "**** **** **** 3445", "status": "active", "available": "10000.00", "cash_available": "0.00",
        "drawn_on": "2026-01-05"}
    assert CARD not in response.content.decode()
    assert data["schedule"][0]["fee"] == "108.00" and data["purpose"] == "education" and len(data["schedule"]) == 12
    again = http.get(f"/api/v1/cash-loans/{data['id']}/")
    assert again.status_code == 200
    assert {k: again.json()[k] for k in ("id", "plan", "available", "cash_available")} == {
        "id": data["id"], "plan": data["plan"], "available": "10000.00", "cash_available": "0.00"}
    acc = http.get(f"/api/v1/accounts/{account.reference}/").json()
    assert (acc["cash_limit"], acc["cash_used"], acc["cash_available"], acc["used_amount"]) == (
        "10000.00", "10000.00", "0.00", "10000.00")


def test_same_idempotency_key_replays_and_a_different_body_is_refused(http, account):
    first = post(http, "/api/v1/cash-loans/", body(account, amount="3000.00"), key="k-1")
    again = post(http, "/api/v1/cash-loans/", body(account, amount="3000.00"), key="k-1")
    other = post(http, "/api/v1/cash-loans/", body(account, amount="4000.00"), key="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reuse"
    assert CashLoan.objects.count() == 1
    assert CreditAccount.objects.get(pk=account.pk).used_amount == D("3000.00")


def test_drawdown_needs_an_idempotency_key(http, account):
    response = post(http, "/api/v1/cash-loans/", body(account), key=None)
    assert response.status_code == 400 and response.json()["error"]["code"] == "idempotency_key_required"
    assert not CashLoan.objects.exists()


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"amount": "100.00"}, 422, "cash_amount_out_of_range"),
    ({"amount": "12000.00"}, 422, "insufficient_cash_limit"),
    ({"tenor": 24}, 400, "invalid"),
    ({"tenor": 9}, 422, "invalid_tenor"),
    ({"card_number": "12ab"}, 400, "invalid"),
    ({"card_number": "6222 0202 0011 2233"}, 400, "invalid"),
    ({"amount": 1000}, 400, "invalid"),
    ({"account": "NOPE"}, 404, "account_not_found"),
], ids=["below-min", "above-cash-limit", "tenor-24", "tenor-9", "card-letters", "card-spaces", "amount-number", "no-account"])
def test_refusals_have_a_clear_code_and_change_nothing(http, account, change, status, code):
    before = money_snapshot()
    response = post(http, "/api/v1/cash-loans/", body(account, **change))
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert money_snapshot() == before and not CashLoan.objects.exists()


def test_a_client_reads_only_its_own_cash_loans(http, account):
    loan_id = post(http, "/api/v1/cash-loans/", body(account)).json()["id"]
    other = api_for()[0]
    response = other.get(f"/api/v1/cash-loans/{loan_id}/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "cash_loan_not_found"


CALLS = [
    ("post", "/api/v1/cash-loans/", "cash_loans:write"),
    ("get", "/api/v1/cash-loans/X/", "cash_loans:write"),
    ("post", "/api/v1/cash-loans/quotes/", "quotes:read"),
]


@pytest.mark.parametrize(("method", "url", "scope"), CALLS, ids=[c[1] for c in CALLS])
def test_every_call_needs_a_token_and_its_scope(account, method, url, scope):
    from rest_framework.test import APIClient
    from integrations.scopes import all_scopes

    anonymous = getattr(APIClient(), method)(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    lacking = getattr(api_for([s for s in all_scopes() if s != scope])[0], method)(url, {}, format="json",
                                                                                 HTTP_IDEMPOTENCY_KEY="k")
    granted = getattr(api_for([scope])[0], method)(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"
    assert lacking.status_code == 403 and scope in lacking.json()["error"]["message"]
    assert granted.status_code in (400, 404)  # past authentication and scope: the empty body or id is refused
    assert IdempotencyRecord.objects.filter(response_status__in=(401, 403)).count() == 0


def test_cash_loans_scope_is_registered():
    from integrations.scopes import all_scopes

    assert "cash_loans:write" in all_scopes()
