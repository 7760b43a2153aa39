from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

CASH_LOANS_WRITE = "cash_loans:write"


class CashLoansConfig(AppConfig):
    name = "cashloans"
    verbose_name = _("Cash loans")

    def ready(self) -> None:
        from accounts.api import register_account_view_extra
        from cashloans.selectors import cash_limits_view
        from integrations.scopes import register_scope

        register_scope(CASH_LOANS_WRITE, "Draw cash loans to a bank card within the credit line")
        register_account_view_extra(cash_limits_view)
