"""Reactions that apps above accounts register to what accounts records (accounts imports none of
them; the same pattern as ``risk.hooks`` and ``installments.hooks``).

* **Consent withdrawn**: ``accounts.services.consent_record`` — the one place a withdrawal is written,
  whichever screen or service asks for it (``privacy.services.consent_withdraw`` goes through it) —
  calls every registered handler inside its transaction, so what a withdrawal must undo happens
  with it or not at all (a handler that raises undoes the withdrawal). Collections registers the
  recall of the customer's cases from collection agencies::

      from accounts.hooks import register_consent_withdrawn_handler
      register_consent_withdrawn_handler(my_handler)   # my_handler(notice: ConsentWithdrawn) -> None
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable


@dataclass(frozen=True)
class ConsentWithdrawn:
    customer: Any  # accounts.models.Customer
    kind: str  # accounts.models.Consent.Kind
    actor: Any  # core.actors.Actor
    reason: str


Handler = Callable[[ConsentWithdrawn], None]
_handlers: list[Handler] = []


def register_consent_withdrawn_handler(fn: Handler) -> Handler:
    if fn not in _handlers:
        _handlers.append(fn)
    return fn


def unregister_consent_withdrawn_handler(fn: Handler) -> None:
    if fn in _handlers:
        _handlers.remove(fn)


def consent_withdrawn(notice: ConsentWithdrawn) -> None:
    for fn in tuple(_handlers):
        fn(notice)
