"""Scorecard versions: store a trained table, activate one (per purpose) after reading its
evaluation, retire it."""
from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from core.actors import Actor
from core.audit import audit_record
from core.errors import BusinessRuleError, ConflictError, ValidationError
from risk.models import ScorecardVersion
from risk.scoring import ScoringError, check_table


@transaction.atomic
def scorecard_version_create(
    *, name: str, purpose: str, dataset: str, table: dict[str, Any], metrics: dict[str, Any],
    training: dict[str, Any] | None = None,
) -> ScorecardVersion:
    """Store a freshly trained scorecard as a draft (the next version number of ``name``)."""
    if purpose not in ScorecardVersion.Purpose.values:
        raise ValidationError(f"Unknown purpose {purpose!r}.", code="invalid_purpose")
    try:
        check_table(table)
    except (ScoringError, KeyError, TypeError) as exc:
        raise ValidationError(f"The scorecard table cannot be read: {exc}", code="invalid_scorecard_table") from None
    # Lock the name's versions so two trainings do not take the same number.
    list(ScorecardVersion.objects.select_for_update().filter(name=name).values_list("pk", flat=True))
    number = (ScorecardVersion.objects.filter(name=name).aggregate(m=Max("version"))["m"] or 0) + 1
    return ScorecardVersion.objects.create(
        name=name, version=number, purpose=purpose, dataset=dataset, table=table, metrics=metrics,
        training=training or {}, trained_at=timezone.now(),
    )


@transaction.atomic
def scorecard_version_activate(*, version: ScorecardVersion, user) -> ScorecardVersion:
    """Make ``version`` the one that scores its purpose; the previously active one is retired."""
    actor = Actor.staff(user)
    version = ScorecardVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == ScorecardVersion.Status.ACTIVE:
        raise BusinessRuleError(f"{version.label} is already active.", code="already_active")
    try:
        check_table(version.table)
    except (ScoringError, KeyError, TypeError) as exc:
        raise BusinessRuleError(f"{version.label} cannot score: {exc}", code="invalid_scorecard_table") from None
    now = timezone.now()
    previous = list(
        ScorecardVersion.objects.select_for_update()
        .filter(purpose=version.purpose, status=ScorecardVersion.Status.ACTIVE)
        .order_by("pk")
    )
    for old in previous:
        old.status = ScorecardVersion.Status.RETIRED
        old.retired_at = now
        old.save(update_fields=["status", "retired_at", "updated_at"])
        audit_record(actor=actor, action="scorecard_retire", obj=old, reason=f"replaced by {version.label}",
                     old="active", new="retired")
    old_status = version.status
    version.status = ScorecardVersion.Status.ACTIVE
    version.activated_at = now
    version.activated_by = user
    version.retired_at = None
    try:
        with transaction.atomic():
            version.save(update_fields=["status", "activated_at", "activated_by", "retired_at", "updated_at"])
    except IntegrityError:
        raise ConflictError("Another version was activated at the same time.", code="concurrent_activation") from None
    audit_record(actor=actor, action="scorecard_activate", obj=version,
                 reason=f"activated for {version.get_purpose_display()}", old=old_status, new="active")
    return version


@transaction.atomic
def scorecard_version_retire(*, version: ScorecardVersion, user) -> ScorecardVersion:
    actor = Actor.staff(user)
    version = ScorecardVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == ScorecardVersion.Status.RETIRED:
        raise BusinessRuleError(f"{version.label} is already retired.", code="already_retired")
    old_status = version.status
    version.status = ScorecardVersion.Status.RETIRED
    version.retired_at = timezone.now()
    version.save(update_fields=["status", "retired_at", "updated_at"])
    audit_record(actor=actor, action="scorecard_retire", obj=version, reason="retired by staff", old=old_status, new="retired")
    return version
