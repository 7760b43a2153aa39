"""Risk and credit decisions (PRODUCT §3, §8).

* Configuration staff change in the admin: :class:`ScoreBand` (score → limit), :class:`RiskRule`
  (anti-fraud and early-warning rules: on/off, outcome, severity, thresholds) and the
  :class:`RiskPolicy` singleton (limit reviews, reason codes).
* :class:`ScorecardVersion`: a trained points scorecard whose bins → points table is data; only an
  activated version scores (one active version per purpose, enforced by the database).
* :class:`Application` → :class:`CreditDecision` (automated, or by a credit officer) and the
  officers' queue :class:`ReviewCase`.
* :class:`RiskEvent`: every rule hit, with rule, severity and outcome.
* :class:`AccountScore` and :class:`LimitReview`: behaviour scores and the limit-review log.
* :class:`Campaign` and :class:`CampaignGrant`: temporary-limit campaigns.
"""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.crypto import EncryptedTextField
from core.masking import mask_id_number, mask_mobile, mask_name
from core.models import BaseModel
from core.money import ZERO, MoneyField, RateField
from django.utils.translation import gettext_lazy as _


class Severity(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


class RuleOutcome(models.TextChoices):
    """What a rule hit does: refuse, hold for an officer, or only record (an early warning)."""

    DECLINE = "decline", _("Decline")
    REVIEW = "review", _("Hold for review")
    FLAG = "flag", _("Record only")


# --- Configuration --------------------------------------------------------------------------


class ScoreBand(models.Model):
    """One row of the score-band table: a score at or above ``min_score`` (and below the next band)
    gets ``limit`` when ``action`` is approve. A score below every band is declined."""

    class Action(models.TextChoices):
        APPROVE = "approve", _("Approve")
        REVIEW = "review", _("Manual review")
        DECLINE = "decline", _("Decline")

    name = models.CharField(max_length=10, unique=True)
    min_score = models.IntegerField(unique=True, help_text=_("Lowest score of the band (inclusive)."))
    limit = MoneyField(default=ZERO, help_text=_("Fixed limit granted in this band (0 for decline)."))
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.APPROVE)

    class Meta:
        ordering = ["-min_score"]
        constraints = [
            models.CheckConstraint(condition=Q(limit__gte=0), name="score_band_limit_gte_0"),
            models.CheckConstraint(
                condition=~Q(action="approve") | Q(limit__gt=0), name="score_band_approve_needs_limit"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (≥{self.min_score})"


class RiskRule(models.Model):
    """Configuration of one rule of ``risk.rules.RULE_SPECS``: on/off, outcome, severity and its
    thresholds (``params``, validated against the spec)."""

    code = models.CharField(max_length=40, unique=True)
    enabled = models.BooleanField(default=True)
    outcome = models.CharField(max_length=10, choices=RuleOutcome.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    params = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        from risk.rules import validate_rule_config

        validate_rule_config(code=self.code, outcome=self.outcome, params=self.params)


class RiskPolicy(models.Model):
    """The numbers of limit reviews and decisions (one row). Defaults are PRODUCT §3's."""

    singleton = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    reason_code_count = models.PositiveSmallIntegerField(
        default=4, help_text=_("How many reason codes a decision keeps (attributes that cost the most points).")
    )
    max_missing_features = models.PositiveSmallIntegerField(
        default=3, help_text=_("An application missing more scorecard attributes than this goes to manual review.")
    )
    min_age = models.PositiveSmallIntegerField(
        default=18, help_text="Youngest applicant, in whole years on the business date (from the ID number); never "
                              "below 18: minors get no credit line."
    )
    max_age = models.PositiveSmallIntegerField(
        default=60, help_text="Oldest applicant, in whole years on the business date (from the ID number)."
    )
    review_every_days = models.PositiveIntegerField(default=180)
    trigger_utilisation_above = RateField(default=Decimal("0.90"), help_text=_("Early warning: utilisation above this."))
    raise_utilisation_above = RateField(default=Decimal("0.50"))
    raise_no_overdue_months = models.PositiveSmallIntegerField(default=6)
    raise_min_score_gain = models.PositiveSmallIntegerField(
        default=1, help_text=_("The behaviour score must have improved by at least this many points.")
    )
    raise_step = RateField(default=Decimal("0.20"), help_text=_("A raise adds this share of the fixed limit."))
    cut_step = RateField(default=Decimal("0.30"), help_text=_("A cut removes at least this share of the fixed limit."))
    max_limit = MoneyField(default=Decimal("50000.00"), help_text=_("No fixed limit above this (reviews, staff, imports, applications)."))
    max_temporary_share = RateField(
        default=Decimal("1.000000"),
        help_text=_("Temporary limits in force on one day: at most this share of the fixed limit (1.00 = 100 %)."),
    )
    limit_unit = MoneyField(default=Decimal("100.00"), help_text=_("Reviewed limits are rounded down to this unit."))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("risk policy")
        verbose_name_plural = _("risk policy")
        constraints = [
            models.CheckConstraint(condition=Q(min_age__gte=18) & Q(max_age__gte=F("min_age")), name="risk_policy_ages"),
            models.CheckConstraint(condition=Q(singleton=1), name="risk_policy_singleton"),
            models.CheckConstraint(condition=Q(limit_unit__gt=0), name="risk_policy_limit_unit_gt_0"),
            models.CheckConstraint(condition=Q(max_limit__gte=0), name="risk_policy_max_limit_gte_0"),
            models.CheckConstraint(condition=Q(max_temporary_share__gte=0), name="risk_policy_max_temporary_share_gte_0"),
            models.CheckConstraint(
                condition=Q(raise_step__gte=0, cut_step__gte=0, cut_step__lte=1), name="risk_policy_steps"
            ),
        ]

    def __str__(self) -> str:
        return "Risk policy"


# --- Scorecards ------------------------------------------------------------------------------


class ScorecardVersion(BaseModel):
    """A trained scorecard. ``table`` is the bins → points table that ``risk.scoring`` reads; the
    training metrics (cross-validation and holdout AUC, KS, Gini) are in ``metrics``."""

    class Purpose(models.TextChoices):
        APPLICATION = "application", _("Application (new customers)")
        BEHAVIOUR = "behaviour", _("Behaviour (existing accounts)")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        RETIRED = "retired", _("Retired")

    name = models.CharField(max_length=40)
    version = models.PositiveIntegerField()
    purpose = models.CharField(max_length=12, choices=Purpose.choices)
    dataset = models.CharField(max_length=40, help_text=_("Training data set (german, portfolio…)."))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    metrics = models.JSONField(default=dict, blank=True)
    table = models.JSONField(help_text=_("Bins → points, read by risk.scoring."))
    training = models.JSONField(default=dict, blank=True, help_text=_("Parameters, sample sizes, library versions."))
    trained_at = models.DateTimeField()
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-trained_at", "-id"]
        permissions = [("activate_scorecardversion", "Can activate or retire a scorecard version")]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="scorecard_name_version_unique"),
            models.UniqueConstraint(
                fields=["purpose"], condition=Q(status="active"), name="one_active_scorecard_per_purpose"
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.name}-v{self.version}"


# --- Blacklist -------------------------------------------------------------------------------


class BlacklistEntry(models.Model):
    """An ID number, mobile or device refused credit. Values are kept as keyed hashes only."""

    class Kind(models.TextChoices):
        ID_NUMBER = "id_number", _("ID number")
        MOBILE = "mobile", _("Mobile")
        DEVICE = "device", _("Device")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    value_hash = models.CharField(max_length=64, editable=False)
    value_hint = models.CharField(max_length=40, blank=True, editable=False, help_text=_("Masked value."))
    reason = models.CharField(max_length=500)
    is_active = models.BooleanField(default=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("blacklist entries")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "value_hash"], condition=Q(is_active=True), name="one_active_blacklist_entry"
            )
        ]
        indexes = [models.Index(fields=["kind", "value_hash"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value_hint}"


# --- Applications and decisions ---------------------------------------------------------------


class Application(BaseModel):
    """An application for credit, as received. ``features`` is the exact input the scorecard saw
    (after the application-time feature mapping), so the decision can be replayed."""

    class Status(models.TextChoices):
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")
        IN_REVIEW = "in_review", _("In review")

    product = models.ForeignKey("accounts.CreditProduct", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    id_number = EncryptedTextField()
    id_number_hash = models.CharField(max_length=64, db_index=True, editable=False)
    id_number_last4 = models.CharField(max_length=4, blank=True, editable=False)
    mobile = models.CharField(max_length=20, db_index=True)
    device_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    external_id = models.CharField(max_length=64, blank=True)
    consents = models.JSONField(default=list, blank=True)
    features = models.JSONField(default=dict, blank=True)
    submitted_at = models.DateTimeField(db_index=True)
    business_date = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, db_index=True)
    customer = models.ForeignKey(
        "accounts.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="risk_applications"
    )
    account = models.ForeignKey(
        "accounts.CreditAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-submitted_at", "-id"]
        indexes = [
            models.Index(fields=["id_number_hash", "submitted_at"]),
            models.Index(fields=["mobile", "submitted_at"]),
            models.Index(fields=["device_hash", "submitted_at"]),
        ]

    def __str__(self) -> str:
        return f"Application {self.reference}"

    @property
    def masked_name(self) -> str:
        return mask_name(self.name)

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def masked_mobile(self) -> str:
        return mask_mobile(self.mobile)


class CreditDecision(models.Model):
    """One decision on an application: the automated one, then any by a credit officer."""

    class Outcome(models.TextChoices):
        APPROVE = "approve", _("Approve")
        DECLINE = "decline", _("Decline")
        REVIEW = "review", _("Manual review")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="decisions")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    automated = models.BooleanField()
    score = models.IntegerField(null=True, blank=True)
    band = models.CharField(max_length=10, blank=True)
    limit = MoneyField(default=ZERO)
    reason_codes = models.JSONField(default=list, blank=True)
    rules_fired = models.JSONField(default=list, blank=True)
    scorecard_version = models.ForeignKey(
        ScorecardVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    model_label = models.CharField(max_length=60, blank=True)
    policy = models.JSONField(
        default=dict, blank=True, help_text=_("The score bands and policy numbers the decision used (for replay).")
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_rule = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(limit__gte=0), name="decision_limit_gte_0"),
            models.CheckConstraint(
                condition=Q(automated=True, decided_by__isnull=True) | Q(automated=False, decided_by__isnull=False),
                name="decision_automated_xor_officer",
            ),
        ]

    def __str__(self) -> str:
        who = "automated" if self.automated else "officer"
        return f"{self.get_outcome_display()} ({who})"


class RiskEvent(models.Model):
    """A rule hit: the rule, its severity, what it did, and what it was about."""

    class Stage(models.TextChoices):
        APPLICATION = "application", _("Application")
        PURCHASE = "purchase", _("Purchase")
        ACCOUNT = "account", _("Account (early warning)")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        REVIEWED = "reviewed", _("Reviewed")

    rule = models.CharField(max_length=40, db_index=True)
    stage = models.CharField(max_length=12, choices=Stage.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    outcome = models.CharField(max_length=10, choices=RuleOutcome.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.CASCADE, related_name="risk_events"
    )
    account = models.ForeignKey(
        "accounts.CreditAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="risk_events"
    )
    subject_ref = models.CharField(
        max_length=64, blank=True, db_index=True, help_text=_("Purchase / merchant order reference, if any.")
    )
    details = models.JSONField(default=dict, blank=True)
    business_date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.rule} → {self.outcome}"


class ReviewCase(BaseModel):
    """The credit officers' queue: declined and referred applications, customers' requests for a
    human review of an automated decision (PIPL Art. 24), and purchases held by a risk rule."""

    class Kind(models.TextChoices):
        APPLICATION = "application", _("Application")
        PURCHASE_HOLD = "purchase_hold", _("Purchase hold")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")
        EXPIRED = "expired", _("Expired (not reviewed in time)")

    kind = models.CharField(max_length=15, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.CASCADE, related_name="review_cases"
    )
    account = models.ForeignKey(
        "accounts.CreditAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    purchase_ref = models.CharField(
        max_length=64, blank=True, db_index=True, help_text=_("The held purchase's merchant order id (unique per account).")
    )
    summary = models.CharField(max_length=300)
    human_review_requested = models.BooleanField(
        default=False, help_text=_("The customer asked for a human review of an automated decision (PIPL Art. 24).")
    )
    customer_statement = models.TextField(blank=True)
    suggested_limit = MoneyField(default=ZERO)
    resolved_limit = MoneyField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("work_reviewcase", "Can approve or decline cases in the review queue")]
        constraints = [
            models.UniqueConstraint(
                fields=["application"], condition=Q(status="open", application__isnull=False),
                name="one_open_case_per_application",
            ),
            models.UniqueConstraint(
                fields=["account", "purchase_ref"], condition=Q(status="open", kind="purchase_hold"),
                name="one_open_case_per_purchase",
            ),
            models.CheckConstraint(
                condition=Q(status="open") | (Q(resolved_by__isnull=False) & Q(resolved_at__isnull=False))
                | (Q(status="expired") & Q(resolved_at__isnull=False)),
                name="review_case_resolved_by_someone",
            ),
            models.CheckConstraint(
                condition=~Q(kind="application") | Q(application__isnull=False), name="review_case_application_set"
            ),
            models.CheckConstraint(
                condition=~Q(kind="purchase_hold") | (~Q(purchase_ref="") & Q(account__isnull=False)),
                name="review_case_purchase_set",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.reference}"


# --- Behaviour scores and limit reviews --------------------------------------------------------


class AccountScore(models.Model):
    """A score of an account: the application score at opening, then behaviour scores."""

    class Source(models.TextChoices):
        APPLICATION = "application", _("Application")
        REVIEW = "review", _("Limit review")
        BEHAVIOUR = "behaviour", _("Periodic behaviour score")

    account = models.ForeignKey("accounts.CreditAccount", on_delete=models.CASCADE, related_name="risk_scores")
    scored_on = models.DateField()
    source = models.CharField(max_length=12, choices=Source.choices)
    score = models.IntegerField()
    band = models.CharField(max_length=10, blank=True)
    scorecard_version = models.ForeignKey(ScorecardVersion, null=True, blank=True, on_delete=models.PROTECT)
    reason_codes = models.JSONField(default=list, blank=True)
    features = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-scored_on", "-id"]
        indexes = [models.Index(fields=["account", "-scored_on", "-id"])]

    def __str__(self) -> str:
        return f"{self.score} ({self.band}) on {self.scored_on}"


class LimitReview(models.Model):
    """The result of reviewing one account on one date (what changed and why)."""

    class Action(models.TextChoices):
        RAISE = "raise", _("Raise")
        CUT = "cut", _("Cut")
        NONE = "none", _("No change")

    account = models.ForeignKey("accounts.CreditAccount", on_delete=models.CASCADE, related_name="limit_reviews")
    reviewed_on = models.DateField()
    triggers = models.JSONField(default=list, blank=True)
    action = models.CharField(max_length=5, choices=Action.choices)
    rule = models.CharField(max_length=40)
    old_limit = MoneyField()
    new_limit = MoneyField()
    score_before = models.IntegerField(null=True, blank=True)
    score_after = models.IntegerField(null=True, blank=True)
    band_before = models.CharField(max_length=10, blank=True)
    band_after = models.CharField(max_length=10, blank=True)
    utilisation = RateField(null=True, blank=True)
    model_label = models.CharField(max_length=60, blank=True)
    explanation = models.CharField(max_length=500, blank=True)
    # PRODUCT §13 (issue 24): a cut caused by delinquency that back-valued money erased is undone.
    undone_on = models.DateField(null=True, blank=True, help_text=_("Business date the cut was undone."))
    undone_because = models.CharField(max_length=300, blank=True, help_text=_("Why the cut was undone."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reviewed_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "reviewed_on"], name="one_limit_review_per_account_day"),
            models.CheckConstraint(
                condition=(Q(action="raise") & Q(new_limit__gt=models.F("old_limit")))
                | (Q(action="cut") & Q(new_limit__lt=models.F("old_limit")))
                | (Q(action="none") & Q(new_limit=models.F("old_limit"))),
                name="limit_review_action_matches_limits",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reviewed_on}: {self.get_action_display()} {self.old_limit} → {self.new_limit}"


# --- Campaigns ---------------------------------------------------------------------------------


class Campaign(BaseModel):
    """A temporary-limit campaign (618, Double 11…): a segment by rules, previewed, then granted."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        GRANTED = "granted", _("Granted")

    class AmountKind(models.TextChoices):
        FIXED = "fixed", _("Fixed amount")
        SHARE = "share", _("Share of the fixed limit")

    name = models.CharField(max_length=60, unique=True, help_text=_("Also written on every temporary limit."))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # Segment
    bands = models.JSONField(default=list, blank=True, help_text=_("Score bands (names); empty: any band."))
    min_utilisation = RateField(null=True, blank=True)
    max_utilisation = RateField(null=True, blank=True)
    require_no_overdue = models.BooleanField(default=True)
    no_overdue_months = models.PositiveSmallIntegerField(default=6)
    require_marketing_consent = models.BooleanField(default=True)
    # Grant
    amount_kind = models.CharField(max_length=10, choices=AmountKind.choices, default=AmountKind.SHARE)
    amount_value = models.DecimalField(max_digits=14, decimal_places=4, help_text=_("Amount (CNY) or share (0.2 = 20 %)."))
    amount_unit = MoneyField(default=Decimal("100.00"), help_text=_("Grants are rounded down to this unit."))
    starts_on = models.DateField()
    ends_on = models.DateField()
    # Preview and grant
    preview_count = models.PositiveIntegerField(null=True, blank=True)
    preview_exposure = MoneyField(null=True, blank=True)
    preview_fingerprint = models.CharField(max_length=64, blank=True)
    previewed_at = models.DateTimeField(null=True, blank=True)
    granted_count = models.PositiveIntegerField(null=True, blank=True)
    granted_exposure = MoneyField(null=True, blank=True)
    granted_at = models.DateTimeField(null=True, blank=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-starts_on", "-id"]
        permissions = [("grant_campaign", "Can grant a campaign's temporary limits")]
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="campaign_dates"),
            models.CheckConstraint(condition=Q(amount_value__gt=0), name="campaign_amount_gt_0"),
            models.CheckConstraint(condition=Q(amount_unit__gt=0), name="campaign_amount_unit_gt_0"),
            models.CheckConstraint(
                condition=~Q(amount_kind="share") | Q(amount_value__lte=10), name="campaign_share_lte_10"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignGrant(models.Model):
    """One temporary limit granted by a campaign."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="grants")
    account = models.ForeignKey("accounts.CreditAccount", on_delete=models.PROTECT, related_name="+")
    temporary_limit = models.OneToOneField("accounts.TemporaryLimit", on_delete=models.PROTECT, related_name="+")
    amount = MoneyField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign", "account"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "account"], name="one_grant_per_campaign_account"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="campaign_grant_amount_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign}: {self.amount}"


class CampaignUse(models.Model):
    """A purchase that drew on a campaign's temporary limit (the used amount went above the fixed
    limit while the grant was active). Recorded by the purchase risk check; counted as uptake once
    the purchase is approved."""

    grant = models.ForeignKey(CampaignGrant, on_delete=models.CASCADE, related_name="uses")
    merchant_order_id = models.CharField(max_length=64)
    amount = MoneyField(help_text=_("The purchase amount."))
    above_fixed = MoneyField(help_text=_("How much of it went above the fixed limit."))
    used_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-used_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["grant", "merchant_order_id"], name="one_campaign_use_per_purchase"),
            models.CheckConstraint(condition=Q(above_fixed__gt=0), name="campaign_use_above_fixed_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_order_id}: {self.above_fixed}"
