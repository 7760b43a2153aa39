"""Demo behaviour with a realistic link to default (called by ``manage.py seed_demo``).

Every demo account gets a hidden risk profile. The demo then lives through its history day by day
on the real services — purchases (``purchase_authorize``, with the risk rules on), refunds,
repayments (``repayment_post``) and close of business (``cob.pipeline.run_date``: statements,
due dates, DPD, buckets, late fees) — so the behaviour the portfolio scorecard learns from is the
platform's own data, not a label painted on afterwards:

* *steady* customers buy a few times a month and pay statements in full before the due date;
* *revolvers* buy more, often pay only the minimum, now and then a few days late;
* *stretched* customers run their line up, buy gift cards and top-ups, pay late or not at all, and
  most of them stop paying altogether at some point (a bust-out), which takes them to DPD 60+.

The profile is never stored: a scorecard can only see it through behaviour.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal

from accounts.models import CreditAccount
from core.actors import Actor
from core.money import money

DEMO = Actor.system("demo")
CATEGORIES = ["groceries", "electronics", "clothing", "home", "beauty", "travel", "books", "sports"]
HIGH_RISK = ["gift_card", "top_up"]


@dataclass(frozen=True)
class Profile:
    name: str
    buys_per_month: float
    mean_amount: float
    high_risk_share: float
    pay_full: float  # share of statements paid in full
    pay_minimum: float  # share paid at the minimum (the rest: nothing)
    late_share: float  # of the payments made, the share made after the due date
    bust_out_per_month: float  # chance per month of stopping payments for good
    refund_share: float


PROFILES = [
    (0.62, Profile("steady", 3.0, 260.0, 0.01, 0.92, 0.07, 0.03, 0.002, 0.04)),
    (0.26, Profile("revolver", 5.0, 420.0, 0.04, 0.35, 0.55, 0.15, 0.02, 0.06)),
    (0.12, Profile("stretched", 7.0, 650.0, 0.20, 0.10, 0.45, 0.45, 0.22, 0.10)),
]


@dataclass
class Life:
    account_id: int
    profile: Profile
    bust_on: dt.date | None = None
    purchases: list[int] = field(default_factory=list)

    def busted(self, on: dt.date) -> bool:
        return self.bust_on is not None and self.bust_on <= on


def life_of(account: CreditAccount, *, seed: int, anchor: dt.date) -> Life:
    """An account's hidden profile and the day it would stop paying, drawn from (seed, reference):
    the same demo gives the same lives when it is moved further through time."""
    import random

    rng = random.Random(f"{seed}:{account.reference}")
    roll, acc, profile = rng.random(), 0.0, PROFILES[-1][1]
    for weight, candidate in PROFILES:
        acc += weight
        if roll < acc:
            profile = candidate
            break
    days = int(rng.expovariate(profile.bust_out_per_month / 30.0)) if profile.bust_out_per_month > 0 else None
    return Life(account.pk, profile, anchor + dt.timedelta(days=days) if days is not None else None)


def demo_accounts():
    return list(CreditAccount.objects.filter(customer__external_id__startswith="demo-").order_by("pk"))


def seed(*, accounts, stdout, rng, start: dt.date, end: dt.date, seed_value: int = 20261128) -> None:
    """``seed_demo``'s hook. When an app before this one (the credit engine's demo) has already lived
    the demo's history, the days are taken: nothing is replayed here, and ``manage.py demo_live``
    moves the demo further through time with the risk profiles. Otherwise live ``start`` → ``end``."""
    from core.business_date import set_business_date
    from installments.models import Purchase

    if Purchase.objects.filter(account__in=[a.pk for a in accounts]).exists():
        if stdout is not None:
            stdout.write("  risk demo: history already lived; `manage.py demo_live --through DATE` moves the "
                         "portfolio on with behaviour linked to default (see risk/demo.py).")
    else:
        set_business_date(start)
        lives = {a.pk: life_of(a, seed=seed_value, anchor=start) for a in accounts}
        live(lives=lives, rng=rng, start=start, end=end, stdout=stdout)
    from risk.demo_workday import workday

    workday(rng=rng, today=end, stdout=stdout)


def live(*, lives: dict[int, Life], rng, start: dt.date, end: dt.date, stdout=None) -> dict:
    """Purchases, refunds, repayments and close of business, day by day from ``start`` up to ``end``."""
    plans: dict[dt.date, list[tuple[int, int, str]]] = {}
    _replan_open_statements(lives, rng, start, plans)
    days = (end - start).days
    counts = {"purchases": 0, "declined": 0, "repayments": 0, "refunds": 0}
    for i in range(days):
        on = start + dt.timedelta(days=i)
        _purchases(lives, rng, on, counts)
        _refunds(lives, rng, on, counts)
        _repayments(plans.pop(on, []), on, counts)
        _close_the_day(on)
        _plan_payments(lives, rng, on, plans)
        if stdout is not None and (i + 1) % 30 == 0:
            stdout.write(f"  risk demo: {on} … {counts}")
    if stdout is not None:
        profiles: dict[str, int] = {}
        for life in lives.values():
            profiles[life.profile.name] = profiles.get(life.profile.name, 0) + 1
        stdout.write(f"  risk demo: lived {days} days; profiles {profiles}; {counts}")
    return counts


def _replan_open_statements(lives, rng, start: dt.date, plans) -> None:
    """Moving an existing demo further: plan the payment of statements billed before ``start`` and
    not yet due."""
    from installments.models import Statement

    for statement in Statement.objects.filter(account_id__in=list(lives), bill_date__lt=start, due_date__gte=start,
                                              status=Statement.Status.OPEN):
        _plan_statement(lives[statement.account_id], statement, rng, statement.bill_date, plans, earliest=start)


def _purchases(lives, rng, on: dt.date, counts) -> None:
    from installments.models import Purchase
    from installments.services import PurchaseDeclinedError, purchase_authorize

    active = set(CreditAccount.objects.filter(pk__in=list(lives), status=CreditAccount.Status.ACTIVE).values_list("pk", flat=True))
    for account_id in sorted(active):
        life = lives[account_id]
        rate = life.profile.buys_per_month / 30 * (1.8 if life.busted(on) else 1.0)  # a bust-out spends first
        if rng.random() >= rate:
            continue
        high_risk = rng.random() < life.profile.high_risk_share
        amount = money(str(round(min(rng.lognormvariate(math.log(life.profile.mean_amount), 0.7), 8000.0), 2)))
        if amount < Decimal("1.00"):
            continue
        account = CreditAccount(pk=account_id)
        try:
            purchase = purchase_authorize(
                account=account, amount=amount, merchant_order_id=f"demo-{account_id}-{on:%Y%m%d}-{rng.randrange(10**6)}",
                category=rng.choice(HIGH_RISK if high_risk else CATEGORIES), device_id=f"demo-device-{account_id}",
                actor=DEMO,
            )
        except PurchaseDeclinedError:
            counts["declined"] += 1
            continue
        if purchase.status == Purchase.Status.APPROVED:
            life.purchases.append(purchase.pk)
            counts["purchases"] += 1


def _refunds(lives, rng, on: dt.date, counts) -> None:
    from core.errors import ApplicationError
    from installments.models import Purchase
    from installments.services import purchase_refund

    for life in lives.values():
        if not life.purchases or rng.random() >= life.profile.refund_share * life.profile.buys_per_month / 30:
            continue
        purchase = Purchase.objects.filter(pk=life.purchases.pop(rng.randrange(len(life.purchases)))).first()
        if purchase is None or purchase.refunded_amount > 0:
            continue
        try:
            purchase_refund(purchase=purchase, amount=purchase.amount, actor=DEMO, reason="demo: returned")
            counts["refunds"] += 1
        except ApplicationError:
            pass


def _close_the_day(on: dt.date) -> None:
    from cob.pipeline import run_date

    run_date(on)


def _plan_payments(lives, rng, on: dt.date, plans) -> None:
    """Decide how each statement billed today will be paid (in full, the minimum, or not)."""
    from installments.models import Statement

    for statement in Statement.objects.filter(bill_date=on, account_id__in=list(lives)):
        _plan_statement(lives[statement.account_id], statement, rng, on, plans)


def _plan_statement(life: Life, statement, rng, billed: dt.date, plans, earliest: dt.date | None = None) -> None:
    if statement.closing_balance <= 0 or life.busted(statement.due_date):
        return  # nothing owed, or stopped paying
    roll = rng.random()
    if roll < life.profile.pay_full:
        kind = "full"
    elif roll < life.profile.pay_full + life.profile.pay_minimum:
        kind = "minimum"
    else:
        return
    if rng.random() < life.profile.late_share:
        pay_on = statement.due_date + dt.timedelta(days=rng.randint(4, 20))  # late, after grace
    else:
        pay_on = billed + dt.timedelta(days=rng.randint(1, max((statement.due_date - billed).days, 1)))
    if earliest and pay_on < earliest:
        pay_on = earliest
    plans.setdefault(pay_on, []).append((statement.account_id, statement.pk, kind))


def _repayments(due: list[tuple[int, int, str]], on: dt.date, counts) -> None:
    from core.errors import ApplicationError
    from installments.models import Statement
    from installments.services import repayment_post

    for account_id, statement_id, kind in due:
        statement = Statement.objects.filter(pk=statement_id).first()
        account = CreditAccount.objects.filter(pk=account_id).first()
        if statement is None or account is None:
            continue
        if kind == "full":
            amount = statement.closing_balance
        else:
            amount = max(statement.minimum_payment, Decimal("0"))
        if account.status == CreditAccount.Status.CLOSED or amount <= 0:
            continue
        try:
            repayment_post(account=account, amount=amount, external_ref=f"demo-{statement_id}-{kind}",
                           channel="bank_transfer", actor=DEMO)
            counts["repayments"] += 1
        except ApplicationError:
            pass
