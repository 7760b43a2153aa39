"""Operator console of consumer-credit insurance (issue 16): products (configuration), policies (read;
cancel, make a claim) and claims (read; a claim is paid when a second person approves its request in the
approvals screen). Every write goes through a service."""
from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from approvals.admin_mixins import report_pending
from core.actors import Actor
from core.admin_utils import ReadOnlyAdmin, ReasonForm, form_action
from insurance import services
from insurance.models import InsuranceClaim, InsurancePolicy, InsuranceProduct


@admin.register(InsuranceProduct)
class InsuranceProductAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "insurer", "credit_product", "premium_rate", "cooling_off_days",
                    "condition_of_credit", "is_active")
    list_filter = ("is_active", "condition_of_credit")
    list_select_related = ("credit_product",)

    def has_delete_permission(self, request, obj=None):
        return False  # policies keep pointing at it: deactivate instead


class ClaimForm(forms.Form):
    reason = forms.ChoiceField(choices=InsuranceClaim.Reason.choices, label=_("Reason"))
    event_date = forms.DateField(label=_("Event date"), help_text=_("Date of the death, disability or loss of employment."))
    note = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), label=_("Note"),
                           help_text=_("What the evidence is (kept with the approval request)."))


@admin.register(InsurancePolicy)
class InsurancePolicyAdmin(ReadOnlyAdmin):
    list_display = ("reference", "plan", "account", "product", "status", "premium_per_period", "periods",
                    "start_date", "cooling_off_until", "cancelled_on")
    list_filter = ("status", "product")
    list_select_related = ("plan", "account", "product")
    search_fields = ("reference", "plan__reference", "account__reference")
    readonly_fields = [f.name for f in InsurancePolicy._meta.fields]
    actions = ["cancel", "claim"]

    def has_cancel_policy_permission(self, request):
        return request.user.has_perm("insurance.cancel_policy")

    def has_pay_claim_permission(self, request):
        return request.user.has_perm("insurance.pay_claim")

    @form_action(ReasonForm, description=_("Cancel (premiums refunded in the cooling-off period)"),
                 permissions=["cancel_policy"])
    def cancel(self, request, obj, data):
        services.policy_cancel(policy=obj, actor=Actor.staff(request.user), reason=data["reason"])

    @form_action(ClaimForm, description=_("Make a claim (a second person approves)"), permissions=["pay_claim"])
    def claim(self, request, obj, data):
        _, submitted = services.claim_submit(policy=obj, reason=data["reason"], event_date=data["event_date"],
                                             note=data["note"], actor=Actor.staff(request.user))
        report_pending(self, request, submitted.request)


@admin.register(InsuranceClaim)
class InsuranceClaimAdmin(ReadOnlyAdmin):
    list_display = ("reference", "policy", "reason", "event_date", "status", "amount", "paid_amount", "submitted_on",
                    "paid_on", "maker", "checker", "approval")
    list_filter = ("status", "reason")
    list_select_related = ("policy", "maker", "checker")
    search_fields = ("reference", "policy__reference", "approval")
    readonly_fields = [f.name for f in InsuranceClaim._meta.fields]
