"""Customer notices: queued by close of business for the day's events (limit raised or cut with the
reason, temporary limit granted or about to expire, statement issued, installment plan created or
settled) and by credit-bureau reporting (the pre-notice), one per kind and event; sent through the
reminder gateway from 08:00 the next morning, on the first channel the customer has not opted out of,
retried on failure."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.template import Context, Template
from django.utils import timezone

from accounts.models import CreditAccount, LimitChange, TemporaryLimit
from core import business_date
from core.masking import mask_name
from core import sql
from debt_collection import gateway
from debt_collection.models import ChannelPreference
from debt_collection.services import template_compile
from debt_collection.rules import COLLECTIONS_TZ, next_allowed_time
from debt_collection.selectors import policy_get as quiet_hours_policy
from installments.models import Plan, Statement
from notices.models import Notice, NoticeKind, NoticeTemplate

logger = logging.getLogger(__name__)

#: Built-in wording (Chinese first, then English); staff override it with a NoticeTemplate.
DEFAULT_TEXTS: dict[str, tuple[str, str]] = {
    NoticeKind.LIMIT_GRANTED: (
        "额度已开通 Your credit line is open",
        "{{ customer_name }}，您的账户 {{ account }} 已开通，额度 ¥{{ new_limit }}。"
        " Your credit line {{ account }} is open with a limit of ¥{{ new_limit }}.",
    ),
    NoticeKind.LIMIT_RAISED: (
        "额度提升 Your credit line was raised",
        "{{ customer_name }}，您的账户 {{ account }} 额度已由 ¥{{ old_limit }} 提升至 ¥{{ new_limit }}（{{ reason }}）。"
        " Your line on {{ account }} is now ¥{{ new_limit }} (was ¥{{ old_limit }}): {{ reason }}.",
    ),
    NoticeKind.LIMIT_CUT: (
        "额度调整 Your credit line was reduced",
        "{{ customer_name }}，您的账户 {{ account }} 额度已由 ¥{{ old_limit }} 调整为 ¥{{ new_limit }}，原因：{{ reason }}。"
        "如有异议可申请人工复核。 Your line on {{ account }} is now ¥{{ new_limit }} (was ¥{{ old_limit }}). "
        "Reason: {{ reason }}. You may ask for a human review.",
    ),
    NoticeKind.TEMPORARY_GRANTED: (
        "临时额度 Temporary limit granted",
        "{{ customer_name }}，您获得临时额度 ¥{{ amount }}，有效期 {{ starts_on }} 至 {{ ends_on }}。"
        " You have a temporary limit of ¥{{ amount }} from {{ starts_on }} to {{ ends_on }}.",
    ),
    NoticeKind.TEMPORARY_EXPIRING: (
        "临时额度即将到期 Temporary limit expiring",
        "{{ customer_name }}，您的临时额度 ¥{{ amount }} 将于 {{ ends_on }} 到期。"
        " Your temporary limit of ¥{{ amount }} ends on {{ ends_on }}.",
    ),
    NoticeKind.STATEMENT_ISSUED: (
        "账单已出 Your statement is ready",
        "{{ customer_name }}，您的账户 {{ account }} 本期账单 ¥{{ closing_balance }}，最低还款 ¥{{ minimum_payment }}，"
        "还款日 {{ due_date }}。 Statement of {{ bill_date }}: ¥{{ closing_balance }}, minimum ¥{{ minimum_payment }}, "
        "due {{ due_date }}.",
    ),
    NoticeKind.STATEMENT_AMENDED: (
        "账单已更正 Your statement was corrected",
        "{{ customer_name }}，您的账户 {{ account }} {{ bill_date }} 账单已更正（{{ cause }}）：最低还款由 ¥{{ old_minimum }}"
        " 更正为 ¥{{ minimum_payment }}，应还总额 ¥{{ closing_balance }}，还款日 {{ due_date }}。"
        " Your statement of {{ bill_date }} was corrected ({{ cause }}): minimum ¥{{ minimum_payment }} (was"
        " ¥{{ old_minimum }}), balance ¥{{ closing_balance }}, due {{ due_date }}.",
    ),
    NoticeKind.PLAN_CREATED: (
        "分期已办理 Installment plan created",
        "{{ customer_name }}，您已办理 {{ tenor }} 期分期，本金 ¥{{ principal }}，每期手续费 ¥{{ fee_per_period }}，"
        "年化利率（IRR）{{ apr }}%。 Plan of ¥{{ principal }} over {{ tenor }} months, fee ¥{{ fee_per_period }} a "
        "month, APR {{ apr }}%.",
    ),
    NoticeKind.PLAN_SETTLED: (
        "分期已结清 Installment plan settled",
        "{{ customer_name }}，您的分期（本金 ¥{{ principal }}）已于 {{ closed_on }} 结清。"
        " Your plan of ¥{{ principal }} was settled on {{ closed_on }}.",
    ),
    NoticeKind.BUREAU_PRE_NOTICE: (
        "征信提示 Credit bureau notice",
        "【征信提示】{{ customer_name }}，您的账户 {{ account }} 已逾期。根据《征信业管理条例》第十五条，如未及时还款，"
        "我们将向金融信用信息基础数据库报送逾期信息。请尽快还款。 Your account {{ account }} is past due. Under Art. 15 "
        "of the Credit Reporting Regulations we will report the overdue data to the credit bureau unless it is repaid.",
    ),
}
#: A failed notice is tried again after this long, up to MAX_ATTEMPTS times.
RETRY_AFTER = dt.timedelta(minutes=30)
MAX_ATTEMPTS = 5
#: With no earlier close of business, limit changes and temporary limits recorded this recently are told about.
LOOK_BACK = dt.timedelta(days=7)


@dataclass(frozen=True)
class NoticeEvent:
    account: CreditAccount  # with ``customer`` loaded
    kind: str
    event_key: str
    context: dict = field(default_factory=dict)


def _texts() -> dict[str, tuple[Template, Template] | None]:
    """Compiled wording per kind; ``None`` for a kind staff switched off."""
    texts: dict[str, tuple[Template, Template] | None] = {
        kind: (template_compile(subject), template_compile(body)) for kind, (subject, body) in DEFAULT_TEXTS.items()
    }
    for row in NoticeTemplate.objects.all():
        texts[row.kind] = (template_compile(row.subject), template_compile(row.body)) if row.is_active else None
    return texts


def _channel(customer, opted_out: set[str]) -> tuple[str, str]:
    """SMS, else e-mail, else in-app (always there): the first channel the customer can be reached on
    and has not opted out of."""
    if customer.mobile and "sms" not in opted_out:
        return "sms", customer.mobile
    if customer.email and "email" not in opted_out:
        return "email", customer.email
    return "in_app", customer.reference


def _plain(value):
    """Dates as 2026-02-10 and money as 1234.50 whatever the locale (a notice is read on a phone)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def notices_create(*, on: dt.date, events: Iterable[NoticeEvent]) -> int:
    """Queue a notice per event not told about yet (``(kind, event_key)`` is unique); returns how many
    were queued. Scheduled for 08:00 the morning after ``on`` (close of business runs at night)."""
    events = list(events)
    if not events:
        return 0
    keys, key_params = sql.any_of("event_key", {e.event_key for e in events})
    existing = set(sql.rows(f"SELECT kind, event_key FROM {Notice._meta.db_table} WHERE {keys}", key_params))
    events = [e for e in events if (e.kind, e.event_key) not in existing]
    if not events:
        return 0
    opted: dict[int, set[str]] = {}
    customers, customer_params = sql.any_of("customer_id", {e.account.customer_id for e in events})
    for customer_id, channel in sql.rows(
        f"SELECT customer_id, channel FROM {ChannelPreference._meta.db_table} WHERE opted_out AND {customers}",
        customer_params,
    ):
        opted.setdefault(customer_id, set()).add(channel)
    scheduled_for = dt.datetime.combine(on + dt.timedelta(days=1), quiet_hours_policy().quiet_hours_end,
                                        tzinfo=COLLECTIONS_TZ)
    texts = _texts()
    notices = []
    for event in events:
        customer = event.account.customer
        channel, recipient = _channel(customer, opted.get(customer.pk, set()))
        notice = Notice(customer=customer, account=event.account, kind=event.kind, event_key=event.event_key,
                        for_date=on, channel=channel, recipient=recipient, scheduled_for=scheduled_for)
        text = texts.get(event.kind)
        if customer.anonymised_at is not None:
            notice.status, notice.status_reason, notice.recipient = Notice.Status.SUPPRESSED, "customer anonymised", ""
        elif text is None:
            notice.status, notice.status_reason = Notice.Status.SUPPRESSED, "this kind of notice is switched off"
        else:
            context = Context({"customer_name": mask_name(customer.name), "account": event.account.reference,
                               **{k: _plain(v) for k, v in event.context.items()}}, autoescape=False)
            notice.subject, notice.body = text[0].render(context).strip(), text[1].render(context).strip()
        notices.append(notice)
    sql.insert_objects(notices, ignore_conflicts=True)  # a concurrent run's notice is kept, not doubled
    return len(notices)


