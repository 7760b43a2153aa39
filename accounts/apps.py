from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Customers and credit lines"

    def ready(self) -> None:
        from accounts.services import register_approval_kinds

        register_approval_kinds()
