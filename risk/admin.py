"""Operator console for risk: scorecard versions (evaluation, bins table, activate), the score
bands, rules and policy, the blacklist, applications and decisions, the credit officers' review
queue, risk events, limit reviews and campaigns. Writes go through ``risk.services``; personal data
is masked; lists use a fixed number of queries."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.utils.html import format_html, format_html_join

from approvals.admin_mixins import report_pending
from core.admin_refusals import RefusalOnFormMixin
from core.admin_utils import ReadOnlyAdmin, ReadOnlyInline, ReasonForm, badge, form_action, money_column
from core.errors import ApplicationError
from core.masking import mask_mobile, mask_name
from core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, ZERO, format_cny
from risk import services
from risk.models import (
    AccountScore,
    Application,
    BlacklistEntry,
    Campaign,
    CampaignGrant,
    CreditDecision,
    LimitReview,
    ReviewCase,
    RiskEvent,
    RiskPolicy,
    RiskRule,
    ScoreBand,
    ScorecardVersion,
)
from risk.rules import RULE_SPECS
from risk.services.campaigns import campaign_report, campaign_segment
from risk.services.config import POLICY_FIELDS, risk_policy_change_submit
from django.utils.translation import gettext_lazy as _

BADGES = {"approved": "active", "approve": "active", "declined": "declined", "decline": "declined",
          "in_review": "held", "review": "held", "draft": "closed", "retired": "closed", "granted": "posted",
          "reviewed": "closed"}


def status_badge(value: str, label: str | None = None) -> str:
    return badge(BADGES.get(value, value), label or value)


def _table(headers, rows) -> str:
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join("", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows))
    return format_html('<table class="risk-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, body)


# --- Scorecard versions ------------------------------------------------------------------------------


@admin.register(ScorecardVersion)
class ScorecardVersionAdmin(ReadOnlyAdmin):
    list_display = ("label_col", "purpose", "dataset", "status_col", "cv_auc", "holdout_auc", "holdout_ks",
                    "trained_at", "activated_at", "activated_by")
    list_filter = ("purpose", "status", "dataset")
    list_select_related = ("activated_by",)
    actions = ("activate", "retire")
    fields = ("label_col", "purpose", "dataset", "status_col", "trained_at", "activated_at", "activated_by",
              "retired_at", "evaluation", "bins_table", "training_display")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("table", "training")

    def has_change_permission(self, request, obj=None):  # the detail page is read-only but viewable
        return False

    @admin.display(description=_("Version"), ordering="name")
    def label_col(self, obj):
        return obj.label

    @admin.display(description=_("Status"), ordering="status")
    def status_col(self, obj):
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description=_("CV AUC"))
    def cv_auc(self, obj):
        return obj.metrics.get("cv", {}).get("auc", "—")

    @admin.display(description=_("Holdout AUC"))
    def holdout_auc(self, obj):
        return obj.metrics.get("holdout", {}).get("auc", "—")

    @admin.display(description=_("Holdout KS"))
    def holdout_ks(self, obj):
        return obj.metrics.get("holdout", {}).get("ks", "—")

    @admin.display(description=_("Evaluation"))
    def evaluation(self, obj):
        m = obj.metrics or {}
        rows = []
        for key, label in (("cv", "Cross-validation (mean)"), ("holdout", "Holdout"), ("development", "Development sample"),
                           ("all_rows", "All rows")):
            if key in m:
                rows.append((label, m[key].get("n", "—") if key != "cv" else f"{m[key].get('folds')} folds",
                             m[key].get("auc", "—"), m[key].get("ks", "—"), m[key].get("gini", "—")))
        for i, fold in enumerate(m.get("cv", {}).get("per_fold", []), 1):
            rows.append((f"  fold {i}", fold.get("n"), fold.get("auc"), fold.get("ks"), fold.get("gini")))
        if "baseline" in m:
            rows.append((f"Baseline: {m['baseline'].get('source', '')}", "", m["baseline"].get("auc"), "", ""))
        return _table(("Sample", "Rows", "AUC", "KS", "Gini"), rows)

    @admin.display(description=_("Bins → points"))
    def bins_table(self, obj):
        rows = []
        for var in obj.table.get("variables", []):
            for b in var["bins"]:
                rows.append((var["name"], b.get("label", ""), b.get("count", ""), b.get("event_rate", ""),
                             b.get("woe", ""), b["points"]))
            rows.append((var["name"], "Missing / unknown", "", "", "", var["missing_points"]))
        return _table(("Attribute", "Bin", "Count", "Bad rate", "WoE", "Points"), rows)

    @admin.display(description=_("Training"))
    def training_display(self, obj):
        t = obj.training or {}
        items = [(k, t[k]) for k in ("dataset", "description", "rows", "bad_rate", "params", "excluded_variables",
                                     "libraries", "seconds") if k in t]
        return _table(("", ""), items)

    @admin.action(description=_("Activate the selected version (retires the active one)"),
                  permissions=["activate"])
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one version to activate."), messages.ERROR)
            return
        try:
            version = services.scorecard_version_activate(version=queryset.get(), user=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, f"{version.label} is now active.", messages.SUCCESS)

    @admin.action(description=_("Retire the selected versions"), permissions=["activate"])
    def retire(self, request, queryset):
        for version in queryset:
            try:
                services.scorecard_version_retire(version=version, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{version.label}: {exc.message}", messages.ERROR)

    def has_activate_permission(self, request):
        return request.user.has_perm("risk.activate_scorecardversion")


# --- Configuration -------------------------------------------------------------------------------------


@admin.register(ScoreBand)
class ScoreBandAdmin(RefusalOnFormMixin, admin.ModelAdmin):
    list_display = ("name", "min_score", "limit_col", "action")
    fields = ("name", "min_score", "limit", "action")

    limit_col = money_column("limit", _("Limit"))

    def save_model(self, request, obj, form, change):
        saved = services.score_band_save(band=obj if change else None, name=obj.name, min_score=obj.min_score,
                                         limit=obj.limit, action=obj.action, user=request.user)
        obj.pk = saved.pk


class RiskRuleForm(forms.ModelForm):
    code = forms.ChoiceField(choices=[(c, c) for c in RULE_SPECS], label=_("Code"))

    class Meta:
        model = RiskRule
        fields = ("code", "enabled", "outcome", "severity", "params")


@admin.register(RiskRule)
class RiskRuleAdmin(RefusalOnFormMixin, admin.ModelAdmin):
    form = RiskRuleForm
    list_display = ("code", "stage", "enabled", "outcome", "severity", "params", "description")
    list_filter = ("enabled", "outcome")

    @admin.display(description=_("Stage"))
    def stage(self, obj):
        spec = RULE_SPECS.get(obj.code)
        return spec.stage if spec else "?"

    @admin.display(description=_("What it checks"))
    def description(self, obj):
        spec = RULE_SPECS.get(obj.code)
        return spec.description if spec else ""

    def get_readonly_fields(self, request, obj=None):
        return ("code",) if obj else ()

    def save_model(self, request, obj, form, change):
        saved = services.risk_rule_update(code=obj.code, enabled=obj.enabled, outcome=obj.outcome,
                                          severity=obj.severity, params=obj.params, user=request.user)
        obj.pk = saved.pk

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RiskPolicy)
class RiskPolicyAdmin(RefusalOnFormMixin, admin.ModelAdmin):
    list_display = ("__str__", "review_every_days", "raise_step", "cut_step", "max_limit", "updated_at")

    def has_add_permission(self, request):
        return not RiskPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        values = {f: form.cleaned_data[f] for f in POLICY_FIELDS if f in form.cleaned_data}
        submitted = risk_policy_change_submit(user=request.user, values=values)
        if submitted is not None:  # the maxima wait for a second person (issue 23, PRODUCT §12)
            report_pending(self, request, submitted.request)


class BlacklistAddForm(forms.ModelForm):
    value = forms.CharField(max_length=200, help_text=_("ID number, mobile or device id: only a keyed hash is stored."), label=_("Value"))

    class Meta:
        model = BlacklistEntry
        fields = ("kind", "value", "reason")


@admin.register(BlacklistEntry)
class BlacklistEntryAdmin(RefusalOnFormMixin, admin.ModelAdmin):
    list_display = ("kind", "value_hint", "reason", "is_active", "added_by", "created_at")
    list_filter = ("kind", "is_active")
    list_select_related = ("added_by",)
    actions = ("deactivate",)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = BlacklistAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ("kind", "value", "reason") if obj is None else ("kind", "value_hint", "reason", "is_active", "added_by",
                                                                 "created_at", "deactivated_at")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        entry = services.blacklist_add(kind=form.cleaned_data["kind"], value=form.cleaned_data["value"],
                                       reason=form.cleaned_data["reason"], user=request.user)
        obj.pk = entry.pk

    def has_delete_permission(self, request, obj=None):
        return False

    @form_action(ReasonForm, description=_("Remove from the blacklist"), permissions=["change"])
    def deactivate(self, request, obj, data):
        services.blacklist_deactivate(entry=obj, reason=data["reason"], user=request.user)


# --- Applications and decisions ----------------------------------------------------------------------


class DecisionInline(ReadOnlyInline):
    model = CreditDecision
    fields = ("created_at", "outcome", "automated", "score", "band", "limit", "model_label", "reason_codes_display",
              "rules_display", "decided_by", "reason")
    readonly_fields = fields

    @admin.display(description=_("Reason codes"))
    def reason_codes_display(self, obj):
        return ", ".join(f"{c['code']} (−{c['points_lost']})" for c in obj.reason_codes) or "—"

    @admin.display(description=_("Rules fired"))
    def rules_display(self, obj):
        return ", ".join(r["rule"] for r in obj.rules_fired) or "—"


class ApplicationEventInline(ReadOnlyInline):
    model = RiskEvent
    fields = ("rule", "severity", "outcome", "status", "details", "created_at")
    readonly_fields = fields


def _latest_decision(field: str):
    return Subquery(CreditDecision.objects.filter(application=OuterRef("pk")).order_by("-created_at", "-id").values(field)[:1])


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdmin):
    list_display = ("reference", "name_masked", "id_masked", "mobile_masked", "status_col", "score", "band",
                    "limit_display", "product", "submitted_at")
    list_filter = ("status", "product")
    list_select_related = ("product",)
    search_fields = ("=reference", "=id_number_last4", "=mobile")
    search_help_text = _("Reference, last 4 digits of the ID number, or full mobile number.")
    date_hierarchy = "submitted_at"
    inlines = (DecisionInline, ApplicationEventInline)
    fields = ("reference", "name_masked", "id_masked", "mobile_masked", "product", "status_col", "submitted_at",
              "business_date", "customer", "account", "consents", "features")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            score=_latest_decision("score"), band=_latest_decision("band"), decided_limit=_latest_decision("limit"),
        ).defer("features", "consents")

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Name"))
    def name_masked(self, obj):
        return mask_name(obj.name)

    @admin.display(description=_("ID number"))
    def id_masked(self, obj):
        return f"{'*' * 14}{obj.id_number_last4}"

    @admin.display(description=_("Mobile"))
    def mobile_masked(self, obj):
        return mask_mobile(obj.mobile)

    @admin.display(description=_("Status"), ordering="status")
    def status_col(self, obj):
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description=_("Score"))
    def score(self, obj):
        return getattr(obj, "score", None)

    @admin.display(description=_("Band"))
    def band(self, obj):
        return getattr(obj, "band", "")

    @admin.display(description=_("Limit"))
    def limit_display(self, obj):
        value = getattr(obj, "decided_limit", None)
        return format_cny(value) if value is not None else "—"


@admin.register(CreditDecision)
class CreditDecisionAdmin(ReadOnlyAdmin):
    list_display = ("application", "outcome", "automated", "score", "band", "limit_col", "model_label", "decided_by",
                    "created_at")
    list_filter = ("outcome", "automated", "model_label")
    list_select_related = ("application", "decided_by")
    limit_col = money_column("limit", _("Limit"))


# --- The review queue ------------------------------------------------------------------------------------


class ApproveForm(ReasonForm):
    limit = forms.DecimalField(
        max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, min_value=0, required=False,
        help_text=_("Applications: the fixed limit to grant (empty: the case's suggested limit). Purchases: ignored."), label=_("Limit"),
    )


@admin.register(ReviewCase)
class ReviewCaseAdmin(ReadOnlyAdmin):
    list_display = ("reference", "kind", "status_col", "summary", "human_review_requested", "suggested_col",
                    "application", "account", "purchase_ref", "created_at", "resolved_by")
    list_filter = ("status", "kind", "human_review_requested")
    list_select_related = ("application", "account", "resolved_by")
    search_fields = ("=reference", "=purchase_ref", "=application__reference", "=account__reference")
    actions = ("approve", "decline")
    fields = ("reference", "kind", "status_col", "summary", "human_review_requested", "customer_statement",
              "application", "account", "purchase_ref", "suggested_limit", "resolved_limit", "resolved_by",
              "resolved_at", "resolution_reason", "decision_detail")
    readonly_fields = fields
    suggested_col = money_column("suggested_limit", _("Suggested limit"))

    def has_change_permission(self, request, obj=None):
        return False

    def has_work_permission(self, request):
        return request.user.has_perm("risk.work_reviewcase")

    @admin.display(description=_("Status"), ordering="status")
    def status_col(self, obj):
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description=_("Automated decision"))
    def decision_detail(self, obj):
        if not obj.application_id:
            events = RiskEvent.objects.filter(account_id=obj.account_id, subject_ref=obj.purchase_ref).order_by("id")
            return _table(("Rule", "Severity", "Outcome", "Details"),
                          [(e.rule, e.severity, e.outcome, e.details) for e in events])
        decision = obj.application.decisions.filter(automated=True).order_by("created_at", "id").first()
        if decision is None:
            return "—"
        rows = [("Score", decision.score), ("Band", decision.band or "—"), ("Model", decision.model_label or "—"),
                ("Rules fired", ", ".join(r["rule"] for r in decision.rules_fired) or "—")]
        rows += [(f"Reason: {c['code']}", f"{c['bin']} (−{c['points_lost']} points)") for c in decision.reason_codes]
        return _table(("", ""), rows)

    @form_action(ApproveForm, description=_("Approve (reason required)"), permissions=["work"], submit_label=_("Approve"))
    def approve(self, request, obj, data):
        limit = data.get("limit")
        if obj.kind == ReviewCase.Kind.APPLICATION and limit is None:
            limit = obj.suggested_limit
        case = services.review_case_approve(case=obj, user=request.user, reason=data["reason"], limit=limit)
        if getattr(case, "pending", None) is not None:  # above the threshold: waits for a second officer
            report_pending(self, request, case.pending)

    @form_action(ReasonForm, description=_("Decline (reason required)"), permissions=["work"], submit_label=_("Decline"))
    def decline(self, request, obj, data):
        services.review_case_decline(case=obj, user=request.user, reason=data["reason"])


@admin.register(RiskEvent)
class RiskEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "rule", "stage", "severity", "outcome", "status", "account", "application",
                    "subject_ref", "business_date")
    list_filter = ("status", "stage", "severity", "outcome", "rule")
    list_select_related = ("account", "application")
    search_fields = ("=subject_ref", "=account__reference", "=application__reference")
    date_hierarchy = "created_at"
    actions = ("mark_reviewed",)

    def has_work_permission(self, request):
        return request.user.has_perm("risk.work_reviewcase")

    @form_action(ReasonForm, description=_("Mark reviewed (note required)"), permissions=["work"])
    def mark_reviewed(self, request, obj, data):
        services.risk_event_mark_reviewed(event=obj, user=request.user, note=data["reason"])


# --- Scores, limit reviews ---------------------------------------------------------------------------------


@admin.register(AccountScore)
class AccountScoreAdmin(ReadOnlyAdmin):
    list_display = ("account", "scored_on", "source", "score", "band", "scorecard_version")
    list_filter = ("source", "band")
    list_select_related = ("account", "scorecard_version")
    search_fields = ("=account__reference",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("features", "scorecard_version__table", "scorecard_version__training")


@admin.register(LimitReview)
class LimitReviewAdmin(ReadOnlyAdmin):
    list_display = ("reviewed_on", "account", "action", "rule", "old_col", "new_col", "score_before", "score_after",
                    "band_before", "band_after", "triggers", "model_label")
    list_filter = ("action", "rule", "reviewed_on")
    list_select_related = ("account",)
    search_fields = ("=account__reference",)
    old_col = money_column("old_limit", _("Old limit"))
    new_col = money_column("new_limit", _("New limit"))


# --- Campaigns ---------------------------------------------------------------------------------------------


class GrantInline(ReadOnlyInline):
    model = CampaignGrant
    fields = ("account", "amount", "temporary_limit", "created_at")
    readonly_fields = fields
    max_num = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account", "temporary_limit")


@admin.register(Campaign)
class CampaignAdmin(RefusalOnFormMixin, admin.ModelAdmin):
    list_display = ("name", "status_col", "starts_on", "ends_on", "segment_display", "amount_display",
                    "preview_count", "preview_col", "granted_count", "granted_col")
    list_filter = ("status",)
    list_select_related = ("granted_by",)
    actions = ("preview", "grant")
    inlines = (GrantInline,)
    preview_col = money_column("preview_exposure", _("Previewed exposure"))
    granted_col = money_column("granted_exposure", _("Granted exposure"))
    SEGMENT = ("bands", "min_utilisation", "max_utilisation", "require_no_overdue", "no_overdue_months",
               "require_marketing_consent")
    GRANT = ("amount_kind", "amount_value", "amount_unit", "starts_on", "ends_on")
    RESULT = ("status", "preview_count", "preview_exposure", "previewed_at", "granted_count", "granted_exposure",
              "granted_at", "granted_by", "report")

    def get_fieldsets(self, request, obj=None):
        sets = [(None, {"fields": ("name",)}), (_("Segment"), {"fields": self.SEGMENT}), (_("Grant"), {"fields": self.GRANT})]
        if obj is not None:
            sets.append((_("Preview, grant and results"), {"fields": self.RESULT}))
        return sets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if obj.status != Campaign.Status.DRAFT:
            return ("name", *self.SEGMENT, *self.GRANT, *self.RESULT)
        return self.RESULT

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.status == Campaign.Status.DRAFT)

    def save_model(self, request, obj, form, change):
        # A change of the segment or amounts invalidates the preview.
        if change and form.changed_data:
            obj.preview_count = obj.preview_exposure = obj.previewed_at = None
            obj.preview_fingerprint = ""
        super().save_model(request, obj, form, change)

    @admin.display(description=_("Status"), ordering="status")
    def status_col(self, obj):
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description=_("Segment"))
    def segment_display(self, obj):
        parts = [f"bands {','.join(obj.bands)}" if obj.bands else "any band"]
        if obj.min_utilisation is not None:
            parts.append(f"utilisation ≥ {obj.min_utilisation:.0%}")
        if obj.max_utilisation is not None:
            parts.append(f"utilisation ≤ {obj.max_utilisation:.0%}")
        if obj.require_no_overdue:
            parts.append(f"no overdue {obj.no_overdue_months} m")
        if obj.require_marketing_consent:
            parts.append("marketing consent")
        return "; ".join(parts)

    @admin.display(description=_("Amount"))
    def amount_display(self, obj):
        return format_cny(obj.amount_value) if obj.amount_kind == "fixed" else f"{obj.amount_value:.0%} of the fixed limit"

    @admin.display(description=_("Uptake and delinquency"))
    def report(self, obj):
        if obj.status != Campaign.Status.GRANTED:
            segment = campaign_segment(obj)
            return f"Segment today: {segment.count} accounts, exposure {format_cny(segment.exposure)}"
        r = campaign_report(obj)
        return _table(("", ""), [
            ("Granted", f"{r.granted_accounts} accounts, {format_cny(r.granted_exposure)}"),
            ("Uptake", f"{r.uptake_accounts} accounts ({r.uptake_rate or 0:.1%}), {r.uptake_purchases} purchases, "
                       f"{format_cny(r.uptake_amount)} above the fixed limit"),
            ("Delinquency", f"{r.delinquent_accounts} accounts ({r.delinquency_rate or 0:.1%}) past due since the start"),
        ])

    def has_grant_permission(self, request):
        return request.user.has_perm("risk.grant_campaign")

    @admin.action(description=_("Preview the segment (count and exposure)"), permissions=["change"])
    def preview(self, request, queryset):
        for campaign in queryset:
            try:
                result = services.campaign_preview(campaign=campaign, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{campaign}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{campaign}: {result.count} accounts, exposure {format_cny(result.exposure)}.",
                              messages.SUCCESS)

    @admin.action(description=_("Grant the previewed temporary limits"), permissions=["grant"])
    def grant(self, request, queryset):
        for campaign in queryset:
            try:
                result = services.campaign_grant(campaign=campaign, user=request.user,
                                                 expected_fingerprint=campaign.preview_fingerprint)
            except ApplicationError as exc:
                self.message_user(request, f"{campaign}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{campaign}: granted {result.count - len(result.waiting)} temporary limits, "
                                       f"{format_cny(result.exposure - sum((r.amount for r in result.waiting), ZERO))}"
                                       + (f"; {len(result.waiting)} wait for a second officer" if result.waiting else "")
                                       + ".", messages.SUCCESS)


@admin.register(CampaignGrant)
class CampaignGrantAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "account", "amount_col", "temporary_limit", "created_at")
    list_select_related = ("campaign", "account", "temporary_limit")
    list_filter = ("campaign",)
    amount_col = money_column("amount", _("Amount"))
