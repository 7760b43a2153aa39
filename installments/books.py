"""Proof of the books (PRODUCT §2–§3): the journal balances, and per credit account the journal's
receivable, the open schedule lines and charges, and ``used_amount`` agree to the cent, as do the
journal's customer credit balance and ``credit_balance``. Used by ``manage.py check_books`` and tests."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Case, DecimalField, F, Q, Sum, Value, When
from django.db.models.functions import Coalesce

from accounts.models import CreditAccount
from core.money import ZERO, money
from installments.models import Charge, Purchase, ScheduleLine
from ledger.models import Codes, JournalEntry, JournalLine, LedgerAccount

D = DecimalField(max_digits=16, decimal_places=2)


@dataclass(frozen=True)
class Breach:
    check: str
    subject: str
    expected: Decimal
    actual: Decimal

    def __str__(self) -> str:
        return f"{self.check}: {self.subject} expected {self.expected} got {self.actual} (diff {self.actual - self.expected})"


@dataclass
class BooksReport:
    entries: int = 0
    journal_lines: int = 0
    total_debit: Decimal = ZERO
    total_credit: Decimal = ZERO
    accounts_checked: int = 0
    receivable: Decimal = ZERO
    open_lines_and_charges: Decimal = ZERO
    used_amount: Decimal = ZERO
    credit_balances: Decimal = ZERO
    by_ledger_account: list[tuple[str, str, Decimal, Decimal]] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaches


def _sum(expr):
    return Coalesce(Sum(expr, output_field=D), Value(ZERO), output_field=D)


def books_check() -> BooksReport:
    report = BooksReport()
    # 1. The journal: every entry's lines sum to its stored totals, and debits = credits overall.
    report.entries = JournalEntry.objects.count()
    report.journal_lines = JournalLine.objects.count()
    totals = JournalLine.objects.aggregate(d=_sum("debit"), c=_sum("credit"))
    report.total_debit, report.total_credit = money(totals["d"]), money(totals["c"])
    if report.total_debit != report.total_credit:
        report.breaches.append(Breach("journal balanced", "all entries", report.total_debit, report.total_credit))
    bad = (JournalEntry.objects.annotate(d=_sum("lines__debit"), c=_sum("lines__credit"))
           .filter(~Q(d=F("total_debit")) | ~Q(c=F("total_credit")) | ~Q(d=F("c"))).values_list("pk", "total_debit", "d", "c")[:50])
    for pk, stored, d, c in bad:
        if money(d) != money(stored) or money(c) != money(stored) or money(d) != money(c):
            report.breaches.append(Breach("entry lines = entry totals", f"JE{pk}", money(stored), money(d)))
    names = dict(LedgerAccount.objects.values_list("code", "name"))
    for code, d, c in (JournalLine.objects.values("ledger_account_id").annotate(d=_sum("debit"), c=_sum("credit"))
                       .order_by("ledger_account_id").values_list("ledger_account_id", "d", "c")):
        report.by_ledger_account.append((code, names.get(code, ""), money(d), money(c)))

    # 2. Per credit account.
    journal_recv: dict[int, Decimal] = defaultdict(lambda: ZERO)
    journal_credit: dict[int, Decimal] = defaultdict(lambda: ZERO)
    rows = (JournalLine.objects.filter(credit_account__isnull=False)
            .values("credit_account_id", "ledger_account_id").annotate(d=_sum("debit"), c=_sum("credit"))
            .values_list("credit_account_id", "ledger_account_id", "d", "c"))
    for account_id, code, d, c in rows:
        if code in Codes.RECEIVABLES:
            journal_recv[account_id] += money(d) - money(c)
        elif code == Codes.CUSTOMER_CREDIT:
            journal_credit[account_id] += money(c) - money(d)
    open_rows: dict[int, Decimal] = defaultdict(lambda: ZERO)
    principal_open = F("principal") - F("principal_paid") - F("principal_reduced") - F("principal_written_off")
    fee_open = F("fee") - F("fee_paid") - F("fee_waived") - F("fee_written_off")
    for account_id, amount in (ScheduleLine.objects.filter(status__in=ScheduleLine.OPEN).values("account_id")
                               .annotate(s=_sum(principal_open + Case(When(billed_on__isnull=False, then=fee_open),
                                                                      default=Value(ZERO), output_field=D)))
                               .values_list("account_id", "s")):
        open_rows[account_id] += money(amount)
    for account_id, amount in (ScheduleLine.objects.exclude(status__in=ScheduleLine.OPEN).values("account_id")
                               .annotate(s=_sum(principal_open + Case(When(billed_on__isnull=False, then=fee_open),
                                                                      default=Value(ZERO), output_field=D)))
                               .values_list("account_id", "s")):
        if money(amount) != 0:
            report.breaches.append(Breach("closed lines owe nothing", f"account {account_id}", ZERO, money(amount)))
    for account_id, amount in (Charge.objects.values("account_id")
                               .annotate(s=_sum(F("amount") - F("paid") - F("waived") - F("written_off")))
                               .values_list("account_id", "s")):
        open_rows[account_id] += money(amount)

    for account in CreditAccount.objects.only("pk", "reference", "used_amount", "credit_balance").iterator(chunk_size=5000):
        report.accounts_checked += 1
        recv = money(journal_recv.get(account.pk, ZERO))
        rows_owed = money(open_rows.get(account.pk, ZERO))
        used = money(account.used_amount)
        credit = money(account.credit_balance)
        report.receivable += recv
        report.open_lines_and_charges += rows_owed
        report.used_amount += used
        report.credit_balances += credit
        subject = f"account {account.reference} (#{account.pk})"
        if recv != rows_owed:
            report.breaches.append(Breach("journal receivable = open lines + charges", subject, rows_owed, recv))
        if used != rows_owed:
            report.breaches.append(Breach("used_amount = unpaid principal + billed unpaid charges", subject, rows_owed, used))
        if credit != money(journal_credit.get(account.pk, ZERO)):
            report.breaches.append(Breach("credit_balance = journal credit balance", subject,
                                          money(journal_credit.get(account.pk, ZERO)), credit))
    _check_held(report)
    return report


def _check_held(report: BooksReport) -> None:
    """The amount an account reserves for purchases held for review is exactly those purchases."""
    held = dict(Purchase.objects.filter(status=Purchase.Status.HELD).values("account_id")
                .annotate(s=_sum("amount")).values_list("account_id", "s"))
    reserved = CreditAccount.objects.filter(Q(held_amount__gt=0) | Q(pk__in=list(held)))
    for pk, reference, amount in reserved.values_list("pk", "reference", "held_amount"):
        if money(amount) != money(held.get(pk, ZERO)):
            report.breaches.append(Breach("held_amount = purchases held for review", f"account {reference} (#{pk})",
                                          money(held.get(pk, ZERO)), money(amount)))
