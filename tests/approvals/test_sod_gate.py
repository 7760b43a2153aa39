"""Issue 23 items 3, 4, 5, 7 (PRODUCT §12): one gate, thresholds that add up, stale approvals, control
settings under four eyes above floors in code. One test per attempt of the issue, with exact values, and
"nothing changed" on every refusal or wait; plus the enumeration of the services' entry points."""
from __future__ import annotations

import datetime as dt
import importlib
import inspect
import pkgutil

import pytest
from django.contrib.admin.sites import site
from django.test import RequestFactory
from django.urls import reverse

from accounts import services as account_services
from accounts.models import CreditAccount, Customer, LimitChange, TemporaryLimit
from approvals.admin_mixins import SubmittedAddMixin
from approvals.gate import gate_open
from approvals.models import ApprovalPolicy, ApprovalRequest, GateEntry
from approvals.services import (
    Submitted, approval_approve, approval_policy_change_submit, approval_policy_update, approval_reject,
)
from core.actors import Actor
from core.errors import BusinessRuleError, ConflictError, PermissionDeniedError, ValidationError
from core.models import AuditEvent
from installments.daily import run_through
from installments.models import Purchase, Refund, Repayment, Waiver, WriteOff
from installments.services import (
    fee_waiver_submit, purchase_authorize, refund_submit, repayment_manual_submit, write_off_submit,
)
from risk.models import Application, ReviewCase
from risk.services import application_request_human_review, application_submit, review_case_approve
from tests.factories import CreditProductFactory
from tests.factories_installments import SYSTEM, D, money_snapshot, no_risk_checks, open_account  # noqa: F401
from tests.factories_risk import application_payload, german_row_scoring, german_version
from tests.factories_staff import role_user

pytestmark = pytest.mark.django_db


def go_to(s: str) -> None:
    run_through(dt.date.fromisoformat(s) - dt.timedelta(days=1))


@pytest.fixture
def officers(business_date):
    return role_user("Credit officer", "officer1"), role_user("Credit officer", "officer2")


@pytest.fixture
def finance(business_date):
    return role_user("Finance", "finance1"), role_user("Finance", "finance2")


def limit_state(account) -> tuple:
    account = CreditAccount.objects.get(pk=account.pk)
    return (account.fixed_limit, LimitChange.objects.filter(account=account).count(),
            TemporaryLimit.objects.filter(account=account).count())


# --- item 5: splitting defeats no threshold ------------------------------------------------------------


def test_a_limit_from_5000_to_50000_in_six_steps_each_under_50_percent_waits_from_the_second(officers):
    maker, other = officers
    account = open_account(limit="5000.00")
    steps = ["7400.00", "10900.00", "16000.00", "23800.00", "35000.00", "50000.00"]
    first = account_services.limit_change_submit(account=account, new_limit=D(steps[0]), actor=Actor.staff(maker),
                                                 reason="step 1")
    assert first.applied and limit_state(account) == (D("7400.00"), 2, 0)
    before = (limit_state(account), money_snapshot())
    waiting = []
    for n, target in enumerate(steps[1:], start=2):
        who = other if n % 2 else maker  # across all makers
        submitted = account_services.limit_change_submit(account=account, new_limit=D(target), actor=Actor.staff(who),
                                                         reason=f"step {n}")
        assert not submitted.applied
        waiting.append(submitted.request)
    assert (limit_state(account), money_snapshot()) == before  # still 7,400: nothing more applied
    second = waiting[0]
    assert (second.amount, second.base, second.context["account_before"], second.context["account_with"],
            second.context["share_base"]) == (D("3500.00"), D("7400.00"), "2400.00", "5900.00", "5000.00")
    assert second.context["reasons"] == ["¥5,900.00 with the account's other changes in 30 days is more than 50 % of "
                                         "¥5,000.00"]
    # pending raises count too: the last step is judged with the four waiting before it
    assert waiting[-1].context["account_before"] == str(D("2400.00") + sum(
        (D(t) - D("7400.00") for t in steps[1:-1]), D("0")))
    assert [r.status for r in ApprovalRequest.objects.order_by("pk")] == ["pending"] * 5


