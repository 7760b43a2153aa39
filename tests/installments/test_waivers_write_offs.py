"""Issue 12: fee waivers (journal, statement, used amount, books), manual write-offs and staff refunds
under maker-checker."""
from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from accounts.models import CreditAccount
from approvals.models import ApprovalPolicy, ApprovalRequest
from approvals.services import approval_approve, approval_reject
from core.actors import Actor
from core.errors import BusinessRuleError, PermissionDeniedError
from installments.daily import run_through
from installments.models import Charge, Statement, StatementLine, Waiver, WriteOff
from installments.services import fee_waiver_submit, purchase_authorize, write_off_submit
from ledger.models import JournalEntry
from tests.factories_installments import SYSTEM, D, books_clean, money_snapshot, no_risk_checks, open_account  # noqa: F401
from tests.factories_staff import role_user

pytestmark = pytest.mark.django_db


def go_to(s: str) -> None:
    run_through(dt.date.fromisoformat(s) - dt.timedelta(days=1))


@pytest.fixture
def overdue(business_date):
    """1,000.00 bought on Jan 5, billed Feb 1, due Feb 10, never paid: late fees from Feb 13. Business
    date Mar 2: the March statement (bill date Mar 1) is open and bills the late fees of Feb 13–28."""
    business_date("2026-01-05")
    account = open_account(limit="10000.00", opened_on=dt.date(2026, 1, 1))
    purchase_authorize(account=account, amount=D("1000.00"), merchant_order_id="o-1", actor=SYSTEM)
    go_to("2026-03-02")
    return CreditAccount.objects.get(pk=account.pk)


@pytest.fixture
def finance():
    return role_user("Finance", "finance1"), role_user("Finance", "finance2")


def test_waiving_late_fees_posts_the_journal_and_owes_exactly_less(overdue, finance):
    march = Statement.objects.get(account=overdue, bill_date=dt.date(2026, 3, 1))
    late_open = sum(c.open_amount for c in Charge.objects.filter(account=overdue, kind="late_fee"))
    billed = sum(c.open_amount for c in Charge.objects.filter(account=overdue, kind="late_fee",
                                                              accrued_on__lt=dt.date(2026, 3, 1)))
    assert (late_open, billed, march.status, march.fees_due) == (D("9.50"), D("9.00"), "open", D("9.00"))
    used, minimum, closing, adjustments = overdue.used_amount, march.minimum_payment, march.closing_balance, march.adjustments
    assert used == D("1009.50")

    waiver = fee_waiver_submit(account=overdue, kind="late_fee", actor=Actor.staff(finance[0]), reason="hospital stay").result

    assert (waiver.amount, waiver.late_fees, waiver.deferral_fees, waiver.actor) == (D("9.50"), D("9.50"), D("0.00"), finance[0])
    entry = waiver.journal_entry
    assert entry.kind == JournalEntry.Kind.WAIVER and entry.source == f"waiver:{waiver.reference}"
    assert sorted(entry.lines.values_list("ledger_account_id", "debit", "credit", "credit_account_id")) == [
        ("1120", D("0.00"), D("9.50"), overdue.pk), ("4100", D("9.50"), D("0.00"), None)]
    overdue.refresh_from_db()
    assert overdue.used_amount == used - D("9.50")
    assert not [c for c in Charge.objects.filter(account=overdue) if c.open_amount]
    march.refresh_from_db()
    assert (march.fees_due, march.minimum_payment, march.closing_balance, march.adjustments) == (
        D("0.00"), minimum - D("9.00"), closing - D("9.00"), adjustments - D("9.00"))
    line = StatementLine.objects.get(statement=march, ref=waiver.reference)
    assert (line.kind, line.amount, line.description) == ("adjustment", D("-9.00"), "Fees waived: hospital stay")
    assert sum(march.lines.exclude(kind="closing").values_list("amount", flat=True)) == march.closing_balance
    books_clean()
    # the next statement starts from the lower balance and adds up without a correction
    go_to("2026-04-02")
    april = Statement.objects.get(account=overdue, bill_date=dt.date(2026, 4, 1))
    assert april.opening_balance == march.closing_balance
    books_clean()


@pytest.mark.parametrize("amount, code", [("9.51", "waiver_exceeds_open"), (None, "nothing_to_waive")],
                         ids=["more-than-open", "no-deferral-fees"])
def test_a_refused_waiver_changes_nothing(overdue, finance, amount, code):
    before = money_snapshot()
    with pytest.raises(BusinessRuleError) as exc:
        fee_waiver_submit(account=overdue, kind="late_fee" if amount else "deferral_fee",
                          amount=D(amount) if amount else None, actor=Actor.staff(finance[0]), reason="r")
    assert exc.value.code == code
    assert money_snapshot() == before and not Waiver.objects.exists()


