"""Writes of close of business: open a run (its steps and their chunks planned at once), start a step,
execute a chunk, finish the run (and advance the business date), record a failure, re-run a failed run.

Every function is safe to call twice and from several processes at once: the state lives in the
database and each transition takes a row lock (chunk → step → run → business date, always in that
order). The in-process runner and the Celery tasks (:mod:`cob.pipeline`, :mod:`cob.tasks`) are both
thin loops over these functions, so the two modes write the same rows.
"""
from __future__ import annotations

import datetime as dt
import time
import traceback
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Max, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import CreditAccount
from cob.models import CobChunk, CobRun, CobStepRun, RunState
from cob.registry import registry
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import BusinessRuleError, ConflictError, NotFoundError
from core.models import BusinessDate

DEFAULT_CHUNK_SIZE = 10_000
ERROR_MAX_CHARS = 4_000


class CobStepFailed(BusinessRuleError):
    """A step's chunk raised: the run is marked failed and stops; running the date again resumes it."""

    code = "cob_step_failed"


def chunk_size_default() -> int:
    return int(getattr(settings, "COB_CHUNK_SIZE", DEFAULT_CHUNK_SIZE))


@dataclass(frozen=True)
class ChunkOutcome:
    chunk_id: int
    step_id: int
    run_id: int
    rows: int
    seconds: float
    already_done: bool
    completed_step: bool
    skipped: bool = False


# --- Opening a run ---------------------------------------------------------------------------------


def _chunk_bounds(size: int) -> list[tuple[int, int]]:
    """Ranges ``[lo, hi)`` of account pks holding ``size`` accounts each (the last one the rest), so
    gaps in the pks never make a chunk bigger than ``size``."""
    table = connection.ops.quote_name(CreditAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn FROM {table}) AS numbered "
            f"WHERE (rn - 1) %% %s = 0 ORDER BY id",
            [size],
        )
        starts = [row[0] for row in cursor.fetchall()]
    if not starts:
        return []
    stop = CreditAccount.objects.order_by("-pk").values_list("pk", flat=True).first() + 1
    return list(zip(starts, [*starts[1:], stop]))


def _reopen(run: CobRun) -> None:
    """A failed run becomes resumable: failed chunks go back to pending, failed steps to running;
    the chunks already done stay done."""
    failed_steps = list(run.steps.filter(state=RunState.FAILED).values_list("pk", flat=True))
    CobChunk.objects.filter(step_id__in=failed_steps, state=RunState.FAILED).update(state=RunState.PENDING)
    CobStepRun.objects.filter(pk__in=failed_steps).update(state=RunState.RUNNING, error="")
    run.state, run.error = RunState.PENDING, ""
    run.save(update_fields=["state", "error"])


def _plan(run: CobRun) -> None:
    """The run's steps (the registry's, in order, those due on the date) and their chunks. The
    account ranges are fixed now: an account opened while the run is under way is closed from the
    next day on (it owes nothing yet)."""
    steps = registry.steps_for(run.business_date)
    bounds = _chunk_bounds(run.chunk_size) if any(step.chunked for step in steps) else []
    now = timezone.now()
    rows = []
    for position, step in enumerate(steps, start=1):
        chunks = bounds if step.chunked else [(None, None)]
        empty = not chunks
        rows.append(CobStepRun(
            run=run, position=position, name=step.name, slot=step.slot, chunks_total=len(chunks),
            state=RunState.DONE if empty else RunState.PENDING,
            started_at=now if empty else None, finished_at=now if empty else None,
        ))
    step_rows = CobStepRun.objects.bulk_create(rows)
    CobChunk.objects.bulk_create(
        CobChunk(step=step_row, seq=seq, lo=lo, hi=hi)
        for step_row, step in zip(step_rows, steps)
        for seq, (lo, hi) in enumerate(bounds if step.chunked else [(None, None)], start=1)
    )


def latest_closed_date() -> dt.date | None:
    """The last business date whose close of business finished (``None`` before the first run)."""
    return CobRun.objects.filter(state=RunState.DONE).aggregate(d=Max("business_date"))["d"]