def test_three_6000_temporary_limits_on_a_20000_line_the_second_and_third_wait(officers):
    maker, _ = officers
    account = open_account(limit="20000.00")
    start, end = dt.date(2026, 1, 5), dt.date(2026, 2, 28)
    results = [account_services.temporary_limit_submit(account=account, amount=D("6000.00"), starts_on=start, ends_on=end,
                                                       actor=Actor.staff(maker), reason=f"temporary {n}")
               for n in (1, 2, 3)]
    assert [r.applied for r in results] == [True, False, False]
    assert limit_state(account) == (D("20000.00"), 2, 1)
    assert TemporaryLimit.objects.get(account=account).amount == D("6000.00")
    assert [(r.request.context["account_before"], r.request.context["account_with"]) for r in results[1:]] == [
        ("6000.00", "12000.00"), ("12000.00", "18000.00")]
    assert results[1].request.context["before"] == "¥26,000.00" and results[1].request.context["after"] == "¥32,000.00"


def test_one_account_in_two_campaigns_at_9000_each_the_second_waits(officers):
    maker, checker = officers
    account = open_account(limit="20000.00")
    start, end = dt.date(2026, 6, 1), dt.date(2026, 6, 30)
    first = account_services.temporary_limit_submit(account=account, amount=D("9000.00"), starts_on=start, ends_on=end,
                                                    campaign="618", actor=Actor.staff(maker), reason="campaign 618")
    assert first.applied
    before = limit_state(account)
    second = account_services.temporary_limit_submit(account=account, amount=D("9000.00"), starts_on=start,
                                                     ends_on=end, campaign="summer", actor=Actor.staff(checker),
                                                     reason="campaign summer")
    assert not second.applied and limit_state(account) == before == (D("20000.00"), 2, 1)
    assert second.request.context["reasons"] == [
        "¥18,000.00 with the account's other changes in 30 days is more than 50 % of ¥20,000.00"]
    approval_approve(approval=second.request, user=maker)  # a second person (not its maker) may approve it
    assert limit_state(account) == (D("20000.00"), 3, 2)
    assert GateEntry.objects.get(request=second.request).status == "approved"


@pytest.fixture
def late_fees(business_date):
    """50,000.00 bought on Jan 5, billed Feb 1, due Feb 10, never paid: 25.00 of late fee a day from Feb 11;
    on Mar 22, 975.00 of late fees are open."""
    business_date("2026-01-05")
    account = open_account(limit="50000.00", opened_on=dt.date(2026, 1, 1))
    purchase_authorize(account=account, amount=D("50000.00"), merchant_order_id="o-1", actor=SYSTEM)
    go_to("2026-03-22")
    return CreditAccount.objects.get(pk=account.pk)


def test_four_100_waivers_while_a_518_87_waiver_waits_all_wait(late_fees, finance):
    from installments.services.controls import waivable_total

    maker, other = finance
    assert waivable_total(account_id=late_fees.pk, kind="late_fee") == D("975.00")
    big = fee_waiver_submit(account=late_fees, kind="late_fee", amount=D("518.87"), actor=Actor.staff(maker),
                            reason="hospital stay")
    assert not big.applied
    before = money_snapshot()
    small = [fee_waiver_submit(account=late_fees, kind="late_fee", amount=D("100.00"),
                               actor=Actor.staff(maker if n % 2 else other), reason=f"goodwill {n}")
             for n in (1, 2, 3, 4)]
    assert [s.applied for s in small] == [False] * 4
    assert [s.request.context["account_with"] for s in small] == ["618.87", "718.87", "818.87", "918.87"]
    assert money_snapshot() == before and not Waiver.objects.exists()
    # rejecting the big one frees the window: it no longer counts
    approval_reject(approval=big.request, user=other, note="no evidence")
    assert GateEntry.objects.get(request=big.request).status == "rejected"


