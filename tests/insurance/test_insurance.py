"""Consumer-credit insurance (issue 16): premiums billed with the installments by close of business,
allocated after the installment fees, cancellation in and after the cooling-off period, claims paid from
the insurer's account under four eyes, write-off; the books prove after each.

Worked example (README "Consumer-credit insurance"): 6,000.00 × 12 periods at 0.50 %/period fee and
0.10 %/period premium → 530.00 + 6.00 = 536.00 a period, 72.00 premium in total."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from approvals.models import ApprovalRequest
from approvals.services import approval_approve, approval_reject
from core.actors import Actor
from core.business_date import set_business_date
from core.errors import ApplicationError, BusinessRuleError, PermissionDeniedError
from installments.daily import run_through
from installments.models import Allocation, Charge, Plan, Statement, StatementLine, WriteOff
from installments import hooks
from installments.services import purchase_authorize, purchase_review_approve, repayment_post, statement_install
from insurance.models import InsuranceClaim, InsurancePolicy, InsuranceProduct
from insurance.services import claim_submit, policy_cancel
from ledger.models import Codes, JournalEntry, JournalLine
from tests.factories_installments import SYSTEM, books_clean, money_snapshot, no_risk_checks, open_account  # noqa: F401
from tests.factories_insurance import ensure_insurance_data

pytestmark = pytest.mark.django_db

D = Decimal
D0 = dt.date(2026, 1, 5)


@pytest.fixture(autouse=True)
def _reference(db):
    ensure_insurance_data()
    set_business_date(D0)


def buy(account, amount="6000.00", order="o-1", tenor=12, insured=True):
    return purchase_authorize(account=account, amount=D(amount), merchant_order_id=order, tenor=tenor, actor=SYSTEM,
                              add_ons=("insurance",) if insured else ())


def pay(account, amount, ref):
    return repayment_post(account=account, amount=D(amount), external_ref=ref, channel="bank_transfer", actor=SYSTEM)


def cob_through(until: dt.date) -> None:
    """Close every day through ``until`` with the close-of-business command (the registry's steps)."""
    call_command("cob", through=until, no_progress=True, stdout=io.StringIO())


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


# --- selling ------------------------------------------------------------------------------------------


def test_a_policy_is_sold_with_the_plan_at_the_premium_per_period():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))

    purchase = buy(account)

    policy = purchase.plan.insurance_policy
    assert (policy.premium_per_period, policy.periods, policy.total_premium) == (D("6.00"), 12, D("72.00"))
    assert policy.status == InsurancePolicy.Status.ACTIVE
    assert (policy.start_date, policy.cooling_off_until) == (D0, dt.date(2026, 1, 20))
    assert purchase.plan.apr_nominal_pct == D("10.90")  # not a condition of the credit: the APR without premium
    assert not Charge.objects.exists()  # nothing billed before the statement
    books_clean()


def test_an_insured_purchase_held_for_review_gets_its_policy_when_an_officer_approves_it():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    hooks.register_purchase_check("review_everything", lambda ctx: hooks.RiskDecision.review("manual_review"))

    held = buy(account)
    assert held.status == "held" and held.add_ons == ["insurance"]
    assert not InsurancePolicy.objects.exists()  # nothing is sold while the purchase waits

    approved = purchase_review_approve(purchase=held, actor=SYSTEM, note="customer called back")

    assert approved.status == "approved"
    policy = InsurancePolicy.objects.get(plan__purchase=approved)
    assert (policy.premium_per_period, policy.total_premium, policy.status) == (D("6.00"), D("72.00"), "active")
    uninsured = buy(account, amount="1000.00", order="o-2", insured=False)
    assert uninsured.add_ons == []
    purchase_review_approve(purchase=uninsured, actor=SYSTEM)
    assert InsurancePolicy.objects.count() == 1
    books_clean()


def test_a_condition_of_the_credit_puts_the_premium_in_the_plan_apr():
    InsuranceProduct.objects.update(condition_of_credit=True)
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))

    plan = buy(account).plan

    plan.refresh_from_db()
    assert (plan.apr_nominal_pct, plan.apr_effective_pct) == (D("13.03"), D("13.84"))


def test_insurance_needs_an_installment_plan_and_an_offered_product_and_nothing_changes_when_refused():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    before = money_snapshot()

    with pytest.raises(BusinessRuleError) as revolving:  # a product rule (422), as an unoffered tenor is
        buy(account, tenor=None)
    InsuranceProduct.objects.update(is_active=False)
    with pytest.raises(BusinessRuleError) as unavailable:
        buy(account, order="o-2")

    assert (revolving.value.code, unavailable.value.code) == ("add_on_needs_installment", "insurance_unavailable")
    assert money_snapshot() == before and not InsurancePolicy.objects.exists()


