"""Statements after they are issued.

- Bill installment of a statement (PRODUCT §5): before the due date, the unpaid revolving balance (or a
  part above the product minimum) becomes a plan whose first installment is due on that statement's due
  date; the statement's amounts and minimum payment are recomputed.
- Amendment of an issued statement (PRODUCT §13, issue 24): :func:`statement_amend` is the one place a
  statement's figures change after it was issued. The version as it stood is kept (a
  ``StatementVersion``), the figures move, the adjustments and summary lines follow, the version number
  goes up with the cause. Callers: the re-judging of back-valued money and reversals
  (``installments.services.rejudge``, ``repayments``), add-ons billed with a bill installment (insurance).
"""
from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Max

from accounts.models import CreditAccount
from accounts.services import lock_account
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import BusinessRuleError
from core.money import ZERO, money
from installments.calc import minimum_payment
from installments.models import Adjustment, Plan, ScheduleLine, Statement, StatementLine, StatementVersion
from installments.services.common import apply_account_deltas, close_if_settled, get_terms, positive_money
from installments.services.purchases import create_plan
from ledger.models import Codes, JournalEntry
from ledger.services import Cr, Dr, journal_post


#: The money fields of a statement, as a version keeps them.
STATEMENT_MONEY_FIELDS = (
    "opening_balance", "purchases_amount", "installments_principal", "installments_fee", "deferral_fees", "late_fees",
    "premiums", "payments_amount", "refunds_amount", "credit_applied", "adjustments", "closing_balance",
    "revolving_due", "installments_due", "fees_due", "past_due", "minimum_payment",
)
#: The parts of what is owed (PRODUCT §4: the minimum payment is computed from them).
OWED_PARTS = ("revolving_due", "installments_due", "fees_due", "past_due")
#: Summary lines kept equal to a statement field (kind, position at generation, field).
_SUMMARY_LINES = (
    (StatementLine.Kind.DEFERRAL_FEE, 30, "deferral_fees", "Deferral fees"),
    (StatementLine.Kind.LATE_FEE, 31, "late_fees", "Late fees"),
    (StatementLine.Kind.ADJUSTMENT, 80, "adjustments",
     "Other adjustments (bill installments, early settlement, refunds of future installments)"),
)


def _rolled(statement: Statement):
    return (statement.opening_balance + statement.purchases_amount + statement.installments_principal
            + statement.installments_fee + statement.deferral_fees + statement.late_fees + statement.premiums
            - statement.payments_amount - statement.refunds_amount)