def test_a_6664_83_refund_as_4000_plus_2664_83_the_second_waits(finance, business_date):
    maker, checker = finance
    account = open_account(limit="10000.00")
    purchase = purchase_authorize(account=account, amount=D("6664.83"), merchant_order_id="o-refund", actor=SYSTEM)
    first = refund_submit(purchase=purchase, amount=D("4000.00"), actor=Actor.staff(maker), reason="returned part")
    assert first.applied and first.result.amount == D("4000.00")
    before = money_snapshot()
    second = refund_submit(purchase=purchase, amount=D("2664.83"), actor=Actor.staff(maker), reason="returned rest")
    assert not second.applied
    assert (second.request.context["account_before"], second.request.context["account_with"],
            second.request.account_id) == ("4000.00", "6664.83", account.pk)
    assert money_snapshot() == before and Refund.objects.count() == 1
    assert Purchase.objects.get(pk=purchase.pk).refunded_amount == D("4000.00")
    approval_approve(approval=second.request, user=checker)
    assert Purchase.objects.get(pk=purchase.pk).refunded_amount == D("6664.83")


def test_one_makers_refunds_on_different_accounts_add_up_per_day(finance):
    maker, _ = finance
    ApprovalPolicy.objects.filter(kind="installments.refund").update(maker_day_above=D("6000.00"))
    refunds = []
    for n in range(3):
        account = open_account(limit="10000.00")
        purchase = purchase_authorize(account=account, amount=D("2500.00"), merchant_order_id=f"o-{n}", actor=SYSTEM)
        refunds.append(refund_submit(purchase=purchase, amount=D("2500.00"), actor=Actor.staff(maker), reason="r"))
    assert [r.applied for r in refunds] == [True, True, False]
    assert refunds[2].request.context["reasons"] == [
        "the maker's changes today come to ¥7,500.00, above ¥6,000.00"]


# --- item 6 (the single manual repayment) --------------------------------------------------------------


@pytest.mark.parametrize("amount, received_days_back, waits", [
    ("5000.00", 0, False), ("5000.01", 0, True), ("100.00", 3, False), ("100.00", 4, True),
], ids=["5000.00-today", "5000.01-today", "3-days-back", "4-days-back"])
def test_a_repayment_entered_by_hand_waits_above_5000_or_back_dated_beyond_3_days(finance, business_date, amount,
                                                                                  received_days_back, waits):
    maker, checker = finance
    business_date("2026-01-20")
    account = open_account(limit="10000.00")
    purchase_authorize(account=account, amount=D("8000.00"), merchant_order_id="o-1", actor=SYSTEM)
    before = money_snapshot()
    submitted = repayment_manual_submit(account=account, amount=D(amount), external_ref="BANK-1", channel="bank_transfer",
                                        received_on=dt.date(2026, 1, 20) - dt.timedelta(days=received_days_back),
                                        actor=Actor.staff(maker))
    assert submitted.applied is not waits
    if waits:
        assert money_snapshot() == before and not Repayment.objects.exists()
        approval_approve(approval=submitted.request, user=checker)
    repayment = Repayment.objects.get()
    assert (repayment.amount, repayment.actor) == (D(amount), maker)


def test_a_repayment_by_a_person_outside_the_gate_is_refused_and_the_api_client_is_not(finance):
    maker, _ = finance
    account = open_account(limit="10000.00")
    purchase_authorize(account=account, amount=D("1000.00"), merchant_order_id="o-1", actor=SYSTEM)
    from installments.services import repayment_post

    before = money_snapshot()
    with pytest.raises(PermissionDeniedError) as exc:
        repayment_post(account=account, amount=D("11332.30"), external_ref="FAKE", channel="bank_transfer",
                       actor=Actor.staff(maker))
    assert exc.value.code == "approval_gate_required" and money_snapshot() == before
    posted = repayment_post(account=account, amount=D("100.00"), external_ref="PSP-1", channel="card",
                            actor=Actor.system("api:psp"))
    assert posted.amount == D("100.00")


# --- item 7: stale approvals ---------------------------------------------------------------------------


