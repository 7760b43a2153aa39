"""Cases: opened, escalated and closed by the close-of-business step; assigned by balancing open
cases within maxima, to collectors or eligible agencies; assigned, transferred, recalled and closed
by managers only."""
import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from accounts.models import CreditAccount
from core.actors import Actor
from core.errors import BusinessRuleError, PermissionDeniedError, ValidationError
from core.models import AuditEvent
from debt_collection import services
from debt_collection.models import Agency, CaseAssignment, CaseEscalation, CollectionCase, Queue
from tests.factories import CreditAccountFactory
from tests.factories_collections import (
    AgencyFactory,
    CaseFactory,
    CollectorFactory,
    collector_user,
    manager_user,
    overdue_account,
)

DAY = dt.date(2026, 1, 5)


def set_state(account, *, bucket, dpd, written_off_on=None):
    CreditAccount.objects.filter(pk=account.pk).update(bucket=bucket, dpd=dpd, written_off_on=written_off_on)


def cases_state():
    return sorted(CollectionCase.objects.values_list("account_id", "status", "bucket", "close_reason", "collector_id",
                                                     "agency_id"))


def test_sync_opens_one_case_per_overdue_account_and_is_idempotent(business_date):
    late = [overdue_account(bucket="M1", dpd=4) for _ in range(3)]
    CreditAccountFactory()  # current: no case
    grace = CreditAccountFactory(dpd=0, bucket="M0")  # in grace, not overdue: no case
    assert services.cases_sync(on=DAY) == 3
    opened = CollectionCase.objects.order_by("account_id")
    assert [(c.account_id, c.status, c.bucket, c.dpd, c.opened_on, c.queue.bucket) for c in opened] == [
        (a.pk, "open", "M1", 4, DAY, "M1") for a in late]
    assert not CollectionCase.objects.filter(account=grace).exists()
    assert list(CaseEscalation.objects.order_by().values_list("old_bucket", "new_bucket", "on_date").distinct()) == [("", "M1", DAY)]
    before = cases_state()
    assert services.cases_sync(on=DAY) == 0
    assert cases_state() == before and CaseEscalation.objects.count() == 3


def test_one_open_case_per_account_is_a_database_constraint(business_date):
    case = CaseFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        CollectionCase.objects.create(account=case.account, customer=case.customer, opened_on=DAY, bucket="M1")
    CollectionCase.objects.filter(pk=case.pk).update(status="closed", close_reason="cured", closed_on=DAY)
    assert CollectionCase.objects.create(account=case.account, customer=case.customer, opened_on=DAY, bucket="M1").pk


def test_sync_escalates_with_history_and_hands_back_when_holder_leaves_the_queue(business_date):
    m1_only, m1_m2 = CollectorFactory(queues=("M1",)), CollectorFactory(queues=("M1", "M2"))
    a, b = overdue_account(dpd=30), overdue_account(dpd=30)
    services.cases_sync(on=DAY)
    case_a, case_b = (CollectionCase.objects.get(account=x) for x in (a, b))
    services.case_assign(case=case_a, collector=m1_only, actor=Actor.system("test"))
    services.case_assign(case=case_b, collector=m1_m2, actor=Actor.system("test"))
    for x in (a, b):
        set_state(x, bucket="M2", dpd=31)
    next_day = DAY + dt.timedelta(days=1)
    assert services.cases_sync(on=next_day) == 2
    case_a.refresh_from_db(), case_b.refresh_from_db()
    assert (case_a.bucket, case_a.queue.bucket, case_a.collector_id, case_a.dpd) == ("M2", "M2", None, 31)
    assert (case_b.bucket, case_b.collector_id) == ("M2", m1_m2.pk)  # works M2 too: keeps it
    ended = CaseAssignment.objects.get(case=case_a)
    assert (ended.ended_on, ended.end_reason) == (next_day, "escalated")
    assert list(case_a.escalations.values_list("old_bucket", "new_bucket", "dpd")) == [("", "M1", 30), ("M1", "M2", 31)]
    assert services.cases_sync(on=next_day) == 0


