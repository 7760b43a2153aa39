"""The collections steps of close of business (PRODUCT §11), plugged into ``cob``'s registry:
open/escalate/close cases → assign them → promises kept/broken → queue reminders, and after the
write-offs, close the cases of the accounts written off that day."""
from __future__ import annotations

from debt_collection import services
from debt_collection.selectors import open_cases_of_written_off_exist


def cases_close_written_off(*, on, account_ids=None) -> int:
    """After the day's write-offs: close the cases of the accounts written off today (the same
    ``cases_sync``, idempotent; it finds nothing else to do at that point of the day). A chunk with no
    open case on a written-off account is skipped after one indexed query."""
    if not open_cases_of_written_off_exist(account_ids):
        return 0
    return services.cases_sync(on=on, account_ids=account_ids)


STEPS = (
    # (name, function, slot, chunked, after)
    ("collections.cases_sync", services.cases_sync, "collection_cases", True, None),
    ("collections.cases_assign", services.cases_assign, "collection_cases", False, None),
    ("collections.promises_evaluate", services.promises_evaluate, "collection_promises", True, None),
    ("collections.reminders_queue", services.reminders_queue, "reminders", True, None),
    ("collections.cases_close_written_off", cases_close_written_off, "write_offs", True, "installments.write_offs"),
)


def register_steps() -> None:
    from cob.registry import registry

    for name, fn, slot, chunked, after in STEPS:
        if registry.get(name) is None:
            registry.register(name, fn, slot=slot, chunked=chunked,
                              after=after if after and registry.get(after) is not None else None)
