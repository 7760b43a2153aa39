"""Writes of the staff app: the portfolio snapshot and import jobs. Domain writes (customers,
limits, repayments…) are never here: import rows call the owning app's services."""
from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import CreditAccount
from core.crypto import fernet
from core.errors import BusinessRuleError, PermissionDeniedError
from core.money import ZERO
from staff.models import ImportJob, ImportRecord, PortfolioSnapshot

logger = logging.getLogger(__name__)


@transaction.atomic
def portfolio_snapshot_take(*, on: dt.date) -> int:
    """Record the open portfolio by delinquency bucket for ``on`` (one aggregate query; idempotent:
    a second call for the same date with the same portfolio changes nothing). Returns the number of
    rows written."""
    rows = (
        CreditAccount.objects.filter(~Q(status=CreditAccount.Status.CLOSED))
        .values("bucket")
        .annotate(n=Count("id"), balance=Sum("used_amount"))
    )
    found = {r["bucket"]: (r["n"], r["balance"] or ZERO) for r in rows}
    existing = {s.bucket: s for s in PortfolioSnapshot.objects.select_for_update().filter(on_date=on)}
    written = 0
    for bucket in CreditAccount.Bucket.values:
        n, balance = found.get(bucket, (0, ZERO))
        snap = existing.get(bucket)
        if snap is None:
            PortfolioSnapshot.objects.create(on_date=on, bucket=bucket, accounts=n, balance=balance)
            written += 1
        elif (snap.accounts, snap.balance) != (n, balance):
            snap.accounts, snap.balance = n, balance
            snap.save(update_fields=["accounts", "balance"])
            written += 1
    return written


# --- Import jobs (large files on a Celery worker) ---------------------------------------------


def _enqueue(job: ImportJob, phase: str) -> None:
    from staff.tasks import import_job_run

    transaction.on_commit(lambda: import_job_run.delay(job.pk, phase))


@transaction.atomic
def import_job_create(*, kind: str, file_name: str, file_format: str, content: bytes, total_rows: int, user) -> ImportJob:
    """Keep the file (encrypted) and queue its dry run."""
    from staff.imports import resource_class_for

    resource_class = resource_class_for(kind)
    if resource_class.permission and not user.has_perm(resource_class.permission):
        raise PermissionDeniedError("You may not run this import.", code="import_permission_required")
    job = ImportJob.objects.create(
        kind=kind, file_name=file_name[:200], file_format=file_format, content=fernet().encrypt(content),
        total_rows=total_rows, created_by=user,
    )
    _enqueue(job, "check")
    return job


@transaction.atomic
def import_job_confirm(*, job: ImportJob, user) -> ImportJob:
    """A person confirms a dry run that passed: queue the import itself."""
    from staff.imports import resource_class_for

    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    permission = resource_class_for(job.kind).permission
    if permission and not user.has_perm(permission):
        raise PermissionDeniedError("You may not run this import.", code="import_permission_required")
    if job.status != ImportJob.Status.CHECKED:
        raise BusinessRuleError(f"Only a job whose dry run passed can be imported (this one: {job.get_status_display()}).",
                                code="import_not_checked")
    job.status = ImportJob.Status.IMPORT_QUEUED
    job.confirmed_by = user
    job.processed_rows = 0
    job.save(update_fields=["status", "confirmed_by", "processed_rows", "updated_at"])
    _enqueue(job, "import")
    return job


def _claim(job_id: int, phase: str) -> ImportJob | None:
    """Move the job into its running state; None when it is not waiting for this phase (a repeat)."""
    waiting, running = (
        (ImportJob.Status.QUEUED, ImportJob.Status.CHECKING) if phase == "check"
        else (ImportJob.Status.IMPORT_QUEUED, ImportJob.Status.IMPORTING)
    )
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != waiting:
            return None
        job.status = running
        job.started_at = job.started_at or timezone.now()
        job.processed_rows = 0
        job.save(update_fields=["status", "started_at", "processed_rows", "updated_at"])
    return job