def statement_amend(*, statement: Statement, deltas: dict[str, Decimal], because: str, cause: str,
                    on, actor: Actor, minimum: Decimal | None = None, lines=(),
                    status: tuple[str, object] | None = None) -> Statement:
    """Amend an issued statement as a new version (PRODUCT §13). The caller holds the account lock and
    passes the statement row it locked.

    ``deltas`` moves money fields (field → change); ``minimum`` is the new minimum payment (default:
    computed from the amended parts with the product's rate); ``lines`` are new ``StatementLine`` rows
    (unsaved); ``status`` an optional new (status, resolved_on). The version as it stood is kept with
    why it was superseded; the adjustments make the statement add up again and its summary lines
    (fees, adjustments, closing balance) follow the fields."""
    if statement.status == Statement.Status.DRAFT:
        raise BusinessRuleError("A statement being generated cannot be amended.", code="statement_not_issued")
    unknown = set(deltas) - set(STATEMENT_MONEY_FIELDS)
    if unknown or "adjustments" in deltas or "minimum_payment" in deltas:
        raise ValueError(f"statement_amend: fields that cannot move by a delta: {sorted(unknown)}")
    before = {name: str(getattr(statement, name)) for name in STATEMENT_MONEY_FIELDS}
    StatementVersion.objects.create(
        statement=statement, version=statement.version, status=statement.status, figures=before,
        lines=[{"position": ln.position, "kind": ln.kind, "on_date": ln.on_date.isoformat() if ln.on_date else None,
                "description": ln.description, "principal": str(ln.principal), "fee": str(ln.fee),
                "amount": str(ln.amount), "ref": ln.ref} for ln in statement.lines.order_by("position", "on_date", "id")],
        amended_on=statement.amended_on, amended_because=statement.amended_because,
        superseded_on=on, superseded_because=because[:300], superseded_cause=cause,
    )
    for name, delta in deltas.items():
        setattr(statement, name, money(getattr(statement, name) + delta))
    for name in OWED_PARTS:
        if getattr(statement, name) < 0:
            setattr(statement, name, ZERO)
    if minimum is None:
        minimum = minimum_payment(
            revolving=statement.revolving_due, installments_due=statement.installments_due,
            fees_due=statement.fees_due, past_due=statement.past_due,
            percentage=get_terms(statement.account.product_id).minimum_payment_rate)
    statement.minimum_payment = max(money(minimum), ZERO)
    statement.adjustments = money(statement.closing_balance - _rolled(statement))
    if status is not None:
        statement.status, statement.resolved_on = status
    statement.version += 1
    statement.amended_on, statement.amended_because = on, because[:300]
    statement.save()
    StatementLine.objects.bulk_create(list(lines))
    for kind, position, name, description in _SUMMARY_LINES:
        value = getattr(statement, name)
        line = statement.lines.filter(kind=kind).order_by("id").first()
        if line is None and value != 0:
            StatementLine.objects.create(statement=statement, position=position, kind=kind, description=description,
                                         fee=value if kind != StatementLine.Kind.ADJUSTMENT else ZERO, amount=value)
        elif line is not None and value == 0:
            line.delete()
        elif line is not None and line.amount != value:
            line.amount = value
            if kind != StatementLine.Kind.ADJUSTMENT:
                line.fee = value
            line.save(update_fields=["amount", "fee"])
    statement.lines.filter(kind=StatementLine.Kind.CLOSING).update(amount=statement.closing_balance)
    after = {name: str(getattr(statement, name)) for name in STATEMENT_MONEY_FIELDS}
    audit_record(actor=actor, action="statement_amend", obj=statement, reason=because,
                 old={"version": statement.version - 1, **{k: v for k, v in before.items() if after[k] != v}},
                 new={"version": statement.version, "cause": cause,
                      **{k: v for k, v in after.items() if before[k] != v}})
    return statement


def statement_revolving_open(statement: Statement) -> list[ScheduleLine]:
    """The billed, unpaid revolving lines a bill installment of ``statement`` can convert."""
    return [
        line for line in ScheduleLine.objects.filter(
            account_id=statement.account_id, is_revolving=True, billed_on__isnull=False,
            status__in=(ScheduleLine.Status.DUE, ScheduleLine.Status.DEFERRED), due_date__lte=statement.due_date,
        ).order_by("-due_date", "-id")
        if line.principal_open > 0
    ]


