"""The one gate (issue 23 item 4, PRODUCT §12): a person's change that opens a line, raises a limit,
grants a temporary limit, waives, refunds, writes off or posts a repayment by hand is applied only
through :func:`approvals.services.approval_submit` (at once, within the thresholds) or
:func:`approvals.services.approval_approve` (by a second person).

Those two functions open the gate (a context variable) around the kind's executor; the executing
services (``account_change_fixed_limit``, ``fee_waive``, ``account_write_off``…) call
:func:`gate_required` first, so calling one of them with a staff actor from anywhere else — a new
admin screen, a view, a script — is refused with ``approval_gate_required`` instead of silently
skipping the second person. System actors (close of business, automatic scoring within the policy,
an integration client's API call) are not people: they pass as they always did."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from core.actors import Actor
from core.errors import PermissionDeniedError

_open_kinds: ContextVar[tuple[str, ...]] = ContextVar("approvals_gate", default=())


@contextmanager
def gate_open(kind: str) -> Iterator[None]:
    """Only :mod:`approvals.services` opens the gate, around a kind's executor."""
    token = _open_kinds.set((*_open_kinds.get(), kind))
    try:
        yield
    finally:
        _open_kinds.reset(token)


def gate_is_open() -> bool:
    return bool(_open_kinds.get())


def gate_required(actor: Actor, *, what: str) -> None:
    """Refuse a person's change that did not come through the approvals gate."""
    if actor.is_system or gate_is_open():
        return
    raise PermissionDeniedError(
        f"{what} by a person goes through the approvals gate (approval_submit), so that a second person "
        "approves it above the thresholds.", code="approval_gate_required", details={"what": what},
    )
