"""The staff app's records: import jobs (large files run on a Celery worker with progress), the daily
portfolio snapshot the dashboard reads, and proxy models that give each import/export job its own
screen and permissions ("Bank repayment files", "Temporary-limit campaign lists"…)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import CreditAccount, TemporaryLimit
from core.models import BaseModel
from debt_collection.models import CaseAssignment
from installments.models import Purchase, Repayment, ScheduleLine, Statement
from core.money import ZERO, MoneyField
from django.utils.translation import gettext_lazy as _


class ImportJob(BaseModel):
    """One uploaded file imported in the background: a dry run first, then — once a person
    confirms — the import itself, all or nothing. The file is kept encrypted only until the job
    ends (it may hold personal data); the row numbers and reasons of any errors stay."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting for the dry run")
        CHECKING = "checking", _("Dry run running")
        CHECKED = "checked", _("Dry run passed: waiting for confirmation")
        #: A file that a second person confirms (bank files, PRODUCT §12): its dry run passed and it waits
        #: for someone other than the uploader to type the control total read on the bank statement.
        WAITING = "waiting", _("Dry run passed: waiting for a second person's confirmation")
        REJECTED = "rejected", _("Dry run found errors: nothing saved")
        DECLINED = "declined", _("Refused at confirmation: nothing saved")
        IMPORT_QUEUED = "import_queued", _("Confirmed: waiting for a worker")
        IMPORTING = "importing", _("Importing")
        DONE = "done", _("Imported")
        FAILED = "failed", _("Import failed: nothing saved")

    FINISHED = (Status.REJECTED, Status.DONE, Status.FAILED, Status.DECLINED)
    #: Waiting for a person to confirm (or refuse) the import.
    AWAITING = (Status.CHECKED, Status.WAITING)

    kind = models.CharField(max_length=60, help_text=_("Which import (the screen it was started from)."))
    file_name = models.CharField(max_length=200)
    file_format = models.CharField(max_length=10)
    content = models.BinaryField(null=True, blank=True, editable=False, help_text=_("Encrypted; erased when the job ends."))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    totals = models.JSONField(default=dict, blank=True, help_text=_("Rows by outcome (new, update, skip, invalid, error)."))
    summary = models.JSONField(default=dict, blank=True, help_text=_("Amounts and counts for people."))
    errors = models.JSONField(default=list, blank=True, help_text=_("[{row, field, message}] (first 1,000)."))
    error_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    declined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True, help_text=_("When the import was confirmed or refused."))
    decision_note = models.CharField(max_length=500, blank=True, help_text=_("Why the import was refused."))
    control_count = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Lines with an amount in the file (its control count), from the dry run.")
    )
    control_total = MoneyField(null=True, blank=True, help_text=_("Sum of the file's amounts (its control total), from the dry run."))
    started_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(processed_rows__lte=models.F("total_rows")), name="import_job_progress_lte_total"),
            models.CheckConstraint(condition=Q(control_total__isnull=True) | Q(control_total__gte=0),
                                   name="import_job_control_total_gte_0"),
            # PRODUCT §12: a bank file is posted only on a second person's confirmation, never the uploader's.
            models.CheckConstraint(
                condition=~Q(kind="bank_repayments", confirmed_by=models.F("created_by")),
                name="bank_file_confirmed_by_another",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def percent(self) -> int:
        if self.status in (self.Status.CHECKED, self.Status.WAITING, self.Status.DONE, self.Status.REJECTED):
            return 100
        if not self.total_rows:
            return 0
        return min(100, int(self.processed_rows * 100 / self.total_rows))


class PortfolioSnapshot(models.Model):
    """The portfolio by delinquency bucket at the end of a business date (accounts and balance).

    Taken by close of business (and on demand) with one aggregate query; the dashboard's trend
    and roll-rate charts read these few rows instead of scanning the portfolio's history."""

    on_date = models.DateField()
    bucket = models.CharField(max_length=2, choices=CreditAccount.Bucket.choices)
    accounts = models.PositiveIntegerField(default=0)
    balance = MoneyField(default=ZERO, help_text=_("Used amount (unpaid principal and billed fees)."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-on_date", "bucket"]
        permissions = [("view_dashboard", "Can see the portfolio dashboard")]
        constraints = [
            models.UniqueConstraint(fields=["on_date", "bucket"], name="one_snapshot_per_date_bucket"),
            models.CheckConstraint(condition=Q(balance__gte=0), name="snapshot_balance_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.on_date} {self.bucket}: {self.accounts} accounts"


# --- Screens for import/export jobs (proxy models: their own admin page and permissions) --------


class TemporaryLimitCampaign(TemporaryLimit):
    class Meta:
        proxy = True
        verbose_name = _("temporary-limit campaign list")
        verbose_name_plural = _("temporary-limit campaign lists")
        permissions = [
            ("import_temporarylimitcampaign", "Can import temporary-limit campaign lists"),
            ("export_temporarylimitcampaign", "Can export temporary limits"),
        ]


class OverdueAccount(CreditAccount):
    class Meta:
        proxy = True
        verbose_name = _("overdue account")
        verbose_name_plural = _("overdue accounts by bucket")
        permissions = [("export_overdueaccount", "Can export overdue accounts by bucket")]


class BankRepaymentFile(Repayment):
    """Repayments posted from bank files, with the import (CSV/XLSX: date, account reference, amount,
    bank reference)."""

    class Meta:
        proxy = True
        verbose_name = _("bank repayment file line")
        verbose_name_plural = _("bank repayment files")
        permissions = [
            ("import_bankrepaymentfile", "Can import bank repayment files"),
            ("export_bankrepaymentfile", "Can export bank-file repayments with their allocation"),
        ]


class StorefrontOrderImport(Purchase):
    """Purchases, with the import of the storefront's order export."""

    class Meta:
        proxy = True
        verbose_name = _("storefront order import")
        verbose_name_plural = _("storefront order imports")
        permissions = [
            ("import_storefrontorderimport", "Can import the storefront's order export"),
            ("export_storefrontorderimport", "Can export purchases"),
        ]


class RepaymentExport(Repayment):
    """Every repayment, whatever its channel, with its allocation: the finance export."""

    class Meta:
        proxy = True
        verbose_name = _("repayment export")
        verbose_name_plural = _("repayment exports")
        permissions = [("export_repaymentexport", "Can export repayments with their allocation")]


class StatementExport(Statement):
    class Meta:
        proxy = True
        verbose_name = _("statement export")
        verbose_name_plural = _("statement exports")
        permissions = [("export_statementexport", "Can export statements")]


class ScheduleExport(ScheduleLine):
    class Meta:
        proxy = True
        verbose_name = _("installment schedule export")
        verbose_name_plural = _("installment schedule exports")
        permissions = [("export_scheduleexport", "Can export installment schedules")]


class CollectionAssignmentExport(CaseAssignment):
    class Meta:
        proxy = True
        verbose_name = _("collection assignment export")
        verbose_name_plural = _("collection assignment exports")
        permissions = [("export_collectionassignmentexport", "Can export collection assignments")]


class ImportRecord(models.Model):
    """The import register: one row for every file staff brought in — a dry run refused or passed,
    an import done or failed — with who, when, how many lines and the file's total amount. Kept for
    as long as the records it created; the file itself is not kept (it may hold personal data)."""

    class Outcome(models.TextChoices):
        DRY_RUN_REFUSED = "dry_run_refused", _("Dry run refused: nothing saved")
        DRY_RUN_PASSED = "dry_run_passed", _("Dry run passed")
        IMPORTED = "imported", _("Imported")
        FAILED = "failed", _("Import failed: nothing saved")
        WAITING = "waiting", _("Waiting for a second person's confirmation")
        CONFIRMED = "confirmed", _("Control total confirmed by a second person")
        DECLINED = "declined", _("Refused at confirmation: nothing saved")

    kind = models.CharField(max_length=60, help_text="Which import (the screen it was started from).")
    title = models.CharField(max_length=100)
    file_name = models.CharField(max_length=200)
    file_format = models.CharField(max_length=10)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, db_index=True)
    lines = models.PositiveIntegerField(default=0, help_text="Data lines in the file (the header not counted).")
    new = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0, help_text="Refused lines and file problems.")
    total_amount = MoneyField(null=True, blank=True, help_text="Sum of the file's amounts (money imports only).")
    job = models.ForeignKey(ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="records",
                            help_text="The background job, for a large file.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("import register entry")
        verbose_name_plural = _("import register")
        constraints = [
            models.CheckConstraint(condition=Q(total_amount__isnull=True) | Q(total_amount__gte=0),
                                   name="import_record_total_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_outcome_display()})"
