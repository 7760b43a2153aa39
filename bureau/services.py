"""Writes of credit-bureau reporting: pre-notices, the monthly file, re-issues and downloads."""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from dateutil.relativedelta import relativedelta
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat

from accounts.models import CreditAccount
from bureau import layout
from bureau.models import BureauFile, BureauRecord
from bureau.selectors import account_figures, classify, is_negative, policy_get, reportable_accounts
from cob.registry import account_filter
from core import business_date
from core.actors import Actor
from core.audit import audit_record
from core.errors import BusinessRuleError, PermissionDeniedError, ValidationError
from debt_collection.services.reminders import MESSAGE_ACCOUNT_FIELDS
from notices.models import Notice, NoticeKind
from notices.services import NoticeEvent, notices_create

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


@transaction.atomic
def pre_notice_withdraw(*, account: CreditAccount, reason: str, actor: Actor = SYSTEM) -> Notice | None:
    """Withdraw the account's pre-notice that has not gone out yet (queued or failed), because what made
    the account negative was erased (a value-dated payment, a reversed charge…; PRODUCT §13). The notice
    is kept, suppressed with the reason, and its event key freed so a later delinquency episode gets a
    pre-notice of its own. Returns the notice withdrawn, or ``None`` when there was none to withdraw (a
    pre-notice already sent stays sent: the customer was told)."""
    reason = _require_reason(reason)
    notice = (Notice.objects.select_for_update(of=("self",))
              .filter(kind=NoticeKind.BUREAU_PRE_NOTICE, event_key=pre_notice_key(account.pk),
                      status__in=[Notice.Status.QUEUED, Notice.Status.FAILED]).first())
    if notice is None:
        return None
    old = notice.status
    notice.status, notice.status_reason = Notice.Status.SUPPRESSED, f"{WITHDRAWN}: {reason}"[:200]
    notice.event_key = f"{WITHDRAWN}:{notice.pk}"
    notice.save(update_fields=["status", "status_reason", "event_key", "updated_at"])
    audit_record(actor=actor, action="bureau_pre_notice.withdrawn", obj=notice, reason=reason,
                 old={"status": old}, new={"status": notice.status})
    return notice


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


# --- the monthly file -------------------------------------------------------------------------


def _build(*, period: dt.date, on: dt.date, version: int, previous: BureauFile | None, actor: Actor,
           reason: str) -> BureauFile:
    policy = policy_get()
    accounts = {a.pk: a for a in reportable_accounts(period=period).select_related("customer").order_by("pk")}
    figures = account_figures(account_ids=list(accounts))
    notices_ready = set(
        Notice.objects.filter(kind=NoticeKind.BUREAU_PRE_NOTICE, status=Notice.Status.SENT,
                              sent_on__lte=on - dt.timedelta(days=policy.notice_lead_days))
        .values_list("account_id", flat=True)
    )
    before = {}
    if previous is not None:
        before = {r.account_id: r for r in previous.records.all()}
    records, lines = [], []
    for pk, account in accounts.items():
        fig = figures[pk]
        negative = is_negative(dpd=fig.dpd, written_off=fig.written_off)
        withheld = negative and pk not in notices_ready
        record = BureauRecord(
            account_id=pk, credit_limit=fig.credit_limit, balance=fig.balance, overdue_amount=fig.overdue_amount,
            dpd=fig.dpd, account_status=fig.account_status,
            classification=classify(dpd=fig.dpd, written_off=fig.written_off, policy=policy),
            negative=negative and not withheld, withheld=withheld,
        )
        old = before.get(pk)
        record.corrected = previous is not None and (old is None or _reported(old) != _reported(record))
        records.append(record)
        if withheld:
            continue
        customer = account.customer
        lines.append(layout.Line(
            kind="C" if record.corrected else "A", account_ref=account.reference, name=customer.name,
            id_number=customer.id_number, opened_on=account.opened_on, credit_limit=record.credit_limit,
            balance=record.balance, overdue_amount=record.overdue_amount, dpd=record.dpd,
            account_status=record.account_status, classification=record.classification,
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
            record.classification)


@transaction.atomic
def bureau_file_generate(*, on: dt.date) -> BureauFile | None:
    """Write the file of the month before ``on`` if it has not been written yet (the close of the
    month's first business day); ``None`` when it exists already (a re-run changes nothing) or when no
    account was open in that month (nothing to report: before the first account)."""
    period = period_for(on)
    if BureauFile.objects.filter(period=period).exists() or not reportable_accounts(period=period).exists():
        return None
    try:
        with transaction.atomic():
            return _build(period=period, on=on, version=1, previous=None, actor=SYSTEM, reason="")
    except IntegrityError:  # another worker wrote it first
        return None


def bureau_file_step(*, on: dt.date) -> int:
    """Close-of-business step (slot ``bureau_file``): the monthly file; returns the records written."""
    bureau_file = bureau_file_generate(on=on)
    return bureau_file.record_count if bureau_file else 0


@transaction.atomic
def bureau_file_reissue(*, bureau_file: BureauFile, actor: Actor, reason: str) -> BureauFile:
    """Re-generate a month's file from today's figures (after a correction: a back-valued payment, a
    reversed write-off…) as the next version; records that differ from the version it replaces are
    marked ``C``. Only the current version of the latest reported month can be re-issued."""
    reason = _require_reason(reason)
    current = BureauFile.objects.select_for_update().get(pk=bureau_file.pk)
    if current.status != BureauFile.Status.CURRENT:
        raise BusinessRuleError("Only the current version of a file can be re-issued.", code="bureau_file_superseded")
    latest = BureauFile.objects.order_by("-period").values_list("period", flat=True).first()
    if current.period != latest:
        raise BusinessRuleError(
            "Only the latest month can be re-issued: the figures of earlier months are not kept as of their date.",
            code="bureau_file_not_latest",
        )
    last_closed = business_date.get_business_date() - dt.timedelta(days=1)  # today's figures: the last close's
    return _build(period=current.period, on=last_closed, version=current.version + 1,
                  previous=current, actor=actor, reason=reason)


def bureau_file_download(*, bureau_file: BureauFile, user, reason: str) -> str:
    """The file's content for a user allowed to download it (it holds full identities), audited."""
    if not (user.has_perm("bureau.download_bureaufile") and user.has_perm("accounts.view_full_pii")):
        raise PermissionDeniedError("Downloading a bureau file needs the download and full personal-data permissions.",
                                    code="bureau_download_denied")
    reason = _require_reason(reason)
    audit_record(actor=Actor.staff(user), action="bureau_file.downloaded", obj=bureau_file, reason=reason,
                 new={"sha256": bureau_file.sha256})
    return bureau_file.content
