"""The kinds of change that wait for a second person above a threshold, registered by the apps that own
them (from their ``AppConfig.ready()``); the approvals app imports none of those apps.

    from approvals.registry import ApprovalKind, register_kind

    register_kind(ApprovalKind(
        key="accounts.fixed_limit", label="Fixed limit change", permission="accounts.adjust_limit",
        execute=_execute_fixed_limit, amount_above=Decimal("20000.00"), share_above=Decimal("0.50"),
    ))

``execute(payload, *, actor, approval)`` applies the change through the app's own service (which
re-checks every rule at that moment) with the maker as ``actor``; ``approval`` is the approved request
(``None`` when the change was below the threshold and applied at once). It returns the object changed.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from collections.abc import Callable

Executor = Callable[..., Any]


@dataclass(frozen=True)
class ApprovalKind:
    key: str
    label: str
    permission: str  # "app_label.codename": needed to make the change and to decide a request of this kind
    execute: Executor
    amount_above: Decimal | None = None  # default threshold: an amount above this waits
    share_above: Decimal | None = None  # default threshold: more than this share of the base waits


_kinds: dict[str, ApprovalKind] = {}


def register_kind(kind: ApprovalKind) -> ApprovalKind:
    """Register (or replace) a kind. Keys keep registration idempotent across reloads."""
    _kinds[kind.key] = kind
    return kind


def get_kind(key: str) -> ApprovalKind:
    from core.errors import NotFoundError

    try:
        return _kinds[key]
    except KeyError:
        raise NotFoundError(f"Unknown kind of approval {key!r}.", code="approval_kind_unknown") from None


def registered_kinds() -> dict[str, ApprovalKind]:
    return dict(_kinds)
