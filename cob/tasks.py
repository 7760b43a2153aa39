"""Celery tasks of close of business. They take ids or dates, re-fetch, call the services and are
safe to run twice (a chunk already done is skipped; a step or run already finished is left alone).
Only transient database errors (``OperationalError``: deadlock, serialization failure, lost
connection) are retried, with exponential backoff; anything else fails the chunk and stops the run
for staff to see and re-run."""
from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from cob import pipeline
from cob.models import CobRun
from cob.services import cob_chunk_execute, cob_chunk_fail
from core.business_date import get_business_date

logger = logging.getLogger(__name__)

CHUNK_SOFT_TIME_LIMIT = 10 * 60
CHUNK_TIME_LIMIT = 12 * 60
MAX_RETRIES = 5


def _backoff(retries: int) -> int:
    return min(2 ** retries, 60)


@shared_task(name="cob.chunk", bind=True, acks_late=True, max_retries=MAX_RETRIES,
             soft_time_limit=CHUNK_SOFT_TIME_LIMIT, time_limit=CHUNK_TIME_LIMIT)
def chunk_task(self, chunk_id: int) -> dict:
    """Execute one chunk of a step; the chunk that completes the step sends the run on."""
    try:
        outcome = cob_chunk_execute(chunk_id=chunk_id)
    except OperationalError as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
        cob_chunk_fail(chunk_id=chunk_id, exc=exc)
        raise
    except Exception as exc:
        cob_chunk_fail(chunk_id=chunk_id, exc=exc)
        raise
    pipeline.chunk_done(outcome)
    return {"chunk": chunk_id, "rows": outcome.rows, "already_done": outcome.already_done}


@shared_task(name="cob.advance", bind=True, acks_late=True, max_retries=MAX_RETRIES,
             soft_time_limit=5 * 60, time_limit=6 * 60)
def advance_task(self, run_id: int) -> str:
    """Begin the next step of a fan-out run and send its chunks out (or finish the run)."""
    try:
        return pipeline.advance(run_id)
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc


@shared_task(name="cob.close_of_business", bind=True, max_retries=MAX_RETRIES,
             soft_time_limit=2 * 60 * 60, time_limit=2 * 60 * 60 + 300)
def close_of_business_task(self) -> str:
    """The daily job (beat): close every business date before today's calendar date, then the
    business date stands at today. With the embedded broker (or eager tasks) the days run right
    here; with a real broker they are fanned out to the workers."""
    today = timezone.localdate()
    on = get_business_date()
    if on >= today:
        return f"nothing to close: business date {on} is not behind the calendar ({today})"
    through = today - dt.timedelta(days=1)
    try:
        if pipeline.runs_in_process():
            runs = pipeline.run_through(through, trigger=CobRun.Trigger.BEAT)
            return f"closed {len(runs)} day(s) in process through {through}"
        run = pipeline.dispatch(on, trigger=CobRun.Trigger.BEAT, through=through)
        return f"dispatched {run} through {through}"
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