@transaction.atomic
def statement_install(*, statement: Statement, tenor: int, amount: Decimal | None = None, actor: Actor,
                      add_ons: tuple[str, ...] = ()) -> Plan:
    account = lock_account(statement.account_id)
    statement = Statement.objects.select_for_update().get(pk=statement.pk)
    today = get_business_date()
    terms = get_terms(account.product_id)
    latest = Statement.objects.filter(account=account).aggregate(m=Max("bill_date"))["m"]
    if statement.bill_date != latest or statement.status != Statement.Status.OPEN:
        raise BusinessRuleError("Only the current, open statement can be installed.", code="statement_not_open")
    if today > statement.due_date:
        raise BusinessRuleError("A bill installment must be made by the due date.", code="past_due_date",
                                details={"due_date": str(statement.due_date)})
    if account.status != CreditAccount.Status.ACTIVE or account.dpd > 0:
        raise BusinessRuleError("The account must be active and not overdue.", code="account_not_active")
    if ScheduleLine.objects.filter(account=account, status=ScheduleLine.Status.OVERDUE).exists():
        raise BusinessRuleError("The account has overdue amounts.", code="account_overdue")
    lines = statement_revolving_open(statement)
    unpaid = sum((line.principal_open for line in lines), ZERO)
    amount = unpaid if amount is None else positive_money(amount)
    if unpaid <= 0:
        raise BusinessRuleError("Nothing revolving is left unpaid on this statement.", code="nothing_to_install")
    if amount > unpaid:
        raise BusinessRuleError(f"At most {unpaid} can be installed.", code="amount_exceeds_revolving",
                                details={"revolving_unpaid": str(unpaid)})
    if amount < terms.bill_installment_minimum:
        raise BusinessRuleError(f"A bill installment needs at least {terms.bill_installment_minimum}.",
                                code="below_installment_minimum", details={"minimum": str(terms.bill_installment_minimum)})
    plan = create_plan(account=account, kind=Plan.Kind.BILL_INSTALLMENT, principal=amount, tenor=tenor, terms=terms,
                       first_bill_date=statement.bill_date, on=today, source_statement=statement)
    # Convert the revolving lines, newest first.
    remaining = amount
    adjustments = []
    for line in lines:
        if not remaining:
            break
        take = min(remaining, line.principal_open)
        line.principal_reduced += take
        remaining -= take
        close_if_settled(line, today)
        line.save(update_fields=["principal_reduced", "status", "closed_on"])
        adjustments.append(Adjustment(line=line, kind=Adjustment.Kind.CONVERSION, principal=take, was_billed=True,
                                      target_plan=plan, on_date=today))
        if line.status == ScheduleLine.Status.CLOSED:
            Plan.objects.filter(pk=line.plan_id, status=Plan.Status.ACTIVE).update(
                status=Plan.Status.CONVERTED, closed_on=today)
    Adjustment.objects.bulk_create(adjustments)
    first = plan.lines.get(period=1)
    first.status = ScheduleLine.Status.DUE
    first.statement = statement
    first.billed_on = today
    first.due_date = statement.due_date
    first.save(update_fields=["status", "statement", "billed_on", "due_date"])
    legs = [Dr(Codes.RECEIVABLE_FEES, first.fee, account.pk), Cr(Codes.FEE_INCOME, first.fee)]
    journal_post(kind=JournalEntry.Kind.FEE_BILLED, on=today, legs=legs, memo=f"Bill installment {plan.reference}: fee 1/{tenor}",
                 source=f"plan:{plan.reference}", actor=actor)
    apply_account_deltas(account, legs)

    # Recompute the statement: the converted revolving part leaves, the first installment arrives.
    first_total = first.principal + first.fee
    statement.revolving_due = max(statement.revolving_due - amount, ZERO)
    statement.installments_due += first_total
    statement.installments_principal += first.principal
    statement.installments_fee += first.fee
    statement.adjustments -= amount
    statement.closing_balance += first_total - amount
    statement.minimum_payment = minimum_payment(
        revolving=statement.revolving_due, installments_due=statement.installments_due, fees_due=statement.fees_due,
        past_due=statement.past_due, percentage=terms.minimum_payment_rate,
    )
    statement.save()
    closing = statement.lines.filter(kind=StatementLine.Kind.CLOSING).first()
    position = closing.position if closing else 90
    StatementLine.objects.bulk_create([
        StatementLine(statement=statement, position=position - 2, kind=StatementLine.Kind.CONVERSION, on_date=today,
                      description=f"Converted to bill installment {plan.reference} ({tenor} × {plan.fee_rate * 100:.2f} %, "
                                  f"APR {plan.apr_nominal_pct} %)", principal=-amount, amount=-amount, ref=plan.reference),
        StatementLine(statement=statement, position=position - 1, kind=StatementLine.Kind.INSTALLMENT, on_date=today,
                      description=f"Installment 1/{tenor} of {plan.reference}", principal=first.principal, fee=first.fee,
                      amount=first_total, ref=plan.reference),
    ])
    if closing:
        closing.amount = statement.closing_balance
        closing.save(update_fields=["amount"])
    if add_ons:
        from installments import hooks

        hooks.plan_add_ons_attach(plan=plan, add_ons=tuple(add_ons), actor=actor)
    audit_record(actor=actor, action="statement_install", obj=statement, new={"plan": plan.reference, "amount": str(amount), "tenor": tenor})
    return plan
