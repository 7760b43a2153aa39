"""Credit-bureau reporting (PRODUCT §6, §11): the monthly file, its records, and the pre-notice a
customer gets before the first negative data about them is reported (征信业管理条例 Art. 15)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.crypto import EncryptedTextField
from core.models import BaseModel
from core.money import ZERO, MoneyField


class BureauPolicy(models.Model):
    """The reporting settings staff can change (one row, ``pk=1``). Every number is a default."""

    institution_code = models.CharField(
        max_length=14, default="BACKOFFICE0001",
        help_text="The reporting institution's code issued by the credit reference centre (header of every file).",
    )
    notice_lead_days = models.PositiveSmallIntegerField(
        default=7,
        help_text="Negative data is reported only when the customer's pre-notice was sent at least this many "
                  "days before the file; until then the account's negative data is withheld.",
    )
    special_mention_from_dpd = models.PositiveSmallIntegerField(default=1, help_text="关注 from this DPD.")
    substandard_from_dpd = models.PositiveSmallIntegerField(default=91, help_text="次级 from this DPD.")
    doubtful_from_dpd = models.PositiveSmallIntegerField(default=181, help_text="可疑 from this DPD.")
    loss_from_dpd = models.PositiveSmallIntegerField(
        default=361, help_text="损失 from this DPD; a written-off account is always 损失."
    )
    dispute_answer_days = models.PositiveSmallIntegerField(
        default=20, help_text="A dispute (异议) is answered within this many days of its receipt (征信业管理条例 Art. 25)."
    )
    negative_retention_years = models.PositiveSmallIntegerField(
        default=5, help_text="Negative data is kept this many years from the end of the delinquency, then dropped "
                             "(征信业管理条例 Art. 16)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("bureau reporting policy")
        verbose_name_plural = _("bureau reporting policy")
        constraints = [
            models.CheckConstraint(
                condition=Q(special_mention_from_dpd__gte=1)
                & Q(substandard_from_dpd__gt=models.F("special_mention_from_dpd"))
                & Q(doubtful_from_dpd__gt=models.F("substandard_from_dpd"))
                & Q(loss_from_dpd__gt=models.F("doubtful_from_dpd")),
                name="bureau_policy_classification_ascending",
            ),
        ]

    def __str__(self) -> str:
        return "Bureau reporting policy"


class Classification(models.TextChoices):
    """The five-level loan classification (贷款五级分类)."""

    NORMAL = "1", "正常 normal"
    SPECIAL_MENTION = "2", "关注 special mention"
    SUBSTANDARD = "3", "次级 substandard"
    DOUBTFUL = "4", "可疑 doubtful"
    LOSS = "5", "损失 loss"


class SubjectKind(models.TextChoices):
    """What a record reports: the revolving credit line, or one cash loan (a separate account at the bureau)."""

    REVOLVING = "R1", "R1 循环贷账户 revolving credit line"
    CASH_LOAN = "D1", "D1 非循环贷账户 cash loan"


class BureauFile(BaseModel):
    """One monthly file (one version of it: a re-issue supersedes the earlier version)."""

    class Status(models.TextChoices):
        CURRENT = "current", "Current"
        SUPERSEDED = "superseded", "Superseded by a re-issue"

    period = models.DateField(help_text="First day of the reported month.")
    version = models.PositiveSmallIntegerField(default=1)
    as_of = models.DateField(help_text="The business date whose close the figures are taken from.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CURRENT)
    file_name = models.CharField(max_length=80)
    content = EncryptedTextField(help_text="The file as submitted (it holds identities; encrypted at rest).")
    sha256 = models.CharField(max_length=64)
    record_count = models.PositiveIntegerField(default=0)
    negative_count = models.PositiveIntegerField(default=0, help_text="Records reported with negative data.")
    withheld_count = models.PositiveIntegerField(
        default=0, help_text="Accounts whose negative data waits for the pre-notice lead time."
    )
    corrected_count = models.PositiveIntegerField(
        default=0, help_text="Records that differ from the previous version (re-issues only)."
    )
    reason = models.CharField(max_length=500, blank=True, help_text="Why it was re-issued.")
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-period", "-version"]
        permissions = [
            ("download_bureaufile", "Can download credit-bureau files (full identities; logged)"),
            ("reissue_bureaufile", "Can re-generate and re-issue a credit-bureau file"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["period", "version"], name="one_bureau_file_per_period_version"),
            models.UniqueConstraint(fields=["period"], condition=Q(status="current"),
                                    name="one_current_bureau_file_per_period"),
            models.CheckConstraint(condition=Q(version__gte=1), name="bureau_file_version_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.period:%Y-%m} v{self.version}"


class BureauRecord(models.Model):
    """One account's line in one file version (figures only; identities are in the file itself)."""

    file = models.ForeignKey(BureauFile, on_delete=models.CASCADE, related_name="records")
    account = models.ForeignKey("accounts.CreditAccount", on_delete=models.PROTECT, related_name="bureau_records")
    subject_ref = models.CharField(max_length=40, default="", help_text="The account or cash loan reported.")
    subject_kind = models.CharField(max_length=2, choices=SubjectKind.choices, default=SubjectKind.REVOLVING)
    history = models.CharField(max_length=24, default="", help_text="24-month payment history, oldest first.")
    withheld_reason = models.CharField(max_length=300, blank=True, help_text="Why the negative data was withheld.")
    disputed = models.BooleanField(default=False, help_text="Under an open dispute (异议) when the file was written.")
    correction_cause = models.CharField(max_length=500, blank=True, help_text="What corrected the record (re-issues).")
    credit_limit = MoneyField(default=ZERO)
    balance = MoneyField(default=ZERO, help_text="Everything owed: open principal, billed fees and charges.")
    overdue_amount = MoneyField(default=ZERO)
    dpd = models.PositiveIntegerField(default=0)
    account_status = models.CharField(max_length=1, help_text="N normal · F frozen · C closed · W written off.")
    classification = models.CharField(max_length=1, choices=Classification.choices)
    negative = models.BooleanField(default=False, help_text="Reported with negative data.")
    withheld = models.BooleanField(
        default=False, help_text="Negative data not reported yet: the pre-notice's lead time has not passed."
    )
    corrected = models.BooleanField(default=False, help_text="Differs from the previous version of the file.")

    class Meta:
        ordering = ["file", "account_id"]
        constraints = [
            models.UniqueConstraint(fields=["file", "subject_ref"], name="one_bureau_record_per_file_subject"),
            models.CheckConstraint(condition=Q(balance__gte=0) & Q(overdue_amount__gte=0),
                                   name="bureau_record_amounts_gte_0"),
            models.CheckConstraint(condition=~(Q(negative=True) & Q(withheld=True)),
                                   name="bureau_record_negative_xor_withheld"),
        ]

    def __str__(self) -> str:
        return f"{self.file} · account {self.account_id}"