@pytest.mark.parametrize("cure, reason", [("cured", "cured"), ("written_off", "written_off")])
def test_sync_closes_cured_and_written_off_cases(business_date, cure, reason):
    collector = CollectorFactory()
    account = overdue_account()
    services.cases_sync(on=DAY)
    case = CollectionCase.objects.get()
    services.case_assign(case=case, collector=collector, actor=Actor.system("test"))
    if cure == "cured":
        set_state(account, bucket="M0", dpd=0)
    else:
        set_state(account, bucket="M7", dpd=180, written_off_on=DAY)
    assert services.cases_sync(on=DAY + dt.timedelta(days=1)) == 1
    case.refresh_from_db()
    assert (case.status, case.close_reason, case.closed_on, case.collector_id) == (
        "closed", reason, DAY + dt.timedelta(days=1), None)
    assert CaseAssignment.objects.get().end_reason == "closed"
    # overdue again later: a new case
    set_state(account, bucket="M1", dpd=2)
    services.cases_sync(on=DAY + dt.timedelta(days=40))
    assert CollectionCase.objects.filter(account=account).count() == 2


def test_assignment_balances_open_cases_and_never_exceeds_maxima(business_date):
    busy = CollectorFactory(max_open_cases=3)
    CaseFactory.create_batch(2, collector=busy)  # busy holds 2 already
    free = CollectorFactory(max_open_cases=3)
    CollectorFactory(queues=("M2",), max_open_cases=50)  # other queue: takes nothing from M1
    for _ in range(6):
        overdue_account()
    services.cases_sync(on=DAY)
    assert services.cases_assign(on=DAY) == 4  # busy: 1 more, free: 3 → two stay unassigned
    counts = {c.pk: c.cases.filter(status="open").count() for c in (busy, free)}
    assert counts == {busy.pk: 3, free.pk: 3}
    assert CollectionCase.objects.filter(status="open", collector__isnull=True, agency__isnull=True).count() == 2
    assert services.cases_assign(on=DAY) == 0
    assert CaseAssignment.objects.filter(actor_rule__startswith="collections.cases_assign").count() == 4


def test_assignment_takes_priority_cases_first(business_date):
    collector = CollectorFactory(max_open_cases=1)
    small = CaseFactory(amount_overdue="100.00")
    big = CaseFactory(amount_overdue="900.00")
    assert services.cases_assign(on=DAY) == 1
    big.refresh_from_db(), small.refresh_from_db()
    assert (big.collector_id, small.collector_id) == (collector.pk, None)


def test_agency_queue_goes_to_eligible_agencies_of_consenting_customers(business_date):
    good = AgencyFactory(name="Good")
    AgencyFactory(name="Unlisted", is_whitelisted=False)
    AgencyFactory(name="Expired", contract_ends_on=DAY - dt.timedelta(days=1))
    AgencyFactory(name="Stale", last_evaluated_on=DAY - dt.timedelta(days=367))
    in_house = CollectorFactory(queues=("M4",))
    consenting = overdue_account(bucket="M4", dpd=95, consent=True)
    withdrawn = overdue_account(bucket="M4", dpd=95, consent=False)
    services.cases_sync(on=DAY)
    assert services.cases_assign(on=DAY) == 2
    assert CollectionCase.objects.get(account=consenting).agency_id == good.pk
    assert CollectionCase.objects.get(account=withdrawn).collector_id == in_house.pk  # no consent: in-house


def test_agency_eligibility_boundaries(business_date):
    from debt_collection.selectors import agency_eligibility_problem

    agency = AgencyFactory(last_evaluated_on=dt.date(2025, 1, 5), contract_ends_on=DAY)
    assert agency_eligibility_problem(agency, on=DAY) is None  # evaluated exactly 12 months ago, contract ends today
    agency.last_evaluated_on = dt.date(2025, 1, 4)
    assert "12 months" in agency_eligibility_problem(agency, on=DAY)
    agency.last_evaluated_on, agency.contract_ends_on = DAY, DAY - dt.timedelta(days=1)
    assert "contract" in agency_eligibility_problem(agency, on=DAY)


# --- Manual work --------------------------------------------------------------------------------------


@pytest.fixture
def manager(business_date):
    return Actor.staff(manager_user())


