"""Maker-checker. A change above its kind's threshold is not applied: it becomes a pending
:class:`ApprovalRequest` that a second person with the kind's permission approves (the change is then
applied through the owning app's service, which re-checks every rule at that moment, in the same
transaction as the decision and its audit row) or rejects. The maker never decides their own request,
and a request is decided once."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from approvals.models import ApprovalPolicy, ApprovalRequest
from approvals.registry import ApprovalKind, get_kind, registered_kinds
from core.actors import Actor
from core.audit import audit_record
from core.errors import ConflictError, PermissionDeniedError, ValidationError


@dataclass(frozen=True)
class Submitted:
    """What :func:`approval_submit` did: applied at once (``result``) or waits (``request``)."""

    applied: bool
    result: Any = None
    request: ApprovalRequest | None = None


def _reason(text: str, what: str = "A reason") -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError(f"{what} is required.", code="reason_required")
    return text[:500]


def approved_reason(reason: str, approval: ApprovalRequest | None) -> str:
    """The reason an executor writes on the change's own log row: the maker's, plus who approved it."""
    if approval is None:
        return reason
    checker = approval.checker.get_username() if approval.checker_id else "?"
    return f"{reason} [approved by {checker}, request {approval.reference}]"[:500]


def approval_policy_for(kind: str) -> ApprovalPolicy:
    """The thresholds of ``kind`` (the row is created with the kind's defaults the first time)."""
    spec = get_kind(kind)
    policy = ApprovalPolicy.objects.filter(kind=kind).first()
    if policy is None:
        policy, _ = ApprovalPolicy.objects.get_or_create(
            kind=kind, defaults={"amount_above": spec.amount_above, "share_above": spec.share_above}
        )
    return policy


def approval_policies_ensure() -> int:
    """One thresholds row per registered kind (for the admin screen). Returns how many were made."""
    made = 0
    for key, spec in registered_kinds().items():
        _, created = ApprovalPolicy.objects.get_or_create(
            kind=key, defaults={"amount_above": spec.amount_above, "share_above": spec.share_above}
        )
        made += created
    return made


def approval_needed(*, kind: str, amount: Decimal, base: Decimal | None = None) -> bool:
    """Above the threshold: ``amount`` > the amount rule, or > the share rule × ``base`` (only when
    there is a positive base: a new line has no current value to compare with)."""
    if amount <= 0:
        return False
    policy = approval_policy_for(kind)
    if policy.amount_above is not None and amount > policy.amount_above:
        return True
    return bool(policy.share_above is not None and base is not None and base > 0 and amount > base * policy.share_above)


class _DryRun(Exception):
    pass


def _refuse_now_if_it_would_be_refused(spec: ApprovalKind, payload: dict, actor: Actor) -> None:
    """Run the change in a savepoint that is rolled back: a change the service refuses today is
    refused now, with the service's own code and message, rather than queued for a checker."""
    try:
        with transaction.atomic():
            spec.execute(payload, actor=actor, approval=None)
            raise _DryRun
    except _DryRun:
        pass


@transaction.atomic
def approval_submit(
    *,
    kind: str,
    payload: dict,
    amount: Decimal,
    base: Decimal | None,
    summary: str,
    target: Any,
    actor: Actor,
    reason: str,
) -> Submitted:
    """Apply a change at once when it is within its kind's threshold (or decided by a system rule),
    else record it as a pending request for a second person. ``target`` is the object it changes."""
    spec = get_kind(kind)
    reason = _reason(reason)
    if actor.is_system or not approval_needed(kind=kind, amount=amount, base=base):
        return Submitted(applied=True, result=spec.execute(payload, actor=actor, approval=None))
    _refuse_now_if_it_would_be_refused(spec, payload, actor)
    request = ApprovalRequest.objects.create(
        kind=kind, summary=summary[:300], payload=payload, amount=amount, base=base,
        object_type=target._meta.label_lower, object_id=str(target.pk), object_repr=str(target)[:200],
        maker=actor.user, maker_reason=reason,
    )
    audit_record(actor=actor, action="approval_request", obj=request, reason=reason,
                 new={"kind": kind, "summary": request.summary, "amount": str(amount),
                      "target": f"{request.object_type}#{request.object_id}"})
    return Submitted(applied=False, request=request)


def _lock_undecided(approval: ApprovalRequest, user) -> tuple[ApprovalRequest, ApprovalKind]:
    Actor.staff(user)
    approval = ApprovalRequest.objects.select_for_update().get(pk=approval.pk)
    if approval.status != ApprovalRequest.Status.PENDING:
        raise ConflictError(
            f"This request was already decided ({approval.get_status_display().lower()}).", code="approval_decided",
            details={"status": approval.status},
        )
    if approval.maker_id == user.pk:
        raise PermissionDeniedError("The maker of a request cannot decide it: a second person must.",
                                    code="maker_cannot_decide")
    spec = get_kind(approval.kind)
    if not user.has_perm(spec.permission):
        raise PermissionDeniedError(f"Deciding a {spec.label.lower()} needs the permission {spec.permission}.",
                                    code="approval_permission")
    return approval, spec


def _decide(approval: ApprovalRequest, *, user, status: str, note: str, result: str = "") -> ApprovalRequest:
    approval.status, approval.checker, approval.decided_at = status, user, timezone.now()
    approval.decision_note, approval.result = note[:500], result[:200]
    approval.save(update_fields=["status", "checker", "decided_at", "decision_note", "result", "updated_at"])
    audit_record(
        actor=Actor.staff(user), action="approval_approve" if status == ApprovalRequest.Status.APPROVED else "approval_reject",
        obj=approval, reason=note or approval.maker_reason, old={"status": ApprovalRequest.Status.PENDING},
        new={"status": status, "kind": approval.kind, "maker": approval.maker.get_username(),
             "checker": user.get_username(), "result": approval.result},
    )
    return approval


@transaction.atomic
def approval_approve(*, approval: ApprovalRequest, user, note: str = "") -> ApprovalRequest:
    """A second person approves: the change is applied now through the owning service (every rule is
    checked again; a refusal leaves the request pending and nothing changed)."""
    approval, spec = _lock_undecided(approval, user)
    approval.checker = user  # the executor names the checker in its own log row
    result = spec.execute(approval.payload, actor=Actor.staff(approval.maker), approval=approval)
    return _decide(approval, user=user, status=ApprovalRequest.Status.APPROVED, note=(note or "").strip(),
                   result=str(result) if result is not None else "")


@transaction.atomic
def approval_reject(*, approval: ApprovalRequest, user, note: str) -> ApprovalRequest:
    """A second person rejects: nothing is applied."""
    note = _reason(note, "A reason for the rejection")
    approval, _ = _lock_undecided(approval, user)
    return _decide(approval, user=user, status=ApprovalRequest.Status.REJECTED, note=note)


@transaction.atomic
def approval_policy_update(*, policy: ApprovalPolicy, amount_above: Decimal | None, share_above: Decimal | None,
                           actor: Actor) -> ApprovalPolicy:
    """Change a kind's thresholds, with an audit row of old → new."""
    for value, name in ((amount_above, "amount_above"), (share_above, "share_above")):
        if value is not None and value < 0:
            raise ValidationError(f"{name} cannot be negative.", code="invalid_threshold")
    policy = ApprovalPolicy.objects.select_for_update().get(pk=policy.pk)
    old = {"amount_above": str(policy.amount_above), "share_above": str(policy.share_above)}
    policy.amount_above, policy.share_above = amount_above, share_above
    policy.save(update_fields=["amount_above", "share_above", "updated_at"])
    audit_record(actor=actor, action="approval_policy_change", obj=policy, reason=f"thresholds of {policy.kind}",
                 old=old, new={"amount_above": str(amount_above), "share_above": str(share_above)})
    return policy
