"""One timeline of everything that changed about a customer or an account, whatever wrote it.

The trail is kept in several places: the structured logs (limit, status and bucket history — the close
of business writes status and bucket rows with SQL, so simple-history never sees them), write-offs,
audit events (waivers, refunds, unmasking, case transfers…), collection case assignments and
escalations, and django-simple-history's change tables (edits made through the ORM). This selector
reads each source once (a fixed number of queries, each bounded by ``limit``), merges them newest
first and gives every entry its actor and reason:

* a simple-history row written in the same moment as a structured row about the same object (the
  ``LimitChange`` of a limit adjustment, the ``StatusChange`` of a freeze, the audit event of a bill
  day change) is folded into that row, which carries the reason the service required; so a required
  reason is never shown as "None";
* a history row's own change reason is shown when it has one; otherwise the entry says that no reason
  was recorded (an edit that did not require one).

The staff app may import every app (the import direction points towards the kernel), so the
cross-app timeline lives here.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from collections.abc import Iterable, Sequence

from django.db.models import CharField, Q
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import BucketChange, CreditAccount, Customer, LimitChange, StatusChange, TemporaryLimit
from core.models import AuditEvent
from core.money import format_cny
from debt_collection.models import CaseAssignment, CaseEscalation, CollectionCase
from installments.models import Plan, Purchase, Repayment, Statement, WriteOff
from notices.models import Notice

DEFAULT_LIMIT = 100
#: A history row this close to a structured row about the same object is the same change.
FOLD_WINDOW = dt.timedelta(seconds=5)
#: Audit actions that only repeat a structured log row (the structured row is shown instead).
AUDIT_DUPLICATES = {"limit_change"}

CATEGORY_LABELS = {
    "limit": gettext_lazy("Limit"),
    "status": gettext_lazy("Status"),
    "bucket": gettext_lazy("Bucket"),
    "write_off": gettext_lazy("Write-off"),
    "audit": gettext_lazy("Audit"),
    "change": gettext_lazy("Change"),
    "case": gettext_lazy("Collections"),
    "notice": gettext_lazy("Notice"),
}
#: How a history row's object is named (``row.instance`` would re-read the fields history leaves out).
SUBJECTS = {"accounts.creditaccount": gettext_lazy("Account"), "accounts.customer": gettext_lazy("Customer"),
            "collections.collectioncase": gettext_lazy("Case")}
#: Fields of simple-history rows that are not worth a line (timestamps, hashes).
_HISTORY_SKIP = {"id", "updated_at", "created_at", "id_number_hash", "id_number_last4", "history_id", "history_date",
                 "history_change_reason", "history_type", "history_user", "history_user_id", "reference"}
#: Personal data is never shown in a timeline, even masked values would leak edits.
_PERSONAL = {"name", "mobile", "address", "email", "id_number"}


@dataclass
class TimelineEntry:
    at: dt.datetime
    category: str
    subject: str
    summary: str
    actor: str
    reason: str
    source: str
    object_key: tuple[str, int] | None = None
    changes: list[str] = field(default_factory=list)

    @property
    def category_label(self) -> str:
        return str(CATEGORY_LABELS.get(self.category, self.category))


def _user(user) -> str:
    return user.get_username() if user is not None else ""


def _actor(row) -> str:
    """A log row's actor: the staff user, or the system with the rule that decided."""
    if getattr(row, "actor_id", None):
        return _user(row.actor)
    rule = getattr(row, "actor_rule", "")
    return _("system (%(rule)s)") % {"rule": rule} if rule else _("system")


def _aware(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(0)))


def _label(model, value: str) -> str:
    return str(dict(model).get(value, value)) if value else "—"


# --- the sources ---------------------------------------------------------------------------------


def _limit_entries(account_ids, limit) -> Iterable[TimelineEntry]:
    rows = LimitChange.objects.filter(account_id__in=account_ids).select_related("actor", "account")
    for r in rows.order_by("-created_at", "-id")[:limit]:
        yield TimelineEntry(
            at=r.created_at, category="limit", subject=str(r.account), actor=_actor(r), reason=r.reason,
            summary=f"{r.get_kind_display()}: {format_cny(r.old_limit)} → {format_cny(r.new_limit)}",
            source=_("limit history"), object_key=("accounts.creditaccount", r.account_id),
        )


def _status_entries(account_ids, limit) -> Iterable[TimelineEntry]:
    rows = StatusChange.objects.filter(account_id__in=account_ids).select_related("actor", "account")
    statuses = CreditAccount.Status.choices
    freeze = CreditAccount.FreezeReason.choices
    for r in rows.order_by("-created_at", "-id")[:limit]:
        new = _label(statuses, r.new_status)
        if r.new_freeze_reason:
            new = f"{new} ({_label(freeze, r.new_freeze_reason).lower()})"
        yield TimelineEntry(
            at=r.created_at, category="status", subject=str(r.account), actor=_actor(r), reason=r.reason,
            summary=f"{_label(statuses, r.old_status)} → {new}", source=_("status history"),
            object_key=("accounts.creditaccount", r.account_id),
        )


