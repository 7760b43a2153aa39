"""The collections console: a collector works their own cases end to end (log a contact, a refused
contact, a promise), never sees or changes another collector's; managers see every queue, assign in
bulk, read performance and export it; lists run a fixed number of queries."""
import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core import business_date as clock
from debt_collection.models import CaseAssignment, CollectionCase, ContactAttempt, PromiseToPay, ThirdParty
from tests.factories_collections import (
    AgencyFactory,
    CaseFactory,
    CollectorFactory,
    UserFactory,
    at,
    collector_user,
    manager_user,
    overdue_account,
)

DAY = dt.date(2026, 1, 5)
CHANGELIST = "admin:collections_collectioncase_changelist"


def case_url(case):
    return reverse("admin:collections_collectioncase_change", args=[case.pk])


@pytest.fixture
def noon(monkeypatch):
    monkeypatch.setattr(clock, "now_local", lambda: at(DAY, "12:00"))


@pytest.fixture
def two_collectors(business_date):
    a, b = CollectorFactory(user__username="alice"), CollectorFactory(user__username="bob")
    case_a = CaseFactory(collector=a, amount_overdue=Decimal("800.00"))
    case_b = CaseFactory(collector=b, amount_overdue=Decimal("900.00"))
    return a, b, case_a, case_b


def login(client, user):
    client.force_login(user)
    return client


def contact_post(**overrides):
    data = {"contact-channel": "voice", "contact-direction": "outbound", "contact-party": "debtor",
            "contact-outcome": "reached", "contact-note": "spoke", "_log_contact": "1"}
    data.update(overrides)
    return data


def test_collector_sees_only_their_cases(client, two_collectors):
    a, b, case_a, case_b = two_collectors
    response = login(client, collector_user(a)).get(reverse(CHANGELIST))
    assert response.status_code == 200
    body = response.content.decode()
    assert "My cases" in body and case_a.reference in body and case_b.reference not in body
    assert client.get(case_url(case_a)).status_code == 200
    assert client.get(case_url(case_b)).status_code == 403


def test_collector_cannot_change_another_collectors_case(client, two_collectors, noon):
    a, b, case_a, case_b = two_collectors
    login(client, collector_user(a))
    assert client.post(case_url(case_b), contact_post()).status_code == 403
    assert client.post(case_url(case_b), {"promise-amount": "10", "promise-promised_on": "2026-01-07",
                                          "_record_promise": "1"}).status_code == 403
    cancel = reverse("admin:collections_collectioncase_cancel_promise", args=[case_b.pk, 1])
    assert client.post(cancel).status_code == 403
    assert ContactAttempt.objects.count() == 0 and PromiseToPay.objects.count() == 0
    # no bulk actions for a collector either
    response = client.post(reverse(CHANGELIST), {"action": "recall", "_selected_action": [case_b.pk]})
    case_b.refresh_from_db()
    assert case_b.collector_id == b.pk and response.status_code in (200, 302)


def test_collector_works_a_case_end_to_end(client, two_collectors, noon):
    a, _, case_a, _ = two_collectors
    login(client, collector_user(a))
    page = client.get(case_url(case_a))
    body = page.content.decode()
    for section in ("Log a contact", "Record a promise to pay", "Promises to pay", "Contact history", "Statements",
                    "Repayments", "Reminders", "Debtor and account"):
        assert section in body
    assert case_a.customer.mobile not in body and case_a.customer.masked_mobile in body

    response = client.post(case_url(case_a), contact_post(**{"contact-occurred_at": "2026-01-05 11:30"}))
    assert response.status_code == 302
    contact = ContactAttempt.objects.get()
    assert (contact.case_id, contact.user_id, contact.outcome, contact.occurred_at) == (
        case_a.pk, a.user_id, "reached", at(DAY, "11:30"))

    refused = client.post(case_url(case_a), contact_post(**{"contact-occurred_at": "2026-01-04 22:00"}))
    assert refused.status_code == 200
    assert "quiet_hours" in refused.content.decode() and ContactAttempt.objects.count() == 1

    client.post(case_url(case_a), contact_post(**{"contact-outcome": "promise_to_pay",
                                                  "contact-promise_amount": "300.00",
                                                  "contact-promise_date": "2026-01-09"}))
    promise = PromiseToPay.objects.get()
    assert (promise.amount, promise.promised_on, promise.contact_id) == (
        Decimal("300.00"), dt.date(2026, 1, 9), ContactAttempt.objects.latest("pk").pk)
    response = client.post(reverse("admin:collections_collectioncase_cancel_promise", args=[case_a.pk, promise.pk]))
    assert response.status_code == 302
    promise.refresh_from_db()
    assert promise.status == "cancelled"
    response = client.post(case_url(case_a), {"promise-amount": "120.00", "promise-promised_on": "2026-01-08",
                                              "_record_promise": "1"})
    assert response.status_code == 302 and PromiseToPay.objects.filter(status="pending").count() == 1
    client.post(case_url(case_a), {"tp-name": "张三", "tp-relation": "brother", "tp-mobile": "13912345678",
                                   "_add_third_party": "1"})
    assert ThirdParty.objects.get().customer_id == case_a.customer_id