def import_job_run(*, job_id: int, phase: str) -> ImportJob | None:
    """Run the dry run (``phase="check"``) or the import (``"import"``) of a job. Safe to run twice:
    a job not waiting for ``phase`` is left alone. The import is one transaction: all or nothing."""
    from import_export.formats.base_formats import CSV, XLSX

    from staff.imports import ProgressWriter, report_from_result, resource_class_for

    job = _claim(job_id, phase)
    if job is None:
        return None
    dry_run = phase == "check"
    progress = ProgressWriter(job.pk)
    try:
        raw = fernet().decrypt(bytes(job.content))
        fmt = XLSX() if job.file_format == "xlsx" else CSV(encoding="utf-8-sig")
        dataset = fmt.create_dataset(raw if fmt.is_binary() else raw.decode("utf-8-sig"))
        user = job.created_by if dry_run else job.confirmed_by
        resource = resource_class_for(job.kind)(user=user, file_name=job.file_name, progress=progress)
        result = resource.import_data(
            dataset, dry_run=dry_run, raise_errors=False, use_transactions=True, rollback_on_validation_errors=True,
            file_name=job.file_name, user=user,
        )
        report = report_from_result(result, resource)
    except Exception as exc:  # an unreadable file or a bug: the job fails, nothing is saved
        logger.exception("import job %s (%s) failed", job.pk, phase)
        _finish(job, ImportJob.Status.REJECTED if dry_run else ImportJob.Status.FAILED,
                errors=[{"line": 0, "column": "", "message": f"The file could not be processed ({type(exc).__name__}).",
                         "values": []}], error_count=1)
        _register(job, None, dry_run)
        return job
    finally:
        progress.close()
    data = report.as_json()
    if not report.ok:
        status = ImportJob.Status.REJECTED if dry_run else ImportJob.Status.FAILED
    else:
        status = ImportJob.Status.CHECKED if dry_run else ImportJob.Status.DONE
    errors = [{"line": 0, "column": "", "message": m, "values": []} for m in report.file_errors] + data["errors"]
    _finish(job, status, errors=errors, error_count=report.error_count + len(report.file_errors),
            totals=data["totals"], summary={"lines": data["summary"], "preview": data["preview"],
                                            "headers": data["headers"]})
    _register(job, report, dry_run)
    return job


def _register(job: ImportJob, report, dry_run: bool) -> None:
    from staff.imports import resource_class_for

    import_record_write(report=report, kind=job.kind, title=resource_class_for(job.kind).get_display_name(),
                        file_name=job.file_name, file_format=job.file_format, job=job, lines=job.total_rows,
                        user=job.created_by if dry_run else (job.confirmed_by or job.created_by), dry_run=dry_run)


def _finish(job: ImportJob, status: str, *, errors: list, error_count: int, totals: dict | None = None,
            summary: dict | None = None) -> None:
    job.status = status
    job.errors = errors
    job.error_count = error_count
    job.totals = totals or {}
    job.summary = summary or {}
    job.processed_rows = job.total_rows
    now = timezone.now()
    if status in (ImportJob.Status.CHECKED, ImportJob.Status.REJECTED):
        job.checked_at = now
    if status in ImportJob.FINISHED:
        job.finished_at = now
        job.content = None  # the file may hold personal data: gone once it is no longer needed
    job.save()


# --- The import register ------------------------------------------------------------------------


@transaction.atomic
def import_record_write(*, report, kind: str, title: str, file_name: str, file_format: str, user, dry_run: bool,
                        job: ImportJob | None = None, lines: int = 0) -> ImportRecord:
    """Register what a file did: its dry run refused or passed, or its import done or failed (``report``:
    ``staff.imports.ImportReport``; None when the file could not be processed at all: ``lines`` then).
    Written in its own transaction after the import's own, so a file whose import was rolled back is
    registered all the same."""
    ok = report is not None and report.ok
    if dry_run:
        outcome = ImportRecord.Outcome.DRY_RUN_PASSED if ok else ImportRecord.Outcome.DRY_RUN_REFUSED
    else:
        outcome = ImportRecord.Outcome.IMPORTED if ok else ImportRecord.Outcome.FAILED
    if report is None:
        return ImportRecord.objects.create(
            kind=kind, title=title[:100], file_name=(file_name or "—")[:200], file_format=file_format[:10], user=user,
            outcome=outcome, lines=lines, errors=1, job=job,
        )
    return ImportRecord.objects.create(
        kind=kind, title=title[:100], file_name=(file_name or "—")[:200], file_format=file_format[:10], user=user,
        outcome=outcome, lines=report.total_rows, new=report.new, updated=report.updated, skipped=report.skipped,
        errors=report.error_count + len(report.file_errors), total_amount=report.total_amount, job=job,
    )
