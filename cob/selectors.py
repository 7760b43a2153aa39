"""Reads of close of business."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Count, Q, QuerySet, Sum

from cob.models import CobRun, CobStepRun, RunState


def cob_run_list() -> QuerySet[CobRun]:
    """Runs with their step totals annotated (one query for a whole admin page)."""
    return CobRun.objects.select_related("requested_by").annotate(
        steps_total=Count("steps"),
        steps_done=Count("steps", filter=Q(steps__state=RunState.DONE)),
        rows_total=Sum("steps__rows"),
    )


def cob_run_latest(on: dt.date) -> CobRun | None:
    return CobRun.objects.filter(business_date=on).order_by("-attempt").first()


def cob_step_summary(runs: Iterable[CobRun]) -> list[dict]:
    """Per step over the given runs: days run, chunks, rows changed and wall-clock seconds, in the
    order of the day."""
    steps = CobStepRun.objects.filter(run__in=[r.pk for r in runs]).order_by("position").values(
        "name", "position", "chunks_done", "rows", "started_at", "finished_at"
    )
    summary: dict[str, dict] = {}
    for s in steps:
        line = summary.setdefault(s["name"], {"name": s["name"], "position": s["position"], "days": 0,
                                              "chunks": 0, "rows": 0, "seconds": 0.0})
        line["days"] += 1
        line["chunks"] += s["chunks_done"]
        line["rows"] += s["rows"]
        if s["started_at"] and s["finished_at"]:
            line["seconds"] += (s["finished_at"] - s["started_at"]).total_seconds()
    return sorted(summary.values(), key=lambda line: line["position"])
