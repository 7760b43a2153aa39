from django.apps import AppConfig, apps
from django.utils.translation import gettext_lazy as _


class CollectionsConfig(AppConfig):
    """The collections app. Its package is ``debt_collection`` because ``collections`` is the
    standard library's; the label keeps admin, URLs, permissions and migrations saying
    ``collections``."""

    name = "debt_collection"
    label = "collections"
    verbose_name = _("Collections")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from debt_collection import consents
        from debt_collection.valuedate import register_listener

        consents.connect()
        register_listener()
        if apps.is_installed("cob"):
            from debt_collection.cob import register_steps

            register_steps()
        if apps.is_installed("privacy"):
            from debt_collection.privacy import register_provider

            register_provider()
