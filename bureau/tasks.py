"""Celery tasks of credit-bureau reporting."""
from __future__ import annotations

from celery import shared_task

from bureau import services


@shared_task(name="bureau.send_due_notices", soft_time_limit=240, time_limit=300)
def send_due_notices() -> dict[str, int]:
    """Every few minutes (beat): pre-notices whose time has come (held overnight until 08:00, or
    waiting for a retry) go out through the reminder gateway."""
    return services.bureau_notices_send_due()
