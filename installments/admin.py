"""Operator console of the credit engine. Every write goes through a service (actions ask for a reason
where money is given back or reversed); money is read-only; lists use ``list_select_related`` so they
run a fixed number of queries; customers' names are masked."""
from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html

from approvals.admin_mixins import SubmitForm, SubmittedAddMixin, report_submitted
from core.actors import Actor
from core.admin_search import PeopleSearchMixin
from core.admin_history import HistoryAdmin
from core.admin_refusals import RefusalOnFormMixin
from core.admin_utils import ReadOnlyAdmin, ReadOnlyInline, ReasonForm, badge, form_action, money_column
from core.errors import ApplicationError
from core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, format_cny
from installments import services
from installments.models import (
    Adjustment, Allocation, Charge, Plan, ProductTerms, Purchase, Refund, Repayment, ScheduleLine, Statement,
    StatementLine, StatementVersion, TenorRate, Waiver, WriteOff, TENOR_CHOICES,
)
from installments.services.terms import TERMS_FIELDS, check_pricing
from django.utils.translation import gettext_lazy as _


def _amount_field(**kwargs) -> forms.DecimalField:
    return forms.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, min_value=Decimal("0.01"), **kwargs)


SEARCH_HELP = ("A reference (own, account or customer), an order or bank reference, a full ID number or a mobile "
               "number in any spacing.")


def customer_column(path: str = "account__customer"):
    def column(self, obj):
        customer = obj
        for part in path.split("__"):
            customer = getattr(customer, part)
        return customer.masked_name

    column.short_description = _("Customer")
    return column


def account_column(path: str = "account"):
    def column(self, obj):
        return getattr(obj, path).reference

    column.short_description = _("Account")
    column.admin_order_field = f"{path}__reference"
    return column


# --- product terms -------------------------------------------------------------------------------


class TenorRateFormSet(BaseInlineFormSet):
    """Validates the tenor rates together with the terms being saved: a price above the APR ceiling is
    refused on the form, naming the tenor (or fee) and its rate."""

    def clean(self):
        super().clean()
        terms = self.instance
        rates = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE"):
                continue
            if data["tenor"] in rates:
                raise DjangoValidationError(f"Tenor {data['tenor']} is listed twice.")
            rates[data["tenor"]] = data["fee_rate"]
        try:
            check_pricing(fee_rates=rates, late_fee_daily_rate=terms.late_fee_daily_rate,
                          deferral_daily_rate=terms.deferral_daily_rate, apr_ceiling=terms.apr_ceiling)
        except ApplicationError as exc:
            raise DjangoValidationError(f"Refused: {exc.message}") from None
        self.rates = rates


class TenorRateInline(admin.TabularInline):
    model = TenorRate
    formset = TenorRateFormSet
    extra = 0
    fields = ("tenor", "fee_rate", "apr")
    readonly_fields = ("apr",)

    @admin.display(description=_("APR by IRR (nominal / effective)"))
    def apr(self, obj):
        if not obj or obj.pk is None:
            return "—"
        from installments.calc import product_apr

        a = product_apr(obj.tenor, obj.fee_rate)
        return format_html("<strong>{} %</strong> / {} %", a.nominal_pct, a.effective_pct)


@admin.register(ProductTerms)
class ProductTermsAdmin(RefusalOnFormMixin, HistoryAdmin):
    list_display = ("product", "grace_days", "late_fee_daily_rate", "deferral_daily_rate", "minimum_payment_rate",
                    "due_offset_days", "settlement_policy", "apr_ceiling", "updated_at")
    list_select_related = ("product",)
    inlines = (TenorRateInline,)
    fields = ("product", *TERMS_FIELDS)

    def get_readonly_fields(self, request, obj=None):
        return ("product",) if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Everything is saved by the service in save_related, once the rates are validated with the terms.
        if not change:
            created = services.product_terms_create_default(product=obj.product)
            obj.pk = created.pk

    def save_related(self, request, form, formsets, change):
        rates = None
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            if isinstance(formset, TenorRateFormSet):
                rates = formset.rates
        terms = ProductTerms.objects.get(pk=form.instance.pk)
        changes = {f: form.cleaned_data[f] for f in TERMS_FIELDS if f in form.cleaned_data}
        services.product_terms_update(terms=terms, actor=Actor.staff(request.user), fee_rates=rates, **changes)


# --- purchases -----------------------------------------------------------------------------------


