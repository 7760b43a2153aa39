"""The agency API: a token per agency, each agency sees and works only its own cases; the contact
rules apply; errors have the one body; the OpenAPI schema documents every call."""
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from core import business_date as clock
from debt_collection.models import ContactAttempt, PromiseToPay
from tests.factories_api import api_for
from tests.factories_collections import AgencyFactory, CaseFactory, CollectorFactory, at, collector_user, overdue_account

DAY = dt.date(2026, 1, 5)


@pytest.fixture
def noon(monkeypatch):
    monkeypatch.setattr(clock, "now_local", lambda: at(DAY, "12:00"))


def agency_client(name, **kw):
    http, client, _ = api_for(["agency"], name=f"{name} client")
    agency = AgencyFactory(name=name, api_client=client, **kw)
    return http, agency


@pytest.fixture
def agencies(business_date):
    http_a, a = agency_client("Alpha")
    http_b, b = agency_client("Beta")
    # agencies hold only cases of customers who consented to the sharing (re-checked on every read)
    case_a = CaseFactory(account=overdue_account(bucket="M4", dpd=95, consent=True), agency=a,
                         amount_overdue=Decimal("700.00"))
    case_a2 = CaseFactory(account=overdue_account(bucket="M5", dpd=125, consent=True), agency=a,
                          amount_overdue=Decimal("100.00"))
    case_b = CaseFactory(account=overdue_account(bucket="M4", dpd=95, consent=True), agency=b)
    return http_a, http_b, case_a, case_a2, case_b


def post(http, url, body, key=None):
    return http.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()))


def contacts_url(case):
    return reverse("agency-case-contacts", args=[case.reference])


def test_an_agency_lists_only_its_cases_in_priority_order(agencies):
    http_a, http_b, case_a, case_a2, case_b = agencies
    response = http_a.get(reverse("agency-cases"))
    assert response.status_code == 200
    ids = [row["id"] for row in response.json()["results"]]
    assert ids == [case_a2.reference, case_a.reference]  # M5 before M4
    row = response.json()["results"][1]
    assert (row["amount_overdue"], row["bucket"], row["dpd"]) == ("700.00", "M4", 95)
    assert row["customer_name"] == case_a.customer.masked_name
    assert [r["id"] for r in http_b.get(reverse("agency-cases")).json()["results"]] == [case_b.reference]


def test_an_agency_cannot_see_or_work_another_agencys_case(agencies, noon):
    http_a, _, _, _, case_b = agencies
    detail = http_a.get(reverse("agency-case", args=[case_b.reference]))
    assert detail.status_code == 404 and detail.json()["error"]["code"] == "case_not_found"
    assert post(http_a, contacts_url(case_b), {"channel": "voice", "outcome": "reached"}).status_code == 404
    assert post(http_a, reverse("agency-case-promises", args=[case_b.reference]),
                {"amount": "10.00", "promised_on": "2026-01-07"}).status_code == 404
    assert ContactAttempt.objects.count() == 0 and PromiseToPay.objects.count() == 0


def test_case_detail_shows_the_debtor_and_logs_the_access(agencies):
    http_a, _, case_a, _, _ = agencies
    response = http_a.get(reverse("agency-case", args=[case_a.reference]))
    assert response.status_code == 200
    body = response.json()
    assert body["debtor"] == {"name": case_a.customer.name, "mobile": case_a.customer.mobile}
    assert {"statements", "repayments", "promises", "contacts", "past_due"} <= set(body)
    from privacy.models import PiiAccessLog

    log = PiiAccessLog.objects.get()
    assert (log.customer_id, log.channel, log.fields) == (case_a.customer_id, "api", ["name", "mobile"])


