"""Scheduled housekeeping for the API."""
from __future__ import annotations

from celery import shared_task

from integrations.services import idempotency_records_purge


@shared_task(name="integrations.idempotency_records_purge")
def idempotency_records_purge_task() -> int:
    """Delete idempotency records past their retention (≥ 24 h). Safe to run twice."""
    return idempotency_records_purge()
