"""Writes for customers and credit lines. Every change leaves a log row in the same transaction."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from collections.abc import Iterable

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts import hooks, limits
from accounts.models import (
    Consent,
    CreditAccount,
    CreditProduct,
    Customer,
    LimitChange,
    StatusChange,
    TemporaryLimit,
)
from approvals.gate import gate_required
from approvals.registry import ApprovalKind, register_kind
from approvals.services import Submitted, approval_submit, approved_reason
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.crypto import pii_hash
from core.errors import BusinessRuleError, ConflictError, ValidationError
from core.identity import id_age_on, normalize_id_number, validate_id_number, validate_mobile
from core.money import ZERO, money

BILL_DAY_MIN_MONTHS_OPEN = 3
BILL_DAY_CHANGE_EVERY_MONTHS = 6
#: Minors never get a credit line, by any path (applications, imports, the admin): the risk policy's
#: minimum age for applications cannot go below it.
LEGAL_MIN_AGE = 18


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


def _temporary_total(account_id: int, starts_on: dt.date, ends_on: dt.date) -> Decimal:
    """Active temporary limits of the account in force on any day from ``starts_on`` through ``ends_on``."""
    total = TemporaryLimit.objects.filter(
        account_id=account_id, status=TemporaryLimit.Status.ACTIVE, starts_on__lte=ends_on, ends_on__gte=starts_on,
    ).aggregate(t=Sum("amount"))["t"]
    return total or ZERO


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
def consent_record(
    *, customer: Customer, kind: str, version: str, granted: bool, actor: Actor | None = None, reason: str = "",
) -> Consent:
    """Record a consent given or withdrawn. A withdrawal is acted on at once, in this transaction:
    the handlers of ``accounts.hooks`` run (collections recalls the customer's cases from agencies
    when the agency-sharing consent goes)."""
    if kind not in Consent.Kind.values:
        raise ValidationError(f"Unknown consent kind {kind!r}.", code="invalid_consent")
    consent = Consent.objects.create(
        customer=customer, kind=kind, version=version, granted=granted, recorded_at=timezone.now()
    )
    if not granted:
        hooks.consent_withdrawn(hooks.ConsentWithdrawn(
            customer=customer, kind=kind, actor=actor or Actor.system("consent_withdrawn"),
            reason=(reason or "").strip() or f"{kind} consent withdrawn",
        ))
    return consent


def _refuse_minor(customer: Customer, *, on: dt.date) -> None:
    age = id_age_on(customer.id_number or "", on)
    if age is not None and age < LEGAL_MIN_AGE:
        raise BusinessRuleError(
            f"The customer is {age} (from the ID number): no credit line below {LEGAL_MIN_AGE}.",
            code="age_below_minimum", details={"age": age, "minimum": LEGAL_MIN_AGE},
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
    gate_required(actor, what="Opening a credit line")
    if not product.is_active:
        raise BusinessRuleError(f"Product {product.code} is not active.", code="product_inactive")
    _refuse_minor(customer, on=opened_on or get_business_date())
    fixed_limit = _non_negative_money(fixed_limit, "fixed_limit")
    bill_day = product.default_bill_day if bill_day is None else bill_day
    if not 1 <= int(bill_day) <= 28:
        raise ValidationError("Bill day must be between 1 and 28.", code="invalid_bill_day")
    if CreditAccount.objects.filter(customer=customer, product=product).exists():
        raise ConflictError("The customer already has an account for this product.", code="account_exists")
    limits.check_fixed_limit(old_limit=ZERO, new_limit=fixed_limit, used_amount=ZERO, temporary_today=ZERO)
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
    gate_required(actor, what="Changing a fixed limit")
    reason = _require_reason(reason)
    new_limit = _non_negative_money(new_limit, "new_limit")
    account = lock_account(account.pk)
    if account.status == CreditAccount.Status.CLOSED:
        raise BusinessRuleError("A closed account's limit cannot change.", code="account_closed")
    old = account.fixed_limit
    if old == new_limit:
        raise BusinessRuleError("The new limit equals the current limit.", code="limit_unchanged")
    today = get_business_date()
    limits.check_fixed_limit(old_limit=old, new_limit=new_limit, used_amount=account.used_amount,
                             temporary_today=_temporary_total(account.pk, today, today), by_system=actor.is_system)
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
    gate_required(actor, what="Granting a temporary limit")
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
    limits.check_temporary_limit(fixed_limit=account.fixed_limit, overlapping=_temporary_total(account.pk, starts_on, ends_on),
                                 amount=amount)
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


@transaction.atomic
def campaign_limit_grant(
    *, account: CreditAccount, amount: Decimal, starts_on: dt.date, ends_on: dt.date, campaign: str, actor: Actor,
    reason: str,
) -> TemporaryLimit:
    """A temporary limit of a marketing campaign (the staff's campaign-list import): consent is
    re-checked where it is used. Refused for a customer who withdrew the marketing consent (their
    latest marketing record is a withdrawal) or whose processing is restricted (PIPL deletion);
    otherwise ``temporary_limit_grant``. The customer's row is locked first, as consent writes do."""
    gate_required(actor, what="Granting a campaign limit")
    campaign_consent_check(account=account)
    return temporary_limit_grant(account=account, amount=amount, starts_on=starts_on, ends_on=ends_on, actor=actor,
                                 reason=reason, campaign=campaign)


def campaign_consent_check(*, account: CreditAccount) -> None:
    """Refuse a campaign limit for a customer who withdrew the marketing consent or whose processing
    is restricted (consent re-checked where it is used: the import, and again when a waiting request is
    approved). Locks the customer's row, as consent writes do."""
    customer = Customer.objects.select_for_update(of=("self",)).get(pk=account.customer_id)
    if customer.processing_restricted or customer.anonymised_at is not None:
        raise BusinessRuleError("The customer's data may only be stored (PIPL restriction): no campaign.",
                                code="processing_restricted")
    latest = customer.consents.filter(kind=Consent.Kind.MARKETING).order_by("-recorded_at", "-id").first()
    if latest is not None and not latest.granted:
        raise BusinessRuleError(
            f"The customer withdrew the marketing consent on {timezone.localdate(latest.recorded_at).isoformat()}: "
            "no campaign limit.", code="marketing_consent_withdrawn",
        )


# --- maker-checker: staff's limit changes above the thresholds wait for a second officer ----------

FIXED_LIMIT_KIND = "accounts.fixed_limit"
TEMPORARY_LIMIT_KIND = "accounts.temporary_limit"
ACCOUNT_OPEN_KIND = "accounts.account_open"
#: Temporary limits add up per account whatever path granted them (staff, campaign lists, campaigns).
TEMPORARY_LIMIT_GROUP = "temporary_limit"


def _execute_fixed_limit(payload: dict, *, actor: Actor, approval=None) -> CreditAccount:
    return account_change_fixed_limit(account=CreditAccount(pk=payload["account_id"]), new_limit=Decimal(payload["new_limit"]),
                                      actor=actor, reason=approved_reason(payload["reason"], approval))


def _execute_temporary_limit(payload: dict, *, actor: Actor, approval=None) -> TemporaryLimit:
    if payload.get("campaign"):  # a campaign line waiting for approval: is the consent still there?
        campaign_consent_check(account=CreditAccount.objects.get(pk=payload["account_id"]))
    return temporary_limit_grant(
        account=CreditAccount(pk=payload["account_id"]), amount=Decimal(payload["amount"]),
        starts_on=dt.date.fromisoformat(payload["starts_on"]), ends_on=dt.date.fromisoformat(payload["ends_on"]),
        campaign=payload.get("campaign", ""), actor=actor, reason=approved_reason(payload["reason"], approval),
    )


def _execute_account_open(payload: dict, *, actor: Actor, approval=None) -> CreditAccount:
    return account_open(
        customer=Customer.objects.get(pk=payload["customer_id"]), product=CreditProduct.objects.get(pk=payload["product_id"]),
        fixed_limit=Decimal(payload["fixed_limit"]), bill_day=payload.get("bill_day"), actor=actor,
        reason=approved_reason(payload["reason"], approval),
    )


def _limit_snapshot(payload: dict) -> dict:
    """What a limit request was judged on: the fixed limit (a request "10,000 → 25,000" is stale once
    the limit is no longer 10,000)."""
    account = CreditAccount.objects.filter(pk=payload["account_id"]).values("fixed_limit", "status").first()
    return {"fixed_limit": str(account["fixed_limit"]), "status": account["status"]} if account else {}


#: Floors in code (PRODUCT §12): configuration may lower these thresholds, never raise them above this.
LIMIT_AMOUNT_CEILING = Decimal("50000.00")
LIMIT_SHARE_CEILING = Decimal("1.00")
LIMIT_MAKER_DAY_CEILING = Decimal("200000.00")


def register_approval_kinds() -> None:
    """Called from ``AccountsConfig.ready()``. Defaults (staff change them in the admin's approval
    thresholds, under four eyes, never above the ceilings above): raises adding up to more than ¥20,000
    or more than 50 % of the limit 30 days ago on one account, temporary limits adding up to more than
    ¥20,000 or 50 % of the fixed limit, a new line above ¥20,000; one maker's raises or temporary limits
    above ¥100,000 in a business day."""
    register_kind(ApprovalKind(FIXED_LIMIT_KIND, "Fixed limit raise", "accounts.adjust_limit", _execute_fixed_limit,
                               amount_above=Decimal("20000.00"), share_above=Decimal("0.50"), group="limit_raise",
                               maker_day_above=Decimal("100000.00"), amount_ceiling=LIMIT_AMOUNT_CEILING,
                               share_ceiling=LIMIT_SHARE_CEILING, maker_day_ceiling=LIMIT_MAKER_DAY_CEILING,
                               base_moves=True, snapshot=_limit_snapshot))
    register_kind(ApprovalKind(TEMPORARY_LIMIT_KIND, "Temporary limit", "accounts.adjust_limit", _execute_temporary_limit,
                               amount_above=Decimal("20000.00"), share_above=Decimal("0.50"), group=TEMPORARY_LIMIT_GROUP,
                               maker_day_above=Decimal("100000.00"), amount_ceiling=LIMIT_AMOUNT_CEILING,
                               share_ceiling=LIMIT_SHARE_CEILING, maker_day_ceiling=LIMIT_MAKER_DAY_CEILING,
                               snapshot=_limit_snapshot))
    register_kind(ApprovalKind(ACCOUNT_OPEN_KIND, "Account opened by hand", "accounts.adjust_limit", _execute_account_open,
                               amount_above=Decimal("20000.00"), amount_ceiling=LIMIT_AMOUNT_CEILING))


def limit_change_submit(*, account: CreditAccount, new_limit: Decimal, actor: Actor, reason: str) -> Submitted:
    """Staff change a fixed limit: applied at once within the threshold (a cut always is), else a
    pending request for a second officer. The policy refuses either way, now."""
    new_limit = _non_negative_money(new_limit, "new_limit")
    current = CreditAccount.objects.get(pk=account.pk)
    return approval_submit(
        kind=FIXED_LIMIT_KIND, payload={"account_id": current.pk, "new_limit": str(new_limit), "reason": reason},
        amount=new_limit - current.fixed_limit, base=current.fixed_limit, target=current, actor=actor, reason=reason,
        summary=f"Fixed limit of {current.reference}: {current.fixed_limit} → {new_limit}",
        before=current.fixed_limit, after=new_limit,
    )


def temporary_limit_submit(*, account: CreditAccount, amount: Decimal, starts_on: dt.date, ends_on: dt.date,
                           actor: Actor, reason: str, campaign: str = "") -> Submitted:
    amount = _non_negative_money(amount, "amount")
    current = CreditAccount.objects.get(pk=account.pk)
    return approval_submit(
        kind=TEMPORARY_LIMIT_KIND,
        payload={"account_id": current.pk, "amount": str(amount), "starts_on": starts_on.isoformat(),
                 "ends_on": ends_on.isoformat(), "campaign": campaign, "reason": reason},
        amount=amount, base=current.fixed_limit, target=current, actor=actor, reason=reason,
        summary=f"Temporary limit of {current.reference}: {amount} from {starts_on} through {ends_on}"
                + (f" ({campaign})" if campaign else ""),
        before=current.fixed_limit + _temporary_total(current.pk, starts_on, ends_on),
        after=current.fixed_limit + _temporary_total(current.pk, starts_on, ends_on) + amount,
    )


def account_open_submit(*, customer: Customer, product: CreditProduct, fixed_limit: Decimal, actor: Actor,
                        reason: str = "account opened", bill_day: int | None = None) -> Submitted:
    fixed_limit = _non_negative_money(fixed_limit, "fixed_limit")
    return approval_submit(
        kind=ACCOUNT_OPEN_KIND,
        payload={"customer_id": customer.pk, "product_id": product.pk, "fixed_limit": str(fixed_limit),
                 "bill_day": bill_day, "reason": reason},
        amount=fixed_limit, base=None, target=customer, actor=actor, reason=reason,
        summary=f"New {product.code} account of {customer.reference} at {fixed_limit}", before=ZERO, after=fixed_limit,
    )


@transaction.atomic
def customer_mark_deceased(*, customer: Customer, on, actor: Actor, reason: str) -> Customer:
    """Record a customer's death (issue 25: established by a paid death claim): from now on no notice is
    sent to them. Audited; a second call changes nothing."""
    reason = _require_reason(reason)
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.deceased_on is not None:
        return customer
    customer.deceased_on = on
    customer._change_reason = reason[:100]
    customer.save(update_fields=["deceased_on", "updated_at"])
    audit_record(actor=actor, action="customer_mark_deceased", obj=customer, reason=reason, new=on.isoformat())
    return customer
