"""Scenario tests: the business date moves through several cycles (PRODUCT §4–§6).

Defaults: bill day 1, due date = bill date + 9, grace 3 days, late fee 0.05 %/day (min 0.01),
deferral fee 0.05 %/day, minimum payment 10 % of revolving + everything else due."""
import datetime as dt

import pytest

from accounts.models import BucketChange, CreditAccount, StatusChange
from installments.daily import run_day, run_through
from installments.models import Charge, Plan, Purchase, ScheduleLine, Statement
from installments.services import (
    plan_settle, plan_settlement_quote, product_terms_update, purchase_authorize, purchase_refund, repayment_post,
    repayment_reverse, statement_install,
)
from installments.services.common import get_terms
from ledger.models import JournalEntry
from tests.factories_installments import SYSTEM, D, baitiao, books_clean, money_snapshot, no_risk_checks, open_account  # noqa: F401

pytestmark = pytest.mark.django_db


def day(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def go_to(s: str) -> None:
    """Close every business day before ``s``; the business date is then ``s``."""
    run_through(day(s) - dt.timedelta(days=1))


def buy(account, amount, order, tenor=None):
    return purchase_authorize(account=account, amount=D(amount), merchant_order_id=order, tenor=tenor, actor=SYSTEM)


def pay(account, amount, ref):
    return repayment_post(account=account, amount=D(amount), external_ref=ref, channel="bank_transfer", actor=SYSTEM)


def fresh(account) -> CreditAccount:
    return CreditAccount.objects.get(pk=account.pk)


@pytest.fixture
def account(business_date):
    business_date("2026-01-05")
    return open_account(limit="10000.00", opened_on=day("2026-01-01"))


def test_pay_in_full_by_due_date_costs_nothing(account):
    buy(account, "1000.00", "o-1")
    go_to("2026-02-02")
    st = Statement.objects.get(account=account)
    assert (st.bill_date, st.due_date, st.status) == (day("2026-02-01"), day("2026-02-10"), "open")
    assert (st.purchases_amount, st.closing_balance, st.minimum_payment) == (D("1000.00"), D("1000.00"), D("100.00"))
    assert [(line.kind, line.amount) for line in st.lines.all()] == [
        ("opening", D("0.00")), ("purchase", D("1000.00")), ("closing", D("1000.00"))]
    go_to("2026-02-08")
    pay(account, "1000.00", "r-1")
    go_to("2026-03-15")
    st.refresh_from_db()
    assert st.status == "paid" and st.resolved_on == day("2026-02-10")
    assert not Charge.objects.exists()
    acc = fresh(account)
    assert (acc.used_amount, acc.credit_balance, acc.dpd, acc.bucket, acc.status) == (D("0.00"), D("0.00"), 0, "M0", "active")
    # March: nothing owed, but the February payment is on the March statement.
    march = Statement.objects.get(account=account, bill_date=day("2026-03-01"))
    assert (march.opening_balance, march.payments_amount, march.closing_balance, march.status) == (
        D("1000.00"), D("1000.00"), D("0.00"), "paid")
    books_clean()


def test_pay_the_minimum_then_deferral_fee_accrues_until_repaid(account):
    buy(account, "1000.00", "o-1")
    go_to("2026-02-10")
    pay(account, "100.00", "r-min")  # on the due date
    go_to("2026-03-02")
    feb = Statement.objects.get(account=account, bill_date=day("2026-02-01"))
    assert feb.status == "minimum_paid"
    line = ScheduleLine.objects.get(account=account)
    assert (line.status, line.deferred_from, line.principal_open) == ("deferred", day("2026-02-10"), D("900.00"))
    fees = Charge.objects.filter(account=account, kind="deferral_fee").order_by("accrued_on")
    # From the day after the due date: Feb 11 … Mar 1 = 19 days × 900.00 × 0.05 % = 0.45 a day.
    assert [(c.accrued_on, c.days, c.amount) for c in fees][:2] == [(day("2026-02-11"), 1, D("0.45")), (day("2026-02-12"), 1, D("0.45"))]
    assert fees.count() == 19 and sum(c.amount for c in fees) == D("8.55")
    mar = Statement.objects.get(account=account, bill_date=day("2026-03-01"))
    # Billed on March: the 18 days accrued before the bill date (Feb 11 … Feb 28).
    assert (mar.deferral_fees, mar.revolving_due, mar.fees_due) == (D("8.10"), D("900.00"), D("8.10"))
    assert mar.minimum_payment == D("98.10")  # 10 % × 900.00 + 8.10
    assert mar.closing_balance == D("908.10")
    assert (mar.opening_balance, mar.payments_amount) == (D("1000.00"), D("100.00"))
    assert mar.opening_balance + mar.deferral_fees - mar.payments_amount + mar.adjustments == mar.closing_balance
    assert fresh(account).used_amount == D("908.55")
    # Everything repaid on March 2: deferral fees first, then principal; the fee stops.
    rep = pay(account, "908.55", "r-all")
    assert [(a.kind, a.amount) for a in rep.allocations.order_by("id")][-1] == ("principal", D("900.00"))
    assert sum(a.amount for a in rep.allocations.filter(kind="deferral_fee")) == D("8.55")
    go_to("2026-03-20")
    assert Charge.objects.filter(account=account).count() == 19
    mar.refresh_from_db()
    assert mar.status == "paid"
    assert fresh(account).used_amount == D("0.00")
    books_clean()


def test_late_fee_only_after_grace_to_the_cent(account):
    buy(account, "1000.00", "o-1")
    go_to("2026-02-13")  # closed through Feb 12: due Feb 10, grace Feb 11–13
    acc = fresh(account)
    assert (acc.dpd, acc.bucket, acc.status) == (0, "M0", "active")
    assert not Charge.objects.exists()
    assert Statement.objects.get(account=account).status == "open"
    go_to("2026-02-14")  # Feb 13 closed: grace exceeded
    acc = fresh(account)
    assert (acc.dpd, acc.bucket, acc.status, acc.freeze_reason) == (3, "M1", "frozen", "overdue")
    late = Charge.objects.get(account=account, kind="late_fee")
    # 3 days (grace days included once grace is exceeded) × 1000.00 × 0.05 % = 3 × 0.50.
    assert (late.accrued_on, late.days, late.base_amount, late.amount) == (day("2026-02-13"), 3, D("1000.00"), D("1.50"))
    assert BucketChange.objects.get(account=account).new_bucket == "M1"
    assert StatusChange.objects.filter(account=account, new_status="frozen", actor_rule="cob:freezes_sync").count() == 1
    assert ScheduleLine.objects.get(account=account).overdue_from == day("2026-02-10")
    go_to("2026-02-15")
    assert fresh(account).dpd == 4
    assert Charge.objects.get(account=account, accrued_on=day("2026-02-14")).amount == D("0.50")
    assert fresh(account).used_amount == D("1002.00")
    pay(account, "1002.00", "r-cure")
    go_to("2026-02-16")
    acc = fresh(account)
    assert (acc.dpd, acc.bucket, acc.status, acc.freeze_reason, acc.used_amount) == (0, "M0", "active", "", D("0.00"))
    assert Charge.objects.filter(account=account).count() == 2
    assert list(BucketChange.objects.filter(account=account).order_by("on_date").values_list("new_bucket", flat=True)) == ["M1", "M0"]
    books_clean()


def test_paid_within_grace_is_never_overdue(account):
    buy(account, "1000.00", "o-1")
    go_to("2026-02-13")  # last grace day
    pay(account, "1000.00", "r-grace")
    go_to("2026-03-05")
    assert not Charge.objects.exists()
    assert not BucketChange.objects.exists()
    assert Statement.objects.get(account=account, bill_date=day("2026-02-01")).status == "paid"
    books_clean()


@pytest.mark.parametrize("amount, daily", [("5.00", "0.01"), ("10.00", "0.01"), ("1234.56", "0.62"), ("3333.33", "1.67")],
                         ids=["minimum-applies", "half-cent-rounds-up", "odd-amount", "thirds"])
def test_late_fee_daily_minimum_and_rounding(account, amount, daily):
    buy(account, amount, "o-1")
    go_to("2026-02-15")
    late = list(Charge.objects.filter(account=account, kind="late_fee").order_by("accrued_on").values_list("days", "amount"))
    assert late == [(3, 3 * D(daily)), (1, D(daily))]
    books_clean()


def test_bill_installment_then_refund(account):
    a = buy(account, "3000.00", "o-tv")
    buy(account, "600.00", "o-cable")
    go_to("2026-02-03")
    st = Statement.objects.get(account=account)
    assert (st.revolving_due, st.minimum_payment) == (D("3600.00"), D("360.00"))
    plan = statement_install(statement=st, tenor=6, actor=SYSTEM)
    assert (plan.kind, plan.principal, plan.fee_per_period, plan.total_fee) == ("bill_installment", D("3600.00"), D("21.60"), D("129.60"))
    assert (plan.apr_nominal_pct, plan.apr_effective_pct) == (D("12.24"), D("12.95"))
    first = plan.lines.get(period=1)
    assert (first.due_date, first.status, first.statement_id, first.principal + first.fee) == (st.due_date, "due", st.pk, D("621.60"))
    assert [ln.due_date for ln in plan.lines.order_by("period")][1:3] == [day("2026-03-10"), day("2026-04-10")]
    st.refresh_from_db()
    assert (st.revolving_due, st.installments_due, st.minimum_payment, st.closing_balance) == (
        D("0.00"), D("621.60"), D("621.60"), D("621.60"))
    assert fresh(account).used_amount == D("3621.60")
    books_clean()
    # The TV goes back: its principal was converted, so the bill plan absorbs it from the last period back; fees stay.
    refund = purchase_refund(purchase=a, amount=D("3000.00"), actor=SYSTEM, reason="returned")
    assert (refund.principal_reduced, refund.excess, refund.fees_waived_billed + refund.fees_waived_unbilled) == (
        D("3000.00"), D("0.00"), D("0.00"))
    lines = list(plan.lines.order_by("period"))
    assert [ln.principal_open for ln in lines] == [D("600.00")] + [D("0.00")] * 5
    assert [ln.fee_open for ln in lines] == [D("21.60")] * 6
    assert fresh(account).used_amount == D("621.60")
    assert Purchase.objects.get(pk=a.pk).refunded_amount == D("3000.00")
    books_clean()
    pay(account, "621.60", "r-1")
    go_to("2026-03-02")
    assert Statement.objects.get(account=account, bill_date=day("2026-02-01")).status == "paid"
    mar = Statement.objects.get(account=account, bill_date=day("2026-03-01"))
    assert (mar.installments_principal, mar.installments_fee, mar.minimum_payment) == (D("0.00"), D("21.60"), D("21.60"))
    books_clean()


def test_purchase_installment_refund_shrinks_unpaid_fees_pro_rata(account):
    p = buy(account, "6000.00", "o-phone", tenor=6)
    go_to("2026-02-05")
    pay(account, "1036.00", "r-1")  # first installment paid: its fee is kept
    refund = purchase_refund(purchase=p, amount=D("3000.00"), actor=SYSTEM, reason="half returned")
    lines = list(p.plan.lines.order_by("period"))
    assert [ln.principal_open for ln in lines] == [D("0.00"), D("1000.00"), D("1000.00"), D("0.00"), D("0.00"), D("0.00")]
    assert [ln.fee_open for ln in lines] == [D("0.00")] + [D("18.00")] * 5
    assert (refund.principal_reduced, refund.fees_waived_unbilled, refund.excess) == (D("3000.00"), D("90.00"), D("0.00"))
    assert fresh(account).used_amount == D("2000.00")
    # Refund the rest: 1000.00 already repaid becomes a credit balance.
    refund2 = purchase_refund(purchase=p, amount=D("3000.00"), actor=SYSTEM, reason="rest returned")
    assert (refund2.principal_reduced, refund2.excess) == (D("2000.00"), D("1000.00"))
    acc = fresh(account)
    assert (acc.used_amount, acc.credit_balance) == (D("0.00"), D("1000.00"))
    assert Plan.objects.get(pk=p.plan.pk).status == "refunded"
    books_clean()


def test_early_settlement_on_day_zero_is_free(account):
    p = buy(account, "6000.00", "o-1", tenor=6)
    quote = plan_settlement_quote(plan=p.plan)
    assert (quote.total, quote.quote.fee, quote.same_day) == (D("6000.00"), D("0.00"), True)
    rep = plan_settle(plan=p.plan, actor=SYSTEM)
    assert (rep.kind, rep.amount) == ("settlement", D("6000.00"))
    plan = Plan.objects.get(pk=p.plan.pk)
    assert plan.status == "settled"
    assert set(plan.lines.values_list("status", flat=True)) == {"closed"}
    assert sum(ln.fee_waived for ln in plan.lines.all()) == D("216.00")
    assert fresh(account).used_amount == D("0.00")
    assert not JournalEntry.objects.filter(kind__in=["fee_billed", "waiver"]).exists()
    go_to("2026-02-15")
    assert Statement.objects.filter(account=account).count() == 1  # the settlement is on February's statement
    books_clean()


@pytest.mark.parametrize("policy, expected, fee_income", [("waive_future_fees", "5000.00", "36.00"),
                                                          ("charge_next_fee", "5036.00", "72.00")])
def test_early_settlement_later_follows_the_policy(account, policy, expected, fee_income):
    terms = get_terms(baitiao().pk)
    product_terms_update(terms=terms, actor=SYSTEM, settlement_policy=policy)
    p = buy(account, "6000.00", "o-1", tenor=6)
    go_to("2026-02-05")
    pay(account, "1036.00", "r-1")
    go_to("2026-02-20")
    quote = plan_settlement_quote(plan=p.plan)
    assert quote.total == D(expected)
    plan_settle(plan=p.plan, actor=SYSTEM)
    assert fresh(account).used_amount == D("0.00")
    income = sum(line.credit - line.debit for e in JournalEntry.objects.all() for line in e.lines.filter(ledger_account_id="4000"))
    assert income == D(fee_income)
    go_to("2026-03-15")
    assert not Charge.objects.exists()
    books_clean()


def test_overpayment_becomes_credit_that_pays_the_next_bill(account):
    buy(account, "500.00", "o-1")
    go_to("2026-02-05")
    rep = pay(account, "800.00", "r-over")
    assert rep.to_credit_balance == D("300.00")
    acc = fresh(account)
    assert (acc.used_amount, acc.credit_balance) == (D("0.00"), D("300.00"))
    go_to("2026-02-20")
    buy(account, "200.00", "o-2")
    go_to("2026-03-02")
    mar = Statement.objects.get(account=account, bill_date=day("2026-03-01"))
    assert (mar.purchases_amount, mar.credit_applied, mar.closing_balance, mar.status) == (
        D("200.00"), D("200.00"), D("-100.00"), "paid")
    acc = fresh(account)
    assert (acc.used_amount, acc.credit_balance) == (D("0.00"), D("100.00"))
    books_clean()


def test_reversal_reopens_exactly_and_the_statement_goes_overdue(account):
    buy(account, "1000.00", "o-1")
    go_to("2026-02-05")
    before = money_snapshot()["lines"]
    rep = pay(account, "1000.00", "r-bounce")
    go_to("2026-02-15")
    assert Statement.objects.get(account=account).status == "paid"
    repayment_reverse(repayment=rep, actor=SYSTEM, reason="bounced")
    # Re-judged from the due date (issue 13): past due since Feb 10, overdue once grace ended (Feb 13),
    # late fees for Feb 11–14 as the closes would have charged them.
    line = ScheduleLine.objects.get(account=account)
    assert (line.status, line.principal_paid, line.principal_open, line.overdue_from) == (
        "overdue", D("0.00"), D("1000.00"), day("2026-02-10"))
    assert [r[1:] for r in money_snapshot()["lines"]] != []
    rep.refresh_from_db()
    assert rep.status == "reversed" and rep.reversed_on == day("2026-02-15")
    assert sum(a.amount for a in rep.allocations.all()) == D("0.00")
    st = Statement.objects.get(account=account)
    assert (st.status, st.resolved_on) == ("overdue", day("2026-02-13"))
    assert [(c.accrued_on, c.days, c.amount) for c in Charge.objects.filter(account=account).order_by("accrued_on")] == [
        (day("2026-02-13"), 3, D("1.50")), (day("2026-02-14"), 1, D("0.50"))]
    acc = fresh(account)
    assert (acc.dpd, acc.bucket, acc.status, acc.used_amount) == (4, "M1", "frozen", D("1002.00"))
    go_to("2026-02-16")  # Feb 15 closed: one more day
    st.refresh_from_db()
    assert st.status == "overdue"
    assert sum(c.amount for c in Charge.objects.filter(account=account, kind="late_fee")) == D("2.50")
    assert fresh(account).dpd == 5
    with pytest.raises(Exception) as exc:
        repayment_reverse(repayment=rep, actor=SYSTEM, reason="again")
    assert getattr(exc.value, "code", "") == "already_reversed"
    assert before  # the line rows existed before the payment
    books_clean()


def test_reversal_takes_back_credit_already_spent(account):
    buy(account, "500.00", "o-1")
    go_to("2026-02-05")
    rep = pay(account, "800.00", "r-over")
    go_to("2026-02-20")
    buy(account, "200.00", "o-2")
    go_to("2026-03-02")  # the 300.00 credit paid March's 200.00
    assert fresh(account).credit_balance == D("100.00")
    repayment_reverse(repayment=rep, actor=SYSTEM, reason="chargeback")
    acc = fresh(account)
    # 700.00 re-opened, plus the late fees of February's 500.00 past due since Feb 10 (issue 13:
    # re-judged from its due date): 3 × 0.25 on Feb 13, then 0.25 a day Feb 14 – Mar 1.
    assert (acc.used_amount, acc.credit_balance, acc.dpd, acc.status) == (D("704.75"), D("0.00"), 19, "frozen")
    assert sorted(ScheduleLine.objects.filter(account=account).values_list("principal_open" if False else "principal_paid", flat=True)) == [D("0.00"), D("0.00")]
    books_clean()


def test_running_a_day_twice_changes_nothing(account):
    buy(account, "1000.00", "o-1")
    buy(account, "6000.00", "o-2", tenor=12)
    go_to("2026-02-13")
    run_day(day("2026-02-13"))
    first = money_snapshot()
    run_day(day("2026-02-13"))
    assert money_snapshot() == first
    go_to("2026-02-14")
    assert Charge.objects.filter(kind="late_fee").count() == 1
    books_clean()


def test_write_off_at_dpd_180_and_recovery(account):
    buy(account, "1000.00", "o-1")
    buy(account, "1200.00", "o-2", tenor=12)
    go_to("2026-08-10")  # due Feb 10 → DPD 180 on Aug 9
    acc = fresh(account)
    assert acc.written_off_on == day("2026-08-09") and acc.bucket == "M7" and acc.used_amount == D("0.00")
    wo = acc.write_off
    assert wo.principal == D("2200.00")
    assert set(ScheduleLine.objects.filter(account=account).values_list("status", flat=True)) <= {"written_off", "closed"}
    buckets = list(BucketChange.objects.filter(account=account).order_by("on_date").values_list("new_bucket", flat=True))
    assert buckets == ["M1", "M2", "M3", "M4", "M5", "M6", "M7"]
    charges = Charge.objects.filter(account=account).count()
    go_to("2026-08-20")
    assert Charge.objects.filter(account=account).count() == charges  # nothing accrues after write-off
    rec = pay(account, "100.00", "r-recovery")
    assert rec.kind == "recovery"
    wo.refresh_from_db()
    assert wo.recovered == D("100.00")
    assert JournalEntry.objects.filter(kind="recovery").count() == 1
    books_clean()


def test_minimum_paid_during_grace_charges_deferral_from_the_day_after_the_due_date(account):
    buy(account, "1000.00", "o-1")
    go_to("2026-02-12")  # D+2, still in grace
    pay(account, "100.00", "r-min-late")
    go_to("2026-02-13")  # Feb 12 closed: the minimum was paid within grace
    assert Statement.objects.get(account=account).status == "minimum_paid"
    fee = Charge.objects.get(account=account, kind="deferral_fee")
    # Feb 11 and Feb 12 on the 900.00 left, rounded once: 900.00 × 0.05 % × 2 = 0.90. No late fee.
    assert (fee.accrued_on, fee.days, fee.base_amount, fee.amount) == (day("2026-02-12"), 2, D("900.00"), D("0.90"))
    assert not Charge.objects.filter(kind="late_fee").exists()
    assert fresh(account).dpd == 0
    books_clean()


def test_chunked_steps_equal_one_pass(business_date):
    """Close of business fans the steps out over chunks of accounts: the result must not depend on it."""
    from django.db import transaction

    business_date("2026-01-05")
    accounts = [open_account(limit="5000.00", opened_on=day("2026-01-01"), bill_day=1) for _ in range(4)]
    for i, acc in enumerate(accounts):
        buy(acc, "1000.00", f"a-{i}")
        buy(acc, "1200.00", f"b-{i}", tenor=6)
    go_to("2026-02-09")
    pay(accounts[0], "1200.00", "full")
    pay(accounts[1], "120.00", "minimum-ish")
    go_to("2026-02-13")

    def state():
        snap = money_snapshot()
        for volatile in ("journal_entries", "journal_lines", "charges", "bucket_changes", "status_changes"):
            snap.pop(volatile)
        from django.db.models import Sum

        from ledger.models import JournalLine
        snap["journal_by_account"] = sorted(JournalLine.objects.values("ledger_account_id", "credit_account_id")
                                            .annotate(d=Sum("debit"), c=Sum("credit")).values_list("ledger_account_id", "credit_account_id", "d", "c"))
        snap["charges"] = sorted(Charge.objects.values_list("account_id", "kind", "accrued_on", "days", "amount"))
        snap["buckets"] = sorted(BucketChange.objects.values_list("account_id", "on_date", "old_bucket", "new_bucket", "dpd"))
        return snap

    on = day("2026-02-13")
    with transaction.atomic():
        run_day(on)
        whole = state()
        transaction.set_rollback(True)
    ids = [a.pk for a in accounts]
    run_day(on, account_ids=ids[:1])
    run_day(on, account_ids=ids[1:3])
    run_day(on, account_ids=ids[3:])
    assert state() == whole
    # accounts 2-4 went overdue; the partial payer on 1,087.20 left (0.54 a day), the others on 1,207.20 (0.60)
    assert sorted(Charge.objects.filter(kind="late_fee").values_list("amount", flat=True)) == [D("1.62"), D("1.80"), D("1.80")]
    books_clean()


def test_reversing_a_settlement_restores_the_plan_exactly(account):
    terms = get_terms(baitiao().pk)
    product_terms_update(terms=terms, actor=SYSTEM, settlement_policy="charge_next_fee")
    p = buy(account, "6000.00", "o-1", tenor=6)
    go_to("2026-02-05")
    pay(account, "1036.00", "r-1")
    go_to("2026-02-20")
    lines_before = list(ScheduleLine.objects.filter(plan=p.plan).order_by("period").values())
    used_before = fresh(account).used_amount
    settlement = plan_settle(plan=p.plan, actor=SYSTEM)
    assert settlement.amount == D("5036.00") and fresh(account).used_amount == D("0.00")
    repayment_reverse(repayment=settlement, actor=SYSTEM, reason="cheque bounced")
    assert list(ScheduleLine.objects.filter(plan=p.plan).order_by("period").values()) == lines_before
    assert Plan.objects.get(pk=p.plan.pk).status == "active"
    assert fresh(account).used_amount == used_before == D("5000.00")
    go_to("2026-03-02")  # the plan goes on as if never settled: period 2 billed in March
    line2 = ScheduleLine.objects.get(plan=p.plan, period=2)
    assert (line2.status, line2.billed_on, line2.fee) == ("due", day("2026-03-01"), D("36.00"))
    books_clean()