def _changes_since(on: dt.date) -> dt.datetime:
    """Limit changes and temporary limits made since the previous day's close finished belong to this day
    (the close of ``on`` tells about them); with no earlier close, the last ``LOOK_BACK``."""
    from cob.models import CobRun, RunState

    previous = (CobRun.objects.filter(business_date__lt=on, state=RunState.DONE, finished_at__isnull=False)
                .order_by("-business_date", "-attempt").values_list("finished_at", flat=True).first())
    return previous or timezone.now() - LOOK_BACK


def _day_events(*, on: dt.date) -> list[NoticeEvent]:
    since = _changes_since(on)
    events: list[NoticeEvent] = []
    for change in LimitChange.objects.filter(kind=LimitChange.Kind.FIXED, created_at__gte=since).exclude(
        new_limit=F("old_limit")
    ).select_related("account__customer").defer("account__customer__id_number"):
        if change.old_limit == 0:
            kind = NoticeKind.LIMIT_GRANTED
        else:
            kind = NoticeKind.LIMIT_RAISED if change.new_limit > change.old_limit else NoticeKind.LIMIT_CUT
        events.append(NoticeEvent(change.account, kind, f"limit-change:{change.pk}", {
            "old_limit": change.old_limit, "new_limit": change.new_limit,
            "reason": change.reason or "credit review"}))
    for limit in TemporaryLimit.objects.filter(created_at__gte=since, status=TemporaryLimit.Status.ACTIVE).select_related(
        "account__customer"
    ).defer("account__customer__id_number"):
        events.append(NoticeEvent(limit.account, NoticeKind.TEMPORARY_GRANTED, f"temporary-limit:{limit.pk}", {
            "amount": limit.amount, "starts_on": limit.starts_on, "ends_on": limit.ends_on}))
    for limit in TemporaryLimit.objects.filter(ends_on=on + dt.timedelta(days=3), status=TemporaryLimit.Status.ACTIVE
                                               ).select_related("account__customer").defer("account__customer__id_number"):
        events.append(NoticeEvent(limit.account, NoticeKind.TEMPORARY_EXPIRING, f"temporary-limit:{limit.pk}", {
            "amount": limit.amount, "ends_on": limit.ends_on}))
    for statement in Statement.objects.filter(bill_date=on).exclude(status=Statement.Status.DRAFT).select_related(
        "account__customer"
    ).defer("account__customer__id_number"):
        events.append(NoticeEvent(statement.account, NoticeKind.STATEMENT_ISSUED, f"statement:{statement.pk}", {
            "bill_date": statement.bill_date, "due_date": statement.due_date,
            "closing_balance": statement.closing_balance, "minimum_payment": statement.minimum_payment}))
    events += _amended_statement_events(on=on)
    for plan in Plan.objects.filter(created_on=on).select_related("account__customer").defer("account__customer__id_number"):
        events.append(NoticeEvent(plan.account, NoticeKind.PLAN_CREATED, f"plan:{plan.pk}", {
            "principal": plan.principal, "tenor": plan.tenor, "fee_per_period": plan.fee_per_period,
            "apr": plan.apr_effective_pct}))
    for plan in Plan.objects.filter(closed_on=on, status__in=[Plan.Status.PAID_OFF, Plan.Status.SETTLED]
                                    ).select_related("account__customer").defer("account__customer__id_number"):
        events.append(NoticeEvent(plan.account, NoticeKind.PLAN_SETTLED, f"plan:{plan.pk}", {
            "principal": plan.principal, "closed_on": plan.closed_on}))
    return [e for e in events if e.account.status != CreditAccount.Status.CLOSED or e.kind == NoticeKind.LIMIT_CUT]


