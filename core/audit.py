"""Write audit rows (same transaction as the change they describe)."""
from __future__ import annotations

from typing import Any

from core.actors import Actor
from core.models import AuditEvent


def audit_record(*, actor: Actor, action: str, obj: Any, reason: str = "", old: Any = None, new: Any = None) -> AuditEvent:
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
