"""Customer notices in the admin: what each customer was told and when (read only; written by close
of business), and the wording staff maintain per kind."""
from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin_utils import badge
from debt_collection.forms import ReminderTemplateForm
from notices.models import Notice, NoticeTemplate
from notices.services import DEFAULT_TEXTS


class NoticeTemplateForm(ReminderTemplateForm):
    """The reminder templates' checks: subject and body must compile."""

    class Meta:
        model = NoticeTemplate
        fields = ("kind", "subject", "body", "is_active")


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    list_display = ("reference", "for_date", "kind", "account", "channel", "status_display", "attempts", "sent_at")
    list_filter = ("kind", "status", "channel")
    list_select_related = ("account",)
    search_fields = ("reference", "account__reference", "customer__reference")
    date_hierarchy = "for_date"
    exclude = ("recipient",)
    show_full_result_count = False

    @admin.display(description=_("Status"), ordering="status")
    def status_display(self, obj):
        colour = {"sent": "paid", "queued": "open", "failed": "overdue", "suppressed": "closed"}[obj.status]
        return badge(colour, obj.get_status_display())

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(NoticeTemplate)
class NoticeTemplateAdmin(admin.ModelAdmin):
    form = NoticeTemplateForm
    list_display = ("kind", "subject", "is_active", "updated_at")

    def get_changeform_initial_data(self, request):
        kind = request.GET.get("kind", "")
        subject, body = DEFAULT_TEXTS.get(kind, ("", ""))
        return {"kind": kind, "subject": subject, "body": body}

