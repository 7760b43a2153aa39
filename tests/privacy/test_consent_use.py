"""Consent re-checked where it is used (issue 12): the campaign-list import refuses customers who
withdrew the marketing consent; withdrawing the agency-sharing consent — through the privacy
service or accounts' ``consent_record`` — recalls the customer's cases from collection agencies
at once, and the agency API masks the debtor whenever the consent is not current."""
from __future__ import annotations

import ast
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import hooks
from accounts.models import Consent, Customer
from accounts.services import consent_record
from core.actors import Actor
from core.errors import BusinessRuleError
from core.models import AuditEvent
from debt_collection import services as collection_services
from debt_collection.models import CaseAssignment, CollectionCase
from privacy import services as privacy_services
from privacy.models import PiiAccessLog
from tests.factories import CreditAccountFactory
from tests.factories_collections import AgencyFactory, CaseFactory, CollectorFactory, overdue_account
from tests.factories_staff import csv_bytes
from tests.collections.test_collections_api import agency_client
from tests.staff.test_staff_imports import CAMPAIGN_HEADER, CAMPAIGN_URL, dry_run, officer_client, problems, state  # noqa: F401

DAY = dt.date(2026, 1, 5)
ROOT = Path(__file__).resolve().parents[2]


# --- the campaign-list import -----------------------------------------------------------------


def _marketing(account, *granted: bool) -> None:
    for value in granted:
        consent_record(customer=account.customer, kind="marketing", version="1.0", granted=value)


def test_campaign_list_refuses_customers_who_withdrew_marketing_consent(officer_client, staff):
    consenting, withdrawn, restricted, silent = CreditAccountFactory.create_batch(4)
    _marketing(consenting, True)
    _marketing(withdrawn, True)
    privacy_services.consent_withdraw(customer=withdrawn.customer, kind="marketing", actor=staff, reason="app settings")
    _marketing(restricted, True)
    Customer.objects.filter(pk=restricted.customer_id).update(processing_restricted=True)
    rows = [[a.reference, "3000.00", "2026-06-01", "2026-06-20", "618"] for a in (consenting, withdrawn, restricted, silent)]
    before = state()

    response = dry_run(officer_client, CAMPAIGN_URL, "618.csv", csv_bytes(CAMPAIGN_HEADER, rows))

    on = timezone.localdate().isoformat()
    assert problems(response) == [
        (3, "", f"The customer withdrew the marketing consent on {on}: no campaign limit."),
        (4, "", "The customer's data may only be stored (PIPL restriction): no campaign."),
    ]
    report = response.context["report"]
    assert (report.new, report.invalid) == (2, 2)  # the other lines would be granted, but nothing is saved
    assert state() == before


def test_the_campaign_service_refuses_and_changes_nothing(business_date, staff):
    from accounts.models import LimitChange, TemporaryLimit
    from accounts.services import temporary_limit_submit  # a person: through the approvals gate (issue 23)

    account = CreditAccountFactory()
    _marketing(account, True, False)
    with pytest.raises(BusinessRuleError) as refused:
        temporary_limit_submit(account=account, amount=Decimal("500.00"), starts_on=DAY, ends_on=DAY, campaign="618",
                               actor=staff, reason="campaign")
    assert refused.value.code == "marketing_consent_withdrawn"
    assert (TemporaryLimit.objects.count(), LimitChange.objects.count()) == (0, 0)
    _marketing(account, True)  # given again: granted
    temp = temporary_limit_submit(account=account, amount=Decimal("500.00"), starts_on=DAY, ends_on=DAY, campaign="618",
                                  actor=staff, reason="campaign").result
    assert (temp.amount, temp.campaign) == (Decimal("500.00"), "618")


# --- agency sharing: recall on withdrawal -------------------------------------------------------


@pytest.fixture
def agency_case(business_date):
    http, agency = agency_client("Alpha")
    case = CaseFactory(account=overdue_account(bucket="M4", dpd=95, consent=True), agency=agency)
    CaseAssignment.objects.create(case=case, agency=agency, bucket="M4", started_on=DAY, reason="balanced assignment",
                                  actor_rule="test")
    return http, agency, case


def _withdraw_through_privacy(customer, actor):
    privacy_services.consent_withdraw(customer=customer, kind="agency_sharing", actor=actor, reason="customer letter")


def _withdraw_through_accounts(customer, actor):
    consent_record(customer=customer, kind="agency_sharing", version="1", granted=False, actor=actor,
                   reason="customer letter")


@pytest.mark.parametrize("withdraw", [_withdraw_through_privacy, _withdraw_through_accounts],
                         ids=["privacy-service", "accounts-consent-record"])
