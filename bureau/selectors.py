"""Reads for credit-bureau reporting: each account's figures in one pass of aggregate queries."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db.models import Case, CharField, Count, F, Min, Q, QuerySet, Value, When

from accounts.models import CreditAccount
from bureau.models import BureauFile, BureauPolicy, Classification
from core.money import ZERO, money
from installments.models import Charge, ScheduleLine, WriteOff
from core.money import money_sum as _sum
from installments.selectors import CHARGE_OPEN, FEE_OPEN, MONEY as _D, PRINCIPAL_OPEN


@dataclass(frozen=True)
class AccountFigures:
    account_id: int
    credit_limit: Decimal
    balance: Decimal
    overdue_amount: Decimal
    dpd: int
    account_status: str
    written_off: bool


def policy_get() -> BureauPolicy:
    policy, _ = BureauPolicy.objects.get_or_create(pk=1)
    return policy


def classify(*, dpd: int, written_off: bool, policy: BureauPolicy) -> str:
    """The five-level classification of an account from its DPD (a written-off account is a loss)."""
    if written_off or dpd >= policy.loss_from_dpd:
        return Classification.LOSS
    if dpd >= policy.doubtful_from_dpd:
        return Classification.DOUBTFUL
    if dpd >= policy.substandard_from_dpd:
        return Classification.SUBSTANDARD
    if dpd >= policy.special_mention_from_dpd:
        return Classification.SPECIAL_MENTION
    return Classification.NORMAL


def is_negative(*, dpd: int, written_off: bool) -> bool:
    """Negative data (不良信息): anything past due after grace, or a written-off account."""
    return written_off or dpd > 0


def reportable_accounts(*, period: dt.date) -> QuerySet[CreditAccount]:
    """Every account that was open at some time in the month starting ``period``."""
    return CreditAccount.objects.filter(Q(closed_on__isnull=True) | Q(closed_on__gte=period),
                                        opened_on__lt=period + relativedelta(months=1))


def account_figures(*, account_ids: list[int]) -> dict[int, AccountFigures]:
    """Limit, balance, overdue amount, DPD and status per account, from a fixed number of queries."""
    accounts = CreditAccount.objects.filter(pk__in=account_ids).values(
        "pk", "fixed_limit", "dpd", "status", "written_off_on")
    billed_fee = Case(When(billed_on__isnull=False, then=FEE_OPEN), default=Value(ZERO), output_field=_D)
    overdue_line = Case(When(status=ScheduleLine.Status.OVERDUE, then=PRINCIPAL_OPEN + FEE_OPEN),
                        default=Value(ZERO), output_field=_D)
    lines = {
        row["account_id"]: row
        for row in ScheduleLine.objects.filter(account_id__in=account_ids, status__in=ScheduleLine.OPEN)
        .values("account_id").annotate(owed=_sum(PRINCIPAL_OPEN + billed_fee), overdue=_sum(overdue_line))
    }
    late = Case(When(kind=Charge.Kind.LATE_FEE, then=CHARGE_OPEN), default=Value(ZERO), output_field=_D)
    charges = {
        row["account_id"]: row
        for row in Charge.objects.filter(account_id__in=account_ids).values("account_id")
        .annotate(owed=_sum(CHARGE_OPEN), late=_sum(late))
    }
    written_off = {
        w.account_id: money(w.principal + w.fees + w.late_fees + w.deferral_fees + w.premiums - w.recovered)
        for w in WriteOff.objects.filter(account_id__in=account_ids)
    }
    result = {}
    for row in accounts:
        pk = row["pk"]
        line, charge = lines.get(pk, {}), charges.get(pk, {})
        balance = money(line.get("owed", ZERO) + charge.get("owed", ZERO))
        overdue = money(line.get("overdue", ZERO) + charge.get("late", ZERO))
        is_written_off = row["written_off_on"] is not None
        if is_written_off:
            balance = overdue = max(written_off.get(pk, ZERO) + balance, ZERO)
        status = {"active": "N", "frozen": "F", "closed": "C"}[row["status"]]
        result[pk] = AccountFigures(
            account_id=pk, credit_limit=money(row["fixed_limit"]), balance=balance, overdue_amount=overdue,
            dpd=row["dpd"], account_status="W" if is_written_off else status, written_off=is_written_off,
        )
    return result


def bureau_file_current(*, period: dt.date) -> BureauFile | None:
    return BureauFile.objects.filter(period=period, status=BureauFile.Status.CURRENT).first()


# --- PRODUCT §13: the frozen account-month -----------------------------------------------------------

#: The worst status of a month: written off, then frozen, then closed, then normal.
STATUS_RANK = {"N": 0, "C": 1, "F": 2, "W": 3}
ACCOUNT_STATUS_LETTER = {"active": "N", "frozen": "F", "closed": "C"}


def month_end(period: dt.date) -> dt.date:
    return period + relativedelta(months=1) - dt.timedelta(days=1)


def worst_status(*letters: str) -> str:
    return max((x for x in letters if x), key=lambda x: STATUS_RANK[x], default="N")


def history_char(*, dpd: int, status: str) -> str:
    """One month of the 24-month payment history: ``N`` normal, ``1``–``7`` the month's highest DPD in
    30-day steps (1: 1–30 … 7: above 180), ``B`` written off (呆账), ``C`` closed and clean."""
    if status == "W":
        return "B"
    if dpd > 0:
        return str(min((dpd - 1) // 30 + 1, 7))
    return "C" if status == "C" else "N"


@dataclass(frozen=True)
class Subject:
    """What one bureau record reports: an account's revolving line, or one of its cash loans."""

    account_id: int
    ref: str
    kind: str  # SubjectKind
    opened_on: dt.date
    cash_loan_id: int | None = None
    plan_id: int | None = None
    amount: Decimal | None = None  # a cash loan's credit limit is its amount