# --- billing ------------------------------------------------------------------------------------------


def test_close_of_business_bills_the_premium_with_the_installment_on_the_statement():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    plan = buy(account).plan
    buy(account, amount="1000.00", order="o-2", tenor=3, insured=False)

    cob_through(dt.date(2026, 2, 1))

    statement = Statement.objects.get(account=account)
    charge = Charge.objects.get(kind=Charge.Kind.PREMIUM)
    assert (charge.plan_id, charge.amount, charge.statement_id, charge.accrued_on) == (
        plan.pk, D("6.00"), statement.pk, dt.date(2026, 1, 31))
    assert (statement.premiums, statement.late_fees, statement.fees_due) == (D("6.00"), D("0.00"), D("6.00"))
    # 530.00 + 339.33… of the uninsured 3-month plan (333.33 + 6.00) + the premium
    assert statement.closing_balance == D("530.00") + D("339.33") + D("6.00")
    assert statement.minimum_payment == statement.closing_balance and statement.adjustments == D("0.00")
    assert statement.lines.filter(kind=StatementLine.Kind.PREMIUM).get().amount == D("6.00")
    entry = JournalEntry.objects.get(kind=JournalEntry.Kind.PREMIUM_BILLED)
    assert (balance(Codes.RECEIVABLE_PREMIUM, account), balance(Codes.PREMIUM_PAYABLE)) == (D("6.00"), D("-6.00"))
    assert entry.total_debit == D("6.00")
    account.refresh_from_db()
    assert account.used_amount == D("7000.00") + D("30.00") + D("6.00") + D("6.00")  # principal + fees + premium
    books_clean()

    cob_through(dt.date(2026, 3, 1))  # next cycle (the first paid nothing: overdue, still billed)

    assert list(Charge.objects.filter(kind=Charge.Kind.PREMIUM).order_by("accrued_on").values_list("amount", flat=True)) \
        == [D("6.00"), D("6.00")]
    books_clean()


def test_a_rerun_of_the_day_bills_no_premium_twice():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    buy(account)
    cob_through(dt.date(2026, 2, 1))
    before = money_snapshot()

    call_command("cob", date=dt.date(2026, 2, 1), force=True, no_progress=True, stdout=io.StringIO())

    assert money_snapshot() == before
    assert Charge.objects.filter(kind=Charge.Kind.PREMIUM).count() == 1


def test_a_bill_installment_bills_its_first_premium_onto_the_statement_at_once():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    buy(account, amount="3000.00", tenor=None, insured=False)
    run_through(dt.date(2026, 2, 1))
    statement = Statement.objects.get(account=account)

    plan = statement_install(statement=statement, tenor=6, actor=SYSTEM, add_ons=("insurance",))

    statement.refresh_from_db()
    policy = plan.insurance_policy
    assert policy.premium_per_period == D("3.00")
    charge = Charge.objects.get(kind=Charge.Kind.PREMIUM)
    assert (charge.amount, charge.statement_id) == (D("3.00"), statement.pk)
    # 500.00 + 18.00 fee + 3.00 premium instead of 3,000.00 revolving
    assert statement.closing_balance == D("521.00") and statement.premiums == D("3.00")
    assert statement.minimum_payment == D("521.00")
    assert statement.lines.get(kind=StatementLine.Kind.CLOSING).amount == D("521.00")
    books_clean()
    run_through(dt.date(2026, 3, 1))
    assert Charge.objects.filter(kind=Charge.Kind.PREMIUM).count() == 2  # the second period's, by close of business
    books_clean()


# --- allocation -----------------------------------------------------------------------------------------


def test_a_repayment_pays_the_premium_after_the_installment_fee_and_before_principal():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    buy(account)
    run_through(dt.date(2026, 2, 3))

    pay(account, "33.00", "r-1")

    paid = dict(Allocation.objects.values_list("kind", "amount"))
    assert paid == {"installment_fee": D("30.00"), "premium": D("3.00")}
    pay(account, "503.00", "r-2")
    charge = Charge.objects.get(kind=Charge.Kind.PREMIUM)
    assert charge.paid == D("6.00") and charge.open_amount == 0
    assert balance(Codes.RECEIVABLE_PREMIUM, account) == 0
    run_through(dt.date(2026, 2, 14))  # after the due date and grace: paid in full, nothing overdue
    assert Statement.objects.get(account=account).status == Statement.Status.PAID
    books_clean()


def test_an_unpaid_premium_keeps_the_statement_from_being_paid_in_full():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    buy(account)
    run_through(dt.date(2026, 2, 3))
    pay(account, "530.00", "r-1")  # fee 30, premium 6, principal 494

    run_through(dt.date(2026, 2, 14))

    statement = Statement.objects.get(account=account)
    assert statement.status == Statement.Status.OVERDUE  # 6.00 of principal left: below the minimum
    books_clean()


