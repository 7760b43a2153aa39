from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LedgerConfig(AppConfig):
    """The double-entry journal: chart of accounts, entries and lines. Imports only the kernel."""

    name = "ledger"
    verbose_name = _("General ledger")
