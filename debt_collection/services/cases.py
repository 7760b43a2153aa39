"""Collection cases: opened, escalated and closed by close of business, assigned by balancing open
cases within each collector's and agency's maximum, and assigned, transferred, recalled or closed by
managers. Lock order everywhere: cases (by pk), then collectors (by pk), then agencies (by pk)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import CreditAccount
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import BusinessRuleError, ConflictError, ValidationError
from core import sql
from debt_collection import engine
from debt_collection.models import (
    CASE_BUCKETS,
    Agency,
    CaseAssignment,
    CaseEscalation,
    CollectionCase,
    Collector,
    Queue,
)
from debt_collection.rules import Seat, pick_seat
from debt_collection.selectors import (
    agency_eligibility_problem,
    agency_sharing_consents,
    eligible_agencies,
    open_case_counts,
)
from debt_collection.services.common import ensure_manager

SYNC_RULE = "collections.cases_sync"
ASSIGN_RULE = "collections.cases_assign: balance open cases within maxima"
OPEN = CollectionCase.Status.OPEN
CASE_FIELDS = [
    "status", "close_reason", "closed_on", "bucket", "dpd", "amount_overdue", "balance", "queue", "collector",
    "agency", "assigned_on", "updated_at",
]


def _memberships() -> tuple[dict[int, set[int]], dict[int, set[int]]]:
    collectors: dict[int, set[int]] = {}
    for collector_id, queue_id in Collector.queues.through.objects.values_list("collector_id", "queue_id"):
        collectors.setdefault(collector_id, set()).add(queue_id)
    agencies: dict[int, set[int]] = {}
    for agency_id, queue_id in Agency.queues.through.objects.values_list("agency_id", "queue_id"):
        agencies.setdefault(agency_id, set()).add(queue_id)
    return collectors, agencies


T_CASE = CollectionCase._meta.db_table
T_ASSIGN = CaseAssignment._meta.db_table
T_ACC = CreditAccount._meta.db_table
T_QUEUE = Queue._meta.db_table
T_COLLECTOR_QUEUES = Collector.queues.through._meta.db_table
T_AGENCY_QUEUES = Agency.queues.through._meta.db_table


@transaction.atomic
def cases_sync(*, on: dt.date, account_ids: Sequence[int] | None = None) -> int:
    """Close-of-business step: open a case for every overdue account without one, follow the bucket
    of every open case (history row; a holder who does not work the new queue hands the case back
    for assignment), refresh the amounts, and close cases whose account is cured or written off.
    Idempotent for a date: a second call changes nothing and returns 0.

    Set-based: a handful of statements over the chunk (temporary tables, then ``UPDATE … FROM`` and
    ``INSERT … SELECT``), whatever the number of accounts; the open cases are row-locked first."""
    where, params = sql.scope("a.id", account_ids, table="coll_sync_chunk")
    case_where, case_params = sql.scope("c.account_id", account_ids, table="coll_sync_chunk")
    if sql.pg():  # lock the chunk's open cases (by pk) against managers' assignments meanwhile
        sql.execute(f"SELECT c.id FROM {T_CASE} c WHERE c.status = 'open'{case_where} ORDER BY c.id FOR UPDATE",
                       case_params)
    buckets = ", ".join(["%s"] * len(CASE_BUCKETS))
    overdue = f"a.bucket IN ({buckets}) AND a.written_off_on IS NULL AND a.dpd > 0"
    # The accounts to look at: overdue ones and those with an open case.
    sql.temp_table("coll_sync_acc", f"""
        SELECT a.id AS account_id, a.customer_id, a.bucket, a.dpd, a.written_off_on,
               {sql.flag(overdue)} AS overdue, c.id AS case_id
        FROM {T_ACC} a LEFT JOIN {T_CASE} c ON c.account_id = a.id AND c.status = 'open'
        WHERE (({overdue}) OR c.id IS NOT NULL){where}""", [*CASE_BUCKETS, *CASE_BUCKETS, *params], key="account_id")
    amounts_sql, amounts_params = engine.account_amounts_sql("SELECT account_id FROM coll_sync_acc")
    sql.temp_table("coll_sync_amt", amounts_sql, amounts_params, key="account_id")
    return _cases_follow(on=on) + _cases_open(on=on)


def _cases_follow(*, on: dt.date) -> int:
    """Follow, refresh and close the open cases of the chunk (``coll_sync_acc`` with a case)."""
    d = sql.date(on)
    holder = "(c.collector_id IS NOT NULL OR c.agency_id IS NOT NULL)"
    keeps = f"""(q.id IS NOT NULL AND (
        (c.collector_id IS NOT NULL AND EXISTS (SELECT 1 FROM {T_COLLECTOR_QUEUES} m
                                                WHERE m.collector_id = c.collector_id AND m.queue_id = q.id))
        OR (c.agency_id IS NOT NULL AND EXISTS (SELECT 1 FROM {T_AGENCY_QUEUES} m
                                                WHERE m.agency_id = c.agency_id AND m.queue_id = q.id))))"""
    # Per open case: how it closes ('' when it stays open), whether it escalates, whether its holder hands it back.
    sql.temp_table("coll_sync_plan", f"""
        SELECT x.*, CASE WHEN x.close_reason <> '' THEN 'closed'
                         WHEN x.escalated = 1 AND x.had_holder = 1 AND x.keeps = 0 THEN 'escalated' ELSE '' END
                    AS end_reason
        FROM (SELECT c.id AS case_id, x.bucket AS new_bucket, x.dpd AS account_dpd, c.bucket AS old_bucket,
                     c.dpd AS old_dpd, c.queue_id AS old_queue_id, q.id AS new_queue_id,
                     CASE WHEN x.written_off_on IS NOT NULL THEN %s WHEN x.overdue = 0 THEN %s ELSE '' END AS close_reason,
                     {sql.flag("x.written_off_on IS NULL AND x.overdue = 1 AND x.bucket <> c.bucket")} AS escalated,
                     {sql.flag(holder)} AS had_holder, {sql.flag(keeps)} AS keeps,
                     COALESCE(m.past_due, 0) AS past_due, COALESCE(m.balance, 0) AS balance
              FROM coll_sync_acc x JOIN {T_CASE} c ON c.id = x.case_id
              LEFT JOIN {T_QUEUE} q ON q.bucket = x.bucket AND q.is_active
              LEFT JOIN coll_sync_amt m ON m.account_id = x.account_id) x""",
                      [CollectionCase.CloseReason.WRITTEN_OFF, CollectionCase.CloseReason.CURED], key="case_id")
    sql.execute(f"""
        UPDATE {T_ASSIGN} SET ended_on = %s, end_reason = p.end_reason FROM coll_sync_plan p
        WHERE {T_ASSIGN}.case_id = p.case_id AND {T_ASSIGN}.ended_on IS NULL AND p.end_reason <> ''""", [d])
    closing = "p.close_reason <> ''"
    drops = f"({closing} OR p.end_reason = 'escalated')"
    new = {
        "status": f"CASE WHEN {closing} THEN 'closed' ELSE 'open' END",
        "bucket": "CASE WHEN p.escalated = 1 THEN p.new_bucket ELSE p.old_bucket END",
        "dpd": f"CASE WHEN p.close_reason = %s THEN 0 WHEN {closing} THEN p.old_dpd ELSE p.account_dpd END",
        "amount_overdue": sql.money("p.past_due"),
        "balance": sql.money("p.balance"),
        "queue_id": "CASE WHEN p.escalated = 1 THEN p.new_queue_id ELSE p.old_queue_id END",
        "collector_id": f"CASE WHEN {drops} THEN NULL ELSE {T_CASE}.collector_id END",
        "agency_id": f"CASE WHEN {drops} THEN NULL ELSE {T_CASE}.agency_id END",
    }
    new_params = {"dpd": [CollectionCase.CloseReason.CURED]}
    # Amount refreshes alone are bookkeeping (counted out below), but they are written all the same.
    assignments = ", ".join(f"{column} = {expr}" for column, expr in new.items())
    changed = " OR ".join(sql.differs(f"{T_CASE}.{column}", expr) for column, expr in new.items())
    sql.execute(f"""
        UPDATE {T_CASE} SET {assignments},
            close_reason = p.close_reason,
            closed_on = CASE WHEN {closing} THEN %s ELSE NULL END,
            assigned_on = CASE WHEN {drops} THEN NULL ELSE {T_CASE}.assigned_on END,
            updated_at = %s
        FROM coll_sync_plan p WHERE {T_CASE}.id = p.case_id AND ({changed})""",
                   [*new_params["dpd"], d, sql.now(), *new_params["dpd"]])
    sql.insert_select(
        CaseEscalation, {"case_id": "p.case_id", "on_date": ("%s", [d]), "old_bucket": "p.old_bucket",
                         "new_bucket": "p.new_bucket", "dpd": "p.account_dpd"},
        "FROM coll_sync_plan p WHERE p.escalated = 1")
    # Amount refreshes alone are bookkeeping; count the cases that moved or closed.
    return sql.rows(
        f"SELECT COUNT(*) FROM coll_sync_plan p WHERE p.escalated = 1 OR {closing}")[0][0]


def _cases_open(*, on: dt.date) -> int:
    """Open a case (and its first history row) for every overdue account of the chunk without one."""
    d = sql.date(on)
    sql.temp_table("coll_sync_new", """
        SELECT ROW_NUMBER() OVER (ORDER BY x.account_id) AS n, x.account_id, x.customer_id, x.bucket, x.dpd
        FROM coll_sync_acc x WHERE x.overdue = 1 AND x.case_id IS NULL""", key="n")
    count = sql.rows("SELECT COUNT(*) FROM coll_sync_new")[0][0]
    if not count:
        return 0
    sql.references("coll_sync_refs", count)
    try:
        with transaction.atomic():
            sql.insert_select(CollectionCase, {
                "reference": "r.reference", "account_id": "x.account_id", "customer_id": "x.customer_id",
                "status": "'open'", "close_reason": "''", "opened_on": ("%s", [d]), "bucket": "x.bucket", "dpd": "x.dpd",
                "amount_overdue": sql.money("COALESCE(m.past_due, 0)"),
                "balance": sql.money("COALESCE(m.balance, 0)"), "queue_id": "q.id",
            }, f"""FROM coll_sync_new x JOIN coll_sync_refs r ON r.n = x.n
                   LEFT JOIN coll_sync_amt m ON m.account_id = x.account_id
                   LEFT JOIN {T_QUEUE} q ON q.bucket = x.bucket AND q.is_active
                   ORDER BY x.n""")
    except IntegrityError:  # another run opened one of them meanwhile: the next run picks up the rest
        raise ConflictError("A case was opened concurrently; close of business will retry.",
                            code="case_conflict") from None
    sql.insert_select(
        CaseEscalation, {"case_id": "c.id", "on_date": ("%s", [d]), "old_bucket": "''", "new_bucket": "c.bucket",
                         "dpd": "c.dpd"},
        f"FROM {T_CASE} c JOIN coll_sync_refs r ON r.reference = c.reference")
    return count


@transaction.atomic
def cases_assign(*, on: dt.date) -> int:
    """Close-of-business step (once per date, after ``cases_sync``): give every unassigned open case of
    an active queue to a member of its queue — an eligible agency when the queue uses agencies and the
    customer consented to sharing, else an in-house collector — choosing the one with the fewest open
    cases and never going above anyone's maximum. Highest priority first (bucket, amount, broken
    promises). Cases that find no free seat stay unassigned for managers to see."""
    active_collectors = Collector.objects.filter(is_active=True, user__is_active=True)
    if not active_collectors.exists() and not eligible_agencies(on=on).exists():
        return 0  # nobody to give a case to: no need to lock and read every unassigned case
    cases = list(
        CollectionCase.objects.select_for_update(of=("self",))
        .filter(status=OPEN, collector__isnull=True, agency__isnull=True, auto_assign=True, queue__isnull=False,
                queue__is_active=True)
        .select_related("queue").order_by("pk")
    )
    if not cases:
        return 0
    cases.sort(key=lambda c: (c.bucket, c.amount_overdue, c.broken_promises, -c.pk), reverse=True)
    collectors = list(active_collectors.select_for_update(of=("self",)).order_by("pk"))
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
