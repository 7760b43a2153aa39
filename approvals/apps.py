from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApprovalsConfig(AppConfig):
    """Maker-checker (four eyes) for money and limit changes above a threshold.

    A small app beside the kernel: it imports only ``core`` and is imported by the apps whose changes
    need a second person (accounts, installments…). Each of them registers its kinds of request —
    key, the permission that makes and decides it, the executor (the app's own service) and default
    thresholds — in ``approvals.registry`` from its ``AppConfig.ready()``; this app never imports them."""

    name = "approvals"
    verbose_name = _("Approvals (maker-checker)")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from approvals.services import register_approval_kinds

        register_approval_kinds()

        post_migrate.connect(_ensure_policies, sender=self, dispatch_uid="approvals_policies_ensure")


def _ensure_policies(sender, using="default", **kwargs) -> None:
    """After ``migrate``: one thresholds row per registered kind, so that reading the screen never writes."""
    from approvals.services import approval_policies_ensure

    approval_policies_ensure()
