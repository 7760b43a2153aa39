"""Reads of the credit engine (screens, API, other apps). No writes here."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, F, QuerySet, Value, When

from accounts.models import CreditAccount
from core.money import ZERO, money, money_output_field, money_sum
from installments.models import Charge, Plan, Purchase, Repayment, ScheduleLine, Statement

#: The output field of computed amounts, and the sum of money (one home: ``core.money``).
MONEY = money_output_field()
PRINCIPAL_OPEN = F("principal") - F("principal_paid") - F("principal_reduced") - F("principal_written_off")
FEE_OPEN = F("fee") - F("fee_paid") - F("fee_waived") - F("fee_written_off")
CHARGE_OPEN = F("amount") - F("paid") - F("waived") - F("written_off")


_D = MONEY
_sum = money_sum


def account_amount_due(*, account: CreditAccount) -> Decimal:
    """What a repayment can pay today: billed, unpaid installments and purchases, and unpaid charges
    (future installments are not due; they are settled through ``plan_settle``)."""
    lines = ScheduleLine.objects.filter(account=account, status__in=ScheduleLine.OPEN_BILLED).aggregate(
        s=_sum(PRINCIPAL_OPEN + FEE_OPEN))["s"]
    charges = Charge.objects.filter(account=account).aggregate(s=_sum(CHARGE_OPEN))["s"]
    return money(lines + charges)


def account_past_due(*, account: CreditAccount) -> Decimal:
    lines = ScheduleLine.objects.filter(account=account, status=ScheduleLine.Status.OVERDUE).aggregate(
        s=_sum(PRINCIPAL_OPEN + FEE_OPEN))["s"]
    return money(lines)


def account_outstanding(*, account: CreditAccount) -> dict[str, Decimal]:
    """The account's receivable by part (what ``used_amount`` is made of, PRODUCT §3)."""
    billed_fee = Case(When(billed_on__isnull=False, then=FEE_OPEN), default=Value(ZERO), output_field=_D)
    lines = ScheduleLine.objects.filter(account=account, status__in=ScheduleLine.OPEN).aggregate(
        principal=_sum(PRINCIPAL_OPEN), fees=_sum(billed_fee))
    charges = Charge.objects.filter(account=account).values("kind").annotate(s=_sum(CHARGE_OPEN))
    by_kind = {row["kind"]: money(row["s"]) for row in charges}
    return {
        "principal": money(lines["principal"]),
        "installment_fees": money(lines["fees"]),
        "late_fees": by_kind.get(Charge.Kind.LATE_FEE, ZERO),
        "deferral_fees": by_kind.get(Charge.Kind.DEFERRAL_FEE, ZERO),
        "premiums": by_kind.get(Charge.Kind.PREMIUM, ZERO),
    }


def statement_current(*, account: CreditAccount) -> Statement | None:
    return Statement.objects.filter(account=account).exclude(status=Statement.Status.DRAFT).order_by("-bill_date").first()


def statement_paid_toward(*, statement: Statement) -> Decimal:
    """Payments and bill credits received since the bill date (what counts toward the minimum)."""
    paid = Repayment.objects.filter(account_id=statement.account_id, status=Repayment.Status.POSTED,
                                    received_on__gte=statement.bill_date).exclude(kind=Repayment.Kind.RECOVERY).aggregate(
        s=_sum("amount"))["s"]
    from installments.models import Refund

    credits = Refund.objects.filter(account_id=statement.account_id, created_on__gte=statement.bill_date).aggregate(
        s=_sum(F("billed_principal_reduced") + F("fees_waived_billed")))["s"]
    return money(paid + credits)


@dataclass(frozen=True)
class StatementVersionView:
    """One version of a statement (PRODUCT §13): the superseded ones and the current one alike."""

    version: int
    current: bool
    status: str
    figures: dict
    lines: list
    amended_on: object
    amended_because: str
    superseded_on: object = None
    superseded_because: str = ""

    @property
    def minimum_payment(self) -> Decimal:
        return Decimal(self.figures["minimum_payment"])

    @property
    def past_due(self) -> Decimal:
        return Decimal(self.figures["past_due"])


def statement_versions(*, statement: Statement) -> list[StatementVersionView]:
    """Every version of an issued statement, oldest first; the last is the statement as it stands."""
    from installments.services.statements import STATEMENT_MONEY_FIELDS

    out = [StatementVersionView(v.version, False, v.status, v.figures, v.lines, v.amended_on, v.amended_because,
                                v.superseded_on, v.superseded_because)
           for v in statement.versions.order_by("version")]
    lines = [{"position": ln.position, "kind": ln.kind, "on_date": ln.on_date.isoformat() if ln.on_date else None,
              "description": ln.description, "principal": str(ln.principal), "fee": str(ln.fee),
              "amount": str(ln.amount), "ref": ln.ref} for ln in statement.lines.order_by("position", "on_date", "id")]
    out.append(StatementVersionView(statement.version, True, statement.status,
                                    {f: str(getattr(statement, f)) for f in STATEMENT_MONEY_FIELDS}, lines,
                                    statement.amended_on, statement.amended_because))
    return out


def account_statements(*, account: CreditAccount) -> QuerySet[Statement]:
    return Statement.objects.filter(account=account).exclude(status=Statement.Status.DRAFT).order_by("-bill_date")


def account_plans(*, account: CreditAccount) -> QuerySet[Plan]:
    return Plan.objects.filter(account=account).select_related("purchase").order_by("-id")


def plan_schedule(*, plan: Plan) -> QuerySet[ScheduleLine]:
    return plan.lines.order_by("period")


def account_purchases(*, account: CreditAccount) -> QuerySet[Purchase]:
    return Purchase.objects.filter(account=account).order_by("-id")


# --- The customer and account pages (staff 360° view): a bounded page of each, a fixed number of queries


def accounts_statements(*, account_ids, limit: int = 50) -> QuerySet[Statement]:
    return (Statement.objects.filter(account_id__in=account_ids).exclude(status=Statement.Status.DRAFT)
            .select_related("account").order_by("-bill_date", "-id")[:limit])


def accounts_plans_with_schedule(*, account_ids, limit: int = 30) -> list[Plan]:
    """Plans, newest first, each with its schedule lines (two queries)."""
    from django.db.models import Prefetch

    lines = ScheduleLine.objects.order_by("period")
    return list(Plan.objects.filter(account_id__in=account_ids).select_related("account", "purchase")
                .prefetch_related(Prefetch("lines", queryset=lines)).order_by("-id")[:limit])


def accounts_purchases(*, account_ids, limit: int = 50) -> QuerySet[Purchase]:
    return Purchase.objects.filter(account_id__in=account_ids).select_related("account").order_by("-id")[:limit]


def accounts_repayments(*, account_ids, limit: int = 50) -> list[Repayment]:
    """Repayments, newest first, with their allocations (two queries)."""
    return list(Repayment.objects.filter(account_id__in=account_ids).select_related("account")
                .prefetch_related("allocations").order_by("-received_on", "-id")[:limit])
