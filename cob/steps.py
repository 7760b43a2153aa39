"""The steps close of business owns the slots of: the ones of the apps below it (accounts, the credit
engine). Apps above it (collections, risk) register theirs from their own ``AppConfig.ready()``."""
from __future__ import annotations

import importlib.util

from accounts.services import temporary_limits_expire
from cob.registry import registry

#: The credit engine's daily steps (``installments/daily.py``), each
#: ``fn(*, on, account_ids) -> int``, idempotent per date, in the order of PRODUCT §11.
ENGINE_STEPS: tuple[tuple[str, str], ...] = (
    ("statements_generate", "statements"),
    ("due_dates_settle", "due_dates"),
    ("delinquency_update", "delinquency"),
    ("freezes_sync", "freezes"),
    ("write_offs", "write_offs"),
)


def register_builtin_steps() -> None:
    registry.register(
        "accounts.temporary_limits_expire", temporary_limits_expire, slot="temporary_limits", chunked=False,
        description="Expire temporary limits that ended before the date", replace=True,
    )
    if importlib.util.find_spec("installments.daily") is None:
        return  # the credit engine's daily steps are not there yet: their slots stay empty
    from installments.services.purchases import purchase_holds_expire

    registry.register(
        "installments.purchase_holds_expire", purchase_holds_expire, slot="purchase_holds", replace=True,
        description="Decline purchases held for review longer than the product's hold_expiry_days (limit restored)",
    )
    daily = importlib.import_module("installments.daily")
    for function_name, slot in ENGINE_STEPS:
        fn = getattr(daily, function_name, None)
        if fn is not None:
            registry.register(f"installments.{function_name}", fn, slot=slot, replace=True)
    if importlib.util.find_spec("insurance") is not None:  # issue 25: the add-on below close of business
        from cob.registry import monthly
        from insurance.services import policies_follow_write_offs, remittances_monthly

        registry.register("insurance.follow_write_offs", policies_follow_write_offs, slot="write_offs",
                          after="installments.write_offs", replace=True,
                          description="Cancel the insurance of written-off plans; reverse the insurer's share")
        registry.register("insurance.remit", remittances_monthly, slot="write_offs", chunked=False, runs_on=monthly(1),
                          replace=True, description="Remit last month's premiums to each insurer, with a statement")
