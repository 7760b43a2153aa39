"""Promises to pay: recorded by the collector or agency working the case; marked kept, partly kept
or broken by close of business against the repayments received (PRODUCT §7)."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from core.sql import account_filter
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import BusinessRuleError, ConflictError, ValidationError
from core.money import ZERO, money
from debt_collection import engine
from debt_collection.models import CollectionCase, CollectionPolicy, ContactAttempt, PromiseToPay
from debt_collection.rules import promise_verdict
from debt_collection.selectors import policy_get
from debt_collection.services.common import Author, ensure_case_access


def _promise_create(
    *, case: CollectionCase, author: Author, amount, promised_on: dt.date, contact: ContactAttempt | None,
    policy: CollectionPolicy,
) -> PromiseToPay:
    """Inside the caller's transaction, with ``case`` locked and access checked."""
    try:
        if isinstance(amount, float):
            raise TypeError
        amount = money(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError("The amount must be a number with at most 2 decimals.", code="invalid_amount") from None
    if amount <= ZERO:
        raise ValidationError("A promised amount must be above zero.", code="invalid_amount")
    if not isinstance(promised_on, dt.date):
        raise ValidationError("The promised date must be a date.", code="invalid_date")
    today = get_business_date()
    if promised_on < today:
        raise ValidationError("The promised date cannot be in the past.", code="promise_date_past")
    latest = today + dt.timedelta(days=policy.promise_max_days)
    if promised_on > latest:
        raise ValidationError(
            f"A promise is at most {policy.promise_max_days} days ahead (until {latest.isoformat()}).",
            code="promise_date_too_far",
        )
    if case.balance and amount > case.balance:
        raise ValidationError(f"The promised amount is above everything owed ({case.balance}).", code="promise_above_balance")
    if PromiseToPay.objects.filter(case=case, status=PromiseToPay.Status.PENDING).exists():
        raise ConflictError("The case already has a pending promise; cancel it first.", code="promise_pending")
    try:
        with transaction.atomic():
            return PromiseToPay.objects.create(
                case=case, contact=contact, amount=amount, made_on=today, promised_on=promised_on, **author.fields()
            )
    except IntegrityError:
        raise ConflictError("The case already has a pending promise; cancel it first.", code="promise_pending") from None


@transaction.atomic
def promise_record(*, case: CollectionCase, author: Author, amount: Decimal, promised_on: dt.date) -> PromiseToPay:
    """Record a promise without a contact (e.g. the debtor wrote in)."""
    case = CollectionCase.objects.select_for_update(of=("self",)).get(pk=case.pk)
    ensure_case_access(case, author)
    if case.status != CollectionCase.Status.OPEN:
        raise BusinessRuleError("The case is closed.", code="case_closed")
    return _promise_create(case=case, author=author, amount=amount, promised_on=promised_on, contact=None,
                           policy=policy_get())


@transaction.atomic
def promise_cancel(*, promise: PromiseToPay, author: Author, reason: str) -> PromiseToPay:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required to cancel a promise.", code="reason_required")
    case = CollectionCase.objects.select_for_update(of=("self",)).get(pk=promise.case_id)
    ensure_case_access(case, author)
    promise = PromiseToPay.objects.select_for_update(of=("self",)).get(pk=promise.pk)
    if promise.status != PromiseToPay.Status.PENDING:
        raise BusinessRuleError("Only a pending promise can be cancelled.", code="promise_not_pending")
    promise.status = PromiseToPay.Status.CANCELLED
    promise.save(update_fields=["status", "updated_at"])
    audit_record(actor=author.actor, action="promise_cancel", obj=promise, reason=reason, old="pending", new="cancelled")
    return promise


@transaction.atomic
def promises_evaluate(*, on: dt.date, account_ids: Sequence[int] | None = None) -> int:
    """Close-of-business step: every pending promise is measured against the posted repayments
    received from the day it was made (or the day after the case's previous promise was decided)
    through ``min(on, promised_on)``; kept as soon as they cover it,
    else partly kept or broken once its day has closed. A broken promise counts against its case.
    Idempotent: a decided promise is never decided again."""
    q = account_filter(account_ids, "case__account_id")
    pending = list(
        PromiseToPay.objects.select_for_update(of=("self",)).filter(q, status=PromiseToPay.Status.PENDING, made_on__lte=on)
        .select_related("case").order_by("pk")
    )
    if not pending:
        return 0
    # Money counted for a decided promise is not counted again for the next one of the same case.
    decided_until = dict(
        PromiseToPay.objects.filter(case_id__in={p.case_id for p in pending}, evaluated_on__isnull=False)
        .values("case_id").annotate(last=Max("evaluated_on")).values_list("case_id", "last")
    )

    def counts_from(promise: PromiseToPay) -> dt.date:
        last = decided_until.get(promise.case_id)
        return max(promise.made_on, last + dt.timedelta(days=1)) if last else promise.made_on

    earliest = min(p.made_on for p in pending)
    received: dict[int, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for account_id, received_on, amount in engine.repayments_received(
        {p.case.account_id for p in pending}, start=earliest, end=on
    ):
        received[account_id].append((received_on, amount))
    now = timezone.now()
    decided: list[PromiseToPay] = []
    broken_cases: list[int] = []
    for promise in pending:
        last = min(on, promise.promised_on)
        first = counts_from(promise)
        paid = sum((a for d, a in received[promise.case.account_id] if first <= d <= last), ZERO)
        verdict = promise_verdict(amount=promise.amount, paid=paid, promised_on=promise.promised_on, on=on)
        if verdict is None:
            continue
        promise.status, promise.amount_paid, promise.evaluated_on, promise.updated_at = verdict, paid, on, now
        decided.append(promise)
        if verdict == PromiseToPay.Status.BROKEN:
            broken_cases.append(promise.case_id)
    if decided:
        PromiseToPay.objects.bulk_update(decided, ["status", "amount_paid", "evaluated_on", "updated_at"], batch_size=500)
    if broken_cases:
        CollectionCase.objects.filter(pk__in=broken_cases).update(broken_promises=F("broken_promises") + 1)
    return len(decided)
