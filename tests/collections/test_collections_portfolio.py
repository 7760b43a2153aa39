"""A portfolio moved through 120 days past due by close of business: cases open, escalate M1 → M4, are
assigned within every maximum and close on cure; each reminder goes out exactly once per kind and
channel, and none between 22:00 and 08:00.

Each day runs every step registered in close of business (``cob.registry``: the credit engine's,
collections', and the other apps'), in the registry's order. The long scenario calls the steps
directly (the run/step/chunk bookkeeping of ``cob.pipeline`` costs ~0.25 s a day and is covered by
its own tests); ``test_the_real_pipeline_runs_the_collections_steps`` drives ``cob.pipeline.run_date``
itself across the days where cases open and reminders go out."""
import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest

from django.db import transaction

from cob.pipeline import run_date
from cob.registry import registry
from core import business_date as clock
from core.business_date import get_business_date, set_business_date
from debt_collection import gateway, services
from debt_collection.models import (
    Agency,
    CaseEscalation,
    CollectionCase,
    Collector,
    Reminder,
    ReminderMessage,
    ReminderTemplate,
)
from debt_collection.rules import local
from tests.factories_collections import AgencyFactory, CollectorFactory, at, billed_account, pay

START = dt.date(2026, 1, 5)  # purchases; statement 2026-02-01, due 2026-02-10, overdue after 3 days of grace
END = dt.date(2026, 6, 10)  # DPD 120 for the accounts that never pay (due 2026-02-10)
#: Wall-clock moments of each day at which the dispatcher runs (two of them in quiet hours).
DISPATCH_TIMES = ("03:00", "07:59", "08:00", "21:59", "22:00")


@pytest.fixture(autouse=True)
def setup(settings, monkeypatch):
    from installments import hooks

    monkeypatch.setattr(hooks, "_purchase_checks", {})
    settings.REMINDER_GATEWAY_BACKENDS = {c: "debt_collection.gateway.MemoryBackend" for c in ("sms", "email", "in_app")}
    gateway.MemoryBackend.outbox = []


def test_portfolio_through_120_days(business_date, monkeypatch):
    business_date(START)
    ReminderTemplate.objects.exclude(channel="sms").update(is_active=False)  # one channel keeps it quick
    m1_a, m1_b = CollectorFactory(queues=("M1",), max_open_cases=2), CollectorFactory(queues=("M1",), max_open_cases=2)
    senior = CollectorFactory(queues=("M2", "M3"), max_open_cases=3)
    fallback = CollectorFactory(queues=("M4",), max_open_cases=1)
    agency = AgencyFactory(queues=("M4",), max_open_cases=2)
    AgencyFactory(name="Stale", queues=("M4",), last_evaluated_on=dt.date(2024, 12, 1))  # gets nothing

    payers = [billed_account(amount="800.00", n=i) for i in range(2)]
    never = [billed_account(amount="1500.00", email="late@example.com", n=i) for i in range(5)]
    curing = [billed_account(amount="1200.00", n=i) for i in range(2)]
    from accounts.models import Consent

    for account in never[:3]:  # three consent to agency sharing
        Consent.objects.create(customer=account.customer, kind="agency_sharing", version="1", granted=True,
                               recorded_at=at(START, "10:00"))

    payments = {
        dt.date(2026, 2, 8): [(a, "800.00") for a in payers],  # in full before the due date
        dt.date(2026, 3, 20): [(a, "1300.00") for a in curing],  # everything, in M2: cured
    }
    capacity_seen = []
    day = START
    while day <= END:
        for account, amount in payments.get(day, ()):
            pay(account, amount, ref=f"pay-{account.pk}-{day}")
        monkeypatch.setattr(clock, "now_local", lambda d=day: at(d, "23:30"))
        close_business_day(day)
        dispatch_through_the_night_and_day(day + dt.timedelta(days=1))
        capacity_seen.append(_holdings())
        day += dt.timedelta(days=1)

    # --- cases -----------------------------------------------------------------------------------
    assert not CollectionCase.objects.filter(account__in=payers).exists()
    overdue_day = dt.date(2026, 2, 13)  # due 2/10, 3 days of grace: overdue at the close of 2/13 (DPD 3)
    for account in never:
        case = CollectionCase.objects.get(account=account)
        assert (case.status, case.opened_on, case.bucket) == ("open", overdue_day, "M4")
        assert list(case.escalations.values_list("old_bucket", "new_bucket", "on_date")) == [
            ("", "M1", overdue_day),
            ("M1", "M2", dt.date(2026, 3, 13)),  # DPD 31 (from 2/11)
            ("M2", "M3", dt.date(2026, 4, 12)),  # DPD 61
            ("M3", "M4", dt.date(2026, 5, 12)),  # DPD 91
        ]
        assert case.dpd == 120
        assert case.amount_overdue > Decimal("1500.00")  # principal + late fees
    for account in curing:
        case = CollectionCase.objects.get(account=account)
        assert (case.status, case.close_reason, case.closed_on, case.bucket) == (
            "closed", "cured", dt.date(2026, 3, 20), "M2")
    assert CaseEscalation.objects.filter(new_bucket="M4").count() == 5

    # --- assignment: within maxima every day, agencies only with consent, stale agency never ---------
    maxima = {("collector", c.pk): c.max_open_cases for c in Collector.objects.all()}
    maxima |= {("agency", a.pk): a.max_open_cases for a in Agency.objects.all()}
    for holdings in capacity_seen:
        assert all(n <= maxima[key] for key, n in holdings.items()), holdings
    m4 = CollectionCase.objects.filter(status="open", bucket="M4")
    assert sorted(m4.values_list("agency_id", flat=True).exclude(agency=None)) == [agency.pk, agency.pk]
    assert m4.filter(collector=fallback).count() == 1 and m4.filter(collector=None, agency=None).count() == 2
    assert not m4.filter(agency__name="Stale").exists()
    assert all(c.customer.consents.filter(kind="agency_sharing", granted=True).exists()
               for c in m4.exclude(agency=None))
    # in M1 seven cases met four seats: the first two days of M1 show it
    assert capacity_seen[(overdue_day - START).days] == {
        ("collector", m1_a.pk): 2, ("collector", m1_b.pk): 2}
    assert senior.pk in {k[1] for h in capacity_seen for k in h if k[0] == "collector"}

    # --- reminders: each kind once, every message at most once, never at night -------------------------
    outbox = gateway.MemoryBackend.outbox
    keys = Counter(m.idempotency_key for m in outbox)
    assert keys and max(keys.values()) == 1
    sent = ReminderMessage.objects.filter(status="sent")
    assert sent.count() == len(outbox)
    assert all(dt.time(8, 0) <= local(m.sent_at).time() < dt.time(22, 0) for m in sent)
    assert all(local(m.sent_at).date() == m.reminder.for_date for m in sent.select_related("reminder"))
    first_statement_kinds = list(
        Reminder.objects.filter(account=never[0], due_date__lte=dt.date(2026, 2, 10)).order_by("for_date")
        .values_list("kind", flat=True)
    )
    weekly = [f"D+{n}" for n in range(14, 122, 7)]  # … D+119 (read on 6/9; the close of 6/10 queues D+121)
    assert first_statement_kinds == ["T-3", "T-1", "T0", "D+1", "D+3", "D+7", *weekly]
    # paid in full on 2/8, after the T-3 reminder: nothing more
    assert list(Reminder.objects.filter(account__in=payers).values_list("kind", flat=True)) == ["T-3", "T-3"]


