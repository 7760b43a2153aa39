"""Collection cases: opened, escalated and closed by close of business, assigned by balancing open
cases within each collector's and agency's maximum, and assigned, transferred, recalled or closed by
managers. Lock order everywhere: cases (by pk), then collectors (by pk), then agencies (by pk)."""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import CreditAccount
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import BusinessRuleError, ConflictError, ValidationError
from debt_collection import engine
from debt_collection.models import (
    CASE_BUCKETS,
    Agency,
    CaseAssignment,
    CaseEscalation,
    CollectionCase,
    Collector,
)
from debt_collection.rules import Seat, pick_seat
from debt_collection.selectors import (
    agency_eligibility_problem,
    agency_sharing_consents,
    eligible_agencies,
    open_case_counts,
    queues_by_bucket,
)
from debt_collection.services.common import ensure_manager

SYNC_RULE = "collections.cases_sync"
ASSIGN_RULE = "collections.cases_assign: balance open cases within maxima"
OPEN = CollectionCase.Status.OPEN
CASE_FIELDS = [
    "status", "close_reason", "closed_on", "bucket", "dpd", "amount_overdue", "balance", "queue", "collector",
    "agency", "assigned_on", "updated_at",
]


def _account_q(account_ids: Sequence[int] | None, field: str) -> Q:
    if account_ids is None:
        return Q()
    if isinstance(account_ids, range) and account_ids.step == 1:
        return Q(**{f"{field}__gte": account_ids.start, f"{field}__lt": account_ids.stop})
    return Q(**{f"{field}__in": list(account_ids)})


def _memberships() -> tuple[dict[int, set[int]], dict[int, set[int]]]:
    collectors: dict[int, set[int]] = {}
    for collector_id, queue_id in Collector.queues.through.objects.values_list("collector_id", "queue_id"):
        collectors.setdefault(collector_id, set()).add(queue_id)
    agencies: dict[int, set[int]] = {}
    for agency_id, queue_id in Agency.queues.through.objects.values_list("agency_id", "queue_id"):
        agencies.setdefault(agency_id, set()).add(queue_id)
    return collectors, agencies


