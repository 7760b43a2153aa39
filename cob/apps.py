from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CobConfig(AppConfig):
    name = "cob"
    verbose_name = _("Close of business")

    def ready(self) -> None:
        from cob.pipeline import run_date
        from cob.steps import register_builtin_steps
        from installments.hooks import register_day_closer

        register_builtin_steps()
        register_day_closer(run_date)