def test_a_request_10000_to_25000_approved_after_the_limit_was_cut_to_1000_is_refused_as_stale(officers):
    maker, checker = officers
    account = open_account(limit="10000.00")
    request = account_services.limit_change_submit(account=account, new_limit=D("25000.00"), actor=Actor.staff(maker),
                                                   reason="salary rise").request
    assert request.context["snapshot"] == {"fixed_limit": "10000.00", "status": "active"}
    assert account_services.limit_change_submit(account=account, new_limit=D("1000.00"), actor=Actor.staff(maker),
                                                reason="cut").applied
    before = (limit_state(account), money_snapshot())
    with pytest.raises(ConflictError) as exc:
        approval_approve(approval=request, user=checker)
    assert exc.value.code == "approval_stale"
    assert exc.value.message == ("What this request changes moved since it was requested (fixed_limit was 10000.00, is "
                                 "now 1000.00): nothing was applied.")
    assert (limit_state(account), money_snapshot()) == before == ((D("1000.00"), 2, 0), before[1])
    request.refresh_from_db()
    assert (request.status, request.checker, request.result) == ("stale", checker, "")
    assert AuditEvent.objects.filter(action="approval_stale", object_id=str(request.pk)).count() == 1
    with pytest.raises(ConflictError) as again:
        approval_approve(approval=request, user=checker)
    assert again.value.code == "approval_decided"


def test_the_approvers_page_shows_account_before_after_and_cumulative_context(client, officers):
    maker, checker = officers
    account = open_account(limit="10000.00")
    account_services.limit_change_submit(account=account, new_limit=D("14000.00"), actor=Actor.staff(maker), reason="a")
    request = account_services.limit_change_submit(account=account, new_limit=D("16000.00"), actor=Actor.staff(maker),
                                                   reason="b").request
    client.force_login(checker)
    page = client.get(reverse("admin:approvals_approvalrequest_change", args=[request.pk])).content.decode()
    assert reverse("admin:accounts_creditaccount_change", args=[account.pk]) in page and account.reference in page
    assert "¥14,000.00 → ¥16,000.00" in page
    assert "¥4,000.00" in page and "¥6,000.00" in page  # the account's raises before / with this request
    assert "As when it was requested." in page


# --- item 3: control settings under four eyes, above floors in code -------------------------------------


def test_one_administrator_alone_cannot_change_a_threshold(client, officers):
    maker, _ = officers
    administrator, second = role_user("Administrator", "admin1"), role_user("Administrator", "admin2")
    policy = ApprovalPolicy.objects.get(kind="accounts.fixed_limit")
    before = (ApprovalPolicy.objects.values_list("kind", "amount_above", "share_above").order_by("kind")[::1],)
    with pytest.raises(PermissionDeniedError) as exc:  # the executing service is behind the gate
        approval_policy_update(policy=policy, amount_above=D("50000.00"), share_above=D("1.00"),
                               actor=Actor.staff(administrator))
    assert exc.value.code == "approval_gate_required"
    client.force_login(administrator)
    response = client.post(reverse("admin:approvals_approvalpolicy_change", args=[policy.pk]), {
        "amount_above": "", "share_above": "", "maker_day_above": "100000.00", "days_above": "", "reason": "x"})
    assert response.status_code == 200  # blanking is refused on the form: a floor in code
    submitted = approval_policy_change_submit(policy=policy, amount_above=D("50000.00"), actor=Actor.staff(administrator),
                                              reason="busy season")
    assert not submitted.applied
    with pytest.raises(PermissionDeniedError) as own:
        approval_approve(approval=submitted.request, user=administrator)
    assert own.value.code == "maker_cannot_decide"
    assert (ApprovalPolicy.objects.values_list("kind", "amount_above", "share_above").order_by("kind")[::1],) == before
    approval_approve(approval=submitted.request, user=second)
    policy.refresh_from_db()
    assert policy.amount_above == D("50000.00")
    assert AuditEvent.objects.get(action="approval_policy_change").actor == administrator


@pytest.mark.parametrize("values, message", [
    ({"amount_above": D("1000.00")}, "Write-off by hand: amount_above cannot be above ¥0.00 (a floor fixed in code)."),
    ({"amount_above": None}, "Write-off by hand: amount_above cannot be blank; the floor in code keeps it at most ¥0.00."),
], ids=["raised", "blanked"])
def test_the_write_off_threshold_cannot_be_raised_or_blanked(business_date, values, message):
    administrator = role_user("Administrator", "admin1")
    policy = ApprovalPolicy.objects.get(kind="installments.write_off")
    with pytest.raises(ValidationError) as exc:
        approval_policy_change_submit(policy=policy, actor=Actor.staff(administrator), reason="r", **values)
    assert (exc.value.code, exc.value.message) == ("threshold_floor", message)
    assert not ApprovalRequest.objects.exists()
    policy.refresh_from_db()
    assert policy.amount_above == D("0.00")


