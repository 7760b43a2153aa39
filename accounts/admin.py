"""Operator console for customers and credit lines. Every write calls a service; personal data
is masked; money is read-only and shown as ¥ with two decimals.

The staff app registers ``Customer`` and ``CreditAccount`` (once), adding the workspace and its exports
(``staff/admin.py``); everything else about these screens lives here."""
from __future__ import annotations

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from accounts import selectors, services
from accounts.models import (
    BucketChange,
    Consent,
    CreditAccount,
    CreditProduct,
    Customer,
    LimitChange,
    StatusChange,
    TemporaryLimit,
)
from approvals.admin_mixins import SubmitForm, SubmittedAddMixin, report_submitted
from core.actors import Actor
from core.admin_search import PeopleSearchMixin
from core.admin_history import HistoryAdmin
from core.admin_refusals import RefusalOnFormMixin
from core.admin_utils import ReadOnlyInline, ReasonForm, badge, form_action, money_column
from core.business_date import get_business_date
from core.identity import normalize_id_number, validate_id_number, validate_mobile
from core.masking import mask_address, mask_email
from core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, ZERO
from django.utils.translation import gettext, gettext_lazy as _


# --- Customers -------------------------------------------------------------------------------


class ConsentInline(ReadOnlyInline):
    model = Consent
    fields = ("kind", "version", "granted", "recorded_at")
    readonly_fields = fields


class AccountOfCustomerInline(ReadOnlyInline):
    model = CreditAccount
    fields = ("reference", "product", "status", "fixed_limit_col", "used_col", "bill_day", "bucket")
    readonly_fields = fields
    show_change_link = True
    fixed_limit_col = money_column("fixed_limit", _("Fixed limit"), ordering=False)
    used_col = money_column("used_amount", _("Used"), ordering=False)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")


class CustomerCreateForm(forms.ModelForm):
    id_number = forms.CharField(max_length=18, label=_("ID number"), validators=[validate_id_number])
    mobile = forms.CharField(max_length=11, validators=[validate_mobile], label=_("Mobile"))

    class Meta:
        model = Customer
        fields = ("name", "id_number", "mobile", "address", "email", "external_id")

    def clean_id_number(self):
        value = normalize_id_number(self.cleaned_data["id_number"])
        if selectors.customer_find_by_id_number(value):
            raise forms.ValidationError("A customer with this ID number already exists.", code="customer_exists")
        return value