def cash_loans_by_plan(*, account_ids: list[int], period: dt.date | None = None) -> dict[int, Subject]:
    """The cash loans of the accounts (those open at some time in the month ``period``), by plan id."""
    from cashloans.models import CashLoan

    loans = CashLoan.objects.filter(account_id__in=account_ids)
    if period is not None:
        loans = loans.filter(drawn_on__lte=month_end(period)).filter(
            Q(plan__closed_on__isnull=True) | Q(plan__closed_on__gte=period))
    return {
        row["plan_id"]: Subject(account_id=row["account_id"], ref=row["reference"], kind="D1", opened_on=row["drawn_on"],
                                cash_loan_id=row["pk"], plan_id=row["plan_id"], amount=row["amount"])
        for row in loans.values("pk", "account_id", "reference", "drawn_on", "plan_id", "amount")
    }


def delinquent_subjects(*, account_ids=None) -> list[tuple[int, str, int, str]]:
    """``(account_id, subject_ref, dpd, status)`` of every subject past due or written off at this close.
    An account without cash loans is one subject with the account's DPD; an account with cash loans
    splits its overdue lines by plan: each subject's DPD counts from its own oldest overdue line."""
    from core.sql import account_filter

    accounts = list(CreditAccount.objects.exclude(dpd=0, written_off_on__isnull=True)
                    .filter(account_filter(account_ids, "pk")).order_by("pk")
                    .values("pk", "reference", "dpd", "status", "written_off_on"))
    if not accounts:
        return []
    ids = [a["pk"] for a in accounts]
    loans = cash_loans_by_plan(account_ids=ids)
    with_loans = {s.account_id for s in loans.values()}
    since: dict[tuple[int, int], dt.date] = {}
    if with_loans:
        for row in (ScheduleLine.objects.filter(account_id__in=with_loans, status=ScheduleLine.Status.OVERDUE)
                    .values("account_id", "plan_id").annotate(since=Min("overdue_from"))):
            since[(row["account_id"], row["plan_id"])] = row["since"]
    out = []
    for a in accounts:
        status = "W" if a["written_off_on"] else ACCOUNT_STATUS_LETTER[a["status"]]
        if a["pk"] not in with_loans:
            out.append((a["pk"], a["reference"], a["dpd"], status))
            continue
        mine = {plan: d for (acc, plan), d in since.items() if acc == a["pk"] and d is not None}
        if not mine or a["written_off_on"]:
            out.append((a["pk"], a["reference"], a["dpd"], status))
            continue
        oldest = min(mine.values())
        per_subject: dict[str, int] = {}
        for plan, d in mine.items():
            ref = loans[plan].ref if plan in loans else a["reference"]
            per_subject[ref] = max(per_subject.get(ref, 0), max(a["dpd"] - (d - oldest).days, 0))
        out.extend((a["pk"], ref, dpd, status) for ref, dpd in sorted(per_subject.items()) if dpd > 0)
    return out