def test_manual_assign_transfer_recall_close_with_history_and_audit(manager):
    a, b = CollectorFactory(), CollectorFactory()
    case = CaseFactory()
    services.case_assign(case=case, collector=a, actor=manager, reason="new starter")
    services.case_assign(case=case, collector=b, actor=manager, reason="balance")
    case.refresh_from_db()
    assert case.collector_id == b.pk
    assert list(case.assignments.order_by("pk").values_list("collector_id", "ended_on", "end_reason")) == [
        (a.pk, DAY, "transferred"), (b.pk, None, "")]
    services.case_recall(case=case, actor=manager, reason="complaint")
    case.refresh_from_db()
    assert (case.collector_id, case.auto_assign) == (None, False)
    assert services.cases_assign(on=DAY) == 0  # a recalled case waits for a manager
    services.case_close(case=case, actor=manager, reason="settlement agreed")
    case.refresh_from_db()
    assert (case.status, case.close_reason) == ("closed", "settled")
    assert list(AuditEvent.objects.filter(object_type="collections.collectioncase", object_id=str(case.pk)).order_by("pk").values_list("action", flat=True)) == [
        "case_assign", "case_transfer", "case_recall", "case_close"]


def test_manual_assign_refusals_change_nothing(manager):
    full = CollectorFactory(max_open_cases=1)
    CaseFactory(collector=full)
    case = CaseFactory()
    stale = AgencyFactory(last_evaluated_on=dt.date(2024, 1, 1))
    no_consent_agency = AgencyFactory()
    inactive = CollectorFactory()
    inactive.is_active = False
    inactive.save()

    def attempt(**kw):
        before = (list(CaseAssignment.objects.values_list("pk", flat=True)), CollectionCase.objects.get(pk=case.pk).collector_id)
        with pytest.raises((BusinessRuleError, ValidationError)) as err:
            services.case_assign(case=case, actor=manager, **kw)
        after = (list(CaseAssignment.objects.values_list("pk", flat=True)), CollectionCase.objects.get(pk=case.pk).collector_id)
        assert after == before
        return err.value.code

    assert attempt(collector=full) == "collector_at_maximum"
    assert attempt(collector=inactive) == "collector_inactive"
    assert attempt(agency=stale) == "agency_not_eligible"
    assert attempt(agency=no_consent_agency) == "no_agency_consent"
    assert attempt() == "assignee_required"
    assert attempt(collector=full, agency=stale) == "assignee_required"


def test_only_managers_assign(business_date):
    collector = CollectorFactory()
    case = CaseFactory()
    with pytest.raises(PermissionDeniedError):
        services.case_assign(case=case, collector=collector, actor=Actor.staff(collector_user(collector)))
    with pytest.raises(PermissionDeniedError):
        services.case_close(case=case, actor=Actor.staff(collector_user(collector)), reason="x")
    assert CaseAssignment.objects.count() == 0 and CollectionCase.objects.get().status == "open"


def test_database_forbids_collector_and_agency_together(business_date):
    with pytest.raises(IntegrityError), transaction.atomic():
        CaseFactory(collector=CollectorFactory(), agency=AgencyFactory())
    assert not Agency.objects.filter(cases__isnull=False).exists()
    assert Queue.objects.count() == 6


def test_a_write_off_closes_the_case_the_same_day(business_date):
    from cob.registry import registry
    from debt_collection.cob import cases_close_written_off

    names = [s.name for s in registry.steps() if s.slot == "write_offs"]
    assert names.index("installments.write_offs") < names.index("collections.cases_close_written_off")
    account = overdue_account(bucket="M6", dpd=179)
    services.cases_sync(on=DAY)
    set_state(account, bucket="M7", dpd=180, written_off_on=DAY + dt.timedelta(days=1))  # what the engine's step does
    assert cases_close_written_off(on=DAY + dt.timedelta(days=1)) == 1
    case = CollectionCase.objects.get()
    assert (case.status, case.close_reason, case.closed_on) == ("closed", "written_off", DAY + dt.timedelta(days=1))


def test_agency_consent_reads_like_the_accounts_selector(business_date):
    from accounts.models import Customer
    from accounts.selectors import customer_has_consent
    from debt_collection.selectors import agency_sharing_consents

    granted, withdrawn, restricted = (overdue_account(consent=True), overdue_account(consent=False),
                                      overdue_account(consent=True))
    Customer.objects.filter(pk=restricted.customer_id).update(processing_restricted=True)
    customers = [a.customer_id for a in (granted, withdrawn, restricted)]
    assert agency_sharing_consents(customers) == {granted.customer_id}
    assert [customer_has_consent(customer=Customer.objects.get(pk=pk), kind="agency_sharing") for pk in customers] == [
        True, False, False]
