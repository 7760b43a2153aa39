"""Issue 13 item 6: the API's input bounds, each answered with the one JSON error body and nothing
changed — a repayment above what the account owes plus the credit tolerance, amounts other than
``^\\d+\\.\\d{2}$`` strings, JSON values of the wrong type, NUL characters in paths, queries and bodies,
deeply nested bodies, bodies too large; and JSON 404/413/500 for every path under ``/api/`` while
the admin keeps its HTML pages."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import CreditAccount
from core.actors import Actor
from core.errors import BusinessRuleError
from installments.models import Repayment
from installments.services import product_terms_update, purchase_authorize, repayment_post
from integrations.middleware import json_depth
from tests.factories_api import api_for
from tests.factories_cob import dump_all
from tests.factories_installments import SYSTEM, no_risk_checks, open_account  # noqa: F401

D = Decimal
D0 = dt.date(2026, 1, 5)
_keys = iter(range(1, 10**6))


@pytest.fixture
def account(business_date):
    business_date(D0)
    account = open_account(limit="10000.00", opened_on=dt.date(2026, 1, 1))
    purchase_authorize(account=account, amount=D("1000.00"), merchant_order_id="o-1", actor=SYSTEM)
    return account


@pytest.fixture
def http(account):
    return api_for()[0]


def post(http, url: str, body, **extra):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return http.generic("POST", url, data, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"k-{next(_keys)}",
                        **extra)


def unchanged():
    """Every table but the idempotency keys (a refused input may or may not burn its key)."""
    rows = dump_all()
    rows.pop("integrations.IdempotencyRecord", None)
    rows.pop("integrations.ApiToken", None)  # last_used_at
    return rows


def error(response) -> tuple[int, str]:
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return response.status_code, body["error"]["code"]


# --- a repayment has a ceiling ------------------------------------------------------------------------


def pay(http, account, amount: str, ref: str):
    return post(http, "/api/v1/repayments/", {"account": account.reference, "amount": amount, "external_ref": ref,
                                              "channel": "bank_transfer"})


def test_a_repayment_above_what_is_owed_plus_the_tolerance_is_refused(http, account):
    before = unchanged()
    response = pay(http, account, "999999999999.99", "huge")
    assert error(response) == (422, "repayment_above_outstanding")
    assert response.json()["error"] == {
        "code": "repayment_above_outstanding",
        "message": "A repayment of 999999999999.99 is more than the account owes (1000.00) less its credit balance "
                   "(0.00) plus the credit tolerance (1000.00): at most 2000.00.",
        "details": {"amount": "999999999999.99", "owed": "1000.00", "credit_balance": "0.00", "tolerance": "1000.00",
                    "maximum": "2000.00"},
    }
    assert unchanged() == before
    assert error(pay(http, account, "2000.01", "just-over")) == (422, "repayment_above_outstanding")
    assert unchanged() == before

    assert pay(http, account, "2000.00", "at-the-ceiling").status_code == 201
    acc = CreditAccount.objects.get(pk=account.pk)
    # nothing is billed yet: the payment waits as a credit balance for the first bill
    assert (acc.used_amount, acc.credit_balance) == (D("1000.00"), D("2000.00"))
    # the credit balance already covers the debt and the whole tolerance: the next payment is refused
    before = unchanged()
    response = pay(http, account, "0.01", "next")
    assert error(response) == (422, "repayment_above_outstanding")
    assert response.json()["error"]["details"]["maximum"] == "0.00"
    assert unchanged() == before


def test_the_tolerance_is_configurable_and_holds_for_every_channel_of_the_service(account, staff):
    product_terms_update(terms=account.product.terms, actor=staff, repayment_credit_tolerance=D("0.00"))
    before = unchanged()
    with pytest.raises(BusinessRuleError) as exc:
        repayment_post(account=account, amount=D("1000.01"), external_ref="bank-file-1", channel="bank_transfer",
                       actor=Actor.system("bank file"))
    assert exc.value.code == "repayment_above_outstanding" and exc.value.details["maximum"] == "1000.00"
    assert unchanged() == before
    repayment = repayment_post(account=account, amount=D("1000.00"), external_ref="bank-file-2", channel="bank_transfer",
                               actor=Actor.system("bank file"))
    assert (repayment.amount, Repayment.objects.count()) == (D("1000.00"), 1)


# --- amounts and types -----------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["5.00\n", "5", "5.0", "5.000", " 5.00", "5.00 ", "+5.00", "05.00", "5,00",
                                    "1e3", "5.00\x0b", 5, 5.0, True, None, ["5.00"]],
                         ids=["newline", "no-decimals", "one-decimal", "three-decimals", "leading-space",
                              "trailing-space", "plus", "leading-zero", "comma", "exponent", "vertical-tab",
                              "int", "float", "bool", "null", "list"])
def test_an_amount_is_exactly_a_string_with_two_decimals(http, account, amount):
    before = unchanged()
    response = post(http, "/api/v1/repayments/", {"account": account.reference, "amount": amount,
                                                  "external_ref": "r-1", "channel": "bank_transfer"})
    assert error(response) == (400, "invalid")
    assert list(response.json()["error"]["details"]) == ["amount"]
    assert unchanged() == before


@pytest.mark.parametrize("url, change, field", [
    ("/api/v1/purchases/", {"tenor": "12"}, "tenor"),
    ("/api/v1/purchases/", {"tenor": 12.0}, "tenor"),
    ("/api/v1/purchases/", {"tenor": True}, "tenor"),
    ("/api/v1/purchases/", {"merchant_order_id": 123}, "merchant_order_id"),
    ("/api/v1/purchases/", {"category": 7}, "category"),
    ("/api/v1/purchases/", {"account": ["x"]}, "account"),
    ("/api/v1/quotes/", {"tenor": "6"}, "tenor"),
    ("/api/v1/repayments/", {"channel": 1}, "channel"),
    ("/api/v1/repayments/", {"external_ref": 42}, "external_ref"),
    ("/api/v1/repayments/", {"received_on": 20260105}, "received_on"),
], ids=["purchase-tenor-string", "purchase-tenor-float", "purchase-tenor-bool", "order-number", "category-number",
        "account-list", "quote-tenor-string", "channel-number", "ref-number", "date-number"])
def test_json_values_of_the_wrong_type_are_refused(http, account, url, change, field):
    bodies = {
        "/api/v1/purchases/": {"account": account.reference, "amount": "10.00", "merchant_order_id": "t-1"},
        "/api/v1/quotes/": {"principal": "600.00", "tenor": 6},
        "/api/v1/repayments/": {"account": account.reference, "amount": "10.00", "external_ref": "t-1",
                                "channel": "bank_transfer"},
    }
    before = unchanged()
    response = post(http, url, {**bodies[url], **change})
    assert error(response) == (400, "invalid")
    assert list(response.json()["error"]["details"]) == [field]
    assert response.json()["error"]["details"][field][0].startswith("Expected ")
    assert unchanged() == before
    assert post(http, url, bodies[url]).status_code in (200, 201)  # the well-typed request passes


def test_a_wrong_type_in_a_nested_list_is_refused_and_query_parameters_stay_text(http, account):
    body = {"name": "张三", "id_number": "11010519491231002X", "mobile": "13800138000",
            "consents": [{"kind": "data_processing", "version": "v1", "granted": "true"}]}
    before = unchanged()
    response = post(http, "/api/v1/applications/", body)
    assert error(response) == (400, "invalid")
    assert response.json()["error"]["details"] == {"consents": {"0": {"granted": ["Expected true or false, got a string."]}}}
    assert unchanged() == before
    # a query string is text by nature: page=1 still parses
    assert http.get(f"/api/v1/accounts/{account.reference}/statements/?page=1&page_size=5").status_code == 200


# --- NUL characters and nesting ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/api/v1/accounts/%00/", "/api/v1/accounts/AB%00CD/statements/", "/api/v1/purchases/%00/",
    "/api/v1/accounts/{ref}/statements/?status=%00",
], ids=["account-id", "statement-list-id", "purchase-id", "query"])
def test_a_nul_in_the_path_or_query_is_400_with_the_json_body(http, account, path):
    before = unchanged()
    response = http.get(path.format(ref=account.reference))
    assert error(response) == (400, "malformed_request")
    assert response.json()["error"]["message"] == "NUL characters are not allowed in the path or the query."
    assert unchanged() == before


@pytest.mark.parametrize("body, message", [
    ('{"account": "A", "amount": "1.00", "merchant_order_id": "x\\u0000y"}',
     "The JSON body contains a NUL character (\\u0000)."),
    ('{"account\\u0000": "A"}', "The JSON body contains a NUL character (\\u0000)."),
    (b'{"account": "A\x00"}', "The body contains a NUL character."),
    ("[" * 100_000 + "]" * 100_000, "The JSON body is nested more than 32 levels deep."),
    ('{"a":' * 33 + "1" + "}" * 33, "The JSON body is nested more than 32 levels deep."),
], ids=["escaped-nul-value", "escaped-nul-key", "raw-nul", "100000-deep", "33-deep"])
def test_nul_bodies_and_deep_nesting_are_400_with_the_json_body(http, account, body, message):
    before = unchanged()
    response = post(http, "/api/v1/purchases/", body)
    assert error(response) == (400, "malformed_request")
    assert response.json()["error"]["message"] == message
    assert unchanged() == before


def test_the_depth_is_measured_without_counting_brackets_in_strings():
    assert json_depth(b'{"a": "[[[[{{{{", "b": [1, [2]]}') == 3
    assert json_depth(b'["\\"[[["]') == 1
    assert json_depth(b'"plain"') == 0


def test_a_body_nested_32_deep_is_parsed_and_answered_by_the_serializer(http, account):
    body = {"account": account.reference, "amount": "1.00", "merchant_order_id": "deep",
            "category": json.loads('{"a":' * 31 + "1" + "}" * 31)}
    response = post(http, "/api/v1/purchases/", body)
    assert error(response) == (400, "invalid") and list(response.json()["error"]["details"]) == ["category"]


# --- JSON 404 / 413 / 500 under /api/, HTML for the admin ----------------------------------------------------


@pytest.mark.parametrize("path", ["/api/nothing/", "/api/v2/accounts/", "/api/v1/nothing/here/"])
def test_unknown_api_paths_are_json_404(http, path):
    assert error(http.get(path)) == (404, "not_found")


def test_a_body_too_large_is_json_413(http, account, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    before = unchanged()
    response = post(http, "/api/v1/purchases/", {"account": account.reference, "amount": "1.00",
                                                 "merchant_order_id": "x" * 2000})
    assert error(response) == (413, "request_too_large")
    assert response.json()["error"]["details"] == {"max_bytes": 1000}
    assert unchanged() == before


def test_an_unhandled_error_is_json_500_and_rolled_back(http, account, monkeypatch):
    from installments import services

    def boom(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "repayment_post", boom)
    before = unchanged()
    response = pay(http, account, "10.00", "r-500")
    assert error(response) == (500, "server_error")
    assert "boom" not in response.content.decode()
    assert unchanged() == before


def test_the_admin_keeps_its_html_pages(admin_client):
    response = admin_client.get("/admin/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
    anonymous = Client().get("/no-such-page/")
    assert anonymous.status_code == 404 and anonymous["Content-Type"].startswith("text/html")


def test_an_empty_query_parameter_is_refused_not_ignored(http, account):
    response = http.get(f"/api/v1/accounts/{account.reference}/statements/?status=&bill_date_from=")
    assert error(response) == (400, "invalid")
    assert response.json()["error"]["details"] == {"status": ["This parameter may not be empty."],
                                                   "bill_date_from": ["This parameter may not be empty."]}
