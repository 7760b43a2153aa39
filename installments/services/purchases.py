"""Purchases (PRODUCT §4): authorise against the available limit, post to a cycle, create the schedule."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, DateField, F, prefetch_related_objects
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.models import CreditAccount, TemporaryLimit
from accounts.selectors import account_available, account_limits, available_amount
from accounts.services import lock_account
from core.sql import account_filter
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import BusinessRuleError, NotFoundError, ValidationError
from core.models import BusinessDate
from core.money import ZERO, MoneyField
from installments import hooks
from installments.calc import TENORS, quote
from installments.models import Plan, ProductTerms, Purchase, ScheduleLine
from installments.services.common import (
    apply_account_deltas, get_terms, line_due_dates, next_bill_date, positive_money, require_reason,
)
from ledger.models import Codes, JournalEntry
from ledger.services import Cr, Dr, journal_post


class PurchaseDeclinedError(BusinessRuleError):
    """A declined authorisation. The decline itself is recorded (``.purchase``) before this is raised."""

    def __init__(self, purchase: Purchase, *, replay: bool = False):
        reasons = list(purchase.reason_codes or ["declined"])
        super().__init__(
            f"Purchase declined: {', '.join(reasons)}.",
            code=reasons[0],
            details={"purchase": purchase.reference, "reason_codes": reasons, "replay": replay},
        )
        self.purchase = purchase


def _fee_rate(terms: ProductTerms, tenor: int) -> Decimal:
    rates = terms.fee_rates()
    if tenor not in TENORS or tenor not in rates:
        raise BusinessRuleError(
            f"Tenor {tenor} is not offered; choose one of {sorted(rates)}.", code="invalid_tenor",
            details={"tenors": sorted(rates)},
        )
    return rates[tenor]


def plan_quote_checked(*, principal: Decimal, tenor: int, terms: ProductTerms):
    """A quote for ``tenor`` under ``terms``, refused when this amount's APR (after the per-period fee is
    rounded to the cent) would exceed the ceiling — small amounts over long tenors can."""
    q = quote(principal, tenor, _fee_rate(terms, tenor))
    if 12 * q.apr.monthly_irr > terms.apr_ceiling:
        raise BusinessRuleError(
            f"At {principal} over {tenor} periods the rounded fee makes the APR {q.apr.nominal_pct} %, above the "
            f"{terms.apr_ceiling * 100:.2f} % ceiling; choose a shorter tenor or a larger amount.",
            code="apr_above_ceiling", details={"apr_nominal_pct": str(q.apr.nominal_pct), "tenor": tenor},
        )
    return q


def create_plan(
    *, account: CreditAccount, kind: str, principal: Decimal, tenor: int | None, terms: ProductTerms,
    first_bill_date: dt.date, on: dt.date, purchase: Purchase | None = None, source_statement=None,
) -> Plan:
    """A plan and its schedule lines. Revolving: one line, no fee, due on the first statement's due date."""
    if tenor is None:
        plan = Plan.objects.create(account=account, kind=Plan.Kind.REVOLVING, purchase=purchase, principal=principal,
                                   tenor=1, created_on=on)
        due = line_due_dates(first_bill_date, 1, terms.due_offset_days)[0]
        line = ScheduleLine.objects.create(plan=plan, account=account, period=1, is_revolving=True, due_date=due,
                                           principal=principal)
        plan.created_lines = [line]
        return plan
    q = plan_quote_checked(principal=principal, tenor=tenor, terms=terms)
    plan = Plan.objects.create(
        account=account, kind=kind, purchase=purchase, source_statement=source_statement, principal=principal,
        tenor=tenor, fee_rate=q.fee_rate, fee_per_period=q.fee_per_period, total_fee=q.total_fee,
        apr_nominal_pct=q.apr.nominal_pct, apr_effective_pct=q.apr.effective_pct, created_on=on,
    )
    dues = line_due_dates(first_bill_date, tenor, terms.due_offset_days)
    lines = ScheduleLine.objects.bulk_create(
        ScheduleLine(plan=plan, account=account, period=line.period, due_date=dues[line.period - 1],
                     principal=line.principal, fee=line.fee)
        for line in q.lines
    )
    plan.created_lines = lines
    return plan


