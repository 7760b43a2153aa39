"""Staff screens: import and export on the customer and account lists, one screen per import/export
job (proxy models, so each has its own place in the navigation and its own permission), import jobs
with their progress, and the portfolio snapshots behind the dashboard."""
from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts import admin as accounts_admin
from accounts.models import CreditAccount, Customer
from accounts.resources import (
    CreditAccountExportResource,
    CustomerExportResource,
    OverdueAccountExportResource,
    TemporaryLimitExportResource,
)
from core.admin_search import PeopleSearchMixin
from core.admin_history import HistoryAdmin
from core.admin_utils import ReadOnlyAdmin, ReadOnlyInline, badge, money_column
from core.errors import ApplicationError, ValidationError
from staff import resources as staff_resources
from staff.admin_mixins import StaffExportMixin, StaffImportExportMixin
from staff.admin_workspace import CreditAccountWorkspaceMixin, CustomerWorkspaceMixin
from staff.forms import CustomerExportForm
from installments.models import Allocation, Repayment
from staff.models import (
    BankRepaymentFile,
    CollectionAssignmentExport,
    ImportJob,
    ImportRecord,
    OverdueAccount,
    PortfolioSnapshot,
    RepaymentExport,
    ScheduleExport,
    StatementExport,
    StorefrontOrderImport,
    TemporaryLimitCampaign,
)
from django.utils.translation import gettext_lazy as _


# --- Customers and accounts: the accounts app's screens plus import and export --------------------


class CustomerAdmin(CustomerWorkspaceMixin, StaffImportExportMixin, accounts_admin.CustomerAdmin):
    """Customers (accounts/admin.py) with the import of customers with accounts and limits, and an
    export that is masked unless the user may see personal data and gives a reason (logged)."""

    import_resource_classes = [staff_resources.CustomerAccountImport]
    resource_classes = [CustomerExportResource]
    export_form_class = CustomerExportForm

    def init_request_context_data(self, request, form):
        from privacy.masking import can_view_full_pii

        if not can_view_full_pii(request.user):
            form.fields.pop("reveal", None)
            form.fields.pop("reason", None)
        return super().init_request_context_data(request, form)

    def get_data_for_export(self, request, queryset, **kwargs):
        form = kwargs.get("export_form")
        revealed: dict[int, dict[str, str]] = {}
        if form is not None and form.cleaned_data.get("reveal"):
            from privacy.masking import can_view_full_pii
            from privacy.models import PiiAccessLog
            from privacy.services import pii_unmask

            if not can_view_full_pii(request.user):
                raise PermissionDenied
            reason = form.cleaned_data["reason"]
            for customer in queryset.filter(anonymised_at__isnull=True).order_by("pk"):
                revealed[customer.pk] = pii_unmask(
                    user=request.user, customer=customer, reason=reason, channel=PiiAccessLog.Channel.EXPORT,
                    ip_address=request.META.get("REMOTE_ADDR"),
                )
        resource = CustomerExportResource(revealed=revealed)
        return resource.export(queryset=queryset, export_fields=self.get_export_resource_fields_from_form(form), **kwargs)


class CreditAccountAdmin(CreditAccountWorkspaceMixin, StaffExportMixin, accounts_admin.CreditAccountAdmin):
    resource_classes = [CreditAccountExportResource]


admin.site.register(Customer, CustomerAdmin)  # the accounts app's screens, with the workspace and exports
admin.site.register(CreditAccount, CreditAccountAdmin)


# --- Temporary-limit campaign lists ------------------------------------------------------------