class RefundForm(ReasonForm):
    amount = _amount_field(label=_("Refund amount (¥)"))
    excess_to = forms.ChoiceField(choices=Refund.ExcessTo.choices, initial=Refund.ExcessTo.CREDIT_BALANCE,
                                  help_text=_("Where a refund of amounts already repaid goes."), label=_("Excess to"))
    field_order = ("amount", "excess_to", "reason")


class NoteForm(forms.Form):
    note = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), label=_("Note"))


class RefundInline(ReadOnlyInline):
    model = Refund
    fk_name = "purchase"
    fields = ("reference", "created_on", "amount", "principal_reduced", "excess", "excess_to", "reason")
    readonly_fields = fields


@admin.register(Purchase)
class PurchaseAdmin(PeopleSearchMixin, ReadOnlyAdmin):
    list_display = ("reference", "account_ref", "customer", "amount_display", "tenor", "status_badge", "requested_on",
                    "posted_on", "cycle_bill_date", "refunded_display")
    list_select_related = ("account__customer",)
    list_filter = ("status", "tenor", "requested_on")
    search_fields = ("=reference", "=merchant_order_id", "=account__reference", "=account__customer__reference")
    search_help_text = SEARCH_HELP
    date_hierarchy = "requested_on"
    readonly_fields = ("reference", "account", "amount", "merchant_order_id", "category", "tenor", "device_id", "status",
                       "reason_codes", "requested_on", "posted_on", "cycle_bill_date", "refunded_amount", "reviewed_by",
                       "reviewed_at", "review_note", "requested_via", "created_at")
    inlines = (RefundInline,)
    actions = ("refund", "approve_held", "decline_held")

    account_ref = account_column()
    customer = customer_column()
    amount_display = money_column("amount", _("Amount"))
    refunded_display = money_column("refunded_amount", _("Refunded"))

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj):
        return badge(obj.status, obj.get_status_display())

    def has_refund_purchase_permission(self, request):
        return request.user.has_perm("installments.refund_purchase")

    def has_review_purchase_permission(self, request):
        return request.user.has_perm("installments.review_purchase")

    @form_action(RefundForm, description=_("Refund (all or part)"), permissions=["refund_purchase"])
    def refund(self, request, obj, data):
        # Above the refund threshold the refund waits for a second person (maker-checker).
        report_submitted(self, request, services.refund_submit(
            purchase=obj, amount=data["amount"], actor=Actor.staff(request.user), reason=data["reason"],
            excess_to=data["excess_to"]))

    @form_action(NoteForm, description=_("Approve held purchase"), permissions=["review_purchase"])
    def approve_held(self, request, obj, data):
        result = services.purchase_review_approve(purchase=obj, actor=Actor.staff(request.user), note=data["note"])
        if result.status == Purchase.Status.DECLINED:
            self.message_user(request, f"{obj}: declined on approval ({', '.join(result.reason_codes)})", messages.WARNING)

    @form_action(ReasonForm, description=_("Decline held purchase"), permissions=["review_purchase"])
    def decline_held(self, request, obj, data):
        services.purchase_review_decline(purchase=obj, actor=Actor.staff(request.user), reason=data["reason"])


# --- plans -----------------------------------------------------------------------------------------


class ScheduleInline(ReadOnlyInline):
    model = ScheduleLine
    fields = ("period", "due_date", "status", "principal", "fee", "principal_paid", "fee_paid", "principal_reduced",
              "fee_waived", "billed_on", "overdue_from")
    readonly_fields = fields
    ordering = ("period",)


class SettleForm(forms.Form):
    external_ref = forms.CharField(max_length=80, required=False,
                                   help_text=_("The payment's reference (bank); empty: one is generated."), label=_("External ref"))


