"""Money moved by staff's hand under controls (issue 12): fee waivers, manual write-offs, and the
maker-checker entry points of waivers, write-offs and refunds. Above the thresholds of
``approvals`` (staff-editable) a change waits for a second person; the executors below apply it
through the same services, which check every rule again at that moment."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Round

from accounts.models import BucketChange, CreditAccount
from accounts.services import lock_account
from approvals.gate import gate_required
from approvals.registry import ApprovalKind, register_kind
from approvals.services import Submitted, approval_submit, approved_reason
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import BusinessRuleError, ValidationError
from core.money import ZERO
from installments.models import (
    Charge, Plan, Purchase, Refund, Repayment, ScheduleLine, Statement, StatementLine, Waiver, WriteOff,
)
from installments.services.common import (
    CHARGE_CODE, apply_account_deltas, line_plan_kind, plan_codes, positive_money, require_reason,
)
from installments.services.refunds import purchase_refund
from installments.services.repayments import repayment_post
from installments.services.settlements import plan_settle, plan_settlement_quote
from ledger.models import Codes, JournalEntry
from ledger.services import Cr, Dr, journal_post

WAIVER_KIND = "installments.fee_waiver"
WRITE_OFF_KIND = "installments.write_off"
REFUND_KIND = "installments.refund"
MANUAL_REPAYMENT_KIND = "installments.manual_repayment"
PLAN_SETTLEMENT_KIND = "installments.plan_settlement"

WAIVABLE = {
    Waiver.Kind.LATE_FEE: (Charge.Kind.LATE_FEE,),
    Waiver.Kind.DEFERRAL_FEE: (Charge.Kind.DEFERRAL_FEE,),
    Waiver.Kind.FEES: (Charge.Kind.LATE_FEE, Charge.Kind.DEFERRAL_FEE),
}
INCOME_CODE = {Charge.Kind.LATE_FEE: Codes.LATE_FEE_INCOME, Charge.Kind.DEFERRAL_FEE: Codes.DEFERRAL_FEE_INCOME}


def waivable_charges(*, account_id: int, kind: str, statement: Statement | None = None):
    """Open late/deferral charges of the account, oldest first (only those a statement billed, when given)."""
    if kind not in WAIVABLE:
        raise ValidationError(f"kind must be one of {', '.join(WAIVABLE)}.", code="invalid_waiver_kind")
    qs = Charge.objects.filter(account_id=account_id, kind__in=WAIVABLE[kind]).exclude(
        amount=Round(F("paid") + F("waived") + F("written_off"), 2))
    if statement is not None:
        qs = qs.filter(accrued_on__lt=statement.bill_date)
    return qs.order_by("accrued_on", "id")


def waivable_total(*, account_id: int, kind: str, statement: Statement | None = None) -> Decimal:
    return sum((c.open_amount for c in waivable_charges(account_id=account_id, kind=kind, statement=statement)), ZERO)


def _statement_take_off(account: CreditAccount, waived_by_day: list[tuple], waiver: Waiver) -> None:
    """The account's statement that is still open (not yet judged at its due date) owes less by the
    fees it billed that are now waived: fees due, minimum payment and closing balance go down by that
    amount and a line says why (the statement still adds up: the adjustments carry it)."""
    statement = (Statement.objects.select_for_update().filter(account=account, status=Statement.Status.OPEN)
                 .order_by("-bill_date").first())
    if statement is None:
        return
    amount = sum((v for day, v in waived_by_day if day < statement.bill_date), ZERO)
    if amount <= 0:
        return
    amount = min(amount, statement.fees_due)
    statement.fees_due -= amount
    statement.minimum_payment = max(statement.minimum_payment - amount, ZERO)
    statement.closing_balance -= amount
    statement.adjustments -= amount
    statement.save(update_fields=["fees_due", "minimum_payment", "closing_balance", "adjustments"])
    StatementLine.objects.create(statement=statement, position=85, kind=StatementLine.Kind.ADJUSTMENT,
                                 on_date=waiver.on_date, description=f"Fees waived: {waiver.reason}"[:200],
                                 fee=-amount, amount=-amount, ref=waiver.reference)


@transaction.atomic
def fee_waive(*, account: CreditAccount, kind: str, amount: Decimal | None = None, statement: Statement | None = None,
              actor: Actor, reason: str) -> Waiver:
    """Waive late and/or deferral fees of an account (all that is open, or ``amount`` of it, oldest
    first), optionally only those a statement billed. Journal: Dr fee income, Cr fee receivable; the
    used amount and the open statement go down by exactly what was waived."""
    gate_required(actor, what="Waiving fees")
    reason = require_reason(reason)
    account = lock_account(account.pk)
    if account.written_off_on:
        raise BusinessRuleError("The account is written off; its fees were written off with it.", code="account_written_off")
    if statement is not None and statement.account_id != account.pk:
        raise ValidationError("The statement is not this account's.", code="statement_mismatch")
    charges = list(waivable_charges(account_id=account.pk, kind=kind, statement=statement))
    open_total = sum((c.open_amount for c in charges), ZERO)
    if open_total <= 0:
        raise BusinessRuleError("There are no open fees of this kind to waive.", code="nothing_to_waive")
    amount = open_total if amount is None else positive_money(amount)
    if amount > open_total:
        raise BusinessRuleError(f"At most {open_total} of these fees is open.", code="waiver_exceeds_open",
                                details={"open": str(open_total)})
    today = get_business_date()
    left, by_kind, by_day = amount, {Charge.Kind.LATE_FEE: ZERO, Charge.Kind.DEFERRAL_FEE: ZERO}, []
    for charge in charges:
        take = min(left, charge.open_amount)
        if take <= 0:
            break
        Charge.objects.filter(pk=charge.pk).update(waived=Round(F("waived") + take, 2))
        by_kind[charge.kind] += take
        by_day.append((charge.accrued_on, take))
        left -= take
    waiver = Waiver.objects.create(
        account=account, statement=statement, kind=kind, amount=amount, late_fees=by_kind[Charge.Kind.LATE_FEE],
        deferral_fees=by_kind[Charge.Kind.DEFERRAL_FEE], on_date=today, reason=reason, **actor.log_fields(),
    )
    legs = []
    for charge_kind, value in by_kind.items():
        legs += [Dr(INCOME_CODE[charge_kind], value), Cr(CHARGE_CODE[charge_kind], value, account.pk)]
    waiver.journal_entry = journal_post(kind=JournalEntry.Kind.WAIVER, on=today, legs=legs, memo=f"Fees waived: {reason}"[:200],
                                        source=f"waiver:{waiver.reference}", actor=actor)
    waiver.save(update_fields=["journal_entry"])
    apply_account_deltas(account, legs)
    _statement_take_off(account, by_day, waiver)
    audit_record(actor=actor, action="fee_waive", obj=account, reason=reason,
                 new={"waiver": waiver.reference, "amount": str(amount), "late_fees": str(waiver.late_fees),
                      "deferral_fees": str(waiver.deferral_fees)})
    return waiver


@transaction.atomic
def account_write_off(*, account: CreditAccount, actor: Actor, reason: str) -> WriteOff:
    """Write an overdue account off by hand before DPD 180 (deceased, fraud, bankruptcy…): the same
    result as the close of business's write-off — every open line and charge written off (unbilled
    future fees waived: never earned), the loss journalled, the bucket M7+."""
    gate_required(actor, what="Writing an account off")
    reason = require_reason(reason)
    account = lock_account(account.pk)
    if account.written_off_on:
        raise BusinessRuleError("The account is already written off.", code="already_written_off")
    if account.dpd <= 0:
        raise BusinessRuleError("Only an overdue account is written off by hand.", code="account_not_overdue")
    today = get_business_date()
    lines = list(ScheduleLine.objects.filter(account=account, status__in=ScheduleLine.OPEN).annotate(plan_kind=F("plan__kind")))
    charges = [c for c in Charge.objects.filter(account=account) if c.open_amount > 0]
    principal = sum((ln.principal_open for ln in lines), ZERO)
    fees = sum((ln.fee_open for ln in lines if ln.billed_on), ZERO)
    parts = {Codes.RECEIVABLE_LATE_FEES: ZERO, Codes.RECEIVABLE_DEFERRAL_FEES: ZERO, Codes.RECEIVABLE_FEES: fees,
             Codes.RECEIVABLE_PREMIUM: ZERO}
    by_principal_code: dict[str, Decimal] = {}  # cash-loan lines keep their own ledger codes (issue 16)
    for ln in lines:
        principal_code, fee_code, _ = plan_codes(line_plan_kind(ln))
        by_principal_code[principal_code] = by_principal_code.get(principal_code, ZERO) + ln.principal_open
        if ln.billed_on and fee_code != Codes.RECEIVABLE_FEES:
            parts[Codes.RECEIVABLE_FEES] -= ln.fee_open
            parts[fee_code] = parts.get(fee_code, ZERO) + ln.fee_open
    for charge in charges:
        parts[CHARGE_CODE[charge.kind]] += charge.open_amount
    total = principal + sum(parts.values(), ZERO)
    if total <= 0:
        raise BusinessRuleError("The account owes nothing to write off.", code="nothing_to_write_off")
    for line in lines:
        fee_open = line.fee_open
        line.principal_written_off += line.principal_open
        if line.billed_on:
            line.fee_written_off += fee_open
        else:
            line.fee_waived += fee_open
        line.status, line.closed_on = ScheduleLine.Status.WRITTEN_OFF, today
        line.save(update_fields=["principal_written_off", "fee_written_off", "fee_waived", "status", "closed_on"])
    for charge in charges:
        Charge.objects.filter(pk=charge.pk).update(written_off=Round(F("written_off") + charge.open_amount, 2))
    Plan.objects.filter(account=account, status=Plan.Status.ACTIVE).update(status=Plan.Status.WRITTEN_OFF, closed_on=today)
    legs = [Dr(Codes.CREDIT_LOSS, total)] + [Cr(code, value, account.pk) for code, value in by_principal_code.items()]
    legs += [Cr(code, value, account.pk) for code, value in parts.items()]
    entry = journal_post(kind=JournalEntry.Kind.WRITE_OFF, on=today, legs=legs, memo=f"Write-off by hand: {reason}"[:200],
                         source=f"write_off:{account.reference}", actor=actor)
    write_off = WriteOff.objects.create(
        account=account, on_date=today, dpd=account.dpd, principal=principal, fees=fees,
        late_fees=parts[Codes.RECEIVABLE_LATE_FEES], deferral_fees=parts[Codes.RECEIVABLE_DEFERRAL_FEES],
        premiums=parts[Codes.RECEIVABLE_PREMIUM], journal_entry=entry,
    )
    change, made = BucketChange.objects.get_or_create(
        account=account, on_date=today, defaults={"old_bucket": account.bucket, "new_bucket": "M7", "dpd": account.dpd})
    if not made and change.new_bucket != "M7":
        BucketChange.objects.filter(pk=change.pk).update(new_bucket="M7")
    CreditAccount.objects.filter(pk=account.pk).update(written_off_on=today, bucket="M7")
    apply_account_deltas(account, legs)
    audit_record(actor=actor, action="account_write_off", obj=account, reason=reason,
                 new={"total": str(total), "principal": str(principal), "dpd": account.dpd})
    return write_off


# --- maker-checker ----------------------------------------------------------------------------------


def _execute_waiver(payload: dict, *, actor: Actor, approval=None) -> Waiver:
    statement = Statement.objects.get(pk=payload["statement_id"]) if payload.get("statement_id") else None
    return fee_waive(account=CreditAccount(pk=payload["account_id"]), kind=payload["kind"], amount=Decimal(payload["amount"]),
                     statement=statement, actor=actor, reason=approved_reason(payload["reason"], approval))


def _execute_write_off(payload: dict, *, actor: Actor, approval=None) -> WriteOff:
    return account_write_off(account=CreditAccount(pk=payload["account_id"]), actor=actor,
                             reason=approved_reason(payload["reason"], approval))


def _execute_refund(payload: dict, *, actor: Actor, approval=None) -> Refund:
    return purchase_refund(purchase=Purchase.objects.get(pk=payload["purchase_id"]), amount=Decimal(payload["amount"]),
                           actor=actor, reason=approved_reason(payload["reason"], approval), excess_to=payload["excess_to"])


def _execute_manual_repayment(payload: dict, *, actor: Actor, approval=None) -> Repayment:
    received_on = dt.date.fromisoformat(payload["received_on"]) if payload.get("received_on") else None
    return repayment_post(account=CreditAccount(pk=payload["account_id"]), amount=Decimal(payload["amount"]),
                          external_ref=payload["external_ref"], channel=payload["channel"], received_on=received_on,
                          actor=actor)


def _execute_plan_settlement(payload: dict, *, actor: Actor, approval=None) -> Repayment:
    return plan_settle(plan=Plan.objects.get(pk=payload["plan_id"]), actor=actor, external_ref=payload["external_ref"])


def _write_off_snapshot(payload: dict) -> dict:
    """A write-off is stale once the account was written off or the customer paid since it was asked."""
    account = CreditAccount.objects.filter(pk=payload["account_id"]).values("written_off_on").first() or {}
    last = Repayment.objects.filter(account_id=payload["account_id"]).order_by("-pk").values_list("pk", flat=True).first()
    return {"written_off_on": str(account.get("written_off_on")), "last_repayment": last}


def _refund_snapshot(payload: dict) -> dict:
    """A refund is stale once the purchase was refunded (by anyone, the storefront included) since."""
    refunded = Purchase.objects.filter(pk=payload["purchase_id"]).values_list("refunded_amount", flat=True).first()
    return {"refunded_amount": str(refunded)}


def _settlement_snapshot(payload: dict) -> dict:
    """A settlement is stale once the plan is no longer active or its quote moved (a repayment, a day's fees)."""
    plan = Plan.objects.filter(pk=payload["plan_id"]).first()
    if plan is None or plan.status != Plan.Status.ACTIVE:
        return {"status": getattr(plan, "status", None), "quote": None}
    return {"status": plan.status, "quote": str(plan_settlement_quote(plan=plan).total)}


#: Floors in code (PRODUCT §12): configuration may lower these thresholds, never raise them above this.
WAIVER_AMOUNT_CEILING, WAIVER_MAKER_DAY_CEILING = Decimal("2000.00"), Decimal("10000.00")
REFUND_AMOUNT_CEILING, REFUND_MAKER_DAY_CEILING = Decimal("20000.00"), Decimal("50000.00")
REPAYMENT_AMOUNT_CEILING, REPAYMENT_MAKER_DAY_CEILING, REPAYMENT_DAYS_CEILING = (
    Decimal("20000.00"), Decimal("50000.00"), 7)


def register_approval_kinds() -> None:
    """Called from ``InstallmentsConfig.ready()``. Defaults: waivers adding up to more than ¥500.00 on an
    account in 30 days (or ¥2,000.00 by one maker in a day), every write-off by hand (always, a floor),
    refunds by staff adding up to more than ¥5,000.00 (¥20,000.00 per maker per day), a repayment
    entered by staff above ¥5,000.00 or received more than 3 days before it is posted (issue 23 item 6).
    A plan settled early by staff is a repayment entered by hand: the same rules."""
    register_kind(ApprovalKind(WAIVER_KIND, "Fee waiver", "installments.waive_fee", _execute_waiver,
                               amount_above=Decimal("500.00"), group="waiver", maker_day_above=Decimal("2000.00"),
                               amount_ceiling=WAIVER_AMOUNT_CEILING, maker_day_ceiling=WAIVER_MAKER_DAY_CEILING))
    register_kind(ApprovalKind(WRITE_OFF_KIND, "Write-off by hand", "installments.write_off_account", _execute_write_off,
                               amount_above=Decimal("0.00"), always_waits=True, amount_ceiling=Decimal("0.00"),
                               snapshot=_write_off_snapshot))
    register_kind(ApprovalKind(REFUND_KIND, "Refund by staff", "installments.refund_purchase", _execute_refund,
                               amount_above=Decimal("5000.00"), group="refund", maker_day_above=Decimal("20000.00"),
                               amount_ceiling=REFUND_AMOUNT_CEILING, maker_day_ceiling=REFUND_MAKER_DAY_CEILING,
                               snapshot=_refund_snapshot))
    for key, label, permission, execute, snapshot in (
        (MANUAL_REPAYMENT_KIND, "Repayment entered by staff", "installments.post_repayment", _execute_manual_repayment,
         None),
        (PLAN_SETTLEMENT_KIND, "Plan settled early by staff", "installments.settle_plan", _execute_plan_settlement,
         _settlement_snapshot),
    ):
        register_kind(ApprovalKind(key, label, permission, execute,
                                   amount_above=Decimal("5000.00"), group="manual_repayment",
                                   maker_day_above=Decimal("20000.00"), days_above=3,
                                   amount_ceiling=REPAYMENT_AMOUNT_CEILING, maker_day_ceiling=REPAYMENT_MAKER_DAY_CEILING,
                                   days_ceiling=REPAYMENT_DAYS_CEILING, snapshot=snapshot))


def fee_waiver_submit(*, account: CreditAccount, kind: str, amount: Decimal | None = None,
                      statement: Statement | None = None, actor: Actor, reason: str) -> Submitted:
    """The amount is fixed when the waiver is asked for (all that is open now, when not given): a
    checker approves exactly that amount, never fees that accrued since."""
    if amount is None:
        amount = waivable_total(account_id=account.pk, kind=kind, statement=statement)
        if amount <= 0:
            raise BusinessRuleError("There are no open fees of this kind to waive.", code="nothing_to_waive")
    amount = positive_money(amount)
    account = CreditAccount.objects.get(pk=account.pk)
    return approval_submit(
        kind=WAIVER_KIND, payload={"account_id": account.pk, "kind": kind, "amount": str(amount),
                                   "statement_id": statement.pk if statement else None, "reason": reason},
        amount=amount, base=None, target=account, actor=actor, reason=reason,
        summary=f"Waive {amount} of {dict(Waiver.Kind.choices).get(kind, kind).lower()} of {account.reference}",
        before=waivable_total(account_id=account.pk, kind=kind, statement=statement),
        after=waivable_total(account_id=account.pk, kind=kind, statement=statement) - amount,
    )


def write_off_submit(*, account: CreditAccount, actor: Actor, reason: str) -> Submitted:
    account = CreditAccount.objects.get(pk=account.pk)
    return approval_submit(
        kind=WRITE_OFF_KIND, payload={"account_id": account.pk, "reason": reason}, amount=account.used_amount,
        base=None, target=account, actor=actor, reason=reason,
        summary=f"Write off {account.reference} (used {account.used_amount}, DPD {account.dpd})",
        before=account.used_amount, after=ZERO,
    )


def refund_submit(*, purchase: Purchase, amount: Decimal, actor: Actor, reason: str,
                  excess_to: str = Refund.ExcessTo.CREDIT_BALANCE) -> Submitted:
    amount = positive_money(amount)
    return approval_submit(
        kind=REFUND_KIND, payload={"purchase_id": purchase.pk, "amount": str(amount), "reason": reason,
                                   "excess_to": excess_to},
        amount=amount, base=None, target=purchase, actor=actor, reason=reason, account=purchase.account_id,
        summary=f"Refund {amount} of {purchase.reference} ({purchase.merchant_order_id})",
        before=purchase.amount - purchase.refunded_amount, after=purchase.amount - purchase.refunded_amount - amount,
    )


def repayment_manual_submit(*, account: CreditAccount, amount: Decimal, external_ref: str, channel: str,
                            received_on: dt.date | None = None, actor: Actor) -> Submitted:
    """A repayment entered by a person (the admin's "post a repayment"): applied at once within the
    thresholds, else it waits for a second person — above the amount (adding up per account over 30
    days and per maker per day) or received more than N days before today (issue 23 item 6). A
    payment provider's API call (a system actor) posts through ``repayment_post`` as before; bank files
    are confirmed as a whole (``staff``'s bank-file import)."""
    amount = positive_money(amount)
    account = CreditAccount.objects.get(pk=account.pk)
    today = get_business_date()
    days_back = (today - received_on).days if received_on else 0
    return approval_submit(
        kind=MANUAL_REPAYMENT_KIND,
        payload={"account_id": account.pk, "amount": str(amount), "external_ref": (external_ref or "").strip(),
                 "channel": channel, "received_on": received_on.isoformat() if received_on else None},
        amount=amount, base=None, target=account, actor=actor, days_back=days_back,
        reason=f"repayment {external_ref} entered by hand", before=account.used_amount,
        after=max(account.used_amount - amount, ZERO),
        summary=f"Repayment {amount} to {account.reference} ({channel}, {external_ref}, received "
                f"{(received_on or today).isoformat()})",
    )


def plan_settlement_submit(*, plan: Plan, external_ref: str, actor: Actor) -> Submitted:
    """Staff record that the customer paid a plan's early-settlement quote: a repayment entered by hand,
    under the same rules as :func:`repayment_manual_submit` (stale if the plan changed since)."""
    plan = Plan.objects.select_related("account").get(pk=plan.pk)
    quote = plan_settlement_quote(plan=plan).total
    return approval_submit(
        kind=PLAN_SETTLEMENT_KIND, payload={"plan_id": plan.pk, "external_ref": external_ref or "", "quote": str(quote)},
        amount=quote, base=None, target=plan, actor=actor, account=plan.account_id,
        reason=f"early settlement {external_ref or plan.reference} entered by hand",
        summary=f"Settle plan {plan.reference} of {plan.account.reference} early: {quote}",
        before=plan.account.used_amount, after=max(plan.account.used_amount - quote, ZERO),
    )
