"""The approvals queue (one screen for every kind) and the thresholds.

Whoever may decide a kind of request (its permission, e.g. ``accounts.adjust_limit`` for limit
changes) sees the queue of that kind and their own requests; ``approvals.view_approvalrequest``
(auditor, administrator) reads every request. Approve and reject are admin actions checked on the
server by the service: the maker never decides their own request, a decided request is never decided
again."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Q

from approvals import services
from approvals.models import ApprovalPolicy, ApprovalRequest
from approvals.registry import registered_kinds
from core.actors import Actor
from core.admin_refusals import RefusalOnFormMixin
from core.admin_utils import ReasonForm, badge, form_action, money_column

STATUS_BADGE = {"pending": "held", "approved": "active", "rejected": "declined"}


def _decidable_kinds(user) -> list[str]:
    return [key for key, spec in registered_kinds().items() if user.has_perm(spec.permission)]


class NoteForm(forms.Form):
    note = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    list_display = ("reference", "created_at", "kind_label", "summary", "amount_col", "maker", "maker_reason",
                    "status_badge", "checker", "decided_at")
    list_select_related = ("maker", "checker")
    list_filter = ("status", "kind")
    search_fields = ("=reference", "=object_id", "object_repr", "summary")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = ("reference", "kind", "status", "summary", "amount", "base", "object_type", "object_id", "object_repr",
              "maker", "maker_reason", "created_at", "checker", "decided_at", "decision_note", "result", "payload")
    readonly_fields = fields
    actions = ("approve", "reject")
    amount_col = money_column("amount", "Amount")

    @admin.display(description="Kind", ordering="kind")
    def kind_label(self, obj):
        spec = registered_kinds().get(obj.kind)
        return spec.label if spec else obj.kind

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        return badge(STATUS_BADGE.get(obj.status, obj.status), obj.get_status_display())

    # Who sees the queue: readers of every request, and whoever may decide some kind.
    def _may_decide(self, request) -> bool:
        return bool(_decidable_kinds(request.user))

    def has_module_permission(self, request):
        return super().has_module_permission(request) or self._may_decide(request)

    def has_view_permission(self, request, obj=None):
        if super().has_view_permission(request, obj):
            return True
        if obj is None:
            return self._may_decide(request)
        return obj.maker_id == request.user.pk or obj.kind in _decidable_kinds(request.user)

    def has_decide_permission(self, request):
        return self._may_decide(request)

    def has_add_permission(self, request):
        return False  # requests are made by the screens that change money and limits

    def has_change_permission(self, request, obj=None):
        return False  # decided through the actions, never edited

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.has_perm("approvals.view_approvalrequest"):
            return qs
        return qs.filter(Q(kind__in=_decidable_kinds(request.user)) | Q(maker=request.user))

    @form_action(NoteForm, description="Approve (apply the change)", permissions=["decide"], submit_label="Approve")
    def approve(self, request, obj, data):
        done = services.approval_approve(approval=obj, user=request.user, note=data["note"])
        self.message_user(request, f"{done}: approved and applied ({done.result}).", messages.SUCCESS)

    @form_action(ReasonForm, description="Reject", permissions=["decide"], submit_label="Reject")
    def reject(self, request, obj, data):
        services.approval_reject(approval=obj, user=request.user, note=data["reason"])


class ApprovalPolicyForm(forms.ModelForm):
    class Meta:
        model = ApprovalPolicy
        fields = ("amount_above", "share_above")


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(RefusalOnFormMixin, admin.ModelAdmin):
    form = ApprovalPolicyForm
    list_display = ("kind", "kind_label", "amount_above", "share_above", "updated_at")
    fields = ("kind", "amount_above", "share_above")
    readonly_fields = ("kind",)

    @admin.display(description="What")
    def kind_label(self, obj):
        spec = registered_kinds().get(obj.kind)
        return spec.label if spec else "(no longer registered)"

    def changelist_view(self, request, extra_context=None):
        if self.has_change_permission(request):  # a kind registered since the last migrate (a reader never writes)
            services.approval_policies_ensure()
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False  # one row per registered kind, made by the system

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        services.approval_policy_update(policy=obj, amount_above=form.cleaned_data["amount_above"],
                                        share_above=form.cleaned_data["share_above"], actor=Actor.staff(request.user))