def test_collector_in_the_collector_role_group_can_work(client, business_date, noon):
    group = Group.objects.filter(name="Collector").first()
    if group is None:
        pytest.skip("the staff roles are not installed")
    user = UserFactory(username="grouped")
    user.groups.add(group)
    collector = CollectorFactory(user=user)
    user.user_permissions.clear()  # only what the role grants
    case = CaseFactory(collector=collector)
    login(client, user)
    assert client.get(reverse(CHANGELIST)).status_code == 200
    assert client.post(case_url(case), contact_post()).status_code == 302
    assert ContactAttempt.objects.filter(case=case).count() == 1


def test_manager_sees_every_queue_and_assigns_in_bulk(client, two_collectors):
    a, b, case_a, case_b = two_collectors
    unassigned = CaseFactory()
    target = CollectorFactory(user__username="carol", max_open_cases=2)
    login(client, manager_user())
    body = client.get(reverse(CHANGELIST)).content.decode()
    assert all(c.reference in body for c in (case_a, case_b, unassigned)) and "Performance" in body
    response = client.post(reverse(CHANGELIST), {
        "action": "assign", "_selected_action": [case_a.pk, case_b.pk, unassigned.pk], "_form_action_apply": "1",
        "collector": target.pk, "reason": "rebalance",
    })
    assert response.status_code == 302
    held = dict(CollectionCase.objects.values_list("pk", "collector_id"))
    assert sorted(v for v in held.values() if v == target.pk) == [target.pk, target.pk]  # its maximum is 2
    assert CaseAssignment.objects.filter(collector=target).count() == 2


def test_changelist_runs_a_fixed_number_of_queries(client, business_date):
    collector = CollectorFactory(max_open_cases=200)
    login(client, manager_user())

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse(CHANGELIST)).status_code == 200
        return len(ctx.captured_queries)

    CaseFactory.create_batch(5, collector=collector)
    few = count()
    CaseFactory.create_batch(25, collector=collector)
    many = count()
    assert many == few


def test_performance_view_and_exports(client, business_date, noon):
    collector = CollectorFactory(user__username="=danger")
    agency = AgencyFactory(name="Acme Recovery")
    case = CaseFactory(collector=collector)
    CaseAssignment.objects.create(case=case, collector=collector, bucket="M1", started_on=DAY, actor_rule="test")
    from debt_collection import services

    services.contact_log(case=case, author=services.Author.staff(collector_user(collector)), channel="voice",
                         outcome="reached", now=at(DAY, "12:00"))
    assert agency.pk
    collector_client = login(client, collector_user(collector))
    assert collector_client.get(reverse("admin:collections_performance")).status_code == 403
    login(client, manager_user())
    page = client.get(reverse("admin:collections_performance"), {"start": "2026-01-01", "end": "2026-01-31"})
    assert page.status_code == 200 and "Acme Recovery" in page.content.decode()
    csv = client.get(reverse("admin:collections_performance"), {"start": "2026-01-01", "end": "2026-01-31", "export": "csv"})
    text = csv.content.decode()
    assert csv["Content-Disposition"].startswith('attachment; filename="collections-performance-2026-01-01-2026-01-31')
    assert "'=danger" in text  # formula escaped
    line = next(row for row in text.splitlines() if "danger" in row)
    assert line.split(",")[2:8] == ["1", "1", "1", "0.00", "1", "1"]  # held, assigned in range, open, recovered, contacts, effective
    xlsx = client.get(reverse("admin:collections_performance"), {"start": "2026-01-01", "end": "2026-01-31", "export": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_assignment_export_for_managers_only(client, two_collectors):
    a, _, case_a, _ = two_collectors
    CaseAssignment.objects.create(case=case_a, collector=a, bucket="M1", started_on=DAY, actor_rule="test")
    login(client, collector_user(a))
    assert client.get(reverse("admin:collections_caseassignment_changelist")).status_code == 403
    login(client, manager_user())
    response = client.post(reverse("admin:collections_caseassignment_export"), {"format": "0", **{
        f"caseassignmentresource_{f}": "on" for f in ("case", "account", "bucket", "collector", "started_on")}})
    assert response.status_code == 200
    assert case_a.reference in response.content.decode() and "alice" in response.content.decode()


@pytest.mark.parametrize("model", ["reminder", "remindertemplate", "queue", "collector", "agency", "contactattempt",
                                   "promisetopay", "thirdparty", "channelpreference", "caseassignment"])
def test_other_screens_render_for_a_superuser(client, business_date, django_user_model, model):
    CaseFactory(collector=CollectorFactory())
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "x-Very-long-pass-1"))
    assert client.get(reverse(f"admin:collections_{model}_changelist")).status_code == 200


