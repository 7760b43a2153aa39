"""Writes of credit-bureau reporting: pre-notices, the monthly file, re-issues and downloads."""
from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from collections.abc import Sequence

from dateutil.relativedelta import relativedelta
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, OuterRef, Q, Value
from django.template import Context
from django.db.models.functions import Cast, Concat

from accounts.models import CreditAccount
from bureau import layout
from bureau.models import (
    BureauCorrection, BureauDispute, BureauFile, BureauRecord, BureauSnapshot, DelinquencyDay, PreNoticeLetter, SubjectKind,
)
from bureau.selectors import (
    cash_loans_by_plan, classify, delinquent_subjects, dpd_series, history_char, is_negative, month_end, month_fees,
    policy_get, pre_notices_unsent, reportable_accounts, subject_figures, worst_status,
)
from core.sql import account_filter
from core import business_date
from core.actors import Actor
from core.audit import audit_record
from core.masking import mask_name
from core.errors import BusinessRuleError, PermissionDeniedError, ValidationError
from core.money import ZERO, money
from debt_collection.services.reminders import MESSAGE_ACCOUNT_FIELDS
from notices.models import Notice, NoticeKind
from debt_collection.rules import COLLECTIONS_TZ
from debt_collection.selectors import policy_get as quiet_hours_policy
from debt_collection.services import template_compile
from notices.services import NoticeEvent, default_text, notices_create

SYSTEM = Actor.system("bureau.monthly_file")


def period_for(on: dt.date) -> dt.date:
    """The month a file written at the close of ``on`` reports: the month before ``on``."""
    return on.replace(day=1) - relativedelta(months=1)


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.", code="reason_required")
    return reason


def pre_notice_key(account_id: int) -> str:
    return f"account:{account_id}"


def pre_notice_key_sql():
    """``pre_notice_key`` of the outer account, in SQL (a withdrawn pre-notice has another key)."""
    return Concat(Value("account:"), Cast(OuterRef("pk"), CharField()), output_field=CharField())


WITHDRAWN = "withdrawn"


def _pre_notice_keys(account_id: int) -> Q:
    base = pre_notice_key(account_id)
    return Q(event_key=base) | Q(event_key__startswith=f"{base}:")


@transaction.atomic
def pre_notice_withdraw(*, account: CreditAccount, reason: str, actor: Actor = SYSTEM) -> Notice | None:
    """Withdraw the account's pre-notice that has not gone out yet (queued or failed, and any escalation
    of it: a notice on another channel, a letter not yet sent), because what made the account negative
    was erased (a value-dated payment, a reversed charge…; PRODUCT §13). The notice is kept, suppressed
    with the reason, and its event key freed so a later delinquency episode gets a pre-notice of its own.
    Returns the first notice withdrawn, or ``None`` when there was none to withdraw (a pre-notice already
    sent stays sent: the customer was told)."""
    reason = _require_reason(reason)
    notices = list(Notice.objects.select_for_update(of=("self",))
                   .filter(_pre_notice_keys(account.pk), kind=NoticeKind.BUREAU_PRE_NOTICE, account=account)
                   .exclude(status=Notice.Status.SENT).order_by("pk"))
    for notice in notices:
        old = notice.status
        notice.status, notice.status_reason = Notice.Status.SUPPRESSED, f"{WITHDRAWN}: {reason}"[:200]
        notice.event_key = f"{WITHDRAWN}:{notice.pk}"
        notice.save(update_fields=["status", "status_reason", "event_key", "updated_at"])
        audit_record(actor=actor, action="bureau_pre_notice.withdrawn", obj=notice, reason=reason,
                     old={"status": old}, new={"status": notice.status})
    for letter in PreNoticeLetter.objects.select_for_update().filter(account=account,
                                                                    status=PreNoticeLetter.Status.QUEUED):
        letter.status = PreNoticeLetter.Status.WITHDRAWN
        letter.save(update_fields=["status", "updated_at"])
        audit_record(actor=actor, action="bureau_pre_notice_letter.withdrawn", obj=letter, reason=reason,
                     old={"status": "queued"}, new={"status": "withdrawn"})
    return notices[0] if notices else None


#: The channels a pre-notice tries, in order, before it becomes a letter.
CHANNELS = ("sms", "email", "in_app")


def _next_channel(customer, tried: set[str], opted_out: set[str]) -> tuple[str, str] | None:
    addresses = {"sms": customer.mobile, "email": customer.email, "in_app": customer.reference}
    for channel in CHANNELS:
        if channel not in tried and channel not in opted_out and addresses[channel]:
            return channel, addresses[channel]
    return None


