from django.apps import AppConfig


class LedgerConfig(AppConfig):
    """The double-entry journal: chart of accounts, entries and lines. Imports only the kernel."""

    name = "ledger"
    verbose_name = "General ledger"