def _bucket_entries(account_ids, limit) -> Iterable[TimelineEntry]:
    rows = BucketChange.objects.filter(account_id__in=account_ids).select_related("account")
    for r in rows.order_by("-on_date", "-id")[:limit]:
        yield TimelineEntry(
            at=r.created_at, category="bucket", subject=str(r.account), actor=_("system (close of business)"),
            reason=_("DPD %(dpd)s on %(day)s") % {"dpd": r.dpd, "day": r.on_date.isoformat()},
            summary=f"{r.old_bucket} → {r.new_bucket}", source=_("bucket history"),
        )


def _write_off_entries(account_ids) -> Iterable[TimelineEntry]:
    for w in WriteOff.objects.filter(account_id__in=account_ids).select_related("account"):
        total = w.total
        yield TimelineEntry(
            at=w.created_at, category="write_off", subject=str(w.account), actor=_("system (close of business)"),
            reason=_("DPD %(dpd)s on %(day)s: charged off") % {"dpd": w.dpd, "day": w.on_date.isoformat()},
            summary=_("Written off %(total)s (principal %(principal)s, fees %(fees)s, late fees %(late)s)") % {
                "total": format_cny(total), "principal": format_cny(w.principal), "fees": format_cny(w.fees),
                "late": format_cny(w.late_fees)},
            source=_("write-offs"),
        )


def _expired_temporary_entries(account_ids, limit) -> Iterable[TimelineEntry]:
    rows = TemporaryLimit.objects.filter(account_id__in=account_ids, status=TemporaryLimit.Status.EXPIRED)
    for t in rows.select_related("account").order_by("-ends_on", "-id")[:limit]:
        yield TimelineEntry(
            at=_aware(t.ends_on + dt.timedelta(days=1)), category="limit", subject=str(t.account),
            actor=_("system (close of business)"),
            reason=_("campaign %(campaign)s ended on %(day)s") % {"campaign": t.campaign or "—",
                                                                   "day": t.ends_on.isoformat()},
            summary=_("Temporary limit of %(amount)s expired") % {"amount": format_cny(t.amount)},
            source=_("temporary limits"),
        )


def _notice_entries(account_ids, limit) -> Iterable[TimelineEntry]:
    """What the customer was told (customer notices and the credit-bureau pre-notice), when it was
    queued for the event's date, with the channel and how the sending went."""
    rows = Notice.objects.filter(account_id__in=account_ids).select_related("account")
    for n in rows.order_by("-created_at", "-id")[:limit]:
        yield TimelineEntry(
            at=n.sent_at or n.created_at, category="notice", subject=str(n.account),
            actor=_("system (customer notices)"),
            reason=n.status_reason or n.last_error or _("event of %(day)s") % {"day": n.for_date.isoformat()},
            summary=_("%(kind)s by %(channel)s: %(status)s") % {
                "kind": n.get_kind_display(), "channel": n.channel, "status": n.get_status_display()},
            source=_("customer notices"),
        )


def _ids_as_text(queryset):
    return queryset.annotate(_pk_text=Cast("pk", CharField())).values("_pk_text")


def _audit_entries(account_ids, customer_ids, limit) -> Iterable[TimelineEntry]:
    """Audit events about the accounts, their customers and everything hanging off the accounts."""
    text = lambda ids: [str(i) for i in ids]  # noqa: E731
    scope = (
        Q(object_type="accounts.creditaccount", object_id__in=text(account_ids))
        | Q(object_type="accounts.customer", object_id__in=text(customer_ids))
        | Q(object_type="installments.purchase", object_id__in=_ids_as_text(Purchase.objects.filter(account_id__in=account_ids)))
        | Q(object_type="installments.repayment", object_id__in=_ids_as_text(Repayment.objects.filter(account_id__in=account_ids)))
        | Q(object_type="installments.statement", object_id__in=_ids_as_text(Statement.objects.filter(account_id__in=account_ids)))
        | Q(object_type="installments.plan", object_id__in=_ids_as_text(Plan.objects.filter(account_id__in=account_ids)))
        | Q(object_type="collections.collectioncase",
            object_id__in=_ids_as_text(CollectionCase.objects.filter(account_id__in=account_ids)))
    )
    rows = AuditEvent.objects.filter(scope).exclude(action__in=AUDIT_DUPLICATES).select_related("actor")
    for e in rows.order_by("-created_at", "-id")[:limit]:
        summary = e.action.replace("_", " ")
        if e.old is not None or e.new is not None:
            summary += f": {_short(e.old)} → {_short(e.new)}"
        yield TimelineEntry(
            at=e.created_at, category="audit", subject=e.object_repr or f"{e.object_type} {e.object_id}",
            actor=_actor(e), reason=e.reason, summary=summary, source=_("audit trail"),
            object_key=(e.object_type, int(e.object_id)) if e.object_id.isdigit() else None,
        )


