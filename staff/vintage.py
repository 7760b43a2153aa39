"""Vintage curves for the dashboard: for each monthly cohort of accounts — the month of an account's first
approved purchase (its first drawdown) — the cumulative share of the cohort that has gone 30+ days past
due (first entered bucket M2 or later, from the bucket history close of business keeps), by months on book.

One grouped query: accounts by (cohort month, month of the first 30+ bucket change), so the cost does not
depend on how many accounts a cohort has. Months on book count calendar months from the cohort's month
(the cohort's own month is MOB 0); a cohort is shown only up to the months it has lived so far.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta
from django.db.models import Count, Min, OuterRef, Subquery
from django.db.models.functions import TruncMonth

from accounts.models import BucketChange, CreditAccount

BAD_FROM = "M2"  # 30+: DPD 31 and more, as the dashboard's delinquency figures
COHORTS = 6
MAX_MOB = 12


@dataclass
class Vintage:
    cohort: dt.date  # first day of the cohort's month
    accounts: int
    bad_by_mob: list[Decimal] = field(default_factory=list)  # cumulative % of the cohort, MOB 0 … n

    @property
    def label(self) -> str:
        return self.cohort.strftime("%Y-%m")


def months_between(earlier: dt.date, later: dt.date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def _month(value) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.replace(day=1)


def vintage_curves(*, on: dt.date, cohorts: int = COHORTS, max_mob: int = MAX_MOB) -> list[Vintage]:
    """The last ``cohorts`` monthly cohorts up to ``on`` (oldest first) with their cumulative 30+ rate (%)."""
    from installments.models import Purchase

    first_use = (
        Purchase.objects.filter(account=OuterRef("pk"), status=Purchase.Status.APPROVED, requested_on__lte=on)
        .order_by().values("account").annotate(m=Min("requested_on")).values("m")
    )
    first_bad = (
        BucketChange.objects.filter(account=OuterRef("pk"), new_bucket__gte=BAD_FROM, on_date__lte=on)
        .order_by().values("account").annotate(m=Min("on_date")).values("m")
    )
    oldest = on.replace(day=1) - relativedelta(months=cohorts - 1)
    rows = (
        CreditAccount.objects.annotate(first_use=Subquery(first_use), first_bad=Subquery(first_bad))
        .filter(first_use__gte=oldest)
        .annotate(cohort=TruncMonth("first_use"), bad_month=TruncMonth("first_bad"))
        .values("cohort", "bad_month")
        .annotate(n=Count("id"))
        .order_by()
    )
    sizes: dict[dt.date, int] = {}
    bad: dict[dt.date, dict[int, int]] = {}
    for row in rows:
        cohort = _month(row["cohort"])
        sizes[cohort] = sizes.get(cohort, 0) + row["n"]
        bad_month = _month(row["bad_month"])
        if bad_month is not None:
            mob = max(months_between(cohort, bad_month), 0)
            bad.setdefault(cohort, {})[mob] = bad.setdefault(cohort, {}).get(mob, 0) + row["n"]
    result = []
    for cohort in sorted(sizes):
        lived = min(months_between(cohort, on), max_mob)
        running, curve = 0, []
        for mob in range(lived + 1):
            running += bad.get(cohort, {}).get(mob, 0)
            curve.append((Decimal(running) * 100 / sizes[cohort]).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        result.append(Vintage(cohort=cohort, accounts=sizes[cohort], bad_by_mob=curve))
    return result
