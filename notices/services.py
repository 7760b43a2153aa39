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
from notices.models import LANGUAGES, Notice, NoticeKind, NoticeTemplate

logger = logging.getLogger(__name__)

#: Built-in wording per kind and language (issue 25: every text in the customer's language, ``Customer.language``);
#: staff override it with a NoticeTemplate (per language, or one for all).
DEFAULT_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    NoticeKind.LIMIT_GRANTED: {
        "zh-hans": ("额度已开通", "{{ customer_name }}，您的账户 {{ account }} 已开通，额度 ¥{{ new_limit }}。"),
        "en": ("Your credit line is open", "{{ customer_name }}, your credit line {{ account }} is open with a limit of "
               "¥{{ new_limit }}."),
    },
    NoticeKind.LIMIT_RAISED: {
        "zh-hans": ("额度提升", "{{ customer_name }}，您的账户 {{ account }} 额度已由 ¥{{ old_limit }} 提升至 ¥{{ new_limit }}"
                    "（{{ reason }}）。"),
        "en": ("Your credit line was raised", "{{ customer_name }}, your line on {{ account }} is now ¥{{ new_limit }} "
               "(was ¥{{ old_limit }}): {{ reason }}."),
    },
    NoticeKind.LIMIT_CUT: {
        "zh-hans": ("额度调整", "{{ customer_name }}，您的账户 {{ account }} 额度已由 ¥{{ old_limit }} 调整为 ¥{{ new_limit }}，"
                    "原因：{{ reason }}。如有异议可申请人工复核。"),
        "en": ("Your credit line was reduced", "{{ customer_name }}, your line on {{ account }} is now ¥{{ new_limit }} "
               "(was ¥{{ old_limit }}). Reason: {{ reason }}. You may ask for a human review."),
    },
    NoticeKind.TEMPORARY_GRANTED: {
        "zh-hans": ("临时额度", "{{ customer_name }}，您获得临时额度 ¥{{ amount }}，有效期 {{ starts_on }} 至 {{ ends_on }}。"),
        "en": ("Temporary limit granted", "{{ customer_name }}, you have a temporary limit of ¥{{ amount }} from "
               "{{ starts_on }} to {{ ends_on }}."),
    },
    NoticeKind.TEMPORARY_EXPIRING: {
        "zh-hans": ("临时额度即将到期", "{{ customer_name }}，您的临时额度 ¥{{ amount }} 将于 {{ ends_on }} 到期。"),
        "en": ("Temporary limit expiring", "{{ customer_name }}, your temporary limit of ¥{{ amount }} ends on {{ ends_on }}."),
    },
    NoticeKind.STATEMENT_ISSUED: {
        "zh-hans": ("账单已出", "{{ customer_name }}，您的账户 {{ account }} {{ bill_date }} 账单"
                    "{% if credit_balance %}无需还款：您有溢缴款（贷方余额）¥{{ credit_balance }}，将自动抵扣下期账单。"
                    "{% else %}应还 ¥{{ closing_balance }}，最低还款 ¥{{ minimum_payment }}，还款日 {{ due_date }}。{% endif %}"),
        "en": ("Your statement is ready", "{{ customer_name }}, statement of {{ bill_date }} on {{ account }}: "
               "{% if credit_balance %}nothing to pay — you have a credit balance of ¥{{ credit_balance }}, which pays your "
               "next bill.{% else %}¥{{ closing_balance }}, minimum ¥{{ minimum_payment }}, due {{ due_date }}.{% endif %}"),
    },
    NoticeKind.STATEMENT_AMENDED: {
        "zh-hans": ("账单已更正", "{{ customer_name }}，您的账户 {{ account }} {{ bill_date }} 账单已更正（{{ cause }}）：最低还款由 "
                    "¥{{ old_minimum }} 更正为 ¥{{ minimum_payment }}，应还总额 ¥{{ closing_balance }}，还款日 {{ due_date }}。"),
        "en": ("Your statement was corrected", "{{ customer_name }}, your statement of {{ bill_date }} on {{ account }} was "
               "corrected ({{ cause }}): minimum ¥{{ minimum_payment }} (was ¥{{ old_minimum }}), balance "
               "¥{{ closing_balance }}, due {{ due_date }}."),
    },
    NoticeKind.PLAN_CREATED: {
        "zh-hans": ("分期已办理", "{{ customer_name }}，您已办理 {{ tenor }} 期分期，本金 ¥{{ principal }}，每期手续费 "
                    "¥{{ fee_per_period }}，年化利率（IRR）{{ apr }}%。"),
        "en": ("Installment plan created", "{{ customer_name }}, plan of ¥{{ principal }} over {{ tenor }} months, fee "
               "¥{{ fee_per_period }} a month, APR {{ apr }}%."),
    },
    NoticeKind.PLAN_SETTLED: {
        "zh-hans": ("分期已结清", "{{ customer_name }}，您的分期（本金 ¥{{ principal }}）已于 {{ closed_on }} 结清。"),
        "en": ("Installment plan settled", "{{ customer_name }}, your plan of ¥{{ principal }} was settled on {{ closed_on }}."),
    },
    NoticeKind.CASH_LOAN_DRAWN: {
        "zh-hans": ("借款已放款", "{{ customer_name }}，您借款 ¥{{ principal }}，分 {{ tenor }} 期还款，年化利率（IRR）{{ apr }}%，"
                    "利息按实际天数计算，合计 ¥{{ total_interest }}。还款计划：{% for line in schedule %}第{{ line.period }}期 "
                    "{{ line.due_date }} 应还 ¥{{ line.total }}（含利息 ¥{{ line.interest }}）{% if not forloop.last %}；"
                    "{% endif %}{% endfor %}。"),
        "en": ("Cash loan paid out", "{{ customer_name }}, you borrowed ¥{{ principal }} over {{ tenor }} months at an APR "
               "(IRR) of {{ apr }}%, interest by the actual day, ¥{{ total_interest }} in all. Installments: "
               "{% for line in schedule %}{{ line.period }}) {{ line.due_date }} ¥{{ line.total }} (interest "
               "¥{{ line.interest }}){% if not forloop.last %}; {% endif %}{% endfor %}."),
    },
    NoticeKind.INSURANCE_SOLD: {
        "zh-hans": ("保险已生效", "{{ customer_name }}，您的分期（本金 ¥{{ principal }}）已投保 {{ insurer }} 信用保险，每期保费 "
                    "¥{{ premium }}，共 {{ periods }} 期；{{ cooling_off_until }} 前退保可全额退还保费。"),
        "en": ("Insurance taken out", "{{ customer_name }}, your plan of ¥{{ principal }} is insured by {{ insurer }}: "
               "premium ¥{{ premium }} a period for {{ periods }} periods; cancel by {{ cooling_off_until }} for a full "
               "refund."),
    },
    NoticeKind.INSURANCE_CANCELLED: {
        "zh-hans": ("保险已终止", "{{ customer_name }}，您分期（本金 ¥{{ principal }}）的信用保险已于 {{ cancelled_on }} 终止，"
                    "此后不再收取保费{% if refunded %}，已退还保费 ¥{{ refunded }}{% endif %}。"),
        "en": ("Insurance ended", "{{ customer_name }}, the insurance of your plan of ¥{{ principal }} ended on "
               "{{ cancelled_on }}; no premium is charged after it{% if refunded %}, ¥{{ refunded }} of premiums is "
               "refunded{% endif %}."),
    },
    NoticeKind.CLAIM_DECIDED: {
        "zh-hans": ("理赔结果", "{{ customer_name }}，您的保险理赔{% if paid %}已赔付，保险公司已代为结清分期 ¥{{ amount }}。"
                    "{% else %}未获批准。如有疑问请联系客服。{% endif %}"),
        "en": ("Your insurance claim", "{{ customer_name }}, your insurance claim {% if paid %}was paid: the insurer "
               "settled ¥{{ amount }} of your plan.{% else %}was not approved. Contact us with any question.{% endif %}"),
    },
    NoticeKind.BUREAU_PRE_NOTICE: {
        "zh-hans": ("征信提示", "【征信提示】{{ customer_name }}，您的账户 {{ account }} 已逾期。根据《征信业管理条例》第十五条，"
                    "如未及时还款，我们将向金融信用信息基础数据库报送逾期信息。请尽快还款。"),
        "en": ("Credit bureau notice", "{{ customer_name }}, your account {{ account }} is past due. Under Art. 15 of the "
               "Credit Reporting Regulations we will report the overdue data to the credit bureau unless it is repaid."),
    },
}
DEFAULT_LANGUAGE = "zh-hans"
#: How long after its event a notice is still worth sending (days); past it, it expires instead of going out
#: late. ``None``: never expires (the bureau pre-notice must reach the customer before any reporting).
#: A statement's notice is relevant until its due date, a temporary limit's until it ends.
RELEVANCE_DAYS: dict[str, int | None] = {
    NoticeKind.LIMIT_GRANTED: 14, NoticeKind.LIMIT_RAISED: 14, NoticeKind.LIMIT_CUT: 14,
    NoticeKind.TEMPORARY_GRANTED: 3, NoticeKind.TEMPORARY_EXPIRING: 3, NoticeKind.STATEMENT_ISSUED: 9,
    NoticeKind.PLAN_CREATED: 7, NoticeKind.PLAN_SETTLED: 7, NoticeKind.CASH_LOAN_DRAWN: 7,
    NoticeKind.INSURANCE_SOLD: 7, NoticeKind.INSURANCE_CANCELLED: 14, NoticeKind.CLAIM_DECIDED: 30,
    NoticeKind.BUREAU_PRE_NOTICE: None,
}
#: Why a limit changed, by the review rule that decided it, in each language (never an English reason in a
#: Chinese text); a change by staff or an unknown rule is "a credit review".
LIMIT_REASONS: dict[str, dict[str, str]] = {
    "overdue": {"zh-hans": "账户出现逾期", "en": "your account went overdue"},
    "score_band_drop": {"zh-hans": "信用评分下降", "en": "your credit score fell"},
    "behaviour_improved": {"zh-hans": "用卡及还款表现良好", "en": "your good repayment record"},
    "": {"zh-hans": "综合信用评估", "en": "a credit review"},
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
    context: dict = field(default_factory=dict)  # a value may be {language: text}, picked per customer
    expires_on: dt.date | None = None  # the end of its relevance, when the event says (else RELEVANCE_DAYS)


def _texts() -> dict[tuple[str, str], tuple[Template, Template] | None]:
    """Compiled wording per (kind, language); ``None`` for a kind staff switched off. A staff template without a
    language replaces the built-in wording in every language; one with a language wins for that language."""
    languages = [code for code, _ in LANGUAGES]
    texts: dict[tuple[str, str], tuple[Template, Template] | None] = {
        (kind, lang): (template_compile(subject), template_compile(body))
        for kind, by_lang in DEFAULT_TEXTS.items() for lang, (subject, body) in by_lang.items()
    }
    rows = sorted(NoticeTemplate.objects.all(), key=lambda row: row.language != "")  # all-language rows first
    for row in rows:
        compiled = (template_compile(row.subject), template_compile(row.body)) if row.is_active else None
        for lang in ([row.language] if row.language else languages):
            texts[(row.kind, lang)] = compiled
    return texts


def _language(customer) -> str:
    lang = getattr(customer, "language", "") or DEFAULT_LANGUAGE
    return lang if lang in dict(LANGUAGES) else DEFAULT_LANGUAGE


def default_text(kind: str, customer) -> tuple[str, str]:
    """The built-in (subject, body) of ``kind`` in the customer's language (the bureau's pre-notice letter)."""
    texts = DEFAULT_TEXTS[kind]
    return texts.get(_language(customer), texts[DEFAULT_LANGUAGE])


def _in(value, lang: str):
    """A value given per language ({"zh-hans": …, "en": …}) in ``lang``; any other value as it is."""
    if isinstance(value, dict) and value and set(value) <= set(dict(LANGUAGES)):
        return value.get(lang, value.get(DEFAULT_LANGUAGE))
    if isinstance(value, list):
        return [{k: _plain(v) for k, v in item.items()} if isinstance(item, dict) else _plain(item) for item in value]
    return _plain(value)


def _expires_on(event: NoticeEvent, on: dt.date) -> dt.date | None:
    if event.expires_on is not None:
        return event.expires_on
    days = RELEVANCE_DAYS.get(event.kind, 7)
    return None if days is None else on + dt.timedelta(days=days)


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
                        for_date=on, channel=channel, recipient=recipient, scheduled_for=scheduled_for,
                        expires_on=_expires_on(event, on))
        lang = _language(customer)
        text = texts.get((event.kind, lang))
        if customer.anonymised_at is not None:
            notice.status, notice.status_reason, notice.recipient = Notice.Status.SUPPRESSED, "customer anonymised", ""
        elif getattr(customer, "deceased_on", None) is not None:
            notice.status, notice.status_reason = Notice.Status.SUPPRESSED, "customer deceased"
        elif text is None:
            notice.status, notice.status_reason = Notice.Status.SUPPRESSED, "this kind of notice is switched off"
        else:
            context = Context({"customer_name": mask_name(customer.name), "account": event.account.reference,
                               **{k: _in(v, lang) for k, v in event.context.items()}}, autoescape=False)
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


