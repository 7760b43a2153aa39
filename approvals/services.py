"""Maker-checker. A change above its kind's threshold is not applied: it becomes a pending
:class:`ApprovalRequest` that a second person with the kind's permission approves (the change is then
applied through the owning app's service, which re-checks every rule at that moment, in the same
transaction as the decision and its audit row) or rejects. The maker never decides their own request,
and a request is decided once.

Issue 23 (PRODUCT §12): this is the one gate — the executing services refuse a person's change that
does not come through here (``approvals.gate``); thresholds add up per account over a rolling 30 days
across all makers and per maker per business day (:class:`GateEntry`); each threshold has a floor in
code that configuration cannot go below, and a change of the thresholds is itself a request for a
second person; a request whose subject moved since it was made is refused as stale when decided."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from approvals.gate import gate_open, gate_required
from approvals.models import ApprovalPolicy, ApprovalRequest, GateEntry
from approvals.registry import ApprovalKind, get_kind, register_kind, registered_kinds
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import ConflictError, PermissionDeniedError, ValidationError
from core.money import ZERO, format_cny, money

#: PRODUCT §12: thresholds add up per account over a rolling 30 days (business dates).
WINDOW_DAYS = 30
THRESHOLD_FIELDS = ("amount_above", "share_above", "maker_day_above", "days_above")
CONTROL_SETTING_KIND = "approvals.control_setting"


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


def _defaults(spec: ApprovalKind) -> dict:
    return {"amount_above": spec.amount_above, "share_above": spec.share_above,
            "maker_day_above": spec.maker_day_above, "days_above": spec.days_above}


def approval_policy_for(kind: str) -> ApprovalPolicy:
    """The thresholds of ``kind`` (the row is created with the kind's defaults the first time)."""
    spec = get_kind(kind)
    policy = ApprovalPolicy.objects.filter(kind=kind).first()
    if policy is None:
        policy, _ = ApprovalPolicy.objects.get_or_create(kind=kind, defaults=_defaults(spec))
    return policy


def approval_policies_ensure() -> int:
    """One thresholds row per registered kind (for the admin screen). Returns how many were made.
    A rule added to a kind since its row was made (``maker_day_above``, ``days_above``) starts at the
    kind's default: with a floor in code it can never be blank, so a blank there was never chosen.
    One read whatever the number of kinds (the screen's query count stays fixed)."""
    kinds = registered_kinds()
    existing = {policy.kind: policy for policy in ApprovalPolicy.objects.filter(kind__in=list(kinds))}
    missing = [ApprovalPolicy(kind=key, **_defaults(spec)) for key, spec in kinds.items() if key not in existing]
    if missing:
        ApprovalPolicy.objects.bulk_create(missing, ignore_conflicts=True)
    for key, policy in existing.items():
        spec = kinds[key]
        fill = {name: getattr(spec, name) for name in THRESHOLD_FIELDS
                if getattr(policy, name) is None and spec.ceiling(name) is not None and getattr(spec, name) is not None}
        if fill:
            ApprovalPolicy.objects.filter(pk=policy.pk).update(**fill)
    return len(missing)


def effective_threshold(spec: ApprovalKind, policy: ApprovalPolicy, name: str):
    """The configured threshold, never looser than the kind's floor in code (a row raised or blanked in
    the database by hand still cannot switch the control off)."""
    value, ceiling = getattr(policy, name), spec.ceiling(name)
    if ceiling is None:
        return value
    if value is None or value > ceiling:
        return ceiling
    return value


def approval_needed(*, kind: str, amount: Decimal, base: Decimal | None = None) -> bool:
    """Above the threshold: ``amount`` > the amount rule, or > the share rule × ``base`` (only when
    there is a positive base: a new line has no current value to compare with). This single change
    only; :func:`approval_submit` adds the account's and the maker's other changes."""
    spec = get_kind(kind)
    if spec.always_waits:
        return True
    if amount <= 0:
        return False
    policy = approval_policy_for(kind)
    amount_above, share_above = (effective_threshold(spec, policy, n) for n in ("amount_above", "share_above"))
    if amount_above is not None and amount > amount_above:
        return True
    return bool(share_above is not None and base is not None and base > 0 and amount > base * share_above)


@dataclass
class Judgement:
    """Why a change waits (``reasons`` empty: it applies at once) and the totals it was judged on."""

    reasons: list[str] = field(default_factory=list)
    context: dict = field(default_factory=dict)


def _total(qs) -> Decimal:
    return money(qs.aggregate(t=Sum("amount"))["t"] or ZERO)


def _judge(spec: ApprovalKind, *, amount: Decimal, base: Decimal | None, account_id: int | None, maker,
           days_back: int | None) -> Judgement:
    policy = approval_policy_for(spec.key)
    amount_above, share_above, maker_day_above, days_above = (
        effective_threshold(spec, policy, n) for n in THRESHOLD_FIELDS)
    if spec.group:  # two makers at once must not both fit under the same total: one group judges at a time
        kinds = sorted(key for key, other in registered_kinds().items() if other.group == spec.group)
        for key in kinds:
            approval_policy_for(key)
        list(ApprovalPolicy.objects.select_for_update().filter(kind__in=kinds).order_by("kind").values_list("pk"))
    today = get_business_date()
    account_before = applied_before = maker_before = ZERO
    if spec.group:
        counted = GateEntry.objects.filter(group=spec.group, status__in=GateEntry.COUNTED)
        if account_id is not None:
            window = counted.filter(account_id=account_id, business_date__gt=today - dt.timedelta(days=WINDOW_DAYS))
            account_before = _total(window)
            applied_before = _total(window.exclude(status=GateEntry.Status.PENDING))
        maker_before = _total(counted.filter(maker=maker, business_date=today))
    cumulative = account_before + amount if amount > 0 else amount
    share_base = base - applied_before if (spec.base_moves and base is not None) else base
    judged = Judgement(context={
        "window_days": WINDOW_DAYS, "group": spec.group, "account_before": str(account_before),
        "account_with": str(cumulative), "maker_day_before": str(maker_before),
        "maker_day_with": str(maker_before + max(amount, ZERO)), "share_base": None if share_base is None else str(share_base),
        "thresholds": {"amount_above": _str(amount_above), "share_above": _str(share_above),
                       "maker_day_above": _str(maker_day_above), "days_above": days_above},
    })
    reasons = judged.reasons
    if spec.always_waits:
        reasons.append("every change of this kind waits for a second person")
    if amount > 0:
        with_others = " with the account's other changes in 30 days" if account_before else ""
        if amount_above is not None and cumulative > amount_above:
            reasons.append(f"{format_cny(cumulative)}{with_others} is above {format_cny(amount_above)}")
        if share_above is not None and share_base is not None and share_base > 0 and cumulative > share_base * share_above:
            reasons.append(f"{format_cny(cumulative)}{with_others} is more than {share_above * 100:.0f} % of "
                           f"{format_cny(share_base)}")
        if spec.group and maker_day_above is not None and maker_before + amount > maker_day_above:
            reasons.append(f"the maker's changes today come to {format_cny(maker_before + amount)}, above "
                           f"{format_cny(maker_day_above)}")
    if days_above is not None and days_back is not None and days_back > days_above:
        reasons.append(f"dated {days_back} days back, more than {days_above}")
    return judged


def _str(value) -> str | None:
    return None if value is None else str(value)


def _account_id(account: Any, target: Any) -> int | None:
    if account is not None:
        return int(getattr(account, "pk", account))
    if target._meta.label_lower == "accounts.creditaccount":
        return target.pk
    return getattr(target, "account_id", None)


class _DryRun(Exception):
    pass


def _refuse_now_if_it_would_be_refused(spec: ApprovalKind, payload: dict, actor: Actor) -> None:
    """Run the change in a savepoint that is rolled back: a change the service refuses today is
    refused now, with the service's own code and message, rather than queued for a checker."""
    try:
        with transaction.atomic(), gate_open(spec.key):
            spec.execute(payload, actor=actor, approval=None)
            raise _DryRun
    except _DryRun:
        pass


def _money_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format_cny(value)
    return str(value)


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
    account: Any = None,
    before: Any = None,
    after: Any = None,
    days_back: int | None = None,
) -> Submitted:
    """Apply a change at once when it is within its kind's thresholds (or decided by a system rule),
    else record it as a pending request for a second person. ``target`` is the object it changes;
    ``account`` the credit account it concerns (default: the target, or the target's account), over
    which the kind's group adds up; ``before``/``after`` are shown to the checker; ``days_back``: how
    far back the change is dated (a repayment's received-on date)."""
    spec = get_kind(kind)
    reason = _reason(reason)
    if actor.is_system:
        with gate_open(kind):
            return Submitted(applied=True, result=spec.execute(payload, actor=actor, approval=None))
    account_id = _account_id(account, target)
    judged = _judge(spec, amount=amount, base=base, account_id=account_id, maker=actor.user, days_back=days_back)
    counts = bool(spec.group) and amount > 0
    today = get_business_date()
    if not judged.reasons:
        with gate_open(kind):
            result = spec.execute(payload, actor=actor, approval=None)
        if counts:
            GateEntry.objects.create(kind=kind, group=spec.group, account_id=account_id, maker=actor.user,
                                     business_date=today, amount=amount, status=GateEntry.Status.APPLIED)
        return Submitted(applied=True, result=result)
    _refuse_now_if_it_would_be_refused(spec, payload, actor)
    context = {**judged.context, "reasons": judged.reasons, "before": _money_text(before), "after": _money_text(after),
               "business_date": today.isoformat()}
    if spec.snapshot is not None:
        context["snapshot"] = spec.snapshot(payload)
    request = ApprovalRequest.objects.create(
        kind=kind, summary=summary[:300], payload=payload, amount=amount, base=base,
        object_type=target._meta.label_lower, object_id=str(target.pk), object_repr=str(target)[:200],
        maker=actor.user, maker_reason=reason, account_id=account_id, context=context,
    )
    if counts:
        GateEntry.objects.create(kind=kind, group=spec.group, account_id=account_id, maker=actor.user,
                                 business_date=today, amount=amount, status=GateEntry.Status.PENDING, request=request)
    audit_record(actor=actor, action="approval_request", obj=request, reason=reason,
                 new={"kind": kind, "summary": request.summary, "amount": str(amount),
                      "target": f"{request.object_type}#{request.object_id}", "waits_because": judged.reasons})
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


