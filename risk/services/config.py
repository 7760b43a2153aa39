"""Configuration that staff change in the admin: rules, score bands, blacklist. Each change
leaves an audit row."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.services import LEGAL_MIN_AGE
from core.actors import Actor
from core.audit import audit_record
from core.crypto import pii_hash
from core.errors import BusinessRuleError, ConflictError, ValidationError
from core.identity import normalize_id_number
from core.masking import mask_id_number, mask_mobile
from core.money import money
from risk.models import BlacklistEntry, RiskRule, ScoreBand
from risk.rules import RULE_SPECS, validate_rule_config
from risk.selectors import device_hash, mobile_hash


def _django_error(exc: DjangoValidationError) -> ValidationError:
    return ValidationError("; ".join(exc.messages), code="invalid_config")


@transaction.atomic
def risk_rule_update(*, code: str, enabled: bool, outcome: str, severity: str, params: dict[str, Any], user) -> RiskRule:
    actor = Actor.staff(user)
    spec = RULE_SPECS.get(code)
    if spec is None:
        raise ValidationError(f"Unknown rule {code!r}.", code="unknown_rule")
    try:
        validate_rule_config(code=code, outcome=outcome, params=params, enabled=enabled)
    except DjangoValidationError as exc:
        raise _django_error(exc) from None
    rule = RiskRule.objects.select_for_update().filter(code=code).first()
    old = None if rule is None else {"enabled": rule.enabled, "outcome": rule.outcome, "severity": rule.severity, "params": rule.params}
    if rule is None:
        rule = RiskRule(code=code)
    rule.enabled, rule.outcome, rule.severity, rule.params = enabled, outcome, severity, dict(params or {})
    rule.save()
    audit_record(actor=actor, action="risk_rule_change", obj=rule, reason=f"rule {code} changed", old=old,
                 new={"enabled": enabled, "outcome": outcome, "severity": severity, "params": rule.params})
    return rule


@transaction.atomic
def score_band_save(
    *, band: ScoreBand | None, name: str, min_score: int, limit: Decimal, action: str, user
) -> ScoreBand:
    actor = Actor.staff(user)
    limit = money(limit)
    if action not in ScoreBand.Action.values:
        raise ValidationError("Unknown band action.", code="invalid_band")
    if limit < 0 or (action == ScoreBand.Action.APPROVE and limit <= 0):
        raise ValidationError("An approving band needs a limit above zero.", code="invalid_band")
    old = None
    if band is not None:
        band = ScoreBand.objects.select_for_update().get(pk=band.pk)
        old = {"name": band.name, "min_score": band.min_score, "limit": str(band.limit), "action": band.action}
    else:
        band = ScoreBand()
    band.name, band.min_score, band.limit, band.action = name.strip(), int(min_score), limit, action
    try:
        with transaction.atomic():
            band.save()
    except IntegrityError:
        raise ConflictError("Another band has this name or minimum score.", code="band_exists") from None
    audit_record(actor=actor, action="score_band_change", obj=band, reason=f"band {band.name}", old=old,
                 new={"name": band.name, "min_score": band.min_score, "limit": str(band.limit), "action": band.action})
    return band


def blacklist_hash(kind: str, value: str) -> tuple[str, str]:
    """(keyed hash, masked hint) of a blacklisted value."""
    value = (value or "").strip()
    if not value:
        raise ValidationError("A value is required.", code="value_required")
    if kind == BlacklistEntry.Kind.ID_NUMBER:
        value = normalize_id_number(value)
        return pii_hash(value), mask_id_number(value)
    if kind == BlacklistEntry.Kind.MOBILE:
        return mobile_hash(value), mask_mobile(value)
    if kind == BlacklistEntry.Kind.DEVICE:
        return device_hash(value), value[:4] + "****"
    raise ValidationError(f"Unknown blacklist kind {kind!r}.", code="invalid_kind")


@transaction.atomic
def blacklist_add(*, kind: str, value: str, reason: str, user) -> BlacklistEntry:
    actor = Actor.staff(user)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.", code="reason_required")
    value_hash, hint = blacklist_hash(kind, value)
    try:
        with transaction.atomic():
            entry = BlacklistEntry.objects.create(kind=kind, value_hash=value_hash, value_hint=hint, reason=reason, added_by=user)
    except IntegrityError:
        raise ConflictError("This value is already blacklisted.", code="already_blacklisted") from None
    audit_record(actor=actor, action="blacklist_add", obj=entry, reason=reason, new={"kind": kind, "hint": hint})
    return entry


@transaction.atomic
def blacklist_deactivate(*, entry: BlacklistEntry, reason: str, user) -> BlacklistEntry:
    actor = Actor.staff(user)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.", code="reason_required")
    entry = BlacklistEntry.objects.select_for_update().get(pk=entry.pk)
    if not entry.is_active:
        raise BusinessRuleError("The entry is not active.", code="not_active")
    entry.is_active = False
    entry.deactivated_at = timezone.now()
    entry.save(update_fields=["is_active", "deactivated_at"])
    audit_record(actor=actor, action="blacklist_remove", obj=entry, reason=reason, old="active", new="inactive")
    return entry


POLICY_FIELDS = (
    "min_age", "max_age",
    "reason_code_count", "max_missing_features", "review_every_days", "trigger_utilisation_above",
    "raise_utilisation_above", "raise_no_overdue_months", "raise_min_score_gain", "raise_step", "cut_step",
    "max_limit", "limit_unit", "max_temporary_share",
)


@transaction.atomic
def risk_policy_save(*, values: dict[str, Any], user):
    """Change the risk policy's numbers (one row), with an audit row of what changed."""
    from risk.models import RiskPolicy

    actor = Actor.staff(user)
    unknown = set(values) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown policy fields: {', '.join(sorted(unknown))}.", code="invalid_config")
    policy = RiskPolicy.objects.select_for_update().filter(singleton=1).first() or RiskPolicy(singleton=1)
    old = {f: str(getattr(policy, f)) for f in POLICY_FIELDS}
    for name, value in values.items():
        setattr(policy, name, value)
    if policy.limit_unit <= 0 or policy.max_limit < 0 or policy.max_temporary_share < 0 or not (0 <= policy.cut_step <= 1) or policy.raise_step < 0:
        raise ValidationError("Limit unit must be positive, steps between 0 and 1 (cut) or above 0 (raise).",
                              code="invalid_config")
    if policy.reason_code_count < 1:
        raise ValidationError("Keep at least one reason code.", code="invalid_config")
    if policy.min_age < LEGAL_MIN_AGE or policy.max_age < policy.min_age:
        raise ValidationError(f"Applicants' minimum age is at least {LEGAL_MIN_AGE}, and the maximum at least the minimum.",
                              code="invalid_config")
    _limit_maxima_check(policy, old)
    policy.save()
    new = {f: str(getattr(policy, f)) for f in POLICY_FIELDS}
    audit_record(actor=actor, action="risk_policy_change", obj=policy, reason="risk policy changed",
                 old={k: v for k, v in old.items() if new[k] != v}, new={k: v for k, v in new.items() if old[k] != v})
    return policy