# Registered by the staff app, which adds the customer page (workspace) and the exports: one registration.
class CustomerAdmin(RefusalOnFormMixin, PeopleSearchMixin, HistoryAdmin):
    search_customer_prefix = ""
    list_display = ("reference", "masked_name", "masked_id_number", "masked_mobile", "created_at")
    show_full_result_count = False
    search_fields = ("=reference", "=id_number_last4", "=mobile", "name", "=accounts__reference")
    search_help_text = _("Full ID number or its last 4 digits, mobile (any spacing), name, customer or account reference.")
    list_filter = ("processing_restricted",)
    date_hierarchy = "created_at"
    inlines = (ConsentInline, AccountOfCustomerInline)
    readonly_fields = (
        "reference", "masked_name", "masked_id_number", "masked_mobile", "address_display", "email_display",
        "external_id", "processing_restricted", "anonymised_at", "created_at", "updated_at",
    )
    fieldsets = (
        (_("Identity (masked)"), {"fields": ("reference", "masked_name", "masked_id_number", "masked_mobile")}),
        (_("Contact"), {"fields": ("address_display", "email_display", "external_id")}),
        (_("Privacy"), {"fields": ("processing_restricted", "anonymised_at")}),
        (_("Record"), {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description=_("Name"))
    def masked_name(self, obj):
        return obj.masked_name

    @admin.display(description=_("ID number"))
    def masked_id_number(self, obj):
        return obj.masked_id_number

    @admin.display(description=_("Mobile"))
    def masked_mobile(self, obj):
        return obj.masked_mobile

    @admin.display(description=_("E-mail"))
    def email_display(self, obj):
        return mask_email(obj.email)

    @admin.display(description=_("Full personal data"))
    def unmask_button(self, obj):
        # The privacy app's unmask page asks for a reason and writes the access log.
        url = reverse("admin:privacy_unmask", args=[obj.pk])
        return format_html('<a class="button" href="{}">Show in full (logged)…</a>', url)

    @admin.display(description=_("Address"))
    def address_display(self, obj):
        return mask_address(obj.address)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return self.readonly_fields + (("unmask_button",) if self._may_unmask(request) else ())

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": CustomerCreateForm.Meta.fields}),)
        fieldsets = super().get_fieldsets(request, obj)
        if self._may_unmask(request):
            fieldsets = fieldsets + ((_("Full view"), {"fields": ("unmask_button",)}),)
        return fieldsets

    @staticmethod
    def _may_unmask(request) -> bool:
        return request.user.has_perm("accounts.view_full_pii")

    def get_inlines(self, request, obj):
        return () if obj is None else self.inlines

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = CustomerCreateForm
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:  # corrections of personal data go through the privacy request flow
            return
        data = form.cleaned_data
        created = services.customer_create(
            name=data["name"], id_number=data["id_number"], mobile=data["mobile"], address=data.get("address", ""),
            email=data.get("email", ""), external_id=data.get("external_id", ""),
        )
        obj.pk = created.pk
        obj.reference = created.reference

    def has_delete_permission(self, request, obj=None):
        return False  # deletion is a privacy request (anonymise or restrict), never a row delete


# --- Products ---------------------------------------------------------------------------------


@admin.register(CreditProduct)
class CreditProductAdmin(RefusalOnFormMixin, HistoryAdmin):
    list_display = ("code", "name", "active_badge", "default_bill_day")
    list_filter = ("is_active",)
    search_fields = ("code", "name")

    @admin.display(description=_("Active"), ordering="is_active")
    def active_badge(self, obj):
        return badge("active" if obj.is_active else "closed", gettext("active") if obj.is_active else gettext("inactive"))


# --- Credit accounts ---------------------------------------------------------------------------


class LimitChangeInline(ReadOnlyInline):
    model = LimitChange
    fields = ("created_at", "kind", "old_col", "new_col", "reason", "actor_display")
    old_col = money_column("old_limit", _("Old limit"), ordering=False)
    new_col = money_column("new_limit", _("New limit"), ordering=False)
    readonly_fields = fields
    verbose_name_plural = _("Limit history")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class StatusChangeInline(ReadOnlyInline):
    model = StatusChange
    fields = ("created_at", "old_status", "new_status", "new_freeze_reason", "reason", "actor_display")
    readonly_fields = fields
    verbose_name_plural = _("Status history")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class TemporaryLimitInline(ReadOnlyInline):
    model = TemporaryLimit
    fields = ("amount_col", "starts_on", "ends_on", "campaign", "status")
    readonly_fields = fields
    amount_col = money_column("amount", _("Amount"), ordering=False)


class BucketChangeInline(ReadOnlyInline):
    model = BucketChange
    fields = ("on_date", "old_bucket", "new_bucket", "dpd")
    readonly_fields = fields
    verbose_name_plural = _("Bucket history")


def _amount_field(**kwargs) -> forms.DecimalField:
    return forms.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, min_value=ZERO, **kwargs)


class AdjustLimitForm(ReasonForm):
    new_limit = _amount_field(label=_("New fixed limit (¥)"))
    field_order = ("new_limit", "reason")


class TemporaryLimitForm(ReasonForm):
    amount = _amount_field(label=_("Temporary limit (¥)"))
    starts_on = forms.DateField(help_text=_("YYYY-MM-DD"), label=_("Starts on"))
    ends_on = forms.DateField(help_text=_("Last day it applies, YYYY-MM-DD"), label=_("Ends on"))
    campaign = forms.CharField(max_length=60, required=False, label=_("Campaign"))
    field_order = ("amount", "starts_on", "ends_on", "campaign", "reason")


class AccountOpenForm(SubmitForm):
    reason = forms.CharField(max_length=500, initial="account opened by staff", label=_("Reason"))

    class Meta:
        model = CreditAccount
        fields = ("customer", "product", "fixed_limit", "bill_day")

    def clean(self):
        data = self.cleaned_data
        if CreditAccount.objects.filter(customer=data.get("customer"), product=data.get("product")).exists():
            raise forms.ValidationError("The customer already has an account for this product.", code="account_exists")
        return super().clean()

    def submit(self, data, user):
        # Within the limit policy; above the approval threshold the account waits for a second officer.
        return services.account_open_submit(
            customer=data["customer"], product=data["product"], fixed_limit=data["fixed_limit"],
            bill_day=data["bill_day"], actor=Actor.staff(user), reason=data["reason"],
        )


# Registered by the staff app, which adds the account page (workspace) and the exports: one registration.
class CreditAccountAdmin(RefusalOnFormMixin, SubmittedAddMixin, PeopleSearchMixin, HistoryAdmin):
    search_customer_prefix = "customer__"
    list_display = (
        "reference", "customer_masked", "product", "fixed_limit_col", "temporary_col", "used_col", "available_col",
        "status_badge", "bill_day", "dpd", "bucket",
    )
    list_select_related = ("customer", "product")
    list_filter = ("status", "freeze_reason", "bucket", "bill_day", "product")
    search_fields = ("=reference", "=customer__reference", "=customer__mobile", "=customer__id_number_last4", "customer__name")
    search_help_text = _("Account or customer reference, mobile (any spacing), full ID number or its last 4 digits, or name.")
    autocomplete_fields = ("customer",)
    inlines = (TemporaryLimitInline, LimitChangeInline, StatusChangeInline, BucketChangeInline)
    readonly_fields = (
        "reference", "customer", "product", "fixed_limit", "temporary_display", "used_amount", "held_amount",
        "available_display", "credit_balance", "status", "freeze_reason", "bill_day", "bill_day_changed_on", "opened_on", "closed_on",
        "dpd", "bucket", "written_off_on", "last_reviewed_on", "created_at", "updated_at",
    )
    actions = ("adjust_limit", "grant_temporary_limit", "freeze", "unfreeze", "close")
    show_full_result_count = False
    add_form = AccountOpenForm

    fixed_limit_col = money_column("fixed_limit", _("Fixed limit"))
    used_col = money_column("used_amount", _("Used"))
    temporary_col = money_column("temporary_total", _("Temporary"), ordering=False)

    def get_queryset(self, request):
        return selectors.accounts_with_limits(on=get_business_date()).select_related("customer", "product")

    @admin.display(description=_("Customer"), ordering="customer__id")
    def customer_masked(self, obj):
        return obj.customer.masked_name

    @admin.display(description=_("Available"))
    def available_col(self, obj):
        from core.money import format_cny
        from django.utils.html import format_html

        from accounts.selectors import available_amount

        available = available_amount(obj, obj.fixed_limit + (obj.temporary_total or ZERO))
        return format_html('<span class="money">{}</span>', format_cny(available))

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj):
        if obj.status == CreditAccount.Status.FROZEN:
            return badge(obj.freeze_reason or "frozen",
                         gettext("frozen (%(reason)s)") % {"reason": obj.get_freeze_reason_display().lower()})
        return badge(obj.status, obj.get_status_display())

    @admin.display(description=_("Temporary limits (today)"))
    def temporary_display(self, obj):
        from core.money import format_cny

        return format_cny(selectors.account_temporary_total(account=obj))

    @admin.display(description=_("Available (today)"))
    def available_display(self, obj):
        from core.money import format_cny

        return format_cny(selectors.account_available(account=obj))

    def has_delete_permission(self, request, obj=None):
        return False

    # --- opening an account from the admin goes through the service
    def get_fields(self, request, obj=None):
        return AccountOpenForm.Meta.fields + ("reason",) if obj is None else super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return () if obj is None else self.inlines

    # --- permissions for the actions
    def has_adjust_limit_permission(self, request):
        return request.user.has_perm("accounts.adjust_limit")

    def has_freeze_account_permission(self, request):
        return request.user.has_perm("accounts.freeze_account")

    def has_close_account_permission(self, request):
        return request.user.has_perm("accounts.close_account")

    @form_action(AdjustLimitForm, description=_("Adjust fixed limit"), permissions=["adjust_limit"])
    def adjust_limit(self, request, obj, data):
        submitted = services.limit_change_submit(
            account=obj, new_limit=data["new_limit"], actor=Actor.staff(request.user), reason=data["reason"]
        )
        report_submitted(self, request, submitted)

    @form_action(TemporaryLimitForm, description=_("Grant a temporary limit"), permissions=["adjust_limit"])
    def grant_temporary_limit(self, request, obj, data):
        submitted = services.temporary_limit_submit(
            account=obj, amount=data["amount"], starts_on=data["starts_on"], ends_on=data["ends_on"],
            campaign=data["campaign"], actor=Actor.staff(request.user), reason=data["reason"],
        )
        report_submitted(self, request, submitted)

    @form_action(ReasonForm, description=_("Freeze (manual)"), permissions=["freeze_account"])
    def freeze(self, request, obj, data):
        services.account_freeze(account=obj, manual=True, actor=Actor.staff(request.user), reason=data["reason"])

    @form_action(ReasonForm, description=_("Unfreeze"), permissions=["freeze_account"])
    def unfreeze(self, request, obj, data):
        services.account_unfreeze(account=obj, manual=True, actor=Actor.staff(request.user), reason=data["reason"])

    @form_action(ReasonForm, description=_("Close account"), permissions=["close_account"])
    def close(self, request, obj, data):
        services.account_close(account=obj, actor=Actor.staff(request.user), reason=data["reason"])


