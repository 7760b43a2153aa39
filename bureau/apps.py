from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BureauConfig(AppConfig):
    """Credit-bureau reporting (PRODUCT §6, §11): the monthly file written by the close of business on
    the month's first business day, and the pre-notice before a customer's first negative data.

    It sits above collections (it sends its notices through the reminder gateway), so nothing below
    imports it: it plugs its steps into close of business and its records into the privacy registry."""

    name = "bureau"
    verbose_name = _("Credit-bureau reporting")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from bureau import wiring

        wiring.connect()
