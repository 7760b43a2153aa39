"""Eligibility by age (issue 12): applicants are 18–60 on the business date (the risk policy's
min_age/max_age, from the GB 11643 ID number's birth date), with a clear decline reason in the
decision and the API; minors never get a line, whatever the path (application, officer's approval,
customers-with-accounts import, account opening)."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from accounts.models import CreditAccount, Customer, LimitChange
from accounts.services import account_open, customer_create
from core.errors import BusinessRuleError, ValidationError
from core.identity import age_on, id_age_on, make_id_number
from core.models import AuditEvent
from risk.models import Application, CreditDecision, ReviewCase, RiskEvent, RiskPolicy
from risk.rules import age_eligibility_hit
from risk.selectors import risk_policy
from risk.services import application_submit
from risk.services.config import risk_policy_save
from risk.services.queue import review_case_approve
from tests.factories import CreditProductFactory
from tests.factories_api import api_for
from tests.factories_risk import BUSINESS_DATE, CONSENTS, id_number_for_age, scorecard_version, segment_table
from tests.factories_staff import csv_bytes, role_user
from tests.staff.test_staff_imports import CUSTOMER_HEADER, CUSTOMERS_URL, dry_run, problems, state


@pytest.fixture
def scorecard(business_date):
    CreditProductFactory()
    return scorecard_version(table=segment_table({"prime": 700, "near": 620, "sub": 420}))


def apply(age: int, n: int = 1, **extra) -> Application:
    return application_submit(name=f"申请人{n}", id_number=id_number_for_age(age, n), mobile=f"1390000{n:04d}",
                              device_id=f"dev-{n}", consents=list(CONSENTS), features={"segment": "prime"}, **extra)


def counts():
    return Customer.objects.count(), CreditAccount.objects.count(), LimitChange.objects.count()


@pytest.mark.parametrize("age, rule", [(14, "age_below_minimum"), (17, "age_below_minimum"),
                                       (61, "age_above_maximum"), (75, "age_above_maximum")],
                         ids=["14", "17", "61", "75"])
def test_applicants_outside_18_to_60_are_declined_with_the_reason(scorecard, age, rule):
    before = counts()
    application = apply(age)
    decision = application.decisions.get()
    assert (application.status, decision.outcome, decision.limit, application.account_id) == (
        "declined", "decline", Decimal("0.00"), None)
    assert decision.rules_fired == [{"rule": rule, "outcome": "decline", "severity": "high" if age < 18 else "medium",
                                     "details": {"age": age, "minimum": 18, "maximum": 60}}]
    assert (decision.policy["min_age"], decision.policy["max_age"]) == (18, 60)
    assert list(RiskEvent.objects.values_list("rule", "outcome")) == [(rule, "decline")]
    assert counts() == before  # no customer, no account, no limit: a minor never gets a line
    assert ReviewCase.objects.get().application == application  # the officers' queue sees the decline


@pytest.mark.parametrize("age", [18, 35, 60])
def test_applicants_from_18_to_60_are_decided_by_their_score(scorecard, age):
    application = apply(age)
    decision = application.decisions.get()
    assert (application.status, decision.outcome, decision.band, decision.limit) == (
        "approved", "approve", "A", Decimal("20000.00"))
    assert decision.rules_fired == []


def test_the_age_counts_in_whole_years_on_the_business_date(business_date, scorecard):
    birth = dt.date(2008, 1, 6)  # 18 on 2026-01-06, the day after the conftest's business date
    id_number = make_id_number("110105", birth, 7)
    assert id_age_on(id_number, BUSINESS_DATE) == 17 and id_age_on(id_number, dt.date(2026, 1, 6)) == 18
    assert age_on(dt.date(2000, 2, 29), dt.date(2018, 2, 28)) == 17 and age_on(dt.date(2000, 2, 29), dt.date(2018, 3, 1)) == 18
    declined = application_submit(name="明天成年", id_number=id_number, mobile="13900000007", consents=list(CONSENTS),
                                  features={"segment": "prime"})
    assert declined.status == "declined"
    business_date(dt.date(2026, 1, 6))
    approved = application_submit(name="明天成年", id_number=id_number, mobile="13900000008", consents=list(CONSENTS),
                                  features={"segment": "prime"}, device_id="other")
    assert approved.status == "approved"


def test_the_api_gives_the_decline_reason(scorecard):
    http = api_for(["applications:write"])[0]
    body = {"name": "未成年", "id_number": id_number_for_age(17, 3), "mobile": "13900000003",
            "consents": [{"kind": k, "version": v, "granted": g} for k, v, g in CONSENTS],
            "features": {"segment": "prime"}}
    response = http.post("/api/v1/applications/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["decision"], data["limit"], data["account"], data["decline_reasons"]) == (
        "decline", "0.00", None, ["age_below_minimum"])
    adult = http.post("/api/v1/applications/", {**body, "id_number": id_number_for_age(30, 4), "mobile": "13900000004"},
                      format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert (adult.json()["decision"], adult.json()["decline_reasons"]) == ("approve", [])


# --- the policy -------------------------------------------------------------------------------


def test_the_policy_ages_are_configurable_and_audited(scorecard):
    risk_analyst = role_user("Risk analyst")
    risk_policy_save(values={"min_age": 21, "max_age": 65}, user=risk_analyst)
    assert (risk_policy().min_age, risk_policy().max_age) == (21, 65)
    change = AuditEvent.objects.get(action="risk_policy_change")
    assert (change.old, change.new) == ({"min_age": "18", "max_age": "60"}, {"min_age": "21", "max_age": "65"})
    young = apply(20, 1)
    assert young.decisions.get().rules_fired[0]["details"] == {"age": 20, "minimum": 21, "maximum": 65}
    assert apply(63, 2).status == "approved"


@pytest.mark.parametrize("values", [{"min_age": 17}, {"min_age": 30, "max_age": 29}, {"max_age": 17}],
                         ids=["minimum-below-18", "maximum-below-minimum", "maximum-below-18"])
def test_policy_ages_that_would_let_minors_in_are_refused(business_date, values):
    risk_analyst = role_user("Risk analyst")
    before = (risk_policy().min_age, risk_policy().max_age, AuditEvent.objects.count())
    with pytest.raises(ValidationError) as refused:
        risk_policy_save(values=values, user=risk_analyst)
    assert refused.value.code == "invalid_config"
    policy = RiskPolicy.objects.get()
    assert (policy.min_age, policy.max_age, AuditEvent.objects.count()) == before


def test_the_database_refuses_a_minimum_below_18(business_date):
    risk_policy()
    with pytest.raises(IntegrityError), transaction.atomic():
        RiskPolicy.objects.update(min_age=16)
    assert RiskPolicy.objects.get().min_age == 18


def test_the_policy_screen_edits_the_ages(client, business_date):
    policy = risk_policy()
    client.force_login(role_user("Risk analyst"))
    url = f"/admin/risk/riskpolicy/{policy.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form.initial.get(name, "") for name in form.fields}
    data.update(min_age=20, max_age=55)
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    assert (RiskPolicy.objects.get().min_age, RiskPolicy.objects.get().max_age) == (20, 55)


def test_age_rule_as_a_pure_function():
    assert age_eligibility_hit(age=None, min_age=18, max_age=60) is None
    assert age_eligibility_hit(age=18, min_age=18, max_age=60) is None
    assert age_eligibility_hit(age=60, min_age=18, max_age=60) is None
    assert age_eligibility_hit(age=17, min_age=18, max_age=60).rule == "age_below_minimum"
    assert age_eligibility_hit(age=61, min_age=18, max_age=60).rule == "age_above_maximum"


# --- paths that bypass applications -------------------------------------------------------------


def test_an_officer_cannot_approve_an_applicant_outside_the_ages(scorecard):
    officer = role_user("Credit officer")
    for age, n in ((17, 1), (61, 2)):
        case = apply(age, n).review_cases.get()
        before = (counts(), CreditDecision.objects.count(), AuditEvent.objects.count())
        with pytest.raises(BusinessRuleError) as refused:
            review_case_approve(case=case, user=officer, reason="looks fine", limit=Decimal("1000.00"))
        assert refused.value.code == ("age_below_minimum" if age < 18 else "age_above_maximum")
        assert (counts(), CreditDecision.objects.count(), AuditEvent.objects.count()) == before
        case.refresh_from_db()
        assert case.status == "open"


def test_account_opening_refuses_a_minor(business_date, system):
    product = CreditProductFactory()
    minor = customer_create(name="少年", id_number=id_number_for_age(17, 9), mobile="13900000009")
    before = counts()
    with pytest.raises(BusinessRuleError) as refused:
        account_open(customer=minor, product=product, fixed_limit=Decimal("1000.00"), actor=system)
    assert (refused.value.code, refused.value.details) == ("age_below_minimum", {"age": 17, "minimum": 18})
    assert counts() == before
    adult = customer_create(name="成年", id_number=id_number_for_age(18, 10), mobile="13900000010")
    assert account_open(customer=adult, product=product, fixed_limit=Decimal("1000.00"), actor=system).fixed_limit == 1000


def test_the_customers_import_refuses_a_minor_with_the_reason(client, business_date):
    CreditProductFactory()
    client.force_login(role_user("Credit officer"))
    content = csv_bytes(CUSTOMER_HEADER, [
        ["成年人", id_number_for_age(30, 11), "13800000011", "baitiao", "5000.00", "", ""],
        ["未成年", id_number_for_age(14, 12), "13800000012", "baitiao", "5000.00", "", ""],
    ])
    before = state()
    response = dry_run(client, CUSTOMERS_URL, "customers.csv", content)
    assert problems(response) == [(3, "", "The customer is 14 (from the ID number): no credit line below 18.")]
    assert state() == before