# --- cancellation ----------------------------------------------------------------------------------------


def test_cancelled_in_the_cooling_off_period_every_paid_premium_goes_to_the_credit_balance():
    set_business_date(dt.date(2026, 1, 25))  # starts 25 Jan: cooling off until 9 Feb, first bill on 1 Feb
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    policy = buy(account).plan.insurance_policy
    run_through(dt.date(2026, 2, 2))
    pay(account, "536.00", "r-1")
    set_business_date(dt.date(2026, 2, 9))

    policy = policy_cancel(policy=policy, actor=SYSTEM, reason="changed their mind")

    account.refresh_from_db()
    assert policy.status == InsurancePolicy.Status.CANCELLED and policy.cancelled_on == dt.date(2026, 2, 9)
    assert (policy.refunded_amount, policy.waived_amount) == (D("6.00"), D("0.00"))
    assert account.credit_balance == D("6.00")
    assert balance(Codes.PREMIUM_PAYABLE) == 0  # nothing owed to the insurer any more
    books_clean()
    run_through(dt.date(2026, 3, 1))
    assert Charge.objects.filter(kind=Charge.Kind.PREMIUM).count() == 1  # no premium after the cancellation
    march = Statement.objects.get(account=account, bill_date=dt.date(2026, 3, 1))
    assert march.premiums == 0 and march.credit_applied == D("6.00")  # the refund paid the next bill
    books_clean()


def test_cancelled_in_the_cooling_off_period_an_unpaid_premium_is_no_longer_owed():
    set_business_date(dt.date(2026, 1, 25))
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    policy = buy(account).plan.insurance_policy
    run_through(dt.date(2026, 2, 2))
    account.refresh_from_db()
    used = account.used_amount

    policy = policy_cancel(policy=policy, actor=SYSTEM, reason="changed their mind")

    account.refresh_from_db()
    assert (policy.refunded_amount, policy.waived_amount) == (D("0.00"), D("6.00"))
    assert account.used_amount == used - D("6.00") and account.credit_balance == 0
    assert Charge.objects.get(kind=Charge.Kind.PREMIUM).open_amount == 0
    books_clean()


def test_cancelled_after_the_cooling_off_period_premiums_stop_but_none_is_refunded():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    policy = buy(account).plan.insurance_policy  # cooling off until 20 Jan
    run_through(dt.date(2026, 2, 2))
    pay(account, "536.00", "r-1")
    before = money_snapshot()

    policy = policy_cancel(policy=policy, actor=SYSTEM, reason="no longer wanted")

    assert policy.status == InsurancePolicy.Status.CANCELLED
    assert (policy.refunded_amount, policy.waived_amount) == (D("0.00"), D("0.00"))
    assert money_snapshot() == before  # no money moved
    run_through(dt.date(2026, 3, 1))
    assert Charge.objects.filter(kind=Charge.Kind.PREMIUM).count() == 1
    with pytest.raises(BusinessRuleError) as again:
        policy_cancel(policy=policy, actor=SYSTEM, reason="again")
    assert again.value.code == "policy_not_active"
    books_clean()


# --- claims (four eyes) ----------------------------------------------------------------------------------


def test_a_claim_waits_for_a_second_person_then_the_insurer_pays_the_plan_off(django_user_model):
    maker = staff(django_user_model, "maker", "insurance.pay_claim")
    checker = staff(django_user_model, "checker", "insurance.pay_claim")
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    plan = buy(account).plan
    run_through(dt.date(2026, 2, 3))  # first period billed: 530.00 + 6.00 premium, unpaid
    before = money_snapshot()

    claim, submitted = claim_submit(policy=plan.insurance_policy, reason="disability", event_date=dt.date(2026, 2, 2),
                                    note="hospital certificate", actor=Actor.staff(maker))

    assert not submitted.applied and claim.status == InsuranceClaim.Status.PENDING
    assert claim.amount == D("6030.00")  # 5,500 unbilled + 500 billed principal + 30 billed fee
    assert money_snapshot() == before  # nothing paid yet
    with pytest.raises(PermissionDeniedError):
        approval_approve(approval=submitted.request, user=maker)  # the maker cannot decide

    approval_approve(approval=submitted.request, user=checker)

    claim.refresh_from_db()
    plan.refresh_from_db()
    account.refresh_from_db()
    assert claim.status == InsuranceClaim.Status.PAID and claim.checker == checker and claim.maker == maker
    assert (claim.paid_amount, claim.premiums_waived) == (D("6030.00"), D("6.00"))
    assert plan.status == Plan.Status.CLAIM_PAID
    assert plan.insurance_policy.status == InsurancePolicy.Status.CLAIMED
    assert account.used_amount == 0
    assert balance(Codes.INSURER_CLAIM_RECEIVABLE) == D("6030.00")
    assert balance(Codes.RECEIVABLE_PREMIUM, account) == 0 and balance(Codes.PREMIUM_PAYABLE) == 0
    report = books_clean()
    assert report.total_debit == report.total_credit
    run_through(dt.date(2026, 3, 1))
    assert Charge.objects.filter(kind=Charge.Kind.PREMIUM).count() == 1  # no premium after the claim


