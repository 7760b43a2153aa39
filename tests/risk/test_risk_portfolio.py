"""The behaviour (portfolio) scorecard: outcome labelling from the bucket history, the data set
as of an observation date, training it, and the demo's lives."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.models import BucketChange, CreditAccount
from core.actors import Actor
from installments.services import purchase_authorize
from risk.demo import PROFILES, life_of
from risk.models import ScorecardVersion
from risk.portfolio import dpd_on, portfolio_observations, reached_dpd
from tests.factories_installments import open_account

D = dt.date
SYSTEM = Actor.system("test")

# M1 on 1 March at DPD 1, M2 on 31 March at DPD 31, M3 on 30 April at DPD 61, cured on 10 May
DEFAULTED = [(D(2026, 3, 1), "M1", 1), (D(2026, 3, 31), "M2", 31), (D(2026, 4, 30), "M3", 61), (D(2026, 5, 10), "M0", 0)]
CURED_AT_40 = [(D(2026, 3, 1), "M1", 1), (D(2026, 3, 31), "M2", 31), (D(2026, 4, 9), "M0", 0)]


@pytest.mark.parametrize(
    "changes, after, through, expected",
    [
        (DEFAULTED, D(2026, 1, 1), D(2026, 7, 1), True),
        (DEFAULTED, D(2026, 1, 1), D(2026, 4, 28), False),  # DPD 60 is reached on 29 April
        (DEFAULTED, D(2026, 1, 1), D(2026, 4, 29), True),
        (DEFAULTED, D(2026, 5, 10), D(2026, 9, 1), False),  # cured before the window
        (CURED_AT_40, D(2026, 1, 1), D(2026, 7, 1), False),  # DPD 39 at most
        ([], D(2026, 1, 1), D(2026, 7, 1), False),
        ([(D(2026, 3, 1), "M1", 1)], D(2026, 1, 1), D(2026, 4, 29), True),  # still overdue: 1 + 59 days
    ],
    ids=["defaulted", "window-ends-day-before", "window-ends-that-day", "after-cure", "cured-at-39", "never", "open-m1"],
)
def test_reached_dpd_60(changes, after, through, expected):
    assert reached_dpd(changes, threshold=60, after=after, through=through) is expected


def test_dpd_on_a_date():
    assert [dpd_on(DEFAULTED, d) for d in (D(2026, 2, 28), D(2026, 3, 1), D(2026, 3, 10), D(2026, 5, 9), D(2026, 5, 10))] == [
        0, 1, 10, 70, 0]


def test_demo_lives_are_deterministic_and_cover_every_profile(db, business_date):
    accounts = [open_account() for _ in range(30)]
    first = [life_of(a, seed=7, anchor=D(2026, 1, 5)) for a in accounts]
    again = [life_of(a, seed=7, anchor=D(2026, 1, 5)) for a in accounts]
    assert [(l.profile.name, l.bust_on) for l in first] == [(l.profile.name, l.bust_on) for l in again]
    assert {l.profile.name for l in first} <= {p.name for _, p in PROFILES}
    stretched = PROFILES[-1][1]
    assert stretched.bust_out_per_month > 10 * PROFILES[0][1].bust_out_per_month


@pytest.fixture
def observed(db, business_date):
    """40 accounts observed on 5 January 2026; the heavy users among them default afterwards."""
    business_date(D(2025, 12, 1))
    goods, bads = [], []
    rng = random.Random(3)
    for i in range(40):
        account = open_account(limit="10000.00", opened_on=D(2025, 6, 1))
        heavy = i % 2 == 0
        amount = Decimal(rng.choice(["7000.00", "8500.00", "9200.00"]) if heavy else rng.choice(["300.00", "900.00", "1500.00"]))
        purchase_authorize(account=account, amount=amount, merchant_order_id=f"p{i}", actor=SYSTEM)
        if heavy and i % 8 != 0:  # most heavy users default in March; a few do not
            BucketChange.objects.create(account=account, on_date=D(2026, 2, 20), old_bucket="M0", new_bucket="M1", dpd=1)
            BucketChange.objects.create(account=account, on_date=D(2026, 3, 22), old_bucket="M1", new_bucket="M2", dpd=31)
            bads.append(account)
        else:
            goods.append(account)
    already = open_account(opened_on=D(2025, 6, 1))  # at DPD 70 on the observation date: excluded
    BucketChange.objects.create(account=already, on_date=D(2025, 10, 27), old_bucket="M0", new_bucket="M1", dpd=1)
    business_date(D(2026, 7, 10))
    return goods, bads, already


def test_observations_label_what_happened_after_the_observation_date(observed):
    goods, bads, already = observed
    rows = {account.pk: (features, bad) for account, features, bad in portfolio_observations(as_of=D(2026, 1, 5))}
    assert already.pk not in rows
    assert {pk for pk, (_, bad) in rows.items() if bad} == {a.pk for a in bads}
    assert len(rows) == len(goods) + len(bads)
    features, _ = rows[bads[0].pk]
    assert features["worst_bucket_180d"] == 0 and features["current_dpd"] == 0  # nothing visible yet on 5 January
    assert features["utilisation"] >= 0.7


def test_train_the_portfolio_scorecard(observed, capsys):
    call_command("train_scorecard", "--dataset", "portfolio", "--as-of", "2026-01-05", "--folds", "3")
    version = ScorecardVersion.objects.get()
    assert (version.purpose, version.dataset, version.status) == ("behaviour", "portfolio", "draft")
    assert version.training["as_of"] == "2026-01-05" and version.training["bad_dpd"] == 60
    assert version.metrics["cv"]["auc"] > 0.8  # utilisation separates the defaulters
    assert "CV AUC" in capsys.readouterr().out


def test_the_outcome_window_must_have_passed(observed):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="move the portfolio through time"):
        call_command("train_scorecard", "--dataset", "portfolio", "--as-of", "2026-06-01")
    assert not ScorecardVersion.objects.exists()
    assert CreditAccount.objects.count() == 41


def test_demo_live_moves_the_demo_through_time_on_the_real_services(db, business_date, capsys):
    from accounts.models import Customer
    from core.business_date import get_business_date
    from installments.models import Purchase

    accounts = [open_account(opened_on=D(2025, 6, 1)) for _ in range(6)]
    Customer.objects.update(external_id="demo-x")
    call_command("demo_live", "--through", "2026-01-19", "--seed", "5")
    assert get_business_date() == D(2026, 1, 20)  # close of business ran for every day through the 19th
    out = capsys.readouterr().out
    assert "Living 6 demo accounts from 2026-01-05 through 2026-01-19" in out
    import ast

    counts = ast.literal_eval(out.strip().splitlines()[-1].split(": ", 1)[1])
    approved = Purchase.objects.filter(account__in=accounts, merchant_order_id__startswith="demo-", status="approved")
    assert counts["purchases"] == approved.count() > 0
