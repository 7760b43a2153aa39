"""Turning model rows into plain JSON values for a personal-data export.

Values are machine-readable: money and other decimals as strings (``"530.00"``), dates and times as
ISO 8601, foreign keys as the target's public ``reference`` when it has one (else its id), staff
users as ``"staff"`` (who among the staff acted is the company's data, not the customer's),
encrypted fields in clear (it is the customer's own data), keyed look-up hashes left out."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any
from collections.abc import Iterable

from django.conf import settings
from django.db import models

STAFF = "staff"


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, memoryview)):
        return None
    return str(value)


def _is_user_fk(field: models.Field) -> bool:
    return field.is_relation and field.related_model is not None and (
        field.related_model._meta.label == settings.AUTH_USER_MODEL
    )


def exportable_fields(model: type[models.Model], fields: Iterable[str] | None, exclude: Iterable[str]) -> list[models.Field]:
    exclude = set(exclude)
    chosen = []
    for field in model._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        if field.name in exclude or field.name.endswith("_hash"):
            continue
        chosen.append(field)
    if fields is not None:
        missing = set(fields) - {f.name for f in chosen} - exclude
        if missing:
            raise ValueError(f"{model._meta.label}: unknown export fields {sorted(missing)}")
    return chosen


def serialize(obj: models.Model, fields: list[models.Field], related_refs: dict) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for field in fields:
        if field.is_relation:
            target_id = getattr(obj, field.attname)
            if target_id is None:
                row[field.name] = None
            elif _is_user_fk(field):
                row[field.name] = STAFF
            else:
                row[field.name] = related_refs.get((field.related_model, target_id), target_id)
        else:
            row[field.name] = _plain(getattr(obj, field.attname))
    return row


def serialize_rows(queryset, fields: Iterable[str] | None = None, exclude: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Serialize every row of ``queryset``; foreign keys are resolved to references with one query
    per target model (not per row)."""
    model = queryset.model
    chosen = exportable_fields(model, fields, exclude)
    rows = list(queryset)
    related_refs: dict = {}
    for field in chosen:
        if not field.is_relation or _is_user_fk(field):
            continue
        target = field.related_model
        if not any(f.name == "reference" for f in target._meta.concrete_fields):
            continue
        ids = {getattr(r, field.attname) for r in rows} - {None}
        to_field = field.target_field.attname
        for key, ref in target._default_manager.filter(**{f"{to_field}__in": ids}).values_list(to_field, "reference"):
            related_refs[(target, key)] = ref
    return [serialize(r, chosen, related_refs) for r in rows]
