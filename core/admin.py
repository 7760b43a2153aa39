"""The system's own records in the admin: the audit trail (strictly read-only — nobody, superusers
included, adds, changes or deletes an event) and the business date (changed only through
``set_business_date``, and audited)."""
from __future__ import annotations

from django import forms
from django.contrib import admin

from core.actors import Actor
from core.admin_refusals import RefusalOnFormMixin
from core.audit import audit_record
from core.business_date import set_business_date
from core.models import AuditEvent, BusinessDate
from django.utils.translation import gettext_lazy as _


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "object_type", "object_id", "object_repr", "actor_display", "reason")
    list_select_related = ("actor",)
    list_filter = ("action", "object_type")
    search_fields = ("=object_id", "object_repr", "=actor__username", "reason")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = ("created_at", "action", "object_type", "object_id", "object_repr", "actor", "actor_rule", "reason",
              "old", "new")
    readonly_fields = fields

    @admin.display(description=_("Actor"), ordering="actor__username")
    def actor_display(self, obj):
        return obj.actor_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class BusinessDateForm(forms.ModelForm):
    reason = forms.CharField(max_length=500, help_text=_("Why the business date moves (it drives every job)."), label=_("Reason"))

    class Meta:
        model = BusinessDate
        fields = ("date",)


@admin.register(BusinessDate)
class BusinessDateAdmin(RefusalOnFormMixin, admin.ModelAdmin):
    form = BusinessDateForm
    list_display = ("date", "updated_at")

    def has_add_permission(self, request):
        return False  # the one row exists from the first read of the business date

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        old = BusinessDate.objects.filter(pk=obj.pk).values_list("date", flat=True).first()
        set_business_date(form.cleaned_data["date"])
        audit_record(actor=Actor.staff(request.user), action="business_date_change", obj=obj,
                     reason=form.cleaned_data["reason"], old=str(old), new=str(form.cleaned_data["date"]))
