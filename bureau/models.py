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
            models.UniqueConstraint(fields=["file", "account"], name="one_bureau_record_per_file_account"),
            models.CheckConstraint(condition=Q(balance__gte=0) & Q(overdue_amount__gte=0),
                                   name="bureau_record_amounts_gte_0"),
            models.CheckConstraint(condition=~(Q(negative=True) & Q(withheld=True)),
                                   name="bureau_record_negative_xor_withheld"),
        ]

    def __str__(self) -> str:
        return f"{self.file} · account {self.account_id}"
