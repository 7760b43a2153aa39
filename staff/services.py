"""Writes of the staff app: the portfolio snapshot and import jobs. Domain writes (customers,
limits, repayments…) are never here: import rows call the owning app's services."""
from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import CreditAccount
from core.crypto import fernet
from core.errors import BusinessRuleError, PermissionDeniedError, ValidationError
from core.money import ZERO, format_cny, money
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


# --- Import jobs (large files on a Celery worker; every file that waits for a second person) ------


def _enqueue(job: ImportJob, phase: str) -> None:
    """Run ``phase`` once the transaction commits: on a Celery worker for a large file, in this process
    for a file of at most ``STAFF_IMPORT_ASYNC_ROWS`` lines (a small bank file waiting for its second
    person is a job too; it posts as soon as it is confirmed, as an import from the screen did)."""
    from django.conf import settings

    from staff.tasks import import_job_run as task

    if job.total_rows > settings.STAFF_IMPORT_ASYNC_ROWS:
        transaction.on_commit(lambda: task.delay(job.pk, phase))
    else:
        transaction.on_commit(lambda: import_job_run(job_id=job.pk, phase=phase))


def _needs_second_person(kind: str) -> bool:
    from staff.imports import resource_class_for

    return resource_class_for(kind).second_person_confirms


def _require_permission(kind: str, user) -> None:
    from staff.imports import resource_class_for

    permission = resource_class_for(kind).permission
    if permission and not user.has_perm(permission):
        raise PermissionDeniedError("You may not run this import.", code="import_permission_required")


def _job_audit(job: ImportJob, *, user, action: str, reason: str = "", old=None, new=None) -> None:
    from core.actors import Actor
    from core.audit import audit_record

    audit_record(actor=Actor.staff(user), action=action, obj=job, reason=reason, old=old, new=new)


@transaction.atomic
def import_job_create(*, kind: str, file_name: str, file_format: str, content: bytes, total_rows: int, user) -> ImportJob:
    """Keep the file (encrypted) and queue its dry run. A file that waits for a second person (a bank
    file) is audited as uploaded."""
    _require_permission(kind, user)
    job = ImportJob.objects.create(
        kind=kind, file_name=file_name[:200], file_format=file_format, content=fernet().encrypt(content),
        total_rows=total_rows, created_by=user,
    )
    if _needs_second_person(kind):
        _job_audit(job, user=user, action="import_file_upload",
                   new={"kind": kind, "file_name": job.file_name, "lines": total_rows})
    _enqueue(job, "check")
    return job


@transaction.atomic
def import_job_confirm(*, job: ImportJob, user, control_count: int | None = None,
                       control_total: Decimal | None = None) -> ImportJob:
    """A person confirms a dry run that passed: queue the import itself.

    A file that waits for a second person (PRODUCT §12: bank files) is confirmed only by someone who holds
    the import permission and did not upload it, who types the control total read on the bank statement:
    the number of lines and their sum, equal to the file's to the cent. Otherwise it is refused and nothing
    changes. The import then posts every line in one transaction, once."""
    job = ImportJob.objects.select_for_update(of=("self",)).get(pk=job.pk)
    _require_permission(job.kind, user)
    if not _needs_second_person(job.kind):
        if job.status != ImportJob.Status.CHECKED:
            raise BusinessRuleError(
                f"Only a job whose dry run passed can be imported (this one: {job.get_status_display()}).",
                code="import_not_checked")
        job.status = ImportJob.Status.IMPORT_QUEUED
        job.confirmed_by = user
        job.processed_rows = 0
        job.save(update_fields=["status", "confirmed_by", "processed_rows", "updated_at"])
        _enqueue(job, "import")
        return job

    if job.status != ImportJob.Status.WAITING:
        raise BusinessRuleError(
            f"Only a file waiting for a second person's confirmation can be confirmed (this one: "
            f"{job.get_status_display()}).", code="import_not_waiting")
    if job.created_by_id == user.pk:
        raise PermissionDeniedError(
            "You uploaded this file: a second person, not you, confirms its control total against the bank statement.",
            code="import_confirmer_is_uploader")
    if control_count is None or control_total is None:
        raise ValidationError("Type the number of lines and the total amount read on the bank statement.",
                              code="import_control_total_required")
    if control_count != job.control_count or money(control_total) != job.control_total:
        raise BusinessRuleError(
            f"The control total typed ({control_count} lines, {format_cny(money(control_total))}) is not the file's: "
            "nothing was posted. Check the bank statement and the file.", code="import_control_total_mismatch")
    job.status = ImportJob.Status.IMPORT_QUEUED
    job.confirmed_by = user
    job.decided_at = timezone.now()
    job.processed_rows = 0
    job.save(update_fields=["status", "confirmed_by", "decided_at", "processed_rows", "updated_at"])
    _job_audit(job, user=user, action="import_file_confirm", old=ImportJob.Status.WAITING.value,
               new={"lines": job.control_count, "total": str(job.control_total), "uploaded_by": job.created_by.username})
    _register_decision(job, user=user, outcome=ImportRecord.Outcome.CONFIRMED)
    _enqueue(job, "import")
    return job


