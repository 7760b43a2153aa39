"""Limit reviews (PRODUCT §3 dynamic adjustment): raise, cut, no change, manual freeze respected;
dry run; idempotent per date; notification hook; early-warning events."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.models import BucketChange, CreditAccount, LimitChange
from accounts.services import account_freeze
from core.actors import Actor
from installments.services import purchase_authorize
from risk.daily import account_scores_refresh, limit_review_candidates, limit_reviews_run
from risk.hooks import register_limit_change_notifier, unregister_limit_change_notifier
from risk.models import AccountScore, LimitReview, RiskEvent
from risk.portfolio import behaviour_features
from tests.factories_installments import open_account
from tests.factories_risk import behaviour_table, scorecard_version

pytestmark = pytest.mark.django_db
D = Decimal
ON = dt.date(2026, 1, 5)
SYSTEM = Actor.system("test")


@pytest.fixture
def behaviour(business_date):
    return scorecard_version(table=behaviour_table(), purpose="behaviour", name="portfolio")


def make_account(*, opened_on=dt.date(2025, 6, 1), limit="10000.00", spend=None, app_score=560):
    account = open_account(limit=limit, opened_on=opened_on)
    if spend:
        purchase_authorize(account=account, amount=D(spend), merchant_order_id=f"o-{account.pk}", actor=SYSTEM)
    AccountScore.objects.create(account=account, scored_on=opened_on, source="application", score=app_score, band="")
    account.refresh_from_db()
    return account


def go_overdue(account, *, dpd=15, since=dt.date(2025, 12, 22)):
    BucketChange.objects.create(account=account, on_date=since, old_bucket="M0", new_bucket="M1", dpd=1)
    CreditAccount.objects.filter(pk=account.pk).update(dpd=dpd, bucket="M1")
    account.refresh_from_db()
    account_freeze(account=account, manual=False, actor=Actor.system("cob"), reason="overdue")
    account.refresh_from_db()
    return account


@pytest.fixture
def portfolio(behaviour):
    return {
        "raise": make_account(spend="6000.00"),  # due; score 560 → 660, utilisation 60 %, never overdue
        "cut": go_overdue(make_account(spend="3000.00")),  # overdue since the last review
        "same": make_account(spend="2000.00"),  # due; score up but utilisation 20 %
        "frozen": make_account(spend="6000.00"),  # frozen by staff
        "drop": make_account(opened_on=dt.date(2025, 12, 1), spend="9500.00", app_score=680),  # util > 90 %
        "quiet": make_account(opened_on=dt.date(2025, 12, 1), spend="100.00"),  # not due, no trigger
    }


def test_behaviour_features_come_from_the_platforms_data(portfolio):
    features = behaviour_features(portfolio["raise"], on=ON)
    assert features["months_on_book"] == 7 and features["utilisation"] == 0.6
    assert (features["orders_90d"], features["amount_90d"], features["worst_bucket_180d"], features["current_dpd"]) == (
        1, 6000.0, 0, 0)
    overdue = behaviour_features(portfolio["cut"], on=ON)
    assert (overdue["worst_bucket_180d"], overdue["current_dpd"]) == (1, 15)  # DPD 1 on 22 December + 14 days


def test_candidates_are_due_or_triggered(portfolio):
    account_freeze(account=portfolio["frozen"], manual=True, actor=SYSTEM, reason="fraud investigation")
    candidates = limit_review_candidates(on=ON)
    p = {k: v.pk for k, v in portfolio.items()}
    assert candidates == {
        p["raise"]: ["due"], p["cut"]: ["due", "overdue"], p["same"]: ["due"], p["drop"]: ["utilisation"],
    }


def test_review_raises_cuts_and_leaves_alone(portfolio, django_capture_on_commit_callbacks):
    account_freeze(account=portfolio["frozen"], manual=True, actor=SYSTEM, reason="fraud investigation")
    notices = []
    register_limit_change_notifier(notices.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            summary = limit_reviews_run(on=ON)
    finally:
        unregister_limit_change_notifier(notices.append)
    by_ref = {r.account_reference: r for r in summary.results}
    expect = {
        "raise": ("raise", "behaviour_improved", "12000.00", 560, 660),
        "cut": ("cut", "overdue", "7000.00", 560, 620),  # score rose, but it went overdue
        "same": ("none", "no_change", "10000.00", 560, 680),
        # issue 24: a cut never goes below what is used unless overdue (9,500.00 used, band limit 7,000.00)
        "drop": ("cut", "score_band_drop", "9500.00", 680, 620),
    }
    for key, (action, rule, new, before, after) in expect.items():
        account = portfolio[key]
        result = by_ref[account.reference]
        assert (result.action, result.rule, result.new_limit, result.score_before, result.score_after) == (
            action, rule, D(new), before, after), key
        account.refresh_from_db()
        assert account.fixed_limit == D(new) and account.last_reviewed_on == ON
        review = LimitReview.objects.get(account=account)
        assert (review.action, review.rule, review.new_limit, review.model_label) == (action, rule, D(new), "portfolio-v1")
        assert AccountScore.objects.filter(account=account, source="review").get().score == after
    # the frozen and the quiet accounts are untouched
    for key in ("frozen", "quiet"):
        portfolio[key].refresh_from_db()
        assert portfolio[key].fixed_limit == D("10000.00") and portfolio[key].last_reviewed_on is None
        assert not LimitReview.objects.filter(account=portfolio[key]).exists()
    assert summary.as_dict() == {"on": "2026-01-05", "dry_run": False, "reviewed": 4, "raised": 1, "cut": 2,
                                 "unchanged": 1, "skipped": 0}
    # every change is a LimitChange by the system, naming the rule and the model version
    change = LimitChange.objects.filter(account=portfolio["raise"]).latest("id")
    assert (change.old_limit, change.new_limit, change.actor, change.actor_rule) == (
        D("10000.00"), D("12000.00"), None, "limit_review:behaviour_improved@portfolio-v1")
    assert LimitChange.objects.filter(account=portfolio["same"]).count() == 1  # only the opening
    # customers notified once per change, after commit
    assert sorted((n.account_reference, n.new_limit) for n in notices) == sorted(
        (portfolio[k].reference, D(expect[k][2])) for k in ("raise", "cut", "drop"))
    # early warnings recorded as events
    assert set(RiskEvent.objects.values_list("account_id", "rule")) == {
        (portfolio["cut"].pk, "early_overdue"), (portfolio["drop"].pk, "early_utilisation")}


def test_an_explicitly_requested_manually_frozen_account_is_skipped(portfolio):
    frozen = portfolio["frozen"]
    account_freeze(account=frozen, manual=True, actor=SYSTEM, reason="customer dispute")
    summary = limit_reviews_run(on=ON, account_ids=[frozen.pk])
    (result,) = summary.results
    assert (result.skipped, result.rule, result.new_limit) == (True, "manual_freeze", D("10000.00"))
    frozen.refresh_from_db()
    assert frozen.fixed_limit == D("10000.00") and not LimitReview.objects.exists()


def test_dry_run_shows_the_same_and_writes_nothing(portfolio):
    before = (LimitChange.objects.count(), LimitReview.objects.count(), AccountScore.objects.count(), RiskEvent.objects.count(),
              sorted(CreditAccount.objects.values_list("pk", "fixed_limit", "last_reviewed_on")))
    dry = limit_reviews_run(on=ON, dry_run=True)
    after = (LimitChange.objects.count(), LimitReview.objects.count(), AccountScore.objects.count(), RiskEvent.objects.count(),
             sorted(CreditAccount.objects.values_list("pk", "fixed_limit", "last_reviewed_on")))
    assert before == after
    real = limit_reviews_run(on=ON)
    strip = lambda s: [(r.account_id, r.action, r.rule, r.new_limit, r.score_after) for r in s.results]  # noqa: E731
    assert strip(dry) == strip(real)


def test_a_second_run_for_the_same_date_changes_nothing(portfolio):
    limit_reviews_run(on=ON)
    snapshot = (LimitChange.objects.count(), LimitReview.objects.count(), AccountScore.objects.count(),
                RiskEvent.objects.count(), sorted(CreditAccount.objects.values_list("pk", "fixed_limit")))
    again = limit_reviews_run(on=ON)
    assert again.results == []
    assert snapshot == (LimitChange.objects.count(), LimitReview.objects.count(), AccountScore.objects.count(),
                        RiskEvent.objects.count(), sorted(CreditAccount.objects.values_list("pk", "fixed_limit")))


def test_without_a_behaviour_scorecard_only_the_overdue_rule_moves_limits(business_date):
    raise_candidate = make_account(spend="6000.00")
    overdue = go_overdue(make_account(spend="3000.00"))
    summary = limit_reviews_run(on=ON)
    result = {r.account_id: r for r in summary.results}
    assert (result[raise_candidate.pk].action, result[raise_candidate.pk].score_after) == ("none", None)
    assert (result[overdue.pk].action, result[overdue.pk].new_limit) == ("cut", D("7000.00"))
    assert LimitChange.objects.filter(account=overdue).latest("id").actor_rule == "limit_review:overdue@rules"


def test_score_drop_trigger_from_the_periodic_behaviour_scores(behaviour, business_date):
    account = make_account(opened_on=dt.date(2025, 12, 1), spend="9500.00", app_score=680)
    CreditAccount.objects.filter(pk=account.pk).update(used_amount=D("100.00"))  # no utilisation trigger
    assert limit_review_candidates(on=ON) == {}
    assert account_scores_refresh(on=ON) == 1
    assert limit_review_candidates(on=ON) == {account.pk: ["score_drop"]}


def test_the_dry_run_command_prints_what_would_change(portfolio, capsys):
    call_command("limit_review", "--dry-run", "--on", "2026-01-05")
    out = capsys.readouterr().out
    assert out.startswith("DRY RUN — nothing written.")
    assert f"{portfolio['raise'].reference}  raise  ¥10,000.00 → ¥12,000.00" in out
    assert f"{portfolio['cut'].reference}  cut    ¥10,000.00 → ¥7,000.00" in out
    assert not LimitReview.objects.exists()


def test_the_close_of_business_step_reviews_one_chunk_at_a_time(portfolio):
    from risk.daily import limit_reviews_step

    ids = sorted(a.pk for a in portfolio.values())
    first = range(ids[0], ids[2])  # "raise" and "cut"
    assert limit_reviews_step(on=ON, account_ids=first) == 2
    assert set(LimitReview.objects.values_list("account_id", flat=True)) == {portfolio["raise"].pk, portfolio["cut"].pk}
    assert limit_reviews_step(on=ON, account_ids=first) == 0  # idempotent
    # "same" unchanged, "frozen" (not frozen in this test) raised, "drop" cut, "quiet" not a candidate
    assert limit_reviews_step(on=ON, account_ids=range(ids[2], ids[-1] + 1)) == 2
    assert LimitReview.objects.count() == 5


def test_an_old_overdue_episode_is_not_a_trigger_after_a_review_period(behaviour):
    account = make_account(opened_on=dt.date(2024, 1, 1), spend="1000.00")
    BucketChange.objects.create(account=account, on_date=dt.date(2024, 6, 1), old_bucket="M0", new_bucket="M1", dpd=1)
    BucketChange.objects.create(account=account, on_date=dt.date(2024, 6, 20), old_bucket="M1", new_bucket="M0", dpd=0)
    assert limit_review_candidates(on=ON) == {account.pk: ["due"]}  # due, but not "overdue"
    (result,) = limit_reviews_run(on=ON).results
    assert (result.action, result.rule) == ("none", "no_change")  # utilisation 10 %: no raise, and no overdue cut


def test_a_customer_whose_processing_is_restricted_is_not_profiled(portfolio):
    from accounts.models import Customer

    Customer.objects.filter(pk=portfolio["raise"].customer_id).update(processing_restricted=True)
    assert portfolio["raise"].pk not in limit_review_candidates(on=ON)
