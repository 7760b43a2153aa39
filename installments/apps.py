from django.apps import AppConfig


class InstallmentsConfig(AppConfig):
    name = "installments"
    verbose_name = "Credit engine"

    def ready(self) -> None:
        from installments.services.controls import register_approval_kinds

        register_approval_kinds()