@admin.register(Plan)
class PlanAdmin(PeopleSearchMixin, ReadOnlyAdmin, HistoryAdmin):
    list_display = ("reference", "account_ref", "customer", "kind", "principal_display", "tenor", "apr", "rate",
                    "status", "created_on")
    list_select_related = ("account__customer",)
    list_filter = ("kind", "status", "tenor")
    search_fields = ("=reference", "=account__reference", "=purchase__merchant_order_id", "=purchase__reference",
                     "=account__customer__reference")
    search_help_text = SEARCH_HELP
    readonly_fields = ("reference", "apr_banner", "account", "kind", "purchase", "source_statement", "principal", "tenor",
                       "fee_rate", "fee_per_period", "total_fee", "created_on", "status", "closed_on", "settlement")
    fields = readonly_fields
    inlines = (ScheduleInline,)
    actions = ("quote_settlement", "settle")

    account_ref = account_column()
    customer = customer_column()
    principal_display = money_column("principal", _("Principal"))

    @admin.display(description=_("APR (IRR, nominal / effective)"), ordering="apr_nominal_pct")
    def apr(self, obj):
        return format_html("<strong>{} %</strong> / {} %", obj.apr_nominal_pct, obj.apr_effective_pct)

    @admin.display(description=_("Fee per period"))
    def rate(self, obj):
        return f"{obj.fee_rate * 100:.2f} %" if obj.fee_rate else "—"

    @admin.display(description=_("Annualised rate (IRR)"))
    def apr_banner(self, obj):
        return format_html('<span style="font-size:1.6em"><strong>APR {} %</strong></span> nominal · {} % effective '
                           '<span style="color:#666">(fee {} per period = {} % of the original principal)</span>',
                           obj.apr_nominal_pct, obj.apr_effective_pct, format_cny(obj.fee_per_period),
                           f"{obj.fee_rate * 100:.2f}")

    @admin.display(description=_("Early settlement today"))
    def settlement(self, obj):
        try:
            quote = services.plan_settlement_quote(plan=obj)
        except ApplicationError as exc:
            return exc.message
        return (f"{format_cny(quote.total)} = principal {format_cny(quote.quote.remaining_principal)} + billed unpaid "
                f"{format_cny(quote.quote.billed_unpaid)} + fee {format_cny(quote.quote.fee)}"
                f"{' (same day: free)' if quote.same_day else ''}")

    def has_settle_plan_permission(self, request):
        return request.user.has_perm("installments.settle_plan")

    @admin.action(description=_("Quote early settlement"), permissions=["view"])
    def quote_settlement(self, request, queryset):
        for plan in queryset.select_related("account"):
            try:
                q = services.plan_settlement_quote(plan=plan)
                self.message_user(request, f"{plan}: settle today for {format_cny(q.total)} (principal "
                                           f"{format_cny(q.quote.remaining_principal)}, billed unpaid "
                                           f"{format_cny(q.quote.billed_unpaid)}, fee {format_cny(q.quote.fee)})")
            except ApplicationError as exc:
                self.message_user(request, f"{plan}: {exc.message}", messages.ERROR)

    @form_action(SettleForm, description=_("Settle early (customer paid the quote)"), permissions=["settle_plan"])
    def settle(self, request, obj, data):
        report_submitted(self, request, services.plan_settlement_submit(
            plan=obj, actor=Actor.staff(request.user), external_ref=data["external_ref"]))


# --- statements ------------------------------------------------------------------------------------


class StatementLineInline(ReadOnlyInline):
    model = StatementLine
    fields = ("on_date", "kind", "description", "principal", "fee", "amount")
    readonly_fields = fields
    ordering = ("position", "on_date", "id")


class InstallForm(forms.Form):
    tenor = forms.TypedChoiceField(coerce=int, choices=list(TENOR_CHOICES), label=_("Tenor"))
    amount = _amount_field(required=False, label=_("Amount (¥)"), help_text=_("Empty: the whole unpaid revolving balance."))


class WaiveForm(ReasonForm):
    kind = forms.ChoiceField(choices=Waiver.Kind.choices, initial=Waiver.Kind.FEES)
    amount = _amount_field(required=False, label="Amount (¥)", help_text="Empty: every open fee of this kind.")
    field_order = ("kind", "amount", "reason")


class StatementVersionInline(ReadOnlyInline):
    """PRODUCT §13: the versions an amendment replaced, kept as they were."""

    model = StatementVersion
    fields = ("version", "status", "minimum_display", "past_due_display", "superseded_on", "superseded_cause",
              "superseded_because", "amended_because")
    readonly_fields = fields
    ordering = ("version",)
    verbose_name = _("previous version")
    verbose_name_plural = _("previous versions")

    @admin.display(description=_("Minimum payment"))
    def minimum_display(self, obj):
        return obj.figures.get("minimum_payment")

    @admin.display(description=_("Past due"))
    def past_due_display(self, obj):
        return obj.figures.get("past_due")