_DECISION_ACTION = {
    ApprovalRequest.Status.APPROVED: "approval_approve",
    ApprovalRequest.Status.REJECTED: "approval_reject",
    ApprovalRequest.Status.STALE: "approval_stale",
}


def _decide(approval: ApprovalRequest, *, user, status: str, note: str, result: str = "") -> ApprovalRequest:
    approval.status, approval.checker, approval.decided_at = status, user, timezone.now()
    approval.decision_note, approval.result = note[:500], result[:200]
    approval.save(update_fields=["status", "checker", "decided_at", "decision_note", "result", "updated_at"])
    GateEntry.objects.filter(request=approval).update(status=status)
    audit_record(
        actor=Actor.staff(user), action=_DECISION_ACTION[status],
        obj=approval, reason=note or approval.maker_reason, old={"status": ApprovalRequest.Status.PENDING},
        new={"status": status, "kind": approval.kind, "maker": approval.maker.get_username(),
             "checker": user.get_username(), "result": approval.result},
    )
    return approval


def approval_stale_reason(approval: ApprovalRequest, spec: ApprovalKind | None = None) -> str:
    """Why the request is stale ("" when what it changes is as it was when it was requested)."""
    spec = spec or get_kind(approval.kind)
    then = (approval.context or {}).get("snapshot")
    if spec.snapshot is None or then is None:
        return ""
    now = spec.snapshot(approval.payload)
    moved = [f"{key} was {then.get(key)}, is now {now.get(key)}" for key in sorted(set(then) | set(now))
             if then.get(key) != now.get(key)]
    if not moved:
        return ""
    return f"What this request changes moved since it was requested ({'; '.join(moved)}): nothing was applied."


