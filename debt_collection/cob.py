"""The collections steps of close of business (PRODUCT §11), plugged into ``cob``'s registry:
open/escalate/close cases → assign them → promises kept/broken → queue reminders."""
from __future__ import annotations

from debt_collection import services

STEPS = (
    # (name, function, slot, chunked)
    ("collections.cases_sync", services.cases_sync, "collection_cases", True),
    ("collections.cases_assign", services.cases_assign, "collection_cases", False),
    ("collections.promises_evaluate", services.promises_evaluate, "collection_promises", True),
    ("collections.reminders_queue", services.reminders_queue, "reminders", True),
)


def register_steps() -> None:
    from cob.registry import registry

    for name, fn, slot, chunked in STEPS:
        if registry.get(name) is None:
            registry.register(name, fn, slot=slot, chunked=chunked)
