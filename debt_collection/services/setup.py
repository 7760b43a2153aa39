"""Configuration of collections by staff: queues, collectors, agencies, templates, the policy. Each
save is validated and leaves an audit row naming what changed."""
from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction

from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import ValidationError
from debt_collection.models import Agency


def _value(obj: models.Model, field: str):
    value = getattr(obj, field)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    return value if isinstance(value, (int, str, bool, type(None))) else str(value)


@transaction.atomic
def config_save(*, obj: models.Model, actor: Actor, changed: list[str] | None = None, reason: str = "") -> models.Model:
    """Validate and save a configuration record (queue, collector, agency, template, policy), with an
    audit row of the changed fields' old and new values."""
    try:
        obj.full_clean()
    except DjangoValidationError as exc:
        raise ValidationError("The record is not valid.", code="invalid", details=exc.message_dict) from None
    creating = obj._state.adding or obj.pk is None
    old = None
    if not creating:
        previous = type(obj)._default_manager.filter(pk=obj.pk).first()
        fields = changed or [f.attname for f in obj._meta.concrete_fields]
        old = {f: _value(previous, f) for f in fields if previous is not None and hasattr(previous, f)}
    obj.save()
    fields = changed or [f.attname for f in obj._meta.concrete_fields]
    new = {f: _value(obj, f) for f in fields if hasattr(obj, f)}
    audit_record(actor=actor, action="collections_config_create" if creating else "collections_config_change",
                 obj=obj, reason=reason, old=old, new=new)
    return obj


@transaction.atomic
def agency_evaluate(*, agency: Agency, actor: Actor, evaluated_on: dt.date, note: str) -> Agency:
    """Record an agency's evaluation (PRODUCT §7: not evaluated in 12 months → no new cases)."""
    note = (note or "").strip()
    if not note:
        raise ValidationError("An evaluation needs a note.", code="note_required")
    if evaluated_on > get_business_date():
        raise ValidationError("An evaluation cannot be dated in the future.", code="date_in_future")
    agency = Agency.objects.select_for_update(of=("self",)).get(pk=agency.pk)
    if agency.last_evaluated_on and evaluated_on < agency.last_evaluated_on:
        raise ValidationError("A later evaluation is already recorded.", code="evaluation_older")
    old = agency.last_evaluated_on.isoformat() if agency.last_evaluated_on else None
    agency.last_evaluated_on, agency.evaluation_note = evaluated_on, note[:500]
    agency.save(update_fields=["last_evaluated_on", "evaluation_note", "updated_at"])
    audit_record(actor=actor, action="agency_evaluate", obj=agency, reason=note, old=old, new=evaluated_on.isoformat())
    return agency
