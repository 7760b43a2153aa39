"""Helpers for the consumer-credit insurance tests (issue 16)."""
from __future__ import annotations

import importlib

from django.apps import apps

from tests.factories_installments import ensure_reference_data


def ensure_insurance_data() -> None:
    """The insurance ledger accounts and default product are data migrations; a ``transaction=True`` test
    elsewhere may have flushed them. Put them back (idempotent)."""
    from insurance.models import InsuranceProduct
    from ledger.models import LedgerAccount

    ensure_reference_data()
    if not LedgerAccount.objects.filter(code="1140").exists():
        importlib.import_module("ledger.migrations.0003_insurance_accounts").create_accounts(apps, None)
    if not InsuranceProduct.objects.exists():
        importlib.import_module("insurance.migrations.0002_default_product").create_default(apps, None)
