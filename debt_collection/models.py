"""Collections (PRODUCT §7): reminders, cases, queues, collectors and agencies, the contact log and
promises to pay.

Invariants live in the database: one open case per account, one current assignment per case, a case
assigned to a collector *or* an agency (never both), one pending promise per case, one reminder per
(account, statement, kind) and one message per (reminder, channel) — so no job that runs twice can
open, assign or send anything twice.
"""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords
from django.db.models import F, Q

from accounts.models import CreditAccount, Customer
from core.masking import mask_mobile, mask_name
from core.models import ActorLogMixin, BaseModel
from core.money import ZERO, MoneyField
from django.utils.translation import gettext_lazy as _

BUCKETS = CreditAccount.Bucket
#: Buckets a case can be in (M0 is current, M7+ is written off: neither has an open case).
CASE_BUCKETS = [BUCKETS.M1, BUCKETS.M2, BUCKETS.M3, BUCKETS.M4, BUCKETS.M5, BUCKETS.M6]


class Channel(models.TextChoices):
    """Channels of contact and of reminders."""

    VOICE = "voice", _("Voice call")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    IN_APP = "in_app", _("In-app message")
    VISIT = "visit", _("Visit")


REMINDER_CHANNELS = (Channel.SMS, Channel.EMAIL, Channel.IN_APP)


# --- Policy ------------------------------------------------------------------------------------


