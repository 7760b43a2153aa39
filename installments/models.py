"""The credit engine's records (PRODUCT §4–§6): product terms, purchases, plans and their schedule lines,
statements, daily charges (late and deferral fees), repayments with their allocation, refunds,
adjustments and write-offs.

Money is tracked on the schedule line and the charge, never re-derived: a line's open principal is
``principal − principal_paid − principal_reduced − principal_written_off`` and its open fee (once billed)
``fee − fee_paid − fee_waived − fee_written_off``; ``CheckConstraint``s keep every part non-negative and
never above what was scheduled (sums are rounded to the cent inside the constraints: SQLite stores
decimals as binary floats, and 0.10 + 0.20 must still equal 0.30 there). Columns the nightly job rewrites (line ``status``, ``overdue_from``,
``deferred_from``; account ``dpd``/``bucket``) are kept out of indexes.
"""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Round
from simple_history.models import HistoricalRecords

from accounts.models import CreditAccount, CreditProduct
from core.models import BaseModel
from core.money import ZERO, MoneyField, RateField
from installments.calc import TENORS, AllocationStrategy, SettlementPolicy
from django.utils.translation import gettext_lazy as _

TENOR_LABELS = {3: _("3 months"), 6: _("6 months"), 12: _("12 months"), 24: _("24 months")}
TENOR_CHOICES = [(t, TENOR_LABELS.get(t, f"{t} months")) for t in TENORS]
#: Labels of the calculation's enums (installments.calc stays free of Django), translated.
ENUM_LABELS = {
    "waive_future_fees": _("Waive future fees"), "charge_next_fee": _("Charge next fee"),
    "kind_first": _("Kind first"), "date_first": _("Date first"),
}


class ProductTerms(models.Model):
    """Pricing and rules of a credit product (PRODUCT §4–§6), editable by staff. Every number is a default."""

    product = models.OneToOneField(CreditProduct, on_delete=models.CASCADE, related_name="terms")
    grace_days = models.PositiveSmallIntegerField(default=3)
    late_fee_daily_rate = RateField(default=Decimal("0.000500"), help_text=_("0.000500 = 0.05 % a day."))
    late_fee_daily_minimum = MoneyField(default=Decimal("0.01"))
    deferral_daily_rate = RateField(default=Decimal("0.000500"))
    minimum_payment_rate = RateField(default=Decimal("0.100000"), help_text=_("Share of the revolving balance."))
    due_offset_days = models.PositiveSmallIntegerField(default=9, help_text=_("Due date = bill date + this many days."))
    settlement_policy = models.CharField(
        max_length=20,
        choices=[(p.value, ENUM_LABELS.get(p.value, p.value.replace("_", " ").capitalize())) for p in SettlementPolicy],
        default=SettlementPolicy.WAIVE_FUTURE_FEES.value,
    )
    bill_installment_minimum = MoneyField(default=Decimal("100.00"))
    apr_ceiling = RateField(default=Decimal("0.240000"), help_text=_("0.240000 = 24 % a year (nominal APR by IRR)."))
    allocation_strategy = models.CharField(
        max_length=20,
        choices=[(s.value, ENUM_LABELS.get(s.value, s.value.replace("_", " ").capitalize())) for s in AllocationStrategy],
        default=AllocationStrategy.KIND_FIRST.value,
    )
    value_date_max_days = models.PositiveSmallIntegerField(
        default=30, help_text="A repayment's bank value date may be at most this many days before the business date.")
    hold_expiry_days = models.PositiveSmallIntegerField(
        default=3, help_text="A purchase held for a risk review and not released within this many business days "
        "(3 = 72 hours) is declined by the close of business (reason hold_expired) and its limit restored."
    )
    repayment_credit_tolerance = MoneyField(
        default=Decimal("1000.00"), help_text="A repayment may exceed what the account owes by at most this much "
        "(the excess becomes a credit balance); a larger one is refused."
    )
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("product terms")
        verbose_name_plural = _("product terms")
        constraints = [
            models.CheckConstraint(condition=Q(late_fee_daily_rate__gte=0, late_fee_daily_rate__lte=1), name="terms_late_rate_0_1"),
            models.CheckConstraint(condition=Q(late_fee_daily_minimum__gte=0), name="terms_late_min_gte_0"),
            models.CheckConstraint(condition=Q(deferral_daily_rate__gte=0, deferral_daily_rate__lte=1), name="terms_deferral_rate_0_1"),
            models.CheckConstraint(condition=Q(minimum_payment_rate__gte=0, minimum_payment_rate__lte=1), name="terms_minimum_rate_0_1"),
            models.CheckConstraint(condition=Q(due_offset_days__gte=1, due_offset_days__lte=27), name="terms_due_offset_1_27"),
            models.CheckConstraint(condition=Q(grace_days__lte=20), name="terms_grace_lte_20"),
            models.CheckConstraint(condition=Q(bill_installment_minimum__gte=0), name="terms_bill_inst_min_gte_0"),
            models.CheckConstraint(condition=Q(apr_ceiling__gt=0, apr_ceiling__lte=1), name="terms_apr_ceiling_0_1"),
            models.CheckConstraint(condition=Q(value_date_max_days__lte=366), name="terms_value_date_max_lte_366"),
            models.CheckConstraint(condition=Q(hold_expiry_days__gte=1, hold_expiry_days__lte=90), name="terms_hold_expiry_1_90"),
            models.CheckConstraint(condition=Q(repayment_credit_tolerance__gte=0), name="terms_credit_tolerance_gte_0"),
        ]

    def __str__(self) -> str:
        return f"Terms of {self.product}"

    def fee_rates(self) -> dict[int, Decimal]:
        return {rate.tenor: rate.fee_rate for rate in self.tenor_rates.all()}