@transaction.atomic
def import_job_reject(*, job: ImportJob, user, reason: str) -> ImportJob:
    """Refuse a file waiting for confirmation: nothing is posted, the file is erased. Anyone who may run
    the import may refuse it, the uploader included (withdrawing it), with a reason."""
    job = ImportJob.objects.select_for_update(of=("self",)).get(pk=job.pk)
    _require_permission(job.kind, user)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the file is refused.", code="import_reason_required")
    if job.status not in ImportJob.AWAITING:
        raise BusinessRuleError(
            f"Only a file waiting for confirmation can be refused (this one: {job.get_status_display()}).",
            code="import_not_waiting")
    old = job.status
    now = timezone.now()
    job.status = ImportJob.Status.DECLINED
    job.declined_by = user
    job.decided_at = now
    job.decision_note = reason[:500]
    job.finished_at = now
    job.content = None  # the file may hold personal data: gone once it is no longer needed
    job.save(update_fields=["status", "declined_by", "decided_at", "decision_note", "finished_at", "content",
                            "updated_at"])
    _job_audit(job, user=user, action="import_file_reject", reason=reason, old=old,
               new={"lines": job.control_count, "total": None if job.control_total is None else str(job.control_total)})
    _register_decision(job, user=user, outcome=ImportRecord.Outcome.DECLINED)
    return job


def _register_decision(job: ImportJob, *, user, outcome: str) -> ImportRecord:
    from staff.imports import resource_class_for

    return ImportRecord.objects.create(
        kind=job.kind, title=str(resource_class_for(job.kind).get_display_name())[:100], file_name=job.file_name,
        file_format=job.file_format, user=user, outcome=outcome, lines=job.total_rows,
        new=job.totals.get("new", 0), updated=job.totals.get("update", 0), skipped=job.totals.get("skip", 0),
        total_amount=job.control_total, job=job,
    )


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
    # A file confirmed by a second person posts as its uploader's (the maker's, as an approved request
    # does); the confirmation is the job's, the register's and the audit trail's.
    second_person = _needs_second_person(job.kind)
    progress = ProgressWriter(job.pk)
    try:
        raw = fernet().decrypt(bytes(job.content))
        fmt = XLSX() if job.file_format == "xlsx" else CSV(encoding="utf-8-sig")
        dataset = fmt.create_dataset(raw if fmt.is_binary() else raw.decode("utf-8-sig"))
        user = job.created_by if dry_run or second_person else job.confirmed_by
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
    elif dry_run:
        status = ImportJob.Status.WAITING if second_person else ImportJob.Status.CHECKED
    else:
        status = ImportJob.Status.DONE
    if dry_run and report.ok:  # the control total the second person must type
        job.control_count, job.control_total = report.total_count, report.total_amount
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
    if status in (ImportJob.Status.CHECKED, ImportJob.Status.WAITING, ImportJob.Status.REJECTED):
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
    if dry_run and ok and job is not None and job.status == ImportJob.Status.WAITING:
        outcome = ImportRecord.Outcome.WAITING
    elif dry_run:
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
