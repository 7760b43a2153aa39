from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    """Personal-data protection (PRODUCT §9, PIPL): access log, customer-rights requests, the
    registry through which every app exports, anonymises and declares retention of its records."""

    name = "privacy"
    verbose_name = _("Privacy")

    def ready(self) -> None:
        from privacy import checks, providers, roles  # noqa: F401  (registers providers, checks, hooks)

        from django.contrib.auth.signals import user_logged_in

        from privacy.middleware import stamp_session_start

        providers.register_builtin_providers()
        roles.connect()
        user_logged_in.connect(stamp_session_start, dispatch_uid="privacy_session_start")
