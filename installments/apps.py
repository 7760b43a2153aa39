from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InstallmentsConfig(AppConfig):
    name = "installments"
    verbose_name = _("Credit engine")

    def ready(self) -> None:
        from installments.services.controls import register_approval_kinds

        register_approval_kinds()