def _amended_statement_events(*, on: dt.date) -> list[NoticeEvent]:
    """PRODUCT §13: a statement amended because of back-valued money or a reversal is told about, with
    the corrected minimum (one notice per version)."""
    from installments.models import StatementVersion

    causes = {StatementVersion.Cause.VALUE_DATE: "到账日期更正 payment value date",
              StatementVersion.Cause.REVERSAL: "还款冲正 payment reversed"}
    first: dict[int, StatementVersion] = {}
    for version in StatementVersion.objects.filter(superseded_on=on, superseded_cause__in=list(causes)).order_by(
            "statement_id", "version"):
        first.setdefault(version.statement_id, version)
    events = []
    for statement in Statement.objects.filter(pk__in=list(first)).select_related("account__customer").defer(
            "account__customer__id_number"):
        was = first[statement.pk]
        events.append(NoticeEvent(statement.account, NoticeKind.STATEMENT_AMENDED,
                                  f"statement-amended:{statement.pk}:v{statement.version}", {
                                      "bill_date": statement.bill_date, "due_date": statement.due_date,
                                      "cause": causes[was.superseded_cause], "old_minimum": was.minimum_payment,
                                      "minimum_payment": statement.minimum_payment,
                                      "closing_balance": statement.closing_balance}))
    return events