@pytest.mark.parametrize("kind, raised, amount, waits", [
    ("insurance.claim_pay", "100000.00", "99999.00", True),
    ("installments.fee_waiver", "100000.00", "2000.01", True),
    ("installments.fee_waiver", "100000.00", "2000.00", False),
    ("accounts.account_open", "100000.00", "50000.01", True),
], ids=["claim-always", "waiver-above-ceiling", "waiver-at-ceiling", "new-line-above-ceiling"])
def test_a_threshold_raised_in_the_database_by_hand_never_goes_above_its_floor(db, kind, raised, amount, waits):
    from approvals.services import approval_needed, approval_policy_for

    approval_policy_for(kind)
    ApprovalPolicy.objects.filter(kind=kind).update(amount_above=D(raised))
    assert approval_needed(kind=kind, amount=D(amount)) is waits


@pytest.fixture
def overdue(business_date):
    business_date("2026-01-05")
    account = open_account(limit="10000.00", opened_on=dt.date(2026, 1, 1))
    purchase_authorize(account=account, amount=D("1000.00"), merchant_order_id="o-1", actor=SYSTEM)
    go_to("2026-03-02")
    return CreditAccount.objects.get(pk=account.pk)


def test_a_write_off_with_the_threshold_raised_in_the_database_still_waits_and_answers_no_500(client, overdue):
    manager = role_user("Collections manager", "manager1")
    ApprovalPolicy.objects.filter(kind="installments.write_off").update(amount_above=D("1000000.00"))
    before = money_snapshot()
    client.force_login(manager)
    response = client.post(reverse("admin:installments_writeoff_add"),
                           {"account_reference": overdue.reference, "reason": "deceased"})
    request = ApprovalRequest.objects.get(kind="installments.write_off")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:approvals_approvalrequest_change", args=[request.pk])
    assert money_snapshot() == before and not WriteOff.objects.exists()
    assert "every change of this kind waits for a second person" in request.context["reasons"]


def test_an_add_screen_whose_change_applied_shows_the_saved_object_not_an_empty_one(overdue):
    """The 500: ``SubmittedAddMixin`` gave the admin an unsaved ``WriteOff`` with only its key, whose
    ``__str__`` reads the account. Applied through the gate, the screen now shows the saved row."""
    manager, second = role_user("Collections manager", "manager1"), role_user("Collections manager", "manager2")
    request_row = write_off_submit(account=overdue, actor=Actor.staff(manager), reason="deceased").request
    approval_approve(approval=request_row, user=second)
    write_off = WriteOff.objects.get()
    modeladmin = site._registry[WriteOff]
    assert isinstance(modeladmin, SubmittedAddMixin)
    http = RequestFactory().post("/")
    http.user = manager
    form = type("Form", (), {"submitted": Submitted(applied=True, result=write_off)})()
    shown = WriteOff()
    modeladmin.save_model(http, shown, form, change=False)
    assert (shown.pk, shown.account_id, str(shown)) == (write_off.pk, overdue.pk,
                                                        f"Write-off of {overdue} on 2026-03-02")


# --- item 4: the risk review queue goes through the gate -------------------------------------------------


@pytest.fixture
def scorecard(business_date):
    CreditProductFactory()
    return german_version()


def test_approving_a_human_review_that_raises_a_2000_line_to_50000_waits_for_a_second_officer(scorecard, officers):
    maker, checker = officers
    _, row, _ = german_row_scoring(lambda s: 500 <= s < 550)
    application = application_submit(**application_payload(row, 64))
    account = application.account
    assert account.fixed_limit == D("2000.00")
    case = application_request_human_review(application=application, statement="The limit is too low.")
    before = (limit_state(account), money_snapshot())
    case = review_case_approve(case=case, user=maker, reason="salary slip checked", limit=D("50000.00"))
    assert case.status == "open" and case.pending.kind == "risk.review_limit"
    assert (limit_state(account), money_snapshot()) == before
    assert Application.objects.get(pk=application.pk).status == "approved"  # the automated approval, unchanged
    with pytest.raises(BusinessRuleError) as again:
        review_case_approve(case=case, user=checker, reason="again", limit=D("50000.00"))
    assert again.value.code == "case_approval_pending"
    approval_approve(approval=case.pending, user=checker)
    assert limit_state(account) == (D("50000.00"), 2, 0)
    case.refresh_from_db()
    assert (case.status, case.resolved_by, case.resolved_limit) == ("approved", maker, D("50000.00"))


