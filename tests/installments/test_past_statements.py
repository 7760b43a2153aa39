"""Issue 24 items 1-3: the past stays true (PRODUCT §6, §11, §13).

1. A back-valued payment (or a reversal) that changes what an issued statement should have said amends
   it as a new version, the days after it are judged from the amended minimum, the customer is told.
2. Decisions caused by delinquency that the value date erases are undone; one limit cut per episode.
3. A forced re-run of the latest closed date changes nothing, or is refused when anything was posted
   after that close.

Defaults: bill day 1, due = bill + 9, grace 3 days, late fee 0.05 %/day (min 0.01), minimum payment
10 % of the revolving balance + everything else due."""
from __future__ import annotations

import pytest

from accounts.models import BucketChange, StatusChange
from debt_collection.models import CollectionCase
from installments.models import Charge, Repayment, Statement, StatementVersion
from installments.services import purchase_authorize, repayment_post
from tests.factories_installments import SYSTEM, D, books_clean, no_risk_checks, open_account  # noqa: F401
from tests.factories_valuedate import cob_through, day, fresh

pytestmark = pytest.mark.django_db

MONEY = ("opening_balance", "purchases_amount", "installments_principal", "installments_fee", "deferral_fees",
         "late_fees", "premiums", "payments_amount", "refunds_amount", "credit_applied", "adjustments",
         "closing_balance", "revolving_due", "installments_due", "fees_due", "past_due", "minimum_payment")


def pay(account, amount: str, ref: str, received_on: str | None = None) -> Repayment:
    return repayment_post(account=account, amount=D(amount), external_ref=ref, channel="bank_file",
                          received_on=day(received_on) if received_on else None, actor=SYSTEM)


def figures(statement: Statement) -> dict:
    return {name: getattr(statement, name) for name in MONEY}


def open_late_fees(account, after: str) -> list:
    return [(c.accrued_on, c.amount - c.waived) for c in Charge.objects.filter(
        account=account, kind="late_fee", accrued_on__gt=day(after)).order_by("accrued_on") if c.amount > c.waived]


@pytest.fixture
def two_overdue(business_date):
    """Two accounts, each: 1,000.00 bought on 01-05 (statement 02-01, due 02-10, unpaid: overdue at the
    close of 02-13) and 500.00 on 02-05 (the March cycle). At the close of 02-26 each owes 1,000.00 past
    due plus 8.00 of late fees (1.50 for 02-11..13, then 0.50 a day)."""
    business_date("2026-01-05")
    accounts = [open_account(limit="20000.00", opened_on=day("2026-01-01")) for _ in range(2)]
    for i, acc in enumerate(accounts):
        purchase_authorize(account=acc, amount=D("1000.00"), merchant_order_id=f"jan-{i}", tenor=None, actor=SYSTEM)
    cob_through("2026-02-04")
    for i, acc in enumerate(accounts):
        purchase_authorize(account=acc, amount=D("500.00"), merchant_order_id=f"feb-{i}", tenor=None, actor=SYSTEM)
    cob_through("2026-02-26")
    for acc in accounts:
        a = fresh(acc)
        assert (a.dpd, a.bucket, a.status) == (16, "M1", "frozen")
        owed = sum((c.amount for c in Charge.objects.filter(account=acc, kind="late_fee")), D("0"))
        assert owed == D("8.00")
    return accounts


