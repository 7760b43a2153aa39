"""``python manage.py cob``: close of business for the business date, a given date, or every date
through a given one (time travel for demos and tests), with a progress bar and a summary per step."""
from __future__ import annotations

import datetime as dt
import sys
import time
from collections import defaultdict

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cob import pipeline
from cob.models import CobRun, RunState
from cob.registry import registry
from cob.selectors import cob_step_summary
from core.business_date import get_business_date
from core.errors import ApplicationError


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = (
        "Run close of business (PRODUCT §11) for the business date, --date D, or every date --through D; "
        "the business date advances after each day that finished. A failed or interrupted day resumes "
        "where it stopped."
    )

    def add_arguments(self, parser):
        when = parser.add_mutually_exclusive_group()
        when.add_argument("--date", type=_date, help="Close this date (the business date, or an earlier one with --force).")
        when.add_argument("--through", type=_date, help="Close every date from the business date through this one.")
        parser.add_argument("--force", action="store_true", help="Re-run a date that is already closed (changes nothing).")
        parser.add_argument("--chunk-size", type=int, default=None, help="Accounts per chunk (default COB_CHUNK_SIZE).")
        parser.add_argument(
            "--fan-out", action="store_true",
            help="Send the chunks to the Celery workers (needs a real broker and running workers) and follow them.",
        )
        parser.add_argument("--queue", default="", help="Celery queue for --fan-out (default: the default queue).")
        parser.add_argument("--timeout", type=float, default=3600.0, help="Seconds to wait for a --fan-out run.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
        parser.add_argument("--plan", action="store_true",
                            help="Print the steps the day (the business date, or --date D) runs, in order, and run nothing.")

    def handle(self, *args, **options):
        for key in ("date", "through"):  # call_command(...) passes them as given
            if isinstance(options[key], str):
                options[key] = _date(options[key])
        if options["plan"]:
            self._print_plan(options["date"] or get_business_date())
            return
        started = time.perf_counter()
        show_progress = not options["no_progress"] and options["verbosity"] > 0
        try:
            if options["fan_out"]:
                runs = self._fan_out(options, show_progress)
            elif options["through"]:
                runs = self._through(options, show_progress)
            else:
                on = options["date"] or get_business_date()
                bar = tqdm(desc=f"COB {on}", unit="chunk", disable=not show_progress, file=sys.stderr, leave=False)

                def progress(p: pipeline.Progress) -> None:
                    bar.set_postfix_str(p.step.name, refresh=False)
                    bar.update(1)

                try:
                    runs = [pipeline.run_date(on, chunk_size=options["chunk_size"], force=options["force"],
                                              progress=progress)]
                finally:
                    bar.close()
        except ApplicationError as exc:
            self._print_failed()
            raise CommandError(f"{exc.message} [{exc.code}]") from None
        elapsed = time.perf_counter() - started
        if options["verbosity"] > 0:
            self._print_summary(runs, elapsed)

    def _print_plan(self, on: dt.date) -> None:
        """Every step registered by the apps (``<app>/apps.py``), in the order ``cob.pipeline`` runs them on ``on``."""
        steps = registry.steps()
        due = {step.name for step in registry.steps_for(on)}
        self.stdout.write(f"Close of business of {on} ({on:%A}): {len(due)} of {len(steps)} steps run")
        for position, step in enumerate(steps, 1):
            mark = "runs" if step.name in due else "not today"
            shape = "per chunk" if step.chunked else "once"
            self.stdout.write(f"{position:3}. {step.name:<36} {step.slot:<18} {shape:<9} {mark:<9}  {step.description}")

    def _through(self, options, show_progress: bool) -> list[CobRun]:
        until = options["through"]
        first = get_business_date()
        days = (until - first).days + 1
        if days <= 0:
            self.stdout.write(f"Nothing to do: the business date {first} is already past {until}.")
            return []
        bar = tqdm(total=days, desc="COB", unit="day", disable=not show_progress, file=sys.stderr, leave=False)

        def progress(p: pipeline.Progress) -> None:
            bar.set_postfix_str(f"{p.run.business_date} {p.step.name}", refresh=False)

        try:
            return pipeline.run_through(until, chunk_size=options["chunk_size"], progress=progress,
                                        on_run=lambda run: bar.update(1))
        finally:
            bar.close()

    def _fan_out(self, options, show_progress: bool) -> list[CobRun]:
        if pipeline.runs_in_process():
            raise CommandError("--fan-out needs a real broker (CELERY_BROKER_URL) and tasks that are not eager.")
        first = options["date"] or get_business_date()
        until = options["through"] or first
        run = pipeline.dispatch(first, chunk_size=options["chunk_size"], queue=options["queue"],
                                through=options["through"], force=options["force"])
        deadline = time.monotonic() + options["timeout"]
        bar = tqdm(desc="COB (workers)", unit="chunk", disable=not show_progress, file=sys.stderr, leave=False)
        try:
            while True:
                runs = list(CobRun.objects.filter(business_date__gte=first, business_date__lte=until,
                                                  pk__gte=run.pk).order_by("business_date", "attempt"))
                failed = [r for r in runs if r.state == RunState.FAILED]
                if failed:
                    self._print_failed()
                    raise CommandError(f"{failed[0]} failed: {failed[0].error}")
                done_dates = {r.business_date for r in runs if r.state == RunState.DONE}
                if len(done_dates) == (until - first).days + 1:
                    return [r for r in runs if r.state == RunState.DONE]
                chunks = sum(s.chunks_done for r in runs for s in r.steps.all())
                bar.update(chunks - bar.n)
                if time.monotonic() > deadline:
                    raise CommandError("Timed out waiting for the workers; the run continues in the background.")
                time.sleep(0.2)
        finally:
            bar.close()

    def _print_failed(self) -> None:
        run = CobRun.objects.filter(state=RunState.FAILED).order_by("-business_date", "-attempt").first()
        if run is not None:
            self.stderr.write(f"{run} failed: {run.error}")

    def _print_summary(self, runs: list[CobRun], elapsed: float) -> None:
        if not runs:
            return
        rows = cob_step_summary(runs)
        totals = defaultdict(float)
        head = f"{'step':<40} {'days':>5} {'chunks':>7} {'rows':>12} {'seconds':>9}"
        self.stdout.write(head)
        self.stdout.write("-" * len(head))
        for line in rows:
            self.stdout.write(
                f"{line['name']:<40} {line['days']:>5} {line['chunks']:>7} {line['rows']:>12,} {line['seconds']:>9.2f}"
            )
            totals["rows"] += line["rows"]
            totals["seconds"] += line["seconds"]
        self.stdout.write("-" * len(head))
        self.stdout.write(f"{'total':<40} {len(runs):>5} {'':>7} {int(totals['rows']):>12,} {totals['seconds']:>9.2f}")
        first, last = runs[0], runs[-1]
        span = f"{first.business_date}" if first is last else f"{first.business_date} … {last.business_date}"
        self.stdout.write(self.style.SUCCESS(
            f"Closed {span} in {elapsed:.2f} s; business date is now {get_business_date()}."
        ))