def test_approving_a_held_application_that_opens_a_50000_account_waits_for_a_second_officer(scorecard, officers):
    maker, checker = officers
    _, row, _ = german_row_scoring(lambda s: s < 500)
    application = application_submit(**application_payload(row, 65))
    case = ReviewCase.objects.get(application=application)
    counts = (Customer.objects.count(), CreditAccount.objects.count(), LimitChange.objects.count())
    case = review_case_approve(case=case, user=maker, reason="income documents", limit=D("50000.00"))
    assert case.status == "open" and case.pending.kind == "risk.review_open"
    assert (Customer.objects.count(), CreditAccount.objects.count(), LimitChange.objects.count()) == counts
    with pytest.raises(PermissionDeniedError):
        approval_approve(approval=case.pending, user=maker)
    approval_approve(approval=case.pending, user=checker)
    application.refresh_from_db()
    assert (application.status, application.account.fixed_limit) == ("approved", D("50000.00"))


def test_approving_a_held_application_within_the_threshold_opens_the_account_at_once(scorecard, officers):
    maker, _ = officers
    _, row, _ = german_row_scoring(lambda s: s < 500)
    application = application_submit(**application_payload(row, 66))
    case = review_case_approve(case=ReviewCase.objects.get(application=application), user=maker, reason="ok",
                               limit=D("20000.00"))
    application.refresh_from_db()
    assert (case.status, application.account.fixed_limit, case.pending) == ("approved", D("20000.00"), None)


# --- item 4: the enumeration of the services' entry points ----------------------------------------------

#: The services modules of the apps that move money or limits. Every public function in them is declared
#: below; a new one that is not fails :func:`test_every_service_entry_point_is_declared`.
SERVICE_PACKAGES = ("installments.services", "risk.services", "debt_collection.services")
SERVICE_MODULES = ("accounts.services", "cashloans.services", "insurance.services", "staff.services")

