"""Customer notices (PRODUCT §3 "customers are notified of every change", §6 the bureau pre-notice):
what the customer is told about their line, bills, plans and credit reporting, through the same
gateway as reminders."""
from __future__ import annotations

from django.db import models
from django.db.models import Q

from core.models import BaseModel


class NoticeKind(models.TextChoices):
    LIMIT_GRANTED = "limit_granted", "Credit line opened"
    LIMIT_RAISED = "limit_raised", "Limit raised"
    LIMIT_CUT = "limit_cut", "Limit cut"
    TEMPORARY_GRANTED = "temporary_granted", "Temporary limit granted"
    TEMPORARY_EXPIRING = "temporary_expiring", "Temporary limit expiring"
    STATEMENT_ISSUED = "statement_issued", "Statement issued"
    STATEMENT_AMENDED = "statement_amended", "Statement amended"
    PLAN_CREATED = "plan_created", "Installment plan created"
    PLAN_SETTLED = "plan_settled", "Installment plan paid off or settled"
    BUREAU_PRE_NOTICE = "bureau_pre_notice", "Credit-bureau pre-notice"
    CASH_LOAN_DRAWN = "cash_loan_drawn", "Cash loan drawn"
    INSURANCE_SOLD = "insurance_sold", "Insurance policy taken out"
    INSURANCE_CANCELLED = "insurance_cancelled", "Insurance policy cancelled"
    CLAIM_DECIDED = "claim_decided", "Insurance claim decided"


#: The languages a notice is written in (``Customer.language``); a template with no language serves all.
LANGUAGES = (("zh-hans", "简体中文"), ("en", "English"))


class NoticeTemplate(models.Model):
    """Staff's wording of one kind of notice (Django template syntax, plain text). A kind without a
    row uses the built-in wording; an inactive row stops that kind of notice (suppressed, recorded)."""

    kind = models.CharField(max_length=20, choices=NoticeKind.choices)
    language = models.CharField(max_length=7, choices=LANGUAGES, blank=True, default="",
                                help_text="Empty: every language (a row for the customer's language wins).")
    subject = models.CharField(max_length=200)
    body = models.TextField(help_text="Context: customer_name (masked), account, and the kind's own values.")
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "language"]
        constraints = [models.UniqueConstraint(fields=["kind", "language"], name="one_notice_template_per_kind_language")]

    def __str__(self) -> str:
        return self.get_kind_display()


class Notice(BaseModel):
    """One notice to one customer about one event (unique per kind and event: a job that runs twice
    sends nothing twice), on the first channel the customer can be reached on."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (retrying)"
        SUPPRESSED = "suppressed", "Suppressed"
        EXPIRED = "expired", "Expired (no longer relevant)"

    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="notices")
    account = models.ForeignKey("accounts.CreditAccount", on_delete=models.PROTECT, related_name="notices")
    kind = models.CharField(max_length=20, choices=NoticeKind.choices)
    event_key = models.CharField(max_length=60, help_text="The event told about (kind-specific), for idempotency.")
    for_date = models.DateField(help_text="The business date of the event.")
    channel = models.CharField(max_length=10)
    recipient = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    status_reason = models.CharField(max_length=200, blank=True)
    scheduled_for = models.DateTimeField(help_text="Not before (quiet hours move it to 08:00).")
    expires_on = models.DateField(null=True, blank=True,
                                  help_text="Not sent after this business date: it expires instead (empty: never).")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_on = models.DateField(null=True, blank=True, help_text="Business date it was sent.")

    class Meta:
        ordering = ["-for_date", "-id"]
        indexes = [models.Index(fields=["status", "scheduled_for"]), models.Index(fields=["account", "kind"])]
        constraints = [
            models.UniqueConstraint(fields=["kind", "event_key"], name="one_notice_per_kind_event"),
            models.CheckConstraint(condition=Q(status="sent", sent_at__isnull=False, sent_on__isnull=False)
                                   | (~Q(status="sent") & Q(sent_at__isnull=True)),
                                   name="notice_sent_iff_sent_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.reference}"