class TenorRate(models.Model):
    """The installment fee per period of one tenor (default 3: 0.60 %, 6: 0.60 %, 12: 0.50 %, 24: 0.50 %)."""

    terms = models.ForeignKey(ProductTerms, on_delete=models.CASCADE, related_name="tenor_rates")
    tenor = models.PositiveSmallIntegerField(choices=TENOR_CHOICES)
    fee_rate = RateField(help_text=_("Per period, on the original principal: 0.006000 = 0.60 %."))

    class Meta:
        ordering = ["tenor"]
        constraints = [
            models.UniqueConstraint(fields=["terms", "tenor"], name="one_rate_per_tenor"),
            models.CheckConstraint(condition=Q(tenor__in=TENORS), name="tenor_rate_known_tenor"),
            models.CheckConstraint(condition=Q(fee_rate__gte=0, fee_rate__lte=1), name="tenor_rate_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.tenor} × {self.fee_rate * 100:.2f} %"


class Purchase(BaseModel):
    """An authorisation against the credit line (PRODUCT §4). Approved purchases post to a cycle."""

    class Status(models.TextChoices):
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")
        HELD = "held", _("Held for review")

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="purchases")
    amount = MoneyField()
    merchant_order_id = models.CharField(max_length=64)
    category = models.CharField(max_length=40, blank=True)
    tenor = models.PositiveSmallIntegerField(null=True, blank=True, choices=TENOR_CHOICES, help_text=_("Empty: revolving."))
    device_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    reason_codes = models.JSONField(default=list, blank=True)
    add_ons = models.JSONField(
        _("add-ons"), default=list, blank=True,
        help_text=_("Add-ons asked for with the purchase (insurance): attached to its plan when it posts, "
                    "also after a review hold."))
    requested_on = models.DateField()
    posted_on = models.DateField(null=True, blank=True)
    cycle_bill_date = models.DateField(null=True, blank=True, help_text=_("Bill date of the statement it posts to."))
    refunded_amount = MoneyField(default=ZERO)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=500, blank=True)
    requested_via = models.CharField(
        max_length=80, blank=True, editable=False,
        help_text="Who asked for it: 'api:<client reference>' through the integration API (the client may read it "
        "back), 'user:<id>' for staff, else the system rule.",
    )

    class Meta:
        ordering = ["-id"]
        permissions = [("refund_purchase", "Can refund a purchase"), ("review_purchase", "Can approve or decline a held purchase")]
        indexes = [models.Index(fields=["account", "requested_on"]), models.Index(fields=["status", "requested_on"])]
        constraints = [
            models.UniqueConstraint(fields=["account", "merchant_order_id"], name="unique_merchant_order_per_account"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="purchase_amount_gt_0"),
            models.CheckConstraint(condition=Q(refunded_amount__gte=0, refunded_amount__lte=F("amount")), name="purchase_refund_lte_amount"),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(posted_on__isnull=False, cycle_bill_date__gt=F("posted_on")),
                name="purchase_approved_is_posted",
            ),
        ]

    def __str__(self) -> str:
        return f"Purchase {self.reference}"


