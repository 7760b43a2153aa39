"""The money-moving calls of PRODUCT §10 over HTTP: purchases, refunds, statements, bill installments,
early settlement and repayments. Each: success (exact amounts), validation errors, business refusals
(with nothing changed), authentication and scope, and the Idempotency-Key on a real operation."""
from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import CreditAccount
from accounts.services import account_freeze
from installments import hooks
from installments.daily import run_through
from installments.models import Plan, Purchase, Refund, Repayment, ScheduleLine, Statement
from integrations.models import IdempotencyRecord
from ledger.models import JournalEntry
from tests.factories_api import api_for
from tests.factories_installments import SYSTEM, no_risk_checks, open_account  # noqa: F401

pytestmark = pytest.mark.django_db
D = Decimal


def day(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def go_to(s: str) -> None:
    run_through(day(s) - dt.timedelta(days=1))


@pytest.fixture
def account(business_date):
    business_date("2026-01-05")
    return open_account(limit="10000.00", opened_on=day("2026-01-01"))


@pytest.fixture
def http(account):
    return api_for()[0]


def post(http, url, body, key: str | None = "auto"):
    headers = {}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = str(uuid.uuid4()) if key == "auto" else key
    return http.post(url, body, format="json", **headers)


def fresh(account) -> CreditAccount:
    return CreditAccount.objects.get(pk=account.pk)


def snapshot() -> dict:
    """Everything money-moving: row counts and the account balances."""
    return {
        "purchases": Purchase.objects.count(), "plans": Plan.objects.count(), "lines": ScheduleLine.objects.count(),
        "refunds": Refund.objects.count(), "repayments": Repayment.objects.count(),
        "journal": JournalEntry.objects.count(),
        "accounts": list(CreditAccount.objects.order_by("pk").values_list("used_amount", "credit_balance", "status")),
    }


def buy(http, account, amount="1000.00", order=None, **extra):
    body = {"account": account.reference, "amount": amount, "merchant_order_id": order or f"o-{uuid.uuid4().hex[:8]}"}
    body.update(extra)
    return post(http, "/api/v1/purchases/", body)


# --- purchases ------------------------------------------------------------------------------------


def test_revolving_purchase_posts_to_the_next_statement(http, account):
    response = buy(http, account, "1000.00", "JD-1", category="books")

    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in ("account", "merchant_order_id", "amount", "tenor", "category", "status",
                                 "reason_codes", "requested_on", "posted_on", "cycle_bill_date", "refunded_amount",
                                 "available")} == {
        "account": account.reference, "merchant_order_id": "JD-1", "amount": "1000.00", "tenor": None,
        "category": "books", "status": "approved", "reason_codes": [], "requested_on": "2026-01-05",
        "posted_on": "2026-01-05", "cycle_bill_date": "2026-02-01", "refunded_amount": "0.00", "available": "9000.00",
    }
    plan = body["plan"]
    assert (plan["kind"], plan["principal"], plan["tenor"], plan["fee_rate"], plan["total_fee"]) == (
        "revolving", "1000.00", 1, "0", "0.00")
    assert plan["schedule"] == [{"period": 1, "due_date": "2026-02-10", "principal": "1000.00", "fee": "0.00",
                                 "principal_open": "1000.00", "fee_open": "0.00", "status": "pending"}]
    assert Purchase.objects.get(reference=body["id"]).amount == D("1000.00")
    assert fresh(account).used_amount == D("1000.00")


def test_purchase_installment_shows_the_apr_and_schedule(http, account):
    body = buy(http, account, "6000.00", tenor=12).json()

    plan = body["plan"]
    assert (plan["kind"], plan["apr_nominal"], plan["apr_effective"], plan["fee_rate"], plan["fee_per_period"],
            plan["total_fee"]) == ("purchase_installment", "10.90", "11.46", "0.005", "30.00", "360.00")
    assert [line["due_date"] for line in plan["schedule"]][:3] == ["2026-02-10", "2026-03-10", "2026-04-10"]
    assert {(line["principal"], line["fee"]) for line in plan["schedule"]} == {("500.00", "30.00")}
    assert body["available"] == "4000.00"