@admin.register(TemporaryLimitCampaign)
class TemporaryLimitCampaignAdmin(PeopleSearchMixin, StaffImportExportMixin, admin.ModelAdmin):
    """Upload a campaign list (618, Double 11…): one temporary limit per account, granted through
    ``temporary_limit_grant``; the same list imported twice grants nothing the second time."""

    import_resource_classes = [staff_resources.TemporaryLimitCampaignImport]
    resource_classes = [TemporaryLimitExportResource]
    list_display = ("account", "campaign", "amount_col", "starts_on", "ends_on", "status_badge", "created_at")
    list_select_related = ("account",)
    list_filter = ("campaign", "status", "starts_on")
    search_fields = ("=account__reference", "campaign")
    search_help_text = _("Account reference, campaign, mobile (any spacing) or full ID number.")
    date_hierarchy = "starts_on"
    show_full_result_count = False
    amount_col = money_column("amount", _("Amount"))

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj):
        return badge(obj.status, obj.get_status_display())

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Overdue accounts by bucket -------------------------------------------------------------


class BucketFilter(admin.SimpleListFilter):
    title = _("bucket")
    parameter_name = "bucket"

    def lookups(self, request, model_admin):
        return [(b, label) for b, label in CreditAccount.Bucket.choices if b != "M0"]

    def queryset(self, request, queryset):
        return queryset.filter(bucket=self.value()) if self.value() else queryset


@admin.register(OverdueAccount)
class OverdueAccountAdmin(PeopleSearchMixin, StaffExportMixin, HistoryAdmin):
    search_customer_prefix = "customer__"
    """Accounts with days past due, worst first: what collections and risk work from."""

    resource_classes = [OverdueAccountExportResource]
    list_display = ("reference", "customer_masked", "bucket_badge", "dpd", "used_col", "fixed_limit_col", "status_badge")
    list_select_related = ("customer",)
    list_filter = (BucketFilter, "status", "freeze_reason", "product")
    search_fields = ("=reference", "=customer__reference", "=customer__mobile", "=customer__id_number_last4")
    search_help_text = _("Account or customer reference, mobile (any spacing), full ID number or its last 4 digits.")
    ordering = ("-dpd", "pk")
    show_full_result_count = False
    used_col = money_column("used_amount", _("Balance"))
    fixed_limit_col = money_column("fixed_limit", _("Fixed limit"))

    def get_queryset(self, request):
        return super().get_queryset(request).filter(dpd__gt=0)

    @admin.display(description=_("Customer"))
    def customer_masked(self, obj):
        return obj.customer.masked_name

    @admin.display(description=_("Bucket"), ordering="bucket")
    def bucket_badge(self, obj):
        return badge("overdue" if obj.bucket != "M7" else "closed", obj.bucket)

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj):
        return badge(obj.freeze_reason or obj.status, obj.get_status_display())

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Import jobs ------------------------------------------------------------------------------