class Plan(BaseModel):
    """A repayment schedule: a revolving purchase (one line, no fee), a purchase installment, or a bill
    installment. The APR by IRR is stored with the plan (PRODUCT §5: shown before the per-period rate)."""

    class Kind(models.TextChoices):
        REVOLVING = "revolving", _("Revolving purchase")
        PURCHASE_INSTALLMENT = "purchase_installment", _("Purchase installment")
        BILL_INSTALLMENT = "bill_installment", _("Bill installment")
        CASH_LOAN = "cash_loan", _("Cash loan")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAID_OFF = "paid_off", _("Paid off")
        SETTLED = "settled", _("Settled early")
        REFUNDED = "refunded", _("Refunded")
        CONVERTED = "converted", _("Converted to a bill installment")
        WRITTEN_OFF = "written_off", _("Written off")
        CLAIM_PAID = "claim_paid", _("Paid by an insurance claim")
        REVERSED = "reversed", _("Drawdown reversed (payout failed)")

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="plans")
    kind = models.CharField(max_length=25, choices=Kind.choices)
    purchase = models.OneToOneField(Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="plan")
    source_statement = models.ForeignKey(
        "Statement", null=True, blank=True, on_delete=models.PROTECT, related_name="bill_installments"
    )
    principal = MoneyField()
    tenor = models.PositiveSmallIntegerField()
    fee_rate = RateField(default=ZERO)
    fee_per_period = MoneyField(default=ZERO)
    total_fee = MoneyField(default=ZERO)
    apr_nominal_pct = models.DecimalField(max_digits=7, decimal_places=2, default=ZERO)
    apr_effective_pct = models.DecimalField(max_digits=7, decimal_places=2, default=ZERO)
    created_on = models.DateField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    closed_on = models.DateField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-id"]
        permissions = [("settle_plan", "Can settle a plan early")]
        constraints = [
            models.CheckConstraint(condition=Q(principal__gt=0), name="plan_principal_gt_0"),
            models.CheckConstraint(condition=Q(tenor__gte=1), name="plan_tenor_gte_1"),
            models.CheckConstraint(condition=~Q(kind="revolving") | Q(tenor=1, fee_per_period=0), name="plan_revolving_one_line_no_fee"),
            models.CheckConstraint(condition=~Q(kind="revolving") & ~Q(kind="purchase_installment") | Q(purchase__isnull=False), name="plan_purchase_kinds_have_purchase"),
            models.CheckConstraint(condition=~Q(kind="bill_installment") | Q(source_statement__isnull=False), name="plan_bill_installment_has_statement"),
        ]

    def __str__(self) -> str:
        return f"Plan {self.reference}"


