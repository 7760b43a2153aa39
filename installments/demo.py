"""Demo activity for ``seed_demo``: purchases (revolving and every tenor), statements, bill installments,
repayments (in full, the minimum, late, over), refunds, early settlements, a reversal and a few accounts
that fall overdue, all through the services and the daily steps, day by day from ``start`` to ``end``.
``check_books`` is clean afterwards."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from collections.abc import Sequence

from accounts.models import CreditAccount
from core.actors import Actor
from core.business_date import set_business_date
from core.errors import ApplicationError
from core.money import money
from installments.calc import TENORS
from installments.daily import run_day
from installments.hooks import day_closer, replay_morning
from installments.models import Plan, Purchase, Repayment, Statement
from installments.selectors import account_amount_due
from installments.services import (
    plan_settle, purchase_authorize, purchase_refund, repayment_post, repayment_reverse, statement_install,
)

SYSTEM = Actor.system("seed_demo")
PROFILES = ["full"] * 12 + ["minimum"] * 4 + ["installer"] * 2 + ["late"] * 1 + ["overpayer"] * 1
CATEGORIES = ["electronics", "groceries", "fashion", "home", "books", "travel", "beauty"]


def _close_the_day(day: dt.date) -> None:
    """The demo's close of business: the real pipeline the close-of-business app registered
    (``installments.hooks.day_closer``: every registered step — engine, collections, limit reviews — and a run
    record per date, so the run screens have 180 days of history, and the day's portfolio snapshot for the
    dashboard's trend and roll-rate panels)."""
    from django.db import transaction

    closer = day_closer()
    # Inside an outer transaction (a test) the pipeline's per-chunk temporary tables would pile up their locks
    # for the whole history (PostgreSQL: max_locks_per_transaction): the engine's steps alone, then.
    if closer is not None and not transaction.get_connection().in_atomic_block:
        closer(day)  # its last step is the staff app's portfolio snapshot
    else:
        run_day(day)
    replay_morning(day + dt.timedelta(days=1))  # the notices the next morning's beat would send (notices app)


def _today(accounts: Sequence[CreditAccount], rng: random.Random, end: dt.date, counts: dict[str, int]) -> None:
    """The business date's own activity, so the dashboard's "today" figures are not empty: a few purchases
    and payments received this morning (not closed yet: close of business runs tonight)."""
    for account in rng.sample(list(accounts), min(12, len(accounts))):
        try:
            purchase_authorize(account=account, amount=_amount(rng, account.fixed_limit),
                               merchant_order_id=f"demo-today-{account.pk}", category=rng.choice(CATEGORIES),
                               device_id=f"dev-{account.pk % 97}", actor=SYSTEM)
            counts["purchases"] += 1
        except ApplicationError:
            pass
    for account in rng.sample(list(accounts), min(8, len(accounts))):
        due = account_amount_due(account=account)
        if due > 0:
            repayment_post(account=account, amount=due, external_ref=f"demo-today-pay-{account.pk}",
                           channel="wallet", actor=SYSTEM)
            counts["repayments"] += 1


def _amount(rng: random.Random, limit: Decimal) -> Decimal:
    top = max(min(limit / 3, Decimal("8000")), Decimal("60"))
    return money(Decimal(rng.randint(1990, int(top * 100))) / 100)


def seed(*, accounts: Sequence[CreditAccount], stdout=None, rng: random.Random | None = None,
         start: dt.date | None = None, end: dt.date | None = None) -> dict[str, int]:
    rng = rng or random.Random(0)
    accounts = [a for a in accounts if a.status == CreditAccount.Status.ACTIVE]
    if not accounts or start is None or end is None:
        return {}
    profile = {a.pk: rng.choice(PROFILES) for a in accounts}
    # a couple of accounts of each kind for sure, so every screen has content
    for a, p in zip(accounts, ["late", "late", "installer", "minimum", "overpayer"]):
        profile[a.pk] = p
    first_buys = [(a, p) for a, p in zip(accounts, ["late", "late", "installer", "minimum", "overpayer"])]
    lead = {a.pk: rng.randint(0, 7) for a in accounts}
    counts = {"purchases": 0, "repayments": 0, "refunds": 0, "settlements": 0, "bill_installments": 0, "reversals": 0}
    n = 0
    day = start
    by_id = {a.pk: a for a in accounts}
    set_business_date(day)
    for k, (account, _kind) in enumerate(first_buys):  # so each kind of history surely appears
        try:
            purchase_authorize(account=account, amount=Decimal("1200.00") + k, merchant_order_id=f"demo-first-{account.pk}",
                               category="electronics", actor=SYSTEM)
            counts["purchases"] += 1
        except ApplicationError:
            pass
    while day < end:
        set_business_date(day)
        for account in accounts:
            if rng.random() < 0.035 and day < end - dt.timedelta(days=5):
                n += 1
                tenor = None if rng.random() < 0.65 else rng.choice(TENORS)
                try:
                    purchase_authorize(account=account, amount=_amount(rng, account.fixed_limit), merchant_order_id=f"demo-{n}",
                                       category=rng.choice(CATEGORIES), tenor=tenor, device_id=f"dev-{account.pk % 97}",
                                       actor=SYSTEM)
                    counts["purchases"] += 1
                except ApplicationError:
                    pass  # declines are part of a realistic portfolio
        # Bills: customers act some days before (or, for the late ones, after) their due date.
        for st in Statement.objects.filter(account_id__in=list(by_id), status=Statement.Status.OPEN,
                                           due_date__gte=day - dt.timedelta(days=40),
                                           due_date__lte=day + dt.timedelta(days=8)).order_by("pk"):
            kind = profile[st.account_id]
            account = by_id[st.account_id]
            if kind == "installer" and st.bill_date == day - dt.timedelta(days=1) and st.revolving_due >= Decimal("100.00"):
                try:
                    statement_install(statement=st, tenor=rng.choice([3, 6, 12]), actor=SYSTEM)
                    counts["bill_installments"] += 1
                except ApplicationError:
                    pass
                continue
            if st.due_date - dt.timedelta(days=lead[st.account_id]) != day and not (kind == "late" and st.due_date + dt.timedelta(days=25) == day):
                continue
            if kind == "late" and day <= st.due_date:
                continue
            due = account_amount_due(account=account)
            if kind == "minimum":
                amount = min(st.minimum_payment, due)
            elif kind == "overpayer":
                amount = due + money(Decimal(rng.randint(1000, 30000)) / 100)
            elif kind == "late" and rng.random() < 0.5:
                continue  # some late payers never pay: they go on to collections
            else:
                amount = due
            if amount > 0:
                repayment_post(account=account, amount=amount, external_ref=f"demo-pay-{st.pk}-{day:%Y%m%d}",
                               channel=rng.choice(["bank_transfer", "card", "wallet", "bank_file"]), actor=SYSTEM)
                counts["repayments"] += 1
        # Now and then: a refund, an early settlement, a bounced payment.
        if rng.random() < 0.15:
            candidates = list(Purchase.objects.filter(account_id__in=list(by_id), status=Purchase.Status.APPROVED,
                                                      refunded_amount=0).order_by("pk").values_list("pk", flat=True))
            p = Purchase.objects.get(pk=rng.choice(candidates)) if candidates else None
            if p:
                amount = p.amount if rng.random() < 0.5 else money(p.amount / 2)
                try:
                    purchase_refund(purchase=p, amount=amount, actor=SYSTEM, reason=rng.choice(["returned", "damaged", "wrong size"]))
                    counts["refunds"] += 1
                except ApplicationError:
                    pass
        if rng.random() < 0.08:
            candidates = list(Plan.objects.filter(account_id__in=list(by_id), status=Plan.Status.ACTIVE).exclude(
                kind=Plan.Kind.REVOLVING).order_by("pk").values_list("pk", flat=True))
            plan = Plan.objects.get(pk=rng.choice(candidates)) if candidates else None
            if plan:
                try:
                    plan_settle(plan=plan, actor=SYSTEM)
                    counts["settlements"] += 1
                except ApplicationError:
                    pass
        if rng.random() < 0.02:
            rep = Repayment.objects.filter(account_id__in=list(by_id), status=Repayment.Status.POSTED,
                                           kind=Repayment.Kind.REPAYMENT, received_on=day).order_by("pk").first()
            if rep:
                repayment_reverse(repayment=rep, actor=SYSTEM, reason="demo: payment bounced")
                counts["reversals"] += 1
        _close_the_day(day)
        day += dt.timedelta(days=1)
    set_business_date(end)
    _today(accounts, rng, end, counts)
    if stdout is not None:
        stdout.write("  " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()))
    return counts
