"""Re-judging an account's delinquency from a past business date (PRODUCT §6, issue 13).

Money follows the value date: a repayment the bank received on day V but posted later, or a reversal
of money that had paid bills, changes what close of business should have decided on the days already
closed. :func:`account_rejudge` replays those days for one account with the rules of close of business
(the pure functions of :mod:`installments.calc`, which the parity tests hold equal to the daily SQL):

1. **Rewind** to the close of V − 1: statements judged on or after V are open again; lines and charges
   keep their overdue/deferred marks only when a statement judged before V set them; the late and
   deferral fees accrued on or after V are set aside.
2. **Replay** V … the last closed day, as of each day's close: an amount counts as paid on a day when
   the money that paid it had been *received* by then (a reversed payment never was); due dates are
   settled (paid in full / minimum paid / overdue after grace), DPD, bucket, late and deferral fees
   accrue, the automatic freeze follows DPD.
3. **Apply the difference**: statements, lines and charges get the replayed marks; fees that would not
   have been charged are removed (or, when billed or once paid, waived: money that had paid them is
   re-applied), fees that should have been charged are accrued, each with its journal; DPD, bucket,
   the bucket history from V and the freeze are restored (a freeze or unfreeze is logged as the system
   with the reason). Listeners of :func:`installments.hooks.notify_delinquency_rejudged` (collections)
   then follow: cases, promises, reminders.

Statements generated in the window (issue 24, PRODUCT §13) are judged again too: at each bill date
the replays compute what the statement should have said (past due, what is due, fees, payments of the
cycle); where the moved money changes that, the statement is amended as a new version
(:func:`installments.services.statements.statement_amend`) and the following days are judged from the
amended minimum payment.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction

from accounts.models import BucketChange, CreditAccount, StatusChange
from core.actors import Actor
from core.business_date import get_business_date
from core.money import ZERO, money
from installments import calc
from installments.hooks import notify_delinquency_rejudged
from installments.models import (
    Allocation, Charge, ProductTerms, Refund, Repayment, ScheduleLine, Statement, StatementLine, StatementVersion,
)
from installments.services.common import apply_account_deltas, get_terms
from ledger.models import Codes, JournalEntry
from ledger.services import Cr, Dr, journal_post

RULE = "installments.rejudge"
ACCRUED = (Charge.Kind.LATE_FEE, Charge.Kind.DEFERRAL_FEE)
_CODES = {Charge.Kind.LATE_FEE: (Codes.RECEIVABLE_LATE_FEES, Codes.LATE_FEE_INCOME),
          Charge.Kind.DEFERRAL_FEE: (Codes.RECEIVABLE_DEFERRAL_FEES, Codes.DEFERRAL_FEE_INCOME)}


@dataclass
class RejudgeResult:
    account_id: int
    since: dt.date | None
    fees_removed: Decimal = ZERO
    fees_added: Decimal = ZERO
    statements_changed: int = 0
    statements_amended: int = 0
    dpd: int = 0
    bucket: str = "M0"
    status: str = ""
    changed: bool = False


@dataclass
class _Line:
    row: ScheduleLine
    open_now: Decimal
    later: list[tuple[dt.date, Decimal]] = field(default_factory=list)  # (value date, amount paid)
    overdue_from: dt.date | None = None
    deferred_from: dt.date | None = None

    def open_at(self, day: dt.date) -> Decimal:
        return self.open_now + sum((a for d, a in self.later if d > day), ZERO)


@dataclass
class _Charge:
    row: Charge | None
    kind: str
    accrued_on: dt.date
    days: int
    base: Decimal
    amount: Decimal
    open_now: Decimal
    later: list[tuple[dt.date, Decimal]] = field(default_factory=list)
    overdue_from: dt.date | None = None

    def open_at(self, day: dt.date) -> Decimal:
        return self.open_now + sum((a for d, a in self.later if d > day), ZERO)


def _value_dates(account_id: int) -> dict[int, dt.date]:
    """The date each allocation's money counts from: a repayment's value date (``received_on``), a
    credit applied on its date; a negated row counts from the date of the row it negates (so a reversed
    payment is as if never received)."""
    received = dict(Repayment.objects.filter(account_id=account_id).values_list("pk", "received_on"))
    rows = {a.pk: a for a in Allocation.objects.filter(account_id=account_id).only(
        "pk", "source", "repayment_id", "on_date", "reverses_id")}

    def value_date(a: Allocation) -> dt.date:
        if a.reverses_id:
            return value_date(rows[a.reverses_id])
        if a.source == Allocation.Source.REPAYMENT and a.repayment_id:
            return received[a.repayment_id]
        return a.on_date

    return {pk: value_date(a) for pk, a in rows.items()}


class _Replay:
    def __init__(self, account: CreditAccount, terms: ProductTerms, since: dt.date, last: dt.date, *,
                 ignore: frozenset[int] = frozenset(), extra_paid: tuple = ()) -> None:
        self.account, self.terms, self.since, self.last = account, terms, since, last
        self.statements = list(Statement.objects.filter(account=account).exclude(status=Statement.Status.DRAFT)
                               .order_by("due_date", "pk"))
        fixed = [s for s in self.statements if s.status != Statement.Status.OPEN and s.resolved_on and s.resolved_on < since]
        self.fixed_ids = {s.pk for s in fixed}
        self.status = {s.pk: (s.status, s.resolved_on) if s.pk in self.fixed_ids else (Statement.Status.OPEN, None)
                       for s in self.statements}
        self.bill_dates = sorted(s.bill_date for s in self.statements)
        value_of = _value_dates(account.pk)
        later: dict[tuple[str, int], list[tuple[dt.date, Decimal]]] = defaultdict(list)
        for a in Allocation.objects.filter(account=account).exclude(kind__in=["credit_balance", "recovery"]):
            key = ("line", a.line_id) if a.line_id else ("charge", a.charge_id)
            # An ignored allocation never happened: what it paid is open on every day.
            later[key].append((dt.date.max if a.pk in ignore else value_of[a.pk], a.amount))
        overdue_fixed = [s for s in fixed if s.status == Statement.Status.OVERDUE]
        minimum_fixed = [s for s in fixed if s.status == Statement.Status.MINIMUM_PAID]
        self.lines = []
        for row in ScheduleLine.objects.filter(account=account, billed_on__isnull=False).exclude(
                status=ScheduleLine.Status.WRITTEN_OFF).order_by("due_date", "pk"):
            line = _Line(row, row.principal_open + row.fee_open, later[("line", row.pk)])
            if row.overdue_from and any(s.due_date >= row.due_date for s in overdue_fixed):
                line.overdue_from = row.overdue_from
            if row.deferred_from and any(s.due_date >= row.due_date for s in minimum_fixed + overdue_fixed):
                line.deferred_from = row.deferred_from
            self.lines.append(line)
        self.charges: list[_Charge] = []
        self.window: dict[tuple[str, dt.date], Charge] = {}
        for row in Charge.objects.filter(account=account).order_by("accrued_on", "pk"):
            if row.kind in ACCRUED and row.accrued_on >= since:
                self.window[(row.kind, row.accrued_on)] = row
                continue
            charge = _Charge(row, row.kind, row.accrued_on, row.days, row.base_amount, row.amount, row.open_amount,
                             later[("charge", row.pk)])
            if row.overdue_from and any(s.bill_date > row.accrued_on for s in overdue_fixed):
                charge.overdue_from = row.overdue_from
            self.charges.append(charge)
        self.paid_toward = [
            (r.received_on, r.amount) for r in Repayment.objects.filter(account=account, status=Repayment.Status.POSTED)
            .exclude(kind=Repayment.Kind.RECOVERY)
        ] + list(extra_paid)
        self.repaid = list(self.paid_toward)  # repayments only: a statement's payments of the cycle
        self.paid_toward += [(f.created_on, f.billed_principal_reduced + f.fees_waived_billed)
                             for f in Refund.objects.filter(account=account)]
        self.minimum = {s.pk: s.minimum_payment for s in self.statements}  # amended in the replay (issue 24)
        self.history: list[tuple[dt.date, str, str, int]] = []
        self.dpd = self._dpd_before()
        self.bucket = calc.bucket_for_dpd(self.dpd)

    # --- the state on a day ---------------------------------------------------------------------
    def line_status(self, line: _Line, day: dt.date) -> str:
        S = ScheduleLine.Status
        if line.row.billed_on > day:
            return S.PENDING
        if line.open_at(day) <= 0:
            return S.CLOSED
        if line.overdue_from:
            return S.OVERDUE
        return S.DEFERRED if line.deferred_from else S.DUE

    def _overdue(self, day: dt.date, was_past_due: bool) -> tuple[dt.date | None, Decimal]:
        overdue = [ln for ln in self.lines if self.line_status(ln, day) == ScheduleLine.Status.OVERDUE]
        if overdue:
            return min(ln.overdue_from for ln in overdue), sum((ln.open_at(day) for ln in overdue), ZERO)
        if was_past_due:
            marked = [c.overdue_from for c in self.charges if c.overdue_from and c.open_at(day) > 0]
            if marked:
                return min(marked), ZERO
        return None, ZERO

    def _dpd_before(self) -> int:
        day = self.since - dt.timedelta(days=1)
        before = BucketChange.objects.filter(account=self.account, on_date__lt=self.since).order_by("-on_date").first()
        since, _ = self._overdue(day, bool(before and before.new_bucket != "M0"))
        return calc.days_past_due(since, day)

    # --- one day of close of business -----------------------------------------------------------
    def settle(self, day: dt.date) -> None:
        grace = self.terms.grace_days
        minimum_dues = []
        for s in self.statements:
            if self.status[s.pk][0] != Statement.Status.OPEN or s.due_date > day:
                continue
            open_lines = any(ln.row.due_date <= s.due_date and self.line_status(ln, day) in ScheduleLine.OPEN_BILLED
                             for ln in self.lines)
            open_charges = any(c.accrued_on < s.bill_date and c.open_at(day) > 0 for c in self.charges)
            if not open_lines and not open_charges:
                self.status[s.pk] = (Statement.Status.PAID, day)
                continue
            toward = sum((a for d, a in self.paid_toward if s.bill_date <= d <= day), ZERO)
            if toward >= self.minimum[s.pk]:
                self.status[s.pk] = (Statement.Status.MINIMUM_PAID, day)
                minimum_dues.append(s.due_date)
        if minimum_dues:
            due = max(minimum_dues)
            for ln in self.lines:
                if self.line_status(ln, day) == ScheduleLine.Status.DUE and ln.row.due_date <= due:
                    ln.deferred_from = ln.deferred_from or due
        went = [s for s in self.statements if self.status[s.pk][0] == Statement.Status.OPEN
                and s.due_date <= day - dt.timedelta(days=grace)]
        if went:
            for s in went:
                self.status[s.pk] = (Statement.Status.OVERDUE, day)
            since, due, bill = min(s.due_date for s in went), max(s.due_date for s in went), max(s.bill_date for s in went)
            for ln in self.lines:
                if self.line_status(ln, day) in (ScheduleLine.Status.DUE, ScheduleLine.Status.DEFERRED) and ln.row.due_date <= due:
                    ln.overdue_from = since
            for c in self.charges:
                if c.overdue_from is None and c.open_at(day) > 0 and c.accrued_on < bill:
                    c.overdue_from = since

    def delinquency(self, day: dt.date) -> None:
        terms = self.terms
        since, base = self._overdue(day, self.dpd > 0)
        if since is not None and base > 0:
            self._accrue(day, Charge.Kind.LATE_FEE, since, base)
        deferred = [ln for ln in self.lines if ln.row.is_revolving and ln.deferred_from and ln.deferred_from < day
                    and self.line_status(ln, day) == ScheduleLine.Status.DEFERRED]
        if deferred and terms.deferral_daily_rate > 0:
            self._accrue(day, Charge.Kind.DEFERRAL_FEE, min(ln.deferred_from for ln in deferred),
                         sum((ln.open_at(day) for ln in deferred), ZERO))  # revolving lines carry no fee
        dpd = calc.days_past_due(since, day) if since is not None else 0
        bucket = calc.bucket_for_dpd(dpd)
        if bucket != self.bucket:
            self.history.append((day, self.bucket, bucket, dpd))
        self.dpd, self.bucket = dpd, bucket

    def _accrue(self, day: dt.date, kind: str, since: dt.date, base: Decimal) -> None:
        terms = self.terms
        last = max((c.accrued_on for c in self.charges if c.kind == kind), default=None)
        start = max(last or since, since)
        days = (day - start).days
        if days <= 0:
            return
        if kind == Charge.Kind.LATE_FEE:
            amount = calc.late_fee(base, days, daily_rate=terms.late_fee_daily_rate,
                                   daily_minimum=terms.late_fee_daily_minimum)
        else:
            billed_until = max((b for b in self.bill_dates if b <= day), default=None)
            run = [c for c in self.charges if c.kind == kind and (billed_until is None or c.accrued_on >= billed_until)]
            amount = calc.deferral_fee_accrual(
                base, days, daily_rate=terms.deferral_daily_rate,
                unrounded_before=sum((c.base * terms.deferral_daily_rate * c.days for c in run), ZERO),
                charged_before=sum((c.amount for c in run), ZERO))
        if amount > 0:
            self.charges.append(_Charge(None, kind, day, days, base, amount, amount))

    def figures(self, s: Statement, day: dt.date) -> dict[str, Decimal]:
        """What the statement generated on ``day`` would have said with the money of this replay: the
        parts of what is owed (as generation computes them, PRODUCT §4), the fees and payments of its
        cycle and the minimum payment computed from the parts."""
        S = ScheduleLine.Status
        parts = dict.fromkeys(("revolving_due", "installments_due", "past_due"), ZERO)
        for ln in self.lines:
            status = self.line_status(ln, day)
            if status == S.OVERDUE:
                parts["past_due"] += ln.open_at(day)
            elif status in (S.DUE, S.DEFERRED):
                parts["revolving_due" if ln.row.is_revolving else "installments_due"] += ln.open_at(day)
        parts["fees_due"] = sum((c.open_at(day) for c in self.charges if c.accrued_on < day), ZERO)
        cycle = [c for c in self.charges if s.period_start <= c.accrued_on < day]
        out = {
            **parts,
            "late_fees": sum((c.amount for c in cycle if c.kind == Charge.Kind.LATE_FEE), ZERO),
            "deferral_fees": sum((c.amount for c in cycle if c.kind == Charge.Kind.DEFERRAL_FEE), ZERO),
            "payments_amount": sum((a for d, a in self.repaid if s.period_start <= d < day), ZERO),
            "closing_balance": sum(parts.values(), ZERO),
        }
        out["minimum_payment"] = calc.minimum_payment(
            revolving=parts["revolving_due"], installments_due=parts["installments_due"], fees_due=parts["fees_due"],
            past_due=parts["past_due"], percentage=self.terms.minimum_payment_rate)
        return out

    def run(self) -> None:
        day = self.since
        while day <= self.last:
            self.settle(day)
            self.delinquency(day)
            day += dt.timedelta(days=1)


@dataclass
class _Amendment:
    statement_id: int
    deltas: dict[str, Decimal]
    minimum: Decimal


def _run_together(replay: _Replay, base: _Replay) -> list[_Amendment]:
    """Replay both day by day; at each bill date in the window, a statement whose figures the moved
    money changes is amended in the replay (its minimum payment is what the following days judge):
    the issued figures move by the difference between the two replays (PRODUCT §13)."""
    amendments = []
    day = replay.since
    while day <= replay.last:
        for s in replay.statements:
            if s.bill_date != day or s.pk in replay.fixed_ids:
                continue
            now, was = replay.figures(s, day), base.figures(s, day)
            deltas = {k: now[k] - was[k] for k in now if k != "minimum_payment" and now[k] != was[k]}
            if deltas:
                minimum = max(s.minimum_payment + now["minimum_payment"] - was["minimum_payment"], ZERO)
                replay.minimum[s.pk] = minimum
                amendments.append(_Amendment(s.pk, deltas, minimum))
        for r in (replay, base):
            r.settle(day)
            r.delinquency(day)
        day += dt.timedelta(days=1)
    return amendments


def _amend_statements(account: CreditAccount, amendments: list[_Amendment], *, reason: str, cause: str,
                      today: dt.date, actor: Actor) -> int:
    """Amend each statement as a new version; the cycle's payments (a back-valued one attached to the
    statement of its value date, a reversed one shown as reversed) become lines of the new version."""
    from installments.services.statements import statement_amend

    for amendment in amendments:
        st = Statement.objects.select_for_update(of=("self",)).select_related("account").get(pk=amendment.statement_id)
        shown = set(st.lines.filter(kind=StatementLine.Kind.PAYMENT).values_list("ref", "amount"))
        lines = []
        cycle = Repayment.objects.filter(account=account, received_on__gte=st.period_start,
                                         received_on__lt=st.bill_date).exclude(kind=Repayment.Kind.RECOVERY)
        for rep in cycle.filter(statement__isnull=True, status=Repayment.Status.POSTED).order_by("received_on", "pk"):
            Repayment.objects.filter(pk=rep.pk).update(statement=st)
            lines.append(StatementLine(statement=st, position=40, kind=StatementLine.Kind.PAYMENT, on_date=rep.received_on,
                                       description=f"Payment {rep.external_ref}", amount=-rep.amount, ref=rep.reference))
        for rep in cycle.filter(statement=st, status=Repayment.Status.REVERSED).order_by("received_on", "pk"):
            if (rep.reference, -rep.amount) in shown and (rep.reference, rep.amount) not in shown:
                lines.append(StatementLine(statement=st, position=41, kind=StatementLine.Kind.PAYMENT,
                                           on_date=rep.reversed_on, description=f"Reversal of payment {rep.external_ref}",
                                           amount=rep.amount, ref=rep.reference))
        old_past, old_min = st.past_due, st.minimum_payment
        new_past = max(money(old_past + amendment.deltas.get("past_due", ZERO)), ZERO)
        statement_amend(statement=st, deltas=amendment.deltas, minimum=amendment.minimum, cause=cause, on=today,
                        actor=actor, lines=lines,
                        because=f"{reason}: past due {old_past} → {new_past}, minimum {old_min} → {amendment.minimum}")
    return len(amendments)


def _same(a: _Charge | None, b: _Charge | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.amount, a.days, a.base, a.overdue_from) == (b.amount, b.days, b.base, b.overdue_from)


def _reopen_allocations(charge: Charge, on: dt.date) -> Decimal:
    """Undo what payments put on a charge that is being removed or changed; returns the money freed."""
    from installments.services.repayments import _undo_allocation, _unreversed

    freed = ZERO
    for alloc in charge.allocations.filter(amount__gt=0).prefetch_related("reversals").order_by("id"):
        left = _unreversed(alloc)
        if left > 0:
            _undo_allocation(alloc, left, on, None)
            freed += left
    if freed:
        charge.refresh_from_db()
    return freed


@transaction.atomic
def account_rejudge(*, account: CreditAccount, since: dt.date, actor: Actor, reason: str,
                    baseline_ignore: frozenset[int] = frozenset(), baseline_paid: tuple = (),
                    cause: str = StatementVersion.Cause.VALUE_DATE) -> RejudgeResult:
    """Replay the account's delinquency from ``since`` through the last closed business day, as of the
    value dates of the money received, and correct what close of business decided on those days. The
    caller holds the account lock (``lock_account``). A written-off account is left alone (its later
    money is a recovery).

    The days are replayed twice: with the money as it now stands, and as the closes saw it (the
    *baseline*: without the allocations ``baseline_ignore``, with ``baseline_paid`` (value date, amount)
    added to or taken from what counts toward a minimum). Only what differs between the two is
    corrected, so a change is always one the moved money caused."""
    from installments.services.repayments import credit_balance_apply

    today = get_business_date()
    last = today - dt.timedelta(days=1)
    result = RejudgeResult(account_id=account.pk, since=since)
    account.refresh_from_db()
    if since > last or account.written_off_on is not None:
        return result
    terms = get_terms(account.product_id)
    replay = _Replay(account, terms, since, last)
    base = _Replay(account, terms, since, last, ignore=frozenset(baseline_ignore), extra_paid=tuple(baseline_paid))
    amendments = _run_together(replay, base)
    result.statements_amended = _amend_statements(account, amendments, reason=reason, cause=cause, today=today,
                                                  actor=actor)

    # Statements, lines and charges get the replayed marks.
    for s in replay.statements:
        status, resolved = replay.status[s.pk]
        if base.status[s.pk] != (status, resolved) and (s.status, s.resolved_on) != (status, resolved):
            s.status, s.resolved_on = status, resolved
            s.save(update_fields=["status", "resolved_on"])
            result.statements_changed += 1
    base_marks = {ln.row.pk: (ln.overdue_from, ln.deferred_from) for ln in base.lines}
    for ln in replay.lines:
        row = ln.row
        if base_marks[row.pk] == (ln.overdue_from, ln.deferred_from):
            continue
        if row.status in (ScheduleLine.Status.CLOSED, ScheduleLine.Status.WRITTEN_OFF):
            new_status = row.status
        else:
            new_status = (ScheduleLine.Status.OVERDUE if ln.overdue_from else
                          ScheduleLine.Status.DEFERRED if ln.deferred_from else ScheduleLine.Status.DUE)
        if (row.status, row.overdue_from, row.deferred_from) != (new_status, ln.overdue_from, ln.deferred_from):
            row.status, row.overdue_from, row.deferred_from = new_status, ln.overdue_from, ln.deferred_from
            row.save(update_fields=["status", "overdue_from", "deferred_from"])
    replayed, baseline = {}, {}
    base_marks = {c.row.pk: c.overdue_from for c in base.charges if c.row is not None}
    for c in base.charges:
        if c.row is None:
            baseline[(c.kind, c.accrued_on)] = c
    for c in replay.charges:
        if c.row is None:
            replayed[(c.kind, c.accrued_on)] = c
        elif c.row.overdue_from != c.overdue_from and base_marks[c.row.pk] != c.overdue_from:
            Charge.objects.filter(pk=c.row.pk).update(overdue_from=c.overdue_from)

    # Fees accrued on or after ``since``: keep, change, remove or add, journalled per kind.
    net: dict[str, Decimal] = defaultdict(lambda: ZERO)  # change of the fees charged, per kind
    freed: dict[str, Decimal] = defaultdict(lambda: ZERO)  # money that had paid them, per kind
    new_rows = []
    for key in sorted(set(baseline) | set(replayed), key=lambda k: (k[1], k[0])):
        was_judged, want = baseline.get(key), replayed.get(key)
        if _same(was_judged, want):
            continue
        row = replay.window.get(key)
        if row is not None and want is not None and row.waived == 0 and (
                row.amount, row.days, row.base_amount, row.overdue_from) == (want.amount, want.days, want.base,
                                                                            want.overdue_from):
            continue
        if row is None and want is None:
            continue
        if row is None:
            new_rows.append(Charge(account=account, kind=want.kind, accrued_on=want.accrued_on, days=want.days,
                                   base_amount=want.base, amount=want.amount, overdue_from=want.overdue_from))
            net[want.kind] += want.amount
            continue
        freed[row.kind] += _reopen_allocations(row, today)
        was = row.amount - row.waived - row.written_off
        if want is None:
            if row.statement_id is None and not row.allocations.exists():
                row.delete()
            else:  # billed on a statement, or once paid: kept as a record, waived in full
                row.waived = row.amount - row.written_off
                row.save(update_fields=["waived"])
            net[row.kind] -= was
        else:
            row.amount, row.days, row.base_amount, row.waived = want.amount, want.days, want.base, ZERO
            row.overdue_from = want.overdue_from
            row.save(update_fields=["amount", "days", "base_amount", "waived", "overdue_from"])
            net[row.kind] += want.amount - was
    result.fees_added = sum((v for v in net.values() if v > 0), ZERO)
    result.fees_removed = -sum((v for v in net.values() if v < 0), ZERO)
    legs = []
    for kind in ACCRUED:
        receivable, income = _CODES[kind]
        delta = freed[kind] + net[kind]
        legs.append(Dr(receivable, delta, account.pk) if delta > 0 else Cr(receivable, -delta, account.pk))
        legs.append(Cr(income, net[kind]) if net[kind] > 0 else Dr(income, -net[kind]))
    total_freed = sum(freed.values(), ZERO)
    legs.append(Cr(Codes.CUSTOMER_CREDIT, total_freed, account.pk))
    entry = journal_post(kind=JournalEntry.Kind.WAIVER if result.fees_removed >= result.fees_added
                         else JournalEntry.Kind.LATE_FEE, on=today, legs=legs,
                         memo=f"Delinquency re-judged from {since}: {reason}"[:200],
                         source=f"rejudge:{account.reference}:{since}", actor=actor)
    apply_account_deltas(account, legs)
    for row in new_rows:
        row.journal_entry = entry
    Charge.objects.bulk_create(new_rows)

    # DPD, bucket and its history from ``since``; the automatic freeze.
    if replay.history != base.history:
        BucketChange.objects.filter(account=account, on_date__gte=since).delete()
        BucketChange.objects.bulk_create(BucketChange(account=account, on_date=d, old_bucket=old, new_bucket=new,
                                                      dpd=dpd) for d, old, new, dpd in replay.history)
    account.refresh_from_db()
    moved = (replay.dpd, replay.bucket) != (base.dpd, base.bucket)
    if moved and (account.dpd, account.bucket) != (replay.dpd, replay.bucket):
        CreditAccount.objects.filter(pk=account.pk).update(dpd=replay.dpd, bucket=replay.bucket)
        result.changed = True
    status, freeze_reason = calc.freeze_transition(status=account.status, freeze_reason=account.freeze_reason,
                                                  dpd=replay.dpd, written_off=False)
    if moved and (status, freeze_reason) != (account.status, account.freeze_reason):
        StatusChange.objects.create(
            account=account, old_status=account.status, new_status=status, old_freeze_reason=account.freeze_reason,
            new_freeze_reason=freeze_reason, reason=f"re-judged from {since} ({actor}): {reason}"[:500],
            **Actor.system(RULE).log_fields())
        CreditAccount.objects.filter(pk=account.pk).update(status=status, freeze_reason=freeze_reason)
    if total_freed:
        credit_balance_apply(account=account, on=today, actor=actor)
    account.refresh_from_db()
    result.dpd, result.bucket, result.status = account.dpd, account.bucket, account.status
    result.changed = result.changed or bool(result.statements_changed or result.statements_amended
                                            or result.fees_added or result.fees_removed)
    if result.changed:
        notify_delinquency_rejudged(account_id=account.pk, since=since, on=today, actor=actor)
    return result
