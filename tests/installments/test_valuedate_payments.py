"""Issue 13, bullet 1: money follows the value date. A repayment carries the bank value date
(``received_on``); grace, DPD, late fees and promises are judged by it, and posting a back-valued payment
re-judges the days already closed (PRODUCT §6, §7).

Defaults: bill day 1, due = bill + 9, grace 3 days, late fee 0.05 %/day (min 0.01)."""
from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import BucketChange, StatusChange
from core.errors import ValidationError
from debt_collection.models import CollectionCase, Reminder
from installments.models import Allocation, Charge, Repayment, ScheduleLine, Statement
from installments.services import purchase_authorize, repayment_post
from tests.factories_cob import dump_by_pk
from tests.factories_installments import SYSTEM, D, books_clean, no_risk_checks, open_account  # noqa: F401
from tests.factories_valuedate import cob_through, day, engine_through, fresh

pytestmark = pytest.mark.django_db


def pay(account, amount: str, ref: str, received_on: str | None = None):
    return repayment_post(account=account, amount=D(amount), external_ref=ref, channel="bank_file",
                          received_on=day(received_on) if received_on else None, actor=SYSTEM)


@pytest.fixture
def account(business_date):
    business_date("2026-01-05")
    acc = open_account(limit="10000.00", opened_on=day("2026-01-01"))
    purchase_authorize(account=acc, amount=D("1000.00"), merchant_order_id="o-1", tenor=None, actor=SYSTEM)
    return acc


def no_trace(account) -> None:
    acc = fresh(account)
    assert (acc.dpd, acc.bucket, acc.status, acc.freeze_reason) == (0, "M0", "active", "")
    assert sum((c.amount - c.waived for c in Charge.objects.filter(account=account)), D("0")) == D("0.00")
    assert not Charge.objects.filter(account=account, kind="late_fee", waived=0).exists()
    assert not BucketChange.objects.filter(account=account).exists()
    assert not CollectionCase.objects.filter(account=account).exists()
    assert not Reminder.objects.filter(account=account, kind__startswith="D+", for_date__gt=day("2026-02-12")).exists()


@pytest.mark.parametrize("posted_on", ["2026-02-14", "2026-02-17"], ids=["D+4", "D+7"])
def test_a_payment_value_dated_inside_grace_posted_after_the_close_leaves_no_trace(account, posted_on):
    # Due Feb 10, grace Feb 11-13. The bank received the money on Feb 12; the file is posted later.
    cob_through(str(day(posted_on) - dt.timedelta(days=1)))
    acc = fresh(account)
    assert (acc.dpd, acc.bucket, acc.status) == ((day(posted_on) - day("2026-02-11")).days, "M1", "frozen")
    assert Charge.objects.filter(account=account, kind="late_fee").exists()
    assert CollectionCase.objects.filter(account=account, status="open").exists()
    assert Reminder.objects.filter(account=account, kind__startswith="D+", for_date__gt=day("2026-02-12")).exists()

    rep = pay(account, "1000.00", "bank-0212", received_on="2026-02-12")

    assert (rep.received_on, rep.posted_on, rep.to_credit_balance) == (day("2026-02-12"), day(posted_on), D("0.00"))
    assert [(a.kind, a.amount, a.on_date) for a in rep.allocations.all()] == [("principal", D("1000.00"), day("2026-02-12"))]
    st = Statement.objects.get(account=account)
    assert (st.status, st.resolved_on) == ("paid", day("2026-02-12"))
    line = ScheduleLine.objects.get(account=account)
    assert (line.status, line.overdue_from, line.closed_on) == ("closed", None, day("2026-02-12"))
    no_trace(account)
    assert fresh(account).used_amount == D("0.00")
    unfreeze = StatusChange.objects.filter(account=account).order_by("-created_at", "-id").first()
    assert (unfreeze.new_status, unfreeze.actor_id, unfreeze.actor_rule) == ("active", None, "installments.rejudge")
    assert "value-dated 2026-02-12" in unfreeze.reason
    books_clean()

    # The following days close as if the payment had come on time; nothing comes back.
    cob_through("2026-03-02")
    no_trace(account)
    assert Statement.objects.get(account=account, bill_date=day("2026-03-01")).status == "paid"
    books_clean()


def late_fees(account) -> list[tuple]:
    return [(c.accrued_on, c.days, c.amount - c.waived)
            for c in Charge.objects.filter(account=account, kind="late_fee").order_by("accrued_on")]


