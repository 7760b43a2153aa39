"""A double-entry journal (PRODUCT §2): every money movement posts an entry whose debits equal its credits.

The database enforces what it can portably: an entry's stored totals are equal (``CheckConstraint``),
every line is one-sided and positive, the chart of accounts is a foreign key. The one write path,
``ledger.services``, computes an entry's totals *from its lines* and refuses the entry when they differ,
so an unbalanced entry is never saved; ``check_books`` re-proves line sums = entry totals.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.money import ZERO, MoneyField
from django.utils.translation import gettext_lazy as _


class LedgerAccount(models.Model):
    """The chart of accounts (codes are stable: the set-based posters write them as literals)."""

    class Type(models.TextChoices):
        ASSET = "asset", _("Asset")
        LIABILITY = "liability", _("Liability")
        INCOME = "income", _("Income")
        EXPENSE = "expense", _("Expense")

    code = models.CharField(max_length=10, primary_key=True)
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=10, choices=Type.choices)
    is_customer_receivable = models.BooleanField(
        default=False, help_text=_("Part of what customers owe (reconciled per credit account by check_books).")
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def normal_debit(self) -> bool:
        return self.type in (self.Type.ASSET, self.Type.EXPENSE)


class Codes:
    """The chart's codes, named (see the data migration ``0002_chart``)."""

    CASH = "1000"  # bank / payment clearing
    RECEIVABLE_PRINCIPAL = "1100"
    RECEIVABLE_FEES = "1110"
    RECEIVABLE_LATE_FEES = "1120"
    RECEIVABLE_DEFERRAL_FEES = "1130"
    RECEIVABLE_PREMIUM = "1140"  # issue 16: consumer-credit insurance premiums billed to customers
    INSURER_CLAIM_RECEIVABLE = "1300"  # issue 16: claims the insurer owes (paid plans)
    MERCHANT_PAYABLE = "2000"
    CUSTOMER_CREDIT = "2100"
    REFUND_PAYABLE = "2200"
    PREMIUM_PAYABLE = "2300"  # issue 16: premiums owed to the insurer
    FEE_INCOME = "4000"
    LATE_FEE_INCOME = "4100"
    DEFERRAL_FEE_INCOME = "4200"
    RECOVERY_INCOME = "4900"
    CREDIT_LOSS = "5000"
    CASH_LOAN_PRINCIPAL = "1200"  # cash loans (issue 16): principal drawn to a bank card
    CASH_LOAN_INTEREST = "1210"  # cash loans: billed interest
    CASH_LOAN_INTEREST_INCOME = "4300"

    RECEIVABLES = (RECEIVABLE_PRINCIPAL, RECEIVABLE_FEES, RECEIVABLE_LATE_FEES, RECEIVABLE_DEFERRAL_FEES,
                   RECEIVABLE_PREMIUM, CASH_LOAN_PRINCIPAL, CASH_LOAN_INTEREST)


class JournalEntry(models.Model):
    """One balanced posting. ``source`` names what caused it (``purchase:REF``, ``cob:late_fees``…)."""

    class Kind(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        FEE_BILLED = "fee_billed", _("Installment fee billed")
        LATE_FEE = "late_fee", _("Late fee accrued")
        DEFERRAL_FEE = "deferral_fee", _("Deferral fee accrued")
        REPAYMENT = "repayment", _("Repayment")
        SETTLEMENT = "settlement", _("Early settlement")
        CREDIT_APPLIED = "credit_applied", _("Credit balance applied")
        REFUND = "refund", _("Refund")
        WAIVER = "waiver", _("Fee waived")
        WRITE_OFF = "write_off", _("Write-off")
        RECOVERY = "recovery", _("Recovery")
        REVERSAL = "reversal", _("Reversal")
        PREMIUM_BILLED = "premium_billed", _("Insurance premium billed")
        INSURANCE_CLAIM = "insurance_claim", _("Insurance claim paid")
        PREMIUM_REFUND = "premium_refund", _("Insurance premium refunded")
        CASH_LOAN = "cash_loan", _("Cash-loan drawdown")
        INSURER_REMITTANCE = "insurer_remittance", _("Premiums remitted to the insurer")

    kind = models.CharField(max_length=20, choices=Kind.choices)
    posted_on = models.DateField(help_text=_("Business date of the movement."))
    memo = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=80, blank=True, db_index=True)
    total_debit = MoneyField(default=ZERO)
    total_credit = MoneyField(default=ZERO)
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_rule = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = _("journal entries")
        indexes = [models.Index(fields=["posted_on", "kind"])]
        constraints = [
            models.CheckConstraint(condition=Q(total_debit=models.F("total_credit")), name="journal_entry_balanced"),
            models.CheckConstraint(condition=Q(total_debit__gte=0), name="journal_entry_total_gte_0"),
        ]

    def __str__(self) -> str:
        return f"JE{self.pk} {self.get_kind_display()} {self.posted_on:%Y-%m-%d}"


class JournalLine(models.Model):
    """One side of an entry. ``credit_account`` ties a line to a customer's credit line (sub-ledger)."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    ledger_account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="+")
    credit_account = models.ForeignKey(
        "accounts.CreditAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="journal_lines"
    )
    debit = MoneyField(default=ZERO)
    credit = MoneyField(default=ZERO)

    class Meta:
        ordering = ["entry_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(debit__gt=0) & Q(credit=0)) | (Q(debit=0) & Q(credit__gt=0)),
                name="journal_line_one_sided_positive",
            ),
        ]

    def __str__(self) -> str:
        side = f"Dr {self.debit}" if self.debit else f"Cr {self.credit}"
        return f"{self.ledger_account_id} {side}"
