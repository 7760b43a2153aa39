"""Celery tasks of the staff app: they take ids, re-fetch, call a service, and are safe to run twice."""
from __future__ import annotations

import datetime as dt

from celery import shared_task


@shared_task(name="staff.import_job_run", acks_late=True, soft_time_limit=55 * 60, time_limit=60 * 60)
def import_job_run(job_id: int, phase: str) -> str:
    from staff.services import import_job_run as run

    job = run(job_id=job_id, phase=phase)
    return job.status if job else "skipped"


@shared_task(name="staff.portfolio_snapshot_take")
def portfolio_snapshot_take(on: str | None = None) -> int:
    """Snapshot the portfolio for ``on`` (ISO date; default: the business date)."""
    from core.business_date import get_business_date
    from staff.services import portfolio_snapshot_take as take

    return take(on=dt.date.fromisoformat(on) if on else get_business_date())
