"""Performance per collector and agency for a date range: cases, amount recovered (credited to whoever
held the case on the day the money came in), contacts and the promise kept rate."""
import datetime as dt
from decimal import Decimal

import pytest

from core.actors import Actor
from debt_collection import selectors, services
from debt_collection.models import CaseAssignment, CollectionCase, PromiseToPay
from debt_collection.services import Author
from installments.services import repayment_reverse
from tests.factories_collections import AgencyFactory, CaseFactory, CollectorFactory, at, billed_account, collector_user, pay

D = Decimal
DAY = dt.date(2026, 1, 5)


@pytest.fixture(autouse=True)
def no_risk(monkeypatch):
    from installments import hooks

    monkeypatch.setattr(hooks, "_purchase_checks", {})


def day(n):
    return DAY + dt.timedelta(days=n)


def test_recovered_amounts_follow_the_holder_and_kept_rate(business_date):
    a, b = CollectorFactory(user__username="a"), CollectorFactory(user__username="b")
    AgencyFactory(name="Idle agency")
    account = billed_account(amount="3000.00")
    case = CaseFactory(account=account, customer=account.customer, bucket="M1", dpd=5, collector=a, assigned_on=DAY)
    CaseAssignment.objects.create(case=case, collector=a, bucket="M1", started_on=DAY, actor_rule="test")
    author_a, author_b = Author.staff(collector_user(a)), Author.staff(collector_user(b))

    services.contact_log(case=case, author=author_a, channel="voice", outcome="reached", occurred_at=at(DAY, "10:00"),
                         now=at(DAY, "10:00"))
    services.contact_log(case=case, author=author_a, channel="sms", outcome="no_answer", occurred_at=at(DAY, "11:00"),
                         now=at(DAY, "11:00"))
    kept = services.promise_record(case=case, author=author_a, amount=D("100.00"), promised_on=day(1))
    business_date(day(1))
    pay(account, "100.00", ref="r1")  # A holds the case: A's
    services.promises_evaluate(on=day(1))
    broken = services.promise_record(case=case, author=author_a, amount=D("80.00"), promised_on=day(2))
    services.promises_evaluate(on=day(2))  # nothing paid on day 2: broken
    business_date(day(3))
    services.case_assign(case=case, collector=b, actor=Actor.system("test"))  # transfer on day 3
    pay(account, "50.00", ref="r2")  # the day of the hand-over: B's
    partly = services.promise_record(case=case, author=author_b, amount=D("200.00"), promised_on=day(5))
    business_date(day(5))
    pay(account, "30.00", ref="r3")
    bounced = pay(account, "999.00", ref="bounced")
    repayment_reverse(repayment=bounced, actor=Actor.system("test"), reason="bounced")
    services.promises_evaluate(on=day(5))  # 30 of 200 received since day 3 → partly kept (50 on day 3 counts too)
    assert [p.status for p in PromiseToPay.objects.order_by("pk")] == ["kept", "broken", "partly_kept"]
    assert PromiseToPay.objects.get(pk=partly.pk).amount_paid == D("80.00")
    assert list(PromiseToPay.objects.order_by("pk").values_list("pk", flat=True)) == [kept.pk, broken.pk, partly.pk]

    rows = {r.name: r for r in selectors.performance(start=DAY, end=day(6))}
    ra, rb, agency = rows["a"], rows["b"], rows["Idle agency"]
    assert (ra.cases_held, ra.cases_assigned, ra.cases_open_now, ra.amount_recovered) == (1, 1, 0, D("100.00"))
    assert (rb.cases_held, rb.cases_assigned, rb.cases_open_now, rb.amount_recovered) == (1, 1, 1, D("80.00"))
    assert (ra.contacts, ra.effective_contacts, rb.contacts) == (2, 1, 0)
    assert (ra.promises_made, ra.promises_due, ra.promises_kept, ra.promises_broken, ra.promise_kept_rate) == (
        2, 2, 1, 1, D("50.00"))
    assert (rb.promises_made, rb.promises_partly_kept, rb.promise_kept_rate) == (1, 1, D("0.00"))
    assert (agency.kind, agency.cases_held, agency.amount_recovered, agency.promise_kept_rate) == ("agency", 0, D("0"), None)

    # a range that starts after the hand-over credits A with nothing
    later = {r.name: r for r in selectors.performance(start=day(3), end=day(6))}
    assert (later["a"].amount_recovered, later["b"].amount_recovered) == (D("0"), D("80.00"))


def test_a_closed_case_keeps_its_last_holder_for_the_closing_day(business_date):
    a = CollectorFactory(user__username="a")
    account = billed_account(amount="500.00")
    case = CaseFactory(account=account, customer=account.customer, bucket="M1", dpd=5)
    services.case_assign(case=case, collector=a, actor=Actor.system("test"))
    business_date(day(2))
    pay(account, "500.00", ref="all")
    CollectionCase.objects.filter(pk=case.pk)  # the close of business closes it the same day
    from accounts.models import CreditAccount

    CreditAccount.objects.filter(pk=account.pk).update(bucket="M0", dpd=0)
    services.cases_sync(on=day(2))
    assert CaseAssignment.objects.get().end_reason == "closed"
    assert selectors.performance(start=DAY, end=day(2))[0].amount_recovered == D("500.00")
