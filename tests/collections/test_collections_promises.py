"""Promises to pay are marked kept, partly kept or broken by close of business against the repayments
the credit engine received (reversed repayments do not count)."""
import datetime as dt
from decimal import Decimal

import pytest

from core.actors import Actor
from debt_collection import services
from debt_collection.models import CollectionCase, PromiseToPay
from debt_collection.services import Author
from installments.services import repayment_reverse
from tests.factories_collections import CaseFactory, CollectorFactory, billed_account, collector_user, pay

DAY = dt.date(2026, 1, 5)
D = Decimal


@pytest.fixture(autouse=True)
def no_risk(monkeypatch):
    from installments import hooks

    monkeypatch.setattr(hooks, "_purchase_checks", {})


@pytest.fixture
def setup(business_date):
    collector = CollectorFactory()
    account = billed_account(amount="2000.00")
    case = CaseFactory(account=account, customer=account.customer, bucket="M1", dpd=5, collector=collector)
    author = Author.staff(collector_user(collector))
    return case, author


def promise(case, author, amount="300.00", days=3):
    return services.promise_record(case=case, author=author, amount=D(amount), promised_on=DAY + dt.timedelta(days=days))


def evaluate(day):
    return services.promises_evaluate(on=day)


def state(p):
    p.refresh_from_db()
    return p.status, p.amount_paid, p.evaluated_on


def test_kept_as_soon_as_the_money_is_in(setup, business_date):
    case, author = setup
    p = promise(case, author)
    business_date(DAY + dt.timedelta(days=1))
    pay(case.account, "300.00", ref="r1")
    assert evaluate(DAY) == 0  # the close of the day it was made: nothing received yet
    assert evaluate(DAY + dt.timedelta(days=1)) == 1
    assert state(p) == ("kept", D("300.00"), DAY + dt.timedelta(days=1))
    assert evaluate(DAY + dt.timedelta(days=1)) == 0  # idempotent


def test_partly_kept_after_the_promised_day_closes(setup, business_date):
    case, author = setup
    p = promise(case, author, days=2)
    business_date(DAY + dt.timedelta(days=2))
    pay(case.account, "120.00", ref="r1")
    assert evaluate(DAY + dt.timedelta(days=1)) == 0
    assert evaluate(DAY + dt.timedelta(days=2)) == 1
    assert state(p) == ("partly_kept", D("120.00"), DAY + dt.timedelta(days=2))
    case.refresh_from_db()
    assert case.broken_promises == 0


def test_broken_when_nothing_came_and_it_counts_against_the_case(setup, business_date):
    case, author = setup
    p = promise(case, author, days=2)
    business_date(DAY + dt.timedelta(days=3))
    pay(case.account, "500.00", ref="late")  # after the promised date: does not count
    assert evaluate(DAY + dt.timedelta(days=2)) == 1
    assert state(p) == ("broken", D("0.00"), DAY + dt.timedelta(days=2))
    case.refresh_from_db()
    assert case.broken_promises == 1
    assert evaluate(DAY + dt.timedelta(days=3)) == 0


def test_payments_before_the_promise_was_made_and_reversed_ones_do_not_count(setup, business_date):
    case, author = setup
    pay(case.account, "300.00", ref="before", received_on=DAY - dt.timedelta(days=1))
    p = promise(case, author, amount="200.00", days=1)
    bounced = pay(case.account, "200.00", ref="bounced")
    repayment_reverse(repayment=bounced, actor=Actor.system("test"), reason="bounced")
    assert evaluate(DAY + dt.timedelta(days=1)) == 1
    assert state(p) == ("broken", D("0.00"), DAY + dt.timedelta(days=1))


def test_promise_on_a_case_closed_meanwhile_is_still_decided(setup, business_date):
    case, author = setup
    p = promise(case, author)
    pay(case.account, "2000.00", ref="all")
    CollectionCase.objects.filter(pk=case.pk).update(status="closed", close_reason="cured", closed_on=DAY, collector=None)
    assert evaluate(DAY) == 1
    assert state(p)[:2] == ("kept", D("2000.00"))


def test_cancelled_promises_are_not_evaluated(setup):
    case, author = setup
    p = promise(case, author)
    services.promise_cancel(promise=p, author=author, reason="debtor changed plan")
    assert evaluate(DAY + dt.timedelta(days=10)) == 0
    assert PromiseToPay.objects.get().status == "cancelled"


def test_money_counted_for_a_decided_promise_is_not_counted_again(setup, business_date):
    case, author = setup
    first = promise(case, author, amount="100.00", days=0)
    pay(case.account, "100.00", ref="r1")
    assert evaluate(DAY) == 1 and state(first)[0] == "kept"
    second = promise(case, author, amount="100.00", days=1)  # recorded the same day, after the first was kept
    assert evaluate(DAY + dt.timedelta(days=1)) == 1
    assert state(second) == ("broken", D("0.00"), DAY + dt.timedelta(days=1))