def test_a_waiver_above_the_threshold_waits_for_a_second_person(client, overdue, finance):
    maker, checker = finance
    ApprovalPolicy.objects.update_or_create(kind="installments.fee_waiver", defaults={"amount_above": D("4.00")})
    small = fee_waiver_submit(account=overdue, kind="late_fee", amount=D("4.00"), actor=Actor.staff(maker), reason="goodwill")
    assert small.applied and small.result.amount == D("4.00")
    before = money_snapshot()
    client.force_login(maker)
    response = client.post(reverse("admin:installments_waiver_add"), {
        "account_reference": overdue.reference, "kind": "fees", "amount_in": "", "reason": "hardship"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    request = ApprovalRequest.objects.get(kind="installments.fee_waiver")
    assert response.status_code == 302
    assert (request.amount, request.payload["amount"], request.maker) == (D("5.50"), "5.50", maker)
    assert money_snapshot() == before
    go_to("2026-03-03")  # another day's late fee accrues: the request still waives exactly 5.50
    with pytest.raises(PermissionDeniedError):
        approval_approve(approval=request, user=maker)
    approval_approve(approval=request, user=checker, note="ok")
    waiver = Waiver.objects.get(reason__startswith="hardship")
    assert (waiver.amount, waiver.actor) == (D("5.50"), maker)
    assert waiver.reason == f"hardship [approved by finance2, request {request.reference}]"
    assert sum(c.open_amount for c in Charge.objects.filter(account=overdue)) == D("0.50")
    books_clean()


def test_finance_waives_from_the_statement_screen(client, overdue, finance):
    march = Statement.objects.get(account=overdue, bill_date=dt.date(2026, 3, 1))
    client.force_login(finance[0])
    response = client.post(reverse("admin:installments_statement_changelist"), {
        "action": "waive_fees", "_selected_action": [march.pk], "_form_action_apply": "1", "kind": "late_fee",
        "amount": "", "reason": "bank error"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Waive late/deferral fees billed: 1 done."]
    waiver = Waiver.objects.get()
    assert (waiver.amount, waiver.statement) == (D("9.00"), march)  # only what this statement billed
    books_clean()
    client.force_login(role_user("Credit officer", "officer"))
    before = money_snapshot()
    client.post(reverse("admin:installments_statement_changelist"), {
        "action": "waive_fees", "_selected_action": [march.pk], "_form_action_apply": "1", "kind": "fees",
        "amount": "", "reason": "x"})
    assert money_snapshot() == before


def test_a_write_off_by_hand_always_needs_a_second_manager(client, overdue):
    maker, checker = role_user("Collections manager", "m1"), role_user("Collections manager", "m2")
    client.force_login(maker)
    before = money_snapshot()
    response = client.post(reverse("admin:installments_writeoff_add"), {
        "account_reference": overdue.reference, "reason": "debtor deceased"})
    request = ApprovalRequest.objects.get(kind="installments.write_off")
    assert response.status_code == 302 and request.amount == D("1009.50")
    assert money_snapshot() == before and not WriteOff.objects.exists()
    approval_reject(approval=request, user=checker, note="wait for the certificate")
    assert money_snapshot() == before

    again = write_off_submit(account=overdue, actor=Actor.staff(maker), reason="certificate received").request
    approval_approve(approval=again, user=checker)
    write_off = WriteOff.objects.get(account=overdue)
    assert (write_off.principal, write_off.fees, write_off.late_fees, write_off.deferral_fees) == (
        D("1000.00"), D("0.00"), D("9.50"), D("0.00"))
    overdue.refresh_from_db()
    assert (overdue.used_amount, overdue.bucket, overdue.written_off_on) == (D("0.00"), "M7", dt.date(2026, 3, 2))
    assert sorted(write_off.journal_entry.lines.values_list("ledger_account_id", "debit", "credit")) == [
        ("1100", D("0.00"), D("1000.00")), ("1120", D("0.00"), D("9.50")), ("5000", D("1009.50"), D("0.00"))]
    books_clean()


def test_an_account_not_overdue_is_not_written_off_by_hand(business_date):
    maker = role_user("Collections manager", "m1")
    account = open_account(limit="10000.00")
    before = money_snapshot()
    with pytest.raises(BusinessRuleError) as exc:
        write_off_submit(account=account, actor=Actor.staff(maker), reason="r")
    assert exc.value.code == "account_not_overdue"
    assert money_snapshot() == before and not ApprovalRequest.objects.exists()


def test_a_large_refund_by_staff_waits_a_small_one_applies(client, business_date):
    from installments.models import Purchase, Refund

    maker, checker = role_user("Finance", "f1"), role_user("Finance", "f2")
    account = open_account(limit="20000.00")
    purchase_authorize(account=account, amount=D("8000.00"), merchant_order_id="tv", actor=SYSTEM)
    purchase = Purchase.objects.get(merchant_order_id="tv")
    url = reverse("admin:installments_purchase_changelist")
    client.force_login(maker)
    for amount in ("1000.00", "5000.01"):
        client.post(url, {"action": "refund", "_selected_action": [purchase.pk], "_form_action_apply": "1",
                          "amount": amount, "excess_to": "credit_balance", "reason": "returned"})
    assert list(Refund.objects.values_list("amount", flat=True)) == [D("1000.00")]
    request = ApprovalRequest.objects.get(kind="installments.refund")
    assert request.amount == D("5000.01")
    approval_approve(approval=request, user=checker)
    assert sorted(Refund.objects.values_list("amount", flat=True)) == [D("1000.00"), D("5000.01")]
    books_clean()