def close_business_day(on: dt.date) -> None:
    """Every close-of-business step due on ``on``, in the registry's order, then the next date."""
    assert get_business_date() == on
    for step in registry.steps_for(on):
        with transaction.atomic():
            step(on=on, account_ids=None)
    set_business_date(on + dt.timedelta(days=1))


def dispatch_through_the_night_and_day(day: dt.date) -> None:
    """The dispatcher at several moments of ``day`` (as the beat would run it), some in quiet hours."""
    for hhmm in DISPATCH_TIMES:
        now = at(day, hhmm)
        for message_id in services.reminders_dispatch_due(now=now):
            services.reminder_message_send(message_id=message_id, now=now)


def test_the_real_pipeline_runs_the_collections_steps(business_date, monkeypatch):
    """``cob.pipeline.run_date`` (runs, steps, chunks) over the days a case opens and reminders go out."""
    names = [s.name for s in registry.steps()]
    assert names.index("installments.delinquency_update") < names.index("collections.cases_sync") < names.index(
        "collections.cases_assign") < names.index("collections.promises_evaluate") < names.index(
        "collections.reminders_queue") < names.index("installments.write_offs")
    business_date(START)
    collector = CollectorFactory(queues=("M1",))
    account = billed_account(amount="900.00")
    day = START
    from installments.daily import run_through

    run_through(dt.date(2026, 2, 5))  # the engine alone up to the statement (nothing to collect yet)
    day = get_business_date()
    while day <= dt.date(2026, 2, 14):
        monkeypatch.setattr(clock, "now_local", lambda d=day: at(d, "23:30"))
        run = run_date(day)
        assert run.state == "done", run.error
        assert {s.name: s.state for s in run.steps.all()}["collections.reminders_queue"] == "done"
        dispatch_through_the_night_and_day(day + dt.timedelta(days=1))
        day = get_business_date()
    case = CollectionCase.objects.get(account=account)
    assert (case.opened_on, case.bucket, case.dpd, case.collector_id) == (dt.date(2026, 2, 13), "M1", 4, collector.pk)
    kinds = list(Reminder.objects.order_by("for_date").values_list("kind", "status"))
    assert kinds == [("T-3", "sent"), ("T-1", "sent"), ("T0", "sent"), ("D+1", "sent"), ("D+3", "sent")]
    # a forced re-run of the latest closed date changes nothing (an earlier one is refused: issue 13)
    rerun = run_date(dt.date(2026, 2, 14), force=True)
    assert rerun.state == "done" and CollectionCase.objects.count() == 1 and Reminder.objects.count() == 5


def _holdings() -> dict[tuple[str, int], int]:
    out: Counter = Counter()
    for collector_id, agency_id in CollectionCase.objects.filter(status="open").values_list("collector_id", "agency_id"):
        if collector_id:
            out[("collector", collector_id)] += 1
        elif agency_id:
            out[("agency", agency_id)] += 1
    return dict(out)
