"""Reads of the approvals queue."""
from __future__ import annotations

from typing import Any

from approvals.models import ApprovalRequest


def approval_pending_for(*, kind: str, target: Any, **payload: Any) -> ApprovalRequest | None:
    """The pending request of ``kind`` on ``target`` whose payload has these values (so an import run
    twice does not queue the same change twice)."""
    qs = ApprovalRequest.objects.filter(kind=kind, status=ApprovalRequest.Status.PENDING,
                                        object_type=target._meta.label_lower, object_id=str(target.pk))
    for key, value in payload.items():
        qs = qs.filter(**{f"payload__{key}": value})
    return qs.order_by("pk").first()