def test_log_a_contact_with_a_promise_and_replay_it(agencies, noon):
    http_a, _, case_a, _, _ = agencies
    body = {"channel": "voice", "outcome": "promise_to_pay", "occurred_at": "2026-01-05T10:15:00+08:00",
            "note": "pays friday", "promise": {"amount": "250.00", "promised_on": "2026-01-09"}}
    first = post(http_a, contacts_url(case_a), body, key="k-1")
    assert first.status_code == 201, first.json()
    assert (first.json()["outcome"], first.json()["by_agency"]) == ("promise_to_pay", True)
    again = post(http_a, contacts_url(case_a), body, key="k-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    contact = ContactAttempt.objects.get(reference=first.json()["id"])
    assert (contact.agency_id, contact.occurred_at) == (case_a.agency_id, at(DAY, "10:15"))
    naive = post(http_a, contacts_url(case_a), {"channel": "sms", "outcome": "reached", "occurred_at": "2026-01-05T11:00:00"})
    assert ContactAttempt.objects.get(reference=naive.json()["id"]).occurred_at == at(DAY, "11:00")  # Beijing time
    assert PromiseToPay.objects.get().amount == Decimal("250.00") and ContactAttempt.objects.count() == 2


def test_contact_rules_apply_to_agencies_with_the_rule_named(agencies, noon):
    http_a, _, case_a, _, _ = agencies
    night = post(http_a, contacts_url(case_a), {"channel": "voice", "outcome": "reached",
                                               "occurred_at": "2026-01-04T22:00:00+08:00"})
    assert night.status_code == 422
    error = night.json()["error"]
    assert (error["code"], error["details"]["rule"]) == ("contact_rule_quiet_hours", "quiet_hours")
    for hhmm in ("09:00", "10:00", "11:00"):
        assert post(http_a, contacts_url(case_a), {"channel": "voice", "outcome": "reached",
                                                   "occurred_at": f"2026-01-05T{hhmm}:00+08:00"}).status_code == 201
    fourth = post(http_a, contacts_url(case_a), {"channel": "voice", "outcome": "no_answer"})
    assert fourth.json()["error"]["code"] == "contact_rule_voice_daily_limit"
    assert ContactAttempt.objects.count() == 3


def test_the_limit_is_shared_with_the_lenders_own_collectors(agencies, noon):
    """Three effective calls by an in-house collector on another account of the same debtor count too."""
    http_a, _, case_a, _, _ = agencies
    from debt_collection import services

    collector = CollectorFactory()
    own = CaseFactory(account=overdue_account(customer=case_a.customer, product__code="other", product__name="Other"),
                      collector=collector)
    for hhmm in ("09:00", "10:00", "11:00"):
        services.contact_log(case=own, author=services.Author.staff(collector_user(collector)), channel="voice",
                             outcome="reached", occurred_at=at(DAY, hhmm), now=at(DAY, "12:00"))
    refused = post(http_a, contacts_url(case_a), {"channel": "voice", "outcome": "reached"})
    assert refused.json()["error"]["code"] == "contact_rule_voice_daily_limit"


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"channel": "voice"}, 400, "invalid"),
        ({"channel": "fax", "outcome": "reached"}, 400, "invalid"),
        ({"channel": "voice", "outcome": "reached", "occurred_at": "2026-01-05T12:30:00+08:00"}, 400, "contact_in_future"),
        ({"channel": "voice", "outcome": "promise_to_pay"}, 400, "promise_required"),
        ({"channel": "voice", "outcome": "reached", "promise": {"amount": 10, "promised_on": "2026-01-07"}}, 400, "invalid"),
    ],
    ids=["no outcome", "bad channel", "future", "promise missing", "amount as number"],
)
def test_bad_input_uses_the_one_error_body(agencies, noon, body, status, code):
    http_a, _, case_a, _, _ = agencies
    response = post(http_a, contacts_url(case_a), body)
    assert response.status_code == status
    assert set(response.json()) == {"error"} and response.json()["error"]["code"] == code
    assert ContactAttempt.objects.count() == 0


def test_promise_endpoint_and_one_pending_promise(agencies):
    http_a, _, case_a, _, _ = agencies
    url = reverse("agency-case-promises", args=[case_a.reference])
    first = post(http_a, url, {"amount": "300.00", "promised_on": "2026-01-10"})
    assert first.status_code == 201 and first.json()["status"] == "pending"
    second = post(http_a, url, {"amount": "100.00", "promised_on": "2026-01-11"})
    assert second.status_code == 409 and second.json()["error"]["code"] == "promise_pending"
    past = post(http_a, url, {"amount": "100.00", "promised_on": "2026-01-01"})
    assert past.status_code in (400, 409)


def test_write_calls_need_an_idempotency_key(agencies, noon):
    http_a, _, case_a, _, _ = agencies
    response = http_a.post(contacts_url(case_a), {"channel": "voice", "outcome": "reached"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "idempotency_key_required"


def test_clients_that_are_not_agencies_or_lack_the_scope_are_refused(agencies, client, django_user_model):
    storefront, _, _ = api_for(["accounts:read"], name="storefront")
    assert storefront.get(reverse("agency-cases")).status_code == 403
    stray, _, _ = api_for(["agency"], name="stray")  # the scope but no agency
    response = stray.get(reverse("agency-cases"))
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    from rest_framework.test import APIClient

    assert APIClient().get(reverse("agency-cases")).status_code == 401
    staff = django_user_model.objects.create_superuser("root", "r@example.com", "x-Very-long-pass-1")
    client.force_login(staff)
    assert client.get(reverse("agency-cases")).status_code == 403  # staff sessions are not agencies


def test_recalled_case_disappears_from_the_agency(agencies):
    http_a, _, case_a, _, _ = agencies
    from core.actors import Actor
    from debt_collection import services

    services.case_recall(case=case_a, actor=Actor.system("test"), reason="complaint")
    assert http_a.get(reverse("agency-case", args=[case_a.reference])).status_code == 404


def test_openapi_documents_the_agency_calls(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "x-Very-long-pass-1"))
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path in ("/api/v1/agency/cases/", "/api/v1/agency/cases/{id}/", "/api/v1/agency/cases/{id}/contacts/",
                 "/api/v1/agency/cases/{id}/promises/"):
        assert path in paths, sorted(paths)
    contact = paths["/api/v1/agency/cases/{id}/contacts/"]["post"]
    assert contact["operationId"] == "agency_contacts_create" and "422" in contact["responses"]
    assert any(p["name"] == "Idempotency-Key" for p in contact["parameters"])