class ScheduleLine(models.Model):
    """One period of a plan. ``billed_on`` is set when a statement bills it (its fee becomes owed)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Not yet billed")
        DUE = "due", _("Billed, due")
        DEFERRED = "deferred", _("Deferred (minimum paid)")
        OVERDUE = "overdue", _("Overdue")
        CLOSED = "closed", _("Closed")
        WRITTEN_OFF = "written_off", _("Written off")

    OPEN_BILLED = (Status.DUE, Status.DEFERRED, Status.OVERDUE)
    OPEN = (Status.PENDING, *OPEN_BILLED)

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="lines")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="schedule_lines")
    period = models.PositiveSmallIntegerField()
    is_revolving = models.BooleanField(default=False)
    due_date = models.DateField()
    principal = MoneyField()
    fee = MoneyField(default=ZERO)
    principal_paid = MoneyField(default=ZERO)
    principal_reduced = MoneyField(default=ZERO, help_text=_("Refunded or converted into a bill installment."))
    principal_written_off = MoneyField(default=ZERO)
    fee_paid = MoneyField(default=ZERO)
    fee_waived = MoneyField(default=ZERO, help_text=_("Refunded pro rata, or waived on early settlement."))
    fee_written_off = MoneyField(default=ZERO)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    statement = models.ForeignKey("Statement", null=True, blank=True, on_delete=models.PROTECT, related_name="schedule_lines")
    billed_on = models.DateField(null=True, blank=True)
    deferred_from = models.DateField(null=True, blank=True)
    overdue_from = models.DateField(null=True, blank=True)
    closed_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["plan_id", "period"]
        indexes = [
            # Close of business reads a chunk's overdue and deferred lines (DPD, late and deferral fees): a
            # few among all the lines, paid and pending ones included.
            models.Index(fields=["account"], condition=Q(status__in=["overdue", "deferred"]), name="line_past_due_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["plan", "period"], name="one_line_per_plan_period"),
            models.CheckConstraint(condition=Q(principal__gte=0, fee__gte=0), name="line_amounts_gte_0"),
            models.CheckConstraint(
                condition=Q(principal_paid__gte=0, principal_reduced__gte=0, principal_written_off__gte=0,
                            fee_paid__gte=0, fee_waived__gte=0, fee_written_off__gte=0),
                name="line_parts_gte_0",
            ),
            models.CheckConstraint(
                condition=Q(principal__gte=Round(F("principal_paid") + F("principal_reduced") + F("principal_written_off"), 2)),
                name="line_principal_not_overpaid",
            ),
            models.CheckConstraint(
                condition=Q(fee__gte=Round(F("fee_paid") + F("fee_waived") + F("fee_written_off"), 2)), name="line_fee_not_overpaid"
            ),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(billed_on__isnull=True, fee_paid=0), name="line_pending_is_unbilled"
            ),
            models.CheckConstraint(condition=Q(period__gte=1), name="line_period_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id}/{self.period} due {self.due_date}"

    @property
    def principal_open(self) -> Decimal:
        return self.principal - self.principal_paid - self.principal_reduced - self.principal_written_off

    @property
    def fee_open(self) -> Decimal:
        return self.fee - self.fee_paid - self.fee_waived - self.fee_written_off

    @property
    def billed_open(self) -> Decimal:
        """What this line adds to the receivable: open principal, plus the open fee once billed."""
        return self.principal_open + (self.fee_open if self.billed_on else ZERO)


class Statement(models.Model):
    """One bill per account and cycle (PRODUCT §4), generated on the bill day by close of business.

    ``closing_balance`` is what the account owes on the bill date (negative: in credit);
    ``adjustments`` makes the statement add up when something moved outside the cycle's purchases,
    charges, payments and refunds (a bill installment, early settlement of future installments).
    The ``*_due`` fields are the parts the minimum payment is computed from."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Being generated")
        OPEN = "open", _("Open")
        PAID = "paid", _("Paid in full")
        MINIMUM_PAID = "minimum_paid", _("Minimum paid")
        OVERDUE = "overdue", _("Overdue")

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="statements")
    bill_date = models.DateField()
    due_date = models.DateField()
    period_start = models.DateField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    resolved_on = models.DateField(null=True, blank=True)
    opening_balance = MoneyField(default=ZERO)
    purchases_amount = MoneyField(default=ZERO, help_text=_("New revolving purchases of the cycle."))
    installments_principal = MoneyField(default=ZERO)
    installments_fee = MoneyField(default=ZERO)
    deferral_fees = MoneyField(default=ZERO)
    late_fees = MoneyField(default=ZERO)
    premiums = MoneyField(default=ZERO, db_default=ZERO,  # db_default: the set-based INSERTs need not name it
                          help_text=_("Consumer-credit insurance premiums billed this cycle."))
    payments_amount = MoneyField(default=ZERO)
    refunds_amount = MoneyField(default=ZERO)
    credit_applied = MoneyField(default=ZERO)
    adjustments = MoneyField(default=ZERO)
    closing_balance = MoneyField(default=ZERO)
    revolving_due = MoneyField(default=ZERO)
    installments_due = MoneyField(default=ZERO)
    fees_due = MoneyField(default=ZERO)
    past_due = MoneyField(default=ZERO)
    minimum_payment = MoneyField(default=ZERO)
    # PRODUCT §13: an issued statement is amended as a new version (the old one kept as a StatementVersion).
    version = models.PositiveSmallIntegerField(default=1, db_default=1, help_text=_("1 as issued; +1 per amendment."))
    amended_on = models.DateField(null=True, blank=True, help_text=_("Business date of the latest amendment."))
    amended_because = models.CharField(max_length=300, blank=True, db_default="",
                                       help_text=_("Why the latest amendment was made (its cause)."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-bill_date", "-id"]
        indexes = [
            models.Index(fields=["due_date"]),
            # Close of business judges (and collections reminds about) the open statements of a chunk of
            # accounts: a few among every bill ever issued.
            models.Index(fields=["account", "due_date"], condition=Q(status="open"), name="statement_open_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["account", "bill_date"], name="one_statement_per_account_cycle"),
            models.CheckConstraint(condition=Q(due_date__gt=F("bill_date")), name="statement_due_after_bill"),
            models.CheckConstraint(condition=Q(minimum_payment__gte=0), name="statement_minimum_gte_0"),
            models.CheckConstraint(
                condition=Q(revolving_due__gte=0, installments_due__gte=0, fees_due__gte=0, past_due__gte=0),
                name="statement_due_parts_gte_0",
            ),
        ]

    def __str__(self) -> str:
        return f"Statement {self.bill_date:%Y-%m-%d} of {self.account}"

    @property
    def owed(self) -> Decimal:
        return self.revolving_due + self.installments_due + self.fees_due + self.past_due


class StatementVersion(models.Model):
    """A superseded version of an issued statement (PRODUCT §13): its figures and lines as they stood
    before an amendment. The statement row is always the current version."""

    class Cause(models.TextChoices):
        VALUE_DATE = "value_date", _("Back-valued money")
        REVERSAL = "reversal", _("Reversal of a payment")
        ADD_ON = "add_on", _("Add-on billed with a bill installment")

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=12, choices=Statement.Status.choices)
    figures = models.JSONField(help_text=_("The money fields of this version, as strings."))
    lines = models.JSONField(help_text=_("The lines of this version."))
    amended_on = models.DateField(null=True, blank=True, help_text=_("When this version was itself an amendment."))
    amended_because = models.CharField(max_length=300, blank=True)
    superseded_on = models.DateField(help_text=_("Business date the next version replaced it."))
    superseded_because = models.CharField(max_length=300)
    superseded_cause = models.CharField(max_length=12, choices=Cause.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["statement_id", "version"]
        constraints = [models.UniqueConstraint(fields=["statement", "version"], name="one_statement_version")]

    def __str__(self) -> str:
        return f"{self.statement} v{self.version}"

    @property
    def minimum_payment(self) -> Decimal:
        return Decimal(self.figures["minimum_payment"])

    @property
    def past_due(self) -> Decimal:
        return Decimal(self.figures["past_due"])


class StatementLine(models.Model):
    """A readable line of a statement. Amounts: + what the customer owes more, − what they paid or got back."""

    class Kind(models.TextChoices):
        OPENING = "opening", _("Opening balance")
        PURCHASE = "purchase", _("Purchase")
        INSTALLMENT = "installment", _("Installment due")
        CONVERSION = "conversion", _("Converted to bill installment")
        DEFERRAL_FEE = "deferral_fee", _("Deferral fees")
        LATE_FEE = "late_fee", _("Late fees")
        PREMIUM = "premium", _("Insurance premiums")
        PAYMENT = "payment", _("Payment")
        REFUND = "refund", _("Refund")
        CREDIT = "credit", _("Credit balance applied")
        ADJUSTMENT = "adjustment", _("Other adjustments")
        CLOSING = "closing", _("Closing balance")

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=15, choices=Kind.choices)
    on_date = models.DateField(null=True, blank=True)
    description = models.CharField(max_length=200)
    principal = MoneyField(default=ZERO)
    fee = MoneyField(default=ZERO)
    amount = MoneyField()
    ref = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["statement_id", "position", "on_date", "id"]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"


class Charge(models.Model):
    """A late fee or deferral fee accrued by close of business for one account and one business date
    (covering ``days`` days up to ``accrued_on``). Unique per (account, kind, date): a rerun adds nothing."""

    class Kind(models.TextChoices):
        LATE_FEE = "late_fee", _("Late fee")
        DEFERRAL_FEE = "deferral_fee", _("Deferral fee")
        SETTLEMENT_FEE = "settlement_fee", _("Early-settlement fee")
        PREMIUM = "premium", _("Insurance premium")

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="charges")
    kind = models.CharField(max_length=15, choices=Kind.choices)
    accrued_on = models.DateField()
    days = models.PositiveSmallIntegerField(default=1)
    base_amount = MoneyField(default=ZERO, help_text=_("The past-due (or unpaid revolving) amount charged on."))
    amount = MoneyField()
    paid = MoneyField(default=ZERO)
    waived = MoneyField(default=ZERO)
    written_off = MoneyField(default=ZERO)
    statement = models.ForeignKey(Statement, null=True, blank=True, on_delete=models.PROTECT, related_name="charges")
    overdue_from = models.DateField(null=True, blank=True)
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="charges")
    journal_entry = models.ForeignKey("ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-accrued_on", "-id"]
        indexes = [models.Index(fields=["accrued_on", "kind"], name="charge_day_kind_idx")]
        constraints = [
            models.UniqueConstraint(fields=["account", "kind", "accrued_on"], condition=~Q(kind="premium"),
                                    name="one_charge_per_account_kind_day"),
            # A premium is billed per insured plan and period (issue 16): one per plan and bill cycle.
            models.UniqueConstraint(fields=["plan", "accrued_on"], condition=Q(kind="premium"), name="one_premium_per_plan_cycle"),
            models.CheckConstraint(condition=~Q(kind="premium") | Q(plan__isnull=False), name="charge_premium_has_plan"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="charge_amount_gt_0"),
            models.CheckConstraint(condition=Q(paid__gte=0, waived__gte=0, written_off__gte=0), name="charge_parts_gte_0"),
            models.CheckConstraint(condition=Q(amount__gte=Round(F("paid") + F("waived") + F("written_off"), 2)), name="charge_not_overpaid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.accrued_on}: {self.amount}"

    @property
    def open_amount(self) -> Decimal:
        return self.amount - self.paid - self.waived - self.written_off


class Repayment(BaseModel):
    """Money received from a customer (PRODUCT §6). ``external_ref`` is unique: a repeat does nothing."""

    class Channel(models.TextChoices):
        BANK_TRANSFER = "bank_transfer", _("Bank transfer")
        CARD = "card", _("Card")
        WALLET = "wallet", _("Storefront wallet")
        BANK_FILE = "bank_file", _("Imported bank file")
        SETTLEMENT = "settlement", _("Early settlement")

    class Kind(models.TextChoices):
        REPAYMENT = "repayment", _("Repayment")
        SETTLEMENT = "settlement", _("Early settlement")
        RECOVERY = "recovery", _("Recovery (written-off account)")

    class Status(models.TextChoices):
        POSTED = "posted", _("Posted")
        REVERSED = "reversed", _("Reversed")

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="repayments")
    amount = MoneyField()
    external_ref = models.CharField(max_length=80, unique=True)
    channel = models.CharField(max_length=15, choices=Channel.choices)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.REPAYMENT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.POSTED)
    received_on = models.DateField()
    posted_on = models.DateField()
    to_credit_balance = MoneyField(default=ZERO, help_text=_("Overpayment kept as a credit balance."))
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="settlements")
    statement = models.ForeignKey(Statement, null=True, blank=True, on_delete=models.PROTECT, related_name="repayments",
                                  help_text=_("The statement whose cycle it fell in."))
    journal_entry = models.ForeignKey("ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_rule = models.CharField(max_length=100, blank=True)
    reversed_on = models.DateField(null=True, blank=True)
    reversal_reason = models.CharField(max_length=500, blank=True)
    reversed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-id"]
        permissions = [("post_repayment", "Can post a repayment"), ("reverse_repayment", "Can reverse a repayment")]
        indexes = [models.Index(fields=["account", "received_on"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="repayment_amount_gt_0"),
            models.CheckConstraint(condition=Q(to_credit_balance__gte=0, to_credit_balance__lte=F("amount")), name="repayment_credit_part_lte_amount"),
            models.CheckConstraint(condition=~Q(status="reversed") | Q(reversed_on__isnull=False), name="repayment_reversed_has_date"),
        ]

    def __str__(self) -> str:
        return f"Repayment {self.external_ref}"


class Refund(BaseModel):
    """A refund of (part of) a purchase (PRODUCT §5), offset against its plan from the last line back."""

    class ExcessTo(models.TextChoices):
        CREDIT_BALANCE = "credit_balance", _("Credit balance")
        REFUND_PAYABLE = "refund_payable", _("Refund payable (original payment method)")

    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="refunds")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="refunds")
    amount = MoneyField()
    principal_reduced = MoneyField(default=ZERO)
    billed_principal_reduced = MoneyField(default=ZERO, help_text=_("Part of the reduction on billed lines."))
    fees_waived_billed = MoneyField(default=ZERO)
    fees_waived_unbilled = MoneyField(default=ZERO)
    excess = MoneyField(default=ZERO, help_text=_("Refund of amounts already repaid."))
    excess_to = models.CharField(max_length=15, choices=ExcessTo.choices, default=ExcessTo.CREDIT_BALANCE)
    created_on = models.DateField()
    reason = models.CharField(max_length=500)
    statement = models.ForeignKey(Statement, null=True, blank=True, on_delete=models.PROTECT, related_name="refunds")
    journal_entry = models.ForeignKey("ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_rule = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_gt_0"),
            models.CheckConstraint(condition=Q(amount=Round(F("principal_reduced") + F("excess"), 2)), name="refund_absorbed_plus_excess"),
        ]

    def __str__(self) -> str:
        return f"Refund {self.reference}"

    @property
    def credited_to_bill(self) -> Decimal:
        return self.billed_principal_reduced + self.fees_waived_billed


