"""Running close of business: in this process, or fanned out to Celery workers.

Both drivers are loops over the same services (:mod:`cob.services`), so a run started one way can be
resumed the other way and the rows are the same:

- :func:`run_in_process` executes the steps in order, each chunk in its own transaction. Used by the
  ``cob`` command, by the embedded development set-up (filesystem broker) and with
  ``CELERY_TASK_ALWAYS_EAGER``.
- :func:`dispatch` starts a fan-out run: :func:`advance` (task ``cob.advance``) begins the next step
  and sends its chunks to the workers as a Celery ``group``; the chunk that completes a step (a row
  lock on the step orders them) sends ``cob.advance`` again. No result backend (chord) is needed: the
  barrier between steps is the step row in the database. A message lost on the way (a worker killed
  between its commit and the next send) leaves the run waiting; dispatching the date again — the
  ``cob`` command, the admin's re-run or the next beat — resumes it from the rows.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import OperationalError, close_old_connections, transaction

from cob.models import CobChunk, CobRun, CobStepRun, RunState
from cob.services import (
    ChunkOutcome,
    CobStepFailed,
    cob_chunk_execute,
    cob_chunk_fail,
    cob_run_finish,
    cob_run_open,
    cob_run_start,
    cob_step_start,
)
from core.business_date import get_business_date
from core.errors import BusinessRuleError

logger = logging.getLogger(__name__)

#: Transient database errors (deadlock, serialization failure, lost connection, SQLite busy) are
#: retried this many times, waiting 0.5 s, 1 s, 2 s, … in between.
TRANSIENT_RETRIES = 4
BACKOFF_SECONDS = 0.5


@dataclass(frozen=True)
class Progress:
    run: CobRun
    step: CobStepRun
    outcome: ChunkOutcome
    chunks_done: int
    chunks_total: int


ProgressFn = Callable[[Progress], None]


def runs_in_process() -> bool:
    """True when no real broker is configured (the embedded filesystem broker) or tasks run eagerly."""
    return bool(getattr(settings, "CELERY_BROKER_IS_EMBEDDED", True) or getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False))


def execute_chunk(chunk_id: int) -> ChunkOutcome:
    """One chunk, retrying transient database errors with backoff; any other error (or the last
    transient one) fails the chunk, its step and its run, and raises :class:`CobStepFailed`."""
    for attempt in range(TRANSIENT_RETRIES + 1):
        try:
            return cob_chunk_execute(chunk_id=chunk_id)
        except OperationalError as exc:
            if attempt == TRANSIENT_RETRIES or transaction.get_connection().in_atomic_block:
                # Inside an outer transaction (a test) a retry cannot start afresh.
                cob_chunk_fail(chunk_id=chunk_id, exc=exc)
                raise CobStepFailed(f"Chunk {chunk_id} failed: {exc}", code="cob_step_failed") from exc
            logger.warning("cob chunk %s: transient error %s, retry %s", chunk_id, exc, attempt + 1)
            close_old_connections()
            time.sleep(BACKOFF_SECONDS * 2**attempt)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the run, then re-raised
            cob_chunk_fail(chunk_id=chunk_id, exc=exc)
            raise CobStepFailed(f"Chunk {chunk_id} failed: {type(exc).__name__}: {exc}") from exc
    raise AssertionError("unreachable")


def run_in_process(run: CobRun, *, progress: ProgressFn | None = None) -> CobRun:
    """Execute (or resume) ``run`` here: each unfinished step in order, each of its chunks not done.

    Raises :class:`CobStepFailed` when a chunk fails (the run is then recorded as failed)."""
    cob_run_start(run=run)
    pending: dict[int, list[int]] = {}
    for step_id, chunk_id in CobChunk.objects.filter(step__run=run).exclude(state=RunState.DONE).order_by(
        "step__position", "seq"
    ).values_list("step_id", "pk"):
        pending.setdefault(step_id, []).append(chunk_id)
    for step_run in run.steps.order_by("position"):
        if step_run.state == RunState.DONE:
            continue
        chunk_ids = pending.get(step_run.pk, [])
        done = step_run.chunks_total - len(chunk_ids)
        for chunk_id in chunk_ids:
            outcome = execute_chunk(chunk_id)
            done += 1
            if progress is not None:
                progress(Progress(run, step_run, outcome, done, step_run.chunks_total))
    cob_run_finish(run_id=run.pk)
    run.refresh_from_db()
    if run.state != RunState.DONE:  # another process failed it while this one ran
        raise CobStepFailed(f"{run} did not finish: {run.error or 'a chunk was left to a re-run'}")
    return run


def run_date(
    on: dt.date,
    *,
    trigger: str = CobRun.Trigger.COMMAND,
    chunk_size: int | None = None,
    force: bool = False,
    user=None,
    progress: ProgressFn | None = None,
) -> CobRun:
    """Open (or resume) the run of ``on`` and execute it in this process."""
    run = cob_run_open(on=on, trigger=trigger, chunk_size=chunk_size, force=force, user=user)
    return run_in_process(run, progress=progress)


def run_through(
    until: dt.date,
    *,
    trigger: str = CobRun.Trigger.COMMAND,
    chunk_size: int | None = None,
    user=None,
    progress: ProgressFn | None = None,
    on_run: Callable[[CobRun], None] | None = None,
) -> list[CobRun]:
    """Close every business date from today's through ``until``, in order (time travel)."""
    runs = []
    while (on := get_business_date()) <= until:
        run = run_date(on, trigger=trigger, chunk_size=chunk_size, user=user, progress=progress)
        runs.append(run)
        if on_run is not None:
            on_run(run)
    return runs