@transaction.atomic
def cases_sync(*, on: dt.date, account_ids: Sequence[int] | None = None) -> int:
    """Close-of-business step: open a case for every overdue account without one, follow the bucket
    of every open case (history row; a holder who does not work the new queue hands the case back
    for assignment), refresh the amounts, and close cases whose account is cured or written off.
    Idempotent for a date: a second call changes nothing and returns 0."""
    now = timezone.now()
    open_cases = {
        case.account_id: case
        for case in CollectionCase.objects.select_for_update(of=("self",))
        .filter(_account_q(account_ids, "account_id"), status=OPEN).order_by("pk")
    }
    overdue = {
        row["pk"]: row
        for row in CreditAccount.objects.filter(
            _account_q(account_ids, "pk"), bucket__in=CASE_BUCKETS, written_off_on__isnull=True, dpd__gt=0
        ).values("pk", "customer_id", "bucket", "dpd")
    }
    written_off = set(
        CreditAccount.objects.filter(pk__in=list(open_cases), written_off_on__isnull=False).values_list("pk", flat=True)
    )
    touched = set(overdue) | set(open_cases)
    amounts = engine.account_amounts(sorted(touched)) if touched else {}
    queues = queues_by_bucket()
    collector_queues, agency_queues = _memberships()
    changed = 0

    # Open
    new_cases = []
    for account_id, row in overdue.items():
        if account_id in open_cases:
            continue
        amount = amounts.get(account_id, engine.AccountAmounts())
        queue = queues.get(row["bucket"])
        new_cases.append(CollectionCase(
            account_id=account_id, customer_id=row["customer_id"], opened_on=on, bucket=row["bucket"], dpd=row["dpd"],
            amount_overdue=amount.past_due, balance=amount.balance, queue=queue,
        ))
    if new_cases:
        try:
            with transaction.atomic():
                CollectionCase.objects.bulk_create(new_cases)
        except IntegrityError:  # another run opened one of them meanwhile: the next run picks up the rest
            raise ConflictError("A case was opened concurrently; close of business will retry.", code="case_conflict")
        created = {c.account_id: c for c in CollectionCase.objects.filter(
            account_id__in=[c.account_id for c in new_cases], status=OPEN)}
        CaseEscalation.objects.bulk_create(
            CaseEscalation(case=c, on_date=on, old_bucket="", new_bucket=c.bucket, dpd=c.dpd) for c in created.values()
        )
        changed += len(new_cases)

    # Follow, refresh, close
    to_update: list[CollectionCase] = []
    escalations: list[CaseEscalation] = []
    end_assignment: dict[int, str] = {}
    for account_id, case in open_cases.items():
        before = [getattr(case, f) for f in ("status", "bucket", "dpd", "amount_overdue", "balance", "queue_id",
                                             "collector_id", "agency_id")]
        amount = amounts.get(account_id, engine.AccountAmounts())
        if account_id in written_off or account_id not in overdue:
            reason = (CollectionCase.CloseReason.WRITTEN_OFF if account_id in written_off
                      else CollectionCase.CloseReason.CURED)
            if case.collector_id or case.agency_id:
                end_assignment[case.pk] = CaseAssignment.EndReason.CLOSED
            case.status, case.close_reason, case.closed_on = CollectionCase.Status.CLOSED, reason, on
            case.collector_id = case.agency_id = None
            case.assigned_on = None
            case.amount_overdue, case.balance = amount.past_due, amount.balance
            case.dpd = 0 if reason == CollectionCase.CloseReason.CURED else case.dpd
        else:
            row = overdue[account_id]
            if row["bucket"] != case.bucket:
                escalations.append(CaseEscalation(case=case, on_date=on, old_bucket=case.bucket,
                                                  new_bucket=row["bucket"], dpd=row["dpd"]))
                case.bucket = row["bucket"]
                case.queue = queues.get(row["bucket"])
                keeps = (
                    case.queue is not None
                    and ((case.collector_id and case.queue.pk in collector_queues.get(case.collector_id, ()))
                         or (case.agency_id and case.queue.pk in agency_queues.get(case.agency_id, ())))
                )
                if (case.collector_id or case.agency_id) and not keeps:
                    end_assignment[case.pk] = CaseAssignment.EndReason.ESCALATED
                    case.collector_id = case.agency_id = None
                    case.assigned_on = None
            case.dpd = row["dpd"]
            case.amount_overdue, case.balance = amount.past_due, amount.balance
        after = [getattr(case, f) for f in ("status", "bucket", "dpd", "amount_overdue", "balance", "queue_id",
                                            "collector_id", "agency_id")]
        if after != before:
            case.updated_at = now
            to_update.append(case)
    for reason in set(end_assignment.values()):
        CaseAssignment.objects.filter(
            case_id__in=[pk for pk, r in end_assignment.items() if r == reason], ended_on__isnull=True
        ).update(ended_on=on, end_reason=reason)
    if to_update:
        CollectionCase.objects.bulk_update(to_update, CASE_FIELDS, batch_size=500)
    if escalations:
        CaseEscalation.objects.bulk_create(escalations)
    # Amount refreshes alone are bookkeeping; count the cases that opened, moved or closed.
    changed += len(escalations) + sum(1 for c in to_update if c.status == CollectionCase.Status.CLOSED)
    return changed


