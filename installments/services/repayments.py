"""Repayments (PRODUCT §6): unique external reference, allocation by the product's strategy, overpayment
to credit balance, recoveries on written-off accounts, and exact reversal."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db import IntegrityError, transaction

from accounts.models import CreditAccount
from accounts.services import lock_account
from approvals.gate import gate_required
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import BusinessRuleError, ConflictError, ValidationError
from core.money import ZERO, money
from installments.calc import DEFAULT_ALLOCATION_ORDER, allocate
from installments.models import (
    Adjustment, Allocation, Charge, Plan, Repayment, ScheduleLine, Statement, StatementVersion, WriteOff,
)
from installments.services.common import (
    apply_account_deltas, apply_paid, get_terms, line_plan_kind, open_dues, plan_codes, plus, positive_money,
    receivable_legs, reopen_status, require_reason,
)
from installments.services.common import repayment_ceiling_check  # issue 13: input bounds
from installments.services.rejudge import account_rejudge
from ledger.models import Codes, JournalEntry
from ledger.services import Cr, Dr, Leg, journal_post, journal_reverse

PAYMENT_CHANNELS = [c for c in Repayment.Channel.values if c != Repayment.Channel.SETTLEMENT]


def _replayed(existing: Repayment, account_id: int, amount: Decimal) -> Repayment:
    if existing.account_id != account_id or existing.amount != amount:
        raise ConflictError(
            "This external reference was already used for a different payment.", code="external_ref_conflict",
            details={"repayment": existing.reference, "account": existing.account.reference, "amount": str(existing.amount)},
        )
    existing.is_replay = True
    return existing


def _recovery(*, account: CreditAccount, repayment: Repayment, on: dt.date, actor: Actor) -> Repayment:
    write_off = WriteOff.objects.select_for_update().get(account=account)
    recoverable = write_off.total - write_off.recovered
    recovered = min(repayment.amount, recoverable)
    excess = repayment.amount - recovered
    repayment.kind = Repayment.Kind.RECOVERY
    repayment.to_credit_balance = excess
    repayment.save(update_fields=["kind", "to_credit_balance"])
    legs = [Dr(Codes.CASH, repayment.amount), Cr(Codes.RECOVERY_INCOME, recovered, account.pk),
            Cr(Codes.CUSTOMER_CREDIT, excess, account.pk)]
    entry = journal_post(kind=JournalEntry.Kind.RECOVERY, on=on, legs=legs, memo=f"Recovery {repayment.external_ref}",
                         source=f"repayment:{repayment.reference}", actor=actor)
    rows = []
    if recovered:
        WriteOff.objects.filter(pk=write_off.pk).update(recovered=plus("recovered", recovered))
        rows.append(Allocation(account=account, source=Allocation.Source.REPAYMENT, repayment=repayment,
                               kind=Allocation.Kind.RECOVERY, amount=recovered, on_date=on))
    if excess:
        rows.append(Allocation(account=account, source=Allocation.Source.REPAYMENT, repayment=repayment,
                               kind=Allocation.Kind.CREDIT_BALANCE, amount=excess, on_date=on))
    Allocation.objects.bulk_create(rows)
    repayment.journal_entry = entry
    repayment.save(update_fields=["journal_entry"])
    apply_account_deltas(account, legs)
    return repayment


@transaction.atomic
def repayment_post(
    *,
    account: CreditAccount,
    amount: Decimal,
    external_ref: str,
    channel: str,
    received_on: dt.date | None = None,
    actor: Actor,
) -> Repayment:
    """Post a repayment (PRODUCT §6). Allocated late fees → deferral fees → installment fees → principal,
    oldest due first (or as the product's strategy says); what nothing needs becomes credit balance.

    ``external_ref`` is unique: posting it again changes nothing and returns the first repayment with
    ``is_replay = True`` (a different account or amount under the same reference is a 409).
    On a written-off account the payment is a recovery (journal to recovery income).

    A repayment entered by a person comes through the approvals gate (``repayment_manual_submit``,
    issue 23 item 6); a bank file's lines are confirmed as a whole by the bank-file import; a payment
    provider's API call is a system actor."""
    if channel != Repayment.Channel.BANK_FILE:
        gate_required(actor, what="Posting a repayment")
    amount = positive_money(amount)
    external_ref = (external_ref or "").strip()
    if not external_ref or len(external_ref) > 80:
        raise ValidationError("external_ref is required (at most 80 characters).", code="invalid_external_ref")
    if channel not in PAYMENT_CHANNELS:
        raise ValidationError(f"Unknown channel {channel!r}; one of {PAYMENT_CHANNELS}.", code="invalid_channel")
    existing = Repayment.objects.filter(external_ref=external_ref).first()
    if existing:
        return _replayed(existing, account.pk, amount)
    account = lock_account(account.pk)
    existing = Repayment.objects.filter(external_ref=external_ref).first()
    if existing:
        return _replayed(existing, account.pk, amount)
    today = get_business_date()
    terms = get_terms(account.product_id)
    received_on = value_date_check(received_on, today=today, max_days=terms.value_date_max_days)
    if account.status == CreditAccount.Status.CLOSED:
        raise BusinessRuleError("The account is closed.", code="account_closed")
    repayment_ceiling_check(account=account, amount=amount)
    try:
        with transaction.atomic():
            repayment = Repayment.objects.create(
                account=account, amount=amount, external_ref=external_ref, channel=channel, received_on=received_on,
                posted_on=today, **actor.log_fields(),
            )
    except IntegrityError:
        existing = Repayment.objects.filter(external_ref=external_ref).first()
        if existing is None:
            raise
        return _replayed(existing, account.pk, amount)
    repayment.is_replay = False
    if account.written_off_on:
        return _recovery(account=account, repayment=repayment, on=today, actor=actor)

    # Allocated as of the value date: a late or deferral fee accrued on or after it did not exist when the
    # money arrived, so it never comes before the principal the money was meant for (PRODUCT §6).
    dues, rows = open_dues(account.pk)
    dues = [d for d in dues if not (d.key[0] == "charge" and rows[d.key].accrued_on >= received_on
                                    and rows[d.key].kind in (Charge.Kind.LATE_FEE, Charge.Kind.DEFERRAL_FEE))]
    allocation = allocate(amount, dues, strategy=terms.allocation_strategy, order=DEFAULT_ALLOCATION_ORDER)
    by_code = apply_paid(account=account, paid=allocation.paid, rows=rows, on=received_on,
                         source=Allocation.Source.REPAYMENT, repayment=repayment)
    if allocation.leftover:
        Allocation.objects.create(account=account, source=Allocation.Source.REPAYMENT, repayment=repayment,
                                  kind=Allocation.Kind.CREDIT_BALANCE, amount=allocation.leftover, on_date=received_on)
    legs = [Dr(Codes.CASH, amount), *receivable_legs(by_code, account.pk, side="credit"),
            Cr(Codes.CUSTOMER_CREDIT, allocation.leftover, account.pk)]
    entry = journal_post(kind=JournalEntry.Kind.REPAYMENT, on=today, legs=legs,
                         memo=f"Repayment {external_ref} ({channel})", source=f"repayment:{repayment.reference}",
                         actor=actor)
    repayment.to_credit_balance = allocation.leftover
    repayment.journal_entry = entry
    repayment.save(update_fields=["to_credit_balance", "journal_entry"])
    apply_account_deltas(account, legs)
    if received_on < today:
        # Back-valued: the days closed since the value date are judged again as if it had come on time.
        account_rejudge(account=account, since=received_on, actor=actor,
                        reason=f"repayment {external_ref} value-dated {received_on}",
                        baseline_ignore=frozenset(repayment.allocations.values_list("pk", flat=True)),
                        baseline_paid=((received_on, -amount),))
    return repayment


def value_date_check(received_on, *, today: dt.date, max_days: int) -> dt.date:
    """The bank value date of a repayment (``received_on``; today when not given): never after the
    business date, at most ``max_days`` (the product's ``value_date_max_days``) before it."""
    if received_on is None:
        return today
    if not isinstance(received_on, dt.date) or isinstance(received_on, dt.datetime):
        raise ValidationError("received_on must be a date.", code="invalid_date")
    if received_on > today:
        raise ValidationError(f"The value date {received_on} is after the business date {today}.",
                              code="value_date_in_future", details={"received_on": received_on.isoformat(),
                                                                    "business_date": today.isoformat()})
    earliest = today - dt.timedelta(days=max_days)
    if received_on < earliest:
        raise ValidationError(
            f"The value date {received_on} is more than {max_days} days before the business date {today}.",
            code="value_date_too_old",
            details={"received_on": received_on.isoformat(), "earliest": earliest.isoformat(), "max_days": max_days})
    return received_on


def credit_balance_apply(*, account: CreditAccount, on: dt.date, statement: Statement | None = None,
                         actor: Actor) -> Decimal:
    """Use the account's credit balance to pay its open dues (the "next bill"). The caller holds the
    account lock. Returns the amount applied."""
    account.refresh_from_db(fields=["credit_balance", "used_amount"])
    if account.credit_balance <= 0:
        return ZERO
    terms = get_terms(account.product_id)
    dues, rows = open_dues(account.pk)
    if not dues:
        return ZERO
    allocation = allocate(account.credit_balance, dues, strategy=terms.allocation_strategy)
    if not allocation.paid:
        return ZERO
    by_code = apply_paid(account=account, paid=allocation.paid, rows=rows, on=on,
                         source=Allocation.Source.CREDIT_BALANCE, statement=statement)
    applied = allocation.applied
    legs = [Dr(Codes.CUSTOMER_CREDIT, applied, account.pk), *receivable_legs(by_code, account.pk, side="credit")]
    journal_post(kind=JournalEntry.Kind.CREDIT_APPLIED, on=on, legs=legs, memo="Credit balance applied",
                 source=f"statement:{statement.pk}" if statement else f"credit:{account.reference}", actor=actor)
    apply_account_deltas(account, legs)
    return applied


def _undo_allocation(alloc: Allocation, amount: Decimal, on: dt.date, repayment: Repayment | None,
                     *, reopen: bool = True) -> None:
    """Re-open exactly ``amount`` of what ``alloc`` paid and record the negated allocation row."""
    if alloc.line_id:
        line = ScheduleLine.objects.get(pk=alloc.line_id)
        if alloc.kind == Allocation.Kind.PRINCIPAL:
            line.principal_paid -= amount
        else:
            line.fee_paid -= amount
        if reopen and line.status == ScheduleLine.Status.CLOSED:
            line.status = reopen_status(line)
            line.closed_on = None
        line.save(update_fields=["principal_paid", "fee_paid", "status", "closed_on"])
        Plan.objects.filter(pk=line.plan_id, status=Plan.Status.PAID_OFF).update(status=Plan.Status.ACTIVE, closed_on=None)
    elif alloc.charge_id:
        Charge.objects.filter(pk=alloc.charge_id).update(paid=plus("paid", -amount))
    elif alloc.kind == Allocation.Kind.RECOVERY:
        WriteOff.objects.filter(account_id=alloc.account_id).update(recovered=plus("recovered", -amount))
    Allocation.objects.create(account_id=alloc.account_id, source=alloc.source, repayment=repayment or alloc.repayment,
                              statement=alloc.statement, line_id=alloc.line_id, charge_id=alloc.charge_id,
                              kind=alloc.kind, amount=-amount, on_date=on, reverses=alloc)


def _unreversed(alloc: Allocation) -> Decimal:
    return alloc.amount + sum((r.amount for r in alloc.reversals.all()), ZERO)


def _take_back_credit(account: CreditAccount, shortfall: Decimal, on: dt.date, actor: Actor) -> None:
    """The credit a reversed payment left has since paid bills: re-open those payments, newest first,
    until the credit balance can give back what the reversed payment put in."""
    applied = Allocation.objects.filter(
        account=account, source=Allocation.Source.CREDIT_BALANCE, amount__gt=0
    ).prefetch_related("reversals").order_by("-id")
    by_code: dict[str, Decimal] = defaultdict(lambda: ZERO)
    code_of = {Allocation.Kind.PRINCIPAL: Codes.RECEIVABLE_PRINCIPAL, Allocation.Kind.INSTALLMENT_FEE: Codes.RECEIVABLE_FEES,
               Allocation.Kind.LATE_FEE: Codes.RECEIVABLE_LATE_FEES, Allocation.Kind.DEFERRAL_FEE: Codes.RECEIVABLE_DEFERRAL_FEES,
               Allocation.Kind.SETTLEMENT_FEE: Codes.RECEIVABLE_FEES, Allocation.Kind.PREMIUM: Codes.RECEIVABLE_PREMIUM}
    for alloc in applied:
        if shortfall <= 0:
            break
        take = min(_unreversed(alloc), shortfall)
        if take <= 0:
            continue
        _undo_allocation(alloc, take, on, None)
        code = code_of[alloc.kind]
        if alloc.line_id:  # a cash loan's line keeps its own codes
            principal_code, fee_code, _ = plan_codes(line_plan_kind(alloc.line))
            code = principal_code if alloc.kind == Allocation.Kind.PRINCIPAL else fee_code
        by_code[code] += take
        shortfall -= take
    if shortfall > 0:  # pragma: no cover - the credit balance can only have gone to dues
        raise BusinessRuleError("The credit balance cannot be traced.", code="credit_untraceable")
    legs = [*receivable_legs(by_code, account.pk, side="debit"), Cr(Codes.CUSTOMER_CREDIT, sum(by_code.values(), ZERO), account.pk)]
    journal_post(kind=JournalEntry.Kind.REVERSAL, on=on, legs=legs, memo="Credit applied re-opened (payment reversed)",
                 source=f"credit:{account.reference}", actor=actor)
    apply_account_deltas(account, legs)


@transaction.atomic
def repayment_reverse(*, repayment: Repayment, actor: Actor, reason: str) -> Repayment:
    """Reverse a repayment (bounced payment, chargeback): every line, charge and credit it paid is re-opened
    by exactly the amount it paid, fees a settlement waived are owed again, and its journal entries are
    mirrored. A statement it had settled after its due date is re-opened for close of business to judge."""
    reason = require_reason(reason)
    account = lock_account(repayment.account_id)
    repayment = Repayment.objects.select_for_update().get(pk=repayment.pk)
    if repayment.status != Repayment.Status.POSTED:
        raise BusinessRuleError("The repayment is already reversed.", code="already_reversed")
    today = get_business_date()
    first_new = (Allocation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1

    credit_part = sum(
        (a.amount for a in repayment.allocations.filter(kind=Allocation.Kind.CREDIT_BALANCE, amount__gt=0)), ZERO
    )
    if credit_part > account.credit_balance:
        _take_back_credit(account, credit_part - account.credit_balance, today, actor)

    # Undo the amounts paid, then what a settlement waived or billed early; only then re-open the lines
    # (their status depends on all of it).
    reopened_billed = False
    touched: set[int] = set()
    for alloc in repayment.allocations.filter(amount__gt=0).select_related("line").order_by("id"):
        if alloc.line_id and alloc.line.billed_on or alloc.charge_id:
            reopened_billed = True
        if alloc.line_id:
            touched.add(alloc.line_id)
        _undo_allocation(alloc, alloc.amount, today, repayment, reopen=False)
    same_line: dict[int, ScheduleLine] = {}  # a line with two adjustments (a cash loan's) is one object
    for adj in repayment.adjustments.filter(undone=False).select_related("line").order_by("id"):
        line = same_line.setdefault(adj.line_id, adj.line)
        if adj.kind == Adjustment.Kind.SETTLEMENT_WAIVER:
            line.fee_waived -= adj.fee
        elif adj.kind == Adjustment.Kind.EARLY_BILLING:
            line.billed_on = None
        line.save(update_fields=["fee_waived", "billed_on"])
        touched.add(line.pk)
        adj.undone = True
        adj.save(update_fields=["undone"])
    for line in ScheduleLine.objects.filter(pk__in=touched, status=ScheduleLine.Status.CLOSED):
        if line.principal_open > 0 or line.fee_open > 0:
            line.status = reopen_status(line)
            line.closed_on = None
            line.save(update_fields=["status", "closed_on"])
    if repayment.plan_id:
        Plan.objects.filter(pk=repayment.plan_id, status=Plan.Status.SETTLED).update(status=Plan.Status.ACTIVE, closed_on=None)

    legs = []
    for entry in JournalEntry.objects.filter(source=f"repayment:{repayment.reference}", reverses__isnull=True,
                                             reversed_by__isnull=True).exclude(kind=JournalEntry.Kind.REVERSAL).order_by("id"):
        mirror = journal_reverse(entry=entry, on=today, actor=actor, memo=f"Reversal of {repayment.external_ref}: {reason}"[:200])
        legs.extend(
            Leg(code=line.ledger_account_id, debit=line.debit, credit=line.credit, credit_account_id=line.credit_account_id)
            for line in mirror.lines.all()
        )
    apply_account_deltas(account, legs)

    repayment.status = Repayment.Status.REVERSED
    repayment.reversed_on = today
    repayment.reversal_reason = reason
    repayment.reversed_by = actor.user
    repayment.save(update_fields=["status", "reversed_on", "reversal_reason", "reversed_by"])
    audit_record(actor=actor, action="repayment_reverse", obj=repayment, reason=reason, old="posted", new="reversed")
    if reopened_billed or credit_part:
        _rejudge_reopened(account=account, first_allocation=first_new, today=today, actor=actor,
                          reason=f"repayment {repayment.external_ref} reversed", repayment=repayment)
    return repayment


def _rejudge_reopened(*, account: CreditAccount, first_allocation: int, today: dt.date, actor: Actor, reason: str,
                      repayment: Repayment) -> None:
    """Every statement the reversed money had paid (directly, or through the credit it left) is judged
    again from its own due date: past due, late fees, DPD, freeze and bucket as if it had never been
    paid. A reopened statement not yet due is open again for close of business to judge on its day."""
    undone = Allocation.objects.filter(account=account, pk__gte=first_allocation, amount__lt=0)
    statement_ids = set(ScheduleLine.objects.filter(
        pk__in=undone.filter(line__isnull=False).values("line_id")).exclude(statement=None).values_list(
        "statement_id", flat=True))
    statement_ids |= set(Charge.objects.filter(pk__in=undone.filter(charge__isnull=False).values("charge_id"))
                         .exclude(statement=None).values_list("statement_id", flat=True))
    statements = list(Statement.objects.filter(pk__in=statement_ids))
    # Credit applied when a statement was generated had made its minimum smaller (even zero): the part
    # given back raises the minimum by what it would have asked for that money (PRODUCT §4).
    rate = get_terms(account.product_id).minimum_payment_rate
    extra: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for alloc in undone.filter(reverses__statement__isnull=False).select_related("reverses", "line"):
        revolving = alloc.kind == Allocation.Kind.PRINCIPAL and alloc.line.is_revolving
        extra[alloc.reverses.statement_id] += -alloc.amount * (rate if revolving else 1)
    due_dates = [st.due_date for st in statements if st.due_date < today]
    since = min(due_dates) if due_dates else None
    for st in statements:
        # A statement generated on or after ``since`` is amended by the re-judging itself (issue 24), from
        # everything the reversed money had changed, the credit included.
        if extra.get(st.pk) and not (since is not None and since <= st.bill_date < today):
            from installments.services.statements import statement_amend

            st = Statement.objects.select_for_update(of=("self",)).select_related("account").get(pk=st.pk)
            raised = money(st.minimum_payment + extra[st.pk])
            statement_amend(statement=st, deltas={}, minimum=raised, cause=StatementVersion.Cause.REVERSAL, on=today,
                            actor=actor, because=f"{reason}: the credit it had left paid part of this bill; "
                                                 f"minimum {st.minimum_payment} → {raised}")
        if st.due_date >= today and st.status in (Statement.Status.PAID, Statement.Status.MINIMUM_PAID):
            st.status, st.resolved_on = Statement.Status.OPEN, None
            st.save(update_fields=["status", "resolved_on"])
    if since is not None:
        account_rejudge(account=account, since=since, actor=actor, reason=reason,
                        baseline_ignore=frozenset(undone.values_list("pk", flat=True)),
                        baseline_paid=((repayment.received_on, repayment.amount),),
                        cause=StatementVersion.Cause.REVERSAL)
