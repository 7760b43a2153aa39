"""Writes for customers and credit lines. Every change leaves a log row in the same transaction."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Iterable

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import (
    Consent,
    CreditAccount,
    CreditProduct,
    Customer,
    LimitChange,
    StatusChange,
    TemporaryLimit,
)
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.crypto import pii_hash
from core.errors import BusinessRuleError, ConflictError, ValidationError
from core.identity import normalize_id_number, validate_id_number, validate_mobile
from core.money import money

BILL_DAY_MIN_MONTHS_OPEN = 3
BILL_DAY_CHANGE_EVERY_MONTHS = 6


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required for this change.", code="reason_required")
    return reason


def _non_negative_money(value, field: str) -> Decimal:
    try:
        amount = money(value)
    except (ArithmeticError, TypeError, ValueError):
        raise ValidationError(f"{field} must be an amount with at most 2 decimals.", code="invalid_amount") from None
    if amount < 0:
        raise ValidationError(f"{field} cannot be negative.", code="invalid_amount", details={field: str(amount)})
    return amount


def lock_account(account_id: int) -> CreditAccount:
    """Row-lock one account (fixed order: callers locking several lock by ascending pk)."""
    return CreditAccount.objects.select_for_update(of=("self",)).get(pk=account_id)


@transaction.atomic
def customer_create(
    *,
    name: str,
    id_number: str,
    mobile: str,
    address: str = "",
    email: str = "",
    external_id: str = "",
    consents: Iterable[tuple[str, str, bool]] = (),
) -> Customer:
    """Create a customer after the identity checks of PRODUCT §8. ``consents``: (kind, version, granted)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("Name is required.", code="name_required")
    id_number = normalize_id_number(id_number)
    mobile = (mobile or "").strip()
    try:
        validate_id_number(id_number)
        validate_mobile(mobile)
    except DjangoValidationError as exc:
        raise ValidationError(exc.messages[0], code=exc.code or "invalid") from None
    id_hash = pii_hash(id_number)
    if Customer.objects.filter(id_number_hash=id_hash).exists():
        raise ConflictError("A customer with this ID number already exists.", code="customer_exists")
    try:
        with transaction.atomic():
            customer = Customer.objects.create(
                name=name,
                id_number=id_number,
                id_number_hash=id_hash,
                id_number_last4=id_number[-4:],
                mobile=mobile,
                address=address.strip(),
                email=email.strip(),
                external_id=external_id.strip(),
            )
    except IntegrityError:
        raise ConflictError("A customer with this ID number already exists.", code="customer_exists") from None
    now = timezone.now()
    valid_kinds = set(Consent.Kind.values)
    for kind, version, granted in consents:
        if kind not in valid_kinds:
            raise ValidationError(f"Unknown consent kind {kind!r}.", code="invalid_consent")
        Consent.objects.create(customer=customer, kind=kind, version=version, granted=granted, recorded_at=now)
    return customer


@transaction.atomic
def consent_record(*, customer: Customer, kind: str, version: str, granted: bool) -> Consent:
    if kind not in Consent.Kind.values:
        raise ValidationError(f"Unknown consent kind {kind!r}.", code="invalid_consent")
    return Consent.objects.create(
        customer=customer, kind=kind, version=version, granted=granted, recorded_at=timezone.now()
    )


@transaction.atomic
def account_open(
    *,
    customer: Customer,
    product: CreditProduct,
    fixed_limit: Decimal,
    actor: Actor,
    reason: str = "account opened",
    bill_day: int | None = None,
    opened_on: dt.date | None = None,
) -> CreditAccount:
    if not product.is_active:
        raise BusinessRuleError(f"Product {product.code} is not active.", code="product_inactive")
    fixed_limit = _non_negative_money(fixed_limit, "fixed_limit")
    bill_day = product.default_bill_day if bill_day is None else bill_day
    if not 1 <= int(bill_day) <= 28:
        raise ValidationError("Bill day must be between 1 and 28.", code="invalid_bill_day")
    if CreditAccount.objects.filter(customer=customer, product=product).exists():
        raise ConflictError("The customer already has an account for this product.", code="account_exists")
    try:
        with transaction.atomic():
            account = CreditAccount.objects.create(
                customer=customer,
                product=product,
                fixed_limit=fixed_limit,
                bill_day=bill_day,
                opened_on=opened_on or get_business_date(),
            )
    except IntegrityError:
        raise ConflictError("The customer already has an account for this product.", code="account_exists") from None
    LimitChange.objects.create(
        account=account, kind=LimitChange.Kind.FIXED, old_limit=0, new_limit=fixed_limit, reason=reason,
        **actor.log_fields(),
    )
    return account


