"""Refunds of purchases (PRODUCT §5): offset from the last installment backwards; purchase installments
shrink their unpaid fees pro rata, bill installments keep theirs; what was already repaid becomes a
credit balance or a refund payable; the line is restored."""
from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from accounts.services import lock_account
from approvals.gate import gate_required
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import BusinessRuleError, ValidationError
from core.money import ZERO
from installments.calc import RefundLine, refund_offset
from installments.hooks import plan_event
from installments.models import Adjustment, Plan, Purchase, Refund, ScheduleLine
from installments.services.common import apply_account_deltas, close_if_settled, positive_money, require_reason
from ledger.models import Codes, JournalEntry
from ledger.services import Cr, Dr, journal_post


def _offset(refund: Refund, plan: Plan, amount: Decimal, original: Decimal, fees_pro_rata: bool, today) -> Decimal:
    """Apply ``amount`` to ``plan``'s lines; returns the excess not absorbed. Updates ``refund`` totals."""
    lines = {line.pk: line for line in plan.lines.all()}
    result = refund_offset(
        amount,
        [RefundLine(key=line.pk, period=line.period, principal_open=line.principal_open,
                    fee_open=line.fee_open if line.status != ScheduleLine.Status.WRITTEN_OFF else ZERO)
         for line in lines.values()],
        original_principal=original, fees_pro_rata=fees_pro_rata,
    )
    adjustments = []
    for key in set(result.principal_reductions) | set(result.fee_reductions):
        line = lines[key]
        principal = result.principal_reductions.get(key, ZERO)
        fee = result.fee_reductions.get(key, ZERO)
        billed = bool(line.billed_on)
        line.principal_reduced += principal
        line.fee_waived += fee
        refund.principal_reduced += principal
        if billed:
            refund.billed_principal_reduced += principal
            refund.fees_waived_billed += fee
        else:
            refund.fees_waived_unbilled += fee
        close_if_settled(line, today)
        line.save(update_fields=["principal_reduced", "fee_waived", "status", "closed_on"])
        adjustments.append(Adjustment(line=line, kind=Adjustment.Kind.REFUND, principal=principal, fee=fee,
                                      was_billed=billed, refund=refund, on_date=today))
    Adjustment.objects.bulk_create(adjustments)
    if not plan.lines.filter(status__in=ScheduleLine.OPEN).exists() and plan.status == Plan.Status.ACTIVE:
        plan.status = Plan.Status.REFUNDED if result.principal_reductions else Plan.Status.PAID_OFF
        plan.closed_on = today
        plan.save(update_fields=["status", "closed_on"])
    return result.excess


@transaction.atomic
def purchase_refund(*, purchase: Purchase, amount: Decimal, actor: Actor, reason: str,
                    excess_to: str = Refund.ExcessTo.CREDIT_BALANCE) -> Refund:
    """Refund all or part of an approved purchase. A person's refund comes through the approvals gate
    (``refund_submit``); the storefront's API call (a system actor) posts here directly."""
    gate_required(actor, what="Refunding a purchase")
    reason = require_reason(reason)
    amount = positive_money(amount)
    if excess_to not in Refund.ExcessTo.values:
        raise ValidationError(f"excess_to must be one of {Refund.ExcessTo.values}.", code="invalid_excess_to")
    account = lock_account(purchase.account_id)
    purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
    if purchase.status != Purchase.Status.APPROVED:
        raise BusinessRuleError("Only an approved purchase can be refunded.", code="purchase_not_refundable")
    if account.written_off_on:
        raise BusinessRuleError("The account is written off; refunds go through collections.", code="account_written_off")
    refundable = purchase.amount - purchase.refunded_amount
    if amount > refundable:
        raise BusinessRuleError(
            f"At most {refundable} of this purchase can still be refunded.", code="refund_exceeds_purchase",
            details={"refundable": str(refundable)},
        )
    today = get_business_date()
    plan = purchase.plan
    refund = Refund.objects.create(purchase=purchase, account=account, amount=amount, excess=amount, excess_to=excess_to,
                                   created_on=today, reason=reason, **actor.log_fields())
    excess = _offset(refund, plan, amount, refundable, plan.kind == Plan.Kind.PURCHASE_INSTALLMENT, today)
    plan_event(plan=plan, event="refunded", actor=actor, on=today, principal_before=refundable,
               principal_after=refundable - amount)  # add-ons follow (issue 25: insurance premiums)
    # A revolving purchase converted into a bill installment: the converted part is offset on that plan
    # (its fees are kept: PRODUCT §5).
    if excess:
        conversions = Adjustment.objects.filter(line__plan=plan, kind=Adjustment.Kind.CONVERSION).values(
            "target_plan").annotate(total=Sum("principal")).order_by("-target_plan")
        for conv in conversions:
            if not excess:
                break
            target = Plan.objects.get(pk=conv["target_plan"])
            already = Adjustment.objects.filter(kind=Adjustment.Kind.REFUND, refund__purchase=purchase,
                                                line__plan=target).aggregate(s=Sum("principal"))["s"] or ZERO
            room = conv["total"] - already
            take = min(excess, room)
            if take > 0:
                left = _offset(refund, target, take, target.principal, False, today)
                excess = excess - take + left
    refund.excess = excess
    refund.save()
    legs = [
        Dr(Codes.MERCHANT_PAYABLE, amount),
        Cr(Codes.RECEIVABLE_PRINCIPAL, refund.principal_reduced, account.pk),
        Cr(Codes.CUSTOMER_CREDIT if excess_to == Refund.ExcessTo.CREDIT_BALANCE else Codes.REFUND_PAYABLE, excess, account.pk),
        Dr(Codes.FEE_INCOME, refund.fees_waived_billed),
        Cr(Codes.RECEIVABLE_FEES, refund.fees_waived_billed, account.pk),
    ]
    refund.journal_entry = journal_post(kind=JournalEntry.Kind.REFUND, on=today, legs=legs, memo=f"Refund: {reason}"[:200],
                                        source=f"refund:{refund.reference}", actor=actor)
    refund.save(update_fields=["journal_entry"])
    purchase.refunded_amount += amount
    purchase.save(update_fields=["refunded_amount", "updated_at"])
    apply_account_deltas(account, legs)
    audit_record(actor=actor, action="purchase_refund", obj=purchase, reason=reason, new=str(amount))
    return refund