def _with_created_lines(plan: Plan) -> Plan:
    """``plan.lines.all()`` answers the lines :func:`create_plan` just wrote, in period order, without
    reading them back (as a prefetch would leave them; for the answer to the purchase that made it)."""
    lines = sorted(plan.created_lines, key=lambda line: line.period)
    for line in lines:
        line.plan = plan
    cached = plan.lines.get_queryset()
    cached._result_cache = lines
    cached._prefetch_done = True
    plan._prefetched_objects_cache = {"lines": cached}
    return plan


def _post(purchase: Purchase, account: CreditAccount, terms: ProductTerms, on: dt.date, actor: Actor) -> Purchase:
    """Approve and post ``purchase`` on ``account``, which the caller row-locked in this transaction."""
    purchase.status = Purchase.Status.APPROVED
    purchase.posted_on = on
    purchase.cycle_bill_date = next_bill_date(on, account.bill_day)
    purchase.save()
    purchase.plan_created = _with_created_lines(create_plan(
        account=account,
        kind=Plan.Kind.PURCHASE_INSTALLMENT if purchase.tenor else Plan.Kind.REVOLVING,
        principal=purchase.amount, tenor=purchase.tenor, terms=terms, first_bill_date=purchase.cycle_bill_date,
        on=on, purchase=purchase,
    ))
    legs = [Dr(Codes.RECEIVABLE_PRINCIPAL, purchase.amount, account.pk), Cr(Codes.MERCHANT_PAYABLE, purchase.amount)]
    journal_post(kind=JournalEntry.Kind.PURCHASE, on=on, legs=legs, memo=f"Purchase {purchase.merchant_order_id}",
                 source=f"purchase:{purchase.reference}", actor=actor)
    apply_account_deltas(account, legs, locked=True)
    hooks.plan_add_ons_attach(plan=purchase.plan_created, add_ons=purchase.add_ons, actor=actor)
    return purchase


def _replayed(purchase: Purchase, amount: Decimal, tenor: int | None) -> Purchase:
    if purchase.amount != amount or purchase.tenor != tenor:
        raise BusinessRuleError(
            "This merchant order id was already used for a different purchase.", code="merchant_order_conflict",
            details={"purchase": purchase.reference, "amount": str(purchase.amount), "tenor": purchase.tenor},
        )
    purchase.is_replay = True
    return purchase


def _requested_via(actor: Actor) -> str:
    """Who asked: the API client (``api:<reference>``, so that client may read the purchase back), a
    staff user, or another system rule."""
    return (actor.rule if actor.is_system else f"user:{actor.user.pk}")[:80]


def _hold_move(account: CreditAccount, amount: Decimal) -> None:
    """Reserve (``amount`` > 0) or give back (< 0) a held purchase's amount out of the available limit,
    on the locked account row (so concurrent purchases see it)."""
    CreditAccount.objects.filter(pk=account.pk).update(held_amount=F("held_amount") + amount)
    account.refresh_from_db(fields=["held_amount"])


def _lock_held(purchase: Purchase) -> tuple[CreditAccount, Purchase]:
    """Lock the account, then the purchase; refuse unless it is still held."""
    account = lock_account(purchase.account_id)
    purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
    if purchase.status != Purchase.Status.HELD:
        raise BusinessRuleError(
            f"Purchase {purchase.reference} is not held (it is {purchase.get_status_display().lower()}).",
            code="purchase_not_held", details={"purchase": purchase.reference, "status": purchase.status},
        )
    return account, purchase


def _decline_held(purchase: Purchase, account: CreditAccount, *, codes: list[str], user, note: str,
                  release: bool = True) -> Purchase:
    """A held purchase ends declined: its reserved amount goes back to the available limit (unless the
    caller already released it)."""
    if release:
        _hold_move(account, -purchase.amount)
    purchase.status = Purchase.Status.DECLINED
    purchase.reason_codes = list(purchase.reason_codes) + [c for c in codes if c not in purchase.reason_codes]
    purchase.reviewed_by = user
    purchase.reviewed_at = timezone.now()
    purchase.review_note = (note or "")[:500]
    purchase.save()
    return purchase