JOB_COLOURS = {
    ImportJob.Status.QUEUED: "open", ImportJob.Status.CHECKING: "open", ImportJob.Status.CHECKED: "held",
    ImportJob.Status.WAITING: "held", ImportJob.Status.REJECTED: "declined", ImportJob.Status.IMPORT_QUEUED: "open",
    ImportJob.Status.IMPORTING: "open", ImportJob.Status.DONE: "posted", ImportJob.Status.FAILED: "declined",
    ImportJob.Status.DECLINED: "declined",
}


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("file_name", "kind", "status_badge", "progress", "total_rows", "error_count", "created_by", "created_at")
    list_select_related = ("created_by",)
    list_filter = ("status", "kind")
    search_fields = ("file_name", "=reference")
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj):
        return badge(JOB_COLOURS.get(obj.status, "open"), obj.get_status_display())

    @admin.display(description=_("Progress"))
    def progress(self, obj):
        return format_html('<span class="money">{} %</span>', obj.percent)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("<int:job_id>/progress/", self.admin_site.admin_view(self.progress_view), name="staff_importjob_progress"),
            path("<int:job_id>/confirm/", self.admin_site.admin_view(self.confirm_view), name="staff_importjob_confirm"),
            *super().get_urls(),
        ]

    def _job(self, request, job_id) -> ImportJob:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(ImportJob.objects.select_related("created_by", "confirmed_by"), pk=job_id)

    def progress_view(self, request, job_id):
        job = self._job(request, job_id)
        return JsonResponse({
            "status": job.status, "status_display": job.get_status_display(), "processed": job.processed_rows,
            "total": job.total_rows, "percent": job.percent, "finished": job.is_finished,
            "waiting_for_confirmation": job.status in ImportJob.AWAITING,
        })

    def confirm_view(self, request, job_id):
        """Confirm (``control_count`` and ``control_total`` typed from the bank statement for a file that a
        second person confirms) or refuse (``_reject`` with a ``reason``) a job waiting for confirmation."""
        if request.method != "POST":
            raise Http404
        job = self._job(request, job_id)
        from staff.imports import CellError, cell_amount, cell_int
        from staff.services import import_job_confirm, import_job_reject

        try:
            if "_reject" in request.POST:
                import_job_reject(job=job, user=request.user, reason=request.POST.get("reason", ""))
                done = _("%(file)s: refused, nothing was posted.") % {"file": job.file_name}
            else:
                count = total = None
                if job.status == ImportJob.Status.WAITING:
                    try:
                        count = cell_int(request.POST, "control_count", required=False, minimum=0)
                        total = cell_amount(request.POST, "control_total", required=False, allow_zero=True)
                    except CellError as exc:
                        raise ValidationError(f"{exc.column}: {exc.message}", code="import_control_total_invalid") from None
                import_job_confirm(job=job, user=request.user, control_count=count, control_total=total)
                done = _("%(file)s: import confirmed.") % {"file": job.file_name}
        except ApplicationError as exc:
            if exc.code == "import_permission_required":
                raise PermissionDenied(exc.message) from exc
            messages.error(request, f"{exc.message} ({exc.code})")
        else:
            messages.success(request, done)
        return HttpResponseRedirect(reverse("admin:staff_importjob_change", args=[job.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self._job(request, object_id)
        from staff.imports import resource_class_for

        permission = resource_class_for(job.kind).permission
        may_import = not permission or request.user.has_perm(permission)
        waiting = job.status == ImportJob.Status.WAITING
        is_uploader = job.created_by_id == request.user.pk
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import of {job.file_name}",
            "opts": self.model._meta,
            "job": job,
            "can_confirm": job.status == ImportJob.Status.CHECKED and may_import,
            # PRODUCT §12: a second person, not the uploader, types the control total read on the bank
            # statement; until it is decided the file's own total is not shown to them (a blind check).
            "second_person": resource_class_for(job.kind).second_person_confirms,
            "can_confirm_total": waiting and may_import and not is_uploader,
            "can_refuse": job.status in ImportJob.AWAITING and may_import,
            "show_control_total": not waiting or is_uploader,
            "is_uploader": is_uploader,
            "running": not job.is_finished and job.status not in ImportJob.AWAITING,
            "preview": job.summary.get("preview", []),
            "headers": job.summary.get("headers", []),
            "summary_lines": job.summary.get("lines", []),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/staff/import_job.html", context)


RECORD_COLOURS = {
    ImportRecord.Outcome.DRY_RUN_REFUSED: "declined", ImportRecord.Outcome.DRY_RUN_PASSED: "held",
    ImportRecord.Outcome.IMPORTED: "posted", ImportRecord.Outcome.FAILED: "declined",
    ImportRecord.Outcome.WAITING: "held", ImportRecord.Outcome.CONFIRMED: "open",
    ImportRecord.Outcome.DECLINED: "declined",
}


class ListScreenAdmin(ReadOnlyAdmin):
    """A screen to look, filter, search and export: writes happen through services elsewhere. Lists of up to
    millions of rows: no second count of the whole table beside a filtered one."""

    show_full_result_count = False


@admin.register(ImportRecord)
class ImportRecordAdmin(ListScreenAdmin):
    """The import register: every file brought in (dry runs refused or passed, imports done or failed),
    by whom, when, how many lines and what total. Written by the import screens and jobs; read only."""

    list_display = ("created_at", "file_name", "title", "user", "lines", "total_col", "new", "updated", "skipped",
                    "errors", "outcome_badge", "job_link")
    list_select_related = ("user", "job")
    list_filter = ("outcome", "kind", "file_format")
    search_fields = ("file_name", "=user__username")
    search_help_text = "File name or user name."
    date_hierarchy = "created_at"
    total_col = money_column("total_amount", "Total amount")
    fields = ("created_at", "file_name", "file_format", "kind", "title", "user", "outcome", "lines", "new", "updated",
              "skipped", "errors", "total_amount", "job")
    readonly_fields = fields

    @admin.display(description="Outcome", ordering="outcome")
    def outcome_badge(self, obj):
        return badge(RECORD_COLOURS.get(obj.outcome, "open"), obj.get_outcome_display())

    @admin.display(description="Background job")
    def job_link(self, obj):
        if not obj.job_id:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:staff_importjob_change", args=[obj.job_id]),
                           obj.job.reference)


@admin.register(PortfolioSnapshot)
class PortfolioSnapshotAdmin(admin.ModelAdmin):
    list_display = ("on_date", "bucket", "accounts", "balance_col")
    list_filter = ("bucket",)
    date_hierarchy = "on_date"
    show_full_result_count = False
    balance_col = money_column("balance", _("Balance"))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Repayments and bank files ---------------------------------------------------------------


class AllocationInline(ReadOnlyInline):
    model = Allocation
    fk_name = "repayment"
    fields = ("kind", "amount_col", "line", "charge", "on_date", "reverses")
    readonly_fields = fields
    verbose_name_plural = _("Allocation: where the money went")
    amount_col = money_column("amount", _("Amount"))

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("line", "charge", "reverses")


def _allocated(allocations) -> str:
    totals: dict[str, object] = {}
    labels = dict(Allocation.Kind.choices)
    for a in allocations:
        totals[a.kind] = totals.get(a.kind, 0) + a.amount
    from core.money import format_cny

    return " · ".join(f"{labels[k].lower()} {format_cny(v)}" for k, v in totals.items() if v) or "—"


class RepaymentListAdmin(PeopleSearchMixin, ListScreenAdmin):
    """Repayments with where each went (allocations prefetched: one query for the page)."""

    list_display = ("reference", "account", "external_ref", "channel", "amount_col", "received_on", "posted_on",
                    "status_badge", "allocated")
    list_select_related = ("account",)
    list_filter = ("channel", "status", "kind", "posted_on")
    search_fields = ("=external_ref", "=reference", "=account__reference", "=account__customer__reference")
    search_help_text = _("Bank, repayment, account or customer reference, mobile (any spacing) or full ID number.")
    date_hierarchy = "posted_on"
    inlines = (AllocationInline,)
    amount_col = money_column("amount", _("Amount"))
    readonly_fields = ("reference", "account", "amount", "external_ref", "channel", "kind", "status", "received_on",
                       "posted_on", "to_credit_balance", "statement", "actor", "actor_rule", "reversed_on",
                       "reversal_reason", "reversed_by")
    exclude = ("plan", "journal_entry")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("allocations")

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj):
        return badge("posted" if obj.status == "posted" else "declined", obj.get_status_display())

    @admin.display(description=_("Allocation"))
    def allocated(self, obj):
        return _allocated(obj.allocations.all())


@admin.register(BankRepaymentFile)
class BankRepaymentFileAdmin(StaffImportExportMixin, RepaymentListAdmin):
    """Repayments posted from bank files; the import posts each line through ``repayment_post``."""

    import_resource_classes = [staff_resources.BankRepaymentImport]
    resource_classes = [staff_resources.RepaymentExportResource]
    list_filter = ("status", "received_on", "posted_on")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(channel=Repayment.Channel.BANK_FILE)


@admin.register(RepaymentExport)
class RepaymentExportAdmin(StaffExportMixin, RepaymentListAdmin):
    """Every repayment, whatever its channel, for the finance export."""

    resource_classes = [staff_resources.RepaymentExportResource]


@admin.register(StorefrontOrderImport)
class StorefrontOrderImportAdmin(PeopleSearchMixin, StaffImportExportMixin, ListScreenAdmin):
    """Purchases; the storefront's order export is imported through ``purchase_authorize``."""

    import_resource_classes = [staff_resources.StorefrontOrderImport]
    resource_classes = [staff_resources.PurchaseExportResource]
    list_display = ("reference", "account", "merchant_order_id", "amount_col", "tenor", "status_badge", "requested_on",
                    "cycle_bill_date")
    list_select_related = ("account",)
    list_filter = ("status", "tenor", "requested_on")
    search_fields = ("=merchant_order_id", "=reference", "=account__reference", "=account__customer__reference")
    search_help_text = _("Order id, purchase, account or customer reference, mobile (any spacing) or full ID number.")
    date_hierarchy = "requested_on"
    amount_col = money_column("amount", _("Amount"))

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj):
        return badge(obj.status, obj.get_status_display())