# --- Fan-out ---------------------------------------------------------------------------------------


def dispatch(
    on: dt.date,
    *,
    trigger: str = CobRun.Trigger.COMMAND,
    chunk_size: int | None = None,
    queue: str = "",
    through: dt.date | None = None,
    force: bool = False,
    user=None,
) -> CobRun:
    """Open (or resume) the run of ``on`` as a fan-out run and hand it to the workers.

    With ``through`` the last chunk of each day starts the next day until the business date passes it."""
    run = cob_run_open(on=on, trigger=trigger, mode=CobRun.Mode.FAN_OUT, chunk_size=chunk_size, queue=queue,
                       through=through, force=force, user=user)
    _send_advance(run)
    return run


def _send_advance(run: CobRun) -> None:
    from cob.tasks import advance_task

    transaction.on_commit(lambda: advance_task.apply_async((run.pk,), queue=run.queue or None))


def advance(run_id: int) -> str:
    """Begin the run's next step and send its pending chunks out as a group (task ``cob.advance``).

    Safe to run twice: a second call re-sends the pending chunks, which a worker then finds done."""
    from celery import group

    from cob.tasks import chunk_task

    run = CobRun.objects.get(pk=run_id)
    if run.state == RunState.FAILED:
        return "failed"
    if run.state == RunState.DONE:
        return "done"
    step_id = run.steps.exclude(state=RunState.DONE).order_by("position").values_list(
        "pk", flat=True
    ).first()
    if step_id is None:
        if cob_run_finish(run_id=run.pk):
            run.refresh_from_db()
            _chain_next(run)
        return "finished"
    try:
        cob_run_start(run=run)
    except BusinessRuleError as exc:  # a late message for a date the business date has moved past
        logger.warning("cob.advance %s refused: %s", run, exc.message)
        return f"refused: {exc.message}"
    cob_step_start(step_id=step_id)
    pending = list(CobChunk.objects.filter(step_id=step_id).exclude(state=RunState.DONE).order_by("seq").values_list(
        "pk", flat=True))
    if not pending:  # every chunk done, the step not yet marked (cannot happen: the last chunk marks it)
        raise CobStepFailed(f"Step {step_id} of {run} has no chunk left to run but is not done.", code="cob_step_stuck")
    tasks = group(chunk_task.si(chunk_id).set(queue=run.queue or None) for chunk_id in pending)
    transaction.on_commit(lambda: tasks.apply_async(queue=run.queue or None))
    return f"step {step_id}: {len(pending)} chunks sent"


def _chain_next(run: CobRun) -> None:
    if run.through is None:
        return
    on = get_business_date()
    if on > run.through:
        return
    dispatch(on, trigger=run.trigger, chunk_size=run.chunk_size, queue=run.queue, through=run.through,
             user=run.requested_by)


def chunk_done(outcome: ChunkOutcome) -> None:
    """After a chunk on a worker: the chunk that completed the step sends the run on."""
    if outcome.completed_step:
        _send_advance(CobRun.objects.get(pk=outcome.run_id))