class Allocation(models.Model):
    """Where money went: a repayment, a credit balance or a refund excess paying a line's fee or principal,
    a charge, or kept as credit. Append-only: a reversal adds the same rows negated (``reverses``)."""

    class Kind(models.TextChoices):
        LATE_FEE = "late_fee", _("Late fee")
        DEFERRAL_FEE = "deferral_fee", _("Deferral fee")
        SETTLEMENT_FEE = "settlement_fee", _("Settlement fee")
        INSTALLMENT_FEE = "installment_fee", _("Installment fee")
        PREMIUM = "premium", _("Insurance premium")
        PRINCIPAL = "principal", _("Principal")
        CREDIT_BALANCE = "credit_balance", _("Kept as credit balance")
        RECOVERY = "recovery", _("Recovery of written-off debt")

    class Source(models.TextChoices):
        REPAYMENT = "repayment", _("Repayment")
        CREDIT_BALANCE = "credit_balance", _("Credit balance")

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="allocations")
    source = models.CharField(max_length=15, choices=Source.choices)
    repayment = models.ForeignKey(Repayment, null=True, blank=True, on_delete=models.PROTECT, related_name="allocations")
    statement = models.ForeignKey(Statement, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_allocations",
                                  help_text=_("For a credit balance applied when this statement was generated."))
    line = models.ForeignKey(ScheduleLine, null=True, blank=True, on_delete=models.PROTECT, related_name="allocations")
    charge = models.ForeignKey(Charge, null=True, blank=True, on_delete=models.PROTECT, related_name="allocations")
    kind = models.CharField(max_length=15, choices=Kind.choices)
    amount = MoneyField()
    on_date = models.DateField()
    reverses = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="allocation_amount_not_0"),
            models.CheckConstraint(
                condition=Q(kind__in=["installment_fee", "principal"], line__isnull=False, charge__isnull=True)
                | Q(kind__in=["late_fee", "deferral_fee", "settlement_fee", "premium"], charge__isnull=False, line__isnull=True)
                | Q(kind__in=["credit_balance", "recovery"], line__isnull=True, charge__isnull=True),
                name="allocation_target_matches_kind",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0) | Q(reverses__isnull=False), name="allocation_negative_only_as_reversal"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount}"