def _letter_body(account: CreditAccount) -> tuple[str, str]:
    """The legally required wording (the built-in one: staff may switch the electronic notice off, not the
    duty to tell the customer)."""
    subject, body = default_text(NoticeKind.BUREAU_PRE_NOTICE, account.customer)
    context = Context({"customer_name": mask_name(account.customer.name), "account": account.reference},
                      autoescape=False)
    return template_compile(subject).render(context).strip(), template_compile(body).render(context).strip()


@transaction.atomic
def pre_notices_escalate(*, on: dt.date, account_ids: Sequence[int] | None = None) -> int:
    """Close-of-business step (per chunk; PRODUCT §13 "negative data is never withheld silently"): a
    pre-notice that will not go out — failed its last retry (the sender down, a bad address) or suppressed
    because its wording is switched off — escalates: to the customer's next channel (e-mail, then in-app),
    and when none is left (or the wording is off) to a letter staff print and mark sent. Each escalation is
    audited; the dashboard shows what is outstanding and this step's count is a line of the close-of-business
    summary. Returns how many escalated (0 on a re-run)."""
    from debt_collection.models import ChannelPreference

    stuck = list(pre_notices_unsent(on=on).filter(account_filter(account_ids)).exclude(
        event_key__startswith=WITHDRAWN).select_related("account__customer").order_by("account_id", "pk"))
    if not stuck:
        return 0
    ids = {n.account_id for n in stuck}
    stuck_pks = {n.pk for n in stuck}
    history: dict[int, list[Notice]] = {}
    for n in Notice.objects.filter(kind=NoticeKind.BUREAU_PRE_NOTICE, account_id__in=ids).exclude(
            event_key__startswith=WITHDRAWN).order_by("pk"):
        history.setdefault(n.account_id, []).append(n)
    lettered = set(PreNoticeLetter.objects.filter(account_id__in=ids).exclude(
        status=PreNoticeLetter.Status.WITHDRAWN).values_list("account_id", flat=True))
    opted: dict[int, set[str]] = {}
    for customer_id, channel in ChannelPreference.objects.filter(
            opted_out=True, customer_id__in={n.account.customer_id for n in stuck}).values_list("customer_id", "channel"):
        opted.setdefault(customer_id, set()).add(channel)
    scheduled_for = dt.datetime.combine(on + dt.timedelta(days=1), quiet_hours_policy().quiet_hours_end,
                                        tzinfo=COLLECTIONS_TZ)
    escalated = 0
    for account_id in sorted(ids):
        mine = history[account_id]
        latest = mine[-1]
        if account_id in lettered or any(n.status == Notice.Status.SENT for n in mine):
            continue
        if latest.pk not in stuck_pks:
            continue  # the last escalation is still being tried
        account = latest.account
        switched_off = latest.status == Notice.Status.SUPPRESSED
        why = (latest.status_reason if switched_off
               else f"{latest.channel} failed {latest.attempts} time(s): {latest.last_error}")[:300]
        nxt = None if switched_off else _next_channel(account.customer, {n.channel for n in mine},
                                                       opted.get(account.customer_id, set()))
        if nxt is not None:
            channel, recipient = nxt
            notice = Notice.objects.create(
                customer=account.customer, account=account, kind=NoticeKind.BUREAU_PRE_NOTICE,
                event_key=f"{pre_notice_key(account_id)}:{channel}", for_date=on, channel=channel, recipient=recipient,
                subject=latest.subject, body=latest.body, scheduled_for=scheduled_for,
                status_reason=f"escalated from {latest.channel}: {why}"[:200])
            audit_record(actor=SYSTEM, action="bureau_pre_notice.escalated", obj=notice, reason=why,
                         old={"channel": latest.channel}, new={"channel": channel})
        else:
            subject, body = _letter_body(account)
            letter = PreNoticeLetter.objects.create(account=account, notice=latest, reason=why,
                                                    body=f"{subject}\n\n{body}", queued_on=on)
            audit_record(actor=SYSTEM, action="bureau_pre_notice.letter_queued", obj=letter, reason=why,
                         new={"status": "queued"})
        escalated += 1
    return escalated


@transaction.atomic
def pre_notice_letter_mark_sent(*, letter: PreNoticeLetter, actor: Actor, sent_on: dt.date | None = None
                                ) -> PreNoticeLetter:
    """Staff printed and posted the letter: the customer counts as told from ``sent_on`` (today by
    default), and the account's negative data is reported once the lead time has passed."""
    letter = PreNoticeLetter.objects.select_for_update().get(pk=letter.pk)
    if letter.status != PreNoticeLetter.Status.QUEUED:
        raise BusinessRuleError("Only a queued letter can be marked sent.", code="letter_not_queued")
    letter.status, letter.sent_on, letter.marked_by = (PreNoticeLetter.Status.SENT,
                                                       sent_on or business_date.get_business_date(), actor.user)
    letter.save(update_fields=["status", "sent_on", "marked_by", "updated_at"])
    audit_record(actor=actor, action="bureau_pre_notice_letter.sent", obj=letter, old={"status": "queued"},
                 new={"status": "sent", "sent_on": letter.sent_on.isoformat()})
    return letter


