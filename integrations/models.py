"""API clients, their tokens (stored hashed) and idempotency records (PRODUCT §10)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import BaseModel
from django.utils.translation import gettext_lazy as _


class ApiClient(BaseModel):
    """A system that calls the integration API: the storefront, the app, a collection agency…

    Each client has a service user (no password, never staff) so that history rows and request logs
    name who did something; the client's ``scopes`` decide which calls it may make."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_client", editable=False,
        help_text=_("Service user the client acts as (no password, cannot log in)."),
    )
    scopes = models.JSONField(default=list, blank=True, help_text=_("Scope codes this client may use."))
    is_active = models.BooleanField(default=True, db_index=True)
    throttle_rate = models.CharField(
        max_length=20, blank=True,
        help_text=_('Requests allowed per period, e.g. "600/min"; blank = the API default.'),
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("call_write_api", "Can call the integration API's write operations with a staff session"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_active=True, revoked_at__isnull=True) | Q(is_active=False),
                name="api_client_active_not_revoked",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class ApiScopeGrant(BaseModel):
    """A money-moving scope asked for on a client (``integrations.scope_controls``): it takes effect
    (joins ``ApiClient.scopes``) only when a second person approves the approval request
    (``approval_reference``); the grant names who asked and who approved, and API calls made with the
    scope are attributed to both in the audit trail (PRODUCT §12)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a second person")
        APPROVED = "approved", _("Approved (in force)")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn before approval")
        REVOKED = "revoked", _("Revoked")

    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="scope_grants")
    scope = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500)
    approval_reference = models.CharField(
        max_length=16, blank=True, help_text=_("The approval request a second person decides."))
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["client", "scope"], condition=Q(status__in=["pending", "approved"]),
                                    name="api_scope_grant_one_live"),
            models.CheckConstraint(condition=~Q(approved_by=models.F("requested_by")),
                                   name="api_scope_grant_approver_is_not_requester"),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(approved_by__isnull=False, approved_at__isnull=False),
                name="api_scope_grant_approved_has_approver",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} for {self.client}"


class ApiToken(models.Model):
    """A bearer token of a client. Only the SHA-256 of the token is stored; the token itself is shown
    once, when it is issued. ``prefix`` (the first characters) lets staff tell tokens apart."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, blank=True, help_text=_("What this token is for (e.g. 'prod web')."))
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text=_("Blank = until revoked."))
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=models.F("created_at")),
                name="api_token_expires_after_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.client})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class IdempotencyRecord(models.Model):
    """One ``Idempotency-Key`` of one caller: the first request's fingerprint and, once it finished, its
    response (status, content type, exact bytes). Unique per (owner, key) in the database, so two
    concurrent requests with the same key race on the constraint, not in Python."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In progress")
        COMPLETED = "completed", _("Completed")

    owner = models.CharField(max_length=40, help_text=_('"client:<id>" for a token, "user:<id>" for a staff session.'))
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, help_text=_("SHA-256 of method, path and canonical body."))
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    locked_at = models.DateTimeField(help_text=_("When the request holding the key started."))
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_unique_owner_key"),
            models.CheckConstraint(
                condition=Q(status="in_progress") | Q(response_status__isnull=False, completed_at__isnull=False),
                name="idempotency_completed_has_response",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner} {self.key} ({self.status})"