# --- the policy maxima change under four eyes, below ceilings in code (issue 23 item 3, PRODUCT §12) -----

#: The limit policy's maxima bind every path that sets a limit (``accounts.limits``): one person cannot move them.
LIMIT_MAXIMA = ("max_limit", "max_temporary_share")
#: Ceilings in code: configuration can lower the maxima, never raise them above these.
MAX_LIMIT_CEILING = Decimal("200000.00")
MAX_TEMPORARY_SHARE_CEILING = Decimal("1.00")
LIMIT_POLICY_KIND = "risk.limit_policy"


def _limit_maxima_check(policy, old: dict) -> None:
    from approvals.gate import gate_is_open

    if policy.max_limit > MAX_LIMIT_CEILING:
        raise ValidationError(f"The maximum limit cannot be above {MAX_LIMIT_CEILING} (a ceiling fixed in code).",
                              code="threshold_floor", details={"field": "max_limit", "ceiling": str(MAX_LIMIT_CEILING)})
    if policy.max_temporary_share > MAX_TEMPORARY_SHARE_CEILING:
        raise ValidationError(
            f"The temporary limits' maximum share cannot be above {MAX_TEMPORARY_SHARE_CEILING} (a ceiling fixed in code).",
            code="threshold_floor", details={"field": "max_temporary_share", "ceiling": str(MAX_TEMPORARY_SHARE_CEILING)})
    moved = [f for f in LIMIT_MAXIMA if str(getattr(policy, f)) != old[f]]
    if moved and not gate_is_open():
        from core.errors import PermissionDeniedError

        raise PermissionDeniedError(
            "The limit policy's maxima change through the approvals gate (risk_policy_change_submit): a second "
            "person approves.", code="approval_gate_required", details={"fields": moved})


def _execute_limit_policy(payload: dict, *, actor: Actor, approval=None):
    values = {f: Decimal(payload[f]) for f in LIMIT_MAXIMA if f in payload}
    return risk_policy_save(values=values, user=actor.user)


def _limit_policy_snapshot(payload: dict) -> dict:
    from risk.selectors import risk_policy

    policy = risk_policy()
    return {f: str(getattr(policy, f)) for f in LIMIT_MAXIMA}


def register_approval_kinds() -> None:
    """Called from ``RiskConfig.ready()``: every change of the policy maxima waits for a second person."""
    from approvals.registry import ApprovalKind, register_kind

    register_kind(ApprovalKind(LIMIT_POLICY_KIND, "Limit policy maxima change", "risk.change_riskpolicy",
                               _execute_limit_policy, amount_above=Decimal("0.00"), always_waits=True,
                               snapshot=_limit_policy_snapshot))


def risk_policy_change_submit(*, values: dict[str, Any], user, reason: str = "risk policy changed"):
    """A person changes the risk policy: the maxima of the limit policy (``max_limit``,
    ``max_temporary_share``) wait for a second person (refused now above their ceilings); the other
    numbers are saved at once. Returns the approvals ``Submitted`` of the maxima (``None`` when they did
    not change)."""
    from approvals.services import approval_submit
    from risk.selectors import risk_policy

    actor = Actor.staff(user)
    with transaction.atomic():
        policy = risk_policy()
        maxima = {f: values[f] for f in LIMIT_MAXIMA if f in values and values[f] != getattr(policy, f)}
        others = {f: v for f, v in values.items() if f not in LIMIT_MAXIMA}
        if others:
            risk_policy_save(values=others, user=user)
        if not maxima:
            return None
        text = ", ".join(f"{f} {getattr(policy, f)} → {v}" for f, v in maxima.items())
        return approval_submit(
            kind=LIMIT_POLICY_KIND, payload={f: str(v) for f, v in maxima.items()}, amount=Decimal("0.00"), base=None,
            target=policy, actor=actor, reason=reason, summary=f"Limit policy: {text}",
            before=", ".join(f"{f} {getattr(policy, f)}" for f in maxima), after=", ".join(f"{f} {v}" for f, v in maxima.items()),
        )
