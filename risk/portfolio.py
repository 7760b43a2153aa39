"""Behaviour features of an account from the platform's own data, as of an observation date.

Every feature uses only rows dated on or before ``on`` (business dates, never wall-clock
timestamps), so the same function builds the training set for a past observation date
(``train_scorecard --dataset portfolio --as-of``) and scores an account today (limit reviews).
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from collections.abc import Iterable

from dateutil.relativedelta import relativedelta
from django.db.models import Count, Q, Sum

from accounts.models import BucketChange, CreditAccount
from core.money import ZERO

HIGH_RISK_CATEGORIES_DEFAULT = ("gift_card", "top_up")
RATIO = Decimal("0.0001")

#: name → description (the behaviour scorecard's attributes; all numerical)
BEHAVIOUR_FEATURES: dict[str, str] = {
    "months_on_book": "whole months since the account opened",
    "utilisation": "unpaid principal ÷ fixed limit",
    "orders_90d": "approved purchases in the last 90 days",
    "amount_90d": "amount of approved purchases in the last 90 days",
    "orders_180d": "approved purchases in the last 180 days",
    "amount_180d": "amount of approved purchases in the last 180 days",
    "refund_rate_180d": "refunded ÷ purchased amount, last 180 days",
    "high_risk_share_180d": "share of the purchased amount in high-risk categories (gift cards, top-ups), last 180 days",
    "categories_180d": "distinct purchase categories in the last 180 days",
    "on_time_ratio_12m": "statements with a payment due in the last 12 months that did not go overdue ÷ all of them",
    "worst_bucket_180d": "worst delinquency bucket (0 = M0 … 7 = M7+) in the last 180 days",
    "current_dpd": "days past due on the observation date",
}


def _ratio(numerator: Decimal, denominator: Decimal) -> float | None:
    if not denominator:
        return None
    return float((Decimal(numerator) / Decimal(denominator)).quantize(RATIO, rounding=ROUND_HALF_UP))


def bucket_number(bucket: str) -> int:
    return int(bucket[1]) if bucket and bucket[0] == "M" and bucket[1:].isdigit() else 0


def delinquency_as_of(account_id: int, on: dt.date, *, window_days: int = 180) -> tuple[int, int]:
    """(worst bucket number in the window ending ``on``, days past due on ``on``) from the bucket
    history close of business writes."""
    start = on - dt.timedelta(days=window_days)
    changes = list(
        BucketChange.objects.filter(account_id=account_id, on_date__lte=on).order_by("on_date", "id").values_list(
            "on_date", "new_bucket", "dpd"
        )
    )
    in_force_at_start = 0
    worst = 0
    last = None
    for on_date, bucket, dpd in changes:
        if on_date <= start:
            in_force_at_start = bucket_number(bucket)
        else:
            worst = max(worst, bucket_number(bucket))
        last = (on_date, bucket, dpd)
    worst = max(worst, in_force_at_start)
    current_dpd = 0
    if last is not None and bucket_number(last[1]) > 0:
        current_dpd = last[2] + (on - last[0]).days
    return worst, current_dpd


def behaviour_features(account: CreditAccount, *, on: dt.date, high_risk_categories: Iterable[str] | None = None) -> dict[str, Any]:
    from installments.models import Allocation, Purchase, Refund, Statement, WriteOff

    categories = tuple(high_risk_categories or HIGH_RISK_CATEGORIES_DEFAULT)
    approved = Purchase.objects.filter(account_id=account.pk, status=Purchase.Status.APPROVED)

    def window(days: int):
        return approved.filter(requested_on__gt=on - dt.timedelta(days=days), requested_on__lte=on)

    w90 = window(90).aggregate(n=Count("id"), s=Sum("amount"))
    w180 = window(180).aggregate(
        n=Count("id"), s=Sum("amount"), risky=Sum("amount", filter=Q(category__in=categories)),
        cats=Count("category", distinct=True, filter=~Q(category="")),
    )
    refunded = Refund.objects.filter(
        account_id=account.pk, created_on__gt=on - dt.timedelta(days=180), created_on__lte=on
    ).aggregate(s=Sum("amount"))["s"] or ZERO

    posted = approved.filter(posted_on__lte=on).aggregate(s=Sum("amount"))["s"] or ZERO
    repaid = Allocation.objects.filter(
        account_id=account.pk, kind=Allocation.Kind.PRINCIPAL, on_date__lte=on
    ).aggregate(s=Sum("amount"))["s"] or ZERO
    refunded_principal = Refund.objects.filter(account_id=account.pk, created_on__lte=on).aggregate(
        s=Sum("principal_reduced")
    )["s"] or ZERO
    written_off = WriteOff.objects.filter(account_id=account.pk, on_date__lte=on).aggregate(s=Sum("principal"))["s"] or ZERO
    outstanding = max(posted - repaid - refunded_principal - written_off, ZERO)

    due = Statement.objects.filter(
        account_id=account.pk, due_date__gt=on - dt.timedelta(days=365), due_date__lte=on, minimum_payment__gt=0
    ).aggregate(n=Count("id"), late=Count("id", filter=Q(status=Statement.Status.OVERDUE)))
    worst, current_dpd = delinquency_as_of(account.pk, on)
    months = relativedelta(on, account.opened_on)
    return {
        "months_on_book": max(months.years * 12 + months.months, 0),
        "utilisation": _ratio(outstanding, account.fixed_limit),
        "orders_90d": w90["n"],
        "amount_90d": float(w90["s"] or 0),
        "orders_180d": w180["n"],
        "amount_180d": float(w180["s"] or 0),
        "refund_rate_180d": _ratio(refunded, w180["s"] or ZERO),
        "high_risk_share_180d": _ratio(w180["risky"] or ZERO, w180["s"] or ZERO),
        "categories_180d": w180["cats"],
        "on_time_ratio_12m": _ratio(Decimal(due["n"] - due["late"]), Decimal(due["n"])) if due["n"] else None,
        "worst_bucket_180d": worst,
        "current_dpd": current_dpd,
    }


def reached_dpd(changes: list[tuple[dt.date, str, int]], *, threshold: int, after: dt.date, through: dt.date) -> bool:
    """Did the account reach ``threshold`` days past due on a day in (``after``, ``through``]?

    ``changes``: its bucket history ``(on_date, new_bucket, dpd_on_that_date)`` in date order. Between
    two changes DPD grows by one a day while delinquent (M1+), and is 0 in M0."""
    ordered = sorted(changes, key=lambda c: c[0])
    for i, (on_date, bucket, dpd) in enumerate(ordered):
        if bucket_number(bucket) == 0:
            continue
        last_day = ordered[i + 1][0] - dt.timedelta(days=1) if i + 1 < len(ordered) else through
        day = on_date + dt.timedelta(days=max(threshold - dpd, 0))  # first day at the threshold
        if max(day, after + dt.timedelta(days=1)) <= min(last_day, through):
            return True
    return False


def dpd_on(changes: list[tuple[dt.date, str, int]], on: dt.date) -> int:
    """Days past due on ``on`` from the bucket history."""
    current = 0
    for on_date, bucket, dpd in sorted(changes, key=lambda c: c[0]):
        if on_date > on:
            break
        current = dpd + (on - on_date).days if bucket_number(bucket) else 0
    return current


def portfolio_observations(*, as_of: dt.date, outcome_months: int = 6, bad_dpd: int = 60):
    """Rows for the behaviour scorecard: every account open on ``as_of`` (and not already at
    ``bad_dpd``), its behaviour features as of ``as_of``, and whether it reached ``bad_dpd`` days
    past due within ``outcome_months`` after. Yields ``(account, features, bad)``."""
    through = as_of + relativedelta(months=outcome_months)
    accounts = CreditAccount.objects.filter(opened_on__lte=as_of).exclude(closed_on__lte=as_of).exclude(
        written_off_on__lte=as_of
    ).order_by("pk")
    history: dict[int, list] = {}
    for account_id, on_date, bucket, dpd in BucketChange.objects.filter(
        account__in=accounts, on_date__lte=through
    ).order_by("account_id", "on_date", "id").values_list("account_id", "on_date", "new_bucket", "dpd"):
        history.setdefault(account_id, []).append((on_date, bucket, dpd))
    for account in accounts.iterator(chunk_size=500):
        changes = history.get(account.pk, [])
        if dpd_on(changes, as_of) >= bad_dpd:
            continue  # already bad when observed
        bad = reached_dpd(changes, threshold=bad_dpd, after=as_of, through=through)
        yield account, behaviour_features(account, on=as_of), bad
