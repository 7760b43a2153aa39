"""Customers, credit products and credit lines (PRODUCT §3)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from core.crypto import EncryptedTextField
from core.masking import mask_id_number, mask_mobile, mask_name
from core.models import ActorLogMixin, BaseModel
from core.money import ZERO, MoneyField
from django.utils.translation import gettext_lazy as _


class Customer(BaseModel):
    """A shopper. The ID number is encrypted at rest; ``id_number_hash`` (keyed HMAC) finds it."""

    name = models.CharField(max_length=100)
    id_number = EncryptedTextField(help_text=_("18-digit resident ID number (encrypted at rest)."))
    id_number_hash = models.CharField(max_length=64, unique=True, editable=False)
    id_number_last4 = models.CharField(max_length=4, db_index=True, editable=False)
    mobile = models.CharField(max_length=11, db_index=True)
    address = models.CharField(max_length=300, blank=True)
    email = models.EmailField(blank=True)
    external_id = models.CharField(
        max_length=64, blank=True, db_index=True, help_text=_("The storefront's user id, if any.")
    )
    anonymised_at = models.DateTimeField(null=True, blank=True)
    processing_restricted = models.BooleanField(default=False)
    # issue 25: notices are written in the customer's language; none goes to a deceased customer
    language = models.CharField(max_length=7, choices=[("zh-hans", "简体中文"), ("en", _("English"))], default="zh-hans",
                                help_text=_("The language the customer is written to in."))
    deceased_on = models.DateField(null=True, blank=True, help_text=_("Set when a death is established (e.g. an "
                                                                       "insurance claim): no notice is sent any more."))

    history = HistoricalRecords(excluded_fields=["id_number"])

    class Meta:
        ordering = ["-id"]
        permissions = [("view_full_pii", "Can see customers' personal data unmasked (logged)")]

    def __str__(self) -> str:
        return f"{mask_name(self.name)} ({self.reference})"

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def masked_mobile(self) -> str:
        return mask_mobile(self.mobile)

    @property
    def masked_name(self) -> str:
        return mask_name(self.name)


class Consent(models.Model):
    """A consent given or withdrawn, with time and the version of the text the customer saw."""

    class Kind(models.TextChoices):
        CREDIT_BUREAU = "credit_bureau", _("Credit bureau enquiry and reporting")
        MARKETING = "marketing", _("Marketing")
        AGENCY_SHARING = "agency_sharing", _("Sharing with a collection agency")
        DATA_PROCESSING = "data_processing", _("Processing of personal data")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    version = models.CharField(max_length=20)
    granted = models.BooleanField()
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["customer", "kind", "-recorded_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.version}: {'granted' if self.granted else 'withdrawn'}"


class CreditProduct(BaseModel):
    """A credit product (e.g. the Baitiao line). Pricing terms live with the installments app."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    default_bill_day = models.PositiveSmallIntegerField(default=1)

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(default_bill_day__gte=1, default_bill_day__lte=28), name="product_bill_day_1_28"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CreditAccount(BaseModel):
    """A customer's credit line under one product."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        FROZEN = "frozen", _("Frozen")
        CLOSED = "closed", _("Closed")

    class FreezeReason(models.TextChoices):
        NONE = "", "—"
        OVERDUE = "overdue", _("Overdue")
        MANUAL = "manual", _("Manual")

    class Bucket(models.TextChoices):
        M0 = "M0", _("M0 current")
        M1 = "M1", _("M1 (DPD 1–30)")
        M2 = "M2", _("M2 (DPD 31–60)")
        M3 = "M3", _("M3 (DPD 61–90)")
        M4 = "M4", _("M4 (DPD 91–120)")
        M5 = "M5", _("M5 (DPD 121–150)")
        M6 = "M6", _("M6 (DPD 151–180)")
        M7 = "M7", _("M7+ (written off)")

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="accounts")
    product = models.ForeignKey(CreditProduct, on_delete=models.PROTECT, related_name="accounts")
    fixed_limit = MoneyField(default=ZERO)
    used_amount = MoneyField(
        default=ZERO, help_text=_("Unpaid principal of posted purchases + billed, unpaid fees.")
    )
    credit_balance = MoneyField(default=ZERO, help_text=_("Overpayments held for the customer."))
    held_amount = MoneyField(
        default=ZERO, help_text=_("Purchases held for a risk review: reserved out of the available limit until "
        "they are approved, declined or expire.")
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    freeze_reason = models.CharField(max_length=10, choices=FreezeReason.choices, default="", blank=True)
    bill_day = models.PositiveSmallIntegerField(default=1)
    bill_day_changed_on = models.DateField(null=True, blank=True)
    opened_on = models.DateField()
    closed_on = models.DateField(null=True, blank=True)
    # Delinquency state, rewritten by close of business (kept out of indexes on purpose).
    dpd = models.PositiveIntegerField(default=0, help_text=_("Days past due."))
    bucket = models.CharField(max_length=2, choices=Bucket.choices, default=Bucket.M0)
    written_off_on = models.DateField(null=True, blank=True)
    last_reviewed_on = models.DateField(null=True, blank=True)

    history = HistoricalRecords(excluded_fields=["used_amount", "credit_balance", "held_amount", "dpd", "updated_at"])

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("adjust_limit", "Can adjust credit limits and grant temporary limits"),
            ("freeze_account", "Can freeze and unfreeze accounts"),
            ("close_account", "Can close accounts"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["customer", "product"], name="one_account_per_customer_product"),
            models.CheckConstraint(condition=Q(fixed_limit__gte=0), name="account_fixed_limit_gte_0"),
            models.CheckConstraint(condition=Q(used_amount__gte=0), name="account_used_gte_0"),
            models.CheckConstraint(condition=Q(credit_balance__gte=0), name="account_credit_balance_gte_0"),
            models.CheckConstraint(condition=Q(held_amount__gte=0), name="account_held_amount_gte_0"),
            models.CheckConstraint(condition=Q(bill_day__gte=1, bill_day__lte=28), name="account_bill_day_1_28"),
            models.CheckConstraint(
                condition=(Q(status="frozen") & ~Q(freeze_reason="")) | (~Q(status="frozen") & Q(freeze_reason="")),
                name="account_freeze_reason_iff_frozen",
            ),
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True) | Q(closed_on__gte=models.F("opened_on")),
                name="account_closed_after_opened",
            ),
        ]

    def __str__(self) -> str:
        return f"Account {self.reference}"


class TemporaryLimit(BaseModel):
    """A campaign limit on top of the fixed limit, active from ``starts_on`` through ``ends_on``."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        EXPIRED = "expired", _("Expired")
        REVOKED = "revoked", _("Revoked")

    account = models.ForeignKey(CreditAccount, on_delete=models.CASCADE, related_name="temporary_limits")
    amount = MoneyField()
    starts_on = models.DateField()
    ends_on = models.DateField(help_text=_("Last day the limit applies (inclusive)."))
    campaign = models.CharField(max_length=60, blank=True, help_text=_("e.g. 618, Double 11"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        ordering = ["-starts_on", "-id"]
        indexes = [models.Index(fields=["account", "status", "starts_on", "ends_on"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="temporary_limit_amount_gt_0"),
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="temporary_limit_dates"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.starts_on}–{self.ends_on}"

    def is_active_on(self, day: dt.date) -> bool:
        return self.status == self.Status.ACTIVE and self.starts_on <= day <= self.ends_on


class LimitChange(ActorLogMixin):
    """Log of every change of a fixed or temporary limit."""

    class Kind(models.TextChoices):
        FIXED = "fixed", _("Fixed limit")
        TEMPORARY = "temporary", _("Temporary limit")

    account = models.ForeignKey(CreditAccount, on_delete=models.CASCADE, related_name="limit_changes")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.FIXED)
    old_limit = MoneyField()
    new_limit = MoneyField()
    temporary_limit = models.ForeignKey(TemporaryLimit, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.old_limit} → {self.new_limit}"

    @property
    def delta(self) -> Decimal:
        return self.new_limit - self.old_limit


class StatusChange(ActorLogMixin):
    """Log of every change of an account's status (and freeze reason)."""

    account = models.ForeignKey(CreditAccount, on_delete=models.CASCADE, related_name="status_changes")
    old_status = models.CharField(max_length=10, choices=CreditAccount.Status.choices)
    new_status = models.CharField(max_length=10, choices=CreditAccount.Status.choices)
    old_freeze_reason = models.CharField(max_length=10, blank=True)
    new_freeze_reason = models.CharField(max_length=10, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.old_status} → {self.new_status}"


class BucketChange(models.Model):
    """History of delinquency buckets (M0…M7+), written by close of business."""

    account = models.ForeignKey(CreditAccount, on_delete=models.CASCADE, related_name="bucket_changes")
    on_date = models.DateField()
    old_bucket = models.CharField(max_length=2, choices=CreditAccount.Bucket.choices)
    new_bucket = models.CharField(max_length=2, choices=CreditAccount.Bucket.choices)
    dpd = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-on_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "on_date"], name="one_bucket_change_per_account_day")
        ]

    def __str__(self) -> str:
        return f"{self.on_date}: {self.old_bucket} → {self.new_bucket}"
