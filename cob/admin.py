"""Close-of-business runs for staff: read-only, with an action to re-run a failed date."""
from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from cob import pipeline
from cob.models import CobChunk, CobRun, CobStepRun, RunState
from cob.selectors import cob_run_list
from cob.services import cob_run_retry
from core.actors import Actor
from core.admin_utils import ReadOnlyAdmin, ReadOnlyInline, ReasonForm, badge, form_action
from core.errors import ApplicationError
from django.utils.translation import gettext_lazy as _

STATE_COLOURS = {RunState.DONE: "paid", RunState.FAILED: "overdue", RunState.RUNNING: "open",
                 RunState.PENDING: "held"}


def _state(obj) -> str:
    return badge(STATE_COLOURS.get(obj.state, obj.state), obj.get_state_display())


def _seconds(td) -> str:
    return "—" if td is None else f"{td.total_seconds():.2f} s"


class StepInline(ReadOnlyInline):
    model = CobStepRun
    show_change_link = True
    fields = ("position", "name", "state_badge", "chunks", "rows", "duration_display", "work_display", "error_short")
    readonly_fields = fields

    @admin.display(description=_("state"))
    def state_badge(self, obj):
        return _state(obj)

    @admin.display(description=_("chunks"))
    def chunks(self, obj):
        return f"{obj.chunks_done}/{obj.chunks_total}"

    @admin.display(description=_("duration"))
    def duration_display(self, obj):
        return _seconds(obj.duration)

    @admin.display(description=_("work (all workers)"))
    def work_display(self, obj):
        return f"{obj.work_seconds:.2f} s"

    @admin.display(description=_("error"))
    def error_short(self, obj):
        return obj.error[:300]


@admin.register(CobRun)
class CobRunAdmin(ReadOnlyAdmin):
    list_display = ("business_date", "attempt", "state_badge", "mode", "trigger", "steps_display", "rows_display",
                    "started_at", "duration_display", "advanced_to", "error_short")
    list_filter = ("state", "mode", "trigger")
    date_hierarchy = "business_date"
    search_fields = ("business_date", "error")
    list_select_related = ("requested_by",)
    inlines = [StepInline]
    actions = ["rerun_failed"]
    fields = ("business_date", "attempt", "state", "mode", "trigger", "chunk_size", "queue", "through",
              "requested_by", "started_at", "finished_at", "duration_display", "advanced_to", "error", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return cob_run_list()

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, obj):
        return _state(obj)

    @admin.display(description=_("steps done"))
    def steps_display(self, obj):
        return f"{obj.steps_done}/{obj.steps_total}"

    @admin.display(description=_("rows changed"))
    def rows_display(self, obj):
        return f"{obj.rows_total or 0:,}"

    @admin.display(description=_("duration"))
    def duration_display(self, obj):
        return _seconds(obj.duration)

    @admin.display(description=_("error"))
    def error_short(self, obj):
        return obj.error[:120]

    def has_rerun_permission(self, request):
        return request.user.has_perm("cob.rerun_cobrun")

    @form_action(ReasonForm, description=_("Re-run the selected failed dates"), permissions=["rerun"],
                 submit_label=_("Re-run"))
    def rerun_failed(self, request, run, data):
        run = cob_run_retry(run=run, actor=Actor.staff(request.user), reason=data["reason"])
        if pipeline.runs_in_process():
            try:
                run = pipeline.run_in_process(run)
            except ApplicationError as exc:
                self.message_user(request, f"{run}: failed again — {exc.message}", messages.ERROR)
                return
            self.message_user(request, f"{run} finished; business date advanced to {run.advanced_to or '—'}.")
        else:
            run = pipeline.dispatch(run.business_date, trigger=CobRun.Trigger.ADMIN, user=request.user)
            self.message_user(request, f"{run} sent to the workers.")


class ChunkInline(ReadOnlyInline):
    model = CobChunk
    fields = ("seq", "lo", "hi", "state", "rows", "seconds", "attempts", "finished_at", "error")
    readonly_fields = fields


@admin.register(CobStepRun)
class CobStepRunAdmin(ReadOnlyAdmin):
    list_display = ("run_link", "position", "name", "state_badge", "chunks", "rows", "duration_display", "error_short")
    list_filter = ("state", "name")
    list_select_related = ("run",)
    inlines = [ChunkInline]
    fields = ("run", "position", "name", "slot", "state", "chunks_total", "chunks_done", "rows", "work_seconds",
              "started_at", "finished_at", "error")
    readonly_fields = fields

    @admin.display(description=_("run"), ordering="run__business_date")
    def run_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:cob_cobrun_change", args=[obj.run_id]), obj.run)

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, obj):
        return _state(obj)

    @admin.display(description=_("chunks"))
    def chunks(self, obj):
        return f"{obj.chunks_done}/{obj.chunks_total}"

    @admin.display(description=_("duration"))
    def duration_display(self, obj):
        return _seconds(obj.duration)

    @admin.display(description=_("error"))
    def error_short(self, obj):
        return obj.error[:120]
