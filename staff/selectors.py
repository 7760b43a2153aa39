"""Reads for the portfolio dashboard: every figure is one aggregate query (GROUP BY in the database),
so the page costs the same at a thousand accounts as at a million. The whole dashboard is cached per
business date for a short while (``DASHBOARD_CACHE_SECONDS``)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta
from django.core.cache import cache
from django.db.models import Count, Q, Sum

from accounts.models import CreditAccount
from core.money import ZERO
from staff.models import PortfolioSnapshot

DASHBOARD_CACHE_SECONDS = 60
TREND_DAYS = 30
ROLL_MONTHS = 6
BUCKETS = tuple(CreditAccount.Bucket.values)  # M0 … M7
DELINQUENT_FROM = "M2"  # "30+": DPD 31 and more


@dataclass
class BucketRow:
    bucket: str
    label: str
    accounts: int
    balance: Decimal
    share: Decimal = ZERO  # of the open balance, in %


@dataclass
class RollRate:
    source: str
    target: str
    rate: Decimal | None  # % of the source bucket's balance that rolled into the target a month later
    source_balance: Decimal = ZERO


@dataclass
class Dashboard:
    on: dt.date
    open_accounts: int = 0
    frozen_accounts: int = 0
    total_limit: Decimal = ZERO
    outstanding: Decimal = ZERO
    new_credit: Decimal = ZERO
    new_credit_count: int = 0
    repayments: Decimal = ZERO
    repayments_count: int = 0
    buckets: list[BucketRow] = field(default_factory=list)
    delinquent_balance: Decimal = ZERO
    roll_rates: list[RollRate] = field(default_factory=list)
    roll_month: tuple[dt.date, dt.date] | None = None
    roll_history: list[tuple[dt.date, list[RollRate]]] = field(default_factory=list)
    trend: list[tuple[dt.date, Decimal, Decimal]] = field(default_factory=list)  # day, new credit, repayments
    delinquency_trend: list[tuple[dt.date, Decimal]] = field(default_factory=list)  # day, 30+ rate %
    vintages: list = field(default_factory=list)  # staff.vintage.Vintage: cumulative 30+ rate by months on book
    alerts: list[str] = field(default_factory=list)  # what staff must act on (bureau pre-notices, disputes)

    @property
    def utilisation(self) -> Decimal | None:
        return pct(self.outstanding, self.total_limit)

    @property
    def delinquency_rate(self) -> Decimal | None:
        return pct(self.delinquent_balance, self.outstanding)


def pct(part: Decimal, whole: Decimal) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _open_accounts_by_bucket() -> dict[str, dict]:
    """One scan of the open (not closed) accounts, grouped by bucket: count, used amount, frozen
    accounts and fixed limits."""
    rows = (
        CreditAccount.objects.filter(~Q(status=CreditAccount.Status.CLOSED))
        .values("bucket")
        .annotate(n=Count("id"), balance=Sum("used_amount"), limit=Sum("fixed_limit"),
                  frozen=Count("id", filter=Q(status=CreditAccount.Status.FROZEN)))
        .order_by()
    )
    return {r["bucket"]: r for r in rows}


def portfolio_by_bucket(found: dict[str, dict] | None = None) -> list[BucketRow]:
    """Open accounts and their used amount by bucket (M0 … M7, every bucket listed)."""
    found = _open_accounts_by_bucket() if found is None else found
    labels = dict(CreditAccount.Bucket.choices)
    result = [
        BucketRow(bucket=b, label=labels[b], accounts=found.get(b, {}).get("n", 0), balance=found.get(b, {}).get("balance") or ZERO)
        for b in BUCKETS
    ]
    total = sum((r.balance for r in result), ZERO)
    for r in result:
        r.share = pct(r.balance, total) or ZERO
    return result


def daily_flows(*, start: dt.date, end: dt.date) -> dict[dt.date, tuple[Decimal, int, Decimal, int]]:
    """New credit (approved purchases by purchase date) and repayments (posted, by posting date) per
    day from ``start`` through ``end``: two GROUP BY queries over date ranges."""
    from installments.models import Purchase, Repayment

    flows: dict[dt.date, list] = {}
    purchases = (
        Purchase.objects.filter(status=Purchase.Status.APPROVED, requested_on__gte=start, requested_on__lte=end)
        .values("requested_on")
        .annotate(total=Sum("amount"), n=Count("id"))
    )
    for row in purchases:
        flows.setdefault(row["requested_on"], [ZERO, 0, ZERO, 0])[0:2] = [row["total"] or ZERO, row["n"]]
    repayments = (
        Repayment.objects.filter(status=Repayment.Status.POSTED, posted_on__gte=start, posted_on__lte=end)
        .values("posted_on")
        .annotate(total=Sum("amount"), n=Count("id"))
    )
    for row in repayments:
        flows.setdefault(row["posted_on"], [ZERO, 0, ZERO, 0])[2:4] = [row["total"] or ZERO, row["n"]]
    return {day: tuple(values) for day, values in flows.items()}


def _snapshots(dates: list[dt.date]) -> dict[dt.date, dict[str, PortfolioSnapshot]]:
    result: dict[dt.date, dict[str, PortfolioSnapshot]] = {}
    for snap in PortfolioSnapshot.objects.filter(on_date__in=dates):
        result.setdefault(snap.on_date, {})[snap.bucket] = snap
    return result


def month_ends(on: dt.date, months: int) -> list[dt.date]:
    """The last ``months`` month-ends before ``on``, oldest first (2026-03-10 → …, 01-31, 02-28)."""
    first_of_month = on.replace(day=1)
    return [first_of_month - relativedelta(months=k) - dt.timedelta(days=1) for k in range(months - 1, -1, -1)]


def roll_rates_between(start: dict[str, PortfolioSnapshot], end: dict[str, PortfolioSnapshot]) -> list[RollRate]:
    """Flow rates: the balance in bucket M(i+1) at the later snapshot over the balance in Mi at the
    earlier one (a month apart: an account rolls at most one bucket a month)."""
    rates = []
    for source, target in zip(BUCKETS[:-2], BUCKETS[1:-1]):  # M0→M1 … M5→M6 (M7 is written off)
        base = start.get(source)
        later = end.get(target)
        base_balance = base.balance if base else ZERO
        rate = pct(later.balance if later else ZERO, base_balance) if base else None
        rates.append(RollRate(source=source, target=target, rate=rate, source_balance=base_balance))
    return rates


def roll_rate_history(on: dt.date, months: int = ROLL_MONTHS) -> list[tuple[dt.date, list[RollRate]]]:
    ends = month_ends(on, months + 1)
    snaps = _snapshots(ends)
    history = []
    for earlier, later in zip(ends, ends[1:]):
        if earlier in snaps and later in snaps:
            history.append((later, roll_rates_between(snaps[earlier], snaps[later])))
    return history


def delinquency_trend(*, start: dt.date, end: dt.date) -> list[tuple[dt.date, Decimal]]:
    """30+ balance as a % of the open balance for each snapshot date in the range."""
    rows = (
        PortfolioSnapshot.objects.filter(on_date__gte=start, on_date__lte=end)
        .values("on_date")
        .annotate(total=Sum("balance"), late=Sum("balance", filter=Q(bucket__gte=DELINQUENT_FROM)))
        .order_by("on_date")
    )
    return [(r["on_date"], pct(r["late"] or ZERO, r["total"]) or ZERO) for r in rows]


def dashboard_build(*, on: dt.date) -> Dashboard:
    board = Dashboard(on=on)
    found = _open_accounts_by_bucket()
    board.open_accounts = sum(r["n"] for r in found.values())
    board.frozen_accounts = sum(r["frozen"] for r in found.values())
    board.total_limit = sum((r["limit"] or ZERO for r in found.values()), ZERO)
    board.buckets = portfolio_by_bucket(found)
    board.outstanding = sum((b.balance for b in board.buckets), ZERO)
    board.delinquent_balance = sum((b.balance for b in board.buckets if b.bucket >= DELINQUENT_FROM), ZERO)
    start = on - dt.timedelta(days=TREND_DAYS - 1)
    flows = daily_flows(start=start, end=on)
    today = flows.get(on, (ZERO, 0, ZERO, 0))
    board.new_credit, board.new_credit_count, board.repayments, board.repayments_count = today
    board.trend = [
        (day, flows.get(day, (ZERO, 0, ZERO, 0))[0], flows.get(day, (ZERO, 0, ZERO, 0))[2])
        for day in (start + dt.timedelta(days=k) for k in range(TREND_DAYS))
    ]
    board.roll_history = roll_rate_history(on)
    if board.roll_history:
        month, board.roll_rates = board.roll_history[-1]
        board.roll_month = (month.replace(day=1) - dt.timedelta(days=1), month)
    board.delinquency_trend = delinquency_trend(start=on - dt.timedelta(days=89), end=on)
    from staff.vintage import vintage_curves

    board.vintages = vintage_curves(on=on)
    from bureau.selectors import bureau_alerts  # PRODUCT §13: negative data is never withheld silently

    board.alerts = bureau_alerts(on=on)
    return board


def dashboard_for(*, on: dt.date, use_cache: bool = True) -> Dashboard:
    key = f"staff:dashboard:{on.isoformat()}"
    if use_cache:
        cached = cache.get(key)
        if cached is not None:
            return cached
    board = dashboard_build(on=on)
    cache.set(key, board, DASHBOARD_CACHE_SECONDS)
    return board
