"""Early settlement of a plan (PRODUCT §5): quote and settle under the product's policy; same day is free."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from accounts.services import lock_account
from approvals.gate import gate_required
from core.actors import Actor
from core.business_date import get_business_date
from core.errors import BusinessRuleError, ValidationError
from core.money import ZERO
from installments.calc import SettlementPolicy, SettlementQuote, settlement_quote
from installments.hooks import plan_event
from installments.cash_calc import DAYS_PER_PERIOD, accrued_interest
from installments.models import Adjustment, Allocation, Plan, Repayment, ScheduleLine
from installments.services.common import apply_account_deltas, get_terms, plan_codes
from ledger.models import Codes, JournalEntry
from ledger.services import Cr, Dr, journal_post


@dataclass(frozen=True)
class PlanSettlement:
    """A settlement quote with what it is made of, for the screens and the API."""

    quote: SettlementQuote
    same_day: bool
    policy: str
    billed_fee_waived: Decimal
    future_fees_waived: Decimal
    cash_owed: dict | None = None  # a cash loan: the interest each open line still owes (line pk → amount)

    @property
    def total(self) -> Decimal:
        return self.quote.total


def _parts(plan: Plan, lines: list[ScheduleLine], today) -> PlanSettlement:
    terms = get_terms(plan.account.product_id)
    policy = terms.settlement_policy
    same_day = plan.created_on == today
    billed = [line for line in lines if line.billed_on]
    pending = [line for line in lines if not line.billed_on]
    billed_principal = sum((line.principal_open for line in billed), ZERO)
    billed_fee = sum((line.fee_open for line in billed), ZERO)
    remaining_principal = sum((line.principal_open for line in pending), ZERO)
    next_fee = min(pending, key=lambda line: line.period).fee_open if pending else ZERO
    owed: dict[int, Decimal] = {}
    if plan.kind == Plan.Kind.CASH_LOAN:  # issue 25: interest to the repayment date only, billed or not
        policy = SettlementPolicy.CHARGE_NEXT_FEE.value
        owed = cash_interest_owed(plan, lines, today)
        billed_fee = sum((owed[line.pk] for line in billed), ZERO)
        next_fee = sum((owed[line.pk] for line in pending), ZERO)
        same_day = same_day and not billed_fee  # nothing accrues on the drawdown day
    quote = settlement_quote(
        remaining_principal=remaining_principal,
        billed_unpaid=billed_principal + (ZERO if same_day else billed_fee),
        next_period_fee=next_fee, policy=policy, same_day=same_day,
    )
    if owed:
        return PlanSettlement(quote=quote, same_day=same_day, policy=policy, billed_fee_waived=ZERO,
                              future_fees_waived=sum((line.fee_open for line in lines), ZERO) - sum(owed.values(), ZERO),
                              cash_owed=owed)
    return PlanSettlement(
        quote=quote, same_day=same_day, policy=policy,
        billed_fee_waived=billed_fee if same_day else ZERO,
        future_fees_waived=sum((line.fee_open for line in pending), ZERO) - quote.fee,
    )


def cash_interest_owed(plan: Plan, lines: list[ScheduleLine], today) -> dict[int, Decimal]:
    """What each open line of a cash loan owes in interest if it is repaid ``today`` (PRODUCT §13, issue 25):
    a line past its due date its whole interest; the current period (the first line due on or after today)
    its interest less the interest of the days not used (outstanding principal × daily rate × days from today
    to its due date) — the interest accrued to the day, whether the line is billed or not; a later line none.
    The plan's ``fee_rate`` is the monthly equivalent, daily × 30 (``installments.cash_calc``)."""
    owed: dict[int, Decimal] = {}
    current = next((line for line in lines if line.due_date >= today), None)
    daily = plan.fee_rate / DAYS_PER_PERIOD
    for line in lines:
        if line.due_date < today:
            owed[line.pk] = line.fee_open
        elif line is current:
            outstanding = sum((x.principal_open for x in lines if x.period >= line.period), ZERO)
            unearned = accrued_interest(outstanding, daily, today, line.due_date)
            owed[line.pk] = min(max(line.fee - line.fee_waived - unearned - line.fee_paid, ZERO), line.fee_open)
        else:
            owed[line.pk] = ZERO
    return owed


