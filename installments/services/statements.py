"""Bill installment of a statement (PRODUCT §5): before the due date, the unpaid revolving balance (or a
part above the product minimum) becomes a plan whose first installment is due on that statement's due
date; the statement's amounts and minimum payment are recomputed."""
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
from core.money import ZERO
from installments.calc import minimum_payment
from installments.models import Adjustment, Plan, ScheduleLine, Statement, StatementLine
from installments.services.common import apply_account_deltas, close_if_settled, get_terms, positive_money
from installments.services.purchases import create_plan
from ledger.models import Codes, JournalEntry
from ledger.services import Cr, Dr, journal_post


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
