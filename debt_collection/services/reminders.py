"""Reminders (PRODUCT §7): queued by close of business for T−3, T−1, T0 before the due date and D+1,
D+3, D+7, then weekly after; one per (account, statement, kind) and one message per channel, so a job
that runs twice queues nothing twice. Messages are rendered from the staff-edited templates when
queued, held until 08:00 when queued during quiet hours, and delivered by Celery tasks that claim a
message before sending it — a duplicate task, a retry and the dispatcher can never send it twice."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.template import Context, Template, TemplateSyntaxError
from django.template.base import TextNode, Variable, VariableNode, render_value_in_context
from django.template.defaulttags import IfNode, TemplateLiteral
from django.utils import translation
from django.utils import timezone

from accounts.models import CreditAccount, Customer
from core import business_date
from core.errors import ValidationError
from core import sql
from debt_collection import engine, gateway
from debt_collection.models import (
    REMINDER_CHANNELS,
    ChannelPreference,
    Reminder,
    ReminderMessage,
    ReminderTemplate,
)
from debt_collection.rules import COLLECTIONS_TZ, in_quiet_hours, local, next_allowed_time, reminder_kind
from debt_collection.selectors import policy_get

logger = logging.getLogger(__name__)
QUEUED, SENDING, SENT, FAILED, SUPPRESSED = (
    ReminderMessage.Status.QUEUED, ReminderMessage.Status.SENDING, ReminderMessage.Status.SENT,
    ReminderMessage.Status.FAILED, ReminderMessage.Status.SUPPRESSED,
)
CHANNEL_LABELS = {c.value: c.label for c in REMINDER_CHANNELS}


# --- Templates ------------------------------------------------------------------------------------


#: Filters whose output depends only on their input and literal arguments (and on the language, time
#: zone and escaping in force, which :class:`MessageTemplate`'s cache keys on).
PURE_FILTERS = frozenset({"date", "time", "floatformat", "default", "default_if_none", "upper", "lower", "title",
                          "stringformat", "yesno", "cut", "add"})


_MISSING = object()
_KEPT_TYPES = frozenset({str, int, float, bool, Decimal, dt.date, dt.datetime, type(None)})


class _Fallback(Exception):
    """Render this one the Django way."""


class MessageTemplate(Template):
    """A Django template that renders the common case of a message — text, ``{{ name }}`` variables
    (with pure filters of literal arguments: ``{{ due_date|date:'Y-m-d' }}``) and ``{% if name %} … {% else
    %} … {% endif %}`` — without walking Django's node machinery for every message: a variable's output is
    computed by Django (the node's own ``FilterExpression`` and ``render_value_in_context``) once per
    distinct value and kept. Anything else, or a variable missing from the context, renders the Django
    way. Close of business renders tens of thousands of reminder and notice messages a day."""

    def __init__(self, template_string: str):
        super().__init__(template_string)
        self._ops = self._compile(self.nodelist)
        self._parts = self._ops  # (kept for the tests: None when this template always renders the Django way)
        self._cache: dict = {}

    @classmethod
    def _simple_name(cls, expression) -> str | None:
        var = getattr(expression, "var", None)
        if (not isinstance(var, Variable) or var.literal is not None or var.translate
                or len(var.lookups or ()) != 1):
            return None
        return var.lookups[0]

    @staticmethod
    def _literal(lookup: bool, arg) -> bool:
        """A filter argument that is a constant ('Y-m-d', 2), not a look-up in the context."""
        return not lookup or (isinstance(arg, Variable) and arg.lookups is None and not arg.translate)

    @classmethod
    def _compile(cls, nodelist):
        ops = []
        for node in nodelist:
            if isinstance(node, TextNode):
                ops.append(("text", node.s))
            elif isinstance(node, VariableNode):
                expression = node.filter_expression
                name = cls._simple_name(expression)
                if name is None or any(getattr(func, "__name__", "") not in PURE_FILTERS
                                       or not all(cls._literal(lookup, a) for lookup, a in args)
                                       for func, args in expression.filters):
                    return None
                ops.append(("var", (name, node)))
            elif isinstance(node, IfNode):
                branches = []
                for condition, branch in node.conditions_nodelists:
                    name = None
                    if condition is not None:
                        if not isinstance(condition, TemplateLiteral) or condition.value.filters:
                            return None
                        name = cls._simple_name(condition.value)
                        if name is None:
                            return None
                    compiled = cls._compile(branch)
                    if compiled is None:
                        return None
                    branches.append((name, compiled))
                ops.append(("if", branches))
            else:
                return None
        return ops

    def render(self, context=None):
        if self._ops is None or context is None:
            return super().render(context)
        env = (context.autoescape, context.use_l10n, context.use_tz, translation.get_language(),
               timezone.get_current_timezone_name())
        out: list[str] = []
        try:
            self._run(self._ops, context, env, out)
        except _Fallback:
            return super().render(context)
        return "".join(out)

    def _run(self, ops, context, env, out: list[str]) -> None:
        for op, arg in ops:
            if op == "text":
                out.append(arg)
            elif op == "var":
                name, node = arg
                value = context.get(name, _MISSING)
                if value is _MISSING or callable(value):
                    raise _Fallback
                key, hit = None, None
                if type(value) in _KEPT_TYPES:  # repr: Decimal("1.0") and Decimal("1.00") are equal but print apart
                    key = (id(node), env, type(value), repr(value))
                    hit = self._cache.get(key)
                if hit is None:
                    hit = render_value_in_context(node.filter_expression.resolve(context), context)
                    if key is not None:
                        self._cache[key] = hit
                out.append(hit)
            else:
                for name, branch in arg:
                    if name is not None:
                        value = context.get(name, _MISSING)
                        if value is _MISSING or callable(value):
                            raise _Fallback
                        if not value:
                            continue
                    self._run(branch, context, env, out)
                    break


def template_compile(body: str) -> Template:
    try:
        return MessageTemplate(body)
    except TemplateSyntaxError as exc:
        raise ValidationError(f"The template does not compile: {exc}", code="invalid_template") from None


def template_render(body: str, context: dict) -> str:
    """Render plain text (no HTML escaping: SMS and e-mail bodies are text)."""
    return template_compile(body).render(Context(context, autoescape=False)).strip()


def _templates() -> dict[tuple[str, str], ReminderTemplate]:
    return {(t.kind, t.channel): t for t in ReminderTemplate.objects.filter(is_active=True)}


def _template_for(templates, kind: str, channel: str) -> ReminderTemplate | None:
    generic = "before" if kind.startswith("T") else "overdue"
    return templates.get((kind, channel)) or templates.get((generic, channel))


def _context(*, customer: Customer, account_reference: str, kind: str, due: engine.StatementDue, past_due) -> dict:
    days = int(kind[2:]) if kind[:2] in ("T-", "D+") else 0
    return {
        "customer_name": customer.masked_name,
        "account": account_reference,
        "amount_due": due.amount_due,
        "minimum_payment": due.minimum_payment,
        "past_due": past_due,
        "due_date": due.due_date,
        "days": days,
        "kind": kind,
    }


# --- Queueing (close of business) ---------------------------------------------------------------


#: What a notice or reminder reads of an account and its customer (``.only(*MESSAGE_ACCOUNT_FIELDS)`` on an
#: account query with ``select_related("customer")``: close of business loads tens of thousands).
MESSAGE_ACCOUNT_FIELDS = ("reference", "status", "customer_id", "customer__reference", "customer__name",
                          "customer__mobile", "customer__email", "customer__anonymised_at",
                          "customer__processing_restricted")


def _recipient(customer: Customer, channel: str) -> str:
    if channel == "sms":
        return customer.mobile
    if channel == "email":
        return customer.email
    return customer.reference


def _suppression(customer: Customer, channel: str, opted_out: set[tuple[int, str]]) -> str:
    if customer.anonymised_at is not None:
        return "the customer's data was anonymised"
    if customer.processing_restricted:
        return "processing of the customer's data is restricted"
    if (customer.pk, channel) in opted_out:
        return f"the customer opted out of {CHANNEL_LABELS[channel]}"
    if not _recipient(customer, channel):
        return f"no {'e-mail address' if channel == 'email' else 'mobile number'} on file"
    return ""


def _opted_out(customer_ids) -> set[tuple[int, str]]:
    return set(
        ChannelPreference.objects.filter(customer_id__in=list(customer_ids), opted_out=True).values_list(
            "customer_id", "channel")
    )


T_REMINDER = Reminder._meta.db_table
T_ACC = CreditAccount._meta.db_table


@transaction.atomic
def reminders_queue(*, on: dt.date, account_ids: Sequence[int] | None = None, now: dt.datetime | None = None) -> int:
    """Close-of-business step for business date ``on``: queue the reminders of the next day (the day
    they are read: the close of ``on`` runs at night) for the given accounts; returns how many were
    created (0 on a second run for the same date). A message is scheduled for 08:00 that next day, or
    at once when the close runs later than that (a late or replayed run); those due at once go to
    Celery after the commit, the rest are picked up by the dispatcher.

    Set-based: the candidate statements, their reminder kinds, the accounts that may get one and the
    reminders already queued are worked out in SQL over the chunk (temporary tables); only the
    messages are rendered in Python (staff-edited Django templates, each compiled once per run)."""
    now = now or business_date.now_local()
    policy = policy_get()
    send_day = on + dt.timedelta(days=1)
    before, after, repeat = policy.days_before_due, policy.days_after_due, policy.reminder_repeat_every_days
    engine.statements_due_into("coll_rem_cand", account_ids, on=on,
                               before_due_dates=[send_day + dt.timedelta(days=d) for d in before])
    # The reminder kind of each due date (the rule in Python, once per distinct date of the chunk).
    kinds = {}
    for (due_date,) in sql.rows("SELECT DISTINCT due_date FROM coll_rem_cand"):
        due_date = engine.as_date(due_date)
        kind = reminder_kind(due_date=due_date, on=send_day, before=before, after=after, repeat_every=repeat)
        if kind:
            kinds[due_date] = kind
    if not kinds:
        return 0
    sql.empty_table("coll_rem_kind", "due_date DATE PRIMARY KEY, kind VARCHAR(10) NOT NULL")
    sql.execute("INSERT INTO coll_rem_kind (due_date, kind) VALUES " + ", ".join(["(%s, %s)"] * len(kinds)),
                   [p for due_date, kind in kinds.items() for p in (sql.date(due_date), kind)])
    # Those that get one: a kind today, an account neither closed nor written off, none queued already.
    sql.temp_table("coll_rem_hit", f"""
        SELECT t.*, k.kind FROM coll_rem_cand t JOIN coll_rem_kind k ON k.due_date = t.due_date
        JOIN {T_ACC} a ON a.id = t.account_id AND a.status <> %s AND a.written_off_on IS NULL
        WHERE NOT EXISTS (SELECT 1 FROM {T_REMINDER} r WHERE r.account_id = t.account_id
                          AND r.statement_id = t.statement_id AND r.kind = k.kind)""",
                      [CreditAccount.Status.CLOSED], key="statement_id")
    kind_of = {(statement_id, account_id): kind for statement_id, account_id, kind in
               sql.rows("SELECT statement_id, account_id, kind FROM coll_rem_hit")}
    dues, past_dues = engine.statement_dues_from("coll_rem_hit") if kind_of else ([], {})
    if not dues:
        return 0
    account_ids_hit = {due.account_id for due in dues}
    accounts = {a.pk: a for a in CreditAccount.objects.filter(pk__in=account_ids_hit).select_related("customer")
                .only(*MESSAGE_ACCOUNT_FIELDS)}
    templates = _templates()
    compiled: dict[str, Template] = {}
    opted_out = _opted_out({a.customer_id for a in accounts.values()})
    scheduled_for = max(
        next_allowed_time(now, start=policy.quiet_hours_start, end=policy.quiet_hours_end),
        dt.datetime.combine(send_day, policy.quiet_hours_end, tzinfo=COLLECTIONS_TZ),
    )
    reminders: list[Reminder] = []
    pending_messages: list[list[ReminderMessage]] = []
    for due in dues:
        kind = kind_of[(due.statement_id, due.account_id)]
        account = accounts[due.account_id]
        past_due = past_dues[due.account_id]
        reminder = Reminder(
            account=account, statement_id=due.statement_id, kind=kind, for_date=send_day, due_date=due.due_date,
            amount_due=due.amount_due, minimum_payment=due.minimum_payment, past_due=past_due,
        )
        context = Context(_context(customer=account.customer, account_reference=account.reference, kind=kind, due=due,
                                   past_due=past_due), autoescape=False)
        messages = []
        for channel in (c.value for c in REMINDER_CHANNELS):
            template = _template_for(templates, kind, channel)
            if template is None:
                continue
            reason = _suppression(account.customer, channel, opted_out)
            messages.append(ReminderMessage(
                channel=channel, recipient=_recipient(account.customer, channel),
                subject=_render(compiled, template.subject, context) if template.subject else "",
                body=_render(compiled, template.body, context), scheduled_for=scheduled_for,
                status=SUPPRESSED if reason else QUEUED, status_reason=reason,
            ))
        _rollup_status(reminder, messages)
        if not messages:
            reminder.status, reminder.status_reason = Reminder.Status.SUPPRESSED, "no active template for this kind"
        reminders.append(reminder)
        pending_messages.append(messages)
    sql.insert_objects(reminders)
    to_create = []
    for reminder, messages in zip(reminders, pending_messages):
        for message in messages:
            message.reminder = reminder
            to_create.append(message)
    if scheduled_for <= now:  # a late (or replayed) close: hand them to workers at once
        handed = timezone.now()
        for message in to_create:
            if message.status == QUEUED:
                message.dispatched_at = handed
    sql.insert_objects(to_create)
    ids = [m.pk for m in to_create if m.dispatched_at is not None]
    if ids:
        transaction.on_commit(lambda: _enqueue(ids))
    return len(reminders)


def _render(compiled: dict[str, Template], body: str, context: Context) -> str:
    """:func:`template_render` with the compiled template kept for the rest of the run."""
    if body not in compiled:
        compiled[body] = template_compile(body)
    return compiled[body].render(context).strip()


#: Messages handed to one batch task by :func:`_enqueue` (its worker sends one task per message).
ENQUEUE_BATCH = 500


def _enqueue(message_ids: list[int]) -> None:
    """Hand messages due at once to the workers: a few batch tasks rather than one task per message
    (each send costs the close of business a broker round trip; 26,000 of them at a million lines)."""
    from debt_collection.tasks import deliver_reminder_messages

    for start in range(0, len(message_ids), ENQUEUE_BATCH):
        deliver_reminder_messages.delay(message_ids[start:start + ENQUEUE_BATCH])


def _rollup_status(reminder: Reminder, messages: Sequence[ReminderMessage]) -> None:
    """A reminder is sent when a message went out, queued while one may still go, failed when the
    rest failed, suppressed when every message was (with their reasons)."""
    statuses = [m.status for m in messages]
    if SENT in statuses:
        reminder.status, reminder.status_reason = Reminder.Status.SENT, ""
    elif QUEUED in statuses or SENDING in statuses:
        reminder.status, reminder.status_reason = Reminder.Status.QUEUED, ""
    elif FAILED in statuses:
        reminder.status = Reminder.Status.FAILED
        reminder.status_reason = "; ".join(f"{m.channel}: {m.status_reason}" for m in messages if m.status == FAILED)[:200]
    elif messages:
        reminder.status = Reminder.Status.SUPPRESSED
        reminder.status_reason = "; ".join(f"{m.channel}: {m.status_reason}" for m in messages)[:200]


def _refresh_reminder(reminder_id: int) -> None:
    reminder = Reminder.objects.select_for_update(of=("self",)).get(pk=reminder_id)
    old = (reminder.status, reminder.status_reason)
    _rollup_status(reminder, list(reminder.messages.all()))
    if (reminder.status, reminder.status_reason) != old:
        reminder.save(update_fields=["status", "status_reason", "updated_at"])


# --- Delivery ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendOutcome:
    """What a delivery attempt did: ``status`` of the message afterwards, and ``retry_in`` seconds
    when a transient error leaves it queued for another attempt."""

    status: str
    detail: str = ""
    retry_in: int | None = None


def _claim(message_id: int, now: dt.datetime, policy) -> tuple[ReminderMessage | None, SendOutcome | None]:
    """Take the message for sending (queued → sending), or say why not. One transaction, row-locked."""
    with transaction.atomic():
        message = (
            ReminderMessage.objects.select_for_update(of=("self",)).select_related("reminder", "reminder__account__customer")
            .filter(pk=message_id).first()
        )
        if message is None:
            return None, SendOutcome("missing")
        if message.status != QUEUED:
            return None, SendOutcome(message.status, "not queued (already handled)")
        if message.scheduled_for > now:
            return None, SendOutcome(QUEUED, "not due yet")
        if in_quiet_hours(now, start=policy.quiet_hours_start, end=policy.quiet_hours_end):
            message.scheduled_for = next_allowed_time(now, start=policy.quiet_hours_start, end=policy.quiet_hours_end)
            message.dispatched_at = None
            message.save(update_fields=["scheduled_for", "dispatched_at", "updated_at"])
            return None, SendOutcome(QUEUED, "quiet hours: held until 08:00")
        customer = message.reminder.account.customer
        reason = _suppression(customer, message.channel, _opted_out([customer.pk]))
        if not reason and local(now).date() > message.reminder.for_date:
            reason = f"expired: meant for {message.reminder.for_date.isoformat()}"
        if not reason and not engine.statement_still_unpaid(message.reminder.statement_id):
            reason = "the bill was paid before sending"
        if not reason and message.reminder.account.written_off_on is not None:
            reason = "the account was written off"
        if reason:
            message.status, message.status_reason = SUPPRESSED, reason
            message.save(update_fields=["status", "status_reason", "updated_at"])
            _refresh_reminder(message.reminder_id)
            return None, SendOutcome(SUPPRESSED, reason)
        message.status, message.attempts = SENDING, message.attempts + 1
        message.save(update_fields=["status", "attempts", "updated_at"])
        return message, None


def reminder_message_send(*, message_id: int, now: dt.datetime | None = None) -> SendOutcome:
    """Send one queued message through the gateway (called by the Celery task).

    Transient gateway error: back to queued with ``scheduled_for`` pushed by an exponential backoff
    (``retry_in``), until the policy's maximum attempts — then failed. Permanent error (or any
    unexpected exception): failed at once. Never sends a message that is not queued."""
    now = now or business_date.now_local()
    policy = policy_get()
    message, outcome = _claim(message_id, now, policy)
    if outcome is not None:
        return outcome
    outgoing = gateway.OutgoingMessage(
        channel=message.channel, recipient=message.recipient, subject=message.subject, body=message.body,
        idempotency_key=f"reminder-{message.reminder.reference}-{message.channel}",
        customer_reference=message.reminder.account.customer.reference,
    )
    error: Exception | None = None
    provider_id = ""
    try:
        provider_id = gateway.send(outgoing) or ""
    except gateway.GatewayError as exc:
        error = exc
    except Exception as exc:  # noqa: BLE001 - an unknown failure must not loop; it is recorded and logged
        logger.exception("reminder message %s: unexpected gateway failure", message_id)
        error = gateway.PermanentGatewayError(f"{type(exc).__name__}: {exc}")
    with transaction.atomic():
        fresh = ReminderMessage.objects.select_for_update(of=("self",)).get(pk=message_id)
        if error is None:
            fresh.status, fresh.sent_at, fresh.provider_message_id = SENT, now, provider_id[:100]
            fresh.status_reason, fresh.last_error = "", ""
            result = SendOutcome(SENT)
        elif getattr(error, "transient", False) and fresh.attempts < policy.reminder_max_attempts:
            delay = policy.reminder_retry_backoff_seconds * 2 ** (fresh.attempts - 1)
            fresh.status, fresh.last_error, fresh.dispatched_at = QUEUED, str(error)[:500], None
            fresh.scheduled_for = now + dt.timedelta(seconds=delay)
            result = SendOutcome(QUEUED, str(error), retry_in=delay)
        else:
            fresh.status, fresh.last_error = FAILED, str(error)[:500]
            fresh.status_reason = (
                f"gave up after {fresh.attempts} attempts" if getattr(error, "transient", False) else "permanent error"
            )
            result = SendOutcome(FAILED, str(error))
        fresh.save(update_fields=["status", "sent_at", "provider_message_id", "status_reason", "last_error",
                                  "scheduled_for", "dispatched_at", "updated_at"])
        _refresh_reminder(fresh.reminder_id)
    return result


STALE_SENDING = dt.timedelta(minutes=15)
#: A message handed to a worker that is still queued this long after is handed again (lost task).
REDISPATCH_AFTER = dt.timedelta(minutes=10)


def reminders_fail_interrupted() -> int:
    """Messages left ``sending`` by a worker that died between the provider and our record: we cannot
    know whether they went out, so they are marked failed with that reason — never sent again."""
    stale = list(
        ReminderMessage.objects.filter(status=SENDING, updated_at__lt=timezone.now() - STALE_SENDING)
        .values_list("pk", "reminder_id")
    )
    for pk, reminder_id in stale:
        with transaction.atomic():
            updated = ReminderMessage.objects.filter(pk=pk, status=SENDING).update(
                status=FAILED, status_reason="interrupted while sending: not retried (it may have gone out)",
                updated_at=timezone.now(),
            )
            if updated:
                _refresh_reminder(reminder_id)
    return len(stale)


def reminders_dispatch_due(*, now: dt.datetime | None = None, limit: int = 20000) -> list[int]:
    """The queued messages whose time has come (none during quiet hours), marked as handed out so the
    next run does not hand them again unless they are still queued ``REDISPATCH_AFTER`` later (a lost
    task); the periodic task gives them to workers. Safe to run at any moment: sending claims each
    message first. Messages a dead worker left half-sent are closed as failed first."""
    now = now or business_date.now_local()
    reminders_fail_interrupted()
    policy = policy_get()
    if in_quiet_hours(now, start=policy.quiet_hours_start, end=policy.quiet_hours_end):
        return []
    handed = timezone.now()
    ids = list(
        ReminderMessage.objects.filter(status=QUEUED, scheduled_for__lte=now)
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=handed - REDISPATCH_AFTER))
        .order_by("scheduled_for", "pk").values_list("pk", flat=True)[:limit]
    )
    if ids:
        ReminderMessage.objects.filter(pk__in=ids).update(dispatched_at=handed)
    return ids


# --- Preferences -----------------------------------------------------------------------------------


@transaction.atomic
def channel_preference_set(*, customer: Customer, channel: str, opted_out: bool, source: str = "") -> ChannelPreference:
    """Record a customer's opt-out (or opt-in again) for a reminder channel."""
    if channel not in CHANNEL_LABELS:
        raise ValidationError(f"Unknown reminder channel {channel!r}.", code="invalid_channel")
    preference, _ = ChannelPreference.objects.update_or_create(
        customer=customer, channel=channel, defaults={"opted_out": bool(opted_out), "source": source.strip()[:60]}
    )
    return preference