@transaction.atomic
def bureau_notices_queue(*, on: dt.date, account_ids: Sequence[int] | None = None) -> int:
    """Close-of-business step: queue the pre-notice for every account that has negative data (past due
    after grace, or written off) and has never had one (PRODUCT §6, 征信业管理条例 Art. 15). Returns how
    many were queued (0 on a second run for the same date). Chunked like the engine's steps (a chunk's
    accounts only), so a fanned-out close of business spreads it over the workers."""
    noticed = Notice.objects.filter(kind=NoticeKind.BUREAU_PRE_NOTICE, account_id=OuterRef("pk"),
                                    event_key=pre_notice_key_sql())
    accounts = (
        CreditAccount.objects.exclude(dpd=0, written_off_on__isnull=True).filter(~Exists(noticed))
        .filter(account_filter(account_ids, "pk")).select_related("customer").only(*MESSAGE_ACCOUNT_FIELDS).order_by("pk")
    )
    return notices_create(on=on, events=[
        NoticeEvent(account, NoticeKind.BUREAU_PRE_NOTICE, pre_notice_key(account.pk)) for account in accounts
    ])


# --- PRODUCT §13: the days, the frozen month --------------------------------------------------------


def delinquency_days_record(*, on: dt.date, account_ids: Sequence[int] | None = None) -> int:
    """Close-of-business (per chunk): each delinquent subject's DPD and status at this close, so the
    month's highest DPD and worst status survive a cure within the month. A re-run replaces the day."""
    wanted = {(acc, ref): (dpd, status) for acc, ref, dpd, status in delinquent_subjects(account_ids=account_ids)}
    stored = DelinquencyDay.objects.filter(account_filter(account_ids), on_date=on)
    kept = {(acc, ref): (dpd, status) for acc, ref, dpd, status in
            stored.values_list("account_id", "subject_ref", "dpd", "status")}
    if kept != wanted:  # a re-run of the same close changes nothing (PRODUCT §13)
        stored.delete()
        DelinquencyDay.objects.bulk_create([DelinquencyDay(account_id=acc, subject_ref=ref, on_date=on, dpd=dpd, status=st)
                                            for (acc, ref), (dpd, st) in wanted.items()], batch_size=2000)
    return len(wanted) if kept != wanted else 0


def pre_notice_follow_rejudged(event) -> None:
    """Listener of the engine's value-dated re-judging: once the money shows the account is no longer past due,
    its pre-notice that has not gone out is withdrawn (PRODUCT §13: decisions a value date erases are undone)."""
    account = CreditAccount.objects.get(pk=event.account_id)
    if account.dpd == 0 and account.written_off_on is None:
        pre_notice_withdraw(account=account, actor=Actor.system("bureau.pre_notice_withdraw"),
                            reason=f"money value-dated on or after {event.since} shows the account is not past due")


def delinquency_days_rejudged(event) -> None:
    """Listener of the engine's value-dated re-judging (``installments.hooks``): the account's days from
    the re-judged date are rewritten from its corrected bucket history; the days before stay as closed."""
    last = event.on - dt.timedelta(days=1)
    if event.since > last:
        return
    series = dpd_series(account_id=event.account_id, start=event.since, end=last)
    old = list(DelinquencyDay.objects.filter(account_id=event.account_id, on_date__gte=event.since, on_date__lte=last))
    account = CreditAccount.objects.only("reference", "status", "written_off_on").get(pk=event.account_id)
    by_day: dict[dt.date, list[DelinquencyDay]] = {}
    for row in old:
        by_day.setdefault(row.on_date, []).append(row)
    status = "W" if account.written_off_on else "F"
    rows = []
    for day, dpd in series.items():
        if dpd <= 0:
            continue
        before = by_day.get(day) or [DelinquencyDay(subject_ref=account.reference, dpd=dpd, status=status)]
        rows.extend(DelinquencyDay(account_id=event.account_id, subject_ref=r.subject_ref, on_date=day,
                                   dpd=min(r.dpd, dpd) if len(before) > 1 else dpd, status=r.status or status)
                    for r in before)
    DelinquencyDay.objects.filter(pk__in=[r.pk for r in old]).delete()
    DelinquencyDay.objects.bulk_create(rows)


def snapshot_period_for(on: dt.date) -> dt.date:
    """The month whose snapshot the close of ``on`` takes: ``on``'s month on its last day, else the
    month before (the first close after a month's last day, when that close was missed)."""
    if (on + dt.timedelta(days=1)).day == 1:
        return on.replace(day=1)
    return period_for(on)