@admin.register(TemporaryLimit)
class TemporaryLimitAdmin(admin.ModelAdmin):
    list_display = ("account", "amount_col", "starts_on", "ends_on", "campaign", "status_badge")
    show_full_result_count = False
    list_select_related = ("account",)
    list_filter = ("status", "campaign")
    search_fields = ("=account__reference", "campaign")
    date_hierarchy = "starts_on"
    readonly_fields = ("account", "amount", "starts_on", "ends_on", "campaign", "status", "reference")
    amount_col = money_column("amount", _("Amount"))

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj):
        return badge({"active": "active", "expired": "closed", "revoked": "declined"}[obj.status], obj.get_status_display())

    def has_add_permission(self, request):
        return False  # granted through the account action or a campaign

    def has_delete_permission(self, request, obj=None):
        return False


class _LogAdmin(admin.ModelAdmin):
    list_select_related = ("account", "actor")
    search_fields = ("=account__reference", "reason")
    search_help_text = _("Account reference or words of the reason.")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LimitChange)
class LimitChangeAdmin(_LogAdmin):
    list_display = ("created_at", "account", "kind", "old_col", "new_col", "reason", "actor_display")
    list_filter = ("kind", "actor_rule")
    old_col = money_column("old_limit", _("Old limit"))
    new_col = money_column("new_limit", _("New limit"))


@admin.register(StatusChange)
class StatusChangeAdmin(_LogAdmin):
    list_display = ("created_at", "account", "old_status", "new_badge", "new_freeze_reason", "reason", "actor_display")

    @admin.display(description=_("New status"), ordering="new_status")
    def new_badge(self, obj):
        return badge(obj.new_freeze_reason or obj.new_status, obj.get_new_status_display())
    list_filter = ("new_status", "new_freeze_reason")
