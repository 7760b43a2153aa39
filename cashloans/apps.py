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
        from privacy.registry import Provider, records_for_app, register

        register_scope(CASH_LOANS_WRITE, "Draw cash loans to a bank card within the credit line")
        register_account_view_extra(cash_limits_view)
        register(Provider(
            key="cashloans", label="Cash loans",
            records=records_for_app("cashloans", names={"cashloan": "cash_loans", "accountcashlimit": "cash_limit_override"}),
            anonymise=cash_loans_anonymise,
        ))


def cash_loans_anonymise(customer, *, retained: bool) -> int:
    """A cash loan is a transaction record (kept when a law keeps them); in a full anonymisation even the
    last 4 digits of the card it was paid to go."""
    if retained:
        return 0
    from cashloans.models import CashLoan

    return CashLoan.objects.filter(account__customer=customer).update(card_masked="**** **** **** ****")