def cob_rerun_check(*, on: dt.date, business_date: dt.date | None = None) -> None:
    """Refuse to (re-)run a date before the business date unless it is the latest closed date.

    Every day's close of business starts from the state the day before left; running an earlier day
    again at a later business date would judge today's balances as of that day (DPD going back,
    limit reviews dated in the past made from later data). Only the latest closed date — the day
    before the business date — may run again (forced), and, its steps being idempotent, that re-run
    changes nothing. The business date itself is the normal run — unless later days were closed already
    (the business date was set back by hand)."""
    business_date = business_date or get_business_date()
    latest = latest_closed_date()
    if latest is None or latest <= on:
        if on >= business_date or (on == business_date - dt.timedelta(days=1) and latest == on):
            return
    closed = CobRun.objects.filter(business_date=on, state=RunState.DONE).exists()
    if closed:
        what = "was closed"
    elif latest is not None and latest > on:
        what = f"comes before the latest closed date ({latest:%Y-%m-%d})"
    else:
        what = "is in the past"
    can = (f" Only the latest closed date ({latest:%Y-%m-%d}) can be re-run, and that changes nothing."
           if latest is not None and latest == business_date - dt.timedelta(days=1) else "")
    raise BusinessRuleError(
        f"The business date is {business_date:%Y-%m-%d}; {on:%Y-%m-%d} {what} and later days depend on it: "
        f"it cannot be run again.{can}",
        code="cob_earlier_date",
        details={"business_date": str(business_date), "date": str(on),
                 "latest_closed_date": str(latest) if latest else None},
    )


def cob_posted_since_check(*, on: dt.date) -> None:
    """PRODUCT §11/§13 (issue 24): a forced re-run of a closed date is refused once anything was posted
    after that close — money (a journal entry of a later business date) or a change to an account's
    limit or status. Its steps would judge that later state as of the closed day (a payment of the next
    day curing the account, lifting the freeze and closing the case dated the day before it arrived);
    the change is judged by the next day's close instead, dated by the day it happened."""
    from accounts.models import LimitChange, StatusChange
    from ledger.models import JournalEntry

    closed_at = (CobRun.objects.filter(business_date=on, state=RunState.DONE).order_by("-finished_at")
                 .values_list("finished_at", flat=True).first())
    posted = JournalEntry.objects.filter(posted_on__gt=on).order_by("pk").first()
    what = f"journal entry {posted.pk} ({posted.get_kind_display()}, {posted.posted_on:%Y-%m-%d})" if posted else ""
    if not posted and closed_at is not None:
        for model, label in ((StatusChange, "a status change"), (LimitChange, "a limit change")):
            row = model.objects.filter(created_at__gt=closed_at).order_by("pk").first()
            if row is not None:
                what = f"{label} of account {row.account_id}"
                break
    if what:
        raise BusinessRuleError(
            f"Close of business for {on:%Y-%m-%d} cannot be re-run: {what} was posted after it closed, and a "
            "re-run would judge it as of that day. The next close judges it.",
            code="cob_posted_since_close", details={"date": str(on), "posted": what},
        )


