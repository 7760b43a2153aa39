"""Close-of-business runs: one row per business date and attempt, one per step, one per chunk.

The chunk rows are what makes a crashed run resumable: a chunk's work and its ``done`` mark commit in
one transaction, so after a crash exactly the chunks without the mark run again.
"""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class RunState(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class CobRun(models.Model):
    """The close of business of one business date (one row per attempt)."""

    class Mode(models.TextChoices):
        IN_PROCESS = "in_process", _("In process")
        FAN_OUT = "fan_out", _("Celery fan-out")

    class Trigger(models.TextChoices):
        COMMAND = "command", _("Command")
        BEAT = "beat", _("Schedule (beat)")
        ADMIN = "admin", _("Admin re-run")
        API = "api", _("Other")

    business_date = models.DateField(db_index=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.PENDING)
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.IN_PROCESS)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.COMMAND)
    chunk_size = models.PositiveIntegerField()
    queue = models.CharField(max_length=100, blank=True, help_text=_("Celery queue of a fan-out run."))
    through = models.DateField(
        null=True, blank=True, help_text=_("A fan-out run chains the next date until the business date passes this.")
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    advanced_to = models.DateField(null=True, blank=True, help_text=_("The business date set when the run finished."))
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-business_date", "-attempt"]
        verbose_name = _("close-of-business run")
        permissions = [("rerun_cobrun", "Can re-run close of business for a date")]
        constraints = [
            models.UniqueConstraint(fields=["business_date", "attempt"], name="cob_run_date_attempt_unique"),
            # At most one unfinished (pending/running/failed) run per date: a resume continues it.
            models.UniqueConstraint(
                fields=["business_date"], condition=~Q(state="done"), name="cob_one_open_run_per_date"
            ),
            models.CheckConstraint(condition=Q(attempt__gte=1), name="cob_run_attempt_gte_1"),
            models.CheckConstraint(condition=Q(chunk_size__gte=1), name="cob_run_chunk_size_gte_1"),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=F("started_at")),
                name="cob_run_finished_after_started",
            ),
        ]

    def __str__(self) -> str:
        return f"COB {self.business_date:%Y-%m-%d} #{self.attempt} ({self.state})"

    @property
    def duration(self) -> dt.timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class CobStepRun(models.Model):
    """One step of a run: state, rows changed, chunks done, wall-clock duration and the error."""

    run = models.ForeignKey(CobRun, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=80)
    slot = models.CharField(max_length=40)
    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.PENDING)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    rows = models.BigIntegerField(default=0, help_text=_("Rows the step changed (sum over its chunks)."))
    work_seconds = models.FloatField(default=0, help_text=_("Sum of the chunks' durations (all workers)."))
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "position"]
        verbose_name = _("close-of-business step")
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="cob_step_position_unique"),
            models.UniqueConstraint(fields=["run", "name"], name="cob_step_name_unique"),
            models.CheckConstraint(condition=Q(chunks_done__lte=F("chunks_total")), name="cob_step_chunks_done_lte_total"),
            models.CheckConstraint(condition=Q(rows__gte=0), name="cob_step_rows_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.run.business_date:%Y-%m-%d} {self.name} ({self.state})"

    @property
    def duration(self) -> dt.timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class CobChunk(models.Model):
    """A range of account pks ``[lo, hi)`` of one step (both null: the step runs once, unchunked)."""

    step = models.ForeignKey(CobStepRun, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    lo = models.BigIntegerField(null=True, blank=True)
    hi = models.BigIntegerField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.PENDING)
    rows = models.BigIntegerField(default=0)
    seconds = models.FloatField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["step", "seq"]
        verbose_name = _("close-of-business chunk")
        constraints = [
            models.UniqueConstraint(fields=["step", "seq"], name="cob_chunk_seq_unique"),
            models.CheckConstraint(
                condition=(Q(lo__isnull=True) & Q(hi__isnull=True)) | Q(hi__gt=F("lo")), name="cob_chunk_range"
            ),
            models.CheckConstraint(condition=Q(rows__gte=0), name="cob_chunk_rows_gte_0"),
        ]

    def __str__(self) -> str:
        span = "all accounts" if self.lo is None else f"accounts {self.lo}–{self.hi - 1}"
        return f"chunk {self.seq} ({span})"

    @property
    def account_ids(self) -> range | None:
        return None if self.lo is None else range(self.lo, self.hi)
