"""Issue 13, bullet 2: a reversal re-judges the delinquency of every statement the reversed money
touched, from its own due date — DPD, past-due marks, late fees from the right day, freeze, bucket —
including an overpayment whose credit had paid the next bill (PRODUCT §6).

Defaults: bill day 1, due = bill + 9, grace 3 days, late fee 0.05 %/day (min 0.01), minimum 10 %."""
from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import BucketChange
from debt_collection.models import CollectionCase
from installments.models import Charge, ScheduleLine, Statement
from installments.services import PurchaseDeclinedError, purchase_authorize, repayment_post, repayment_reverse
from tests.factories_installments import SYSTEM, D, books_clean, no_risk_checks, open_account  # noqa: F401
from tests.factories_valuedate import cob_through, day, fresh

pytestmark = pytest.mark.django_db


def buy(account, amount: str, order: str):
    return purchase_authorize(account=account, amount=D(amount), merchant_order_id=order, tenor=None, actor=SYSTEM)


def pay(account, amount: str, ref: str):
    return repayment_post(account=account, amount=D(amount), external_ref=ref, channel="bank_transfer", actor=SYSTEM)


@pytest.fixture
def account(business_date):
    business_date("2026-01-05")
    acc = open_account(limit="10000.00", opened_on=day("2026-01-01"))
    buy(acc, "1000.00", "o-1")
    return acc


def late_total(account) -> Decimal:
    return sum((c.amount for c in Charge.objects.filter(account=account, kind="late_fee")), D("0"))


def test_reversing_a_payment_a_month_later_makes_the_bill_past_due_since_its_due_date(account):
    cob_through("2026-02-07")
    rep = pay(account, "1000.00", "r-bounce")  # Feb 8, before the due date Feb 10
    cob_through("2026-03-11")
    assert Statement.objects.get(account=account, bill_date=day("2026-02-01")).status == "paid"
    assert (fresh(account).dpd, fresh(account).status) == (0, "active")

    repayment_reverse(repayment=rep, actor=SYSTEM, reason="chargeback")  # business date Mar 12

    feb = Statement.objects.get(account=account, bill_date=day("2026-02-01"))
    assert (feb.status, feb.resolved_on) == ("overdue", day("2026-02-13"))
    line = ScheduleLine.objects.get(account=account)
    assert (line.status, line.overdue_from, line.principal_open) == ("overdue", day("2026-02-10"), D("1000.00"))
    # Late fees from the right day: 3 days at the close of Feb 13, then 0.50 a day through Mar 11.
    fees = list(Charge.objects.filter(account=account, kind="late_fee").order_by("accrued_on"))
    assert (fees[0].accrued_on, fees[0].days, fees[0].amount) == (day("2026-02-13"), 3, D("1.50"))
    assert (len(fees), late_total(account)) == (27, D("14.50"))
    acc = fresh(account)
    assert (acc.dpd, acc.bucket, acc.status, acc.freeze_reason, acc.used_amount) == (
        29, "M1", "frozen", "overdue", D("1014.50"))
    assert list(BucketChange.objects.filter(account=account).values_list("on_date", "new_bucket", "dpd")) == [
        (day("2026-02-13"), "M1", 3)]
    case = CollectionCase.objects.get(account=account)
    assert (case.status, case.bucket, case.dpd) == ("open", "M1", 29)
    books_clean()

    cob_through("2026-03-13")  # DPD 30, then 31: M2
    acc = fresh(account)
    assert (acc.dpd, acc.bucket, acc.status) == (31, "M2", "frozen")
    assert late_total(account) == D("15.50")
    with pytest.raises(PurchaseDeclinedError):
        buy(account, "10.00", "o-frozen")
    books_clean()


def test_a_reversed_overpayment_that_paid_the_next_bill_makes_both_bills_overdue(account):
    cob_through("2026-02-07")
    rep = pay(account, "1500.00", "r-over")  # Feb 8: February's 1,000.00 and 500.00 of credit
    cob_through("2026-02-14")
    buy(account, "400.00", "o-2")  # Feb 15: on March's bill
    cob_through("2026-03-15")
    mar = Statement.objects.get(account=account, bill_date=day("2026-03-01"))
    assert (mar.status, mar.credit_applied, fresh(account).credit_balance) == ("paid", D("400.00"), D("100.00"))

    repayment_reverse(repayment=rep, actor=SYSTEM, reason="chargeback")  # business date Mar 16

    acc = fresh(account)
    assert acc.credit_balance == D("0.00")
    feb = Statement.objects.get(account=account, bill_date=day("2026-02-01"))
    mar.refresh_from_db()
    assert (feb.status, feb.resolved_on) == ("overdue", day("2026-02-13"))
    # Issue 24: March's statement is amended to what it would have said without the reversed money: the
    # 400.00 the credit had paid (10 % = 40.00), February's 1,000.00 past due and its 9.00 of late fees.
    assert (mar.status, mar.resolved_on, mar.minimum_payment, mar.past_due, mar.version) == (
        "overdue", day("2026-03-13"), D("1049.00"), D("1000.00"), 2)
    lines = {ln.principal: ln for ln in ScheduleLine.objects.filter(account=account)}
    assert (lines[D("1000.00")].status, lines[D("1000.00")].overdue_from) == ("overdue", day("2026-02-10"))
    assert (lines[D("400.00")].status, lines[D("400.00")].overdue_from, lines[D("400.00")].deferred_from) == (
        "overdue", day("2026-03-10"), None)
    assert not Charge.objects.filter(account=account, kind="deferral_fee").exists()
    # 1.50 (Feb 13) + 27 × 0.50 (Feb 14 – Mar 12) + 3 × 0.70 (Mar 13-15, on 1,400.00)
    assert late_total(account) == D("17.10")
    assert (acc.dpd, acc.bucket, acc.status, acc.used_amount) == (33, "M2", "frozen", D("1417.10"))
    assert list(BucketChange.objects.filter(account=account).order_by("on_date").values_list(
        "on_date", "old_bucket", "new_bucket", "dpd")) == [
        (day("2026-02-13"), "M0", "M1", 3), (day("2026-03-13"), "M1", "M2", 31)]
    with pytest.raises(PurchaseDeclinedError):
        buy(account, "10.00", "o-frozen")
    assert CollectionCase.objects.get(account=account, status="open").bucket == "M2"
    books_clean()

    cob_through("2026-03-16")
    assert (fresh(account).dpd, late_total(account)) == (34, D("17.80"))
    books_clean()


def test_reversing_a_payment_before_the_due_date_leaves_the_judging_to_close_of_business(account):
    cob_through("2026-02-03")
    rep = pay(account, "1000.00", "r-early")
    repayment_reverse(repayment=rep, actor=SYSTEM, reason="bounced")  # Feb 4: nothing was judged yet
    assert Statement.objects.get(account=account).status == "open"
    assert not Charge.objects.exists() and not BucketChange.objects.exists()
    cob_through("2026-02-13")
    assert (fresh(account).dpd, late_total(account)) == (3, D("1.50"))
    books_clean()
