"""Insurance follows its purchase (issue 25 item 3) and a death claim closes the account (item 4).

Worked example: 6,000.00 × 12 periods, fee 30.00 and premium 6.00 a period (536.00 in all)."""
from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.models import CreditAccount
from approvals.models import ApprovalRequest
from approvals.services import approval_approve
from core.actors import Actor
from core.business_date import set_business_date
from core.errors import PermissionDeniedError
from installments.daily import run_through
from installments.models import Charge, Plan, ScheduleLine, Statement
from installments.services import purchase_authorize, purchase_refund, repayment_post
from installments.services.settlements import plan_settle
from insurance.models import InsurancePolicy, InsurerRemittance, RemittanceLine
from insurance.services import claim_submit, insurer_remit, remittances_monthly
from ledger.models import Codes, JournalEntry, JournalLine
from notices.models import Notice
from notices.services import notices_queue
from tests.factories_installments import SYSTEM, books_clean, money_snapshot, no_risk_checks, open_account  # noqa: F401
from tests.factories_insurance import ensure_insurance_data

pytestmark = pytest.mark.django_db

D = Decimal
D0 = dt.date(2026, 1, 5)


@pytest.fixture(autouse=True)
def _reference(db):
    ensure_insurance_data()
    set_business_date(D0)


def buy(account, amount="6000.00", order="o-1", tenor=12):
    return purchase_authorize(account=account, amount=D(amount), merchant_order_id=order, tenor=tenor, actor=SYSTEM,
                              add_ons=("insurance",))


def pay(account, amount, ref):
    return repayment_post(account=account, amount=D(amount), external_ref=ref, channel="bank_transfer", actor=SYSTEM)


def balance(code: str, account=None) -> Decimal:
    lines = JournalLine.objects.filter(ledger_account_id=code)
    if account is not None:
        lines = lines.filter(credit_account=account)
    return sum((line.debit - line.credit for line in lines), D("0"))


