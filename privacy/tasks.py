"""Scheduled privacy work."""
from celery import shared_task

from core.business_date import get_business_date
from privacy.services import restrictions_release_expired


@shared_task(name="privacy.release_expired_restrictions")
def release_expired_restrictions(business_date: str | None = None) -> int:
    """Anonymise customers whose legal retention has ended (idempotent for a date)."""
    import datetime as dt

    on = dt.date.fromisoformat(business_date) if business_date else get_business_date()
    return restrictions_release_expired(on=on)