@transaction.atomic
def bureau_month_snapshot(*, period: dt.date, on: dt.date) -> int:
    """Freeze the month ``period`` as at the close of ``on`` (PRODUCT §13): one row per subject (credit
    line, cash loan) open in the month, with the month's worst status and highest DPD (from the
    delinquency days), the 24-month history and the figures. Returns rows written; 0 when taken already."""
    if BureauSnapshot.objects.filter(period=period).exists():
        return 0
    policy = policy_get()
    account_ids = list(reportable_accounts(period=period).order_by("pk").values_list("pk", flat=True))
    if not account_ids:
        return 0
    end = month_end(period)
    subjects = subject_figures(period=period, account_ids=account_ids)
    worst: dict[str, tuple[int, str]] = {}
    for ref, dpd, status in DelinquencyDay.objects.filter(
        account_id__in=account_ids, on_date__gte=period, on_date__lte=end
    ).values_list("subject_ref", "dpd", "status"):
        d, st = worst.get(ref, (0, "N"))
        worst[ref] = (max(d, dpd), worst_status(st, status))
    fees = month_fees(period=period, account_ids=account_ids)
    earlier = _histories(refs=list(subjects), period=period)
    rows = []
    for ref, (subject, fig) in subjects.items():
        month_dpd, month_status = worst.get(ref, (0, "N"))
        dpd, status = max(month_dpd, fig.dpd), worst_status(month_status, fig.account_status)
        written_off = status == "W"
        rows.append(BureauSnapshot(
            period=period, account_id=subject.account_id, cash_loan_id=subject.cash_loan_id, subject_ref=ref,
            subject_kind=subject.kind, taken_on=on, credit_limit=fig.credit_limit, balance=fig.balance,
            overdue_amount=fig.overdue_amount, dpd=dpd, account_status=status,
            classification=classify(dpd=dpd, written_off=written_off, policy=policy),
            history=_history(earlier.get(ref, {}), period=period, opened_on=subject.opened_on,
                             this=history_char(dpd=dpd, status=status)),
            fees_in_month=fees.get(subject.account_id, ZERO) if subject.kind == SubjectKind.REVOLVING else ZERO,
            negative=is_negative(dpd=dpd, written_off=written_off),
        ))
    BureauSnapshot.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def _histories(*, refs: list[str], period: dt.date) -> dict[str, dict[dt.date, str]]:
    first = period - relativedelta(months=23)
    out: dict[str, dict[dt.date, str]] = {}
    for ref, month, dpd, status in BureauSnapshot.objects.filter(
        subject_ref__in=refs, period__gte=first, period__lt=period
    ).values_list("subject_ref", "period", "dpd", "account_status"):
        out.setdefault(ref, {})[month] = history_char(dpd=dpd, status=status)
    return out


def _history(months: dict[dt.date, str], *, period: dt.date, opened_on: dt.date, this: str) -> str:
    """24 characters, oldest month first: ``/`` not open yet, ``*`` open but no record kept."""
    chars = []
    for k in range(23, 0, -1):
        month = period - relativedelta(months=k)
        chars.append(months.get(month) or ("/" if month_end(month) < opened_on else "*"))
    return "".join(chars) + this


def bureau_month_step(*, on: dt.date) -> int:
    """Close-of-business step (slot ``bureau_file``, before the file): the month's snapshot on its last day."""
    return bureau_month_snapshot(period=snapshot_period_for(on), on=on)


# --- corrections from events valued in the month ------------------------------------------------------


def _allocated(repayment_ids: list[int], *, reversals: bool) -> dict[tuple[int, str], Decimal]:
    """Money of the repayments that paid something, per (repayment, subject ref)."""
    from installments.models import Allocation

    rows = Allocation.objects.filter(repayment_id__in=repayment_ids).exclude(
        kind__in=[Allocation.Kind.CREDIT_BALANCE, Allocation.Kind.RECOVERY])
    rows = rows.filter(reverses__isnull=False) if reversals else rows.filter(reverses__isnull=True)
    out: dict[tuple[int, str], Decimal] = {}
    plans = {}
    data = list(rows.values("repayment_id", "line__plan_id", "amount", "account__reference"))
    if data:
        plans = cash_loans_by_plan(account_ids=list(rows.values_list("account_id", flat=True).distinct()))
    for row in data:
        plan = plans.get(row["line__plan_id"])
        ref = plan.ref if plan else row["account__reference"]
        key = (row["repayment_id"], ref)
        out[key] = out.get(key, ZERO) + abs(row["amount"])
    return out