@transaction.atomic
def cases_assign(*, on: dt.date) -> int:
    """Close-of-business step (once per date, after ``cases_sync``): give every unassigned open case of
    an active queue to a member of its queue — an eligible agency when the queue uses agencies and the
    customer consented to sharing, else an in-house collector — choosing the one with the fewest open
    cases and never going above anyone's maximum. Highest priority first (bucket, amount, broken
    promises). Cases that find no free seat stay unassigned for managers to see."""
    cases = list(
        CollectionCase.objects.select_for_update(of=("self",))
        .filter(status=OPEN, collector__isnull=True, agency__isnull=True, auto_assign=True, queue__isnull=False,
                queue__is_active=True)
        .select_related("queue").order_by("pk")
    )
    if not cases:
        return 0
    cases.sort(key=lambda c: (c.bucket, c.amount_overdue, c.broken_promises, -c.pk), reverse=True)
    collectors = list(
        Collector.objects.select_for_update(of=("self",)).filter(is_active=True, user__is_active=True).order_by("pk")
    )
    agencies = list(eligible_agencies(on=on).select_for_update(of=("self",)).order_by("pk"))
    by_collector, by_agency = open_case_counts()
    collector_queues, agency_queues = _memberships()
    collector_seats = {c.pk: Seat(("collector", c.pk), by_collector.get(c.pk, 0), c.max_open_cases) for c in collectors}
    agency_seats = {a.pk: Seat(("agency", a.pk), by_agency.get(a.pk, 0), a.max_open_cases) for a in agencies}
    consenting = agency_sharing_consents({c.customer_id for c in cases if c.queue.use_agencies})
    now = timezone.now()
    actor = Actor.system(ASSIGN_RULE)
    assignments = []
    for case in cases:
        seat = None
        if case.queue.use_agencies and case.customer_id in consenting:
            seat = pick_seat([s for pk, s in agency_seats.items() if case.queue_id in agency_queues.get(pk, ())])
        if seat is None:
            seat = pick_seat([s for pk, s in collector_seats.items() if case.queue_id in collector_queues.get(pk, ())])
        if seat is None:
            continue
        seat.open_cases += 1
        kind, pk = seat.key
        case.collector_id = pk if kind == "collector" else None
        case.agency_id = pk if kind == "agency" else None
        case.assigned_on, case.updated_at = on, now
        assignments.append(CaseAssignment(
            case=case, collector_id=case.collector_id, agency_id=case.agency_id, bucket=case.bucket, started_on=on,
            reason="balanced assignment", **actor.log_fields(),
        ))
    assigned = [a.case for a in assignments]
    if assigned:
        CollectionCase.objects.bulk_update(assigned, ["collector", "agency", "assigned_on", "updated_at"], batch_size=500)
        CaseAssignment.objects.bulk_create(assignments)
    return len(assigned)


# --- Manual work by managers -----------------------------------------------------------------------


def _lock_case(case: CollectionCase) -> CollectionCase:
    return CollectionCase.objects.select_for_update(of=("self",)).get(pk=case.pk)


def _end_current(case: CollectionCase, *, on: dt.date, reason: str) -> None:
    CaseAssignment.objects.filter(case=case, ended_on__isnull=True).update(ended_on=on, end_reason=reason)


@transaction.atomic
def case_assign(
    *, case: CollectionCase, actor: Actor, collector: Collector | None = None, agency: Agency | None = None,
    reason: str = "",
) -> CollectionCase:
    """Assign (or transfer) an open case to a collector or an agency, by hand.

    Refused: a closed case; both or neither target; an inactive collector; a collector or agency at
    its maximum; an agency not eligible today (whitelist, contract, evaluation); a customer who has
    not consented to agency sharing; the current holder."""
    ensure_manager(actor)
    if (collector is None) == (agency is None):
        raise ValidationError("Choose a collector or an agency.", code="assignee_required")
    case = _lock_case(case)
    on = get_business_date()
    if case.status != OPEN:
        raise BusinessRuleError("The case is closed.", code="case_closed")
    if (collector and case.collector_id == collector.pk) or (agency and case.agency_id == agency.pk):
        raise BusinessRuleError("The case is already assigned there.", code="already_assigned")
    if collector is not None:
        collector = Collector.objects.select_for_update(of=("self",)).select_related("user").get(pk=collector.pk)
        if not (collector.is_active and collector.user.is_active):
            raise BusinessRuleError(f"{collector} is not an active collector.", code="collector_inactive")
        held = CollectionCase.objects.filter(status=OPEN, collector=collector).count()
        if held >= collector.max_open_cases:
            raise BusinessRuleError(
                f"{collector} already holds {held} open cases (maximum {collector.max_open_cases}).",
                code="collector_at_maximum", details={"open_cases": held, "maximum": collector.max_open_cases},
            )
    else:
        agency = Agency.objects.select_for_update(of=("self",)).get(pk=agency.pk)
        problem = agency_eligibility_problem(agency, on=on)
        if problem:
            raise BusinessRuleError(f"{agency} gets no new cases: {problem}.", code="agency_not_eligible")
        if case.customer_id not in agency_sharing_consents([case.customer_id]):
            raise BusinessRuleError("The customer has not consented to sharing with a collection agency.",
                                    code="no_agency_consent")
        held = CollectionCase.objects.filter(status=OPEN, agency=agency).count()
        if held >= agency.max_open_cases:
            raise BusinessRuleError(
                f"{agency} already holds {held} open cases (maximum {agency.max_open_cases}).",
                code="agency_at_maximum", details={"open_cases": held, "maximum": agency.max_open_cases},
            )
    old = case.assignee_display
    transfer = bool(case.collector_id or case.agency_id)
    if transfer:
        _end_current(case, on=on, reason=CaseAssignment.EndReason.TRANSFERRED)
    case.collector, case.agency = collector, agency
    case.assigned_on, case.auto_assign = on, True
    case.save(update_fields=["collector", "agency", "assigned_on", "auto_assign", "updated_at"])
    CaseAssignment.objects.create(
        case=case, collector=collector, agency=agency, bucket=case.bucket, started_on=on,
        reason=(reason or ("transfer" if transfer else "manual assignment"))[:500], **actor.log_fields(),
    )
    audit_record(actor=actor, action="case_transfer" if transfer else "case_assign", obj=case, reason=reason,
                 old=old, new=case.assignee_display)
    return case