class DelinquencyDay(models.Model):
    """A delinquent subject's DPD and status at one close of business (PRODUCT §13): the month's highest
    DPD and worst status come from these, so a delinquency cured within the month still shows. Written by
    close of business for subjects past due or written off; a value-dated re-judging rewrites its days."""

    account = models.ForeignKey("accounts.CreditAccount", on_delete=models.CASCADE, related_name="+")
    subject_ref = models.CharField(max_length=40)
    on_date = models.DateField()
    dpd = models.PositiveIntegerField()
    status = models.CharField(max_length=1, help_text="N normal · F frozen · C closed · W written off.")

    class Meta:
        ordering = ["subject_ref", "on_date"]
        indexes = [models.Index(fields=["account", "on_date"])]
        constraints = [models.UniqueConstraint(fields=["subject_ref", "on_date"], name="one_delinquency_day_per_subject")]

    def __str__(self) -> str:
        return f"{self.subject_ref} {self.on_date}: DPD {self.dpd}"


class BureauSnapshot(models.Model):
    """The frozen account-month (PRODUCT §13): one per subject (credit line or cash loan) per month, taken
    at the close of the month's last day (or the first close after it). Files are written from it; a
    re-issue adds only corrections (``BureauCorrection``) from events valued in the month."""

    period = models.DateField(help_text="First day of the month.")
    account = models.ForeignKey("accounts.CreditAccount", on_delete=models.PROTECT, related_name="bureau_snapshots")
    cash_loan = models.ForeignKey("cashloans.CashLoan", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    subject_ref = models.CharField(max_length=40)
    subject_kind = models.CharField(max_length=2, choices=SubjectKind.choices, default=SubjectKind.REVOLVING)
    taken_on = models.DateField(help_text="The business date whose close the figures are taken from.")
    credit_limit = MoneyField(default=ZERO)
    balance = MoneyField(default=ZERO)
    overdue_amount = MoneyField(default=ZERO)
    dpd = models.PositiveIntegerField(default=0, help_text="The highest DPD of the month.")
    account_status = models.CharField(max_length=1, help_text="The worst status of the month: W > F > C > N.")
    classification = models.CharField(max_length=1, choices=Classification.choices)
    history = models.CharField(max_length=24, help_text="24-month payment history, oldest first, this month last.")
    fees_in_month = MoneyField(default=ZERO, help_text="Late and deferral fees accrued in the month, as at the snapshot.")
    negative = models.BooleanField(default=False)
    disputed = models.BooleanField(default=False, help_text="An open dispute (异议) flags this record.")

    class Meta:
        ordering = ["-period", "subject_ref"]
        indexes = [models.Index(fields=["account", "period"])]
        constraints = [
            models.UniqueConstraint(fields=["period", "subject_ref"], name="one_bureau_snapshot_per_month_subject"),
            models.CheckConstraint(condition=Q(balance__gte=0) & Q(overdue_amount__gte=0),
                                   name="bureau_snapshot_amounts_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.period:%Y-%m} · {self.subject_ref}"


class BureauCorrection(models.Model):
    """A correction of a frozen account-month by one event valued in that month (a back-valued payment,
    a reversal, an upheld dispute), with its cause and the figures before and after."""

    snapshot = models.ForeignKey(BureauSnapshot, on_delete=models.CASCADE, related_name="corrections")
    event_key = models.CharField(max_length=80, help_text="The event (``repayment:<ref>``, ``dispute:<ref>``…).")
    cause = models.CharField(max_length=500)
    found_on = models.DateField()
    old = models.JSONField(default=dict)
    new = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["snapshot", "id"]
        constraints = [models.UniqueConstraint(fields=["snapshot", "event_key"], name="one_bureau_correction_per_event")]

    def __str__(self) -> str:
        return f"{self.snapshot}: {self.cause}"


class BureauDispute(BaseModel):
    """A customer's dispute (异议) of an account-month record: flags it, answered within the policy's
    days (upheld → a correction record; rejected → the reason)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        UPHELD = "upheld", "Upheld (corrected)"
        REJECTED = "rejected", "Rejected"

    snapshot = models.ForeignKey(BureauSnapshot, on_delete=models.CASCADE, related_name="disputes")
    claim = models.CharField(max_length=500)
    received_on = models.DateField()
    answer_due_on = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    answer = models.CharField(max_length=500, blank=True)
    answered_on = models.DateField(null=True, blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    correction = models.ForeignKey(BureauCorrection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["answer_due_on", "id"]
        permissions = [("answer_bureaudispute", "Can record and answer credit-bureau disputes")]
        constraints = [
            models.CheckConstraint(condition=Q(answer_due_on__gte=models.F("received_on")), name="bureau_dispute_due_after_receipt"),
            models.CheckConstraint(condition=Q(status="open") | (Q(answered_on__isnull=False) & ~Q(answer="")),
                                   name="bureau_dispute_answered_has_answer"),
        ]

    def __str__(self) -> str:
        return f"Dispute {self.reference}"


class PreNoticeLetter(BaseModel):
    """The last step of a pre-notice that could not be sent electronically (wording switched off, every
    channel failing): a letter staff print and mark sent. Until then the account's negative data waits,
    with an alert on the dashboard and a line in the close-of-business summary."""

    class Status(models.TextChoices):
        QUEUED = "queued", "To print and send"
        SENT = "sent", "Sent"
        WITHDRAWN = "withdrawn", "Withdrawn"

    account = models.ForeignKey("accounts.CreditAccount", on_delete=models.PROTECT, related_name="+")
    notice = models.ForeignKey("notices.Notice", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=300, help_text="Why the notice could not go out electronically.")
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    queued_on = models.DateField()
    sent_on = models.DateField(null=True, blank=True)
    marked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")

    class Meta:
        ordering = ["status", "queued_on", "id"]
        permissions = [("mark_sent_prenoticeletter", "Can mark a pre-notice letter printed and sent")]
        constraints = [
            models.UniqueConstraint(fields=["account"], condition=Q(status="queued"), name="one_queued_letter_per_account"),
            models.CheckConstraint(condition=~Q(status="sent") | Q(sent_on__isnull=False), name="letter_sent_has_date"),
        ]

    def __str__(self) -> str:
        return f"Pre-notice letter {self.reference}"