@admin.register(Statement)
class StatementAdmin(PeopleSearchMixin, ReadOnlyAdmin):
    list_display = ("__str__", "account_ref", "customer", "bill_date", "due_date", "status_badge", "closing_display",
                    "minimum_display")
    list_select_related = ("account__customer",)
    list_filter = ("status", "bill_date")
    search_fields = ("=account__reference", "=account__customer__reference")
    search_help_text = SEARCH_HELP
    date_hierarchy = "bill_date"
    readonly_fields = [f.name for f in Statement._meta.fields]
    inlines = (StatementLineInline, StatementVersionInline)
    actions = ("install", "waive_fees")

    account_ref = account_column()
    customer = customer_column()
    closing_display = money_column("closing_balance", _("Closing balance"))
    minimum_display = money_column("minimum_payment", _("Minimum payment"))

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj):
        return badge(obj.status, obj.get_status_display())

    def has_install_statement_permission(self, request):
        return request.user.has_perm("installments.install_statement")

    @form_action(InstallForm, description=_("Bill installment"), permissions=["install_statement"])
    def install(self, request, obj, data):
        services.statement_install(statement=obj, tenor=data["tenor"], amount=data["amount"], actor=Actor.staff(request.user))

    def has_waive_fee_permission(self, request):
        return request.user.has_perm("installments.waive_fee")

    @form_action(WaiveForm, description="Waive late/deferral fees billed", permissions=["waive_fee"])
    def waive_fees(self, request, obj, data):
        report_submitted(self, request, services.fee_waiver_submit(
            account=obj.account, statement=obj, kind=data["kind"], amount=data["amount"],
            actor=Actor.staff(request.user), reason=data["reason"]))


# --- repayments ------------------------------------------------------------------------------------


class AllocationInline(ReadOnlyInline):
    model = Allocation
    fk_name = "repayment"
    fields = ("on_date", "kind", "line", "charge", "amount", "reverses")
    readonly_fields = fields


class RepaymentPostForm(SubmitForm):
    """A repayment entered by hand goes through the approvals gate (issue 23 item 6): above the
    threshold or back-dated beyond N days it waits for a second person."""

    account_reference = forms.CharField(max_length=16, label=_("Account reference"))
    amount_in = _amount_field(label=_("Amount (¥)"))

    class Meta:
        model = Repayment
        fields = ("external_ref", "channel", "received_on")

    def clean_account_reference(self):
        from accounts.models import CreditAccount

        account = CreditAccount.objects.filter(reference=self.cleaned_data["account_reference"].strip()).first()
        if account is None:
            raise forms.ValidationError("No account with this reference.")
        return account

    def submit(self, data: dict, user):
        return services.repayment_manual_submit(
            account=data["account_reference"], amount=data["amount_in"], external_ref=data["external_ref"],
            channel=data["channel"], received_on=data.get("received_on"), actor=Actor.staff(user),
        )


@admin.register(Repayment)
class RepaymentAdmin(RefusalOnFormMixin, SubmittedAddMixin, PeopleSearchMixin, ReadOnlyAdmin):
    list_display = ("external_ref", "account_ref", "customer", "amount_display", "kind", "channel", "received_on",
                    "status_badge", "credit_display")
    list_select_related = ("account__customer",)
    list_filter = ("status", "kind", "channel", "received_on")
    search_fields = ("=external_ref", "=reference", "=account__reference", "=account__customer__reference")
    search_help_text = SEARCH_HELP
    date_hierarchy = "received_on"
    readonly_fields = [f.name for f in Repayment._meta.fields]
    inlines = (AllocationInline,)
    actions = ("reverse",)

    account_ref = account_column()
    customer = customer_column()
    amount_display = money_column("amount", _("Amount"))
    credit_display = money_column("to_credit_balance", _("To credit balance"))

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj):
        return badge(obj.status, obj.get_status_display())

    def has_add_permission(self, request):
        return request.user.has_perm("installments.post_repayment")

    def has_reverse_repayment_permission(self, request):
        return request.user.has_perm("installments.reverse_repayment")

    add_form = RepaymentPostForm

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["fields"] = ("account_reference", "amount_in", "external_ref", "channel", "received_on")
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("account_reference", "amount_in", "external_ref", "channel", "received_on")
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return () if obj is None else self.inlines

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        result = form.submitted.result if not change and form.submitted.applied else None
        if getattr(result, "is_replay", False):
            self.message_user(request, f"{result.external_ref} was already posted: nothing changed.", messages.WARNING)

    @form_action(ReasonForm, description=_("Reverse (bounced payment / chargeback)"), permissions=["reverse_repayment"])
    def reverse(self, request, obj, data):
        services.repayment_reverse(repayment=obj, actor=Actor.staff(request.user), reason=data["reason"])