def dpd_series(*, account_id: int, start: dt.date, end: dt.date) -> dict[dt.date, int]:
    """The account's DPD at each close from ``start`` to ``end`` read from its bucket history (which a
    value-dated re-judging rewrites): 0 in M0, else the DPD at the last change plus the days since."""
    from accounts.models import BucketChange

    changes = list(BucketChange.objects.filter(account_id=account_id, on_date__lte=end)
                   .order_by("on_date", "id").values_list("on_date", "new_bucket", "dpd"))
    series, k, last = {}, 0, None
    day = start
    while day <= end:
        while k < len(changes) and changes[k][0] <= day:
            last = changes[k]
            k += 1
        series[day] = 0 if last is None or last[1] == "M0" else last[2] + (day - last[0]).days
        day += dt.timedelta(days=1)
    return series


def subject_figures(*, period: dt.date, account_ids: list[int]) -> dict[str, tuple[Subject, AccountFigures]]:
    """Every subject's figures now (the snapshot calls it at the month's close), by subject ref. A cash
    loan's balance and overdue amount are its own plan's lines; everything else (revolving lines,
    purchase and bill installments, late and deferral fees) is the credit line's."""
    figures = account_figures(account_ids=account_ids)
    accounts = {a["pk"]: a for a in CreditAccount.objects.filter(pk__in=account_ids).values("pk", "reference", "opened_on")}
    loans = cash_loans_by_plan(account_ids=account_ids, period=period)
    out: dict[str, tuple[Subject, AccountFigures]] = {}
    per_plan = {}
    if loans:
        billed_fee = Case(When(billed_on__isnull=False, then=FEE_OPEN), default=Value(ZERO), output_field=_D)
        overdue_line = Case(When(status=ScheduleLine.Status.OVERDUE, then=PRINCIPAL_OPEN + FEE_OPEN),
                            default=Value(ZERO), output_field=_D)
        per_plan = {row["plan_id"]: row for row in ScheduleLine.objects.filter(
            plan_id__in=list(loans), status__in=ScheduleLine.OPEN).values("plan_id").annotate(
            owed=_sum(PRINCIPAL_OPEN + billed_fee), overdue=_sum(overdue_line))}
    loan_dpd = {ref: dpd for _, ref, dpd, _ in delinquent_subjects(account_ids=list({s.account_id for s in loans.values()}))}
    # Late and deferral fees are the account's; they go with the credit line unless only cash loans are past
    # due, then with the loan past due the longest.
    charges: dict[int, tuple[Decimal, Decimal]] = {}
    if loans:
        late = Case(When(kind=Charge.Kind.LATE_FEE, then=CHARGE_OPEN), default=Value(ZERO), output_field=_D)
        charges = {row["account_id"]: (money(row["owed"]), money(row["late"])) for row in Charge.objects.filter(
            account_id__in={x.account_id for x in loans.values()}).exclude(kind=Charge.Kind.PREMIUM)
            .values("account_id").annotate(owed=_sum(CHARGE_OPEN), late=_sum(late))}
    charge_to: dict[int, str] = {}
    for acc_id in charges:
        ref = accounts[acc_id]["reference"]
        if loan_dpd.get(ref, 0) == 0:
            worst = max((x for x in loans.values() if x.account_id == acc_id), key=lambda x: loan_dpd.get(x.ref, 0))
            if loan_dpd.get(worst.ref, 0) > 0:
                charge_to[acc_id] = worst.ref
    taken: dict[int, tuple[Decimal, Decimal]] = {}
    for plan_id, loan in loans.items():
        fig = figures[loan.account_id]
        row = per_plan.get(plan_id, {})
        owed, overdue = money(row.get("owed", ZERO)), money(row.get("overdue", ZERO))
        if charge_to.get(loan.account_id) == loan.ref:
            owed, overdue = owed + charges[loan.account_id][0], overdue + charges[loan.account_id][1]
        if fig.written_off:
            owed = overdue = ZERO  # the write-off is reported, whole, on the credit line
        bal, ovd = taken.get(loan.account_id, (ZERO, ZERO))
        taken[loan.account_id] = (bal + owed, ovd + overdue)
        out[loan.ref] = (loan, AccountFigures(
            account_id=loan.account_id, credit_limit=money(loan.amount), balance=owed, overdue_amount=overdue,
            dpd=loan_dpd.get(loan.ref, 0), account_status="W" if fig.written_off else "N",
            written_off=fig.written_off))
    for pk, fig in figures.items():
        acc = accounts[pk]
        bal, ovd = taken.get(pk, (ZERO, ZERO))
        dpd = loan_dpd.get(acc["reference"], 0) if pk in taken and not fig.written_off else fig.dpd
        out[acc["reference"]] = (
            Subject(account_id=pk, ref=acc["reference"], kind="R1", opened_on=acc["opened_on"]),
            AccountFigures(account_id=pk, credit_limit=fig.credit_limit, balance=max(money(fig.balance - bal), ZERO),
                           overdue_amount=max(money(fig.overdue_amount - ovd), ZERO), dpd=dpd,
                           account_status=fig.account_status, written_off=fig.written_off))
    return out


