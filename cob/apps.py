from django.apps import AppConfig


class CobConfig(AppConfig):
    name = "cob"
    verbose_name = "Close of business"

    def ready(self) -> None:
        from cob.steps import register_builtin_steps

        register_builtin_steps()