def test_a_back_valued_payment_after_grace_cures_from_its_value_date(account):
    cob_through("2026-02-17")  # overdue since the close of Feb 13
    assert late_fees(account) == [(day("2026-02-13"), 3, D("1.50"))] + [
        (day(f"2026-02-{d}"), 1, D("0.50")) for d in (14, 15, 16, 17)]
    # Received Feb 15: what was owed that day (principal + the late fees of Feb 13 and 14) is paid;
    # the fees of Feb 15-17 were charged after the money had arrived and go.
    rep = pay(account, "1002.00", "bank-0215", received_on="2026-02-15")
    assert sorted((a.kind, a.amount) for a in rep.allocations.all()) == [
        ("late_fee", D("0.50")), ("late_fee", D("1.50")), ("principal", D("1000.00"))]
    assert late_fees(account) == [(day("2026-02-13"), 3, D("1.50")), (day("2026-02-14"), 1, D("0.50"))]
    acc = fresh(account)
    assert (acc.dpd, acc.bucket, acc.status, acc.used_amount, acc.credit_balance) == (0, "M0", "active", D("0.00"), D("0.00"))
    # History as if it had arrived on time: M1 on Feb 13, cured on Feb 15.
    assert list(BucketChange.objects.filter(account=account).order_by("on_date").values_list(
        "on_date", "old_bucket", "new_bucket", "dpd")) == [(day("2026-02-13"), "M0", "M1", 3), (day("2026-02-15"), "M1", "M0", 0)]
    case = CollectionCase.objects.get(account=account)  # opened before the value date: kept, closed as cured
    assert (case.status, case.close_reason, case.closed_on) == ("closed", "cured", day("2026-02-18"))
    assert Statement.objects.get(account=account).status == "overdue"  # it was overdue on Feb 13: that stays
    books_clean()
    cob_through("2026-02-20")
    assert fresh(account).dpd == 0 and len(late_fees(account)) == 2
    books_clean()


def test_a_back_valued_partial_payment_lowers_the_late_fee_from_its_value_date(account):
    cob_through("2026-02-17")
    rep = pay(account, "500.00", "bank-0215-part", received_on="2026-02-15")
    # As of Feb 15: late fees 1.50 + 0.50, then 498.00 of principal; 502.00 stays past due at 0.25 a day.
    assert sorted((a.kind, a.amount) for a in rep.allocations.all()) == [
        ("late_fee", D("0.50")), ("late_fee", D("1.50")), ("principal", D("498.00"))]
    assert late_fees(account) == [(day("2026-02-13"), 3, D("1.50")), (day("2026-02-14"), 1, D("0.50"))] + [
        (day(f"2026-02-{d}"), 1, D("0.25")) for d in (15, 16, 17)]
    acc = fresh(account)
    assert (acc.dpd, acc.bucket, acc.status, acc.used_amount) == (7, "M1", "frozen", D("502.75"))
    assert CollectionCase.objects.get(account=account).status == "open"
    books_clean()
    cob_through("2026-02-18")
    assert late_fees(account)[-1] == (day("2026-02-18"), 1, D("0.25"))
    books_clean()


def test_a_promise_kept_by_a_value_dated_payment_is_kept(account):
    from debt_collection.models import PromiseToPay
    from debt_collection.services import Author, promise_record
    from tests.factories_collections import manager_user

    cob_through("2026-02-13")  # overdue; the case is opened at the close of Feb 13
    case = CollectionCase.objects.get(account=account, status="open")
    promise = promise_record(case=case, author=Author.staff(manager_user()), amount=D("1000.00"),
                             promised_on=day("2026-02-16"))
    cob_through("2026-02-16")
    promise.refresh_from_db()
    case.refresh_from_db()
    assert (promise.status, case.broken_promises) == ("broken", 1)
    # The bank file of Feb 16 arrives on Feb 17: the customer had kept the promise.
    pay(account, "1002.50", "bank-0216", received_on="2026-02-16")
    promise.refresh_from_db()
    case.refresh_from_db()
    assert (promise.status, promise.amount_paid, promise.evaluated_on) == ("kept", D("1002.50"), day("2026-02-16"))
    assert (case.broken_promises, case.status, case.close_reason) == (0, "closed", "cured")  # worked: kept
    assert PromiseToPay.objects.filter(case=case).count() == 1
    assert (fresh(account).dpd, fresh(account).status) == (0, "active")
    books_clean()


@pytest.mark.parametrize("received_on, max_days, code", [
    ("2026-02-15", 30, "value_date_in_future"),
    ("2026-01-14", 30, "value_date_too_old"),
    ("2026-02-08", 5, "value_date_too_old"),
    ("2026-02-09", 5, None),
], ids=["future", "31-days-back", "product-allows-5", "5-days-back-accepted"])
def test_value_dates_are_bounded_and_refused_with_a_code(account, received_on, max_days, code):
    from installments.services import product_terms_update
    from installments.services.common import get_terms

    if max_days != 30:
        product_terms_update(terms=get_terms(account.product_id), actor=SYSTEM, value_date_max_days=max_days)
    engine_through("2026-02-13")  # the business date is Feb 14
    if code is None:
        assert pay(account, "1000.00", "bank-x", received_on=received_on).received_on == day(received_on)
        assert fresh(account).dpd == 0
        return
    before = dump_by_pk()
    with pytest.raises(ValidationError) as exc:
        pay(account, "1000.00", "bank-x", received_on=received_on)
    assert exc.value.code == code
    assert dump_by_pk() == before and not Repayment.objects.exists()


def test_the_oldest_value_date_allowed_is_accepted(account):
    engine_through("2026-02-13")
    rep = pay(account, "10.00", "bank-oldest", received_on="2026-01-15")  # exactly 30 days back
    assert (rep.received_on, rep.to_credit_balance) == (day("2026-01-15"), D("0.00"))
    assert Allocation.objects.filter(repayment=rep, kind="principal").get().amount == D("10.00")
    books_clean()