def month_fees(*, period: dt.date, account_ids: list[int]) -> dict[int, Decimal]:
    """Late and deferral fees accrued in the month and not waived, per account (what a value-dated
    re-judging later removes shows as the difference)."""
    rows = (Charge.objects.filter(account_id__in=account_ids, kind__in=[Charge.Kind.LATE_FEE, Charge.Kind.DEFERRAL_FEE],
                                  accrued_on__gte=period, accrued_on__lte=month_end(period))
            .values("account_id").annotate(total=_sum(F("amount") - F("waived"))))
    return {row["account_id"]: money(row["total"]) for row in rows}


def disputes_overdue(*, on: dt.date) -> QuerySet:
    """Open disputes past their answer date (shown to staff)."""
    from bureau.models import BureauDispute

    return BureauDispute.objects.filter(status=BureauDispute.Status.OPEN, answer_due_on__lt=on)


def bureau_alerts(*, on: dt.date) -> list[str]:
    """What staff must act on (the dashboard shows it): pre-notices that could not be sent (negative data
    waiting), letters to print, disputes past their answer date."""
    from django.utils.translation import gettext as _

    from bureau.models import PreNoticeLetter

    def count(qs: QuerySet, key: str) -> QuerySet:
        return (qs.order_by().annotate(k=Value(key, output_field=CharField())).values("k")
                .annotate(n=Count("pk")).values_list("k", "n"))

    # One query for the three counts (the dashboard's cost does not grow with what it watches).
    counts = dict(count(PreNoticeLetter.objects.filter(status=PreNoticeLetter.Status.QUEUED), "letters").union(
        count(pre_notices_unsent(on=on), "failing"), count(disputes_overdue(on=on), "overdue"), all=True))
    alerts = []
    if counts.get("letters"):
        alerts.append(_("%(n)s credit-bureau pre-notice letter(s) to print and mark sent: negative data is "
                        "withheld until then.") % {"n": counts["letters"]})
    if counts.get("failing"):
        alerts.append(_("%(n)s credit-bureau pre-notice(s) could not be sent and were escalated.")
                      % {"n": counts["failing"]})
    if counts.get("overdue"):
        alerts.append(_("%(n)s credit-bureau dispute(s) past their answer date.") % {"n": counts["overdue"]})
    return alerts


def pre_notices_unsent(*, on: dt.date) -> QuerySet:
    """Pre-notices that will not go out as they are: failed the last retry, or suppressed because the
    wording is switched off (a withdrawn one is not counted: nothing is to be reported)."""
    from django.db.models import Exists, OuterRef

    from bureau.models import PreNoticeLetter
    from notices.models import Notice, NoticeKind
    from notices.services import MAX_ATTEMPTS

    told = Notice.objects.filter(kind=NoticeKind.BUREAU_PRE_NOTICE, account_id=OuterRef("account_id"),
                                 status=Notice.Status.SENT)
    posted = PreNoticeLetter.objects.filter(account_id=OuterRef("account_id"), status=PreNoticeLetter.Status.SENT)
    return Notice.objects.filter(kind=NoticeKind.BUREAU_PRE_NOTICE).filter(
        Q(status=Notice.Status.FAILED, attempts__gte=MAX_ATTEMPTS)
        | Q(status=Notice.Status.SUPPRESSED, status_reason__startswith="this kind of notice is switched off")
    ).exclude(Exists(told)).exclude(Exists(posted))
