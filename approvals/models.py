"""Approval requests (maker-checker) and the thresholds above which a change waits for one."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.models import BaseModel
from core.money import MoneyField, RateField


class ApprovalPolicy(models.Model):
    """The thresholds of one kind of change (one row per registered kind, created with the kind's
    defaults the first time it is used). A change waits for a second person when its amount is above
    ``amount_above`` or above ``share_above`` × the current value (e.g. +50 % of the current limit)."""

    kind = models.CharField(max_length=60, unique=True)
    amount_above = MoneyField(
        null=True, blank=True, help_text="A change of more than this amount (¥) waits for approval. Empty: no amount rule."
    )
    share_above = RateField(
        null=True, blank=True,
        help_text="A change of more than this share of the current value waits (0.50 = +50 %). Empty: no share rule.",
    )
    maker_day_above = MoneyField(
        null=True, blank=True,
        help_text="One maker's changes of this kind in one business day (all accounts) above this (¥) wait. "
        "Empty: no such rule.",
    )
    days_above = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="A change dated more than this many days back waits (e.g. a repayment's "
        "received-on date). Empty: no such rule.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind"]
        verbose_name = _("approval threshold")
        verbose_name_plural = _("approval thresholds")
        constraints = [
            models.CheckConstraint(condition=Q(amount_above__isnull=True) | Q(amount_above__gte=0),
                                   name="approval_policy_amount_gte_0"),
            models.CheckConstraint(condition=Q(share_above__isnull=True) | Q(share_above__gte=0),
                                   name="approval_policy_share_gte_0"),
        ]

    def __str__(self) -> str:
        return f"Thresholds of {self.kind}"


class ApprovalRequest(BaseModel):
    """A change made by one person (the maker) that applies only when a second person (the checker)
    approves it. Decided once: approved (applied through the owning app's service) or rejected."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved and applied"
        REJECTED = "rejected", "Rejected"
        STALE = "stale", "Stale (what it changes moved)"

    kind = models.CharField(max_length=60, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    summary = models.CharField(max_length=300)
    payload = models.JSONField(help_text="What the executor applies (ids and amounts as strings).")
    amount = MoneyField(help_text="The amount the threshold was judged on.")
    base = MoneyField(null=True, blank=True, help_text="The current value the share rule compared with.")
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=40)
    object_repr = models.CharField(max_length=200, blank=True)
    maker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    maker_reason = models.CharField(max_length=500)
    checker = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True)
    result = models.CharField(max_length=200, blank=True, help_text="What was applied on approval.")
    account_id = models.BigIntegerField(null=True, blank=True, db_index=True,
                                        help_text="The credit account the change concerns (thresholds add up per account).")
    context = models.JSONField(default=dict, blank=True,
                               help_text="Before and after, the cumulative totals and the state it was judged on.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "kind"])]
        constraints = [
            models.CheckConstraint(condition=~Q(checker=F("maker")), name="approval_checker_is_not_maker"),
            models.CheckConstraint(
                condition=Q(status="pending", checker__isnull=True, decided_at__isnull=True)
                | (~Q(status="pending") & Q(checker__isnull=False, decided_at__isnull=False)),
                name="approval_decided_has_checker",
            ),
        ]

    def __str__(self) -> str:
        return f"Approval {self.reference}: {self.summary}"


class GateEntry(models.Model):
    """One change that went through the gate (``approval_submit``) by a person: applied at once, or
    waiting, approved, rejected or stale. Thresholds add up over these rows (PRODUCT §12): per account
    over a rolling 30 days across all makers, and per maker per business day; applied, approved and
    pending changes count."""

    class Status(models.TextChoices):
        APPLIED = "applied", "Applied at once"
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved and applied"
        REJECTED = "rejected", "Rejected"
        STALE = "stale", "Stale"

    COUNTED = (Status.APPLIED, Status.PENDING, Status.APPROVED)

    kind = models.CharField(max_length=60)
    group = models.CharField(max_length=60)
    account_id = models.BigIntegerField(null=True, blank=True)
    maker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    business_date = models.DateField()
    amount = MoneyField()
    status = models.CharField(max_length=10, choices=Status.choices)
    request = models.OneToOneField(ApprovalRequest, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="gate_entry")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("gated change")
        verbose_name_plural = _("gated changes")
        indexes = [
            models.Index(fields=["group", "account_id", "business_date"], name="gate_entry_account_window"),
            models.Index(fields=["group", "maker", "business_date"], name="gate_entry_maker_day"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="gate_entry_amount_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.status})"