def cob_run_open(
    *,
    on: dt.date,
    trigger: str = CobRun.Trigger.COMMAND,
    mode: str = CobRun.Mode.IN_PROCESS,
    chunk_size: int | None = None,
    queue: str = "",
    through: dt.date | None = None,
    user=None,
    force: bool = False,
) -> CobRun:
    """The run to execute for ``on``: the unfinished one if there is one (a resume — a failed run is
    reopened), else a new attempt with its steps and chunks planned.

    Refused: a date after the business date (days close in order — use ``through``), a date before
    the latest closed one (:func:`cob_rerun_check`: later days depend on it), and the latest closed
    date unless ``force`` (a forced re-run executes every step again; the steps being idempotent, it
    changes nothing and its counts show 0)."""
    business_date = get_business_date()
    if on > business_date:
        raise BusinessRuleError(
            f"The business date is {business_date:%Y-%m-%d}; {on:%Y-%m-%d} cannot close before it. "
            "Close the days in between first (cob --through).",
            code="cob_future_date", details={"business_date": str(business_date), "date": str(on)},
        )
    chunk_size = int(chunk_size or chunk_size_default())
    cob_rerun_check(on=on, business_date=business_date)
    if chunk_size < 1:
        raise BusinessRuleError("The chunk size must be at least 1.", code="cob_chunk_size")
    for _ in range(3):
        try:
            with transaction.atomic():
                open_run = CobRun.objects.select_for_update().filter(business_date=on).exclude(state=RunState.DONE).first()
                if open_run is not None:
                    if open_run.state == RunState.FAILED:
                        _reopen(open_run)
                    wanted = {"mode": mode, "queue": queue, "through": through}
                    changed = [attr for attr, value in wanted.items() if getattr(open_run, attr) != value]
                    for attr in changed:
                        setattr(open_run, attr, wanted[attr])
                    if changed:
                        open_run.save(update_fields=changed)
                    return open_run
                last = CobRun.objects.filter(business_date=on).aggregate(n=Max("attempt"))["n"] or 0
                if last and not force:
                    raise ConflictError(
                        f"Close of business for {on:%Y-%m-%d} is already done; re-run it with force.",
                        code="cob_already_done", details={"date": str(on)},
                    )
                if last:
                    cob_posted_since_check(on=on)
                run = CobRun.objects.create(
                    business_date=on, attempt=last + 1, mode=mode, trigger=trigger, chunk_size=chunk_size,
                    queue=queue, through=through, requested_by=user,
                )
                _plan(run)
                return run
        except IntegrityError:  # another process opened the same date at the same moment: take theirs
            continue
    raise ConflictError(f"Could not open close of business for {on:%Y-%m-%d}.", code="cob_open_conflict")


# --- Steps and chunks -----------------------------------------------------------------------------


def cob_run_start(*, run: CobRun) -> None:
    """Mark the run running (when a runner picks it up); its start time is kept across resumes.

    A run of a date that may no longer run (opened before the business date moved past it, then
    picked up by a late Celery message) is refused here too (:func:`cob_rerun_check`)."""
    cob_rerun_check(on=run.business_date)
    CobRun.objects.filter(pk=run.pk).exclude(state=RunState.RUNNING).update(
        state=RunState.RUNNING, started_at=Coalesce(F("started_at"), timezone.now())
    )


def cob_step_start(*, step_id: int) -> None:
    """Mark a step running before its chunks go out to the workers (in process, its first chunk does
    it); a no-op for a step already started."""
    CobStepRun.objects.filter(pk=step_id, state=RunState.PENDING).update(state=RunState.RUNNING, started_at=timezone.now())


def cob_chunk_execute(*, chunk_id: int) -> ChunkOutcome:
    """Run one chunk of a step. Its work, its ``done`` mark and the step's counters commit together,
    and the chunk that completes the step marks it done (the step row lock orders them), so after a
    crash exactly the chunks without the mark run again.

    A chunk already done is not run again (a duplicate Celery delivery, a resumed run). Exceptions
    propagate with the transaction rolled back; the caller retries transient ones or records the
    failure with :func:`cob_chunk_fail`."""
    with transaction.atomic():
        chunk = CobChunk.objects.select_for_update(of=("self",)).select_related("step__run").get(pk=chunk_id)
        step_run, run = chunk.step, chunk.step.run
        if chunk.state == RunState.DONE:
            return ChunkOutcome(chunk.pk, step_run.pk, run.pk, chunk.rows, chunk.seconds, already_done=True,
                                completed_step=False)
        if run.state == RunState.FAILED:  # the run stopped (another chunk failed): this one waits for the re-run
            return ChunkOutcome(chunk.pk, step_run.pk, run.pk, 0, 0.0, already_done=False, completed_step=False,
                                skipped=True)
        step = registry.get(step_run.name)
        if step is None:
            raise CobStepFailed(f"Step {step_run.name!r} is not registered in this process.", code="cob_step_unknown")
        started_at, started = timezone.now(), time.perf_counter()
        rows = step(on=run.business_date, account_ids=chunk.account_ids)
        if rows < 0:
            raise CobStepFailed(f"Step {step.name!r} returned a negative count ({rows}).", code="cob_step_count")
        seconds = time.perf_counter() - started
        now = timezone.now()
        CobChunk.objects.filter(pk=chunk.pk).update(
            state=RunState.DONE, rows=rows, seconds=seconds, attempts=F("attempts") + 1, finished_at=now, error="",
        )
        CobStepRun.objects.filter(pk=step_run.pk).update(
            chunks_done=F("chunks_done") + 1, rows=F("rows") + rows, work_seconds=F("work_seconds") + seconds,
            started_at=Coalesce(F("started_at"), started_at),
            state=Case(When(state=RunState.PENDING, then=Value(RunState.RUNNING)), default=F("state")),
        )
        completed = CobStepRun.objects.filter(pk=step_run.pk, chunks_done=F("chunks_total")).exclude(
            state=RunState.DONE
        ).update(state=RunState.DONE, finished_at=now)
    return ChunkOutcome(chunk.pk, step_run.pk, run.pk, rows, seconds, already_done=False,
                        completed_step=bool(completed))