class Adjustment(models.Model):
    """A change to a line that is not a payment: a refund, a conversion into a bill installment, a fee
    waived on early settlement. Kept so a reversal can undo exactly what a settlement waived."""

    class Kind(models.TextChoices):
        REFUND = "refund", _("Refund")
        CONVERSION = "conversion", _("Converted to bill installment")
        SETTLEMENT_WAIVER = "settlement_waiver", _("Fee waived on early settlement")
        EARLY_BILLING = "early_billing", _("Next period's fee billed on early settlement")

    line = models.ForeignKey(ScheduleLine, on_delete=models.PROTECT, related_name="adjustments")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    principal = MoneyField(default=ZERO)
    fee = MoneyField(default=ZERO)
    was_billed = models.BooleanField(default=False)
    refund = models.ForeignKey(Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="adjustments")
    repayment = models.ForeignKey(Repayment, null=True, blank=True, on_delete=models.PROTECT, related_name="adjustments")
    target_plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="converted_from")
    on_date = models.DateField()
    undone = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(principal__gte=0, fee__gte=0), name="adjustment_parts_gte_0")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.principal}+{self.fee}"


class WriteOff(models.Model):
    """The charge-off of an account at DPD 180 (PRODUCT §6): what was written off, by part."""

    account = models.OneToOneField(CreditAccount, on_delete=models.PROTECT, related_name="write_off")
    on_date = models.DateField()
    dpd = models.PositiveIntegerField()
    principal = MoneyField(default=ZERO)
    fees = MoneyField(default=ZERO)
    late_fees = MoneyField(default=ZERO)
    deferral_fees = MoneyField(default=ZERO)
    premiums = MoneyField(default=ZERO, db_default=ZERO)
    recovered = MoneyField(default=ZERO)
    journal_entry = models.ForeignKey("ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-on_date", "-id"]
        permissions = [("write_off_account", "Can write off an overdue account by hand (maker-checker)")]
        constraints = [
            models.CheckConstraint(condition=Q(recovered__gte=0), name="write_off_recovered_gte_0"),
            models.CheckConstraint(
                condition=Q(recovered__lte=Round(F("principal") + F("fees") + F("late_fees") + F("deferral_fees") + F("premiums"), 2)),
                name="write_off_recovered_lte_total",
            ),
        ]

    def __str__(self) -> str:
        return f"Write-off of {self.account} on {self.on_date}"

    @property
    def total(self) -> Decimal:
        return self.principal + self.fees + self.late_fees + self.deferral_fees + self.premiums