def bureau_corrections_collect(*, period: dt.date, on: dt.date) -> list[BureauCorrection]:
    """New corrections of the frozen month ``period`` (PRODUCT §13): only events whose value date falls
    in the month and that were posted after the snapshot — a value-dated payment, the reversal of a
    payment valued in the month. Each corrects the subjects it paid, from the re-judged days of the month
    (days after the month are never read), with its cause. Events valued after the month change nothing."""
    from installments.models import Repayment

    snapshots = {s.subject_ref: s for s in BureauSnapshot.objects.filter(period=period)}
    if not snapshots:
        return []
    taken_on = next(iter(snapshots.values())).taken_on
    end = month_end(period)
    in_month = Repayment.objects.filter(received_on__gte=period, received_on__lte=end)
    posted = list(in_month.filter(posted_on__gt=taken_on).exclude(kind=Repayment.Kind.RECOVERY))
    reversed_ = list(in_month.filter(status=Repayment.Status.REVERSED, reversed_on__gt=taken_on))
    paid = _allocated([r.pk for r in posted], reversals=False)
    undone = _allocated([r.pk for r in reversed_], reversals=True)
    effects: dict[str, list[tuple[str, str, Decimal]]] = {}
    for r in posted:
        for (rid, ref), amount in paid.items():
            if rid == r.pk:
                effects.setdefault(ref, []).append((
                    f"repayment:{r.reference}",
                    f"payment {r.external_ref} of {r.amount:.2f} value-dated {r.received_on}, posted {r.posted_on}",
                    -amount))
    for r in reversed_:
        for (rid, ref), amount in undone.items():
            if rid == r.pk:
                effects.setdefault(ref, []).append((
                    f"reversal:{r.reference}",
                    f"payment {r.external_ref} value-dated {r.received_on} reversed on {r.reversed_on}: "
                    f"{r.reversal_reason}"[:500], amount))
    existing = set(BureauCorrection.objects.filter(snapshot__period=period).values_list("snapshot__subject_ref", "event_key"))
    created = []
    for ref, items in effects.items():
        snapshot = snapshots.get(ref)
        items = [i for i in items if (ref, i[0]) not in existing]
        if snapshot is None or not items:
            continue
        before = effective_figures(snapshot)
        after = _corrected(snapshot, before=before, delta=sum((i[2] for i in items), ZERO))
        for key, cause, _ in items:
            created.append(BureauCorrection.objects.create(
                snapshot=snapshot, event_key=key, cause=cause, found_on=on, old=before, new=after))
    return created


def _corrected(snapshot: BureauSnapshot, *, before: dict, delta: Decimal) -> dict:
    """The month's figures after money valued in the month: DPD and status from the month's (re-judged)
    days only, balance and overdue amount less what the money paid and the month's fees it took away."""
    end = month_end(snapshot.period)
    days = list(DelinquencyDay.objects.filter(subject_ref=snapshot.subject_ref, on_date__gte=snapshot.period,
                                              on_date__lte=end).values_list("on_date", "dpd", "status"))
    dpd = max((d for _, d, _ in days), default=0)
    status = worst_status(*(st for _, _, st in days)) if days else ("N" if before["status"] == "F" else before["status"])
    fees_removed = ZERO
    if snapshot.subject_kind == SubjectKind.REVOLVING:
        now = month_fees(period=snapshot.period, account_ids=[snapshot.account_id]).get(snapshot.account_id, ZERO)
        fees_removed = max(snapshot.fees_in_month - now, ZERO)
    balance = max(money(Decimal(before["balance"]) + delta - fees_removed), ZERO)
    open_at_end = any(day == end and d > 0 for day, d, _ in days) or status == "W"
    overdue = max(money(Decimal(before["overdue_amount"]) + delta - fees_removed), ZERO) if open_at_end else ZERO
    policy = policy_get()
    return {"balance": f"{balance:.2f}", "overdue_amount": f"{overdue:.2f}", "dpd": dpd, "status": status,
            "classification": classify(dpd=dpd, written_off=status == "W", policy=policy)}


def effective_figures(snapshot: BureauSnapshot) -> dict:
    """The frozen month with its corrections applied (the latest correction's figures)."""
    last = snapshot.corrections.order_by("-id").first()
    if last is not None:
        return dict(last.new)
    return {"balance": f"{snapshot.balance:.2f}", "overdue_amount": f"{snapshot.overdue_amount:.2f}",
            "dpd": snapshot.dpd, "status": snapshot.account_status, "classification": snapshot.classification}


# --- the monthly file -------------------------------------------------------------------------


