"""Cash loans (issue 16 item 3): a drawdown to a bank card within the credit line, repaid in equal
installments (等额本息) on the same engine — the loan's schedule is an installment plan (kind
``cash_loan``) whose lines are billed on the monthly statements, go overdue, bear late fees and enter
collections like every other line. Interest is the line's ``fee``; the ledger keeps it on its own
accounts (1200 principal, 1210 interest, 4300 interest income)."""
from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.models import CreditAccount, CreditProduct
from core.models import BaseModel
from core.money import MoneyField, RateField
from installments.models import Plan

CASH_TENORS = (3, 6, 12)
CASH_TENOR_CHOICES = [(3, _("3 months")), (6, _("6 months")), (12, _("12 months"))]


def default_tenors() -> list[int]:
    return list(CASH_TENORS)


class CashLoanProduct(models.Model):
    """The cash-loan pricing and rules of a credit product, editable by staff (every number a default).
    A product whose APR by IRR would exceed its ceiling is refused when it is saved."""

    product = models.OneToOneField(CreditProduct, on_delete=models.CASCADE, related_name="cash_loan_product")
    is_active = models.BooleanField(default=True, help_text=_("Only an active product lends."))
    daily_rate = RateField(default=Decimal("0.000300"), help_text=_("Interest a day: 0.000300 = 0.03 % (0.90 % a month)."))
    tenors = models.JSONField(default=default_tenors, help_text=_("Months offered, among 3, 6 and 12."))
    min_amount = MoneyField(default=Decimal("500.00"))
    max_amount = MoneyField(default=Decimal("20000.00"))
    cash_share = RateField(
        default=Decimal("0.500000"), help_text=_("Cash sub-limit as a share of the total credit line: 0.500000 = 50 %.")
    )
    apr_ceiling = RateField(default=Decimal("0.240000"), help_text=_("0.240000 = 24 % a year (nominal APR by IRR)."))
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("cash-loan product")
        verbose_name_plural = _("cash-loan products")
        constraints = [
            models.CheckConstraint(condition=Q(daily_rate__gte=0, daily_rate__lt=Decimal("0.01")), name="cash_daily_rate_range"),
            models.CheckConstraint(condition=Q(min_amount__gt=0, max_amount__gte=F("min_amount")), name="cash_amount_range"),
            models.CheckConstraint(condition=Q(cash_share__gte=0, cash_share__lte=1), name="cash_share_0_1"),
            models.CheckConstraint(condition=Q(apr_ceiling__gt=0, apr_ceiling__lte=1), name="cash_apr_ceiling_0_1"),
        ]

    def __str__(self) -> str:
        return f"Cash loans of {self.product}"

    def clean(self) -> None:
        from cashloans.services import cash_product_violations

        problems = cash_product_violations(
            daily_rate=self.daily_rate, tenors=self.tenors, apr_ceiling=self.apr_ceiling,
            min_amount=self.min_amount, max_amount=self.max_amount,
        )
        if problems:
            raise DjangoValidationError(problems)


class LoanPurpose(models.TextChoices):
    """What the customer declares the cash is for (required at drawdown; cash may not buy houses, securities
    or other loans' repayment)."""

    CONSUMPTION = "consumption", _("Everyday consumption")
    EDUCATION = "education", _("Education")
    TRAVEL = "travel", _("Travel")
    HEALTH = "health", _("Medical care")
    HOME = "home", _("Home furnishing and repairs")
    OTHER = "other", _("Other personal consumption")