def test_same_idempotency_key_replays_the_purchase_byte_for_byte(http, account):
    body = {"account": account.reference, "amount": "100.00", "merchant_order_id": "JD-7"}

    first = post(http, "/api/v1/purchases/", body, key="k-1")
    again = post(http, "/api/v1/purchases/", body, key="k-1")
    other = post(http, "/api/v1/purchases/", {**body, "amount": "200.00"}, key="k-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reuse"
    assert Purchase.objects.count() == 1 and fresh(account).used_amount == D("100.00")


def test_same_merchant_order_under_a_new_key_returns_the_first_purchase(http, account):
    first = buy(http, account, "100.00", "JD-8")
    again = buy(http, account, "100.00", "JD-8")
    conflict = buy(http, account, "150.00", "JD-8")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert conflict.status_code == 422 and conflict.json()["error"]["code"] == "merchant_order_conflict"
    assert Purchase.objects.count() == 1 and fresh(account).used_amount == D("100.00")


def test_insufficient_limit_is_declined_recorded_and_nothing_posts(http, account):
    before = snapshot()

    response = buy(http, account, "10000.01", "JD-big")

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "insufficient_limit"
    assert error["details"]["reason_codes"] == ["insufficient_limit"]
    declined = Purchase.objects.get(reference=error["details"]["purchase"])
    assert (declined.status, declined.reason_codes) == ("declined", ["insufficient_limit"])
    after = snapshot()
    assert after == {**before, "purchases": before["purchases"] + 1}  # only the decline record


def test_frozen_account_is_declined(http, account, staff):
    account_freeze(account=account, manual=True, actor=staff, reason="fraud check")
    before = fresh(account).used_amount

    response = buy(http, account, "10.00")

    assert response.status_code == 422 and response.json()["error"]["code"] == "account_not_active"
    assert fresh(account).used_amount == before


def test_risk_hold_is_202(http, account):
    hooks.register_purchase_check("test_hold", lambda ctx: hooks.RiskDecision.review("gift_card"))

    response = buy(http, account, "500.00", category="gift_card")

    assert response.status_code == 202
    body = response.json()
    # the held amount is reserved out of the available limit (issue 13)
    assert (body["status"], body["reason_codes"], body["plan"], body["available"]) == ("held", ["gift_card"], None, "9500.00")


@pytest.mark.parametrize(
    "change, field",
    [
        ({"account": None}, "account"),
        ({"amount": "abc"}, "amount"),
        ({"amount": 100}, "amount"),
        ({"amount": "0.00"}, "amount"),
        ({"merchant_order_id": ""}, "merchant_order_id"),
        ({"merchant_order_id": "x" * 65}, "merchant_order_id"),
        ({"tenor": 5}, "tenor"),
        ({"category": "c" * 41}, "category"),
    ],
    ids=["no-account", "amount-word", "amount-number", "amount-zero", "blank-order", "long-order", "tenor-5",
         "long-category"],
)
def test_purchase_validation_errors(http, account, change, field):
    body = {"account": account.reference, "amount": "10.00", "merchant_order_id": "JD-v"}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    before = snapshot()

    response = post(http, "/api/v1/purchases/", body)

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == [field]
    assert snapshot() == before
    assert IdempotencyRecord.objects.count() == 0  # a refused input does not burn the key


def test_purchase_on_an_unknown_account_is_404(http, account):
    response = post(http, "/api/v1/purchases/", {"account": "NOSUCHACCOUNT", "amount": "1.00", "merchant_order_id": "x"})

    assert response.status_code == 404 and response.json()["error"]["code"] == "account_not_found"
    assert Purchase.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0  # nothing was attempted: the key stays free


def test_purchase_needs_an_idempotency_key(http, account):
    response = post(http, "/api/v1/purchases/", {"account": account.reference, "amount": "1.00",
                                                 "merchant_order_id": "x"}, key=None)

    assert response.status_code == 400 and response.json()["error"]["code"] == "idempotency_key_required"
    assert Purchase.objects.count() == 0


# --- authentication and scope on every call -------------------------------------------------------

CALLS = [
    ("post", "/api/v1/purchases/", "purchases:write"),
    ("post", "/api/v1/purchases/X/refunds/", "refunds:write"),
    ("get", "/api/v1/accounts/X/statements/", "statements:read"),
    ("post", "/api/v1/statements/X-20260201/installments/", "installments:write"),
    ("post", "/api/v1/plans/X/settlement-quote/", "quotes:read"),
    ("post", "/api/v1/plans/X/settle/", "settlements:write"),
    ("post", "/api/v1/repayments/", "repayments:write"),
    ("get", "/api/v1/accounts/X/", "accounts:read"),
    ("post", "/api/v1/quotes/", "quotes:read"),
]


@pytest.mark.parametrize("method, url, scope", CALLS, ids=[c[1] for c in CALLS])
def test_every_call_needs_a_token_and_its_scope(account, method, url, scope):
    anonymous = getattr(APIClient(), method)(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    others = [s for _, _, s in CALLS if s != scope]
    lacking = getattr(api_for(others)[0], method)(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    granted = getattr(api_for([scope])[0], method)(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"
    assert lacking.status_code == 403 and scope in lacking.json()["error"]["message"]
    assert granted.status_code in (400, 404)  # past authentication and permission: the input is judged


# --- refunds --------------------------------------------------------------------------------------


def test_partial_refund_of_an_installment_shrinks_unpaid_fees_pro_rata(http, account):
    purchase = buy(http, account, "6000.00", tenor=12).json()

    response = post(http, f"/api/v1/purchases/{purchase['id']}/refunds/", {"amount": "3000.00", "reason": "returned"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in ("purchase", "amount", "principal_reduced", "fees_waived", "excess", "excess_to",
                                 "created_on", "purchase_refunded_amount", "available")} == {
        "purchase": purchase["id"], "amount": "3000.00", "principal_reduced": "3000.00", "fees_waived": "180.00",
        "excess": "0.00", "excess_to": "credit_balance", "created_on": "2026-01-05",
        "purchase_refunded_amount": "3000.00", "available": "7000.00",
    }
    plan = Plan.objects.get(reference=purchase["plan"]["id"])
    assert {line.fee_open for line in plan.lines.all()} == {D("15.00")}
    assert [line.principal_open for line in plan.lines.order_by("period")] == [D("500.00")] * 6 + [D("0.00")] * 6


def test_refund_more_than_is_left_is_422_and_changes_nothing(http, account):
    purchase = buy(http, account, "100.00").json()
    post(http, f"/api/v1/purchases/{purchase['id']}/refunds/", {"amount": "60.00", "reason": "r"})
    before = snapshot()

    response = post(http, f"/api/v1/purchases/{purchase['id']}/refunds/", {"amount": "40.01", "reason": "r"})

    assert response.status_code == 422
    assert response.json()["error"] == {"code": "refund_exceeds_purchase",
                                        "message": "At most 40.00 of this purchase can still be refunded.",
                                        "details": {"refundable": "40.00"}}
    assert snapshot() == before


def test_refund_of_a_declined_purchase_is_422(http, account):
    declined = buy(http, account, "20000.00").json()["error"]["details"]["purchase"]
    before = snapshot()

    response = post(http, f"/api/v1/purchases/{declined}/refunds/", {"amount": "1.00", "reason": "r"})

    assert response.status_code == 422 and response.json()["error"]["code"] == "purchase_not_refundable"
    assert snapshot() == before


@pytest.mark.parametrize(
    "body, field",
    [({"amount": "1.00"}, "reason"), ({"reason": "r"}, "amount"), ({"amount": "1.00", "reason": "r", "excess_to": "cash"},
                                                                    "excess_to")],
    ids=["no-reason", "no-amount", "bad-excess-to"],
)
def test_refund_validation_errors(http, account, body, field):
    purchase = buy(http, account, "100.00").json()
    before = snapshot()

    response = post(http, f"/api/v1/purchases/{purchase['id']}/refunds/", body)

    assert response.status_code == 400 and list(response.json()["error"]["details"]) == [field]
    assert snapshot() == before


def test_refund_of_an_unknown_purchase_is_404(http, account):
    response = post(http, "/api/v1/purchases/NOPE/refunds/", {"amount": "1.00", "reason": "r"})

    assert response.status_code == 404 and response.json()["error"]["code"] == "purchase_not_found"


# --- statements -----------------------------------------------------------------------------------


def test_statements_list_with_lines_filters_and_pages(http, account):
    buy(http, account, "1000.00", "JD-s1")
    go_to("2026-02-02")
    post(http, "/api/v1/repayments/", {"account": account.reference, "amount": "1000.00", "external_ref": "b-1",
                                       "channel": "bank_transfer"})
    go_to("2026-03-02")
    url = f"/api/v1/accounts/{account.reference}/statements/"

    body = http.get(url).json()

    assert body["count"] == 2 and body["next"] is None
    feb = body["results"][1]
    assert {k: feb[k] for k in ("id", "account", "bill_date", "due_date", "period_start", "status", "opening_balance",
                                "purchases_amount", "payments_amount", "closing_balance", "minimum_payment")} == {
        "id": f"{account.reference}-20260201", "account": account.reference, "bill_date": "2026-02-01",
        "due_date": "2026-02-10", "period_start": feb["period_start"], "status": "paid", "opening_balance": "0.00",
        "purchases_amount": "1000.00", "payments_amount": "0.00", "closing_balance": "1000.00",
        "minimum_payment": "100.00",
    }
    assert [(line["kind"], line["amount"]) for line in feb["lines"]] == [
        ("opening", "0.00"), ("purchase", "1000.00"), ("closing", "1000.00")]
    assert body["results"][0]["bill_date"] == "2026-03-01"

    assert [s["bill_date"] for s in http.get(url, {"bill_date_from": "2026-02-15"}).json()["results"]] == ["2026-03-01"]
    assert [s["bill_date"] for s in http.get(url, {"bill_date_to": "2026-02-15"}).json()["results"]] == ["2026-02-01"]
    assert http.get(url, {"status": "open"}).json()["count"] == 0
    paged = http.get(url, {"page_size": 1, "page": 2}).json()
    assert paged["count"] == 2 and [s["bill_date"] for s in paged["results"]] == ["2026-02-01"]
    assert paged["previous"] is not None and paged["next"] is None


@pytest.mark.parametrize(
    "params, status, code",
    [({"bill_date_from": "yesterday"}, 400, "invalid"), ({"status": "draft"}, 400, "invalid"),
     ({"bill_date_from": "2026-03-01", "bill_date_to": "2026-02-01"}, 400, "invalid"),
     ({"page": 9}, 404, "not_found"), ({"page_size": 0}, 400, "invalid")],
    ids=["bad-date", "draft-status", "inverted-range", "page-past-end", "page-size-0"],
)
def test_statement_list_refuses_bad_filters(http, account, params, status, code):
    response = http.get(f"/api/v1/accounts/{account.reference}/statements/", params)

    assert response.status_code == status and response.json()["error"]["code"] == code


def test_statement_list_query_count_is_fixed(http, account, django_assert_max_num_queries):
    for i in range(3):
        buy(http, account, "10.00")
        go_to(f"2026-0{i + 2}-02")
    url = f"/api/v1/accounts/{account.reference}/statements/"
    assert http.get(url).json()["count"] == 3

    with django_assert_max_num_queries(9):  # auth (2) + throttle-free reads: account, count, page, lines
        http.get(url)


def test_statements_of_an_unknown_account_is_404(http, account):
    response = http.get("/api/v1/accounts/NOPE/statements/")

    assert response.status_code == 404 and response.json()["error"]["code"] == "account_not_found"


# --- bill installments ----------------------------------------------------------------------------


@pytest.fixture
def billed(http, account):
    buy(http, account, "3000.00", "o-tv")
    buy(http, account, "600.00", "o-cable")
    go_to("2026-02-03")
    return Statement.objects.get(account=account)


def test_bill_installment_converts_the_statement(http, account, billed):
    response = post(http, f"/api/v1/statements/{account.reference}-20260201/installments/", {"tenor": 6})

    assert response.status_code == 201, response.content
    plan = response.json()
    assert (plan["kind"], plan["principal"], plan["fee_per_period"], plan["total_fee"], plan["apr_nominal"],
            plan["apr_effective"]) == ("bill_installment", "3600.00", "21.60", "129.60", "12.24", "12.95")
    assert plan["schedule"][0]["due_date"] == "2026-02-10"
    billed.refresh_from_db()
    assert (billed.revolving_due, billed.minimum_payment) == (D("0.00"), D("621.60"))


@pytest.mark.parametrize(
    "body, code",
    [({"tenor": 6, "amount": "50.00"}, "below_installment_minimum"),
     ({"tenor": 6, "amount": "3600.01"}, "amount_exceeds_revolving")],
    ids=["below-minimum", "more-than-owed"],
)
def test_bill_installment_refusals_change_nothing(http, account, billed, body, code):
    before = snapshot()

    response = post(http, f"/api/v1/statements/{account.reference}-20260201/installments/", body)

    assert response.status_code == 422 and response.json()["error"]["code"] == code
    assert snapshot() == before


def test_bill_installment_after_the_due_date_is_422(http, account, billed):
    go_to("2026-02-12")
    before = snapshot()

    response = post(http, f"/api/v1/statements/{account.reference}-20260201/installments/", {"tenor": 3})

    assert response.status_code == 422 and response.json()["error"]["code"] in ("past_due_date", "statement_not_open")
    assert snapshot() == before


@pytest.mark.parametrize("statement", ["NOPE-20260201", "garbage", "{ref}-20260231", "{ref}-20260101"],
                         ids=["unknown-account", "no-date", "impossible-date", "no-such-cycle"])
def test_bill_installment_of_an_unknown_statement_is_404(http, account, billed, statement):
    response = post(http, f"/api/v1/statements/{statement.format(ref=account.reference)}/installments/", {"tenor": 3})

    assert response.status_code == 404 and response.json()["error"]["code"] == "statement_not_found"


def test_bill_installment_needs_a_tenor(http, account, billed):
    response = post(http, f"/api/v1/statements/{account.reference}-20260201/installments/", {"amount": "200.00"})

    assert response.status_code == 400 and list(response.json()["error"]["details"]) == ["tenor"]


# --- early settlement -----------------------------------------------------------------------------


def test_settlement_on_the_day_of_the_plan_is_free_then_settles(http, account):
    plan_id = buy(http, account, "6000.00", tenor=12).json()["plan"]["id"]

    quote = http.post(f"/api/v1/plans/{plan_id}/settlement-quote/", format="json")

    assert quote.status_code == 200
    assert quote.json() == {
        "plan": plan_id, "total": "6000.00", "remaining_principal": "6000.00", "billed_unpaid": "0.00", "fee": "0.00",
        "future_fees_waived": "360.00", "billed_fee_waived": "0.00", "same_day": True, "policy": "waive_future_fees",
        "as_of": "2026-01-05",
    }

    settled = post(http, f"/api/v1/plans/{plan_id}/settle/", {"external_ref": "PAY-1"}, key="settle-1")
    replay = post(http, f"/api/v1/plans/{plan_id}/settle/", {"external_ref": "PAY-1"}, key="settle-1")
    again = post(http, f"/api/v1/plans/{plan_id}/settle/", {"external_ref": "PAY-2"})

    assert settled.status_code == 201, settled.content
    body = settled.json()
    assert (body["kind"], body["amount"], body["plan"], body["external_ref"], body["available"]) == (
        "settlement", "6000.00", plan_id, "PAY-1", "10000.00")
    assert replay.content == settled.content and replay["Idempotent-Replayed"] == "true"
    assert again.status_code == 422 and again.json()["error"]["code"] == "plan_not_active"
    assert Plan.objects.get(reference=plan_id).status == "settled"
    assert Repayment.objects.filter(kind="settlement").count() == 1


def test_settle_a_revolving_purchase_is_422(http, account):
    plan_id = buy(http, account, "100.00").json()["plan"]["id"]
    before = snapshot()

    response = post(http, f"/api/v1/plans/{plan_id}/settle/", {})

    assert response.status_code == 422 and response.json()["error"]["code"] == "plan_not_installment"
    assert snapshot() == before


def test_settlement_of_an_unknown_plan_is_404(http, account):
    assert http.post("/api/v1/plans/NOPE/settlement-quote/", format="json").json()["error"]["code"] == "plan_not_found"
    assert post(http, "/api/v1/plans/NOPE/settle/", {}).json()["error"]["code"] == "plan_not_found"


def test_settle_with_a_used_payment_reference_is_refused(http, account):
    plan_id = buy(http, account, "600.00", tenor=3).json()["plan"]["id"]
    post(http, "/api/v1/repayments/", {"account": account.reference, "amount": "1.00", "external_ref": "DUP",
                                       "channel": "card"})
    before = snapshot()

    response = post(http, f"/api/v1/plans/{plan_id}/settle/", {"external_ref": "DUP"})

    assert response.status_code == 400 and response.json()["error"]["code"] == "external_ref_conflict"
    assert snapshot() == before


# --- repayments -----------------------------------------------------------------------------------


def test_repayment_pays_principal_and_overpayment_becomes_credit(http, account):
    buy(http, account, "1000.00")
    go_to("2026-02-02")

    response = post(http, "/api/v1/repayments/", {"account": account.reference, "amount": "1200.00",
                                                  "external_ref": "ICBC-1", "channel": "bank_transfer"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in ("account", "amount", "external_ref", "channel", "kind", "status", "received_on",
                                 "posted_on", "to_credit_balance", "plan", "available")} == {
        "account": account.reference, "amount": "1200.00", "external_ref": "ICBC-1", "channel": "bank_transfer",
        "kind": "repayment", "status": "posted", "received_on": "2026-02-02", "posted_on": "2026-02-02",
        "to_credit_balance": "200.00", "plan": None, "available": "10000.00",
    }
    assert body["allocated"] == {"late_fee": "0.00", "deferral_fee": "0.00", "settlement_fee": "0.00",
                                 "installment_fee": "0.00", "premium": "0.00", "principal": "1000.00", "credit_balance": "200.00",
                                 "recovery": "0.00"}
    assert fresh(account).credit_balance == D("200.00")


def test_same_external_ref_posts_once(http, account):
    body = {"account": account.reference, "amount": "50.00", "external_ref": "WX-9", "channel": "wallet"}

    first = post(http, "/api/v1/repayments/", body)
    again = post(http, "/api/v1/repayments/", body)
    conflict = post(http, "/api/v1/repayments/", {**body, "amount": "51.00"})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "external_ref_conflict"
    assert Repayment.objects.count() == 1 and fresh(account).credit_balance == D("50.00")


@pytest.mark.parametrize(
    "change, field",
    [({"channel": "settlement"}, "channel"), ({"channel": "cash"}, "channel"), ({"external_ref": ""}, "external_ref"),
     ({"amount": "-1.00"}, "amount"), ({"received_on": "05/01/2026"}, "received_on"), ({"account": ""}, "account")],
    ids=["settlement-channel", "unknown-channel", "blank-ref", "negative", "bad-date", "blank-account"],
)
def test_repayment_validation_errors(http, account, change, field):
    body = {"account": account.reference, "amount": "10.00", "external_ref": "R-v", "channel": "card", **change}
    before = snapshot()

    response = post(http, "/api/v1/repayments/", body)

    assert response.status_code == 400 and list(response.json()["error"]["details"]) == [field]
    assert snapshot() == before


def test_repayment_received_in_the_future_is_400(http, account):
    before = snapshot()

    response = post(http, "/api/v1/repayments/", {"account": account.reference, "amount": "10.00", "external_ref": "F",
                                                  "channel": "card", "received_on": "2026-01-06"})

    assert response.status_code == 400 and response.json()["error"]["code"] == "value_date_in_future"
    assert snapshot() == before


def test_repayment_value_date_more_than_30_days_back_is_400_and_30_days_is_accepted(http, account):
    before = snapshot()
    body = {"account": account.reference, "amount": "10.00", "external_ref": "OLD", "channel": "bank_file",
            "received_on": "2025-12-05"}

    response = post(http, "/api/v1/repayments/", body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "value_date_too_old"
    assert response.json()["error"]["details"] == {"received_on": "2025-12-05", "earliest": "2025-12-06", "max_days": 30}
    assert snapshot() == before
    response = post(http, "/api/v1/repayments/", {**body, "received_on": "2025-12-06"})
    assert response.status_code == 201 and response.json()["received_on"] == "2025-12-06"


def test_repayment_to_a_closed_account_is_422(http, account, staff):
    from accounts.services import account_close

    account_close(account=account, actor=staff, reason="customer left")
    before = snapshot()

    response = post(http, "/api/v1/repayments/", {"account": account.reference, "amount": "10.00", "external_ref": "C",
                                                  "channel": "card"})

    assert response.status_code == 422 and response.json()["error"]["code"] == "account_closed"
    assert snapshot() == before


# --- concurrency on PostgreSQL --------------------------------------------------------------------


def _threads(n, fn):
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        try:
            barrier.wait(5)
            results[i] = fn(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_purchases_never_exceed_the_limit(business_date):
    business_date("2026-01-05")
    account = open_account(limit="1000.00", opened_on=day("2026-01-01"))
    _, _, raw = api_for(["purchases:write"])

    def attempt(i):
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return post(c, "/api/v1/purchases/", {"account": account.reference, "amount": "300.00",
                                               "merchant_order_id": f"race-{i}"}).status_code

    statuses = _threads(8, attempt)

    assert sorted(statuses) == [201] * 3 + [422] * 5
    assert fresh(account).used_amount == D("900.00")
    assert Purchase.objects.filter(status="approved").count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_repayments_with_the_same_key_post_once(business_date):
    business_date("2026-01-05")
    account = open_account(limit="1000.00", opened_on=day("2026-01-01"))
    _, _, raw = api_for(["repayments:write"])
    body = {"account": account.reference, "amount": "25.00", "external_ref": "same", "channel": "card"}

    def attempt(i):
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return post(c, "/api/v1/repayments/", body, key="same-key" if i % 2 else f"key-{i}").status_code

    statuses = _threads(8, attempt)

    assert statuses.count(201) == 1
    assert set(statuses) <= {200, 201, 409}
    assert Repayment.objects.count() == 1
    assert fresh(account).credit_balance == D("25.00")
