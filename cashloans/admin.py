"""Operator console of cash loans: the product (rate, tenors, amounts, cash share, APR ceiling — saved
through the service, which refuses an APR above the ceiling) and the loans (read-only; early repayment
is the plan's settlement, under the same permission)."""
from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from approvals.admin_mixins import report_submitted
from cashloans import services
from cashloans.models import AccountCashLimit, CashLoan, CashLoanProduct
from core.actors import Actor
from core.admin_history import HistoryAdmin
from core.admin_refusals import RefusalOnFormMixin
from core.admin_utils import form_action, money_column
from core.errors import ApplicationError
from core.money import format_cny
from core.admin_utils import ReadOnlyAdmin
from installments.admin import SettleForm, account_column, customer_column
from installments.cash_calc import product_cash_apr
from installments.services import plan_settlement_submit


@admin.register(CashLoanProduct)
class CashLoanProductAdmin(RefusalOnFormMixin, HistoryAdmin):
    list_display = ("product", "is_active", "daily_rate_pct", "apr", "tenors", "min_amount", "max_amount", "cash_share_pct",
                    "apr_ceiling", "updated_at")
    list_select_related = ("product",)
    fields = ("product", "is_active", "daily_rate", "tenors", "min_amount", "max_amount", "cash_share", "apr_ceiling")

    def get_readonly_fields(self, request, obj=None):
        return ("product",) if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Daily rate"))
    def daily_rate_pct(self, obj):
        return f"{obj.daily_rate * 100:.4f} %"

    @admin.display(description=_("APR (IRR, nominal / effective)"))
    def apr(self, obj):
        a = product_cash_apr(obj.daily_rate)
        return format_html("<strong>{} %</strong> / {} %", a.nominal_pct, a.effective_pct)

    @admin.display(description=_("Cash share of the line"))
    def cash_share_pct(self, obj):
        return f"{obj.cash_share * 100:.0f} %"

    def save_model(self, request, obj, form, change):
        services.cash_product_save(product=obj, actor=Actor.staff(request.user))


@admin.register(CashLoan)
class CashLoanAdmin(ReadOnlyAdmin):
    list_display = ("reference", "account_ref", "customer", "amount_display", "tenor", "apr", "installment_display",
                    "card_masked", "plan_status", "drawn_on")
    list_select_related = ("account__customer", "plan")
    list_filter = ("tenor", "plan__status", "purpose", "payout", "drawn_on")
    search_fields = ("=reference", "=account__reference", "=plan__reference", "=account__customer__reference")
    date_hierarchy = "drawn_on"
    readonly_fields = ("reference", "account", "product", "plan", "amount", "tenor", "daily_rate", "apr", "installment",
                       "last_installment", "total_interest", "card_masked", "drawn_on", "purpose", "payout",
                       "payout_failed_on", "payout_failure", "requested_via", "settlement")
    fields = readonly_fields
    actions = ("quote_settlement", "settle")

    account_ref = account_column()
    customer = customer_column()
    amount_display = money_column("amount", _("Amount"))
    installment_display = money_column("installment", _("Installment"))

    @admin.display(description=_("APR (IRR, nominal / effective)"), ordering="apr_nominal_pct")
    def apr(self, obj):
        return format_html("<strong>{} %</strong> / {} %", obj.apr_nominal_pct, obj.apr_effective_pct)

    @admin.display(description=_("Status"), ordering="plan__status")
    def plan_status(self, obj):
        return obj.plan.get_status_display()

    @admin.display(description=_("Early repayment today"))
    def settlement(self, obj):
        try:
            q = services.cash_loan_settlement_quote(loan=obj)
        except ApplicationError as exc:
            return exc.message
        return _("%(total)s = principal %(principal)s + billed unpaid %(billed)s + interest accrued %(interest)s") % {
            "total": format_cny(q.total), "principal": format_cny(q.quote.remaining_principal),
            "billed": format_cny(q.quote.billed_unpaid), "interest": format_cny(q.quote.fee)}

    def has_settle_plan_permission(self, request):
        return request.user.has_perm("installments.settle_plan")

    @admin.action(description=_("Quote early repayment"), permissions=["view"])
    def quote_settlement(self, request, queryset):
        for loan in queryset.select_related("plan__account"):
            self.message_user(request, f"{loan}: {self.settlement(loan)}")

    @form_action(SettleForm, description=_("Repay early (customer paid the quote)"), permissions=["settle_plan"])
    def settle(self, request, obj, data):
        # A person records the customer's payment: through the approvals gate (issue 23), as for any plan.
        report_submitted(self, request, plan_settlement_submit(plan=obj.plan, actor=Actor.staff(request.user),
                                                               external_ref=data["external_ref"]))


@admin.register(AccountCashLimit)
class AccountCashLimitAdmin(RefusalOnFormMixin, HistoryAdmin):
    """A credit officer sets one account's cash sub-limit, with a reason (saved through the service)."""

    list_display = ("account_ref", "customer", "cash_limit_display", "reason", "updated_at")
    list_select_related = ("account__customer",)
    search_fields = ("=account__reference", "=account__customer__reference")
    fields = ("account", "cash_limit", "reason")
    raw_id_fields = ("account",)

    account_ref = account_column()
    customer = customer_column()
    cash_limit_display = money_column("cash_limit", _("Cash limit"))

    def get_readonly_fields(self, request, obj=None):
        return ("account",) if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        saved = services.account_cash_limit_set(account=obj.account, cash_limit=obj.cash_limit,
                                                actor=Actor.staff(request.user), reason=obj.reason)
        obj.pk = saved.pk
