"""Issue 13, bullet 4: every rule written twice — once in the daily SQL (``installments/daily.py``), once
in Python (``installments/calc.py``, used by the re-judge replay) — gives the same answer. Cases are
generated (a seeded table), put in real rows, the SQL step runs once over all of them, and each result
is compared with the Python function. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from accounts.models import CreditAccount
from core.business_date import set_business_date
from installments import calc
from installments.daily import delinquency_update, freezes_sync, run_through
from installments.models import Charge, ScheduleLine
from installments.services import purchase_authorize, repayment_post
from installments.services.common import get_terms
from installments.services.rejudge import _Replay
from tests.factories_installments import SYSTEM, D, no_risk_checks, open_account  # noqa: F401

pytestmark = pytest.mark.django_db
ON = dt.date(2026, 6, 30)
CENT = Decimal("0.01")


def _cases(n: int, seed: int):
    rng = random.Random(seed)
    fixed = [Decimal("0.01"), Decimal("10.00"), Decimal("19.99"), Decimal("450.00"), Decimal("1234.56"),
             Decimal("3333.33"), Decimal("99999.99")]
    for i in range(n):
        base = fixed[i] if i < len(fixed) else Decimal(rng.randint(1, 2_000_000)) * CENT
        yield base, rng.randint(1, 240), rng.choice([None, 1, 2, 3, 7])


def _account_with_line(base: Decimal, *, status: str, since: dt.date, field: str) -> CreditAccount:
    """An account whose one revolving line of ``base`` is billed and ``status`` since ``since``."""
    from risk.models import RiskPolicy

    RiskPolicy.objects.update_or_create(singleton=1, defaults={"max_limit": Decimal("9999999999.99")})  # big lines
    account = open_account(limit="5000000.00", opened_on=dt.date(2025, 1, 1))
    purchase_authorize(account=account, amount=base, merchant_order_id="p", tenor=None, actor=SYSTEM)
    ScheduleLine.objects.filter(account=account).update(status=status, billed_on=since - dt.timedelta(days=9),
                                                        due_date=since, **{field: since})
    return account


@pytest.fixture
def today(business_date):
    business_date("2025-01-02")
    yield
    set_business_date(ON + dt.timedelta(days=1))


def test_late_fee_dpd_and_bucket_sql_equals_python(today):
    terms = get_terms(open_account().product_id)
    cases = []
    for base, dpd, gap in _cases(40, seed=13):
        since = ON - dt.timedelta(days=dpd)
        account = _account_with_line(base, status="overdue", since=since, field="overdue_from")
        last = None
        if gap is not None and gap < dpd:
            last = ON - dt.timedelta(days=gap)
            Charge.objects.create(account=account, kind="late_fee", accrued_on=last, days=1, base_amount=base,
                                  amount=D("0.01"))
        cases.append((account, base, since, last))
    delinquency_update(on=ON, account_ids=[a.pk for a, *_ in cases])
    for account, base, since, last in cases:
        days = (ON - max(last or since, since)).days
        want_fee = calc.late_fee(base, days, daily_rate=terms.late_fee_daily_rate, daily_minimum=terms.late_fee_daily_minimum)
        charge = Charge.objects.get(account=account, kind="late_fee", accrued_on=ON)
        assert (charge.days, charge.base_amount, charge.amount) == (days, base, want_fee), (base, since, last)
        account.refresh_from_db()
        dpd = calc.days_past_due(since, ON)
        assert (account.dpd, account.bucket) == (dpd, calc.bucket_for_dpd(dpd)), (base, since)


@pytest.mark.parametrize("dpd, bucket", [(0, "M0"), (1, "M1"), (30, "M1"), (31, "M2"), (60, "M2"), (61, "M3"),
                                         (90, "M3"), (91, "M4"), (120, "M4"), (121, "M5"), (150, "M5"), (151, "M6"),
                                         (180, "M6"), (181, "M7")])
def test_bucket_bounds_worked_examples(dpd, bucket):
    assert calc.bucket_for_dpd(dpd) == bucket


def test_deferral_fee_sql_equals_python_day_by_day_and_rounds_once(today):
    terms = get_terms(open_account().product_id)
    rate = terms.deferral_daily_rate
    start = ON - dt.timedelta(days=20)
    cases = []
    for base, _, _ in _cases(25, seed=4):
        cases.append((_account_with_line(base, status="deferred", since=start, field="deferred_from"), base))
    ids = [a.pk for a, _ in cases]
    for k in range(1, 19):  # the closes of the 18 days after the due date
        delinquency_update(on=start + dt.timedelta(days=k), account_ids=ids)
    for account, base in cases:
        charged, unrounded, last = Decimal("0.00"), Decimal("0"), start
        for charge in Charge.objects.filter(account=account, kind="deferral_fee").order_by("accrued_on"):
            days = (charge.accrued_on - last).days
            want = calc.deferral_fee_accrual(base, days, daily_rate=rate, unrounded_before=unrounded,
                                             charged_before=charged)
            assert (charge.days, charge.amount) == (days, want), (base, charge.accrued_on)
            charged += charge.amount
            unrounded += base * rate * days
            last = charge.accrued_on
        # Rounded once: the 18 days charge exactly the pure calculation's fee.
        assert charged == calc.deferral_fee(base, 18, daily_rate=rate), base
    # The example: 450.00 at 0.05 % for 18 days is 4.05 (rounding every day gave 4.14).
    assert sum(c.amount for c in Charge.objects.filter(account=cases[3][0])) == D("4.05")


def test_freeze_and_unfreeze_sql_equals_python(today):
    combos = [(status, reason, dpd, written_off)
              for status, reason in (("active", ""), ("frozen", "overdue"), ("frozen", "manual"), ("closed", ""))
              for dpd in (0, 1, 45) for written_off in (False, True)]
    accounts = []
    for status, reason, dpd, written_off in combos:
        account = open_account()
        CreditAccount.objects.filter(pk=account.pk).update(
            status=status, freeze_reason=reason, dpd=dpd, written_off_on=ON if written_off else None)
        accounts.append(account)
    freezes_sync(on=ON, account_ids=[a.pk for a in accounts])
    for account, (status, reason, dpd, written_off) in zip(accounts, combos):
        account.refresh_from_db()
        want = calc.freeze_transition(status=status, freeze_reason=reason, dpd=dpd, written_off=written_off)
        assert (account.status, account.freeze_reason) == want, (status, reason, dpd, written_off)


def _replay_equals_the_closes(account, since: dt.date, last: dt.date) -> None:
    """The re-judge replay (Python) of days the closes (SQL) already judged finds exactly what they did."""
    replay = _Replay(account, get_terms(account.product_id), since, last)
    replay.run()
    for statement in replay.statements:
        assert replay.status[statement.pk] == (statement.status, statement.resolved_on), statement
    for ln in replay.lines:
        assert (ln.overdue_from, ln.deferred_from) == (ln.row.overdue_from, ln.row.deferred_from), ln.row
    accrued = {(c.kind, c.accrued_on): (c.days, c.base, c.amount) for c in replay.charges if c.row is None}
    assert accrued == {(c.kind, c.accrued_on): (c.days, c.base_amount, c.amount)
                       for c in Charge.objects.filter(account=account, accrued_on__gte=since)}
    account.refresh_from_db()
    assert (replay.dpd, replay.bucket) == (account.dpd, account.bucket)
    assert replay.history == [(b.on_date, b.old_bucket, b.new_bucket, b.dpd)
                              for b in account.bucket_changes.filter(on_date__gte=since).order_by("on_date")]


@pytest.mark.parametrize("story", ["late", "minimum-then-late", "partial-payments", "installments"])
def test_the_replay_of_closed_days_equals_what_the_daily_sql_decided(business_date, story):
    business_date("2026-01-05")
    account = open_account(opened_on=dt.date(2026, 1, 1))
    purchase_authorize(account=account, amount=D("1234.56"), merchant_order_id="a", tenor=None, actor=SYSTEM)
    if story == "installments":
        purchase_authorize(account=account, amount=D("999.99"), merchant_order_id="b", tenor=6, actor=SYSTEM)
    run_through(dt.date(2026, 2, 9))
    if story == "minimum-then-late":
        repayment_post(account=account, amount=D("123.46"), external_ref="m", channel="card", actor=SYSTEM)
    run_through(dt.date(2026, 2, 20))
    if story == "partial-payments":
        repayment_post(account=account, amount=D("300.00"), external_ref="p1", channel="card", actor=SYSTEM)
    run_through(dt.date(2026, 3, 25))
    if story == "partial-payments":
        repayment_post(account=account, amount=D("500.00"), external_ref="p2", channel="card", actor=SYSTEM)
    run_through(dt.date(2026, 4, 5))
    account.refresh_from_db()
    assert account.dpd > 0 or story == "partial-payments"
    for since in (dt.date(2026, 2, 10), dt.date(2026, 3, 2), dt.date(2026, 3, 26)):
        _replay_equals_the_closes(account, since, dt.date(2026, 4, 5))