class Waiver(BaseModel):
    """Late and deferral fees waived by staff with a reason (PRODUCT §1: finance's waivers), posted to
    the journal (Dr fee income, Cr the fee receivable) and taken off what the customer owes."""

    class Kind(models.TextChoices):
        LATE_FEE = "late_fee", _("Late fees")
        DEFERRAL_FEE = "deferral_fee", _("Deferral fees")
        FEES = "fees", _("Late and deferral fees")

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="waivers")
    statement = models.ForeignKey(Statement, null=True, blank=True, on_delete=models.PROTECT, related_name="waivers",
                                  help_text="Only the fees this statement billed (accrued before its bill date).")
    kind = models.CharField(max_length=15, choices=Kind.choices)
    amount = MoneyField()
    late_fees = MoneyField(default=ZERO)
    deferral_fees = MoneyField(default=ZERO)
    on_date = models.DateField()
    reason = models.CharField(max_length=500)
    journal_entry = models.ForeignKey("ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_rule = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("waive_fee", "Can waive late and deferral fees (maker-checker above the threshold)")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0, late_fees__gte=0, deferral_fees__gte=0), name="waiver_amounts"),
            models.CheckConstraint(condition=Q(amount=Round(F("late_fees") + F("deferral_fees"), 2)), name="waiver_parts_sum"),
        ]

    def __str__(self) -> str:
        return f"Waiver {self.reference}: {self.amount}"
