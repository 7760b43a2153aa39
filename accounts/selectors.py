"""Reads about customers and credit lines."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum

from accounts.models import CreditAccount, Customer, LimitChange, TemporaryLimit
from core.business_date import get_business_date
from core.crypto import pii_hash
from core.identity import normalize_id_number
from core.money import ZERO


def active_temporary_limits(*, on: dt.date) -> QuerySet[TemporaryLimit]:
    return TemporaryLimit.objects.filter(status=TemporaryLimit.Status.ACTIVE, starts_on__lte=on, ends_on__gte=on)


def account_temporary_total(*, account: CreditAccount, on: dt.date | None = None) -> Decimal:
    on = on or get_business_date()
    total = active_temporary_limits(on=on).filter(account=account).aggregate(t=Sum("amount"))["t"]
    return total or ZERO


def account_total_limit(*, account: CreditAccount, on: dt.date | None = None) -> Decimal:
    return account.fixed_limit + account_temporary_total(account=account, on=on)


def available_amount(account: CreditAccount, total_limit: Decimal) -> Decimal:
    """The one rule of the available limit (PRODUCT §3): total limit − used − held for a risk review (a held
    purchase reserves its amount until it is released), shown as 0.00 when negative. Every reader — the
    API, the purchase path, the admin lists, the customer page — computes it here."""
    return max(total_limit - account.used_amount - account.held_amount, ZERO)


def account_available(*, account: CreditAccount, on: dt.date | None = None) -> Decimal:
    """Fixed + active temporary − used − held for review; shown as 0 when negative (PRODUCT §3; a held
    purchase reserves its amount until it is released: issue 13)."""
    return account_limits(account=account, on=on)[1]


def account_limits(*, account: CreditAccount, on: dt.date | None = None) -> tuple[Decimal, Decimal]:
    """(total limit, available) in one read of the temporary limits."""
    total = account_total_limit(account=account, on=on)
    return total, available_amount(account, total)


def accounts_with_limits(*, on: dt.date | None = None) -> QuerySet[CreditAccount]:
    """Accounts annotated with ``temporary_total`` for ``on`` (one query for a list)."""
    on = on or get_business_date()
    active = Q(
        temporary_limits__status=TemporaryLimit.Status.ACTIVE,
        temporary_limits__starts_on__lte=on,
        temporary_limits__ends_on__gte=on,
    )
    return CreditAccount.objects.annotate(temporary_total=Sum("temporary_limits__amount", filter=active))


def customer_find_by_id_number(id_number: str) -> Customer | None:
    return Customer.objects.filter(id_number_hash=pii_hash(normalize_id_number(id_number))).first()


def customer_has_consent(*, customer: Customer, kind: str) -> bool:
    """The latest record of ``kind`` decides: granted and not withdrawn since. A customer whose
    processing is restricted or who was anonymised (PIPL deletion) has no usable consent."""
    from accounts.models import Consent

    if customer.processing_restricted or customer.anonymised_at is not None:
        return False
    latest = Consent.objects.filter(customer=customer, kind=kind).order_by("-recorded_at", "-id").first()
    return bool(latest and latest.granted)


# --- The customer and account pages (staff 360° view) -------------------------------------------------


def customer_accounts(*, customer: Customer, on: dt.date | None = None) -> QuerySet[CreditAccount]:
    """The customer's accounts with ``temporary_total`` for ``on`` (one query)."""
    return accounts_with_limits(on=on).filter(customer=customer).select_related("product").order_by("pk")


def accounts_limit_changes(*, account_ids, limit: int = 100) -> QuerySet[LimitChange]:
    return (LimitChange.objects.filter(account_id__in=account_ids).select_related("actor", "account", "temporary_limit")
            .order_by("-created_at", "-id")[:limit])


def accounts_temporary_limits(*, account_ids, limit: int = 100) -> QuerySet[TemporaryLimit]:
    return TemporaryLimit.objects.filter(account_id__in=account_ids).select_related("account").order_by(
        "-starts_on", "-id")[:limit]
