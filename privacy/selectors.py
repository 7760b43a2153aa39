"""Reads: the policy, retention duties, the personal-data export, requests due."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from core.business_date import get_business_date
from privacy.export import serialize_rows
from privacy.models import DataSubjectRequest, PrivacyPolicy, ProcessingRestriction
from privacy.registry import RetentionDuty, get_providers

EXPORT_FORMAT = "credit-backoffice/personal-data-export"
EXPORT_FORMAT_VERSION = 1


def privacy_policy() -> PrivacyPolicy:
    return PrivacyPolicy.objects.get_or_create(singleton=1)[0]


def customer_retention_duties(*, customer, on: dt.date | None = None) -> list[RetentionDuty]:
    """Every legal duty, from every registered app, to keep some of ``customer``'s records."""
    on = on or get_business_date()
    policy = privacy_policy()
    duties: list[RetentionDuty] = []
    for provider in get_providers():
        if provider.retention is not None:
            duties.extend(provider.retention(customer, on=on, policy=policy))
    return duties


def active_retention_duties(*, customer, on: dt.date | None = None) -> list[RetentionDuty]:
    on = on or get_business_date()
    return [d for d in customer_retention_duties(customer=customer, on=on) if d.active_on(on)]


def customer_export(*, customer) -> dict[str, Any]:
    """One complete, machine-readable document of everything held about ``customer``: a record set
    per kind of record from every registered app (empty sets are listed too, so a reader can tell
    "none" from "not looked at")."""
    records: dict[str, list[dict[str, Any]]] = {}
    record_types: dict[str, dict[str, str]] = {}
    for provider in get_providers():
        for record_set in provider.records:
            rows = serialize_rows(record_set.rows(customer), fields=record_set.fields, exclude=record_set.exclude)
            records[record_set.name] = rows
            record_types[record_set.name] = {
                "source": provider.label,
                "model": record_set.get_model()._meta.label,
                "description": record_set.description,
            }
    on = get_business_date()
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "generated_at": timezone.now().isoformat(),
        "business_date": on.isoformat(),
        "subject": {"reference": customer.reference},
        "record_counts": {name: len(rows) for name, rows in records.items()},
        "record_types": record_types,
        "records": records,
        "retention": [d.as_dict() for d in customer_retention_duties(customer=customer, on=on)],
    }


def export_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False).encode("utf-8")


def export_digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def data_requests_open() -> QuerySet[DataSubjectRequest]:
    return DataSubjectRequest.objects.filter(status__in=DataSubjectRequest.OPEN_STATUSES)


def data_requests_overdue(*, on: dt.date | None = None) -> QuerySet[DataSubjectRequest]:
    on = on or get_business_date()
    return data_requests_open().filter(deadline__lt=on)


def active_restriction(*, customer) -> ProcessingRestriction | None:
    return ProcessingRestriction.objects.filter(customer=customer, released_at__isnull=True).first()


def customer_may_process(*, customer, purpose: str) -> bool:
    """May ``customer``'s data be used for ``purpose`` (a ``Consent.Kind``)? Not once processing
    is restricted or the customer anonymised; otherwise the latest consent decides."""
    from accounts.selectors import customer_has_consent

    if customer.processing_restricted or customer.anonymised_at is not None:
        return False
    return customer_has_consent(customer=customer, kind=purpose)