# --- the rest: read-only ---------------------------------------------------------------------------


@admin.register(Refund)
class RefundAdmin(PeopleSearchMixin, ReadOnlyAdmin):
    list_display = ("reference", "purchase", "account_ref", "customer", "amount_display", "principal_reduced",
                    "excess", "excess_to", "created_on", "reason")
    list_select_related = ("account__customer", "purchase")
    list_filter = ("excess_to", "created_on")
    search_fields = ("=reference", "=purchase__reference", "=account__reference")
    readonly_fields = [f.name for f in Refund._meta.fields]

    account_ref = account_column()
    customer = customer_column()
    amount_display = money_column("amount", _("Amount"))


@admin.register(Charge)
class ChargeAdmin(ReadOnlyAdmin):
    list_display = ("accrued_on", "kind", "account_ref", "customer", "days", "base_amount", "amount", "paid",
                    "written_off", "overdue_from")
    list_select_related = ("account__customer",)
    list_filter = ("kind", "accrued_on")
    search_fields = ("=account__reference",)
    readonly_fields = [f.name for f in Charge._meta.fields]

    account_ref = account_column()
    customer = customer_column()


class _AccountReferenceForm(SubmitForm):
    account_reference = forms.CharField(max_length=16, label="Account reference")
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))

    def clean_account_reference(self):
        from accounts.models import CreditAccount

        account = CreditAccount.objects.filter(reference=self.cleaned_data["account_reference"].strip().upper()).first()
        if account is None:
            raise forms.ValidationError("No account with this reference.")
        return account


class WriteOffForm(_AccountReferenceForm):
    class Meta:
        model = WriteOff
        fields = ()

    def submit(self, data, user):
        return services.write_off_submit(account=data["account_reference"], actor=Actor.staff(user), reason=data["reason"])


@admin.register(WriteOff)
class WriteOffAdmin(RefusalOnFormMixin, SubmittedAddMixin, ReadOnlyAdmin):
    """The close of business's write-offs at DPD 180, and write-offs by hand (an overdue account, with
    a reason; above the threshold — by default always — a second person approves)."""

    list_display = ("on_date", "account_ref", "customer", "dpd", "principal", "fees", "late_fees", "deferral_fees",
                    "recovered")
    list_select_related = ("account__customer",)
    readonly_fields = [f.name for f in WriteOff._meta.fields]
    add_form = WriteOffForm

    account_ref = account_column()
    customer = customer_column()

    def has_add_permission(self, request):
        return request.user.has_perm("installments.write_off_account")

    def get_fields(self, request, obj=None):
        return ("account_reference", "reason") if obj is None else super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields


class WaiverForm(_AccountReferenceForm):
    class Meta:
        model = Waiver
        fields = ("kind",)

    amount_in = _amount_field(required=False, label="Amount (¥)", help_text="Empty: every open fee of this kind.")

    def submit(self, data, user):
        return services.fee_waiver_submit(account=data["account_reference"], kind=data["kind"], amount=data["amount_in"],
                                          actor=Actor.staff(user), reason=data["reason"])


@admin.register(Waiver)
class WaiverAdmin(RefusalOnFormMixin, SubmittedAddMixin, ReadOnlyAdmin):
    """Finance waives late and deferral fees with a reason (journal: Dr fee income, Cr receivable);
    above the waiver threshold a second person approves."""

    list_display = ("reference", "on_date", "account_ref", "customer", "kind", "amount_display", "late_fees",
                    "deferral_fees", "reason", "actor")
    list_select_related = ("account__customer", "actor")
    list_filter = ("kind", "on_date")
    search_fields = ("=reference", "=account__reference")
    readonly_fields = [f.name for f in Waiver._meta.fields]
    add_form = WaiverForm

    account_ref = account_column()
    customer = customer_column()
    amount_display = money_column("amount", "Amount")

    def has_add_permission(self, request):
        return request.user.has_perm("installments.waive_fee")

    def get_fields(self, request, obj=None):
        return ("account_reference", "kind", "amount_in", "reason") if obj is None else super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields


@admin.register(Adjustment)
class AdjustmentAdmin(ReadOnlyAdmin):
    list_display = ("on_date", "kind", "line", "principal", "fee", "was_billed", "refund", "repayment", "undone")
    list_select_related = ("line", "refund", "repayment")
    list_filter = ("kind",)
    readonly_fields = [f.name for f in Adjustment._meta.fields]
