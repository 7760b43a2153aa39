"""The portfolio dashboard: exact figures from aggregate queries, a fixed number of queries whatever
the portfolio's size, the daily snapshot behind the trend and roll-rate charts, the SVG charts."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from staff import charts, selectors
from staff.models import PortfolioSnapshot
from staff.services import portfolio_snapshot_take
from tests.factories import CreditAccountFactory
from tests.factories_installments import SYSTEM, no_risk_checks, open_account  # noqa: F401
from tests.factories_staff import role_user

D = Decimal


@pytest.fixture
def portfolio(business_date):
    """Six accounts: three current, one M1, one M3 (frozen for overdue), one closed."""
    business_date("2026-03-10")
    rows = [("M0", "1000.00", "active"), ("M0", "2500.00", "active"), ("M0", "0.00", "active"),
            ("M1", "700.00", "active"), ("M3", "4000.00", "frozen"), ("M0", "0.00", "closed")]
    accounts = []
    for bucket, used, status in rows:
        accounts.append(CreditAccountFactory(
            bucket=bucket, used_amount=D(used), status=status, freeze_reason="overdue" if status == "frozen" else "",
            dpd={"M1": 10, "M3": 70}.get(bucket, 0), closed_on=dt.date(2026, 2, 1) if status == "closed" else None,
        ))
    return accounts


def test_figures_are_exact(portfolio):
    board = selectors.dashboard_build(on=dt.date(2026, 3, 10))
    assert (board.open_accounts, board.frozen_accounts, board.total_limit) == (5, 1, D("50000.00"))
    assert board.outstanding == D("8200.00")
    assert board.utilisation == D("16.40")
    assert [(b.bucket, b.accounts, b.balance, b.share) for b in board.buckets] == [
        ("M0", 3, D("3500.00"), D("42.68")), ("M1", 1, D("700.00"), D("8.54")), ("M2", 0, D("0.00"), D("0.00")),
        ("M3", 1, D("4000.00"), D("48.78")), ("M4", 0, D("0.00"), D("0.00")), ("M5", 0, D("0.00"), D("0.00")),
        ("M6", 0, D("0.00"), D("0.00")), ("M7", 0, D("0.00"), D("0.00"))]
    assert (board.delinquent_balance, board.delinquency_rate) == (D("4000.00"), D("48.78"))


def test_new_credit_and_repayments_by_day(business_date):
    from installments.services import purchase_authorize, repayment_post

    business_date("2026-03-08")
    account = open_account(opened_on=dt.date(2026, 1, 1))
    purchase_authorize(account=account, amount=D("2400.00"), merchant_order_id="a", tenor=6, actor=SYSTEM)
    purchase_authorize(account=account, amount=D("99.90"), merchant_order_id="b", actor=SYSTEM)
    business_date("2026-03-10")
    purchase_authorize(account=account, amount=D("500.00"), merchant_order_id="c", actor=SYSTEM)
    repayment_post(account=account, amount=D("300.00"), external_ref="r1", channel="wallet", actor=SYSTEM)
    repayment_post(account=account, amount=D("20.50"), external_ref="r2", channel="card", actor=SYSTEM)
    board = selectors.dashboard_build(on=dt.date(2026, 3, 10))
    assert (board.new_credit, board.new_credit_count, board.repayments, board.repayments_count) == (
        D("500.00"), 1, D("320.50"), 2)
    assert len(board.trend) == 30 and board.trend[0][0] == dt.date(2026, 2, 9)
    assert board.trend[-3:] == [(dt.date(2026, 3, 8), D("2499.90"), D("0")), (dt.date(2026, 3, 9), D("0"), D("0")),
                                (dt.date(2026, 3, 10), D("500.00"), D("320.50"))]


def test_snapshot_is_one_row_per_bucket_and_idempotent(portfolio):
    on = dt.date(2026, 3, 10)
    assert portfolio_snapshot_take(on=on) == 8
    assert list(PortfolioSnapshot.objects.filter(on_date=on, accounts__gt=0).values_list("bucket", "accounts", "balance")) == [
        ("M0", 3, D("3500.00")), ("M1", 1, D("700.00")), ("M3", 1, D("4000.00"))]
    assert portfolio_snapshot_take(on=on) == 0  # the same day twice changes nothing
    account = portfolio[3]
    account.bucket, account.dpd = "M2", 31
    account.save()
    assert portfolio_snapshot_take(on=on) == 2  # M1 emptied, M2 filled
    assert PortfolioSnapshot.objects.get(on_date=on, bucket="M2").balance == D("700.00")


def test_the_snapshot_is_a_close_of_business_step():
    from cob.registry import registry

    step = registry.get("staff.portfolio_snapshot")
    assert step is not None and (step.slot, step.chunked) == ("bureau_file", False)


def test_roll_rates_compare_month_ends(business_date):
    def snap(on, **balances):
        for bucket, balance in balances.items():
            PortfolioSnapshot.objects.create(on_date=on, bucket=bucket, accounts=1, balance=D(balance))

    snap(dt.date(2026, 1, 31), M0="100000.00", M1="8000.00", M2="3000.00", M3="1000.00")
    snap(dt.date(2026, 2, 28), M0="110000.00", M1="5000.00", M2="4000.00", M3="2400.00", M4="900.00")
    assert selectors.month_ends(dt.date(2026, 3, 10), 3) == [dt.date(2025, 12, 31), dt.date(2026, 1, 31), dt.date(2026, 2, 28)]
    board = selectors.dashboard_build(on=dt.date(2026, 3, 10))
    assert board.roll_month == (dt.date(2026, 1, 31), dt.date(2026, 2, 28))
    assert [(r.source, r.target, r.rate) for r in board.roll_rates] == [
        ("M0", "M1", D("5.00")), ("M1", "M2", D("50.00")), ("M2", "M3", D("80.00")), ("M3", "M4", D("90.00")),
        ("M4", "M5", None), ("M5", "M6", None)]
    assert board.delinquency_trend == [(dt.date(2026, 1, 31), D("3.57")), (dt.date(2026, 2, 28), D("5.97"))]


def test_the_dashboard_costs_the_same_queries_at_any_size(business_date):
    business_date("2026-03-10")
    CreditAccountFactory.create_batch(3)
    with CaptureQueriesContext(connection) as small:
        selectors.dashboard_build(on=dt.date(2026, 3, 10))
    CreditAccountFactory.create_batch(60, bucket="M2", dpd=40, used_amount=D("10.00"))
    with CaptureQueriesContext(connection) as large:
        selectors.dashboard_build(on=dt.date(2026, 3, 10))
    assert len(small.captured_queries) == len(large.captured_queries) == 7  # 5 + the vintage curves' one + the bureau alerts' one
    selectors.dashboard_for(on=dt.date(2026, 3, 10))
    with CaptureQueriesContext(connection) as cached:
        board = selectors.dashboard_for(on=dt.date(2026, 3, 10))
    assert len(cached.captured_queries) == 0 and board.open_accounts == 63


def test_home_page_shows_the_dashboard_to_those_who_may_see_it(client, portfolio):
    client.force_login(role_user("Risk analyst"))
    body = client.get(reverse("admin:index")).content.decode()
    assert 'id="dashboard"' in body and "¥8,200.00" in body and "48.78 %" in body
    assert body.count('<svg class="chart"') == 1  # buckets; no flows or snapshots yet: empty states instead
    assert "No purchases and no repayments in the last 30 days." in body
    client.force_login(role_user("Collector"))
    assert 'id="dashboard"' not in client.get(reverse("admin:index")).content.decode()


def test_charts_scale_and_escape():
    assert [charts.nice_ceiling(D(v)) for v in ("0", "7", "12", "26", "4100", "99999")] == [
        D(1), D(10), D(20), D(50), D(5000), D(100000)]
    assert [charts.compact(D(v)) for v in ("950", "12500", "3200000", "0.25", "-1500")] == [
        "950", "12.5k", "3.2M", "0.25", "-1.5k"]
    svg = charts.bar_chart([charts.Bar(label="<script>x</script>", value=D("10"))], label='a "label"')
    assert "<script>" not in svg and "&lt;script&gt;" in svg and 'aria-label="a &quot;label&quot;"' in svg
    line = charts.line_chart(["a", "b", "c"], [charts.Series("s", "#000", [D(1), None, D(3)])], label="x")
    assert line.count("<polyline") == 0 and line.count("<circle") == 2  # a gap leaves two lone points