@admin.register(StatementExport)
class StatementExportAdmin(PeopleSearchMixin, StaffExportMixin, ListScreenAdmin):
    resource_classes = [staff_resources.StatementExportResource]
    list_display = ("account", "bill_date", "due_date", "status_badge", "closing_col", "minimum_col", "past_due_col")
    list_select_related = ("account",)
    list_filter = ("status", "bill_date")
    search_fields = ("=account__reference", "=account__customer__reference")
    search_help_text = _("Account or customer reference, mobile (any spacing) or full ID number.")
    date_hierarchy = "bill_date"
    closing_col = money_column("closing_balance", _("Closing balance"))
    minimum_col = money_column("minimum_payment", _("Minimum payment"))
    past_due_col = money_column("past_due", _("Past due"))

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj):
        colour = {"paid": "paid", "overdue": "overdue", "minimum_paid": "held"}.get(obj.status, "open")
        return badge(colour, obj.get_status_display())


@admin.register(ScheduleExport)
class ScheduleExportAdmin(PeopleSearchMixin, StaffExportMixin, ListScreenAdmin):
    resource_classes = [staff_resources.ScheduleExportResource]
    list_display = ("plan", "account", "period", "due_date", "principal_col", "fee_col", "principal_paid_col",
                    "fee_paid_col", "status_badge")
    list_select_related = ("plan", "account")
    list_filter = ("status", "is_revolving", "due_date")
    search_fields = ("=account__reference", "=plan__reference", "=account__customer__reference")
    search_help_text = _("Account, plan or customer reference, mobile (any spacing) or full ID number.")
    date_hierarchy = "due_date"
    ordering = ("due_date", "id")
    principal_col = money_column("principal", _("Principal"))
    fee_col = money_column("fee", _("Fee"))
    principal_paid_col = money_column("principal_paid", _("Principal paid"))
    fee_paid_col = money_column("fee_paid", _("Fee paid"))

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj):
        colour = {"closed": "paid", "overdue": "overdue", "deferred": "held", "due": "open"}.get(obj.status, "closed")
        return badge(colour, obj.get_status_display())


@admin.register(CollectionAssignmentExport)
class CollectionAssignmentExportAdmin(StaffExportMixin, ListScreenAdmin):
    resource_classes = [staff_resources.CollectionAssignmentExportResource]
    list_display = ("case", "assignee", "bucket", "started_on", "ended_on", "end_reason")
    list_select_related = ("case", "collector__user", "agency")
    list_filter = ("bucket", "end_reason", "started_on")
    search_fields = ("=case__reference", "=case__account__reference", "collector__user__username", "agency__name")
    search_help_text = _("Case or account reference, collector user name or agency name.")
    date_hierarchy = "started_on"

    @admin.display(description=_("Assigned to"))
    def assignee(self, obj):
        return obj.assignee_display


from staff import admin_security, scoping  # noqa: E402,F401  (users, groups, security logs; collectors' scope)