class CollectionPolicy(models.Model):
    """The numbers of PRODUCT §7 as configuration staff edit in the admin (one row)."""

    singleton = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    quiet_hours_start = models.TimeField(default=dt.time(22, 0), help_text=_("No contact and no message from…"))
    quiet_hours_end = models.TimeField(default=dt.time(8, 0), help_text=_("…until (Asia/Shanghai)."))
    max_effective_voice_contacts_per_day = models.PositiveSmallIntegerField(
        default=3, help_text=_("Effective voice contacts with a debtor per day (GB/T 45251-2025).")
    )
    max_unanswered_attempts_per_day = models.PositiveSmallIntegerField(
        default=6, help_text=_("Unanswered attempts per channel per person per day.")
    )
    unreachable_window_days = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1)],
        help_text=_("A debtor is unreachable when every outbound attempt in this many days failed…"),
    )
    unreachable_min_attempts = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1)], help_text=_("…and there were at least this many.")
    )
    max_backdate_hours = models.PositiveSmallIntegerField(
        default=24, help_text=_("How long after a contact it may still be logged.")
    )
    agency_evaluation_months = models.PositiveSmallIntegerField(
        default=12, help_text=_("An agency not evaluated within this many months gets no new cases.")
    )
    promise_max_days = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(0)], help_text=_("A promised date at most this many days ahead.")
    )
    reminder_days_before_due = models.CharField(
        max_length=40, default="3,1,0", validators=[RegexValidator(r"^\d+(,\d+)*$")],
        help_text=_("Days before the due date a reminder goes out (T−3, T−1, T0)."),
    )
    reminder_days_after_due = models.CharField(
        max_length=40, default="1,3,7", validators=[RegexValidator(r"^\d+(,\d+)*$")],
        help_text=_("Days after the due date (D+1, D+3, D+7)…"),
    )
    reminder_repeat_every_days = models.PositiveSmallIntegerField(
        default=7, help_text=_("…then every this many days while the statement stays unpaid (0 = never).")
    )
    reminder_max_attempts = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1)], help_text=_("Sending attempts for transient gateway errors.")
    )
    reminder_retry_backoff_seconds = models.PositiveIntegerField(
        default=60, help_text=_("First retry delay; doubles on every attempt.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("collection policy")
        verbose_name_plural = _("collection policy")
        constraints = [
            models.CheckConstraint(condition=Q(singleton=1), name="collection_policy_singleton"),
            models.CheckConstraint(
                condition=Q(max_effective_voice_contacts_per_day__gte=0) & Q(max_unanswered_attempts_per_day__gte=0),
                name="collection_policy_limits_gte_0",
            ),
        ]

    def __str__(self) -> str:
        return "Collection policy"

    @staticmethod
    def _days(value: str) -> list[int]:
        return sorted({int(part) for part in value.split(",") if part.strip()})

    @property
    def days_before_due(self) -> list[int]:
        return self._days(self.reminder_days_before_due)

    @property
    def days_after_due(self) -> list[int]:
        return self._days(self.reminder_days_after_due)


# --- Reminders -----------------------------------------------------------------------------------


class ChannelPreference(models.Model):
    """A customer's choice for one reminder channel (absent row = not opted out)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="channel_preferences")
    channel = models.CharField(max_length=10, choices=[(c.value, c.label) for c in REMINDER_CHANNELS])
    opted_out = models.BooleanField(default=False)
    source = models.CharField(max_length=60, blank=True, help_text=_("Where the choice was made (app, call, letter…)."))
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "channel"], name="one_channel_preference_per_customer_channel")
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {'opted out' if self.opted_out else 'allowed'}"


REMINDER_KIND_RE = r"^(T0|T-[1-9]\d*|D\+[1-9]\d*)$"
TEMPLATE_KIND_RE = r"^(T0|T-[1-9]\d*|D\+[1-9]\d*|before|overdue)$"


class ReminderTemplate(models.Model):
    """The text of a reminder for one kind and channel, in Django template syntax.

    Context: ``customer_name`` (masked), ``account`` (reference), ``amount_due``, ``minimum_payment``,
    ``past_due``, ``due_date``, ``days`` (to or past due), ``kind``. A kind ``before`` / ``overdue``
    is the fallback for kinds without their own template (e.g. the weekly D+14, D+21…)."""

    kind = models.CharField(
        max_length=10, validators=[RegexValidator(TEMPLATE_KIND_RE, "T0, T-3, D+1… or before / overdue")]
    )
    channel = models.CharField(max_length=10, choices=[(c.value, c.label) for c in REMINDER_CHANNELS])
    subject = models.CharField(max_length=200, blank=True, help_text=_("E-mail subject / in-app title."))
    body = models.TextField()
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "channel"]
        constraints = [models.UniqueConstraint(fields=["kind", "channel"], name="one_template_per_kind_channel")]

    def __str__(self) -> str:
        return f"{self.kind} {self.get_channel_display()}"


class Reminder(BaseModel):
    """One reminder of one statement (unique per account, statement and kind), sent on every
    channel that has an active template; one :class:`ReminderMessage` per channel."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SUPPRESSED = "suppressed", _("Suppressed")

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="reminders")
    statement = models.ForeignKey("installments.Statement", on_delete=models.PROTECT, related_name="reminders")
    kind = models.CharField(max_length=10, validators=[RegexValidator(REMINDER_KIND_RE)])
    for_date = models.DateField(help_text=_("The day it is meant to be read (the day after the close that queued it)."))
    due_date = models.DateField()
    amount_due = MoneyField(help_text=_("The statement's unpaid amount when queued."))
    minimum_payment = MoneyField()
    past_due = MoneyField(default=ZERO)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    status_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-for_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "statement", "kind"], name="one_reminder_per_statement_kind"),
            models.CheckConstraint(condition=Q(amount_due__gte=0) & Q(minimum_payment__gte=0) & Q(past_due__gte=0),
                                   name="reminder_amounts_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} reminder {self.reference}"


class ReminderMessage(models.Model):
    """A reminder on one channel: rendered when queued, delivered by a Celery task."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SUPPRESSED = "suppressed", _("Suppressed")

    reminder = models.ForeignKey(Reminder, on_delete=models.CASCADE, related_name="messages")
    channel = models.CharField(max_length=10, choices=[(c.value, c.label) for c in REMINDER_CHANNELS])
    recipient = models.CharField(max_length=254, blank=True, help_text=_("Mobile, e-mail address or customer id."))
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    status_reason = models.CharField(max_length=200, blank=True)
    scheduled_for = models.DateTimeField(help_text=_("Not before (quiet hours move it to 08:00)."))
    attempts = models.PositiveSmallIntegerField(default=0)
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Handed to a worker (the dispatcher does not hand it again for a while).")
    )
    last_error = models.CharField(max_length=500, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scheduled_for", "id"]
        indexes = [models.Index(fields=["status", "scheduled_for"])]
        constraints = [
            models.UniqueConstraint(fields=["reminder", "channel"], name="one_message_per_reminder_channel"),
            models.CheckConstraint(
                condition=Q(status="sent", sent_at__isnull=False) | (~Q(status="sent") & Q(sent_at__isnull=True)),
                name="reminder_message_sent_at_iff_sent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reminder.kind} {self.get_channel_display()} ({self.status})"

    @property
    def masked_recipient(self) -> str:
        if self.channel == Channel.SMS:
            return mask_mobile(self.recipient)
        if self.channel == Channel.EMAIL and "@" in self.recipient:
            local, _, domain = self.recipient.partition("@")
            return f"{local[:1]}***@{domain}"
        return self.recipient


# --- Queues, collectors, agencies -----------------------------------------------------------------


class Queue(models.Model):
    """A work queue: the open cases of one bucket. ``use_agencies``: new cases go to the queue's
    agencies (when the customer consented to the sharing), else to its in-house collectors."""

    bucket = models.CharField(max_length=2, choices=[(b.value, b.label) for b in CASE_BUCKETS], unique=True)
    name = models.CharField(max_length=60)
    use_agencies = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["bucket"]

    def __str__(self) -> str:
        return self.name


class Collector(models.Model):
    """An in-house collector: a staff user working the queues listed, up to ``max_open_cases``."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="collector")
    queues = models.ManyToManyField(Queue, related_name="collectors", blank=True)
    max_open_cases = models.PositiveIntegerField(default=150)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        full = self.user.get_full_name()
        return f"{full} ({self.user.get_username()})" if full else self.user.get_username()


class Agency(BaseModel):
    """An external collection agency. New cases only while whitelisted, under contract and evaluated
    within the policy's months (PRODUCT §7). Its API client authenticates its requests."""

    name = models.CharField(max_length=120, unique=True)
    is_whitelisted = models.BooleanField(default=False)
    contract_starts_on = models.DateField(null=True, blank=True)
    contract_ends_on = models.DateField(null=True, blank=True)
    last_evaluated_on = models.DateField(null=True, blank=True)
    evaluation_note = models.CharField(max_length=500, blank=True)
    max_open_cases = models.PositiveIntegerField(default=500)
    queues = models.ManyToManyField(Queue, related_name="agencies", blank=True)
    api_client = models.OneToOneField(
        "integrations.ApiClient", null=True, blank=True, on_delete=models.PROTECT, related_name="collection_agency",
        help_text=_("The integration client whose token the agency uses for the agency API."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = _("agencies")
        constraints = [
            models.CheckConstraint(
                condition=Q(contract_starts_on__isnull=True) | Q(contract_ends_on__isnull=True)
                | Q(contract_ends_on__gte=F("contract_starts_on")),
                name="agency_contract_dates",
            )
        ]

    def __str__(self) -> str:
        return self.name


# --- Cases ---------------------------------------------------------------------------------------


class CollectionCase(BaseModel):
    """An overdue account being collected. One open case per account (database constraint)."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    class CloseReason(models.TextChoices):
        NONE = "", "—"
        CURED = "cured", _("Cured (nothing past due)")
        WRITTEN_OFF = "written_off", _("Written off")
        SETTLED = "settled", _("Settled")

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="collection_cases")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="collection_cases")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN, db_index=True)
    close_reason = models.CharField(max_length=12, choices=CloseReason.choices, default="", blank=True)
    opened_on = models.DateField()
    closed_on = models.DateField(null=True, blank=True)
    bucket = models.CharField(max_length=2, choices=CreditAccount.Bucket.choices)
    dpd = models.PositiveIntegerField(default=0)
    amount_overdue = MoneyField(default=ZERO, help_text=_("Past-due amount at the last close of business."))
    balance = MoneyField(default=ZERO, help_text=_("Everything owed at the last close of business."))
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="cases")
    collector = models.ForeignKey(Collector, null=True, blank=True, on_delete=models.PROTECT, related_name="cases")
    agency = models.ForeignKey(Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="cases")
    assigned_on = models.DateField(null=True, blank=True)
    auto_assign = models.BooleanField(
        default=True, help_text=_("Close of business may assign it (a recalled case waits for a manager).")
    )
    broken_promises = models.PositiveIntegerField(default=0)
    last_contact_at = models.DateTimeField(null=True, blank=True)

    # Who assigned, transferred, recalled or closed the case, and when (figures rewritten nightly excluded).
    history = HistoricalRecords(excluded_fields=["amount_overdue", "balance", "last_contact_at", "updated_at"])

    class Meta:
        ordering = ["-bucket", "-amount_overdue", "-broken_promises", "id"]
        permissions = [
            ("work_case", "Can work the collection cases assigned to them"),
            ("manage_cases", "Can see every queue and assign, transfer, recall and close cases"),
            ("view_performance", "Can see and export collector and agency performance"),
        ]
        indexes = [
            models.Index(fields=["status", "collector"]),
            models.Index(fields=["status", "agency"]),
            models.Index(fields=["status", "queue"]),
        ]
        constraints = [
            models.UniqueConstraint(fields=["account"], condition=Q(status="open"), name="one_open_case_per_account"),
            models.CheckConstraint(condition=Q(collector__isnull=True) | Q(agency__isnull=True),
                                   name="case_collector_or_agency"),
            models.CheckConstraint(
                condition=(Q(status="open") & Q(closed_on__isnull=True) & Q(close_reason=""))
                | (Q(status="closed") & Q(closed_on__isnull=False) & ~Q(close_reason="")
                   & Q(collector__isnull=True) & Q(agency__isnull=True)),
                name="case_closed_iff_closed_on_and_reason",
            ),
            models.CheckConstraint(condition=Q(closed_on__isnull=True) | Q(closed_on__gte=F("opened_on")),
                                   name="case_closed_after_opened"),
            models.CheckConstraint(condition=Q(amount_overdue__gte=0) & Q(balance__gte=0), name="case_amounts_gte_0"),
            models.CheckConstraint(
                condition=Q(collector__isnull=True, agency__isnull=True) | Q(assigned_on__isnull=False),
                name="case_assigned_on_when_assigned",
            ),
        ]

    def __str__(self) -> str:
        return f"Case {self.reference}"

    @property
    def assignee_display(self) -> str:
        if self.collector_id:
            return str(self.collector)
        if self.agency_id:
            return f"{self.agency} (agency)"
        return "unassigned"


class CaseEscalation(models.Model):
    """Bucket history of a case (opened in M1, escalated M1 → M2 …)."""

    case = models.ForeignKey(CollectionCase, on_delete=models.CASCADE, related_name="escalations")
    on_date = models.DateField()
    old_bucket = models.CharField(max_length=2, choices=CreditAccount.Bucket.choices, blank=True)
    new_bucket = models.CharField(max_length=2, choices=CreditAccount.Bucket.choices)
    dpd = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["on_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "on_date"], name="one_escalation_per_case_day"),
        ]

    def __str__(self) -> str:
        return f"{self.on_date}: {self.old_bucket or '—'} → {self.new_bucket}"


class CaseAssignment(ActorLogMixin):
    """A period during which a collector or an agency holds a case. ``ended_on`` empty = current."""

    class EndReason(models.TextChoices):
        NONE = "", "—"
        TRANSFERRED = "transferred", _("Transferred")
        RECALLED = "recalled", _("Recalled")
        ESCALATED = "escalated", _("Escalated to another queue")
        CLOSED = "closed", _("Case closed")

    case = models.ForeignKey(CollectionCase, on_delete=models.CASCADE, related_name="assignments")
    collector = models.ForeignKey(Collector, null=True, blank=True, on_delete=models.PROTECT, related_name="assignments")
    agency = models.ForeignKey(Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="assignments")
    bucket = models.CharField(max_length=2, choices=CreditAccount.Bucket.choices)
    started_on = models.DateField()
    ended_on = models.DateField(null=True, blank=True)
    end_reason = models.CharField(max_length=12, choices=EndReason.choices, default="", blank=True)

    class Meta:
        ordering = ["-started_on", "-id"]
        indexes = [models.Index(fields=["collector", "started_on"]), models.Index(fields=["agency", "started_on"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(collector__isnull=False) & Q(agency__isnull=True))
                | (Q(collector__isnull=True) & Q(agency__isnull=False)),
                name="assignment_collector_xor_agency",
            ),
            models.UniqueConstraint(fields=["case"], condition=Q(ended_on__isnull=True),
                                    name="one_current_assignment_per_case"),
            models.CheckConstraint(condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("started_on")),
                                   name="assignment_ends_after_start"),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True, end_reason="") | (Q(ended_on__isnull=False) & ~Q(end_reason="")),
                name="assignment_end_reason_iff_ended",
            ),
        ]

    def __str__(self) -> str:
        who = self.collector or self.agency
        return f"{self.case} → {who} from {self.started_on}"

    @property
    def assignee_display(self) -> str:
        return str(self.collector) if self.collector_id else f"{self.agency} (agency)"


# --- Contacts and promises -------------------------------------------------------------------------


class ThirdParty(BaseModel):
    """A person the debtor named as a contact (relative, colleague). Contacted only when the debtor
    is unreachable, never told about the debt, and never again once they refused."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="third_parties")
    name = models.CharField(max_length=100)
    relation = models.CharField(max_length=60)
    mobile = models.CharField(max_length=20)
    refused_at = models.DateTimeField(null=True, blank=True, help_text=_("Asked not to be contacted again."))

    class Meta:
        ordering = ["customer", "id"]
        verbose_name = _("third party")
        verbose_name_plural = _("third parties")

    def __str__(self) -> str:
        return f"{mask_name(self.name)} ({self.relation})"

    @property
    def masked_mobile(self) -> str:
        return mask_mobile(self.mobile)


class ContactAttempt(BaseModel):
    """One entry of the contact log. Only written by ``contact_log``, which enforces the rules."""

    class Direction(models.TextChoices):
        OUTBOUND = "outbound", _("Outbound")
        INBOUND = "inbound", _("Inbound (the debtor contacted us)")

    class Party(models.TextChoices):
        DEBTOR = "debtor", _("Debtor")
        THIRD_PARTY = "third_party", _("Third party")

    class Outcome(models.TextChoices):
        REACHED = "reached", _("Reached")
        NO_ANSWER = "no_answer", _("No answer")
        WRONG_NUMBER = "wrong_number", _("Wrong number")
        REFUSED = "refused", _("Refused")
        PROMISE_TO_PAY = "promise_to_pay", _("Promise to pay")
        PAID = "paid", _("Says paid")
        DISPUTE = "dispute", _("Dispute")

    case = models.ForeignKey(CollectionCase, on_delete=models.PROTECT, related_name="contacts")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="collection_contacts")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.OUTBOUND)
    party = models.CharField(max_length=12, choices=Party.choices, default=Party.DEBTOR)
    third_party = models.ForeignKey(ThirdParty, null=True, blank=True, on_delete=models.PROTECT, related_name="contacts")
    occurred_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    note = models.CharField(max_length=1000, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    agency = models.ForeignKey(Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="contacts")
    callback_at = models.DateTimeField(
        null=True, blank=True, help_text=_("A call-back agreed with the debtor (Asia/Shanghai); on the collector's day list.")
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["customer", "occurred_at"]), models.Index(fields=["case", "-occurred_at"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(party="third_party") & Q(third_party__isnull=False))
                | (Q(party="debtor") & Q(third_party__isnull=True)),
                name="contact_third_party_iff_party",
            ),
            models.CheckConstraint(condition=Q(user__isnull=False) | Q(agency__isnull=False),
                                   name="contact_has_author"),
            models.CheckConstraint(condition=Q(callback_at__isnull=True) | Q(callback_at__gt=F("occurred_at")),
                                   name="contact_callback_after_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.get_party_display().lower()}: {self.get_outcome_display()}"

    @property
    def author_display(self) -> str:
        if self.agency_id:
            return f"{self.agency} (agency)"
        return str(self.user) if self.user_id else "—"


class PromiseToPay(BaseModel):
    """A debtor's promise to pay ``amount`` by ``promised_on``. Close of business marks it kept,
    partly kept or broken against the repayments received from ``made_on`` through ``promised_on``."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        KEPT = "kept", _("Kept")
        PARTLY_KEPT = "partly_kept", _("Partly kept")
        BROKEN = "broken", _("Broken")
        CANCELLED = "cancelled", _("Cancelled")

    case = models.ForeignKey(CollectionCase, on_delete=models.PROTECT, related_name="promises")
    contact = models.OneToOneField(ContactAttempt, null=True, blank=True, on_delete=models.PROTECT, related_name="promise")
    amount = MoneyField()
    made_on = models.DateField(help_text=_("Business date the promise was made."))
    promised_on = models.DateField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    amount_paid = MoneyField(default=ZERO, help_text=_("Repayments counted towards it when evaluated."))
    evaluated_on = models.DateField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    agency = models.ForeignKey(Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="promises")

    class Meta:
        ordering = ["-promised_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["case"], condition=Q(status="pending"), name="one_pending_promise_per_case"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="promise_amount_gt_0"),
            models.CheckConstraint(condition=Q(amount_paid__gte=0), name="promise_paid_gte_0"),
            models.CheckConstraint(condition=Q(promised_on__gte=F("made_on")), name="promise_date_not_before_made"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "cancelled"], evaluated_on__isnull=True)
                | (Q(status__in=["kept", "partly_kept", "broken"]) & Q(evaluated_on__isnull=False)),
                name="promise_evaluated_iff_final",
            ),
        ]

    def __str__(self) -> str:
        return f"Promise {self.amount} by {self.promised_on} ({self.get_status_display().lower()})"


# --- Call scripts ----------------------------------------------------------------------------------


class CallScript(models.Model):
    """What a collector says on a call, per bucket and language, edited by collections managers.

    A script serves its bucket and every later bucket without its own (the ``M3`` script is the
    "M3+" script while M4–M6 have none). The body is Django template syntax with ``customer_name``
    (masked), ``amount_overdue`` (``¥1,234.56``), ``due_date``, ``dpd``, ``bucket`` and
    ``collector_name``."""

    class Language(models.TextChoices):
        ZH_HANS = "zh-hans", _("Simplified Chinese")
        EN = "en", _("English")

    bucket = models.CharField(
        max_length=2, choices=[(b.value, b.label) for b in CASE_BUCKETS],
        help_text=_("Used for this bucket and the later ones that have no script of their own."),
    )
    language = models.CharField(max_length=8, choices=Language.choices)
    title = models.CharField(max_length=120)
    body = models.TextField(
        help_text=_("Placeholders: {{ customer_name }}, {{ amount_overdue }}, {{ due_date }}, {{ dpd }}, {{ bucket }}, "
                    "{{ collector_name }}.")
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["bucket", "language"]
        verbose_name = _("call script")
        verbose_name_plural = _("call scripts")
        constraints = [models.UniqueConstraint(fields=["bucket", "language"], name="one_call_script_per_bucket_language")]

    def __str__(self) -> str:
        return f"{self.bucket} {self.get_language_display()}: {self.title}"