def _withheld_reasons(*, account_ids: set[int], on: dt.date, lead_days: int) -> dict[int, str]:
    """Why each account's negative data cannot be reported at the close of ``on`` (absent: it can): its
    pre-notice (or the letter that replaced it) must have gone out ``lead_days`` before."""
    reasons: dict[int, str] = {}
    ready_by = on - dt.timedelta(days=lead_days)
    sent: dict[int, dt.date] = {}
    for acc, sent_on in Notice.objects.filter(kind=NoticeKind.BUREAU_PRE_NOTICE, status=Notice.Status.SENT,
                                              account_id__in=account_ids).values_list("account_id", "sent_on"):
        sent[acc] = min(sent_on, sent.get(acc, sent_on))
    for acc, sent_on in PreNoticeLetter.objects.filter(status=PreNoticeLetter.Status.SENT,
                                                       account_id__in=account_ids).values_list("account_id", "sent_on"):
        sent[acc] = min(sent_on, sent.get(acc, sent_on))
    letters = dict(PreNoticeLetter.objects.filter(status=PreNoticeLetter.Status.QUEUED, account_id__in=account_ids)
                   .values_list("account_id", "queued_on"))
    pending = {}
    for n in Notice.objects.filter(kind=NoticeKind.BUREAU_PRE_NOTICE, account_id__in=account_ids).exclude(
            status=Notice.Status.SENT).exclude(event_key__startswith=WITHDRAWN).order_by("pk"):
        pending[n.account_id] = n
    for acc in account_ids:
        if acc in sent:
            if sent[acc] > ready_by:
                reasons[acc] = (f"pre-notice sent on {sent[acc]}: reportable from "
                                f"{sent[acc] + dt.timedelta(days=lead_days)} ({lead_days}-day lead time)")
            continue
        if acc in letters:
            reasons[acc] = f"pre-notice letter queued on {letters[acc]}, not marked sent yet"
        elif acc in pending:
            n = pending[acc]
            if n.status == Notice.Status.SUPPRESSED:
                reasons[acc] = f"pre-notice suppressed ({n.status_reason}): escalated"
            elif n.status == Notice.Status.FAILED:
                reasons[acc] = f"pre-notice on {n.channel} failed {n.attempts} time(s): {n.last_error}"[:300]
            else:
                reasons[acc] = f"pre-notice queued on {n.for_date} ({n.channel}), not sent yet"
        else:
            reasons[acc] = "no pre-notice yet: it is queued by this close"
    return reasons


def _build(*, period: dt.date, on: dt.date, version: int, previous: BureauFile | None, actor: Actor,
           reason: str) -> BureauFile:
    policy = policy_get()
    snapshots = list(BureauSnapshot.objects.filter(period=period).select_related("account__customer", "cash_loan")
                     .order_by("account_id", "subject_kind", "subject_ref"))
    corrections: dict[int, list[BureauCorrection]] = {}
    for c in BureauCorrection.objects.filter(snapshot__period=period).order_by("id"):
        corrections.setdefault(c.snapshot_id, []).append(c)
    negative_accounts = set()
    figures = {}
    for snap in snapshots:
        fig = dict(corrections[snap.pk][-1].new) if snap.pk in corrections else effective_figures(snap)
        figures[snap.pk] = fig
        if is_negative(dpd=fig["dpd"], written_off=fig["status"] == "W"):
            negative_accounts.add(snap.account_id)
    withheld_why = _withheld_reasons(account_ids=negative_accounts, on=on, lead_days=policy.notice_lead_days)
    before = {}
    if previous is not None:
        before = {r.subject_ref: r for r in previous.records.all()}
    records, lines = [], []
    for snap in snapshots:
        fig = figures[snap.pk]
        negative = is_negative(dpd=fig["dpd"], written_off=fig["status"] == "W")
        why = withheld_why.get(snap.account_id, "") if negative else ""
        causes = "; ".join(c.cause for c in corrections.get(snap.pk, []))
        record = BureauRecord(
            account_id=snap.account_id, subject_ref=snap.subject_ref, subject_kind=snap.subject_kind,
            credit_limit=snap.credit_limit, balance=Decimal(fig["balance"]), overdue_amount=Decimal(fig["overdue_amount"]),
            dpd=fig["dpd"], account_status=fig["status"], classification=fig["classification"],
            history=snap.history[:-1] + history_char(dpd=fig["dpd"], status=fig["status"]),
            negative=negative and not why, withheld=bool(why), withheld_reason=why[:300], disputed=snap.disputed,
        )
        old = before.get(snap.subject_ref)
        record.corrected = previous is not None and (old is None or _reported(old) != _reported(record))
        if record.corrected:
            record.correction_cause = (causes or ("pre-notice lead time passed" if old is not None and old.withheld
                                                  else "figures changed"))[:500]
        records.append(record)
        if record.withheld:
            continue
        customer = snap.account.customer
        lines.append(layout.Line(
            kind="C" if record.corrected else "A", account_ref=snap.subject_ref, name=customer.name,
            id_number=customer.id_number,
            opened_on=snap.cash_loan.drawn_on if snap.cash_loan_id else snap.account.opened_on,
            credit_limit=record.credit_limit, balance=record.balance, overdue_amount=record.overdue_amount,
            dpd=record.dpd, account_status=record.account_status, classification=record.classification,
            account_type=record.subject_kind, history=record.history, disputed=record.disputed,
        ))
    content = layout.render(institution_code=policy.institution_code, period=period, version=version, as_of=on,
                            lines=lines)
    if previous is not None:
        previous.status = BureauFile.Status.SUPERSEDED
        previous.save(update_fields=["status", "updated_at"])
    bureau_file = BureauFile.objects.create(
        period=period, version=version, as_of=on,
        file_name=layout.file_name(institution_code=policy.institution_code, period=period, version=version),
        content=content, sha256=hashlib.sha256(content.encode()).hexdigest(), record_count=len(lines),
        negative_count=sum(r.negative for r in records), withheld_count=sum(r.withheld for r in records),
        corrected_count=sum(r.corrected for r in records), reason=reason, generated_by=actor.user,
    )
    for record in records:
        record.file = bureau_file
    BureauRecord.objects.bulk_create(records, batch_size=2000)
    audit_record(actor=actor, action="bureau_file.issued" if previous is None else "bureau_file.reissued",
                 obj=bureau_file, reason=reason,
                 new={"period": f"{period:%Y-%m}", "version": version, "records": len(lines),
                      "withheld": bureau_file.withheld_count, "corrected": bureau_file.corrected_count})
    return bureau_file