def test_withdrawing_agency_consent_recalls_the_case_to_the_in_house_queue(agency_case, staff, withdraw):
    http, agency, case = agency_case
    detail = reverse("agency-case", args=[case.reference])
    assert http.get(detail).json()["debtor"]["name"] == case.customer.name  # shared while consented

    withdraw(case.customer, staff)

    case.refresh_from_db()
    assert (case.status, case.agency_id, case.collector_id, case.assigned_on, case.auto_assign) == (
        "open", None, None, None, True)
    assignment = CaseAssignment.objects.get(case=case)
    assert (assignment.agency_id, assignment.ended_on, assignment.end_reason) == (agency.pk, DAY, "recalled")
    history = case.history.order_by("-history_date", "-history_id").first()
    assert (history.agency_id, history.history_change_reason) == (None, "recalled from the agency: customer letter")
    recall = AuditEvent.objects.get(action="case_recall")
    assert (recall.actor, recall.reason, recall.object_id, recall.new) == (
        staff.user, "customer letter", str(case.pk), "in-house queue")
    # the agency sees nothing more of it
    logged = PiiAccessLog.objects.count()
    assert http.get(detail).status_code == 404
    assert http.get(reverse("agency-cases")).json()["results"] == []
    assert PiiAccessLog.objects.count() == logged
    # the next balanced assignment keeps it in-house although the agency has room in the queue
    collector = CollectorFactory(queues=("M4",))
    assert collection_services.cases_assign(on=DAY) == 1
    case.refresh_from_db()
    assert (case.collector_id, case.agency_id) == (collector.pk, None)


def test_other_withdrawals_and_other_customers_cases_stay_with_the_agency(agency_case, staff):
    http, agency, case = agency_case
    other = CaseFactory(account=overdue_account(bucket="M4", dpd=95, consent=True), agency=agency)
    consent_record(customer=case.customer, kind="marketing", version="1", granted=True)
    privacy_services.consent_withdraw(customer=case.customer, kind="marketing", actor=staff, reason="app settings")
    consent_record(customer=other.customer, kind="agency_sharing", version="2", granted=True)  # a grant acts on nothing
    assert sorted(CollectionCase.objects.values_list("pk", "agency_id")) == [(case.pk, agency.pk), (other.pk, agency.pk)]
    assert not AuditEvent.objects.filter(action="case_recall").exists()


def test_a_failing_recall_undoes_the_withdrawal(agency_case, staff):
    _, agency, case = agency_case

    def broken(notice):
        raise BusinessRuleError("recall failed", code="recall_failed")

    consents = list(Consent.objects.values_list("pk", flat=True))
    audit = list(AuditEvent.objects.values_list("pk", flat=True))
    hooks.register_consent_withdrawn_handler(broken)
    try:
        with pytest.raises(BusinessRuleError):
            _withdraw_through_privacy(case.customer, staff)
    finally:
        hooks.unregister_consent_withdrawn_handler(broken)
    assert list(Consent.objects.values_list("pk", flat=True)) == consents
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == audit
    case.refresh_from_db()
    assert case.agency_id == agency.pk
    assert CaseAssignment.objects.get(case=case).ended_on is None


def test_the_agency_api_masks_the_debtor_whenever_the_consent_is_not_current(agency_case):
    """Consent checked on every read: a customer whose processing was restricted (or whose consent
    row was written without the services) is masked and no access is logged."""
    http, _, case = agency_case
    Customer.objects.filter(pk=case.customer_id).update(processing_restricted=True)
    response = http.get(reverse("agency-case", args=[case.reference]))
    assert response.status_code == 200
    assert response.json()["debtor"] == {"name": case.customer.masked_name, "mobile": "138****" + case.customer.mobile[-4:]}
    assert not PiiAccessLog.objects.exists()


def test_accounts_imports_no_app_above_it():
    """Import direction: collections → installments → accounts → core; the recall is wired by a hook."""
    above = {"debt_collection", "installments", "risk", "privacy", "staff", "cob", "ledger"}
    found = []
    for path in (ROOT / "accounts").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in above]
    assert found == []


def test_agency_assignment_by_hand_is_still_refused_without_consent(business_date):
    manager = Actor.system("test")
    agency = AgencyFactory()
    case = CaseFactory(account=overdue_account(bucket="M4", dpd=95, consent=False))
    with pytest.raises(BusinessRuleError) as refused:
        collection_services.case_assign(case=case, actor=manager, agency=agency, reason="try")
    assert refused.value.code == "no_agency_consent"
    case.refresh_from_db()
    assert case.agency_id is None and not CaseAssignment.objects.exists()
