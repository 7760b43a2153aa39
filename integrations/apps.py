from django.apps import AppConfig, apps
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    """API clients, hashed tokens with scopes, token authentication, scope permission, per-client
    throttling and idempotency records for the integration API (PRODUCT §10)."""

    name = "integrations"
    verbose_name = _("API integrations")

    def ready(self) -> None:
        from integrations import schema  # noqa: F401  (drf-spectacular extension for the token scheme)
        from integrations.strict import install

        install()  # strict JSON types for every input serializer of the API (issue 13)
        if apps.is_installed("approvals"):
            from integrations.services import register_scope_kinds

            register_scope_kinds()  # money-moving scopes wait for a second person (issue 23)
