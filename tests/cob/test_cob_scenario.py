"""A small portfolio moved through 200 business days with ``manage.py cob --through``, on the credit
engine's real steps: statements on bill days, installments billed, deferral fees, overdue after grace
(not before), late fees to the cent (incl. the 0.01 daily minimum), bucket history, freeze and
unfreeze (a manual freeze stays), write-off at DPD 180 and a recovery; ``check_books`` clean at the
end; a date run twice changes no row.

Defaults (PRODUCT §4–§6): due = bill date + 9, grace 3 days, late fee 0.05 %/day (≥ 0.01), deferral
fee 0.05 %/day, minimum = 10 % of revolving + everything else due."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.models import BucketChange, CreditAccount, StatusChange, TemporaryLimit
from accounts.services import account_freeze, temporary_limit_grant
from cob.models import CobRun, RunState
from core.business_date import get_business_date
from installments.models import Charge, Plan, Repayment, ScheduleLine, Statement, WriteOff
from installments.services import purchase_authorize, repayment_post
from ledger.models import JournalEntry
from tests.factories_cob import dump_by_pk
from tests.factories_installments import SYSTEM, books_clean, no_risk_checks, open_account  # noqa: F401

D0 = dt.date(2026, 1, 5)  # a Monday; every account is opened on 2026-01-01


def D(value: str) -> Decimal:  # noqa: N802
    return Decimal(value)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def buy(account, amount: str, order: str, tenor: int | None = None):
    return purchase_authorize(account=account, amount=D(amount), merchant_order_id=order, tenor=tenor, actor=SYSTEM)


def pay(account, amount: str, ref: str):
    return repayment_post(account=account, amount=D(amount), external_ref=ref, channel="bank_transfer", actor=SYSTEM)


def build_portfolio() -> dict[str, CreditAccount]:
    """Accounts with purchases on the business date D0 (no payments): revolving and installment, odd
    amounts, three bill days. Used by the worker and crash tests too."""
    assert get_business_date() == D0
    accounts = {}
    plan = [
        ("payer", 1, [("1000.00", None)]),
        ("minimum", 1, [("2000.00", None)]),
        ("late", 1, [("1000.00", None)]),
        ("tiny", 15, [("5.00", None)]),
        ("instalments", 1, [("1200.00", 3)]),
        ("manual", 1, [("300.00", None)]),
        ("mixed", 15, [("1234.56", 6), ("99.99", None), ("0.01", None)]),
        ("late28", 28, [("4321.09", 12), ("777.77", None)]),
        ("idle", 5, []),
    ]
    for name, bill_day, purchases in plan:
        account = open_account(limit="20000.00", bill_day=bill_day, opened_on=day("2026-01-01"))
        for i, (amount, tenor) in enumerate(purchases):
            buy(account, amount, f"{name}-{i}", tenor)
        accounts[name] = account
    return accounts


def cob_through(until: str, **options) -> str:
    out = io.StringIO()
    call_command("cob", through=until, no_progress=True, stdout=out, **options)
    return out.getvalue()


def fresh(account) -> CreditAccount:
    return CreditAccount.objects.get(pk=account.pk)


def state(account) -> tuple:
    a = fresh(account)
    return a.dpd, a.bucket, a.status, a.freeze_reason


def rerun_changes_nothing(on: str) -> None:
    """Close ``on`` again (forced): every step reports 0 rows and the money tables are unchanged."""
    before = dump_by_pk()
    call_command("cob", date=on, force=True, no_progress=True, stdout=io.StringIO())
    run = CobRun.objects.filter(business_date=day(on)).order_by("-attempt").first()
    assert run.attempt == 2 and run.state == RunState.DONE
    assert [(s.name, s.rows) for s in run.steps.all() if s.rows] == []
    assert dump_by_pk() == before


@pytest.fixture
def portfolio(business_date):
    business_date(D0)
    accounts = build_portfolio()
    temporary_limit_grant(account=accounts["payer"], amount=D("500.00"), starts_on=D0, ends_on=day("2026-01-31"),
                          actor=SYSTEM, reason="new-year campaign", campaign="new year")
    return accounts


def test_a_portfolio_through_200_days(portfolio, staff):
    acc = portfolio
    account_freeze(account=acc["manual"], manual=True, actor=staff, reason="customer asked")

    # --- January: the statements of bill day 15 -------------------------------------------------------
    text = cob_through("2026-01-23")
    assert "installments.statements_generate" in text and "business date is now 2026-01-24" in text
    tiny = Statement.objects.get(account=acc["tiny"])
    assert (tiny.bill_date, tiny.due_date, tiny.closing_balance, tiny.minimum_payment) == (
        day("2026-01-15"), day("2026-01-24"), D("5.00"), D("0.50"))
    assert set(Statement.objects.values_list("account_id", flat=True)) == {acc["tiny"].pk, acc["mixed"].pk}

    # Grace: due 24th, grace 25th–27th: not overdue through the 26th …
    cob_through("2026-01-26")
    assert state(acc["tiny"]) == (0, "M0", "active", "")
    assert not Charge.objects.exists()
    # … overdue when the 27th closes: DPD 3, three days of the 0.01 minimum late fee, frozen.
    cob_through("2026-01-27")
    assert state(acc["tiny"]) == (3, "M1", "frozen", "overdue")
    fee = Charge.objects.get(account=acc["tiny"])
    assert (fee.kind, fee.accrued_on, fee.days, fee.base_amount, fee.amount) == ("late_fee", day("2026-01-27"), 3, D("5.00"), D("0.03"))
    rerun_changes_nothing("2026-01-27")

    # --- February 1: bill day 1 (temporary limit expired the same day) ------------------------------------
    cob_through("2026-02-01")
    rerun_changes_nothing("2026-02-01")
    assert TemporaryLimit.objects.get().status == "expired"
    feb = {s.account_id: s for s in Statement.objects.filter(bill_date=day("2026-02-01"))}
    assert set(feb) == {acc[n].pk for n in ("payer", "minimum", "late", "instalments", "manual")}
    assert (feb[acc["minimum"].pk].closing_balance, feb[acc["minimum"].pk].minimum_payment) == (D("2000.00"), D("200.00"))
    inst = feb[acc["instalments"].pk]
    assert (inst.installments_principal, inst.installments_fee, inst.minimum_payment, inst.due_date) == (
        D("400.00"), D("7.20"), D("407.20"), day("2026-02-10"))

    # Payments: in full, the minimum on the due date, the installment; "late" and "manual" pay nothing.
    cob_through("2026-02-07")
    pay(acc["payer"], "1000.00", "payer-feb")
    pay(acc["instalments"], "407.20", "inst-feb")
    cob_through("2026-02-09")
    pay(acc["minimum"], "200.00", "min-feb")
    cob_through("2026-02-12")
    assert state(acc["late"]) == (0, "M0", "active", "")  # still within grace
    assert not Charge.objects.filter(account=acc["late"]).exists()
    cob_through("2026-02-13")
    rerun_changes_nothing("2026-02-13")
    statuses = {s.account_id: s.status for s in Statement.objects.filter(bill_date=day("2026-02-01"))}
    assert statuses == {acc["payer"].pk: "paid", acc["instalments"].pk: "paid", acc["minimum"].pk: "minimum_paid",
                        acc["late"].pk: "overdue", acc["manual"].pk: "overdue"}
    assert state(acc["late"]) == (3, "M1", "frozen", "overdue")
    assert state(acc["manual"]) == (3, "M1", "frozen", "manual")  # the manual freeze is not replaced
    assert [(c.days, c.amount) for c in Charge.objects.filter(account=acc["late"])] == [(3, D("1.50"))]
    # Deferral: 1,800.00 unpaid revolving × 0.05 % = 0.90 a day from the day after the due date.
    deferral = Charge.objects.filter(account=acc["minimum"], kind="deferral_fee").order_by("accrued_on")
    assert [(c.accrued_on, c.amount) for c in deferral] == [(day("2026-02-11"), D("0.90")), (day("2026-02-12"), D("0.90")),
                                                             (day("2026-02-13"), D("0.90"))]

    # "late" repays everything on the 20th: principal + 1.50 + 6 × 0.50 late fees → cured and unfrozen.
    cob_through("2026-02-19")
    assert fresh(acc["late"]).used_amount == D("1004.50")
    pay(acc["late"], "1004.50", "late-all")
    cob_through("2026-02-20")
    assert state(acc["late"]) == (0, "M0", "active", "")
    assert list(StatusChange.objects.filter(account=acc["late"]).order_by("id").values_list(
        "old_status", "new_status", "new_freeze_reason", "actor_rule")) == [
        ("active", "frozen", "overdue", "cob:freezes_sync"), ("frozen", "active", "", "cob:freezes_sync")]
    assert list(BucketChange.objects.filter(account=acc["late"]).order_by("on_date").values_list(
        "on_date", "old_bucket", "new_bucket", "dpd")) == [(day("2026-02-13"), "M0", "M1", 3), (day("2026-02-20"), "M1", "M0", 0)]
    assert sum(c.amount for c in Charge.objects.filter(account=acc["late"])) == D("4.50")

    # --- March: deferral fees billed, then everything repaid; installments keep being paid --------------
    cob_through("2026-03-01")
    mar = Statement.objects.get(account=acc["minimum"], bill_date=day("2026-03-01"))
    assert (mar.deferral_fees, mar.closing_balance, mar.minimum_payment) == (D("16.20"), D("1816.20"), D("196.20"))
    cob_through("2026-03-04")
    assert fresh(acc["minimum"]).used_amount == D("1819.80")  # 22 days × 0.90
    pay(acc["minimum"], "1819.80", "min-all")
    pay(acc["manual"], str(fresh(acc["manual"]).used_amount), "manual-all")
    pay(acc["instalments"], "407.20", "inst-mar")
    cob_through("2026-04-08")
    pay(acc["instalments"], "407.20", "inst-apr")
    cob_through("2026-04-15")
    assert Charge.objects.filter(account=acc["minimum"]).count() == 22
    assert state(acc["minimum"]) == (0, "M0", "active", "")
    assert state(acc["manual"]) == (0, "M0", "frozen", "manual")  # cured, but only staff lift a manual freeze
    assert not StatusChange.objects.filter(account=acc["manual"], actor_rule="cob:freezes_sync").exists()
    plan = Plan.objects.get(account=acc["instalments"])
    assert plan.status == "paid_off" and not Charge.objects.filter(account=acc["instalments"]).exists()
    assert list(ScheduleLine.objects.filter(plan=plan).values_list("due_date", "status")) == [
        (day("2026-02-10"), "closed"), (day("2026-03-10"), "closed"), (day("2026-04-10"), "closed")]

    # --- Through day 200: "tiny" climbs every bucket and is written off at DPD 180 (23 July) -----------
    cob_through("2026-07-22")
    assert state(acc["tiny"])[:2] == (179, "M6")
    assert not WriteOff.objects.exists()
    cob_through("2026-07-23")
    rerun_changes_nothing("2026-07-23")
    assert get_business_date() == D0 + dt.timedelta(days=200)
    assert CobRun.objects.filter(state=RunState.DONE, attempt=1).count() == 200
    assert list(BucketChange.objects.filter(account=acc["tiny"]).order_by("on_date").values_list("on_date", "new_bucket", "dpd")) == [
        (day("2026-01-27"), "M1", 3), (day("2026-02-24"), "M2", 31), (day("2026-03-26"), "M3", 61),
        (day("2026-04-25"), "M4", 91), (day("2026-05-25"), "M5", 121), (day("2026-06-24"), "M6", 151),
        (day("2026-07-23"), "M7", 180),
    ]
    # "mixed" (same due date, never paid) goes the same way; "late28" (due 6 February) is not there yet.
    assert set(WriteOff.objects.values_list("account_id", flat=True)) == {acc["tiny"].pk, acc["mixed"].pk}
    wo = WriteOff.objects.get(account=acc["tiny"])
    # Late fees: 0.03 on 27 January, then the 0.01 minimum on each of the 177 days through 23 July.
    assert (wo.account_id, wo.on_date, wo.dpd, wo.principal, wo.late_fees) == (
        acc["tiny"].pk, day("2026-07-23"), 180, D("5.00"), D("1.80"))
    tiny = fresh(acc["tiny"])
    assert (tiny.written_off_on, tiny.bucket, tiny.used_amount) == (day("2026-07-23"), "M7", D("0.00"))
    charges = Charge.objects.filter(account=acc["tiny"]).count()

    # A payment after the write-off is a recovery; nothing accrues any more.
    recovery = pay(acc["tiny"], "3.00", "tiny-recovery")
    assert recovery.kind == Repayment.Kind.RECOVERY
    cob_through("2026-07-30")
    wo.refresh_from_db()
    assert wo.recovered == D("3.00") and JournalEntry.objects.filter(kind="recovery").count() == 1
    assert Charge.objects.filter(account=acc["tiny"]).count() == charges

    # Statements came only on bill days; the books prove.
    statements = list(Statement.objects.select_related("account"))
    assert all(s.bill_date.day == s.account.bill_day for s in statements)
    assert {s.bill_date.day for s in statements} == {1, 15, 28}
    books_clean()
    out = io.StringIO()
    call_command("check_books", stdout=out)
    assert "Books are clean: 0 breaches." in out.getvalue()