def approval_approve(*, approval: ApprovalRequest, user, note: str = "") -> ApprovalRequest:
    """A second person approves: the change is applied now through the owning service (every rule is
    checked again; a refusal leaves the request pending and nothing changed). If what the request
    changes moved since it was requested (the limit it raises is no longer the limit it saw, the
    purchase was refunded meanwhile…) it is closed as stale and refused with ``approval_stale``:
    nothing is applied and the maker asks again on today's state (PRODUCT §12)."""
    with transaction.atomic():
        approval, spec = _lock_undecided(approval, user)
        stale = approval_stale_reason(approval, spec)
        if not stale:
            approval.checker = user  # the executor names the checker in its own log row
            with gate_open(approval.kind):
                result = spec.execute(approval.payload, actor=Actor.staff(approval.maker), approval=approval)
            return _decide(approval, user=user, status=ApprovalRequest.Status.APPROVED, note=(note or "").strip(),
                           result=str(result) if result is not None else "")
        _decide(approval, user=user, status=ApprovalRequest.Status.STALE, note=stale)
    raise ConflictError(stale, code="approval_stale", details={"request": approval.reference})


@transaction.atomic
def approval_reject(*, approval: ApprovalRequest, user, note: str) -> ApprovalRequest:
    """A second person rejects: nothing is applied."""
    note = _reason(note, "A reason for the rejection")
    approval, _ = _lock_undecided(approval, user)
    return _decide(approval, user=user, status=ApprovalRequest.Status.REJECTED, note=note)


# --- control settings: the thresholds change under four eyes, above floors in code ---------------------

_KEEP = object()


def _threshold_values(policy: ApprovalPolicy, given: dict) -> dict:
    return {name: (getattr(policy, name) if given.get(name, _KEEP) is _KEEP else given[name]) for name in THRESHOLD_FIELDS}