def test_a_late_bank_file_across_the_bill_date_amends_the_statement_and_the_customer_is_not_overdue(two_overdue):
    same_day, late_file = two_overdue
    pay(same_day, "1008.00", "bank-0227-a")  # posted on 02-27, the day the bank received it
    cob_through("2026-03-02")
    issued = Statement.objects.get(account=late_file, bill_date=day("2026-03-01"))
    # As issued on 03-01 to the account whose file came late: 50.00 + 1,000.00 past due + 9.00 of fees.
    assert (issued.minimum_payment, issued.past_due, issued.fees_due, issued.late_fees, issued.version) == (
        D("1059.00"), D("1000.00"), D("9.00"), D("9.00"), 1)

    pay(late_file, "1008.00", "bank-0227-b", received_on="2026-02-27")  # the file of 02-27, posted 03-03

    reference = Statement.objects.get(account=same_day, bill_date=day("2026-03-01"))
    amended = Statement.objects.get(pk=issued.pk)
    assert figures(reference) == {
        "opening_balance": D("1000.00"), "purchases_amount": D("500.00"), "installments_principal": D("0.00"),
        "installments_fee": D("0.00"), "deferral_fees": D("0.00"), "late_fees": D("8.00"), "premiums": D("0.00"),
        "payments_amount": D("1008.00"), "refunds_amount": D("0.00"), "credit_applied": D("0.00"),
        "adjustments": D("0.00"), "closing_balance": D("500.00"), "revolving_due": D("500.00"),
        "installments_due": D("0.00"), "fees_due": D("0.00"), "past_due": D("0.00"), "minimum_payment": D("50.00")}
    assert figures(amended) == figures(reference)  # the same March statement as the customer who paid on time
    assert (amended.version, amended.amended_on) == (2, day("2026-03-03"))
    assert amended.amended_because == ("repayment bank-0227-b value-dated 2026-02-27: past due 1000.00 → 0.00, "
                                       "minimum 1059.00 → 50.00")
    old = StatementVersion.objects.get(statement=amended)
    assert (old.version, old.superseded_on, old.superseded_cause, old.minimum_payment, old.past_due) == (
        1, day("2026-03-03"), "value_date", D("1059.00"), D("1000.00"))
    assert old.figures["fees_due"] == "9.00" and old.figures["closing_balance"] == "1509.00"
    assert [(x["kind"], x["amount"]) for x in old.lines] == [
        ("opening", "1000.00"), ("purchase", "500.00"), ("late_fee", "9.00"), ("closing", "1509.00")]
    assert [(ln.kind, ln.amount) for ln in amended.lines.order_by("position", "id")] == [
        ("opening", D("1000.00")), ("purchase", D("500.00")), ("late_fee", D("8.00")), ("payment", D("-1008.00")),
        ("closing", D("500.00"))]
    assert Repayment.objects.get(external_ref="bank-0227-b").statement_id == amended.pk
    a = fresh(late_file)
    assert (a.dpd, a.bucket, a.status, a.used_amount) == (0, "M0", "active", D("500.00"))
    books_clean()

    # The customer is told the corrected amount at the close of the day it was amended.
    from notices.models import Notice

    cob_through("2026-03-03")
    notice = Notice.objects.get(account=late_file, kind="statement_amended")
    assert (notice.event_key, notice.for_date, notice.status) == (
        f"statement-amended:{amended.pk}:v2", day("2026-03-03"), "queued")
    assert "¥50.00" in notice.body and "¥1059.00" in notice.body
    assert not Notice.objects.filter(account=same_day, kind="statement_amended").exists()

    # Both pay the minimum on 03-09; at 03-13 (due 03-10 + 3 days of grace) neither is overdue.
    cob_through("2026-03-08")
    pay(same_day, "50.00", "min-a")
    pay(late_file, "50.00", "min-b")
    cob_through("2026-03-13")
    for acc in (same_day, late_file):
        a = fresh(acc)
        assert (a.dpd, a.bucket, a.status, a.freeze_reason) == (0, "M0", "active", "")
        march = Statement.objects.get(account=acc, bill_date=day("2026-03-01"))
        assert (march.status, march.resolved_on) == ("minimum_paid", day("2026-03-10"))
        assert open_late_fees(acc, "2026-02-26") == []
        assert not CollectionCase.objects.filter(account=acc, status="open").exists()
        assert list(BucketChange.objects.filter(account=acc, on_date__gt=day("2026-02-27")).values_list(
            "new_bucket", flat=True)) == []
    # Deferral fees on the 450.00 left of the revolving balance, the same for both (0.05 %/day from 03-11).
    deferral = [sorted((c.accrued_on, c.amount) for c in Charge.objects.filter(account=acc, kind="deferral_fee"))
                for acc in (same_day, late_file)]
    assert deferral[0] == deferral[1] and deferral[0]
    books_clean()