def _limit_reason(change: LimitChange) -> dict[str, str]:
    """The reason of a limit change in every language: the review rule's wording (``limit_review:<rule>@…``);
    a change by staff says "a credit review" in Chinese and the staff's reason in English."""
    rule = ""
    if change.actor_rule.startswith("limit_review:"):
        rule = change.actor_rule.split(":", 1)[1].split("@", 1)[0]
    if rule and rule in LIMIT_REASONS:
        return LIMIT_REASONS[rule]
    return {"zh-hans": LIMIT_REASONS[""]["zh-hans"], "en": change.reason or LIMIT_REASONS[""]["en"]}


def _cash_schedule(plan: Plan) -> list[dict]:
    return [{"period": line.period, "due_date": line.due_date, "total": line.principal + line.fee, "interest": line.fee}
            for line in plan.lines.order_by("period")]


def _day_events(*, on: dt.date) -> list[NoticeEvent]:
    from insurance.models import InsuranceClaim, InsurancePolicy

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
            "old_limit": change.old_limit, "new_limit": change.new_limit, "reason": _limit_reason(change)}))
    for limit in TemporaryLimit.objects.filter(created_at__gte=since, status=TemporaryLimit.Status.ACTIVE).select_related(
        "account__customer"
    ).defer("account__customer__id_number"):
        events.append(NoticeEvent(limit.account, NoticeKind.TEMPORARY_GRANTED, f"temporary-limit:{limit.pk}", {
            "amount": limit.amount, "starts_on": limit.starts_on, "ends_on": limit.ends_on}, expires_on=limit.ends_on))
    for limit in TemporaryLimit.objects.filter(ends_on=on + dt.timedelta(days=3), status=TemporaryLimit.Status.ACTIVE
                                               ).select_related("account__customer").defer("account__customer__id_number"):
        events.append(NoticeEvent(limit.account, NoticeKind.TEMPORARY_EXPIRING, f"temporary-limit:{limit.pk}", {
            "amount": limit.amount, "ends_on": limit.ends_on}, expires_on=limit.ends_on))
    for statement in Statement.objects.filter(bill_date=on).exclude(status=Statement.Status.DRAFT).select_related(
        "account__customer"
    ).defer("account__customer__id_number"):
        credit = -statement.closing_balance if statement.closing_balance < 0 else None  # a credit balance, not "¥-500.00"
        events.append(NoticeEvent(statement.account, NoticeKind.STATEMENT_ISSUED, f"statement:{statement.pk}", {
            "bill_date": statement.bill_date, "due_date": statement.due_date, "credit_balance": credit,
            "closing_balance": statement.closing_balance, "minimum_payment": statement.minimum_payment},
            expires_on=statement.due_date))
    events += _amended_statement_events(on=on)
    # A revolving purchase is not an installment plan: nothing to tell (issue 25).
    for plan in Plan.objects.filter(created_on=on).exclude(kind=Plan.Kind.REVOLVING).select_related(
            "account__customer").defer("account__customer__id_number"):
        if plan.kind == Plan.Kind.CASH_LOAN:
            events.append(NoticeEvent(plan.account, NoticeKind.CASH_LOAN_DRAWN, f"plan:{plan.pk}", {
                "principal": plan.principal, "tenor": plan.tenor, "apr": plan.apr_nominal_pct,
                "total_interest": plan.total_fee, "schedule": _cash_schedule(plan)}))
            continue
        events.append(NoticeEvent(plan.account, NoticeKind.PLAN_CREATED, f"plan:{plan.pk}", {
            "principal": plan.principal, "tenor": plan.tenor, "fee_per_period": plan.fee_per_period,
            "apr": plan.apr_effective_pct}))
    for plan in Plan.objects.filter(closed_on=on, status__in=[Plan.Status.PAID_OFF, Plan.Status.SETTLED]).exclude(
            kind=Plan.Kind.REVOLVING).select_related("account__customer").defer("account__customer__id_number"):
        events.append(NoticeEvent(plan.account, NoticeKind.PLAN_SETTLED, f"plan:{plan.pk}", {
            "principal": plan.principal, "closed_on": plan.closed_on}))
    policies = InsurancePolicy.objects.select_related("account__customer", "plan", "product").defer(
        "account__customer__id_number")
    for policy in policies.filter(start_date=on):
        events.append(NoticeEvent(policy.account, NoticeKind.INSURANCE_SOLD, f"policy:{policy.pk}", {
            "principal": policy.plan.principal, "insurer": policy.product.insurer, "premium": policy.premium_per_period,
            "periods": policy.periods, "cooling_off_until": policy.cooling_off_until}))
    for policy in policies.filter(cancelled_on=on, status=InsurancePolicy.Status.CANCELLED):
        events.append(NoticeEvent(policy.account, NoticeKind.INSURANCE_CANCELLED, f"policy:{policy.pk}", {
            "principal": policy.plan.principal, "cancelled_on": policy.cancelled_on,
            "refunded": policy.refunded_amount or None}))
    claims = InsuranceClaim.objects.select_related("policy__account__customer").defer(
        "policy__account__customer__id_number")
    for claim in claims.filter(paid_on=on, status=InsuranceClaim.Status.PAID):
        events.append(NoticeEvent(claim.policy.account, NoticeKind.CLAIM_DECIDED, f"claim:{claim.pk}",
                                  {"paid": True, "amount": claim.paid_amount}))
    rejected = _rejected_approvals(since)
    for claim in claims.filter(status=InsuranceClaim.Status.PENDING, approval__in=rejected):
        events.append(NoticeEvent(claim.policy.account, NoticeKind.CLAIM_DECIDED, f"claim:{claim.pk}",
                                  {"paid": False, "amount": claim.amount}))
    return [e for e in events if e.account.status != CreditAccount.Status.CLOSED
            or e.kind in (NoticeKind.LIMIT_CUT, NoticeKind.CLAIM_DECIDED, NoticeKind.INSURANCE_CANCELLED)]