def threshold_floors_check(*, kind: str, values: dict) -> None:
    """PRODUCT §12: a threshold is never negative, never above its kind's ceiling in code and never
    blank where the kind has one (a write-off by hand always waits: its amount threshold stays 0.00)."""
    spec = get_kind(kind)
    for name in THRESHOLD_FIELDS:
        value, ceiling = values.get(name), spec.ceiling(name)
        if value is not None and value < 0:
            raise ValidationError(f"{name} cannot be negative.", code="invalid_threshold")
        if ceiling is None:
            continue
        shown = ceiling if name in ("share_above", "days_above") else format_cny(ceiling)
        if value is None:
            raise ValidationError(f"{spec.label}: {name} cannot be blank; the floor in code keeps it at most {shown}.",
                                  code="threshold_floor", details={"field": name, "ceiling": str(ceiling)})
        if value > ceiling:
            raise ValidationError(f"{spec.label}: {name} cannot be above {shown} (a floor fixed in code).",
                                  code="threshold_floor", details={"field": name, "ceiling": str(ceiling)})


@transaction.atomic
def approval_policy_update(*, policy: ApprovalPolicy, amount_above: Any = _KEEP, share_above: Any = _KEEP,
                           actor: Actor, maker_day_above: Any = _KEEP, days_above: Any = _KEEP) -> ApprovalPolicy:
    """Change a kind's thresholds, with an audit row of old → new. Applied only through the gate (a
    second person approved :func:`approval_policy_change_submit`), within the floors."""
    gate_required(actor, what="Changing approval thresholds")
    policy = ApprovalPolicy.objects.select_for_update().get(pk=policy.pk)
    values = _threshold_values(policy, {"amount_above": amount_above, "share_above": share_above,
                                        "maker_day_above": maker_day_above, "days_above": days_above})
    threshold_floors_check(kind=policy.kind, values=values)
    old = {name: _str(getattr(policy, name)) for name in THRESHOLD_FIELDS}
    for name, value in values.items():
        setattr(policy, name, value)
    policy.save(update_fields=[*THRESHOLD_FIELDS, "updated_at"])
    audit_record(actor=actor, action="approval_policy_change", obj=policy, reason=f"thresholds of {policy.kind}",
                 old=old, new={name: _str(value) for name, value in values.items()})
    return policy


def _policy_snapshot(payload: dict) -> dict:
    policy = ApprovalPolicy.objects.get(pk=payload["policy_id"])
    return {name: _str(getattr(policy, name)) for name in THRESHOLD_FIELDS}


def _execute_policy_change(payload: dict, *, actor: Actor, approval=None) -> ApprovalPolicy:
    values = {name: (None if payload[name] is None else Decimal(payload[name])) for name in THRESHOLD_FIELDS
              if name in payload}
    if values.get("days_above") is not None:
        values["days_above"] = int(values["days_above"])
    return approval_policy_update(policy=ApprovalPolicy(pk=payload["policy_id"]), actor=actor, **values)


def register_approval_kinds() -> None:
    """Called from ``ApprovalsConfig.ready()``: a change of the thresholds always waits for a second
    person with the permission to change them (PRODUCT §12)."""
    register_kind(ApprovalKind(CONTROL_SETTING_KIND, "Control setting change", "approvals.change_approvalpolicy",
                               _execute_policy_change, amount_above=Decimal("0.00"), always_waits=True,
                               snapshot=_policy_snapshot))


def approval_policy_change_submit(*, policy: ApprovalPolicy, actor: Actor, reason: str, **values: Any) -> Submitted:
    """A person asks to change a kind's thresholds: refused now below the floors, else a request that a
    second person approves (then applied; stale if the thresholds changed meanwhile)."""
    unknown = set(values) - set(THRESHOLD_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown thresholds: {', '.join(sorted(unknown))}.", code="invalid_threshold")
    policy = ApprovalPolicy.objects.get(pk=policy.pk)
    wanted = _threshold_values(policy, values)
    threshold_floors_check(kind=policy.kind, values=wanted)
    changed = {name: value for name, value in wanted.items() if value != getattr(policy, name)}
    if not changed:
        raise ValidationError("The thresholds are unchanged.", code="threshold_unchanged")
    text = ", ".join(f"{name} {_str(getattr(policy, name)) or '—'} → {_str(value) or '—'}" for name, value in changed.items())
    return approval_submit(
        kind=CONTROL_SETTING_KIND, payload={"policy_id": policy.pk, **{k: _str(v) for k, v in changed.items()}},
        amount=ZERO, base=None, target=policy, actor=actor, reason=reason,
        summary=f"Thresholds of {policy.kind}: {text}",
        before=", ".join(f"{n} {_str(getattr(policy, n)) or '—'}" for n in changed),
        after=", ".join(f"{n} {_str(v) or '—'}" for n, v in changed.items()),
    )
