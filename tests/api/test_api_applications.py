"""POST /api/v1/applications/ over HTTP: the risk decision (score band → limit), the account it opens,
refusals, the Idempotency-Key, authentication and scope."""
from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from accounts.models import CreditAccount, Customer
from integrations.models import IdempotencyRecord
from risk.models import Application
from tests.factories import CreditProductFactory
from tests.factories_api import api_for
from tests.factories_risk import id_number_for_age, scorecard_version, segment_table

pytestmark = pytest.mark.django_db
URL = "/api/v1/applications/"
CONSENTS = [{"kind": "data_processing", "version": "1.0", "granted": True},
            {"kind": "credit_bureau", "version": "1.0", "granted": True}]


@pytest.fixture
def scorecard(business_date):
    CreditProductFactory()
    return scorecard_version(table=segment_table({"prime": 700, "near": 620, "sub": 420}))


@pytest.fixture
def http(scorecard):
    return api_for(["applications:write", "accounts:read"])[0]


def payload(n: int = 1, segment: str = "prime", **overrides) -> dict:
    body = {"name": "李四", "id_number": id_number_for_age(35, n), "mobile": f"1390000{n:04d}",
            "device_id": f"dev-{n}", "consents": CONSENTS, "features": {"segment": segment}}
    body.update(overrides)
    return body


def post(http, body, key=None):
    return http.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()))


def counts():
    return Application.objects.count(), Customer.objects.count(), CreditAccount.objects.count()


@pytest.mark.parametrize(
    "segment, decision, band, limit, opened",
    [("prime", "approve", "A", "20000.00", True), ("near", "approve", "B", "10000.00", True),
     ("sub", "decline", "", "0.00", False)],
    ids=["band-A", "band-B", "declined"],
)
def test_decision_limit_score_and_reason_codes(http, segment, decision, band, limit, opened):
    response = post(http, payload(segment=segment))

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["decision"], body["limit"], body["automated"], body["model_version"]) == (
        decision, limit, True, "german-v1")
    assert body["score"] == {"prime": 700, "near": 620, "sub": 420}[segment]
    assert body["band"] == band or decision == "decline"
    assert isinstance(body["reason_codes"], list)
    assert (body["account"] is not None) == opened
    if opened:
        account = http.get(f"/api/v1/accounts/{body['account']}/").json()
        assert (account["fixed_limit"], account["available"], account["status"]) == (limit, limit, "active")


def test_same_key_replays_the_decision_and_opens_one_account(http):
    body = payload()

    first = post(http, body, key="app-1")
    again = post(http, body, key="app-1")
    other = post(http, payload(2), key="app-1")

    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reuse"
    assert counts() == (1, 1, 1)


@pytest.mark.parametrize(
    "change, field",
    [({"name": ""}, "name"), ({"consents": []}, None), ({"consents": [{"kind": "x", "version": "1", "granted": True}]},
                                                         "consents"),
     ({"mobile": None}, "mobile"), ({"features": "prime"}, "features"), ({"product": "no such"}, "product")],
    ids=["blank-name", "no-consent", "unknown-consent", "no-mobile", "features-not-object", "bad-product-slug"],
)
def test_invalid_application_is_400_and_nothing_is_created(http, change, field):
    body = {k: v for k, v in {**payload(), **change}.items() if v is not None}

    response = post(http, body)

    assert response.status_code == 400, response.content
    if field:
        assert field in response.json()["error"]["details"]
    assert counts() == (0, 0, 0)
    assert IdempotencyRecord.objects.count() == 0


def test_unknown_product_is_400(http):
    response = post(http, payload(product="gold"))

    assert response.status_code == 400 and response.json()["error"]["details"] == {"product": ["Unknown product."]}
    assert counts() == (0, 0, 0)


def test_needs_the_idempotency_key(http):
    response = http.post(URL, payload(), format="json")

    assert response.status_code == 400 and response.json()["error"]["code"] == "idempotency_key_required"
    assert counts() == (0, 0, 0)


def test_needs_a_token_and_the_scope(scorecard):
    anonymous = APIClient().post(URL, payload(), format="json", HTTP_IDEMPOTENCY_KEY="k")
    lacking = api_for(["accounts:read", "purchases:write"])[0].post(URL, payload(), format="json",
                                                                    HTTP_IDEMPOTENCY_KEY="k")

    assert anonymous.status_code == 401
    assert lacking.status_code == 403 and lacking.json()["error"]["code"] == "permission_denied"
    assert counts() == (0, 0, 0)