@transaction.atomic
def case_recall(*, case: CollectionCase, actor: Actor, reason: str) -> CollectionCase:
    """Take a case back from its collector or agency; it waits unassigned until a manager assigns it."""
    ensure_manager(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required to recall a case.", code="reason_required")
    case = _lock_case(case)
    if case.status != OPEN:
        raise BusinessRuleError("The case is closed.", code="case_closed")
    if not (case.collector_id or case.agency_id):
        raise BusinessRuleError("The case is not assigned.", code="not_assigned")
    old = case.assignee_display
    _end_current(case, on=get_business_date(), reason=CaseAssignment.EndReason.RECALLED)
    case.collector = case.agency = None
    case.assigned_on, case.auto_assign = None, False
    case.save(update_fields=["collector", "agency", "assigned_on", "auto_assign", "updated_at"])
    audit_record(actor=actor, action="case_recall", obj=case, reason=reason, old=old, new="unassigned")
    return case


@transaction.atomic
def case_close(*, case: CollectionCase, actor: Actor, reason: str) -> CollectionCase:
    """Close a case as settled (an agreed settlement, a debt sold…); cure and write-off close by themselves."""
    ensure_manager(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required to close a case.", code="reason_required")
    case = _lock_case(case)
    if case.status != OPEN:
        raise BusinessRuleError("The case is already closed.", code="case_closed")
    on = get_business_date()
    old = case.assignee_display
    _end_current(case, on=on, reason=CaseAssignment.EndReason.CLOSED)
    case.status, case.close_reason, case.closed_on = CollectionCase.Status.CLOSED, CollectionCase.CloseReason.SETTLED, on
    case.collector = case.agency = None
    case.assigned_on = None
    case.save(update_fields=["status", "close_reason", "closed_on", "collector", "agency", "assigned_on", "updated_at"])
    audit_record(actor=actor, action="case_close", obj=case, reason=reason, old={"status": "open", "holder": old},
                 new={"status": "closed", "close_reason": "settled"})
    return case


@transaction.atomic
def cases_recall_from_agencies(*, customer, actor: Actor, reason: str) -> list[CollectionCase]:
    """The customer withdrew the consent to share their data with a collection agency (PIPL): every
    open case of theirs held by an agency comes back to the in-house queue at once — the agency's
    assignment ends as recalled, the case waits for the next balanced assignment (in-house only,
    as there is no consent), and the case history, the assignment and the audit trail say why.
    Called by ``accounts.hooks`` inside the withdrawal's transaction; returns the cases recalled."""
    reason = (reason or "").strip() or "agency sharing consent withdrawn"
    on = get_business_date()
    recalled = []
    for case in (CollectionCase.objects.select_for_update(of=("self",)).select_related("agency")
                 .filter(customer_id=customer.pk, status=OPEN, agency__isnull=False).order_by("pk")):
        old = case.assignee_display
        _end_current(case, on=on, reason=CaseAssignment.EndReason.RECALLED)
        case.agency, case.assigned_on, case.auto_assign = None, None, True
        case._change_reason = f"recalled from the agency: {reason}"[:100]
        case.save(update_fields=["agency", "assigned_on", "auto_assign", "updated_at"])
        audit_record(actor=actor, action="case_recall", obj=case, reason=reason, old=old, new="in-house queue")
        recalled.append(case)
    return recalled