def _reported(record: BureauRecord) -> tuple:
    """What a record puts in the file (a withheld record puts nothing)."""
    if record.withheld:
        return ("withheld",)
    return (record.credit_limit, record.balance, record.overdue_amount, record.dpd, record.account_status,
            record.classification, record.disputed)


@transaction.atomic
def bureau_file_generate(*, on: dt.date) -> BureauFile | None:
    """Write the file of the month before ``on`` from that month's frozen snapshot (taken now if the
    close of the month's last day did not) if it has not been written yet; ``None`` when it exists
    already (a re-run changes nothing) or when no account was open in that month."""
    period = period_for(on)
    if BureauFile.objects.filter(period=period).exists() or not reportable_accounts(period=period).exists():
        return None
    try:
        with transaction.atomic():
            bureau_month_snapshot(period=period, on=on)
            return _build(period=period, on=on, version=1, previous=None, actor=SYSTEM, reason="")
    except IntegrityError:  # another worker wrote it first
        return None


def bureau_file_step(*, on: dt.date) -> int:
    """Close-of-business step (slot ``bureau_file``): the monthly file; returns the records written."""
    bureau_file = bureau_file_generate(on=on)
    return bureau_file.record_count if bureau_file else 0


@transaction.atomic
def bureau_file_reissue(*, bureau_file: BureauFile, actor: Actor, reason: str) -> BureauFile:
    """Re-issue a month as the next version (PRODUCT §13): its frozen snapshot plus the corrections from
    events valued in that month (each with its cause), never today's figures. Records that differ from
    the version it replaces are marked ``C``; negative data whose pre-notice lead time has passed since
    is released."""
    reason = _require_reason(reason)
    current = BureauFile.objects.select_for_update().get(pk=bureau_file.pk)
    if current.status != BureauFile.Status.CURRENT:
        raise BusinessRuleError("Only the current version of a file can be re-issued.", code="bureau_file_superseded")
    last_closed = business_date.get_business_date() - dt.timedelta(days=1)
    bureau_month_snapshot(period=current.period, on=current.as_of)  # a file written before snapshots existed
    bureau_corrections_collect(period=current.period, on=last_closed)
    return _build(period=current.period, on=last_closed, version=current.version + 1,
                  previous=current, actor=actor, reason=reason)


# --- disputes (异议) and retention ----------------------------------------------------------------------


@transaction.atomic
def bureau_dispute_open(*, snapshot: BureauSnapshot, claim: str, actor: Actor,
                        received_on: dt.date | None = None) -> BureauDispute:
    """Record a customer's dispute of an account-month: the record is flagged (the next file version says
    so) and the answer is due within the policy's days (征信业管理条例 Art. 25; default 20)."""
    claim = (claim or "").strip()
    if not claim:
        raise ValidationError("Say what the customer disputes.", code="dispute_claim_required")
    received_on = received_on or business_date.get_business_date()
    snapshot = BureauSnapshot.objects.select_for_update().get(pk=snapshot.pk)
    dispute = BureauDispute.objects.create(
        snapshot=snapshot, claim=claim[:500], received_on=received_on,
        answer_due_on=received_on + dt.timedelta(days=policy_get().dispute_answer_days))
    if not snapshot.disputed:
        snapshot.disputed = True
        snapshot.save(update_fields=["disputed"])
    audit_record(actor=actor, action="bureau_dispute.opened", obj=dispute, reason=dispute.claim,
                 new={"record": str(snapshot), "answer_due_on": dispute.answer_due_on.isoformat()})
    return dispute