@transaction.atomic
def account_change_fixed_limit(*, account: CreditAccount, new_limit: Decimal, actor: Actor, reason: str) -> CreditAccount:
    reason = _require_reason(reason)
    new_limit = _non_negative_money(new_limit, "new_limit")
    account = lock_account(account.pk)
    if account.status == CreditAccount.Status.CLOSED:
        raise BusinessRuleError("A closed account's limit cannot change.", code="account_closed")
    old = account.fixed_limit
    if old == new_limit:
        raise BusinessRuleError("The new limit equals the current limit.", code="limit_unchanged")
    account.fixed_limit = new_limit
    account._change_reason = reason[:100]  # the history row keeps the reason the log row requires
    account.save(update_fields=["fixed_limit", "updated_at"])
    LimitChange.objects.create(
        account=account, kind=LimitChange.Kind.FIXED, old_limit=old, new_limit=new_limit, reason=reason,
        **actor.log_fields(),
    )
    audit_record(actor=actor, action="limit_change", obj=account, reason=reason, old=str(old), new=str(new_limit))
    return account


@transaction.atomic
def temporary_limit_grant(
    *,
    account: CreditAccount,
    amount: Decimal,
    starts_on: dt.date,
    ends_on: dt.date,
    actor: Actor,
    reason: str,
    campaign: str = "",
) -> TemporaryLimit:
    reason = _require_reason(reason)
    amount = _non_negative_money(amount, "amount")
    if amount == 0:
        raise ValidationError("A temporary limit must be above zero.", code="invalid_amount")
    if ends_on < starts_on:
        raise ValidationError("A temporary limit cannot end before it starts.", code="invalid_dates")
    if ends_on < get_business_date():
        raise ValidationError("A temporary limit cannot end in the past.", code="invalid_dates")
    account = lock_account(account.pk)
    if account.status != CreditAccount.Status.ACTIVE:
        raise BusinessRuleError("Temporary limits are only granted to active accounts.", code="account_not_active")
    temp = TemporaryLimit.objects.create(
        account=account, amount=amount, starts_on=starts_on, ends_on=ends_on, campaign=campaign
    )
    LimitChange.objects.create(
        account=account, kind=LimitChange.Kind.TEMPORARY, old_limit=0, new_limit=amount, temporary_limit=temp,
        reason=reason, **actor.log_fields(),
    )
    return temp


def temporary_limits_expire(*, on: dt.date) -> int:
    """Mark every active temporary limit that ended before ``on`` as expired (set-based, idempotent).

    Returns the number expired. Availability never counted them past ``ends_on`` anyway; this keeps
    the status honest for staff and exports."""
    return TemporaryLimit.objects.filter(status=TemporaryLimit.Status.ACTIVE, ends_on__lt=on).update(
        status=TemporaryLimit.Status.EXPIRED, updated_at=timezone.now()
    )


def _write_status(account: CreditAccount, *, status: str, freeze_reason: str, actor: Actor, reason: str) -> CreditAccount:
    old_status, old_reason = account.status, account.freeze_reason
    account.status = status
    account.freeze_reason = freeze_reason
    account._change_reason = reason[:100]
    account.save(update_fields=["status", "freeze_reason", "updated_at"])
    StatusChange.objects.create(
        account=account, old_status=old_status, new_status=status, old_freeze_reason=old_reason,
        new_freeze_reason=freeze_reason, reason=reason, **actor.log_fields(),
    )
    return account


@transaction.atomic
def account_freeze(*, account: CreditAccount, manual: bool, actor: Actor, reason: str) -> CreditAccount:
    """Freeze for overdue (system, ``manual=False``) or by hand (``manual=True``).

    A manual freeze takes over an overdue freeze; an overdue freeze never replaces a manual one."""
    reason = _require_reason(reason)
    account = lock_account(account.pk)
    S, R = CreditAccount.Status, CreditAccount.FreezeReason
    if account.status == S.CLOSED:
        raise BusinessRuleError("A closed account cannot be frozen.", code="account_closed")
    wanted = R.MANUAL if manual else R.OVERDUE
    if account.status == S.FROZEN and (account.freeze_reason == wanted or account.freeze_reason == R.MANUAL):
        raise BusinessRuleError("The account is already frozen.", code="already_frozen")
    return _write_status(account, status=S.FROZEN, freeze_reason=wanted, actor=actor, reason=reason)