def _short(value) -> str:
    if value is None:
        return "—"
    text = ", ".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _case_entries(account_ids, limit) -> Iterable[TimelineEntry]:
    assignments = (CaseAssignment.objects.filter(case__account_id__in=account_ids)
                   .select_related("case", "collector__user", "agency", "actor").order_by("-created_at", "-id")[:limit])
    for a in assignments:
        summary = _("Assigned to %(who)s in %(bucket)s") % {"who": a.assignee_display, "bucket": a.bucket}
        if a.ended_on:
            summary += _(" (until %(day)s: %(why)s)") % {"day": a.ended_on.isoformat(),
                                                          "why": a.get_end_reason_display().lower()}
        yield TimelineEntry(at=a.created_at, category="case", subject=str(a.case), actor=_actor(a), reason=a.reason,
                            summary=summary, source=_("case assignments"),
                            object_key=("collections.collectioncase", a.case_id))
    escalations = (CaseEscalation.objects.filter(case__account_id__in=account_ids).select_related("case")
                   .order_by("-on_date", "-id")[:limit])
    for e in escalations:
        yield TimelineEntry(
            at=e.created_at, category="case", subject=str(e.case), actor=_("system (close of business)"),
            reason=_("DPD %(dpd)s on %(day)s") % {"dpd": e.dpd, "day": e.on_date.isoformat()},
            summary=(_("Case opened in %(bucket)s") % {"bucket": e.new_bucket}) if not e.old_bucket
            else _("Case escalated %(old)s → %(new)s") % {"old": e.old_bucket, "new": e.new_bucket},
            source=_("case escalations"),
        )


def _history_entries(model, object_ids, limit, label_lower: str) -> Iterable[TimelineEntry]:
    """simple-history rows, each compared with the previous row of the same object."""
    history = model.history.model
    rows = list(history.objects.filter(id__in=object_ids).select_related("history_user")
                .order_by("-history_date", "-history_id")[:limit])
    fields = [f.attname for f in history._meta.concrete_fields
              if f.attname not in _HISTORY_SKIP and not f.attname.startswith("history_")]
    by_object: dict[int, list] = {}
    for row in reversed(rows):  # oldest first
        by_object.setdefault(row.id, []).append(row)
    for object_id, versions in by_object.items():
        previous = None
        for row in versions:
            if row.history_type == "+":
                changes = [_("created")]
            elif previous is None:
                previous = row  # the window starts here: nothing to compare with
                continue
            else:
                changes = _diff(previous, row, fields)
            previous = row
            if not changes:
                continue
            yield TimelineEntry(
                at=row.history_date, category="change", subject=f"{SUBJECTS[label_lower]} {row.reference}",
                actor=_user(row.history_user) or _("system"), reason=row.history_change_reason or "",
                summary="; ".join(changes), source=_("change history"), object_key=(label_lower, object_id),
            )


def _diff(old, new, fields: Sequence[str]) -> list[str]:
    out = []
    for name in fields:
        before, after = getattr(old, name), getattr(new, name)
        if before == after:
            continue
        label = name.removesuffix("_id").replace("_", " ")
        if name in _PERSONAL:
            out.append(_("%(field)s corrected") % {"field": label})
        else:
            out.append(f"{label}: {_value(before)} → {_value(after)}")
    return out


def _value(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    return str(value)


def _fold(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """Fold each simple-history row into the structured row written in the same moment about the same
    object: one change, shown once, with the reason the service recorded."""
    anchors: dict[tuple[str, int], list[TimelineEntry]] = {}
    for entry in entries:
        if entry.category != "change" and entry.object_key is not None:
            anchors.setdefault(entry.object_key, []).append(entry)
    kept = []
    for entry in entries:
        if entry.category == "change" and entry.object_key in anchors:
            match = min(anchors[entry.object_key], key=lambda a: abs(a.at - entry.at))
            if abs(match.at - entry.at) <= FOLD_WINDOW:
                match.changes.append(entry.summary)
                continue
        kept.append(entry)
    return kept


# --- the selector --------------------------------------------------------------------------------


def timeline_for(*, accounts: Sequence[CreditAccount], customer: Customer | None = None,
                 include_audit: bool = True, limit: int = DEFAULT_LIMIT) -> list[TimelineEntry]:
    """Everything that changed about ``accounts`` (and ``customer``), newest first, at most ``limit``
    entries. A fixed number of queries, whatever the history's length. ``include_audit`` is False
    for a user who may not read the audit trail (its events are left out)."""
    account_ids = [a.pk for a in accounts]
    customer_ids = [customer.pk] if customer is not None else []
    entries: list[TimelineEntry] = []
    entries += _limit_entries(account_ids, limit)
    entries += _status_entries(account_ids, limit)
    entries += _bucket_entries(account_ids, limit)
    entries += _write_off_entries(account_ids)
    entries += _expired_temporary_entries(account_ids, limit)
    if include_audit:
        entries += _audit_entries(account_ids, customer_ids, limit)
    entries += _case_entries(account_ids, limit)
    entries += _notice_entries(account_ids, limit)
    entries += _history_entries(CreditAccount, account_ids, limit, "accounts.creditaccount")
    if customer_ids:
        entries += _history_entries(Customer, customer_ids, limit, "accounts.customer")
    entries += _history_entries(CollectionCase, CollectionCase.objects.filter(account_id__in=account_ids).values("pk"),
                                limit, "collections.collectioncase")
    entries = _fold(entries)
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
