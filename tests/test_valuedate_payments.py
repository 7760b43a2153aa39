"""Issue 13, bullet 1: money follows the value date. A repayment carries the bank value date
(``received_on``); grace, DPD, late fees and promises are judged by it, and posting a back-valued payment
re-judges the days already closed (PRODUCT §6, §7).

Defaults: bill day 1, due = bill + 9, grace 3 days, late fee 0.05 %/day (min 0.01)."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.models import BucketChange, CreditAccount, StatusChange
from core.errors import ValidationError
from debt_collection.models import CollectionCase, Reminder
from installments.models import Allocation, Charge, Repayment, ScheduleLine, Statement
from installments.services import purchase_authorize, repayment_post
from tests.factories_cob import dump_by_pk
from tests.factories_installments import SYSTEM, books_clean, no_risk_checks, open_account  # noqa: F401

pytestmark = pytest.mark.django_db


def D(value: str) -> Decimal:  # noqa: N802
    return Decimal(value)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def cob_through(until: str) -> None:
    call_command("cob", through=until, no_progress=True, stdout=io.StringIO())


def fresh(account) -> CreditAccount:
    return CreditAccount.objects.get(pk=account.pk)


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
    assert (unfreeze.new_status, unfreeze.actor_id, unfreeze.actor_rule) == ("active", None, "test")
    assert "value-dated 2026-02-12" in unfreeze.reason
    books_clean()

    # The following days close as if the payment had come on time; nothing comes back.
    cob_through("2026-03-15")
    no_trace(account)
    assert Statement.objects.get(account=account, bill_date=day("2026-03-01")).status == "paid"
    books_clean()