def _rejected_approvals(since: dt.datetime) -> list[str]:
    from approvals.models import ApprovalRequest

    return list(ApprovalRequest.objects.filter(status=ApprovalRequest.Status.REJECTED, decided_at__gte=since)
                .values_list("reference", flat=True))


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
        stop = _stop_reason(notice)
        if stop is not None:
            notice.status, notice.status_reason = stop
            notice.save(update_fields=["status", "status_reason", "updated_at"])
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


def _stop_reason(notice: Notice) -> tuple[str, str] | None:
    """A queued notice that must not go out any more: past its relevance (expired: a late notice misleads more
    than none) or to a customer since deceased."""
    if notice.customer.deceased_on is not None:
        return Notice.Status.SUPPRESSED, "customer deceased"
    today = business_date.get_business_date()
    if notice.expires_on is not None and today > notice.expires_on:
        return Notice.Status.EXPIRED, f"no longer relevant on {today.isoformat()}"
    return None


def notices_send_due(*, now: dt.datetime | None = None, limit: int = 5000) -> dict[str, int]:
    """Send every notice that is due (beat, every few minutes). A failed one is retried up to
    ``MAX_ATTEMPTS`` times, then stays failed for staff to see."""
    now = now or timezone.now()
    today = business_date.get_business_date()
    waiting = Notice.objects.filter(status__in=[Notice.Status.QUEUED, Notice.Status.FAILED])
    outcome: dict[str, int] = {}
    expired = waiting.filter(expires_on__lt=today).update(
        status=Notice.Status.EXPIRED, status_reason=f"no longer relevant on {today.isoformat()}", updated_at=now)
    gone = waiting.filter(customer__deceased_on__isnull=False).update(
        status=Notice.Status.SUPPRESSED, status_reason="customer deceased", updated_at=now)
    for status, count in ((Notice.Status.EXPIRED, expired), (Notice.Status.SUPPRESSED, gone)):
        if count:
            outcome[status] = count
    ids = list(
        Notice.objects.filter(status__in=[Notice.Status.QUEUED, Notice.Status.FAILED], scheduled_for__lte=now,
                              attempts__lt=MAX_ATTEMPTS)
        .order_by("scheduled_for", "pk").values_list("pk", flat=True)[:limit]
    )
    for notice_id in ids:
        status = notice_send(notice_id=notice_id, now=now)
        outcome[status] = outcome.get(status, 0) + 1
    return outcome
