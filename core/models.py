"""The shared kernel's models: an abstract base, the business date, and the audit trail."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from core.refs import new_reference


class BaseModel(models.Model):
    """Created/updated timestamps and a public reference (never the primary key in URLs or files)."""

    reference = models.CharField(max_length=16, unique=True, default=new_reference, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ActorLogMixin(models.Model):
    """Who made a change: a staff user, or the system with the rule/model version (``actor_rule``)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_rule = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        abstract = True
        constraints = []

    @property
    def actor_display(self) -> str:
        return str(self.actor) if self.actor_id else f"system ({self.actor_rule})"


class BusinessDate(models.Model):
    """The one business date (Asia/Shanghai) that services and jobs read instead of the wall clock."""

    singleton = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    date = models.DateField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(singleton=1), name="business_date_singleton")]

    def __str__(self) -> str:
        return f"Business date {self.date:%Y-%m-%d}"


class AuditEvent(ActorLogMixin):
    """An append-only record of a sensitive action (limit change, waiver, write-off, unmask…)."""

    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=40)
    object_repr = models.CharField(max_length=200, blank=True)
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}#{self.object_id}"