@transaction.atomic
def account_unfreeze(*, account: CreditAccount, manual: bool, actor: Actor, reason: str) -> CreditAccount:
    """Lift a freeze. The automatic (overdue) lift never lifts a manual freeze; staff lift it by hand."""
    reason = _require_reason(reason)
    account = lock_account(account.pk)
    S, R = CreditAccount.Status, CreditAccount.FreezeReason
    if account.status != S.FROZEN:
        raise BusinessRuleError("The account is not frozen.", code="not_frozen")
    if account.freeze_reason == R.MANUAL and not manual:
        raise BusinessRuleError("A manual freeze is only lifted by hand.", code="manual_freeze")
    if account.freeze_reason == R.OVERDUE and manual and account.dpd > 0:
        raise BusinessRuleError(
            "The account is frozen because it is overdue; it unfreezes once nothing is past due.",
            code="overdue_freeze",
        )
    return _write_status(account, status=S.ACTIVE, freeze_reason="", actor=actor, reason=reason)


@transaction.atomic
def account_close(*, account: CreditAccount, actor: Actor, reason: str) -> CreditAccount:
    reason = _require_reason(reason)
    account = lock_account(account.pk)
    if account.status == CreditAccount.Status.CLOSED:
        raise BusinessRuleError("The account is already closed.", code="account_closed")
    if account.used_amount > 0 or account.credit_balance > 0:
        raise BusinessRuleError(
            "An account with a balance or a credit balance cannot be closed.",
            code="balance_outstanding",
            details={"used_amount": str(account.used_amount), "credit_balance": str(account.credit_balance)},
        )
    account.closed_on = get_business_date()
    account._change_reason = reason[:100]
    account.save(update_fields=["closed_on", "updated_at"])
    return _write_status(account, status=CreditAccount.Status.CLOSED, freeze_reason="", actor=actor, reason=reason)


@transaction.atomic
def account_change_bill_day(*, account: CreditAccount, bill_day: int, actor: Actor, reason: str = "customer request") -> CreditAccount:
    """PRODUCT §4: not in the first 3 months, not while overdue, at most once in 6 months."""
    if not isinstance(bill_day, int) or not 1 <= bill_day <= 28:
        raise ValidationError("Bill day must be between 1 and 28.", code="invalid_bill_day")
    account = lock_account(account.pk)
    today = get_business_date()
    if account.status == CreditAccount.Status.CLOSED:
        raise BusinessRuleError("A closed account cannot change its bill day.", code="account_closed")
    if account.bill_day == bill_day:
        raise BusinessRuleError("That is already the bill day.", code="bill_day_unchanged")
    if today < account.opened_on + relativedelta(months=BILL_DAY_MIN_MONTHS_OPEN):
        raise BusinessRuleError(
            "The bill day cannot change in the first 3 months.", code="bill_day_too_early",
            details={"allowed_from": str(account.opened_on + relativedelta(months=BILL_DAY_MIN_MONTHS_OPEN))},
        )
    if account.dpd > 0 or account.freeze_reason == CreditAccount.FreezeReason.OVERDUE:
        raise BusinessRuleError("The bill day cannot change while the account is overdue.", code="bill_day_overdue")
    if account.bill_day_changed_on and today < account.bill_day_changed_on + relativedelta(months=BILL_DAY_CHANGE_EVERY_MONTHS):
        raise BusinessRuleError(
            "The bill day can change at most once in 6 months.", code="bill_day_changed_recently",
            details={"allowed_from": str(account.bill_day_changed_on + relativedelta(months=BILL_DAY_CHANGE_EVERY_MONTHS))},
        )
    old = account.bill_day
    account.bill_day = bill_day
    account.bill_day_changed_on = today
    account._change_reason = reason[:100]
    account.save(update_fields=["bill_day", "bill_day_changed_on", "updated_at"])
    audit_record(actor=actor, action="bill_day_change", obj=account, reason=reason, old=old, new=bill_day)
    return account