@transaction.atomic
def notices_withdraw(*, account_id: int, kind: str, event_keys, reason: str, actor) -> int:
    """Withdraw notices not sent yet (queued, or failed and waiting for a retry) about events that no
    longer hold (PRODUCT §13: back-valued money erased the delinquency they told about). Each is kept,
    suppressed with the reason, one audit event each; its event key is freed (suffixed) so the event, if
    it happens again, is told about again. Returns how many were withdrawn."""
    from core.audit import audit_record

    withdrawn = 0
    for notice in Notice.objects.select_for_update(of=("self",)).filter(
            account_id=account_id, kind=kind, event_key__in=list(event_keys),
            status__in=[Notice.Status.QUEUED, Notice.Status.FAILED]).order_by("pk"):
        old = notice.status
        notice.status, notice.status_reason = Notice.Status.SUPPRESSED, f"withdrawn: {reason}"[:200]
        notice.event_key = f"{notice.event_key}~withdrawn-{notice.pk}"[:60]
        notice.save(update_fields=["status", "status_reason", "event_key", "updated_at"])
        audit_record(actor=actor, action="notice_withdraw", obj=notice, reason=reason, old=old, new=notice.status)
        withdrawn += 1
    return withdrawn


@transaction.atomic
def notices_queue(*, on: dt.date) -> int:
    """Close-of-business step: the notices of the day's events; 0 on a second run for the same date."""
    return notices_create(on=on, events=_day_events(on=on))


def notice_send(*, notice_id: int, now: dt.datetime | None = None) -> str:
    """Send one due notice through the reminder gateway; returns its status afterwards. The provider
    is called outside the transactions that claim the notice and record the outcome."""
    now = now or timezone.now()
    with transaction.atomic():
        notice = Notice.objects.select_for_update(of=("self",)).select_related("customer").get(pk=notice_id)
        if notice.status not in (Notice.Status.QUEUED, Notice.Status.FAILED) or notice.scheduled_for > now:
            return notice.status
        quiet = quiet_hours_policy()
        allowed = next_allowed_time(now, start=quiet.quiet_hours_start, end=quiet.quiet_hours_end)
        if allowed > now:
            notice.scheduled_for = allowed
            notice.save(update_fields=["scheduled_for", "updated_at"])
            return notice.status
        notice.attempts += 1
        notice.save(update_fields=["attempts", "updated_at"])
    message = gateway.OutgoingMessage(
        channel=notice.channel, recipient=notice.recipient, subject=notice.subject, body=notice.body,
        idempotency_key=f"notice-{notice.reference}", customer_reference=notice.customer.reference,
    )
    error: Exception | None = None
    provider_id = ""
    try:
        provider_id = gateway.send(message) or ""
    except gateway.GatewayError as exc:
        error = exc
    except Exception as exc:  # noqa: BLE001 - an unknown failure is recorded and retried a bounded number of times
        logger.exception("notice %s: unexpected gateway failure", notice_id)
        error = exc
    with transaction.atomic():
        fresh = Notice.objects.select_for_update(of=("self",)).get(pk=notice_id)
        if error is None:
            fresh.status, fresh.sent_at, fresh.sent_on = Notice.Status.SENT, now, business_date.get_business_date()
            fresh.provider_message_id, fresh.last_error = provider_id[:100], ""
        else:
            fresh.status, fresh.last_error = Notice.Status.FAILED, f"{type(error).__name__}: {error}"[:500]
            fresh.scheduled_for = now + RETRY_AFTER
        fresh.save(update_fields=["status", "sent_at", "sent_on", "provider_message_id", "last_error",
                                  "scheduled_for", "updated_at"])
    return fresh.status


def notices_send_due(*, now: dt.datetime | None = None, limit: int = 5000) -> dict[str, int]:
    """Send every notice that is due (beat, every few minutes). A failed one is retried up to
    ``MAX_ATTEMPTS`` times, then stays failed for staff to see."""
    now = now or timezone.now()
    ids = list(
        Notice.objects.filter(status__in=[Notice.Status.QUEUED, Notice.Status.FAILED], scheduled_for__lte=now,
                              attempts__lt=MAX_ATTEMPTS)
        .order_by("scheduled_for", "pk").values_list("pk", flat=True)[:limit]
    )
    outcome: dict[str, int] = {}
    for notice_id in ids:
        status = notice_send(notice_id=notice_id, now=now)
        outcome[status] = outcome.get(status, 0) + 1
    return outcome
