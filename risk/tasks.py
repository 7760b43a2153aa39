"""Celery tasks of the risk app: thin wrappers that parse a date and call the daily functions."""
from __future__ import annotations

import datetime as dt

from celery import shared_task

from core.business_date import get_business_date


@shared_task(name="risk.limit_reviews_run")
def limit_reviews_run_task(on: str | None = None) -> dict:
    from risk.daily import limit_reviews_run

    day = dt.date.fromisoformat(on) if on else get_business_date()
    return limit_reviews_run(on=day).as_dict()


@shared_task(name="risk.account_scores_refresh")
def account_scores_refresh_task(on: str | None = None) -> int:
    from risk.daily import account_scores_refresh

    day = dt.date.fromisoformat(on) if on else get_business_date()
    return account_scores_refresh(on=day)
