from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RiskConfig(AppConfig):
    """Risk and credit decisions: scorecards, applications, anti-fraud rules, limit reviews and
    temporary-limit campaigns (PRODUCT §3, §8).

    Imports point one way: risk → installments → accounts → core. Lower layers call risk only
    through hooks that ``ready()`` fills in (the purchase risk-check registry of installments)."""

    name = "risk"
    verbose_name = _("Risk and credit decisions")

    def ready(self) -> None:
        from risk import wiring
        from risk.services import campaigns, config, queue

        wiring.connect()
        queue.register_approval_kinds()
        campaigns.register_approval_kinds()
        config.register_approval_kinds()
