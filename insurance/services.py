"""Consumer-credit insurance services (issue 16): sell a policy with a plan, bill premiums with the
installments (set-based, inside statement generation), cancel (refund in the cooling-off period), and pay
a claim under four eyes from the insurer's account.

Journal (ledger codes in ``ledger.models.Codes``):

* premium billed: Dr 1140 premium receivable (customer) / Cr 2300 premium payable to the insurer;
* premium paid by the customer: an ordinary repayment allocation (Cr 1140);
* cancellation in the cooling-off period: Dr 2300 / Cr 1140 (billed, unpaid: no longer owed) and
  Dr 2300 / Cr 2100 customer credit balance (already paid: refunded);
* claim paid: Dr 1300 insurer claim receivable / Cr 1100 principal, Cr 1110 fees (the plan's early
  settlement, paid by the insurer), and the policy's unpaid premiums netted with the insurer
  (Dr 2300 / Cr 1140).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction

from accounts.services import lock_account
from approvals.registry import ApprovalKind, register_kind
from approvals.services import Submitted, approval_needed, approval_submit, approved_reason
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import BusinessRuleError, NotFoundError, ValidationError
from core.money import ZERO, money
from installments import calc
from installments.models import Charge, Plan, ProductTerms, ScheduleLine, Statement, StatementLine, StatementVersion
from installments.services.statements import statement_amend
from installments.services.common import apply_account_deltas, get_terms, require_reason
from installments.services.settlements import plan_settle, plan_settlement_quote
from insurance.models import InsuranceClaim, InsurancePolicy, InsuranceProduct, InsurerRemittance, RemittanceLine
from ledger.models import Codes, JournalEntry
from ledger.services import Cr, Dr, journal_entry_open, journal_post, journal_post_select

ADD_ON = "insurance"
CLAIM_KIND = "insurance.claim_pay"
INSTALLMENT_KINDS = (Plan.Kind.PURCHASE_INSTALLMENT, Plan.Kind.BILL_INSTALLMENT)


# --- pricing ---------------------------------------------------------------------------------------


def insurance_product_for(credit_product_id: int) -> InsuranceProduct:
    """The active insurance product sold with plans of a credit product (its own first, else the general one)."""
    product = (InsuranceProduct.objects.filter(is_active=True, credit_product_id=credit_product_id).order_by("pk").first()
               or InsuranceProduct.objects.filter(is_active=True, credit_product__isnull=True).order_by("pk").first())
    if product is None:
        raise BusinessRuleError("No consumer-credit insurance is offered with this product.", code="insurance_unavailable")
    return product


def premium_per_period(principal: Decimal, rate: Decimal) -> Decimal:
    """The premium of every period: the plan's principal × the product's rate, rounded to the cent."""
    return money(principal * rate)


def apr_with_premium(*, principal: Decimal, lines, premium: Decimal) -> calc.Apr:
    """The APR by IRR of the installments plus the premium of every period (PBoC 2021 No. 3)."""
    return calc.apr(principal, [line.total + premium for line in lines])


def quote_insurance(*, principal: Decimal, tenor: int, terms: ProductTerms, quote: calc.Quote) -> dict:
    """The insurance figures of a quote: premium per period and in total, what a period costs with it, and
    the APR with the premium (which is the plan's APR when the insurance is a condition of the credit)."""
    product = insurance_product_for(terms.product_id)
    premium = premium_per_period(principal, product.premium_rate)
    with_premium = apr_with_premium(principal=principal, lines=quote.lines, premium=premium)
    return {
        "product": product.code, "insurer": product.insurer, "premium_rate": product.premium_rate,
        "premium_per_period": premium, "total_premium": premium * tenor,
        "payment_per_period": quote.payment_per_period + premium, "last_payment": quote.last_payment + premium,
        "apr_nominal": with_premium.nominal_pct, "apr_effective": with_premium.effective_pct,
        "condition_of_credit": product.condition_of_credit, "cooling_off_days": product.cooling_off_days,
    }


def policy_describe(plan: Plan) -> dict | None:
    try:
        policy = plan.insurance_policy  # joined by the API's plan reads (no query more)
    except InsurancePolicy.DoesNotExist:
        return None
    return {"id": policy.reference, "status": policy.status, "premium_per_period": policy.premium_per_period,
            "total_premium": policy.total_premium, "cooling_off_until": policy.cooling_off_until,
            "condition_of_credit": policy.condition_of_credit}


# --- selling a policy --------------------------------------------------------------------------------


def policy_attach(*, plan: Plan, actor: Actor) -> InsurancePolicy:
    """Insure a new installment plan (called inside the transaction that created it). When the insurance is
    a condition of the credit the plan's APR becomes the APR with the premium (refused above the ceiling).
    A bill installment's first period is billed at once, so its first premium is too."""
    if plan.kind not in INSTALLMENT_KINDS:
        raise BusinessRuleError("Insurance is sold with installment plans only.", code="add_on_needs_installment")
    if InsurancePolicy.objects.filter(plan=plan).exists():
        raise BusinessRuleError("This plan is already insured.", code="already_insured")
    terms = get_terms(plan.account.product_id)
    product = insurance_product_for(terms.product_id)
    premium = premium_per_period(plan.principal, product.premium_rate)
    if premium <= 0:
        raise BusinessRuleError("The premium of this plan would be 0.00.", code="insurance_premium_zero")
    today = get_business_date()
    if product.condition_of_credit:
        q = calc.quote(plan.principal, plan.tenor, plan.fee_rate)
        with_premium = apr_with_premium(principal=plan.principal, lines=q.lines, premium=premium)
        if 12 * with_premium.monthly_irr > terms.apr_ceiling:
            raise BusinessRuleError(
                f"With the insurance premium the APR would be {with_premium.nominal_pct} %, above the "
                f"{terms.apr_ceiling * 100:.2f} % ceiling.", code="apr_above_ceiling",
                details={"apr_nominal_pct": str(with_premium.nominal_pct)})
        plan.apr_nominal_pct, plan.apr_effective_pct = with_premium.nominal_pct, with_premium.effective_pct
        plan.save(update_fields=["apr_nominal_pct", "apr_effective_pct", "updated_at"])
    policy = InsurancePolicy.objects.create(
        plan=plan, account_id=plan.account_id, product=product, premium_rate=product.premium_rate,
        premium_per_period=premium, periods=plan.tenor, condition_of_credit=product.condition_of_credit,
        start_date=today, cooling_off_until=today + dt.timedelta(days=product.cooling_off_days),
    )
    if plan.kind == Plan.Kind.BILL_INSTALLMENT:
        _bill_first_premium(policy, today, actor)
    audit_record(actor=actor, action="insurance_policy_create", obj=policy,
                 new={"plan": plan.reference, "product": product.code, "premium_per_period": str(premium)})
    return policy


def _bill_first_premium(policy: InsurancePolicy, today: dt.date, actor: Actor) -> None:
    """A bill installment's first period is billed onto its statement when it is made: so is its premium,
    and the statement's amounts follow (premiums, fees due, closing balance, minimum payment)."""
    billed = list(ScheduleLine.objects.filter(plan_id=policy.plan_id, billed_on__isnull=False).select_related("statement"))
    if not billed:
        return
    statement = Statement.objects.select_for_update().get(pk=billed[0].statement_id)
    amount = policy.premium_per_period * len(billed)
    charge = Charge.objects.create(
        account_id=policy.account_id, kind=Charge.Kind.PREMIUM, accrued_on=statement.bill_date - dt.timedelta(days=1),
        base_amount=policy.plan.principal, amount=amount, statement=statement, plan_id=policy.plan_id,
    )
    legs = [Dr(Codes.RECEIVABLE_PREMIUM, amount, policy.account_id), Cr(Codes.PREMIUM_PAYABLE, amount)]
    entry = journal_post(kind=JournalEntry.Kind.PREMIUM_BILLED, on=today, legs=legs,
                         memo=f"Insurance premium of {policy.plan.reference}", source=f"insurance:{policy.reference}",
                         actor=actor)
    Charge.objects.filter(pk=charge.pk).update(journal_entry=entry)
    apply_account_deltas(policy.account, legs)
    closing = statement.lines.filter(kind=StatementLine.Kind.CLOSING).first()
    statement_amend(  # one home for amending an issued statement (PRODUCT §13)
        statement=statement, deltas={"premiums": amount, "fees_due": amount, "closing_balance": amount},
        because=f"insurance premium of {policy.plan.reference} billed with the bill installment",
        cause=StatementVersion.Cause.ADD_ON, on=today, actor=actor,
        lines=[StatementLine(statement=statement, position=(closing.position if closing else 90) - 1,
                             kind=StatementLine.Kind.PREMIUM, on_date=today,
                             description=f"Insurance premium of {policy.plan.reference}", fee=amount, amount=amount,
                             ref=policy.reference)])


# --- billing (close of business) -----------------------------------------------------------------------


def premiums_bill(*, on: dt.date, drafts: str, params: list) -> int:
    """Bill the premium of every active policy whose plan had an installment billed on the statements being
    generated (``drafts``: SQL selecting their ids): one premium charge per plan and cycle, dated the day
    before the bill date (so it is part of this statement like the cycle's other charges), journalled
    Dr premium receivable / Cr premium payable, and added to the account's used amount. Set-based."""
    from core.sql import cents as _cents, date as _date, execute as _exec, from_cents as _from_cents
    from core.sql import money as _money, now as _now
    from installments.daily import SYSTEM, T_ACC, T_CHG, T_LINE, T_PLAN

    T_POL = InsurancePolicy._meta.db_table
    if not InsurancePolicy.objects.filter(status=InsurancePolicy.Status.ACTIVE).exists():
        return 0  # nothing insured: no journal entry opened (and deleted) on every bill day
    accrued = _date(on - dt.timedelta(days=1))
    entry = journal_entry_open(kind=JournalEntry.Kind.PREMIUM_BILLED, on=on, memo=f"Insurance premiums billed {on}",
                               source=f"cob:premiums:{on}", actor=SYSTEM)
    inserted = _exec(
        f"""INSERT INTO {T_CHG} (account_id, kind, accrued_on, days, base_amount, amount, paid, waived, written_off,
                                 statement_id, overdue_from, plan_id, journal_entry_id, created_at)
            SELECT l.account_id, 'premium', %s, 1, pl.principal,
                   {_from_cents(f"{_cents('p.premium_per_period')} * COUNT(*)")}, 0, 0, 0,
                   l.statement_id, NULL, l.plan_id, %s, %s
            FROM {T_LINE} l JOIN {T_POL} p ON p.plan_id = l.plan_id JOIN {T_PLAN} pl ON pl.id = l.plan_id
            WHERE l.statement_id IN ({drafts}) AND l.billed_on = %s AND p.status = 'active'
              AND {_cents('p.premium_per_period')} > 0
              AND NOT EXISTS (SELECT 1 FROM {T_CHG} c WHERE c.plan_id = l.plan_id AND c.kind = 'premium'
                              AND c.accrued_on = %s)
            GROUP BY l.account_id, l.plan_id, l.statement_id, pl.principal, p.premium_per_period""",
        [accrued, entry.pk, _now(), *params, _date(on), accrued],
    )
    if not inserted:
        entry.delete()
        return 0
    journal_post_select(
        kind=entry.kind, on=on, entry=entry, balance=(Codes.PREMIUM_PAYABLE, "credit"),
        selects=[(f"""SELECT '{Codes.RECEIVABLE_PREMIUM}' AS ledger_account_id, c.account_id AS credit_account_id,
                             {_money('SUM(c.amount)')} AS debit, 0 AS credit
                      FROM {T_CHG} c WHERE c.journal_entry_id = %s GROUP BY c.account_id""", [entry.pk])],
    )
    _exec(
        f"""UPDATE {T_ACC} SET used_amount = {_money(f'{T_ACC}.used_amount + x.amount')}
            FROM (SELECT c.account_id, SUM(c.amount) AS amount FROM {T_CHG} c WHERE c.journal_entry_id = %s
                  GROUP BY c.account_id) x
            WHERE {T_ACC}.id = x.account_id""",
        [entry.pk],
    )
    return inserted


# --- cancellation ------------------------------------------------------------------------------------------


def _lock_policy(policy: InsurancePolicy) -> InsurancePolicy:
    lock_account(policy.account_id)
    return InsurancePolicy.objects.select_for_update().select_related("plan", "account", "product").get(pk=policy.pk)


def _open_premiums(policy: InsurancePolicy) -> list[Charge]:
    return list(Charge.objects.select_for_update().filter(plan_id=policy.plan_id, kind=Charge.Kind.PREMIUM).order_by("pk"))


@transaction.atomic
def policy_cancel(*, policy: InsurancePolicy, actor: Actor, reason: str) -> InsurancePolicy:
    """Cancel a policy: no premium is billed after today. Within the cooling-off period (until
    ``cooling_off_until`` inclusive) every premium is refunded as well: billed and unpaid ones are no longer
    owed, paid ones go to the customer's credit balance (which pays the next bill)."""
    reason = require_reason(reason)
    policy = _lock_policy(policy)
    if policy.status != InsurancePolicy.Status.ACTIVE:
        raise BusinessRuleError(f"The policy is {policy.get_status_display().lower()}, not active.",
                                code="policy_not_active", details={"status": policy.status})
    today = get_business_date()
    refunded = waived = ZERO
    within = today <= policy.cooling_off_until
    if within:
        for charge in _open_premiums(policy):
            unpaid = charge.open_amount
            if unpaid > 0:
                Charge.objects.filter(pk=charge.pk).update(waived=money(charge.waived + unpaid))
                waived += unpaid
            refunded += charge.paid
        legs = [Dr(Codes.PREMIUM_PAYABLE, waived + refunded), Cr(Codes.RECEIVABLE_PREMIUM, waived, policy.account_id),
                Cr(Codes.CUSTOMER_CREDIT, refunded, policy.account_id)]
        journal_post(kind=JournalEntry.Kind.PREMIUM_REFUND, on=today, legs=legs,
                     memo=f"Insurance {policy.reference} cancelled in the cooling-off period",
                     source=f"insurance:{policy.reference}", actor=actor)
        apply_account_deltas(policy.account, legs)
        if policy.condition_of_credit:  # never insured: the plan's APR is the one without premium again
            q = calc.quote(policy.plan.principal, policy.plan.tenor, policy.plan.fee_rate)
            Plan.objects.filter(pk=policy.plan_id).update(apr_nominal_pct=q.apr.nominal_pct,
                                                          apr_effective_pct=q.apr.effective_pct)
    old = policy.status
    policy.status, policy.cancelled_on, policy.ended_on = InsurancePolicy.Status.CANCELLED, today, today
    policy.cancel_reason, policy.refunded_amount, policy.waived_amount = reason, refunded, waived
    policy.save(update_fields=["status", "cancelled_on", "ended_on", "cancel_reason", "refunded_amount",
                               "waived_amount", "updated_at"])
    audit_record(actor=actor, action="insurance_policy_cancel", obj=policy, reason=reason, old=old,
                 new={"status": policy.status, "within_cooling_off": within, "refunded": str(refunded),
                      "waived": str(waived)})
    return policy


# --- following the plan (issue 25 item 3) ------------------------------------------------------------------


def policy_follow_plan(*, plan: Plan, event: str, actor: Actor, on: dt.date, **details) -> None:
    """The engine's plan listener (inside its transaction). A refund that leaves principal owed prorates the
    premium like the fee: the premium of every period still to bill becomes the rate × the principal left, and
    billed unpaid premiums shrink by the refunded share. A full refund or an early settlement cancels the
    policy with the refund its terms give (``policy_cancel``: every premium within the cooling-off period, else
    no premium after today)."""
    policy = InsurancePolicy.objects.filter(plan_id=plan.pk, status=InsurancePolicy.Status.ACTIVE).first()
    if policy is None:
        return
    if event == "refunded" and details.get("principal_after", ZERO) > 0:
        _premium_prorate(policy, before=details["principal_before"], after=details["principal_after"], actor=actor, on=on)
    elif event in ("refunded", "settled"):
        why = "purchase fully refunded" if event == "refunded" else "plan settled early"
        policy_cancel(policy=policy, actor=actor, reason=f"{why} ({plan.reference})")


def _premium_prorate(policy: InsurancePolicy, *, before: Decimal, after: Decimal, actor: Actor, on: dt.date) -> None:
    policy = _lock_policy(policy)
    old = policy.premium_per_period
    new = premium_per_period(after, policy.premium_rate)
    waived = ZERO
    for charge in _open_premiums(policy):
        unpaid = charge.open_amount
        cut = money(unpaid * (before - after) / before) if unpaid > 0 else ZERO
        if cut > 0:
            Charge.objects.filter(pk=charge.pk).update(waived=money(charge.waived + cut))
            waived += cut
    if waived:
        legs = [Dr(Codes.PREMIUM_PAYABLE, waived), Cr(Codes.RECEIVABLE_PREMIUM, waived, policy.account_id)]
        journal_post(kind=JournalEntry.Kind.PREMIUM_REFUND, on=on, legs=legs,
                     memo=f"Insurance {policy.reference}: premium prorated on a refund", source=f"insurance:{policy.reference}",
                     actor=actor)
        apply_account_deltas(policy.account, legs)
    policy.premium_per_period, policy.waived_amount = new, policy.waived_amount + waived
    policy.save(update_fields=["premium_per_period", "waived_amount", "updated_at"])
    audit_record(actor=actor, action="insurance_premium_prorate", obj=policy, old=str(old),
                 new={"premium_per_period": str(new), "billed_waived": str(waived)})


def policies_follow_write_offs(*, on: dt.date, account_ids=None) -> int:
    """Close-of-business step after the write-offs: every active policy of a written-off plan is cancelled and
    the insurer's share of its written-off premiums is reversed (Dr 2300 premium payable / Cr 5000 credit loss:
    the lender does not owe the insurer premiums it never collected). Idempotent: a cancelled policy is done."""
    from core.actors import Actor as _A

    system = _A.system("insurance.follow_write_offs")
    policies = InsurancePolicy.objects.filter(status=InsurancePolicy.Status.ACTIVE, plan__status=Plan.Status.WRITTEN_OFF)
    if isinstance(account_ids, range):  # close of business's chunk
        policies = policies.filter(account_id__gte=account_ids.start, account_id__lt=account_ids.stop)
    elif account_ids is not None:
        policies = policies.filter(account_id__in=list(account_ids))
    done = 0
    for policy_id in policies.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            policy = _lock_policy(InsurancePolicy.objects.get(pk=policy_id))
            if policy.status != InsurancePolicy.Status.ACTIVE:
                continue
            written = sum((c.written_off for c in _open_premiums(policy)), ZERO)
            if written:
                legs = [Dr(Codes.PREMIUM_PAYABLE, written), Cr(Codes.CREDIT_LOSS, written)]
                journal_post(kind=JournalEntry.Kind.WRITE_OFF, on=on, legs=legs,
                             memo=f"Insurance {policy.reference}: insurer's share of written-off premiums reversed",
                             source=f"insurance:{policy.reference}", actor=system)
            policy.status, policy.cancelled_on, policy.ended_on = InsurancePolicy.Status.CANCELLED, on, on
            policy.cancel_reason, policy.waived_amount = "account written off", policy.waived_amount + written
            policy.save(update_fields=["status", "cancelled_on", "ended_on", "cancel_reason", "waived_amount", "updated_at"])
            audit_record(actor=system, action="insurance_policy_cancel", obj=policy, reason="account written off",
                         old=InsurancePolicy.Status.ACTIVE, new={"status": policy.status, "insurer_share_reversed": str(written)})
            done += 1
    return done


# --- monthly remittance to the insurer (issue 25 item 3) ---------------------------------------------------


@transaction.atomic
def insurer_remit(*, insurer: str, period_end: dt.date, actor: Actor) -> InsurerRemittance | None:
    """Remit to ``insurer`` the premiums its policies' customers paid up to ``period_end``, less those refunded
    and those remitted before; the lines (one per policy) are the statement sent with the money. Journal
    Dr 2300 premium payable / Cr 1000 cash (reversed sides when the net is negative). Once per insurer and
    month-end: a second call returns the first remittance; ``None`` when nothing is owed either way."""
    existing = InsurerRemittance.objects.filter(insurer=insurer, period_end=period_end).first()
    if existing is not None:
        return existing
    today = get_business_date()
    previous = (InsurerRemittance.objects.filter(insurer=insurer, period_end__lt=period_end)
                .order_by("-period_end").values_list("period_end", flat=True).first())
    paid: dict[int, Decimal] = {}
    for policy_id, amount in Charge.objects.filter(kind=Charge.Kind.PREMIUM, plan__insurance_policy__product__insurer=insurer
                                                   ).values_list("plan__insurance_policy", "paid"):
        paid[policy_id] = paid.get(policy_id, ZERO) + amount
    remitted: dict[int, Decimal] = {}
    for policy_id, amount in RemittanceLine.objects.filter(remittance__insurer=insurer).values_list("policy_id", "amount"):
        remitted[policy_id] = remitted.get(policy_id, ZERO) + amount
    refunded = dict(InsurancePolicy.objects.filter(product__insurer=insurer, refunded_amount__gt=0)
                    .values_list("pk", "refunded_amount"))
    lines = []
    for policy_id in sorted(set(paid) | set(remitted) | set(refunded)):
        p, r, before = money(paid.get(policy_id, ZERO)), refunded.get(policy_id, ZERO), remitted.get(policy_id, ZERO)
        amount = p - r - before
        if amount:
            lines.append(RemittanceLine(policy_id=policy_id, premiums_paid=p, premiums_refunded=r, amount=amount))
    total = sum((line.amount for line in lines), ZERO)
    if not lines:
        return None
    start = (previous + dt.timedelta(days=1)) if previous else period_end.replace(day=1)
    remittance = InsurerRemittance.objects.create(insurer=insurer, period_start=start, period_end=period_end, amount=total,
                                                  lines_count=len(lines), remitted_on=today)
    for line in lines:
        line.remittance = remittance
    RemittanceLine.objects.bulk_create(lines)
    legs = ([Dr(Codes.PREMIUM_PAYABLE, total), Cr(Codes.CASH, total)] if total > 0
            else [Dr(Codes.CASH, -total), Cr(Codes.PREMIUM_PAYABLE, -total)])
    remittance.journal_entry = journal_post(kind=JournalEntry.Kind.INSURER_REMITTANCE, on=today, legs=legs,
                                            memo=f"Premiums remitted to {insurer} to {period_end}"[:200],
                                            source=f"insurance:remit:{remittance.reference}", actor=actor)
    remittance.save(update_fields=["journal_entry", "updated_at"])
    audit_record(actor=actor, action="insurer_remit", obj=remittance,
                 new={"insurer": insurer, "period_end": period_end.isoformat(), "amount": str(total), "lines": len(lines)})
    return remittance


def remittances_monthly(*, on: dt.date) -> int:
    """Close of business on the 1st: remit every insurer's premiums paid up to the last day of the month."""
    from core.actors import Actor as _A

    insurers = InsuranceProduct.objects.order_by("insurer").values_list("insurer", flat=True).distinct()
    made = 0
    for insurer in insurers:
        if insurer_remit(insurer=insurer, period_end=on - dt.timedelta(days=1), actor=_A.system("insurance.remit")):
            made += 1
    return made


# --- claims (four eyes) -----------------------------------------------------------------------------------


def _claimable(policy: InsurancePolicy) -> None:
    if policy.status != InsurancePolicy.Status.ACTIVE:
        raise BusinessRuleError(f"The policy is {policy.get_status_display().lower()}, not active.",
                                code="policy_not_active", details={"status": policy.status})
    if policy.plan.status != Plan.Status.ACTIVE:
        raise BusinessRuleError("The insured plan owes nothing any more.", code="plan_not_active",
                                details={"plan_status": policy.plan.status})
    if policy.account.written_off_on:
        raise BusinessRuleError("The account is written off.", code="account_written_off")


@transaction.atomic
def claim_submit(*, policy: InsurancePolicy, reason: str, event_date: dt.date, note: str = "",
                 actor: Actor) -> tuple[InsuranceClaim, Submitted]:
    """Make a claim (the maker). It always waits for a second person (the checker), who approves the
    request in the approvals screen; only then is the plan paid off from the insurer's account."""
    if actor.is_system:
        raise BusinessRuleError("A claim is made by a person.", code="claim_needs_person")
    if reason not in InsuranceClaim.Reason.values:
        raise ValidationError(f"Unknown claim reason {reason!r}; one of {InsuranceClaim.Reason.values}.",
                              code="invalid_claim_reason")
    note = require_reason(note)
    policy = _lock_policy(policy)
    _claimable(policy)
    today = get_business_date()
    if not isinstance(event_date, dt.date) or event_date > today or event_date < policy.start_date:
        raise ValidationError("The event date must be between the policy's start and today.", code="invalid_event_date",
                              details={"start_date": policy.start_date.isoformat(), "business_date": today.isoformat()})
    if InsuranceClaim.objects.filter(policy=policy, status=InsuranceClaim.Status.PENDING).exclude(
            approval__in=_rejected_approvals(policy)).exists():
        raise BusinessRuleError("A claim on this policy already waits for approval.", code="claim_pending")
    amount = plan_settlement_quote(plan=policy.plan).total
    if not approval_needed(kind=CLAIM_KIND, amount=amount):
        raise BusinessRuleError("Claims are paid under four eyes: the approval threshold of insurance claims must be 0.00.",
                                code="claim_threshold_not_zero")
    claim = InsuranceClaim.objects.create(policy=policy, reason=reason, event_date=event_date, note=note, amount=amount,
                                          submitted_on=today, maker=actor.user)
    submitted = approval_submit(
        kind=CLAIM_KIND, payload={"claim": claim.pk}, amount=amount, base=None,
        summary=f"Insurance claim {claim.reference} ({claim.get_reason_display().lower()}): pay {amount} on plan "
                f"{policy.plan.reference}", target=claim, actor=actor, reason=note,
    )
    claim.approval = submitted.request.reference
    claim.save(update_fields=["approval", "updated_at"])
    audit_record(actor=actor, action="insurance_claim_submit", obj=claim, reason=note,
                 new={"policy": policy.reference, "reason": reason, "amount": str(amount)})
    return claim, submitted


def _rejected_approvals(policy: InsurancePolicy) -> list[str]:
    from approvals.models import ApprovalRequest

    refs = InsuranceClaim.objects.filter(policy=policy).exclude(approval="").values_list("approval", flat=True)
    return list(ApprovalRequest.objects.filter(reference__in=list(refs), status=ApprovalRequest.Status.REJECTED)
                .values_list("reference", flat=True))


@transaction.atomic
def claim_pay(*, claim: InsuranceClaim, actor: Actor, checker=None) -> InsuranceClaim:
    """Pay an approved claim: the plan is settled early with the insurer's money (Dr 1300 insurer claim
    receivable), its unpaid premiums are netted with the insurer, the plan ends ``claim_paid`` and the
    policy ``claimed``. Every rule is checked again at this moment."""
    claim = InsuranceClaim.objects.select_for_update().get(pk=claim.pk)
    if claim.status != InsuranceClaim.Status.PENDING:
        raise BusinessRuleError("The claim is already paid.", code="claim_not_pending")
    policy = _lock_policy(claim.policy)
    _claimable(policy)
    today = get_business_date()
    repayment = plan_settle(plan=policy.plan, actor=actor, external_ref=f"claim-{claim.reference}",
                            paid_from=Codes.INSURER_CLAIM_RECEIVABLE)
    waived = ZERO
    for charge in _open_premiums(policy):
        unpaid = charge.open_amount
        if unpaid > 0:
            Charge.objects.filter(pk=charge.pk).update(waived=money(charge.waived + unpaid))
            waived += unpaid
    if waived:
        legs = [Dr(Codes.PREMIUM_PAYABLE, waived), Cr(Codes.RECEIVABLE_PREMIUM, waived, policy.account_id)]
        journal_post(kind=JournalEntry.Kind.INSURANCE_CLAIM, on=today, legs=legs,
                     memo=f"Claim {claim.reference}: unpaid premiums netted with the insurer",
                     source=f"insurance:{policy.reference}", actor=actor)
        apply_account_deltas(policy.account, legs)
    Plan.objects.filter(pk=policy.plan_id).update(status=Plan.Status.CLAIM_PAID)
    policy.status, policy.ended_on = InsurancePolicy.Status.CLAIMED, today
    policy.save(update_fields=["status", "ended_on", "updated_at"])
    claim.status, claim.paid_on, claim.checker = InsuranceClaim.Status.PAID, today, checker
    claim.paid_amount, claim.premiums_waived, claim.repayment = repayment.amount, waived, repayment
    claim.save(update_fields=["status", "paid_on", "checker", "paid_amount", "premiums_waived", "repayment", "updated_at"])
    audit_record(actor=actor, action="insurance_claim_pay", obj=claim, old="pending",
                 new={"status": "paid", "paid": str(repayment.amount), "premiums_waived": str(waived),
                      "checker": getattr(checker, "pk", None)})
    if claim.reason == InsuranceClaim.Reason.DEATH:
        _deceased_follow_up(claim, policy, actor=actor, today=today)
    return claim


def _deceased_follow_up(claim: InsuranceClaim, policy: InsurancePolicy, *, actor: Actor, today: dt.date) -> None:
    """A paid death claim (issue 25 item 4): the customer is recorded deceased (no notice is sent any more);
    what the claim does not cover (late and deferral fees left on the account) is waived under four eyes —
    a request of the claims' own kind (``insurance.claim_pay``, always four eyes, payload ``deceased_waive``)
    that a person other than its maker approves — and the account is closed once it owes nothing."""
    from accounts.services import customer_mark_deceased
    from installments.services.controls import waivable_total

    customer_mark_deceased(customer=policy.account.customer, on=claim.event_date, actor=actor,
                           reason=f"death claim {claim.reference} paid")
    left = waivable_total(account_id=policy.account_id, kind="fees")
    if left > 0:
        approval_submit(
            kind=CLAIM_KIND, payload={"deceased_waive": claim.pk, "account_id": policy.account_id, "amount": str(left)},
            amount=left, base=None, target=policy.account, actor=actor,
            summary=f"Waive {left} of fees the death claim {claim.reference} does not cover and close account "
                    f"{policy.account.reference}",
            reason=f"customer deceased: death claim {claim.reference} paid the insured plan",
        )
    else:
        _close_if_clear(policy.account_id, claim, actor)


def _close_if_clear(account_id: int, claim: InsuranceClaim, actor: Actor) -> bool:
    from accounts.models import CreditAccount
    from accounts.services import account_close

    account = CreditAccount.objects.get(pk=account_id)
    if account.status == CreditAccount.Status.CLOSED or account.used_amount > 0 or account.credit_balance > 0:
        return False  # other debt or a credit balance is settled with the estate first
    account_close(account=account, actor=actor, reason=f"customer deceased: death claim {claim.reference}")
    return True


def _execute_deceased_waive(payload: dict, *, actor: Actor, approval):
    """Waive exactly the approved fees and close the account. Refused as stale when the account owes more
    than was approved (``deceased_waiver_stale``: submit again)."""
    from accounts.models import CreditAccount
    from installments.services.controls import fee_waive, waivable_total

    claim = InsuranceClaim.objects.get(pk=payload["deceased_waive"])
    amount = Decimal(payload["amount"])
    open_now = waivable_total(account_id=payload["account_id"], kind="fees")
    if open_now != amount:
        raise BusinessRuleError(f"The account owes {open_now} in fees now, not the {amount} approved.",
                                code="deceased_waiver_stale", details={"open": str(open_now), "approved": str(amount)})
    if approval is None:  # the submission's dry run
        return claim
    reason = f"customer deceased: fees not covered by death claim {claim.reference}"
    waiver = fee_waive(account=CreditAccount(pk=payload["account_id"]), kind="fees", amount=amount, actor=actor,
                       reason=approved_reason(reason, approval))
    _close_if_clear(payload["account_id"], claim, actor)
    return waiver


def _execute_claim(payload: dict, *, actor: Actor, approval) -> InsuranceClaim:
    if "deceased_waive" in payload:  # issue 25: what a death claim does not cover
        return _execute_deceased_waive(payload, actor=actor, approval=approval)
    claim = InsuranceClaim.objects.filter(pk=payload.get("claim")).first()
    if claim is None:
        raise NotFoundError("No such claim.", code="claim_not_found")
    checker = getattr(approval, "checker", None)
    if approval is not None and checker is None:  # pragma: no cover - approvals always names the checker
        raise BusinessRuleError("A claim is paid only once a second person approved it.", code="claim_needs_checker")
    if approval is None:  # the submission's dry run: the real payment always comes with an approval
        return _dry_run(claim)
    return claim_pay(claim=claim, actor=actor, checker=checker)


def _dry_run(claim: InsuranceClaim) -> InsuranceClaim:
    """What the approval's dry run checks at submission: the claim could be paid today."""
    policy = InsurancePolicy.objects.select_related("plan", "account").get(pk=claim.policy_id)
    _claimable(policy)
    plan_settlement_quote(plan=policy.plan)
    return claim


def register_approval_kinds() -> None:
    # Amount above 0.00: every claim waits for a second person.
    register_kind(ApprovalKind(CLAIM_KIND, "Insurance claim", "insurance.pay_claim", _execute_claim,
                               amount_above=Decimal("0.00")))    # Issue 25: what a death claim does not cover is waived under the same kind (payload ``deceased_waive``).