@transaction.atomic
def bureau_dispute_answer(*, dispute: BureauDispute, upheld: bool, answer: str, actor: Actor,
                          corrected: dict | None = None) -> BureauDispute:
    """Answer a dispute. Upheld: a correction record of the account-month with the corrected figures
    (``dpd``, ``balance``, ``overdue_amount``, ``status``; the classification follows), sent in the next
    re-issue of that month. Rejected: the reason is the answer. The flag is lifted once no dispute of the
    record is open."""
    answer = (answer or "").strip()
    if not answer:
        raise ValidationError("An answer (the finding, or the reason for rejecting) is required.",
                              code="dispute_answer_required")
    dispute = BureauDispute.objects.select_for_update().get(pk=dispute.pk)
    if dispute.status != BureauDispute.Status.OPEN:
        raise BusinessRuleError("This dispute has been answered already.", code="dispute_answered")
    snapshot = BureauSnapshot.objects.select_for_update().get(pk=dispute.snapshot_id)
    today = business_date.get_business_date()
    if upheld:
        if not corrected:
            raise ValidationError("An upheld dispute says what the record should have said.",
                                  code="dispute_correction_required")
        unknown = set(corrected) - {"dpd", "balance", "overdue_amount", "status"}
        if unknown:
            raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}.", code="dispute_correction_invalid")
        before = effective_figures(snapshot)
        after = {**before, **{k: (f"{money(Decimal(str(v))):.2f}" if k in ("balance", "overdue_amount") else v)
                              for k, v in corrected.items()}}
        after["dpd"] = int(after["dpd"])
        after["classification"] = classify(dpd=after["dpd"], written_off=after["status"] == "W", policy=policy_get())
        dispute.correction = BureauCorrection.objects.create(
            snapshot=snapshot, event_key=f"dispute:{dispute.reference}", found_on=today, old=before, new=after,
            cause=f"dispute {dispute.reference} upheld: {answer}"[:500])
    dispute.status = BureauDispute.Status.UPHELD if upheld else BureauDispute.Status.REJECTED
    dispute.answer, dispute.answered_on, dispute.answered_by = answer[:500], today, actor.user
    dispute.save(update_fields=["status", "answer", "answered_on", "answered_by", "correction", "updated_at"])
    if not snapshot.disputes.filter(status=BureauDispute.Status.OPEN).exists():
        snapshot.disputed = False
        snapshot.save(update_fields=["disputed"])
    audit_record(actor=actor, action="bureau_dispute.answered", obj=dispute, reason=answer,
                 old={"status": "open"}, new={"status": dispute.status,
                                              "late": today > dispute.answer_due_on})
    return dispute


@transaction.atomic
def bureau_negative_purge(*, on: dt.date) -> int:
    """Close-of-business step (PRODUCT §13, 征信业管理条例 Art. 16): negative data is kept for the policy's
    years (default 5) from the end of the delinquency — the first month the subject was reported clean
    again — then dropped: the negative account-months, their delinquency days and their records in the
    files kept here. A delinquency that has not ended (or a written-off account) is kept. Returns the
    account-months dropped (0 on a re-run)."""
    cutoff = on - relativedelta(years=policy_get().negative_retention_years)
    clean_after = BureauSnapshot.objects.filter(subject_ref=OuterRef("subject_ref"), negative=False,
                                                period__gt=OuterRef("period"), period__lte=cutoff)
    doomed = list(BureauSnapshot.objects.filter(negative=True, period__lt=cutoff).filter(Exists(clean_after))
                  .values_list("pk", "subject_ref", "period"))
    if not doomed:
        return 0
    for _, ref, period in doomed:
        DelinquencyDay.objects.filter(subject_ref=ref, on_date__gte=period, on_date__lte=month_end(period)).delete()
        BureauRecord.objects.filter(subject_ref=ref, file__period=period).filter(
            Q(negative=True) | Q(withheld=True)).delete()
    BureauDispute.objects.filter(snapshot_id__in=[pk for pk, _, _ in doomed]).delete()
    BureauSnapshot.objects.filter(pk__in=[pk for pk, _, _ in doomed]).delete()
    audit_record(actor=Actor.system("bureau.negative_purge"), action="bureau_negative.purged",
                 obj=policy_get(), new={"account_months": len(doomed), "ended_before": cutoff.isoformat()})
    return len(doomed)


def bureau_file_download(*, bureau_file: BureauFile, user, reason: str) -> str:
    """The file's content for a user allowed to download it (it holds full identities), audited."""
    if not (user.has_perm("bureau.download_bureaufile") and user.has_perm("accounts.view_full_pii")):
        raise PermissionDeniedError("Downloading a bureau file needs the download and full personal-data permissions.",
                                    code="bureau_download_denied")
    reason = _require_reason(reason)
    audit_record(actor=Actor.staff(user), action="bureau_file.downloaded", obj=bureau_file, reason=reason,
                 new={"sha256": bureau_file.sha256})
    return bureau_file.content
