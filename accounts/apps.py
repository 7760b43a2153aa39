from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Customers and credit lines")

    def ready(self) -> None:
        from accounts.services import register_approval_kinds

        register_approval_kinds()