#: Executing services: they open a line, change a limit, grant a temporary limit, waive, refund, write off or
#: post a repayment. A person (staff actor) reaches them only through the gate; the test calls each with a
#: staff actor outside the gate and expects ``approval_gate_required`` with nothing changed.
GATED = {
    "accounts.services": {"account_open", "account_change_fixed_limit", "temporary_limit_grant", "campaign_limit_grant"},
    "installments.services.controls": {"fee_waive", "account_write_off"},
    "installments.services.refunds": {"purchase_refund"},
    "installments.services.repayments": {"repayment_post"},
    "installments.services.settlements": {"plan_settle"},
}
#: The entry points for people: each goes through ``approval_submit`` (checked in its source).
SUBMIT = {
    "accounts.services": {"limit_change_submit", "temporary_limit_submit", "account_open_submit"},
    "installments.services.controls": {"fee_waiver_submit", "write_off_submit", "refund_submit",
                                       "repayment_manual_submit", "plan_settlement_submit"},
    "insurance.services": {"claim_submit"},
    "risk.services.queue": {"review_case_approve"},
    "risk.services.campaigns": {"campaign_grant"},
    "risk.services.config": {"risk_policy_change_submit"},
}
#: Functions a person calls that move no money and no limit in the sense of PRODUCT §12 (why, per name).
PERSON_NOT_MONEY = {
    "accounts.services": {
        "consent_record": "records a consent", "account_freeze": "stops spending", "account_unfreeze": "status only",
        "account_close": "closes an account that owes and holds nothing", "account_change_bill_day": "a date",
        "customer_mark_deceased": "records a death an approved claim established: stops the notices",
    },
    "cashloans.services": {
        "cash_product_save": "product configuration", "cash_loan_draw": "the customer's drawdown within the line (API)",
        "cash_loan_settle": "the customer's early repayment (API); staff go through plan_settlement_submit",
        "account_cash_limit_set": "a cash sub-limit inside the fixed limit: it never raises the line",
        "cash_loan_prepay": "the customer's partial prepayment (API); staff go through plan_settlement_submit",
        "cash_loan_payout_fail": "the bank's report that a payout never reached the card (API client): the drawdown "
                                 "is reversed as if it had not happened; no amount a person chooses",
    },
    "insurance.services": {
        "policy_attach": "attaches cover to a plan", "claim_pay": "runs only as the executor of an approved claim",
        "policy_cancel": "the statutory cooling-off refund, computed by rule, not an amount a person chooses",
        "policy_follow_plan": "the policy follows its plan's refund, settlement or write-off, by the terms' rule",
        "insurer_remit": "the monthly remittance of premiums collected to the insurer (close of business)",
    },
    "staff.services": {"import_job_create": "queues an import", "import_job_confirm": "bank files: sod-bankfile",
                       "import_job_reject": "refuses a bank file waiting for its second person: posts nothing",
                       "import_record_write": "the import register"},
    "installments.services.purchases": {
        "purchase_authorize": "the customer's purchase", "purchase_review_approve": "releases a held purchase",
        "purchase_review_decline": "declines a held purchase", "purchase_hold_expire": "the close of business",
    },
    "installments.services.rejudge": {"account_rejudge": "re-judges days after back-valued money (system)"},
    "installments.services.repayments": {"credit_balance_apply": "the customer's own credit balance",
                                         "repayment_reverse": "re-opens what a bounced payment paid: owes more"},
    "installments.services.statements": {"statement_install": "the customer's bill installment (fees charged)",
                                         "statement_amend": "a new version of an issued statement, from the "
                                                            "re-judging of back-valued money (system)"},
    "installments.services.terms": {"product_terms_update": "pricing, within the APR ceiling"},
    "risk.services.campaigns": {"campaign_preview": "computes a segment"},
    "risk.services.config": {
        "risk_rule_update": "rule configuration", "score_band_save": "band limits, capped by the policy maximum",
        "blacklist_add": "refuses more", "blacklist_deactivate": "blacklist",
        "risk_policy_save": "its maxima are behind the gate (checked in the function)",
    },
    "risk.services.queue": {"review_case_decline": "declines", "risk_event_mark_reviewed": "a note"},
    "risk.services.scorecards": {"scorecard_version_activate": "model governance",
                                 "scorecard_version_retire": "model governance"},
    "debt_collection.services.cases": {"case_assign": "work allocation", "case_recall": "work allocation",
                                       "case_close": "closes a case; money moves only by write-off or repayment",
                                       "cases_recall_from_agencies": "PIPL"},
    "debt_collection.services.common": {"ensure_manager": "a check"},
    "debt_collection.services.desk": {"case_call_start": "reveals the number of an assigned case for a call (logged)"},
    "debt_collection.services.setup": {"config_save": "collections configuration", "agency_evaluate": "a date"},
}


def _service_modules() -> list:
    names = list(SERVICE_MODULES)
    for package in SERVICE_PACKAGES:
        module = importlib.import_module(package)
        names += [f"{package}.{info.name}" for info in pkgutil.iter_modules(module.__path__)]
    return [importlib.import_module(name) for name in names]


def _public_functions(module) -> dict:
    return {name: obj for name, obj in vars(module).items()
            if inspect.isfunction(obj) and obj.__module__ == module.__name__ and not name.startswith("_")}


def _takes_a_person(fn) -> bool:
    return bool({"actor", "user"} & set(inspect.signature(fn).parameters))


def test_every_service_entry_point_is_declared():
    """Every public function of the services modules that a person can call (it takes ``actor`` or
    ``user``) is declared gated, a gate entry point, or not money with a reason; the rest take no person
    at all (the close of business, reads, pure helpers)."""
    undeclared, stale = [], []
    for module in _service_modules():
        declared = (GATED.get(module.__name__, set()) | SUBMIT.get(module.__name__, set())
                    | set(PERSON_NOT_MONEY.get(module.__name__, {})))
        functions = _public_functions(module)
        undeclared += [f"{module.__name__}.{name}" for name, fn in functions.items()
                       if _takes_a_person(fn) and name not in declared]
        stale += [f"{module.__name__}.{name}" for name in declared if name not in functions]
    assert undeclared == [] and stale == []