def _locked_account(*, account: CreditAccount | None, reference: str | None, merchant_order_id: str):
    """Row-lock the account (and only it) in one query that also brings its product and terms, the
    business date, the temporary limits active on it and this merchant order's earlier purchase, if
    any. ``None`` when no account has this reference.

    The three look-ups are written as SQL subqueries (the ORM's ``Subquery`` builds the same SQL but
    costs more CPU to compile than the rest of the authorisation's queries together)."""
    # The SQL is fixed text (table names from the models); the merchant order and status are parameters.
    accounts = (
        CreditAccount.objects.select_for_update(of=("self",)).select_related("product", "product__terms")
        .annotate(
            locked_on=RawSQL(_BUSINESS_DATE_SQL, (), output_field=DateField()),  # nosec B611
            locked_temporary_total=RawSQL(  # nosec B611
                _TEMPORARY_TOTAL_SQL, (TemporaryLimit.Status.ACTIVE,), output_field=MoneyField()),
            earlier_purchase_id=RawSQL(  # nosec B611
                _EARLIER_PURCHASE_SQL, (merchant_order_id,), output_field=BigIntegerField()),
        )
    )
    if reference is not None:
        return accounts.filter(reference=reference).first()
    return accounts.get(pk=account.pk)


_ACCOUNT_TABLE = CreditAccount._meta.db_table  # the outer query's table (Django does not alias it)
_BUSINESS_DATE_SQL = f"SELECT d.date FROM {BusinessDate._meta.db_table} d WHERE d.singleton = 1"  # nosec B608
_TEMPORARY_TOTAL_SQL = (  # nosec B608
    f"SELECT SUM(t.amount) FROM {TemporaryLimit._meta.db_table} t, {BusinessDate._meta.db_table} d "
    f"WHERE d.singleton = 1 AND t.account_id = {_ACCOUNT_TABLE}.id AND t.status = %s "
    "AND t.starts_on <= d.date AND t.ends_on >= d.date"
)
_EARLIER_PURCHASE_SQL = (  # nosec B608
    f"SELECT p.id FROM {Purchase._meta.db_table} p "
    f"WHERE p.account_id = {_ACCOUNT_TABLE}.id AND p.merchant_order_id = %s LIMIT 1"
)


def _authorize(*, account, reference, amount, merchant_order_id, category, tenor, device_id, actor,
               add_ons=()) -> Purchase:
    # One savepoint: a refusal raised here (unknown account, another purchase under this merchant order,
    # a tenor not offered) rolls back to it, so the caller's transaction can still record the answer.
    with transaction.atomic():
        # The account row is locked first; a retried merchant order is then answered from the first purchase.
        account = _locked_account(account=account, reference=reference, merchant_order_id=merchant_order_id)
        if account is None:
            raise NotFoundError("No account with this id.", code="account_not_found", details={"id": reference})
        if account.earlier_purchase_id:
            return _replayed(Purchase.objects.get(pk=account.earlier_purchase_id), amount, tenor)
        today = account.locked_on
        if today is None:  # no business date stored yet: the usual read creates it
            today = get_business_date()
            total_limit, available = account_limits(account=account, on=today)
        else:
            total_limit = account.fixed_limit + (account.locked_temporary_total or ZERO)
            available = available_amount(account, total_limit)
        try:
            terms = account.product.terms
        except ProductTerms.DoesNotExist:
            terms = get_terms(account.product_id)
        if tenor is not None:
            prefetch_related_objects([terms], "tenor_rates")  # once: the quote is checked, then made
            plan_quote_checked(principal=amount, tenor=tenor, terms=terms)

        purchase = Purchase(account=account, amount=amount, merchant_order_id=merchant_order_id, category=category,
                            tenor=tenor, device_id=device_id, requested_on=today, requested_via=_requested_via(actor),
                            add_ons=list(add_ons))
        reasons: list[str] = []
        if account.status != CreditAccount.Status.ACTIVE or account.written_off_on:
            reasons.append("account_not_active")
        if amount > available:
            reasons.append("insufficient_limit")
        if not reasons:
            decision = hooks.run_purchase_checks(hooks.PurchaseContext(
                account_id=account.pk, customer_id=account.customer_id, product_code=account.product.code,
                amount=amount, tenor=tenor, category=category, device_id=device_id,
                merchant_order_id=merchant_order_id, on=today, available=available, total_limit=total_limit,
                used_amount=account.used_amount, fixed_limit=account.fixed_limit,
            ))
            if decision.outcome == hooks.RiskOutcome.DECLINE:
                reasons.extend(decision.reasons)
            elif decision.outcome == hooks.RiskOutcome.REVIEW:
                purchase.status = Purchase.Status.HELD
                purchase.reason_codes = list(decision.reasons)
        if reasons:
            purchase.status = Purchase.Status.DECLINED
            purchase.reason_codes = reasons
        if purchase.status == Purchase.Status.DECLINED:
            purchase.save()
        elif purchase.status == Purchase.Status.HELD:
            purchase.save()
            _hold_move(account, purchase.amount)
        else:
            _post(purchase, account, terms, today, actor)
    purchase.is_replay = False
    # What is left to spend once this purchase is in (the account row is still ours): the answer shows it.
    purchase.available_after = available_amount(account, total_limit)
    return purchase


