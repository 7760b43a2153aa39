"""Privacy records: the policy (deadlines, retention), the personal-data access log, customer-rights
requests and processing restrictions (PRODUCT §9, PIPL Arts. 45–47)."""
from __future__ import annotations

from axes.models import AccessAttempt
from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import BaseModel
from django.utils.translation import gettext_lazy as _


class PrivacyPolicy(models.Model):
    """The one policy record. Staff change the numbers in the admin; code never hard-codes them."""

    singleton = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    request_response_days = models.PositiveSmallIntegerField(
        default=15, help_text=_("Days to answer a customer-rights request (PIPL Art. 50; default 15).")
    )
    aml_retention_years = models.PositiveSmallIntegerField(
        default=10,
        help_text=_("Years identity and transaction records are kept after an account closes (AML law; default 10)."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("privacy policy")
        verbose_name_plural = _("privacy policy")
        constraints = [
            models.CheckConstraint(condition=Q(singleton=1), name="privacy_policy_singleton"),
            models.CheckConstraint(condition=Q(request_response_days__gte=1), name="privacy_response_days_gte_1"),
            models.CheckConstraint(condition=Q(aml_retention_years__gte=1), name="privacy_retention_years_gte_1"),
        ]

    def __str__(self) -> str:
        return f"Privacy policy: answer in {self.request_response_days} days, keep {self.aml_retention_years} years"


class PiiAccessLog(models.Model):
    """Append-only: one row each time someone saw or exported a customer's personal data in full.

    The database refuses UPDATE (and, on PostgreSQL, DELETE) of these rows (see migration 0002)."""

    class Channel(models.TextChoices):
        ADMIN_UNMASK = "admin_unmask", _("Admin unmask")
        API = "api", _("API")
        EXPORT = "export", _("Personal-data export")
        DATA_REQUEST = "data_request", _("Customer-rights request")
        COLLECTOR_CALL = "collector_call", _("Collector's click-to-call")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="pii_access_logs")
    channel = models.CharField(max_length=20, choices=Channel.choices)
    fields = models.JSONField(help_text=_("Names of the fields shown in full."))
    reason = models.CharField(max_length=500)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    accessed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-accessed_at", "-id"]
        verbose_name = _("personal-data access")
        verbose_name_plural = _("personal-data access log")
        indexes = [models.Index(fields=["customer", "-accessed_at"])]
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="pii_access_reason_required")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} of {self.customer_id} by {self.user_id} at {self.accessed_at:%Y-%m-%d %H:%M}"


class DataSubjectRequest(BaseModel):
    """A customer's request under PIPL Arts. 45–47, with its deadline and outcome."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access / copy")
        CORRECTION = "correction", _("Correction")
        DELETION = "deletion", _("Deletion")

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        IN_PROGRESS = "in_progress", _("In progress")
        COMPLETED = "completed", _("Completed")
        REJECTED = "rejected", _("Rejected")

    class Outcome(models.TextChoices):
        NONE = "", "—"
        EXPORTED = "exported", _("Export delivered")
        CORRECTED = "corrected", _("Corrected")
        ANONYMISED = "anonymised", _("Anonymised")
        RESTRICTED = "restricted", _("Processing restricted (retention duty)")
        REJECTED = "rejected", _("Rejected")

    OPEN_STATUSES = (Status.RECEIVED, Status.IN_PROGRESS)

    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="data_requests")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    received_on = models.DateField()
    deadline = models.DateField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default="", blank=True)
    channel = models.CharField(max_length=40, blank=True, help_text=_("How the request arrived (app, phone, letter…)."))
    details = models.TextField(blank=True, help_text=_("What the customer asked for, in their words."))
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    outcome_notes = models.TextField(blank=True, help_text=_("What the customer is told (e.g. why data is kept)."))
    result = models.JSONField(
        null=True, blank=True,
        help_text=_("Machine-readable outcome: export digest and counts, fields corrected, retention duties."),
    )

    class Meta:
        ordering = ["deadline", "id"]
        indexes = [models.Index(fields=["status", "deadline"])]
        constraints = [
            models.CheckConstraint(condition=Q(deadline__gte=models.F("received_on")), name="dsr_deadline_after_received"),
            models.CheckConstraint(
                condition=Q(status__in=["completed", "rejected"], completed_at__isnull=False)
                | (Q(status__in=["received", "in_progress"]) & Q(completed_at__isnull=True) & Q(outcome="")),
                name="dsr_closed_iff_completed_at",
            ),
        ]
        permissions = [("export_personal_data", "Can export a customer's personal data (logged)")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} request {self.reference}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class ProcessingRestriction(models.Model):
    """Processing of a customer's data is restricted to storage because a deletion could not be
    carried out: a law requires keeping the records until ``retained_until`` (``None`` while a
    duty has not started counting). A daily job anonymises once every duty has ended."""

    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="restrictions")
    request = models.ForeignKey(DataSubjectRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    basis = models.TextField(help_text=_("The legal duties that keep the data, as told to the customer."))
    duties = models.JSONField()
    retained_until = models.DateField(null=True, blank=True)
    erase_when_expired = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"], condition=Q(released_at__isnull=True), name="one_active_restriction_per_customer"
            )
        ]

    def __str__(self) -> str:
        until = self.retained_until.isoformat() if self.retained_until else "open-ended"
        return f"Restriction of {self.customer_id} until {until}"


class LoginLockout(AccessAttempt):
    """django-axes' failed-login counter of one (user name, address) pair, as staff see it: the
    "Login lock-outs" screen, where an administrator unlocks a login (``privacy.lockout``)."""

    class Meta:
        proxy = True
        verbose_name = _("login lock-out")
        verbose_name_plural = _("login lock-outs")
        permissions = [("unlock_loginlockout", "Can unlock a locked-out login")]