def test_each_entry_point_for_people_goes_through_approval_submit():
    for module_name, names in SUBMIT.items():
        module = importlib.import_module(module_name)
        for name in names:
            assert "approval_submit(" in inspect.getsource(getattr(module, name)), f"{module_name}.{name}"


@pytest.mark.parametrize("module_name, name", sorted((m, n) for m, names in GATED.items() for n in names),
                         ids=lambda v: v)
def test_each_executing_service_refuses_a_person_outside_the_gate(business_date, module_name, name):
    fn = getattr(importlib.import_module(module_name), name)
    person = Actor.staff(role_user("Finance", "finance1"))
    kwargs = {p: None for p, spec in inspect.signature(fn).parameters.items() if spec.default is inspect.Parameter.empty}
    kwargs["actor"] = person
    before = (money_snapshot(), LimitChange.objects.count(), AuditEvent.objects.count())
    with pytest.raises(PermissionDeniedError) as exc:
        fn(**kwargs)
    assert exc.value.code == "approval_gate_required"
    assert (money_snapshot(), LimitChange.objects.count(), AuditEvent.objects.count()) == before


def test_inside_the_gate_and_for_the_system_the_executing_services_work_as_before(officers):
    maker, _ = officers
    account = open_account(limit="10000.00")  # the system opens a line (automatic scoring) without the gate
    account_services.account_change_fixed_limit(account=account, new_limit=D("9000.00"), actor=SYSTEM, reason="review")
    with gate_open("test"):
        account_services.account_change_fixed_limit(account=account, new_limit=D("9500.00"), actor=Actor.staff(maker),
                                                    reason="approved")
    assert limit_state(account) == (D("9500.00"), 3, 0)


def test_the_policy_maxima_change_only_under_four_eyes_and_below_the_ceiling(business_date):
    from risk.selectors import risk_policy
    from risk.services.config import risk_policy_change_submit, risk_policy_save

    analyst, administrator = role_user("Risk analyst", "analyst"), role_user("Administrator", "admin1")
    with pytest.raises(PermissionDeniedError) as exc:
        risk_policy_save(values={"max_limit": D("100000.00")}, user=analyst)
    assert exc.value.code == "approval_gate_required"
    with pytest.raises(ValidationError) as ceiling:
        risk_policy_change_submit(values={"max_limit": D("200000.01")}, user=analyst)
    assert ceiling.value.code == "threshold_floor"
    submitted = risk_policy_change_submit(values={"max_limit": D("100000.00"), "raise_step": D("0.25")}, user=analyst)
    policy = risk_policy()
    assert (policy.max_limit, policy.raise_step, submitted.applied) == (D("50000.00"), D("0.25"), False)
    approval_approve(approval=submitted.request, user=administrator)
    assert risk_policy().max_limit == D("100000.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_makers_at_once_cannot_both_fit_under_the_same_total(business_date):
    """Two refunds of ¥3,000.00 on one account by two people at the same moment: each fits under ¥5,000.00
    alone, together they do not — one applies, the other waits (a group is judged one request at a time)."""
    import threading

    from django.db import connection

    makers = [role_user("Finance", f"finance{n}") for n in (1, 2)]
    account = open_account(limit="10000.00")
    barrier = threading.Barrier(2)
    outcomes: list = []

    def submit(user):
        try:
            barrier.wait()
            outcomes.append(refund_or_waive(account, user))
        except Exception as exc:  # pragma: no cover - reported below
            outcomes.append(repr(exc))
        finally:
            connection.close()

    def refund_or_waive(account, user):
        purchase = Purchase.objects.get(account=account, merchant_order_id=f"o-{user.username}")
        return "applied" if refund_submit(purchase=purchase, amount=D("3000.00"), actor=Actor.staff(user),
                                          reason="returned").applied else "waits"

    for user in makers:
        purchase_authorize(account=account, amount=D("3000.00"), merchant_order_id=f"o-{user.username}", actor=SYSTEM)
    threads = [threading.Thread(target=submit, args=(user,)) for user in makers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["applied", "waits"]
    assert Refund.objects.count() == 1 and ApprovalRequest.objects.get().context["account_before"] == "3000.00"