def purchase_authorize(
    *,
    account: CreditAccount | None = None,
    account_reference: str | None = None,
    amount: Decimal,
    merchant_order_id: str,
    category: str = "",
    tenor: int | None = None,
    device_id: str = "",
    actor: Actor,
    add_ons: tuple[str, ...] = (),
) -> Purchase:
    """Authorise and post a purchase (PRODUCT §4).

    The account is ``account``, or the one whose reference is ``account_reference`` (found and locked in
    one query; unknown: :class:`NotFoundError` ``account_not_found``).
    Returns the purchase: ``approved`` (posted, limit used, schedule created) or ``held`` for review,
    with ``available_after`` (the available limit once it is in) unless it is a replay.
    A decline is recorded with its reason codes and then raised as :class:`PurchaseDeclinedError`
    (422, code ``insufficient_limit`` / ``account_not_active`` / a risk rule's code). A retried request
    with the same merchant order id changes nothing: it returns the first purchase with
    ``is_replay = True`` (or raises the same decline with ``details["replay"]``).
    """
    if (account is None) == (account_reference is None):
        raise ValueError("purchase_authorize takes an account or an account reference, not both.")
    amount = positive_money(amount)
    merchant_order_id = (merchant_order_id or "").strip()
    if not merchant_order_id or len(merchant_order_id) > 64:
        raise ValidationError("merchant_order_id is required (at most 64 characters).", code="invalid_merchant_order_id")
    if tenor is not None and (isinstance(tenor, bool) or not isinstance(tenor, int) or tenor not in TENORS):
        raise BusinessRuleError(f"Tenor {tenor!r} is not offered; choose one of {list(TENORS)}.", code="invalid_tenor")
    add_ons = tuple(add_ons or ())
    if add_ons and tenor is None:
        raise BusinessRuleError("An add-on (insurance) is sold with an installment plan only: give a tenor.",
                                code="add_on_needs_installment", details={"add_ons": list(add_ons)})
    kwargs = {"account": account, "reference": account_reference, "amount": amount,
              "merchant_order_id": merchant_order_id, "category": (category or "")[:40], "tenor": tenor,
              "device_id": (device_id or "")[:64], "actor": actor, "add_ons": add_ons}
    try:
        purchase = _authorize(**kwargs)
    except IntegrityError:
        # Another request posted this merchant order between our check and our insert (the account lock
        # makes this all but impossible): answer from its purchase, in a transaction that is still usable.
        account_id = account.pk if account is not None else (
            CreditAccount.objects.filter(reference=account_reference).values_list("pk", flat=True).first())
        existing = Purchase.objects.filter(account_id=account_id, merchant_order_id=merchant_order_id).first()
        if existing is None:
            raise
        purchase = _replayed(existing, amount, tenor)
    if purchase.status == Purchase.Status.DECLINED:
        raise PurchaseDeclinedError(purchase, replay=purchase.is_replay)
    return purchase