def _open_lines(plan: Plan) -> list[ScheduleLine]:
    return list(plan.lines.filter(status__in=ScheduleLine.OPEN).order_by("period"))


def plan_settlement_quote(*, plan: Plan) -> PlanSettlement:
    """What settling ``plan`` today costs: unbilled principal + billed unpaid amounts + the policy's fee
    (none on the day the plan was created, when billed fees are waived as well)."""
    if plan.status != Plan.Status.ACTIVE:
        raise BusinessRuleError("Only an active plan can be settled.", code="plan_not_active")
    return _parts(plan, _open_lines(plan), get_business_date())


@transaction.atomic
def plan_settle(*, plan: Plan, actor: Actor, external_ref: str = "", channel: str = Repayment.Channel.SETTLEMENT,
                paid_from: str = Codes.CASH) -> Repayment:
    """Settle a plan early: the customer pays the quote (recorded as a settlement repayment), every open
    line is closed, future fees are waived (or the next period's fee charged, by policy).

    ``paid_from`` is the ledger account debited for the money (cash; an insurance claim settles a plan
    from the insurer's claim receivable, issue 16). A person records the customer's payment through the
    approvals gate (``plan_settlement_submit``): it is a repayment entered by hand."""
    gate_required(actor, what="Settling a plan early")
    account = lock_account(plan.account_id)
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    if plan.status != Plan.Status.ACTIVE:
        raise BusinessRuleError("Only an active plan can be settled.", code="plan_not_active")
    if account.written_off_on:
        raise BusinessRuleError("The account is written off.", code="account_written_off")
    if plan.kind == Plan.Kind.REVOLVING:
        raise BusinessRuleError("A revolving purchase is repaid, not settled.", code="plan_not_installment")
    today = get_business_date()
    principal_code, fee_code, income_code = plan_codes(plan.kind)
    lines = _open_lines(plan)
    parts = _parts(plan, lines, today)
    if parts.total <= 0:
        raise BusinessRuleError("Nothing is left to settle on this plan.", code="nothing_to_settle")
    n = Repayment.objects.filter(plan=plan, kind=Repayment.Kind.SETTLEMENT).count()
    ref = (external_ref or "").strip() or f"settle-{plan.reference}" + (f"-{n + 1}" if n else "")
    if Repayment.objects.filter(external_ref=ref).exists():
        raise ValidationError("This external reference is already used.", code="external_ref_conflict")
    repayment = Repayment.objects.create(
        account=account, amount=parts.total, external_ref=ref, channel=channel, kind=Repayment.Kind.SETTLEMENT,
        received_on=today, posted_on=today, plan=plan, **actor.log_fields(),
    )
    source = f"repayment:{repayment.reference}"
    all_legs = []
    allocations, adjustments = [], []
    paid_principal = paid_fee = ZERO
    waived_billed = ZERO
    charge_next = not parts.same_day and parts.quote.fee > 0 and parts.cash_owed is None
    next_line = min((line for line in lines if not line.billed_on), key=lambda line: line.period, default=None)
    if parts.cash_owed is not None:  # a cash loan: interest to the day, the rest of every period's waived
        for line in lines:
            owe = parts.cash_owed[line.pk]
            if owe and not line.billed_on:
                line.billed_on = today
                adjustments.append(Adjustment(line=line, kind=Adjustment.Kind.EARLY_BILLING, fee=owe, repayment=repayment,
                                              on_date=today))
                legs = [Dr(fee_code, owe, account.pk), Cr(income_code, owe)]
                journal_post(kind=JournalEntry.Kind.FEE_BILLED, on=today, legs=legs,
                             memo="Settlement: interest accrued to the day", source=source, actor=actor)
                all_legs += legs
                unearned = line.fee_open - owe
                adjustments.append(Adjustment(line=line, kind=Adjustment.Kind.SETTLEMENT_WAIVER, fee=unearned,
                                              was_billed=False, repayment=repayment, on_date=today))
                line.fee_waived += unearned
            elif line.fee_open > owe:
                unearned = line.fee_open - owe
                was_billed = bool(line.billed_on)
                adjustments.append(Adjustment(line=line, kind=Adjustment.Kind.SETTLEMENT_WAIVER, fee=unearned,
                                              was_billed=was_billed, repayment=repayment, on_date=today))
                line.fee_waived += unearned
                if was_billed:
                    waived_billed += unearned
    if charge_next:
        fee = parts.quote.fee  # the next period's fee; a cash loan's interest accrued so far
        next_line.billed_on = today
        adjustments.append(Adjustment(line=next_line, kind=Adjustment.Kind.EARLY_BILLING, fee=fee, repayment=repayment, on_date=today))
        legs = [Dr(fee_code, fee, account.pk), Cr(income_code, fee)]
        journal_post(kind=JournalEntry.Kind.FEE_BILLED, on=today, legs=legs, memo="Settlement: next period's fee",
                     source=source, actor=actor)
        all_legs += legs
    for line in lines:
        fee_open = line.fee_open
        if charge_next and line is next_line and fee_open > fee:  # a cash loan: the unearned interest is waived
            unearned = fee_open - fee
            adjustments.append(Adjustment(line=line, kind=Adjustment.Kind.SETTLEMENT_WAIVER, fee=unearned,
                                          was_billed=False, repayment=repayment, on_date=today))
            line.fee_waived += unearned
            fee_open = fee
        if fee_open:
            if line.billed_on and (not parts.same_day or parts.cash_owed is not None):
                allocations.append(Allocation(account=account, source=Allocation.Source.REPAYMENT, repayment=repayment,
                                              line=line, kind=Allocation.Kind.INSTALLMENT_FEE, amount=fee_open, on_date=today))
                line.fee_paid += fee_open
                paid_fee += fee_open
            else:
                was_billed = bool(line.billed_on)
                adjustments.append(Adjustment(line=line, kind=Adjustment.Kind.SETTLEMENT_WAIVER, fee=fee_open,
                                              was_billed=was_billed, repayment=repayment, on_date=today))
                line.fee_waived += fee_open
                if was_billed:
                    waived_billed += fee_open
        principal_open = line.principal_open
        if principal_open:
            allocations.append(Allocation(account=account, source=Allocation.Source.REPAYMENT, repayment=repayment,
                                          line=line, kind=Allocation.Kind.PRINCIPAL, amount=principal_open, on_date=today))
            line.principal_paid += principal_open
            paid_principal += principal_open
        line.status = ScheduleLine.Status.CLOSED
        line.closed_on = today
        line.save(update_fields=["fee_paid", "fee_waived", "principal_paid", "status", "closed_on", "billed_on"])
    if waived_billed:
        legs = [Dr(income_code, waived_billed), Cr(fee_code, waived_billed, account.pk)]
        journal_post(kind=JournalEntry.Kind.WAIVER, on=today, legs=legs, memo="Settlement: billed fees waived",
                     source=source, actor=actor)
        all_legs += legs
    if paid_principal + paid_fee != parts.total:  # pragma: no cover - the quote is made of exactly these parts
        raise BusinessRuleError("Settlement does not add up.", code="settlement_mismatch")
    legs = [Dr(paid_from, parts.total), Cr(principal_code, paid_principal, account.pk),
            Cr(fee_code, paid_fee, account.pk)]
    entry = journal_post(kind=JournalEntry.Kind.SETTLEMENT, on=today, legs=legs, memo=f"Early settlement of {plan.reference}",
                         source=source, actor=actor)
    all_legs += legs
    Allocation.objects.bulk_create(allocations)
    Adjustment.objects.bulk_create(adjustments)
    repayment.journal_entry = entry
    repayment.save(update_fields=["journal_entry"])
    plan.status = Plan.Status.SETTLED
    plan.closed_on = today
    plan.save(update_fields=["status", "closed_on"])
    apply_account_deltas(account, all_legs)
    if paid_from == Codes.CASH:  # a claim's settlement is followed by the claim itself
        plan_event(plan=plan, event="settled", actor=actor, on=today)
    repayment.is_replay = False
    return repayment
