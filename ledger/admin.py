"""The journal in the admin: read-only (entries are posted only by services)."""
from django.contrib import admin

from core.admin_utils import ReadOnlyAdmin, ReadOnlyInline, money_column
from ledger.models import JournalEntry, JournalLine, LedgerAccount
from django.utils.translation import gettext_lazy as _


class JournalLineInline(ReadOnlyInline):
    model = JournalLine
    fields = ("ledger_account", "credit_account", "debit", "credit")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ledger_account", "credit_account")


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "kind", "posted_on", "memo", "source", "debit_display", "actor_display")
    list_filter = ("kind", "posted_on")
    search_fields = ("=source", "memo")
    date_hierarchy = "posted_on"
    list_select_related = ("actor",)
    readonly_fields = ("kind", "posted_on", "memo", "source", "total_debit", "total_credit", "reverses", "actor",
                       "actor_rule", "created_at")
    inlines = (JournalLineInline,)

    debit_display = money_column("total_debit", _("Amount"))

    @admin.display(description=_("By"))
    def actor_display(self, obj):
        return obj.actor.get_username() if obj.actor_id else f"system ({obj.actor_rule})"


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "type", "is_customer_receivable")
