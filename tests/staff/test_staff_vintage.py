"""Vintage curves on the dashboard: monthly cohorts by first approved purchase, cumulative 30+ rate
(first bucket M2 or later) by months on book, exact figures; the chart on the home page."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import BucketChange
from installments.models import Purchase
from installments.services import purchase_authorize
from staff import vintage
from tests.factories_installments import SYSTEM, no_risk_checks, open_account  # noqa: F401
from tests.factories_staff import role_user

D = Decimal


@pytest.fixture
def cohorts(business_date, no_risk_checks):  # noqa: F811
    """January: A, B, C, D (first purchase); February: E, F; G never buys. A buys again in February."""
    accounts = {name: open_account(opened_on=dt.date(2025, 12, 1)) for name in "ABCDEFG"}
    business_date("2026-01-10")
    for name in "ABCD":
        purchase_authorize(account=accounts[name], amount=D("100.00"), merchant_order_id=f"jan-{name}", actor=SYSTEM)
    business_date("2026-02-05")
    for name in "EFA":
        purchase_authorize(account=accounts[name], amount=D("100.00"), merchant_order_id=f"feb-{name}", actor=SYSTEM)

    def bucket(name, on, old, new, dpd):
        BucketChange.objects.create(account=accounts[name], on_date=dt.date.fromisoformat(on), old_bucket=old,
                                    new_bucket=new, dpd=dpd)

    bucket("A", "2026-02-11", "M0", "M1", 1)
    bucket("A", "2026-03-15", "M1", "M2", 31)  # Jan cohort, bad at MOB 2
    bucket("B", "2026-02-20", "M0", "M1", 5)  # only M1: not bad
    bucket("C", "2026-02-25", "M1", "M2", 31)  # Jan cohort, bad at MOB 1
    bucket("C", "2026-03-27", "M2", "M3", 61)  # a later, worse bucket does not count twice
    bucket("E", "2026-04-02", "M1", "M3", 61)  # Feb cohort, bad at MOB 2
    bucket("F", "2026-04-20", "M1", "M2", 31)  # after the date asked for: not yet
    return accounts


def test_cumulative_30_plus_rate_by_months_on_book_per_monthly_cohort(cohorts):
    curves = vintage.vintage_curves(on=dt.date(2026, 4, 10))
    assert [(v.label, v.accounts, v.bad_by_mob) for v in curves] == [
        ("2026-01", 4, [D("0.00"), D("25.00"), D("50.00"), D("50.00")]),
        ("2026-02", 2, [D("0.00"), D("0.00"), D("50.00")]),
    ]


def test_a_cohort_is_shown_only_up_to_the_months_it_has_lived_and_only_the_last_cohorts(cohorts):
    assert [(v.label, v.bad_by_mob) for v in vintage.vintage_curves(on=dt.date(2026, 2, 28))] == [
        ("2026-01", [D("0.00"), D("25.00")]),
        ("2026-02", [D("0.00")]),
    ]
    assert [v.label for v in vintage.vintage_curves(on=dt.date(2026, 4, 10), cohorts=3)] == ["2026-02"]  # Feb–Apr
    assert vintage.vintage_curves(on=dt.date(2026, 4, 10), cohorts=2) == []  # March and April: no first purchase
    assert vintage.vintage_curves(on=dt.date(2026, 1, 9)) == []


def test_declined_purchases_do_not_make_a_cohort(cohorts):
    Purchase.objects.filter(merchant_order_id__startswith="feb-").update(status=Purchase.Status.DECLINED)
    curves = vintage.vintage_curves(on=dt.date(2026, 4, 10))
    assert [(v.label, v.accounts) for v in curves] == [("2026-01", 4)]  # A's February purchase is gone too


def test_the_home_page_draws_one_line_per_cohort(client, cohorts, business_date):
    business_date("2026-04-10")
    client.force_login(role_user("Risk analyst", "rita"))
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="chart-vintage"' in html
    chart = html.split('id="chart-vintage"', 1)[1].split("</figure>", 1)[0]
    assert chart.count('class="line"') == 2
    assert ">MOB 3<" in chart and "2026-01" in chart and "2026-02" in chart
    assert "<td>2026-01</td><td class=\"num\">4</td><td class=\"num\">50.00 %</td>" in chart