@pytest.mark.parametrize("model", ["reminder", "contactattempt", "promisetopay", "caseassignment", "collector", "agency",
                                   "queue", "thirdparty"])
def test_lists_run_a_fixed_number_of_queries(client, business_date, django_user_model, model, noon):
    from debt_collection import services
    from debt_collection.models import Reminder, ReminderMessage
    from tests.factories_collections import ThirdPartyFactory

    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "x-Very-long-pass-1"))
    url = reverse(f"admin:collections_{model}_changelist")

    def grow(n):
        for _ in range(n):
            collector = CollectorFactory(queues=("M1", "M2"))
            agency = AgencyFactory(queues=("M4",))
            case = CaseFactory(collector=collector)
            CaseAssignment.objects.create(case=case, collector=collector, bucket="M1", started_on=DAY, actor_rule="t")
            agency_case = CaseFactory(agency=agency, account=overdue_account(bucket="M4", dpd=95))
            CaseAssignment.objects.create(case=agency_case, agency=agency, bucket="M4", started_on=DAY, actor_rule="t")
            author = services.Author.staff(collector_user(collector))
            services.contact_log(case=case, author=author, channel="voice", outcome="reached", now=at(DAY, "12:00"))
            services.promise_record(case=case, author=author, amount=Decimal("10"), promised_on=DAY)
            ThirdPartyFactory(customer=case.customer)
            from installments.models import Statement

            statement = Statement.objects.create(account=case.account, bill_date=DAY, due_date=DAY + dt.timedelta(days=9),
                                                 period_start=DAY, status="open")
            reminder = Reminder.objects.create(account=case.account, statement=statement, kind="T-3", for_date=DAY,
                                               due_date=statement.due_date, amount_due=Decimal("1"),
                                               minimum_payment=Decimal("1"))
            ReminderMessage.objects.create(reminder=reminder, channel="sms", scheduled_for=at(DAY, "08:00"))

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    grow(2)
    few = count()
    grow(6)
    assert count() == few


def test_configuration_saves_are_validated_and_audited(client, business_date, django_user_model):
    from core.models import AuditEvent
    from debt_collection.models import Agency, ChannelPreference, ReminderTemplate

    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "x-Very-long-pass-1"))
    agency = AgencyFactory(name="Old name", last_evaluated_on=dt.date(2025, 1, 1))
    data = {"name": "New name", "is_whitelisted": "on", "contract_starts_on": "2025-01-01",
            "contract_ends_on": "2024-01-01", "max_open_cases": "10", "queues": []}
    bad = client.post(reverse("admin:collections_agency_change", args=[agency.pk]), data)
    assert bad.status_code == 200 and Agency.objects.get(pk=agency.pk).name == "Old name"  # contract ends before it starts
    data["contract_ends_on"] = "2027-01-01"
    assert client.post(reverse("admin:collections_agency_change", args=[agency.pk]), data).status_code == 302
    event = AuditEvent.objects.get(action="collections_config_change", object_id=str(agency.pk))
    assert event.old["name"] == "Old name" and event.new["name"] == "New name"
    response = client.post(reverse("admin:collections_agency_changelist"), {
        "action": "record_evaluation", "_selected_action": [agency.pk], "_form_action_apply": "1",
        "evaluated_on": "2026-01-04", "note": "annual review passed"})
    assert response.status_code == 302
    assert Agency.objects.get(pk=agency.pk).last_evaluated_on == dt.date(2026, 1, 4)
    template = ReminderTemplate.objects.get(kind="T-3", channel="sms")
    refused = client.post(reverse("admin:collections_remindertemplate_change", args=[template.pk]),
                          {"kind": "T-3", "channel": "sms", "subject": "", "body": "{% if %}", "is_active": "on"})
    assert refused.status_code == 200 and "does not compile" in refused.content.decode()
    customer = CaseFactory().customer
    client.post(reverse("admin:collections_channelpreference_add"),
                {"customer": customer.pk, "channel": "sms", "opted_out": "on", "source": "call"})
    assert ChannelPreference.objects.get().opted_out is True
