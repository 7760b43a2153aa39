"""Hooks that other apps fill in (risk imports none of them).

* **Limit-change notifications**: the reminder gateway (collections) registers a notifier in its
  ``AppConfig.ready()``; a limit review calls every notifier after its transaction commits::

      from risk.hooks import register_limit_change_notifier
      register_limit_change_notifier(my_notifier)   # my_notifier(notice: LimitChangeNotice) -> None

  The ``LimitChange`` row is written by ``accounts.services`` whether or not a notifier exists.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from collections.abc import Callable

from django.db import transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LimitChangeNotice:
    account_id: int
    account_reference: str
    old_limit: Decimal
    new_limit: Decimal
    rule: str
    reason: str
    effective_on: str  # ISO date


Notifier = Callable[[LimitChangeNotice], None]
_notifiers: list[Notifier] = []


def register_limit_change_notifier(fn: Notifier) -> Notifier:
    if fn not in _notifiers:
        _notifiers.append(fn)
    return fn


def unregister_limit_change_notifier(fn: Notifier) -> None:
    if fn in _notifiers:
        _notifiers.remove(fn)


def limit_change_notifiers() -> tuple[Notifier, ...]:
    return tuple(_notifiers)


def notify_limit_change_on_commit(notice: LimitChangeNotice) -> None:
    """Call the notifiers once the change is committed; a failing notifier is logged, never
    undoes the change (the LimitChange row is the record)."""

    def send() -> None:
        for fn in limit_change_notifiers():
            try:
                fn(notice)
            except Exception:  # a notifier's fault must not break the review of other accounts
                logger.exception("limit change notifier %r failed for account %s", fn, notice.account_reference)

    transaction.on_commit(send)