@transaction.atomic
def purchase_review_approve(*, purchase: Purchase, actor: Actor, note: str = "") -> Purchase:
    """An officer approves a held purchase: its reserved amount is released and it posts now, if the
    account is still active with enough limit; otherwise it is declined (and returned declined, with
    the reason codes). The one release path: the risk review case closes with it (``hooks.hold_released``)."""
    account, purchase = _lock_held(purchase)
    today = get_business_date()
    terms = get_terms(account.product_id)
    _hold_move(account, -purchase.amount)
    reasons = []
    if account.status != CreditAccount.Status.ACTIVE or account.written_off_on:
        reasons.append("account_not_active")
    if purchase.amount > account_available(account=account, on=today):
        reasons.append("insufficient_limit")
    purchase.reviewed_by = actor.user
    purchase.reviewed_at = timezone.now()
    purchase.review_note = (note or "")[:500]
    if reasons:
        _decline_held(purchase, account, codes=reasons, user=actor.user, note=note, release=False)
    else:
        _post(purchase, account, terms, today, actor)
    audit_record(actor=actor, action="purchase_review", obj=purchase, reason=note, old="held", new=purchase.status)
    hooks.hold_released(purchase=purchase, requested="approve", actor=actor, reason=note)
    return purchase


@transaction.atomic
def purchase_review_decline(*, purchase: Purchase, actor: Actor, reason: str) -> Purchase:
    """An officer declines a held purchase: its reserved amount goes back to the available limit and the
    risk review case closes with it."""
    reason = require_reason(reason)
    account, purchase = _lock_held(purchase)
    _decline_held(purchase, account, codes=["declined_on_review"], user=actor.user, note=reason)
    audit_record(actor=actor, action="purchase_review", obj=purchase, reason=reason, old="held", new="declined")
    hooks.hold_released(purchase=purchase, requested="decline", actor=actor, reason=reason)
    return purchase


HOLD_EXPIRED = "hold_expired"


@transaction.atomic
def purchase_hold_expire(*, purchase: Purchase, on: dt.date, actor: Actor) -> Purchase:
    """A hold nobody released within the product's ``hold_expiry_days`` is declined (``hold_expired``),
    its limit restored and its review case closed as expired. Refused before its time."""
    account, purchase = _lock_held(purchase)
    days = get_terms(account.product_id).hold_expiry_days
    expires_on = purchase.requested_on + dt.timedelta(days=days)
    if on < expires_on:
        raise BusinessRuleError(
            f"Purchase {purchase.reference} is held until {expires_on:%Y-%m-%d}.", code="hold_not_expired",
            details={"purchase": purchase.reference, "expires_on": str(expires_on)},
        )
    note = f"not reviewed within {days} day(s): expired on {on:%Y-%m-%d}"
    _decline_held(purchase, account, codes=[HOLD_EXPIRED], user=None, note=note)
    audit_record(actor=actor, action="purchase_hold_expire", obj=purchase, reason=note, old="held", new="declined")
    hooks.hold_released(purchase=purchase, requested="expire", actor=actor, reason=note)
    return purchase


HOLDS_ACTOR = Actor.system("cob:purchase_holds_expire")


def purchase_holds_expire(*, on: dt.date, account_ids=None) -> int:
    """Close-of-business step (slot ``purchase_holds``): every purchase still held after its product's
    ``hold_expiry_days`` is declined (``hold_expired``), its limit restored, its review case closed as
    expired — each through :func:`purchase_hold_expire`. Idempotent: a purchase no longer held is not
    seen again. Returns the number of holds expired."""
    held = Purchase.objects.filter(account_filter(account_ids), status=Purchase.Status.HELD)
    expired = 0
    for product_id, days in ProductTerms.objects.values_list("product_id", "hold_expiry_days").order_by("product_id"):
        due = held.filter(account__product_id=product_id, requested_on__lte=on - dt.timedelta(days=days))
        for purchase in due.order_by("account_id", "pk"):
            purchase_hold_expire(purchase=purchase, on=on, actor=HOLDS_ACTOR)
            expired += 1
    return expired
