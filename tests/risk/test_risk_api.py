"""The applications API (PRODUCT §10) and the privacy provider of the risk app."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from accounts.models import Customer
from risk.models import AccountScore, Application, ReviewCase
from risk.wiring import risk_anonymise
from tests.factories import CreditProductFactory
from tests.factories_api import api_for
from tests.factories_risk import application_payload, german_row_scoring, german_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(business_date):
    CreditProductFactory()
    german_version()
    http, _, _ = api_for(["applications:write"])
    return http


def _post(api, body):
    return api.post("/api/v1/applications/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))


def _body(row, n, **kw):
    payload = application_payload(row, n, **kw)
    payload["consents"] = [{"kind": k, "version": v, "granted": g} for k, v, g in payload["consents"]]
    return payload


def test_apply_returns_decision_limit_score_and_reason_codes(api):
    _, row, score = german_row_scoring(lambda s: 550 <= s < 600)
    response = _post(api, _body(row, 1))
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["status"], data["decision"], data["automated"], data["limit"], data["score"], data["band"]) == (
        "approved", "approve", True, "5000.00", score, "C")
    assert data["model_version"] == "german-v1" and len(data["reason_codes"]) == 4
    assert set(data["reason_codes"][0]) == {"code", "bin", "points", "points_lost"}
    assert data["account"] == Application.objects.get().account.reference
    assert api.get(f"/api/v1/applications/{data['id']}/").json() == data


def test_decline_then_human_review_request(api):
    _, row, _ = german_row_scoring(lambda s: s < 500)
    data = _post(api, _body(row, 2)).json()
    assert (data["decision"], data["limit"], data["account"]) == ("decline", "0.00", None)
    response = api.post(f"/api/v1/applications/{data['id']}/human-review/", {"statement": "Please look again."}, format="json")
    assert response.status_code == 201
    case = ReviewCase.objects.get()
    assert response.json() == {"case": case.reference, "status": "open"}
    assert case.human_review_requested and case.customer_statement == "Please look again."


def test_bad_input_is_a_400_and_records_nothing(api):
    _, row, _ = german_row_scoring(lambda s: s < 600)
    response = _post(api, {**_body(row, 3), "consents": []})
    assert response.status_code == 400 and response.json()["error"]["code"] == "consent_required"
    response = _post(api, {**_body(row, 3), "product": "nope"})
    assert response.status_code == 400
    assert not Application.objects.exists()


def test_the_scope_is_required(business_date):
    http, _, _ = api_for(["accounts:read"])
    assert http.post("/api/v1/applications/", {}, format="json").status_code == 403
    assert http.get("/api/v1/applications/NOPE/").status_code == 403


def test_unknown_application_is_404(api):
    response = api.get("/api/v1/applications/NOPE/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "application_not_found"


def test_full_anonymisation_erases_the_applicants_identity(api):
    _, row, _ = german_row_scoring(lambda s: 550 <= s < 600)
    _post(api, _body(row, 4))
    customer = Customer.objects.get()
    assert risk_anonymise(customer, retained=True) == 0
    application = Application.objects.get()
    assert application.name == "张三4"
    assert risk_anonymise(customer, retained=False) == 2  # the application and the account's score
    application.refresh_from_db()
    assert (application.name, application.id_number, application.mobile, application.features) == ("Anonymised", "", "", {})
    assert application.id_number_hash == f"anonymised:{application.reference}"
    assert AccountScore.objects.get().features == {}
    assert application.decisions.get().limit == Decimal("5000.00")  # the decision itself is kept
