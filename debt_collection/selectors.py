"""Reads of collections: the policy, who may see which case, eligible agencies, open-case counts,
and the performance of collectors and agencies over a date range."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db.models import Count, Q, QuerySet

from accounts.models import Consent
from core.money import ZERO
from core.sql import account_filter
from debt_collection import engine
from debt_collection.models import (
    Agency,
    CallScript,
    CaseAssignment,
    CollectionCase,
    CollectionPolicy,
    Collector,
    ContactAttempt,
    PromiseToPay,
    Queue,
)
from debt_collection.rules import EFFECTIVE_OUTCOMES, ContactLimits, local_day_bounds

MANAGE_PERMISSION = "collections.manage_cases"
WORK_PERMISSION = "collections.work_case"
PERFORMANCE_PERMISSION = "collections.view_performance"


def policy_get() -> CollectionPolicy:
    policy = CollectionPolicy.objects.filter(singleton=1).first()
    if policy is None:
        policy, _ = CollectionPolicy.objects.get_or_create(singleton=1)
    return policy


def contact_limits(policy: CollectionPolicy | None = None) -> ContactLimits:
    policy = policy or policy_get()
    return ContactLimits(
        quiet_start=policy.quiet_hours_start,
        quiet_end=policy.quiet_hours_end,
        max_effective_voice=policy.max_effective_voice_contacts_per_day,
        max_unanswered=policy.max_unanswered_attempts_per_day,
        unreachable_window_days=policy.unreachable_window_days,
        unreachable_min_attempts=policy.unreachable_min_attempts,
    )


# --- Who sees what -----------------------------------------------------------------------------------


def user_is_manager(user) -> bool:
    return bool(user and user.is_active and user.has_perm(MANAGE_PERMISSION))


def collector_of(user) -> Collector | None:
    if not user or not user.is_authenticated:
        return None
    return Collector.objects.filter(user=user).first()


def cases_visible_to(user) -> QuerySet[CollectionCase]:
    """Managers see every case; a collector only the cases assigned to them now; anyone else nothing."""
    cases = CollectionCase.objects.all()
    if user_is_manager(user):
        return cases
    if user and user.is_active and user.has_perm(WORK_PERMISSION):
        return cases.filter(collector__user=user)
    return cases.none()


def case_accessible_by(case: CollectionCase, *, user=None, agency: Agency | None = None) -> bool:
    """Object permission: the assigned collector, the assigned agency, or a manager."""
    if agency is not None:
        return case.agency_id == agency.pk
    if user is None:
        return False
    if user_is_manager(user):
        return True
    return bool(case.collector_id and user.has_perm(WORK_PERMISSION)
                and Collector.objects.filter(pk=case.collector_id, user=user).exists())


def agency_for_client(client) -> Agency | None:
    if client is None:
        return None
    return Agency.objects.filter(api_client=client).first()


def agency_cases(agency: Agency) -> QuerySet[CollectionCase]:
    return CollectionCase.objects.filter(agency=agency, status=CollectionCase.Status.OPEN)


# --- Assignment inputs ---------------------------------------------------------------------------


def agency_eligibility_problem(agency: Agency, *, on: dt.date, policy: CollectionPolicy | None = None) -> str | None:
    """Why ``agency`` may not get new cases on ``on`` (None: it may)."""
    policy = policy or policy_get()
    if not agency.is_whitelisted:
        return "the agency is not on the whitelist"
    if agency.contract_ends_on is None or agency.contract_ends_on < on:
        return "the agency has no contract in force (contract ended)"
    if agency.contract_starts_on is not None and agency.contract_starts_on > on:
        return "the agency's contract has not started"
    if agency.last_evaluated_on is None or agency.last_evaluated_on < on - relativedelta(months=policy.agency_evaluation_months):
        return f"the agency was not evaluated in the last {policy.agency_evaluation_months} months"
    return None


def eligible_agencies(*, on: dt.date, policy: CollectionPolicy | None = None) -> QuerySet[Agency]:
    policy = policy or policy_get()
    return Agency.objects.filter(
        Q(contract_starts_on__isnull=True) | Q(contract_starts_on__lte=on),
        is_whitelisted=True,
        contract_ends_on__gte=on,
        last_evaluated_on__gte=on - relativedelta(months=policy.agency_evaluation_months),
    )


def open_case_counts() -> tuple[dict[int, int], dict[int, int]]:
    """Open cases per collector and per agency (two grouped queries)."""
    open_cases = CollectionCase.objects.filter(status=CollectionCase.Status.OPEN)
    by_collector = dict(
        open_cases.filter(collector__isnull=False).values("collector").annotate(n=Count("pk")).values_list("collector", "n")
    )
    by_agency = dict(
        open_cases.filter(agency__isnull=False).values("agency").annotate(n=Count("pk")).values_list("agency", "n")
    )
    return by_collector, by_agency


def open_cases_of_written_off_exist(account_ids: Sequence[int] | None) -> bool:
    """Whether an open case of these accounts (all when ``None``) belongs to a written-off account."""
    return CollectionCase.objects.filter(
        account_filter(account_ids), status=CollectionCase.Status.OPEN, account__written_off_on__isnull=False
    ).exists()


def agency_sharing_consents(customer_ids: Iterable[int]) -> set[int]:
    """Customers whose latest ``agency_sharing`` consent record is a grant (one query) — as
    ``accounts.selectors.customer_has_consent``: none for a restricted or anonymised customer."""
    latest: dict[int, bool] = {}
    rows = (
        Consent.objects.filter(customer_id__in=list(customer_ids), kind=Consent.Kind.AGENCY_SHARING,
                               customer__processing_restricted=False, customer__anonymised_at__isnull=True)
        .order_by("customer_id", "-recorded_at", "-id").values_list("customer_id", "granted")
    )
    for customer_id, granted in rows:
        latest.setdefault(customer_id, granted)
    return {customer_id for customer_id, granted in latest.items() if granted}


def queues_by_bucket() -> dict[str, Queue]:
    return {q.bucket: q for q in Queue.objects.filter(is_active=True)}


# --- Contacts ------------------------------------------------------------------------------------


def contacts_on_day(*, customer_id: int, day: dt.date) -> QuerySet[ContactAttempt]:
    start, end = local_day_bounds(day)
    return ContactAttempt.objects.filter(customer_id=customer_id, occurred_at__gte=start, occurred_at__lt=end)


# --- Performance ------------------------------------------------------------------------------------


@dataclass
class PerformanceRow:
    """One collector's or agency's results from ``start`` through ``end``."""

    kind: str  # "collector" | "agency"
    key: int
    name: str
    cases_held: int = 0  # cases held at any time in the range
    cases_assigned: int = 0  # assignments that started in the range
    cases_open_now: int = 0
    amount_recovered: Decimal = ZERO  # repayments received while the case was theirs
    contacts: int = 0
    effective_contacts: int = 0
    promises_made: int = 0
    promises_due: int = 0  # promises evaluated in the range
    promises_kept: int = 0
    promises_partly_kept: int = 0
    promises_broken: int = 0
    _cases: set = field(default_factory=set, repr=False)

    @property
    def promise_kept_rate(self) -> Decimal | None:
        """Kept ÷ evaluated, in percent with 2 places (partly kept counts as not kept); None with none due."""
        if not self.promises_due:
            return None
        return (Decimal(self.promises_kept * 100) / Decimal(self.promises_due)).quantize(Decimal("0.01"))


def performance(*, start: dt.date, end: dt.date) -> list[PerformanceRow]:
    """Results per collector and agency for the business dates ``start`` … ``end`` (inclusive).

    A repayment counts for whoever held the case on the day it was received (assignment periods:
    from ``started_on`` up to the day before ``ended_on``; a case closed on a day keeps its last
    holder for that day's repayments). A contact or promise counts for its author."""
    if end < start:
        start, end = end, start
    rows: dict[tuple[str, int], PerformanceRow] = {}
    for collector in Collector.objects.select_related("user"):
        rows[("collector", collector.pk)] = PerformanceRow("collector", collector.pk, str(collector))
    for agency in Agency.objects.all():
        rows[("agency", agency.pk)] = PerformanceRow("agency", agency.pk, str(agency))
    by_collector, by_agency = open_case_counts()
    for pk, n in by_collector.items():
        rows[("collector", pk)].cases_open_now = n
    for pk, n in by_agency.items():
        rows[("agency", pk)].cases_open_now = n

    periods = list(
        CaseAssignment.objects.filter(Q(ended_on__isnull=True) | Q(ended_on__gte=start), started_on__lte=end)
        .values_list("case_id", "case__account_id", "collector_id", "agency_id", "started_on", "ended_on", "end_reason")
    )
    periods_by_account: dict[int, list[tuple]] = defaultdict(list)
    for case_id, account_id, collector_id, agency_id, started_on, ended_on, end_reason in periods:
        key = ("collector", collector_id) if collector_id else ("agency", agency_id)
        row = rows[key]
        row._cases.add(case_id)
        if start <= started_on <= end:
            row.cases_assigned += 1
        # The holder's last day: the day before a hand-over, the closing day itself for a closed case.
        last_day = None
        if ended_on is not None:
            last_day = ended_on if end_reason == CaseAssignment.EndReason.CLOSED else ended_on - dt.timedelta(days=1)
        periods_by_account[account_id].append((key, started_on, last_day))
    for row in rows.values():
        row.cases_held = len(row._cases)

    for account_id, received_on, amount in engine.repayments_received(periods_by_account.keys(), start=start, end=end):
        for key, first, last in periods_by_account[account_id]:
            if first <= received_on and (last is None or received_on <= last):
                rows[key].amount_recovered += amount
                break

    start_at, _ = local_day_bounds(start)
    _, end_at = local_day_bounds(end)
    contact_counts = (
        ContactAttempt.objects.filter(occurred_at__gte=start_at, occurred_at__lt=end_at)
        .values("user__collector", "agency")
        .annotate(n=Count("pk"), effective=Count("pk", filter=Q(outcome__in=sorted(EFFECTIVE_OUTCOMES))))
    )
    for c in contact_counts:
        key = ("agency", c["agency"]) if c["agency"] else ("collector", c["user__collector"])
        if key in rows:
            rows[key].contacts += c["n"]
            rows[key].effective_contacts += c["effective"]

    made = (
        PromiseToPay.objects.filter(made_on__gte=start, made_on__lte=end)
        .values("user__collector", "agency").annotate(n=Count("pk"))
    )
    for p in made:
        key = ("agency", p["agency"]) if p["agency"] else ("collector", p["user__collector"])
        if key in rows:
            rows[key].promises_made += p["n"]
    evaluated = (
        PromiseToPay.objects.filter(evaluated_on__gte=start, evaluated_on__lte=end)
        .values("user__collector", "agency", "status").annotate(n=Count("pk"))
    )
    for p in evaluated:
        key = ("agency", p["agency"]) if p["agency"] else ("collector", p["user__collector"])
        if key not in rows:
            continue
        row = rows[key]
        row.promises_due += p["n"]
        if p["status"] == PromiseToPay.Status.KEPT:
            row.promises_kept += p["n"]
        elif p["status"] == PromiseToPay.Status.PARTLY_KEPT:
            row.promises_partly_kept += p["n"]
        elif p["status"] == PromiseToPay.Status.BROKEN:
            row.promises_broken += p["n"]
    return sorted(rows.values(), key=lambda r: (r.kind != "collector", r.name.lower()))



# --- The customer and account pages (staff 360° view) -------------------------------------------------


def accounts_cases(*, account_ids, limit: int = 50) -> QuerySet[CollectionCase]:
    return (CollectionCase.objects.filter(account_id__in=account_ids)
            .select_related("account", "queue", "collector__user", "agency").order_by("-opened_on", "-id")[:limit])


def customers_contacts(*, customer_ids, limit: int = 50) -> QuerySet[ContactAttempt]:
    return (ContactAttempt.objects.filter(customer_id__in=customer_ids)
            .select_related("case", "user", "agency", "third_party").order_by("-occurred_at", "-id")[:limit])


def accounts_promises(*, account_ids, limit: int = 50) -> QuerySet[PromiseToPay]:
    return (PromiseToPay.objects.filter(case__account_id__in=account_ids).select_related("case", "user", "agency")
            .order_by("-made_on", "-id")[:limit])


def customer_ids_of_collector(user) -> QuerySet:
    """The customers a collector may see: those of the cases assigned to them now."""
    return CollectionCase.objects.filter(collector__user=user).values("customer_id")


def collector_scope_applies(user) -> bool:
    """A user who works cases without managing them sees customers only through their own cases."""
    return bool(user and not user.is_superuser and user.has_perm(WORK_PERMISSION) and not user_is_manager(user))


# --- The collector's desk: the day list and call scripts -----------------------------------------------


@dataclass
class CollectorDay:
    """A collector's work for a business date: their own open cases only (PRODUCT §7)."""

    collector: Collector
    on: dt.date
    promises_due: list[PromiseToPay]  # pending, promised for ``on``
    promises_broken: list[PromiseToPay]  # decided broken by the close of the day before
    callbacks: list[ContactAttempt]  # call-backs agreed for ``on`` (Asia/Shanghai)
    never_contacted: list[CollectionCase]
    open_cases: int

    @property
    def counts(self) -> dict[str, int]:
        return {"promises_due": len(self.promises_due), "promises_broken": len(self.promises_broken),
                "callbacks": len(self.callbacks), "never_contacted": len(self.never_contacted),
                "open_cases": self.open_cases}


def collector_day(*, collector: Collector, on: dt.date) -> CollectorDay:
    """Today's list of ``collector`` (five queries, whatever the number of cases)."""
    own = CollectionCase.objects.filter(status=CollectionCase.Status.OPEN, collector=collector)
    promises = PromiseToPay.objects.filter(case__in=own).select_related("case__customer")
    due = list(promises.filter(status=PromiseToPay.Status.PENDING, promised_on=on)
               .order_by("-case__bucket", "-case__amount_overdue", "pk"))
    broken = list(promises.filter(status=PromiseToPay.Status.BROKEN, evaluated_on=on - dt.timedelta(days=1))
                  .order_by("-case__bucket", "-case__amount_overdue", "pk"))
    start, end = local_day_bounds(on)
    callbacks = list(ContactAttempt.objects.filter(case__in=own, callback_at__gte=start, callback_at__lt=end)
                     .select_related("case__customer").order_by("callback_at", "pk"))
    never = list(own.filter(last_contact_at__isnull=True).select_related("customer")
                 .order_by("-bucket", "-amount_overdue", "pk"))
    return CollectorDay(collector=collector, on=on, promises_due=due, promises_broken=broken, callbacks=callbacks,
                        never_contacted=never, open_cases=own.count())


def call_script_for(*, bucket: str, language: str) -> CallScript | None:
    """The active script for ``bucket``: its own, else the nearest earlier bucket's (the ``M3`` script
    serves M3+), in ``language`` (``zh-hans`` / ``en``), falling back to the other language."""
    scripts = list(CallScript.objects.filter(is_active=True, bucket__lte=bucket).order_by("-bucket"))
    for lang in (language, *(code for code in CallScript.Language.values if code != language)):
        for script in scripts:
            if script.language == lang:
                return script
    return None