def _describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return text[-ERROR_MAX_CHARS:]


@transaction.atomic
def cob_chunk_fail(*, chunk_id: int, exc: BaseException) -> None:
    """Record a chunk's failure; its step and run are failed too (the run stops until re-run)."""
    chunk = CobChunk.objects.select_for_update(of=("self",)).get(pk=chunk_id)
    if chunk.state == RunState.DONE:
        return
    summary = f"{type(exc).__name__}: {exc}"[:500]
    chunk.state, chunk.error, chunk.attempts = RunState.FAILED, _describe(exc), chunk.attempts + 1
    chunk.save(update_fields=["state", "error", "attempts"])
    step_run = CobStepRun.objects.select_for_update().get(pk=chunk.step_id)
    step_run.state = RunState.FAILED
    step_run.error = f"{chunk}: {summary}"
    step_run.save(update_fields=["state", "error"])
    run = CobRun.objects.select_for_update().get(pk=step_run.run_id)
    run.state = RunState.FAILED
    run.error = f"step {step_run.name}, {chunk}: {summary}"
    run.save(update_fields=["state", "error"])


@transaction.atomic
def cob_run_finish(*, run_id: int) -> bool:
    """Mark the run done when every step is, and advance the business date past it (only if it is
    still that date: a forced re-run of an earlier date leaves it alone). True for the call that did it."""
    run = CobRun.objects.select_for_update().get(pk=run_id)
    if run.state == RunState.DONE:
        return False
    if run.steps.exclude(state=RunState.DONE).exists():
        return False
    now = timezone.now()
    business = BusinessDate.objects.select_for_update().filter(singleton=1).first()
    if business is not None and business.date == run.business_date:
        business.date = run.business_date + dt.timedelta(days=1)
        business.save(update_fields=["date", "updated_at"])
        run.advanced_to = business.date
    run.state = RunState.DONE
    run.started_at = run.started_at or now
    run.finished_at = now
    run.error = ""
    run.save(update_fields=["state", "started_at", "finished_at", "advanced_to", "error"])
    return True


@transaction.atomic
def cob_run_retry(*, run: CobRun, actor: Actor, reason: str = "re-run of a failed close of business") -> CobRun:
    """Staff re-run of a failed date (audited): the run is reopened (:func:`_reopen`) and the caller
    executes it, in process or fanned out. Running ``cob`` again for the date does the same."""
    run = CobRun.objects.select_for_update().filter(pk=run.pk).first()
    if run is None:
        raise NotFoundError("No such close-of-business run.", code="cob_run_not_found")
    if run.state != RunState.FAILED:
        raise BusinessRuleError(f"{run} has not failed; only a failed run is re-run.", code="cob_run_not_failed")
    cob_rerun_check(on=run.business_date)
    old_error = run.error
    _reopen(run)
    audit_record(actor=actor, action="cob_rerun", obj=run, reason=reason, old={"error": old_error[:500]},
                 new={"state": run.state})
    return run