def test_a_rejected_claim_pays_nothing_and_a_new_one_can_be_made(django_user_model):
    maker = staff(django_user_model, "maker", "insurance.pay_claim")
    checker = staff(django_user_model, "checker", "insurance.pay_claim")
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    policy = buy(account).plan.insurance_policy
    claim, submitted = claim_submit(policy=policy, reason="unemployment", event_date=D0, note="letter",
                                    actor=Actor.staff(maker))
    with pytest.raises(BusinessRuleError) as twice:
        claim_submit(policy=policy, reason="unemployment", event_date=D0, note="again", actor=Actor.staff(maker))
    before = money_snapshot()

    approval_reject(approval=submitted.request, user=checker, note="no evidence")

    assert money_snapshot() == before
    assert twice.value.code == "claim_pending"
    claim_submit(policy=policy, reason="unemployment", event_date=D0, note="new letter", actor=Actor.staff(maker))
    assert ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING).count() == 1


# Issue 23: a claim threshold raised in the database no longer switches four eyes off (a floor in code),
# so "threshold" is no longer a refusal: tests/approvals/test_sod_gate.py shows the claim waits instead.
@pytest.mark.parametrize("case", ["system", "bad_reason", "future_event", "cancelled"])
def test_a_claim_is_refused_and_nothing_changes(django_user_model, case):
    maker = staff(django_user_model, "maker", "insurance.pay_claim")
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    policy = buy(account).plan.insurance_policy
    kwargs = {"policy": policy, "reason": "death", "event_date": D0, "note": "certificate", "actor": Actor.staff(maker)}
    if case == "system":
        kwargs["actor"] = SYSTEM
    elif case == "bad_reason":
        kwargs["reason"] = "boredom"
    elif case == "future_event":
        kwargs["event_date"] = D0 + dt.timedelta(days=1)
    elif case == "cancelled":
        policy_cancel(policy=policy, actor=SYSTEM, reason="cancelled")
    before = money_snapshot(), InsuranceClaim.objects.count(), ApprovalRequest.objects.count()

    with pytest.raises(ApplicationError):
        claim_submit(**kwargs)

    assert (money_snapshot(), InsuranceClaim.objects.count(), ApprovalRequest.objects.count()) == before


# --- write-off --------------------------------------------------------------------------------------------


def test_a_written_off_account_writes_off_its_unpaid_premiums_too():
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    buy(account, amount="1200.00", tenor=3)  # premium 1.20 a period
    run_through(dt.date(2026, 8, 12))  # due 10 Feb, DPD 180 on 9 Aug

    write_off = WriteOff.objects.get(account=account)
    assert write_off.premiums == D("3.60")  # three periods billed, none paid
    assert balance(Codes.RECEIVABLE_PREMIUM, account) == 0
    account.refresh_from_db()
    assert account.used_amount == 0
    books_clean()


def test_a_reversed_repayment_reopens_the_premium_it_paid():
    from installments.services import repayment_reverse

    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    buy(account)
    run_through(dt.date(2026, 2, 3))
    account.refresh_from_db()
    used = account.used_amount
    repayment = pay(account, "536.00", "r-1")

    repayment_reverse(repayment=repayment, actor=SYSTEM, reason="bounced")

    account.refresh_from_db()
    charge = Charge.objects.get(kind=Charge.Kind.PREMIUM)
    assert (charge.paid, charge.open_amount) == (D("0.00"), D("6.00"))
    assert account.used_amount == used and balance(Codes.RECEIVABLE_PREMIUM, account) == D("6.00")
    books_clean()


def test_a_write_off_by_hand_writes_off_unpaid_premiums_too(django_user_model):
    from installments.services.controls import account_write_off

    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    buy(account, amount="1200.00", tenor=3)
    run_through(dt.date(2026, 2, 20))  # overdue since 10 Feb, premium 1.20 unpaid

    write_off = account_write_off(account=account, actor=SYSTEM, reason="deceased")

    assert write_off.premiums == D("1.20") and write_off.total == D("1200.00") + D("7.20") + write_off.late_fees + D("1.20")
    assert balance(Codes.RECEIVABLE_PREMIUM, account) == 0
    books_clean()