def test_the_statements_api_and_selector_show_both_versions(two_overdue, client):
    from installments.selectors import statement_versions

    late_file = two_overdue[1]
    cob_through("2026-03-02")
    pay(late_file, "1008.00", "bank-0227-b", received_on="2026-02-27")
    st = Statement.objects.get(account=late_file, bill_date=day("2026-03-01"))
    versions = statement_versions(statement=st)
    assert [(v.version, v.current, v.minimum_payment, v.past_due, v.amended_because[:27]) for v in versions] == [
        (1, False, D("1059.00"), D("1000.00"), ""), (2, True, D("50.00"), D("0.00"), "repayment bank-0227-b value")]

    from tests.factories_api import api_for

    http = api_for()[0]
    body = http.get(f"/api/v1/accounts/{late_file.reference}/statements/?bill_date_from=2026-03-01").json()
    march = body["results"][0]
    assert (march["version"], march["amended_on"], march["minimum_payment"], march["amended_because"]) == (
        2, "2026-03-03", "50.00", st.amended_because)
    assert [(v["version"], v["figures"]["minimum_payment"], v["figures"]["past_due"], v["superseded_on"])
            for v in march["previous_versions"]] == [(1, "1059.00", "1000.00", "2026-03-03")]

    # The admin shows the statement with its previous version.
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    user = get_user_model().objects.create_superuser("auditor", "a@example.com", "x-Very-long-pass-1")
    client.force_login(user)
    page = client.get(reverse("admin:installments_statement_change", args=[st.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "1059.00" in html and st.amended_because in html


# --- 3. a forced re-run of the latest closed date ---------------------------------------------------


@pytest.fixture
def overdue_one(business_date, settings):
    """1,000.00 on 01-05, unpaid: overdue at the close of 02-13, case opened; closed through 02-15."""
    settings.CELERY_BROKER_IS_EMBEDDED = True
    business_date("2026-01-05")
    acc = open_account(limit="10000.00", opened_on=day("2026-01-01"))
    purchase_authorize(account=acc, amount=D("1000.00"), merchant_order_id="o-1", tenor=None, actor=SYSTEM)
    cob_through("2026-02-15")
    a = fresh(acc)
    assert (a.dpd, a.bucket, a.status) == (5, "M1", "frozen")
    assert CollectionCase.objects.get(account=acc).status == "open"
    return acc


def test_a_forced_rerun_of_the_latest_close_is_refused_after_a_payment_and_nothing_changes(overdue_one):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from cob import pipeline
    from core.errors import BusinessRuleError
    from tests.factories_cob import dump_all

    pay(overdue_one, "1002.50", "pay-in-full-0216")  # 02-16: everything owed (late fees 1.50 + 0.50 + 0.50)
    assert fresh(overdue_one).used_amount == D("0.00")
    before = dump_all()
    with pytest.raises(CommandError) as exc:
        call_command("cob", date="2026-02-15", force=True, no_progress=True, stdout=io.StringIO(),
                     stderr=io.StringIO())
    assert "[cob_posted_since_close]" in str(exc.value) and "was posted after it closed" in str(exc.value)
    with pytest.raises(BusinessRuleError) as err:
        pipeline.run_date(day("2026-02-15"), force=True)
    assert err.value.code == "cob_posted_since_close" and err.value.details["date"] == "2026-02-15"
    assert dump_all() == before  # not cured, unfrozen or closed as of 02-15
    a = fresh(overdue_one)
    assert (a.dpd, a.status) == (5, "frozen")

    # The next close judges the payment, dated the day it came.
    cob_through("2026-02-16")
    a = fresh(overdue_one)
    assert (a.dpd, a.bucket, a.status) == (0, "M0", "active")
    case = CollectionCase.objects.get(account=overdue_one)
    assert (case.status, case.close_reason, case.closed_on) == ("closed", "cured", day("2026-02-16"))
    unfreeze = StatusChange.objects.filter(account=overdue_one).order_by("-id").first()
    assert unfreeze.new_status == "active"
    assert BucketChange.objects.filter(account=overdue_one, new_bucket="M0").get().on_date == day("2026-02-16")


def test_a_forced_rerun_with_nothing_posted_since_changes_nothing(overdue_one):
    import io

    from django.core.management import call_command

    from tests.factories_cob import dump_all

    before = dump_all(without=("cob",))
    call_command("cob", date="2026-02-15", force=True, no_progress=True, stdout=io.StringIO())
    assert dump_all(without=("cob",)) == before


def test_a_staff_freeze_after_the_close_also_refuses_the_rerun(overdue_one):
    from accounts.services import account_freeze
    from cob import pipeline
    from core.errors import BusinessRuleError
    from tests.factories_cob import dump_all

    account_freeze(account=overdue_one, manual=True, actor=SYSTEM, reason="fraud suspicion")
    before = dump_all()
    with pytest.raises(BusinessRuleError) as err:
        pipeline.run_date(day("2026-02-15"), force=True)
    assert err.value.code == "cob_posted_since_close"
    assert err.value.details["posted"] == f"a status change of account {overdue_one.pk}"
    assert dump_all() == before


# --- 2. decisions caused by delinquency that a value date erases are undone -------------------------


@pytest.fixture
def overdue_big(business_date, settings):
    """A 20,000.00 line, 1,000.00 bought on 01-05, unpaid: overdue at the close of 02-13 (frozen, case,
    bureau pre-notice queued); Monday 02-16's limit review cuts it 20,000.00 → 14,000.00 (30 %), the
    cut's notice is queued."""
    settings.CELERY_BROKER_IS_EMBEDDED = True
    business_date("2026-01-05")
    acc = open_account(limit="20000.00", opened_on=day("2026-01-01"))
    purchase_authorize(account=acc, amount=D("1000.00"), merchant_order_id="o-1", tenor=None, actor=SYSTEM)
    cob_through("2026-02-16")
    return acc


def limits(account) -> list:
    from accounts.models import LimitChange

    return list(LimitChange.objects.filter(account=account, kind="fixed").order_by("pk").values_list(
        "old_limit", "new_limit", "actor_rule"))


def test_a_value_dated_payment_undoes_the_cut_the_freeze_and_withdraws_the_queued_notices(overdue_big):
    from core.models import AuditEvent
    from notices.models import Notice
    from risk.models import LimitReview

    acc = fresh(overdue_big)
    assert (acc.fixed_limit, acc.status, acc.dpd) == (D("14000.00"), "frozen", 6)
    cut = Notice.objects.get(account=acc, kind="limit_cut")
    pre = Notice.objects.get(account=acc, kind="bureau_pre_notice")
    assert (cut.status, pre.status) == ("queued", "queued")

    # 02-17: the bank file shows the money arrived on 02-12, inside grace: the account was never overdue.
    pay(acc, "1000.00", "bank-0212", received_on="2026-02-12")

    acc = fresh(overdue_big)
    assert (acc.fixed_limit, acc.status, acc.freeze_reason, acc.dpd, acc.bucket) == (
        D("20000.00"), "active", "", 0, "M0")
    why = "limit cut of 2026-02-16 undone: money value-dated on or after 2026-02-12 shows the account was not past due"
    assert limits(acc)[1:] == [(D("20000.00"), D("14000.00"), "limit_review:overdue@rules"),
                               (D("14000.00"), D("20000.00"), "risk.limit_cut_undone")]
    review = LimitReview.objects.get(account=acc, reviewed_on=day("2026-02-16"))
    assert (review.action, review.undone_on, review.undone_because) == ("cut", day("2026-02-17"), why)
    cut.refresh_from_db()
    pre.refresh_from_db()
    assert (cut.status, cut.status_reason) == ("suppressed", f"withdrawn: {why}")
    assert (pre.status, pre.status_reason) == (
        "suppressed", "withdrawn: money value-dated on or after 2026-02-12 shows the account is not past due")
    assert set(AuditEvent.objects.filter(
        action__in=["limit_cut_undo", "notice_withdraw", "bureau_pre_notice.withdrawn"]).values_list(
        "action", "object_id", "reason")) == {("limit_cut_undo", str(review.pk), why),
                                              ("notice_withdraw", str(cut.pk), why),
                                              ("bureau_pre_notice.withdrawn", str(pre.pk),
                                               pre.status_reason[len("withdrawn: "):])}
    unfreeze = StatusChange.objects.filter(account=acc).order_by("-id").first()
    assert (unfreeze.new_status, unfreeze.actor_rule) == ("active", "installments.rejudge")
    assert "value-dated 2026-02-12" in unfreeze.reason
    assert not CollectionCase.objects.filter(account=acc).exists()
    books_clean()

    # The next close queues nothing new about a delinquency that never was.
    cob_through("2026-02-17")
    assert not Notice.objects.filter(account=acc, kind__in=["bureau_pre_notice", "limit_cut"], status="queued").exists()


def test_one_limit_cut_per_delinquency_episode(overdue_big):
    from risk.models import LimitReview

    cob_through("2026-03-10")  # Mondays 02-16, 02-23, 03-02, 03-09: still overdue
    acc = fresh(overdue_big)
    assert (acc.dpd, acc.fixed_limit) == (28, D("14000.00"))
    assert list(LimitReview.objects.filter(account=acc).order_by("reviewed_on").values_list(
        "reviewed_on", "action", "rule", "new_limit")) == [
        (day("2026-02-16"), "cut", "overdue", D("14000.00")),
        (day("2026-02-23"), "none", "overdue_already_cut", D("14000.00")),
        (day("2026-03-02"), "none", "overdue_already_cut", D("14000.00")),
        (day("2026-03-09"), "none", "overdue_already_cut", D("14000.00"))]
    assert limits(acc)[1:] == [(D("20000.00"), D("14000.00"), "limit_review:overdue@rules")]


def test_an_account_cured_after_its_cut_is_not_cut_again(overdue_big):
    from risk.models import LimitReview

    pay(overdue_big, "1003.00", "cure-0217")  # 02-17: everything owed (1,000.00 + late fees 1.50 + 3 × 0.50)
    cob_through("2026-02-23")
    acc = fresh(overdue_big)
    assert (acc.dpd, acc.status, acc.fixed_limit) == (0, "active", D("14000.00"))
    review = LimitReview.objects.get(account=acc, reviewed_on=day("2026-02-23"))
    assert (review.action, review.rule, review.triggers) == ("none", "overdue_already_cut", ["overdue"])
    assert limits(acc)[1:] == [(D("20000.00"), D("14000.00"), "limit_review:overdue@rules")]


@pytest.mark.parametrize("used, overdue_now, expected", [
    ("9500.00", False, ("cut", "9500.00")),
    ("9500.01", False, ("cut", "9600.00")),
    ("9950.00", False, ("none", "10000.00")),
    ("9500.00", True, ("cut", "7000.00")),
], ids=["floor-at-used", "used-rounded-up-to-unit", "nothing-to-cut-above-used", "overdue-may-go-below"])
def test_a_cut_never_goes_below_what_is_used_unless_overdue(used, overdue_now, expected):
    from risk.rules import Band, ReviewFacts, ReviewPolicy, decide_limit_review

    bands = [Band("A", 650, D("20000.00"), "approve"), Band("B", 600, D("10000.00"), "approve"),
             Band("C", 550, D("5000.00"), "approve")]
    policy = ReviewPolicy(raise_utilisation_above=D("0.5"), raise_min_score_gain=20, raise_step=D("0.2"),
                          cut_step=D("0.30"), max_limit=D("50000.00"), limit_unit=D("100.00"))
    facts = ReviewFacts(fixed_limit=D("10000.00"), used_amount=D(used), manual_freeze=False, overdue_now=overdue_now,
                        overdue_since_last_review=overdue_now, overdue_within_raise_window=overdue_now,
                        score_before=620, score_after=560)
    decision = decide_limit_review(facts, policy, bands)
    assert (decision.action, decision.new_limit) == (expected[0], D(expected[1]))
