"""Write audit rows (same transaction as the change they describe)."""
from __future__ import annotations

from typing import Any

from core.actors import Actor
from core.models import AuditEvent


_declared: set[str] = set()


def audit_record(*, actor: Actor, action: str, obj: Any, reason: str = "", old: Any = None, new: Any = None) -> AuditEvent:
    """One audit row for one state change. ``action`` is declared in its app's catalogue (``<app>/codes.py``,
    ``core.catalogue``): an undeclared action is a programming error, refused before anything is written."""
    if action not in _declared:
        from core.catalogue import audit_actions

        _declared.update(audit_actions())
        if action not in _declared:
            raise ValueError(f"audit action {action!r} is not declared in any app's codes.py (core.catalogue)")
    return AuditEvent.objects.create(
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        old=old,
        new=new,
        reason=reason[:500],
        **actor.log_fields(),
    )
