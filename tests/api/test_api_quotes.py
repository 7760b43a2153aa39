"""POST /api/v1/quotes/: the PRODUCT §5 worked examples exactly, due dates with an account, refusals."""
from __future__ import annotations

from decimal import Decimal

import pytest

from installments.models import TenorRate
from tests.factories import CreditAccountFactory
from tests.factories_api import api_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/quotes/"


@pytest.fixture
def http(business_date):
    return api_for(["quotes:read"])[0]


@pytest.mark.parametrize(
    "tenor, rate, payment, total_fee, nominal, effective",
    [
        (3, "0.006", "2036.00", "108.00", "10.77", "11.32"),
        (6, "0.006", "1036.00", "216.00", "12.24", "12.95"),
        (12, "0.005", "530.00", "360.00", "10.90", "11.46"),
        (24, "0.005", "280.00", "720.00", "11.13", "11.71"),
    ],
    ids=["tenor-3", "tenor-6", "tenor-12", "tenor-24"],
)
def test_worked_examples_of_product_section_5(http, tenor, rate, payment, total_fee, nominal, effective):
    response = http.post(URL, {"principal": "6000.00", "tenor": tenor}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["payment_per_period"] == payment
    assert body["last_payment"] == payment
    assert body["total_fee"] == total_fee
    assert body["apr_nominal"] == nominal
    assert body["apr_effective"] == effective
    assert body["fee_rate"] == rate
    assert body["total_payable"] == f"{Decimal('6000.00') + Decimal(total_fee):.2f}"
    assert body["account"] is None and body["first_due_date"] is None
    assert [line["period"] for line in body["schedule"]] == list(range(1, tenor + 1))
    assert all(line["due_date"] is None and line["total"] == payment for line in body["schedule"])
    assert sum(Decimal(line["principal"]) for line in body["schedule"]) == Decimal("6000.00")


def test_remainder_goes_to_the_last_period(http):
    body = http.post(URL, {"principal": "1000.00", "tenor": 3}, format="json").json()

    assert [line["principal"] for line in body["schedule"]] == ["333.33", "333.33", "333.34"]
    assert [line["fee"] for line in body["schedule"]] == ["6.00", "6.00", "6.00"]
    assert body["payment_per_period"] == "339.33"
    assert body["last_payment"] == "339.34"


def test_with_an_account_due_dates_follow_its_bill_day_and_terms(http, business_date):
    business_date("2026-03-20")
    account = CreditAccountFactory(bill_day=15)

    body = http.post(URL, {"principal": "6000.00", "tenor": 3, "account": account.reference}, format="json").json()

    # Bought on 20 March, after the bill day: posts to the 15 April statement, due 9 days later.
    assert body["account"] == account.reference
    assert body["first_due_date"] == "2026-04-24"
    assert [line["due_date"] for line in body["schedule"]] == ["2026-04-24", "2026-05-24", "2026-06-24"]
    assert body["payment_per_period"] == "2036.00"


@pytest.mark.parametrize(
    "today, expected_first_due",
    [("2026-03-14", "2026-03-24"), ("2026-03-15", "2026-04-24"), ("2026-12-31", "2027-01-24")],
    ids=["before-bill-day", "on-bill-day", "year-end"],
)
def test_cycle_boundaries(http, business_date, today, expected_first_due):
    business_date(today)
    account = CreditAccountFactory(bill_day=15)

    body = http.post(URL, {"principal": "300.00", "tenor": 3, "account": account.reference}, format="json").json()

    assert body["first_due_date"] == expected_first_due


def test_account_product_rates_are_used(http):
    account = CreditAccountFactory()
    TenorRate.objects.filter(terms__product=account.product, tenor=12).update(fee_rate=Decimal("0.004"))

    body = http.post(URL, {"principal": "6000.00", "tenor": 12, "account": account.reference}, format="json").json()

    assert body["fee_rate"] == "0.004"
    assert body["fee_per_period"] == "24.00"
    assert body["total_fee"] == "288.00"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"tenor": 3}, "principal"),
        ({"principal": "6000.00"}, "tenor"),
        ({"principal": "6000.00", "tenor": 5}, "tenor"),
        ({"principal": 6000, "tenor": 3}, "principal"),
        ({"principal": 6000.5, "tenor": 3}, "principal"),
        ({"principal": "60.001", "tenor": 3}, "principal"),
        ({"principal": "0.00", "tenor": 3}, "principal"),
        ({"principal": "-5.00", "tenor": 3}, "principal"),
        ({"principal": "1e3", "tenor": 3}, "principal"),
        ({"principal": "NaN", "tenor": 3}, "principal"),
        ({"principal": "1000000000000.00", "tenor": 3}, "principal"),
        ({"principal": "6000.00", "tenor": "twelve"}, "tenor"),
    ],
    ids=["no-principal", "no-tenor", "tenor-5", "number-not-string", "float", "three-decimals", "zero",
         "negative", "exponent", "nan", "too-large", "tenor-word"],
)
def test_invalid_input_is_400_with_the_field(http, payload, field):
    response = http.post(URL, payload, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["details"]) == [field]


def test_unknown_account_is_404(http):
    response = http.post(URL, {"principal": "100.00", "tenor": 3, "account": "NOPE"}, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "account_not_found"


def test_tenor_the_product_does_not_offer_is_422(http):
    account = CreditAccountFactory()
    TenorRate.objects.filter(terms__product=account.product, tenor=24).delete()

    response = http.post(URL, {"principal": "100.00", "tenor": 24, "account": account.reference}, format="json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_tenor"


def test_apr_above_the_ceiling_is_422(http):
    # 0.84 over 6 months at 0.6 %: the fee rounds from 0.00504 up to 0.01 a period — 24.09 % a year.
    response = http.post(URL, {"principal": "0.84", "tenor": 6}, format="json")

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "apr_above_ceiling"
    assert error["details"] == {"apr_nominal_pct": "24.09", "tenor": 6}


def test_needs_the_quotes_scope(business_date):
    http = api_for(["accounts:read"])[0]

    response = http.post(URL, {"principal": "100.00", "tenor": 3}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_needs_authentication(client, business_date):
    response = client.post(URL, {"principal": "100.00", "tenor": 3}, content_type="application/json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_quote_stores_nothing(http):
    from django.apps import apps

    counts = {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label in ("installments", "ledger")}
    http.post(URL, {"principal": "6000.00", "tenor": 12}, format="json")
    assert counts == {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label in ("installments", "ledger")}
