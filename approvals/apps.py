from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    """Maker-checker (four eyes) for money and limit changes above a threshold.

    A small app beside the kernel: it imports only ``core`` and is imported by the apps whose changes
    need a second person (accounts, installments…). Each of them registers its kinds of request —
    key, the permission that makes and decides it, the executor (the app's own service) and default
    thresholds — in ``approvals.registry`` from its ``AppConfig.ready()``; this app never imports them."""

    name = "approvals"
    verbose_name = "Approvals (maker-checker)"