class CashLoan(BaseModel):
    """One drawdown: the amount sent to the customer's bank card (only its masked number is kept) and
    the installment plan it created. Its state is the plan's (active, paid off, settled early, written off,
    reversed when the payout to the card failed)."""

    class Payout(models.TextChoices):
        SENT = "sent", _("Sent to the card")
        FAILED = "failed", _("Payout failed, drawdown reversed")

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="cash_loans")
    product = models.ForeignKey(CashLoanProduct, on_delete=models.PROTECT, related_name="loans")
    plan = models.OneToOneField(Plan, on_delete=models.PROTECT, related_name="cash_loan")
    amount = MoneyField()
    tenor = models.PositiveSmallIntegerField(choices=CASH_TENOR_CHOICES)
    daily_rate = RateField()
    installment = MoneyField()
    last_installment = MoneyField()
    total_interest = MoneyField()
    apr_nominal_pct = models.DecimalField(max_digits=7, decimal_places=2)
    apr_effective_pct = models.DecimalField(max_digits=7, decimal_places=2)
    card_masked = models.CharField(max_length=24, help_text=_("The bank card, masked: only its last 4 digits are kept."))
    drawn_on = models.DateField()
    purpose = models.CharField(max_length=15, choices=LoanPurpose.choices, help_text=_("What the customer declared the cash is for."))
    payout = models.CharField(max_length=10, choices=Payout.choices, default=Payout.SENT)
    payout_failed_on = models.DateField(null=True, blank=True)
    payout_failure = models.CharField(max_length=200, blank=True, help_text=_("What the bank said when the payout failed."))
    requested_via = models.CharField(max_length=80, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("cash loan")
        verbose_name_plural = _("cash loans")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0, installment__gt=0, total_interest__gte=0), name="cash_loan_amounts"),
            models.CheckConstraint(condition=Q(tenor__in=CASH_TENORS), name="cash_loan_known_tenor"),
            models.CheckConstraint(condition=~Q(payout="failed") | Q(payout_failed_on__isnull=False),
                                   name="cash_loan_failed_payout_has_date"),
        ]

    def __str__(self) -> str:
        return f"Cash loan {self.reference}"


class AccountCashLimit(models.Model):
    """A credit officer's override of one account's cash sub-limit (e.g. lowered for a cash-out risk):
    replaces the product's share of the line, never above the total limit. Changed through the service,
    with a reason, audited; the history keeps every value."""

    account = models.OneToOneField(CreditAccount, on_delete=models.PROTECT, related_name="cash_limit_override")
    cash_limit = MoneyField(help_text=_("The account's cash sub-limit, instead of the product's share of the line."))
    reason = models.CharField(max_length=500)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("account cash limit")
        verbose_name_plural = _("account cash limits")
        constraints = [models.CheckConstraint(condition=Q(cash_limit__gte=0), name="account_cash_limit_gte_0")]

    def __str__(self) -> str:
        return f"Cash limit of {self.account}: {self.cash_limit}"


class CashLoanPrepayment(BaseModel):
    """A partial prepayment of a cash loan (issue 25): principal repaid before it is due, the interest accrued
    to that day staying due with the next installment; the rest of the schedule is re-amortised by the day,
    either keeping the installment (fewer periods) or keeping the periods (a lower installment)."""

    class Mode(models.TextChoices):
        SHORTEN = "shorten", _("Shorten the term")
        LOWER = "lower", _("Lower the installment")

    loan = models.ForeignKey(CashLoan, on_delete=models.PROTECT, related_name="prepayments")
    repayment = models.OneToOneField("installments.Repayment", on_delete=models.PROTECT, related_name="+")
    mode = models.CharField(max_length=10, choices=Mode.choices)
    amount = MoneyField(help_text=_("Principal repaid before it was due."))
    accrued_interest = MoneyField(help_text=_("Interest accrued to the prepayment date, due with the next installment."))
    balance_after = MoneyField()
    installment_after = MoneyField()
    periods_after = models.PositiveSmallIntegerField()
    prepaid_on = models.DateField()

    class Meta:
        ordering = ["-id"]
        verbose_name = _("cash-loan prepayment")
        verbose_name_plural = _("cash-loan prepayments")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0, balance_after__gt=0), name="cash_prepayment_amounts")]

    def __str__(self) -> str:
        return f"Prepayment {self.reference}"
