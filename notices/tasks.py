"""Celery tasks of customer notices."""
from __future__ import annotations

from celery import shared_task

from notices import services


@shared_task(name="notices.send_due", soft_time_limit=240, time_limit=300)
def send_due() -> dict[str, int]:
    """Every few minutes (beat): notices whose time has come (held overnight until 08:00, or waiting
    for a retry) go out through the reminder gateway."""
    return services.notices_send_due()
