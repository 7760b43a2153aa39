"""Consumer-credit insurance (issue 16): the products an insurer offers, the policy sold with one
installment plan, and the claims that pay a plan off from the insurer's account.

A policy's premium is a fixed amount per period (``premium_rate`` × the plan's principal, rounded to the
cent), billed with each of the plan's installments by close of business as an engine ``Charge`` of kind
``premium`` (so allocation, overdue, statements and write-off treat it like every other charge)."""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.models import CreditAccount, CreditProduct
from core.models import BaseModel
from core.money import ZERO, MoneyField, RateField
from installments.models import Plan


class InsuranceProduct(models.Model):
    """What an insurer sells with a plan: the premium per period as a share of the plan's principal, the
    cooling-off days, and whether the lender makes it a condition of the credit (then the premium is a
    cost of the credit and counts in the APR, PBoC 2021 No. 3)."""

    code = models.CharField(max_length=30, unique=True)
    name = models.CharField(max_length=100)
    insurer = models.CharField(max_length=100, help_text=_("The insurance company that carries the risk."))
    credit_product = models.ForeignKey(
        CreditProduct, null=True, blank=True, on_delete=models.PROTECT, related_name="insurance_products",
        help_text=_("Sold with plans of this credit product only. Empty: any product."),
    )
    premium_rate = RateField(default=Decimal("0.001000"),
                             help_text=_("Premium per period on the plan's principal: 0.001000 = 0.10 %."))
    cooling_off_days = models.PositiveSmallIntegerField(
        default=15, help_text=_("Cancelled within this many days of the start: every premium is refunded."))
    condition_of_credit = models.BooleanField(
        default=False, help_text=_("The lender requires it: the premium counts in the plan's APR."))
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("insurance product")
        verbose_name_plural = _("insurance products")
        constraints = [
            models.CheckConstraint(condition=Q(premium_rate__gte=0, premium_rate__lte=Decimal("0.1")),
                                   name="insurance_premium_rate_0_10pct"),
            models.CheckConstraint(condition=Q(cooling_off_days__lte=365), name="insurance_cooling_off_lte_365"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class InsurancePolicy(BaseModel):
    """The insurance of one installment plan, from the plan's creation. Premiums stop when it is
    cancelled or claimed (and when the plan has no period left to bill)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        CANCELLED = "cancelled", _("Cancelled")
        CLAIMED = "claimed", _("Claim paid")

    plan = models.OneToOneField(Plan, on_delete=models.PROTECT, related_name="insurance_policy")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="insurance_policies")
    product = models.ForeignKey(InsuranceProduct, on_delete=models.PROTECT, related_name="policies")
    premium_rate = RateField()
    premium_per_period = MoneyField()
    periods = models.PositiveSmallIntegerField()
    condition_of_credit = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    start_date = models.DateField()
    cooling_off_until = models.DateField(help_text=_("Last day a cancellation refunds every premium."))
    cancelled_on = models.DateField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=500, blank=True)
    refunded_amount = MoneyField(default=ZERO, help_text=_("Premiums already paid, refunded to the credit balance."))
    waived_amount = MoneyField(default=ZERO, help_text=_("Premiums billed but unpaid, no longer owed."))
    ended_on = models.DateField(null=True, blank=True, help_text=_("Claim paid or cancelled on."))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("insurance policy")
        verbose_name_plural = _("insurance policies")
        permissions = [("cancel_policy", "Can cancel an insurance policy (refunds premiums in the cooling-off period)")]
        indexes = [models.Index(fields=["status", "account"])]
        constraints = [
            models.CheckConstraint(condition=Q(premium_per_period__gte=0, refunded_amount__gte=0, waived_amount__gte=0),
                                   name="insurance_policy_amounts_gte_0"),
            models.CheckConstraint(condition=Q(cooling_off_until__gte=F("start_date")), name="insurance_cooling_off_after_start"),
            models.CheckConstraint(condition=~Q(status="cancelled") | Q(cancelled_on__isnull=False),
                                   name="insurance_cancelled_has_date"),
        ]

    def __str__(self) -> str:
        return f"Policy {self.reference}"

    @property
    def total_premium(self) -> Decimal:
        return self.premium_per_period * self.periods


class InsuranceClaim(BaseModel):
    """A claim on a policy (death, disability, unemployment). Paid under four eyes: the maker submits it,
    a second person approves it (``approvals``), and only then the insurer's account pays the plan off."""

    class Reason(models.TextChoices):
        DEATH = "death", _("Death")
        DISABILITY = "disability", _("Disability")
        UNEMPLOYMENT = "unemployment", _("Unemployment")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        PAID = "paid", _("Paid")

    policy = models.ForeignKey(InsurancePolicy, on_delete=models.PROTECT, related_name="claims")
    reason = models.CharField(max_length=15, choices=Reason.choices)
    event_date = models.DateField(help_text=_("Date of the death, disability or loss of employment."))
    note = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    amount = MoneyField(help_text=_("What the plan owed when the claim was made (principal, fees)."))
    paid_amount = MoneyField(default=ZERO, help_text=_("Paid to the plan by the insurer."))
    premiums_waived = MoneyField(default=ZERO, help_text=_("Unpaid premiums of the policy, netted with the insurer."))
    submitted_on = models.DateField()
    paid_on = models.DateField(null=True, blank=True)
    approval = models.CharField(max_length=16, blank=True, help_text=_("The approval request's reference."))
    maker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    checker = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    repayment = models.ForeignKey("installments.Repayment", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-id"]
        verbose_name = _("insurance claim")
        verbose_name_plural = _("insurance claims")
        permissions = [("pay_claim", "Can submit and approve an insurance claim (maker-checker)")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0, paid_amount__gte=0, premiums_waived__gte=0),
                                   name="insurance_claim_amounts"),
            models.CheckConstraint(condition=~Q(checker=F("maker")), name="insurance_claim_checker_is_not_maker"),
            models.CheckConstraint(condition=~Q(status="paid") | Q(checker__isnull=False, paid_on__isnull=False),
                                   name="insurance_claim_paid_has_checker"),
        ]

    def __str__(self) -> str:
        return f"Claim {self.reference}"


class InsurerRemittance(BaseModel):
    """The monthly remittance to an insurer (issue 25): the premiums customers paid in the month (less those
    refunded since), paid out of the premium payable (Dr 2300 / Cr 1000); its lines are the statement sent
    with the money. One per insurer and month; a month with nothing to remit has none."""

    insurer = models.CharField(max_length=100)
    period_start = models.DateField()
    period_end = models.DateField(help_text=_("Premiums paid up to this day (inclusive) are remitted."))
    amount = MoneyField(help_text=_("Net amount remitted (negative: the insurer owes a refund back)."))
    lines_count = models.PositiveIntegerField(default=0)
    remitted_on = models.DateField()
    journal_entry = models.ForeignKey("ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="+")

    class Meta:
        ordering = ["-period_end", "insurer"]
        verbose_name = _("insurer remittance")
        verbose_name_plural = _("insurer remittances")
        constraints = [models.UniqueConstraint(fields=["insurer", "period_end"], name="one_remittance_per_insurer_month")]

    def __str__(self) -> str:
        return f"Remittance {self.reference}"


class RemittanceLine(models.Model):
    """One policy on a remittance statement: the premiums its customer paid, less those refunded and those
    remitted before (negative when a paid premium was refunded after it was remitted)."""

    remittance = models.ForeignKey(InsurerRemittance, on_delete=models.CASCADE, related_name="lines")
    policy = models.ForeignKey(InsurancePolicy, on_delete=models.PROTECT, related_name="+")
    premiums_paid = MoneyField(help_text=_("Premiums of the policy paid by the customer so far."))
    premiums_refunded = MoneyField(default=ZERO, help_text=_("Paid premiums refunded to the customer."))
    amount = MoneyField(help_text=_("Remitted now: paid − refunded − remitted before."))

    class Meta:
        ordering = ["pk"]
        verbose_name = _("remittance line")
        verbose_name_plural = _("remittance lines")

    def __str__(self) -> str:
        return f"{self.policy} {self.amount}"
