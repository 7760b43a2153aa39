"""Hooks the staff app plugs into lower layers (close of business) at start-up."""
from __future__ import annotations

import datetime as dt

from django.apps import apps

SNAPSHOT_STEP = "staff.portfolio_snapshot"


def portfolio_snapshot_step(*, on: dt.date) -> int:
    """Portfolio by bucket for the dashboard (one aggregate query)."""
    from staff.services import portfolio_snapshot_take

    return portfolio_snapshot_take(on=on)


def connect() -> None:
    if apps.is_installed("cob"):
        from cob.registry import registry

        if registry.get(SNAPSHOT_STEP) is None:
            registry.register(SNAPSHOT_STEP, portfolio_snapshot_step, slot="bureau_file", chunked=False)
