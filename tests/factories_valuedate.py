"""Helpers of the value-date scenarios (issue 13): dates as text, close of business through a day."""
from __future__ import annotations

import datetime as dt
import io

from django.core.management import call_command

from accounts.models import CreditAccount


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def cob_through(until: str) -> None:
    """``manage.py cob --through``: every step of the day, collections included."""
    call_command("cob", through=until, no_progress=True, stdout=io.StringIO())


def engine_through(until: str) -> None:
    """The credit engine's steps only (no collections): enough where no case or reminder is looked at."""
    from installments.daily import run_through

    run_through(day(until))


def fresh(account) -> CreditAccount:
    return CreditAccount.objects.get(pk=account.pk)
