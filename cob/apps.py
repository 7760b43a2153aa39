from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CobConfig(AppConfig):
    name = "cob"
    verbose_name = _("Close of business")

    def ready(self) -> None:
        from cob.steps import register_builtin_steps

        register_builtin_steps()