def staff(django_user_model, name, *perms):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(name, is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return django_user_model.objects.get(pk=user.pk)


def premiums() -> list[tuple]:
    return list(Charge.objects.filter(kind=Charge.Kind.PREMIUM).order_by("pk").values_list("amount", "paid", "waived"))


# --- refunds and settlement ---------------------------------------------------------------------------------


def test_a_partial_refund_prorates_the_premium_like_the_fee():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    purchase = buy(account)
    run_through(dt.date(2026, 2, 3))  # period 1 billed: 500.00 + 30.00 fee + 6.00 premium, unpaid
    set_business_date(dt.date(2026, 2, 3))

    purchase_refund(purchase=purchase, amount=D("3000.00"), actor=SYSTEM, reason="half returned")

    policy = InsurancePolicy.objects.get()
    line1 = ScheduleLine.objects.get(plan=purchase.plan, period=1)
    assert line1.fee - line1.fee_waived == D("15.00")  # the fee: 30.00 → 15.00
    assert (policy.premium_per_period, policy.waived_amount) == (D("3.00"), D("3.00"))  # the premium: 6.00 → 3.00
    assert premiums() == [(D("6.00"), D("0.00"), D("3.00"))]  # the billed one shrinks by half too
    assert balance(Codes.RECEIVABLE_PREMIUM, account) == D("3.00") and balance(Codes.PREMIUM_PAYABLE) == D("-3.00")
    books_clean()
    run_through(dt.date(2026, 3, 1))
    assert premiums()[-1] == (D("3.00"), D("0.00"), D("0.00"))  # the next period's premium at the prorated rate
    assert policy.status == InsurancePolicy.Status.ACTIVE
    books_clean()


def test_a_full_refund_in_the_cooling_off_period_cancels_the_policy_with_every_premium():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    purchase = buy(account)
    set_business_date(dt.date(2026, 1, 10))  # cooling off until 20 Jan

    purchase_refund(purchase=purchase, amount=D("6000.00"), actor=SYSTEM, reason="returned")

    policy = InsurancePolicy.objects.get()
    assert (policy.status, policy.cancelled_on) == (InsurancePolicy.Status.CANCELLED, dt.date(2026, 1, 10))
    assert policy.cancel_reason.startswith("purchase fully refunded")
    run_through(dt.date(2026, 2, 3))
    assert premiums() == []  # nothing billed for a plan that no longer exists
    books_clean()


def test_a_full_refund_after_the_cooling_off_period_stops_premiums_billed_ones_stay():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    purchase = buy(account)
    run_through(dt.date(2026, 2, 3))
    set_business_date(dt.date(2026, 2, 3))
    pay(account, "536.00", "r-1")

    purchase_refund(purchase=purchase, amount=D("6000.00"), actor=SYSTEM, reason="returned")

    policy = InsurancePolicy.objects.get()
    assert (policy.status, policy.refunded_amount) == (InsurancePolicy.Status.CANCELLED, D("0.00"))  # terms: none back
    run_through(dt.date(2026, 3, 1))
    assert premiums() == [(D("6.00"), D("6.00"), D("0.00"))]  # only the period billed before the refund
    books_clean()


def test_an_early_settlement_cancels_the_policy():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    plan = buy(account).plan
    run_through(dt.date(2026, 2, 3))
    set_business_date(dt.date(2026, 2, 3))
    pay(account, "536.00", "r-1")

    plan_settle(plan=plan, actor=SYSTEM, external_ref="settle-1")

    policy = InsurancePolicy.objects.get()
    assert (policy.status, policy.cancelled_on) == (InsurancePolicy.Status.CANCELLED, dt.date(2026, 2, 3))
    assert policy.cancel_reason.startswith("plan settled early")
    run_through(dt.date(2026, 3, 1))
    assert len(premiums()) == 1
    books_clean()


# --- write-off -----------------------------------------------------------------------------------------------


def test_a_write_off_cancels_the_policy_and_reverses_the_insurers_share():
    from cob.registry import registry
    from installments.services.controls import account_write_off

    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    buy(account, amount="1200.00", tenor=3)  # premium 1.20 a period
    run_through(dt.date(2026, 2, 20))  # overdue since 10 Feb, premium 1.20 unpaid
    set_business_date(dt.date(2026, 2, 20))
    write_off = account_write_off(account=account, actor=SYSTEM, reason="fraud confirmed")
    assert write_off.premiums == D("1.20")
    assert balance(Codes.PREMIUM_PAYABLE) == D("-1.20")  # still owed to the insurer: never collected
    loss_before = balance(Codes.CREDIT_LOSS)
    assert "insurance.follow_write_offs" in [step.name for step in registry.steps()]

    call_command("cob", through="2026-02-20", no_progress=True, stdout=io.StringIO())

    policy = InsurancePolicy.objects.get()
    assert (policy.status, policy.cancel_reason, policy.waived_amount) == ("cancelled", "account written off", D("1.20"))
    assert balance(Codes.PREMIUM_PAYABLE) == 0  # the insurer's share reversed
    assert balance(Codes.CREDIT_LOSS) == loss_before - D("1.20")
    call_command("cob", through="2026-02-21", no_progress=True, stdout=io.StringIO())
    assert JournalEntry.objects.filter(source=f"insurance:{policy.reference}", kind="write_off").count() == 1
    books_clean()


# --- remittance -------------------------------------------------------------------------------------------------


def test_the_monthly_remittance_pays_the_insurer_what_customers_paid_with_a_statement():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    other = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    buy(account)
    buy(other, amount="1200.00", order="o-2", tenor=3)
    run_through(dt.date(2026, 2, 3))
    set_business_date(dt.date(2026, 2, 3))
    pay(account, "536.00", "r-1")  # premium 6.00 paid; the other's 1.20 unpaid
    set_business_date(dt.date(2026, 3, 1))

    assert remittances_monthly(on=dt.date(2026, 3, 1)) == 1

    remittance = InsurerRemittance.objects.get()
    assert (remittance.period_start, remittance.period_end, remittance.amount, remittance.lines_count) == (
        dt.date(2026, 2, 1), dt.date(2026, 2, 28), D("6.00"), 1)
    assert list(RemittanceLine.objects.values_list("premiums_paid", "premiums_refunded", "amount")) == [
        (D("6.00"), D("0.00"), D("6.00"))]
    assert sorted(remittance.journal_entry.lines.values_list("ledger_account_id", "debit", "credit")) == [
        (Codes.CASH, D("0.00"), D("6.00")), (Codes.PREMIUM_PAYABLE, D("6.00"), D("0.00"))]
    assert balance(Codes.PREMIUM_PAYABLE) == D("-1.20")  # only the unpaid premium is still payable
    # once per insurer and month; nothing new the next month
    assert insurer_remit(insurer=remittance.insurer, period_end=dt.date(2026, 2, 28), actor=SYSTEM) == remittance
    assert insurer_remit(insurer=remittance.insurer, period_end=dt.date(2026, 3, 31), actor=SYSTEM) is None
    books_clean()


# --- premiums in every export, statement and allocation ----------------------------------------------------------


def test_premiums_appear_in_the_statement_and_repayment_exports_and_the_api():
    from staff.resources import RepaymentExportResource, StatementExportResource
    from tests.factories_api import api_for

    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    buy(account)
    run_through(dt.date(2026, 2, 3))
    set_business_date(dt.date(2026, 2, 3))
    data = StatementExportResource().export(queryset=Statement.objects.filter(account=account, bill_date="2026-02-01"))
    row = dict(zip(data.headers, data[0], strict=True))
    parts = [D(str(row[k])) for k in ("Purchases amount", "Installments principal", "Installments fee", "Premiums")]
    assert parts == [D("0.00"), D("500.00"), D("30.00"), D("6.00")]
    assert sum(parts) == D(str(row["Closing balance"])) == D("536.00")

    http = api_for()[0]
    answer = http.post("/api/v1/repayments/", {"account": account.reference, "amount": "536.00", "external_ref": "r-1",
                                               "channel": "bank_transfer"},
                       format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert answer.status_code == 201, answer.json()
    allocated = answer.json()["allocated"]
    assert (allocated["installment_fee"], allocated["premium"], allocated["principal"]) == ("30.00", "6.00", "500.00")
    data = RepaymentExportResource().export()
    export = dict(zip(data.headers, data[0], strict=True))
    assert (D(str(export["To installment fees"])), D(str(export["To premiums"])), D(str(export["To principal"]))) == (
        D("30.00"), D("6.00"), D("500.00"))


# --- a death claim (item 4) -----------------------------------------------------------------------------------------


def test_a_death_claim_closes_the_account_waives_the_rest_under_four_eyes_and_stops_notices(django_user_model):
    maker = staff(django_user_model, "maker", "insurance.pay_claim")
    checker = staff(django_user_model, "checker", "insurance.pay_claim")
    finance = staff(django_user_model, "finance", "insurance.pay_claim")
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    plan = buy(account).plan
    run_through(dt.date(2026, 2, 19))  # period 1 overdue since 10 Feb: late fees accrue
    set_business_date(dt.date(2026, 2, 19))
    late = sum((c.open_amount for c in Charge.objects.filter(kind=Charge.Kind.LATE_FEE)), D("0"))
    assert late == D("2.43")  # the figure: what a claim on the plan does not cover

    claim, submitted = claim_submit(policy=plan.insurance_policy, reason="death", event_date=dt.date(2026, 2, 14),
                                    note="death certificate", actor=Actor.staff(maker))
    approval_approve(approval=submitted.request, user=checker)

    claim.refresh_from_db()
    customer = account.customer.__class__.objects.get(pk=account.customer_id)
    assert claim.status == "paid" and customer.deceased_on == dt.date(2026, 2, 14)
    waive = ApprovalRequest.objects.get(kind="insurance.claim_pay", status="pending")
    assert waive.payload["deceased_waive"] == claim.pk
    assert (waive.status, waive.amount, waive.maker_id) == ("pending", D("2.43"), maker.pk)  # made in the maker's name
    acc = CreditAccount.objects.get(pk=account.pk)
    assert (acc.status, acc.used_amount) != ("closed", D("0.00"))  # not closed before the second person decides
    with pytest.raises(PermissionDeniedError):
        approval_approve(approval=waive, user=maker)  # the maker of the waiver cannot approve it
    before = money_snapshot()
    approval_approve(approval=ApprovalRequest.objects.get(pk=waive.pk), user=finance)

    acc = CreditAccount.objects.get(pk=account.pk)
    assert (acc.status, acc.used_amount, acc.credit_balance) == ("closed", D("0.00"), D("0.00"))
    assert sum((c.open_amount for c in Charge.objects.all()), D("0")) == 0
    assert money_snapshot() != before
    assert Plan.objects.get(pk=plan.pk).status == Plan.Status.CLAIM_PAID
    books_clean()
    # every notice to the deceased is stopped: the claim outcome, and anything queued before
    notices_queue(on=dt.date(2026, 2, 19))
    told = Notice.objects.filter(customer_id=account.customer_id)
    assert told.exists() and set(told.values_list("status", "status_reason")) == {("suppressed", "customer deceased")}
