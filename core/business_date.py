"""The business date: read by every service and job instead of ``date.today()``."""
from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from core.models import BusinessDate


def get_business_date() -> dt.date:
    row = BusinessDate.objects.filter(singleton=1).values_list("date", flat=True).first()
    if row is None:
        row = BusinessDate.objects.get_or_create(singleton=1, defaults={"date": timezone.localdate()})[0].date
    return row


@transaction.atomic
def set_business_date(date: dt.date) -> dt.date:
    BusinessDate.objects.update_or_create(singleton=1, defaults={"date": date})
    return date


def now_local() -> dt.datetime:
    """The wall-clock time in Asia/Shanghai (for quiet hours and contact rules)."""
    return timezone.localtime()
