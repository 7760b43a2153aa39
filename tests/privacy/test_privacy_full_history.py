"""The access export of a customer with a full history — an application and its decision, a credit
line with purchases, an installment plan, statements, late fees, repayments, a refund, a collection
case with contacts and a third party — holds every record of every kind, and no one else's; the
deletion then erases what no law keeps."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from accounts.models import CreditAccount
from core.actors import Actor
from privacy import services
from privacy.registry import get_providers
from tests.factories_installments import no_risk_checks  # noqa: F401 (fixture: the engine without risk rules)
from tests.factories_privacy import WANG, make_account, make_customer, staff_user  # noqa: F401 (fixture)

SYSTEM = Actor.system("test")


def close_through(day: str) -> None:
    """The credit engine's close of business day by day, then the collections case sync once."""
    from debt_collection.services.cases import cases_sync
    from installments.daily import run_through

    last = dt.date.fromisoformat(day)
    run_through(last)
    cases_sync(on=last)


@pytest.fixture
def exporter(django_user_model):
    user = django_user_model.objects.create_user("dpo", password=None, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="export_personal_data"))
    return django_user_model.objects.get(pk=user.pk)


@pytest.fixture
def history(business_date, staff):
    from installments.services import purchase_authorize, purchase_refund, repayment_post
    from risk.services.applications import application_submit

    application = application_submit(name=WANG["name"], id_number=WANG["id_number"], mobile=WANG["mobile"],
                                     device_id="wang-phone", consents=[("data_processing", "v1", True),
                                                                           ("credit_bureau", "v1", True)])
    customer = make_customer()
    account = make_account(customer)
    CreditAccount.objects.filter(pk=account.pk).update(opened_on=dt.date(2026, 1, 1))
    purchase_authorize(account=account, amount=Decimal("1000.00"), merchant_order_id="o-1", device_id="wang-phone",
                       actor=SYSTEM)
    gadget = purchase_authorize(account=account, amount=Decimal("1200.00"), merchant_order_id="o-2", tenor=3,
                                actor=SYSTEM)
    purchase_refund(purchase=gadget, amount=Decimal("200.00"), actor=SYSTEM, reason="returned a part")
    close_through("2026-02-20")  # statement on 02-01, due 02-10, overdue after grace: late fees, a case
    repayment_post(account=account, amount=Decimal("300.00"), external_ref="bank-1", channel="bank_transfer",
                   actor=SYSTEM)
    other = make_customer(9)
    make_account(other)
    return application, customer, account, other


def test_the_export_holds_every_record_of_a_full_history(history, exporter, staff):
    from debt_collection.models import CollectionCase, ContactAttempt, ThirdParty
    from installments.models import Charge, Plan, Purchase, Refund, Repayment, ScheduleLine, Statement
    from risk.models import Application, CreditDecision

    application, customer, account, other = history
    case = CollectionCase.objects.get(account=account)
    third = ThirdParty.objects.create(customer=customer, name="王大明", relation="brother", mobile="13700001111")
    ContactAttempt.objects.create(case=case, customer=customer, channel="sms", outcome="no_answer", user=staff.user,
                                  occurred_at=dt.datetime(2026, 2, 20, 10, 0, tzinfo=dt.UTC),
                                  note="called about the February bill")
    ContactAttempt.objects.create(case=case, customer=customer, channel="voice", party="third_party",
                                  third_party=third, outcome="reached", user=staff.user,
                                  occurred_at=dt.datetime(2026, 2, 20, 11, 0, tzinfo=dt.UTC))

    document, payload = services.personal_data_export(customer=customer, user=exporter, reason="access request")
    records, text = document["records"], payload.decode()

    def ids(name):
        return sorted(row["id"] for row in records[name])

    expected = {
        "credit_applications": Application.objects.filter(pk=application.pk),
        "credit_decisions": CreditDecision.objects.filter(application=application),
        "purchases": Purchase.objects.filter(account=account),
        "installment_plans": Plan.objects.filter(account=account),
        "schedule_lines": ScheduleLine.objects.filter(account=account),
        "statements": Statement.objects.filter(account=account),
        "fees_and_charges": Charge.objects.filter(account=account),
        "repayments": Repayment.objects.filter(account=account),
        "refunds": Refund.objects.filter(account=account),
        "collection_cases": CollectionCase.objects.filter(customer=customer),
        "collection_contacts": ContactAttempt.objects.filter(customer=customer),
        "collection_third_parties": ThirdParty.objects.filter(customer=customer),
    }
    for name, queryset in expected.items():
        want = sorted(queryset.values_list("pk", flat=True))
        assert want, f"the scenario should have made {name}"
        assert ids(name) == want, name
    assert {r["kind"] for r in records["fees_and_charges"]} >= {"late_fee"}
    assert records["credit_decisions"][0]["reason_codes"] == list(CreditDecision.objects.get(
        application=application).reason_codes)
    assert records["credit_applications"][0]["name"] == WANG["name"]
    # Every record set of every provider is present, and every non-empty one is counted right.
    assert set(records) == {r.name for p in get_providers() for r in p.records}
    assert all(document["record_counts"][n] == len(rows) for n, rows in records.items())
    # Nothing of the other customer.
    assert other.mobile not in text and other.id_number not in text and other.name not in text
    assert json.loads(payload) == json.loads(json.dumps(document, ensure_ascii=False))


def test_deleting_that_history_after_closing_restricts_and_erases_third_parties(history, staff):
    from debt_collection.models import ThirdParty

    _, customer, account, _ = history
    ThirdParty.objects.create(customer=customer, name="王大明", relation="brother", mobile="13700001111")
    CreditAccount.objects.filter(pk=account.pk).update(status="closed", freeze_reason="", closed_on=dt.date(2026, 2, 20))
    result = services.customer_erase(customer=customer, actor=staff, reason="deletion request")
    assert result.outcome == "restricted"
    assert result.restriction.retained_until == dt.date(2036, 2, 20)
    third = ThirdParty.objects.get(customer=customer)
    assert (third.name, third.mobile) != ("王大明", "13700001111")  # another person's data: no duty keeps it
