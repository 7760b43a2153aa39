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
The executor runs inside the gate (``approvals.gate``): the executing services refuse a person's change
made anywhere else.

Issue 23 adds optional fields (every one has a default, so a kind registered the old way still works):

- ``group``: kinds whose amounts add up (PRODUCT §12): per account over a rolling 30 days across all
  makers (applied and pending changes count) and per maker per business day. Empty: not cumulative.
- ``maker_day_above``: default of the per-maker-per-day threshold of the group.
- ``days_above``: default threshold of a back-dated change (a repayment received more than N days ago).
- ``always_waits``: every change waits, whatever its amount (write-offs by hand, control settings).
- ``*_ceiling``: the floor of the control, fixed in code: the threshold can be lowered by configuration
  but never raised above this nor blanked. ``None``: the default is the ceiling (configuration may only
  make the control stricter).
- ``base_moves``: applied changes of the group moved the base (a limit raised by 2,400 was 2,400 lower
  30 days ago): the share rule compares the window's total with the value before the window.
- ``snapshot(payload) -> dict``: the state of what the change touches, taken when it is requested and
  again when it is decided; if it moved, the request is stale (``approval_stale``), nothing applied.
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
    group: str = ""
    maker_day_above: Decimal | None = None
    days_above: int | None = None
    always_waits: bool = False
    amount_ceiling: Decimal | None = None
    share_ceiling: Decimal | None = None
    maker_day_ceiling: Decimal | None = None
    days_ceiling: int | None = None
    base_moves: bool = False
    snapshot: Callable[[dict], dict] | None = None

    def ceiling(self, field: str):
        """The highest value configuration may give ``field`` (``None``: no rule may be configured)."""
        explicit = getattr(self, field.replace("_above", "_ceiling"))
        return explicit if explicit is not None else getattr(self, field)


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
