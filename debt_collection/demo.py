"""Demo activity for ``seed_demo`` (after the credit engine's demo has moved the portfolio through time):
collectors and a manager (in the staff roles' groups when they exist), an agency with an API token,
cases for the overdue accounts (opened, escalated and assigned by the close-of-business steps),
contacts and promises through the services (so every rule holds), and tomorrow's reminders queued.

Logins: ``collector1`` … ``collector3`` and ``collections_manager`` share the demo admin's password
(``var/demo-admin.txt``); the agency's API token is written to ``var/demo-agency-token.txt``."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import models

from accounts.models import Consent, CreditAccount
from core.actors import Actor
from core.business_date import get_business_date
from core.errors import ApplicationError
from core.money import money
from debt_collection import services
from debt_collection.models import Agency, CollectionCase, Collector, ContactAttempt, Queue
from debt_collection.rules import COLLECTIONS_TZ
from debt_collection.services import Author

COLLECTOR_PERMISSIONS = ("view_collectioncase", "work_case", "view_contactattempt", "add_contactattempt",
                         "view_promisetopay", "add_promisetopay", "view_reminder", "view_thirdparty")
MANAGER_PERMISSIONS = COLLECTOR_PERMISSIONS + ("manage_cases", "view_performance", "view_caseassignment",
                                               "view_collector", "change_collector", "view_agency", "change_agency",
                                               "view_queue", "change_queue", "view_remindertemplate",
                                               "change_remindertemplate")
OUTCOMES = ["no_answer"] * 4 + ["reached"] * 3 + ["promise_to_pay"] * 2 + ["wrong_number", "refused", "dispute", "paid"]


def _password() -> str | None:
    path = settings.VAR_DIR / "demo-admin.txt"
    return path.read_text().strip() if path.exists() else None


def _user(username: str, first: str, group_name: str, fallback_perms: Sequence[str]):
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True, "first_name": first})
    if created:
        password = _password()
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    group = Group.objects.filter(name=group_name).first()
    if group is not None:
        user.groups.add(group)
    else:  # no staff roles installed: the permissions directly
        user.user_permissions.add(*Permission.objects.filter(content_type__app_label="collections",
                                                             codename__in=fallback_perms))
    return user


def _agency(on: dt.date, stdout) -> Agency:
    agency = Agency.objects.filter(name="华信催收服务有限公司").first()
    if agency is not None:
        return agency
    client = None
    try:
        from integrations.scopes import AGENCY
        from integrations.services import api_client_create, api_token_issue

        client = api_client_create(name="Agency: 华信催收", scopes=[AGENCY], actor=Actor.system("seed_demo"),
                                   description="Demo collection agency")
        token = api_token_issue(client=client, actor=Actor.system("seed_demo"), name="demo")[1]
        path = settings.VAR_DIR / "demo-agency-token.txt"
        path.write_text(token)
        if stdout:
            stdout.write(f"  agency API token kept in {path} (GET /api/v1/agency/cases/ with 'Authorization: Bearer …')")
    except (ImportError, ApplicationError):  # the integrations app is optional for the demo
        client = None
    agency = Agency.objects.create(
        name="华信催收服务有限公司", is_whitelisted=True, contract_starts_on=on - dt.timedelta(days=400),
        contract_ends_on=on + dt.timedelta(days=365), last_evaluated_on=on - dt.timedelta(days=90),
        evaluation_note="Annual review: compliant call recordings, complaint rate 0.2 %", max_open_cases=40,
        api_client=client,
    )
    agency.queues.set(Queue.objects.filter(bucket__in=["M4", "M5", "M6"]))
    Agency.objects.create(
        name="旧约催收 (contract ended)", is_whitelisted=True, contract_starts_on=on - dt.timedelta(days=800),
        contract_ends_on=on - dt.timedelta(days=30), last_evaluated_on=on - dt.timedelta(days=200), max_open_cases=40,
    ).queues.set(Queue.objects.filter(bucket__in=["M4", "M5", "M6"]))
    return agency


def seed(*, accounts: Sequence[CreditAccount], stdout=None, rng: random.Random | None = None,
         start: dt.date | None = None, end: dt.date | None = None) -> dict[str, int]:
    rng = rng or random.Random(0)
    today = get_business_date()
    last_closed = today - dt.timedelta(days=1)
    first_names = ["小王", "小李", "小张"]
    collectors = []
    for i, buckets in enumerate([("M1",), ("M1", "M2"), ("M2", "M3", "M4", "M5", "M6")], start=1):
        user = _user(f"collector{i}", first_names[i - 1], "Collector", COLLECTOR_PERMISSIONS)
        collector, _ = Collector.objects.get_or_create(user=user, defaults={"max_open_cases": 25})
        collector.queues.set(Queue.objects.filter(bucket__in=buckets))
        collectors.append(collector)
    _user("collections_manager", "主管", "Collections manager", MANAGER_PERMISSIONS)
    _agency(today, stdout)

    # The close of the last business day, for collections: open/escalate/assign, promises, reminders.
    opened = services.cases_sync(on=last_closed)
    assigned = services.cases_assign(on=last_closed)
    queued = services.reminders_queue(
        on=last_closed, now=dt.datetime.combine(today, dt.time(0, 30), tzinfo=COLLECTIONS_TZ))

    contacts = promises = refused = 0
    cases = list(CollectionCase.objects.filter(status="open").exclude(collector=None).select_related(
        "collector__user", "customer"))
    for case in cases:
        author = Author.staff(case.collector.user)
        if rng.random() < 0.5 and not case.customer.third_parties.exists():
            services.third_party_add(case=case, author=author, name=rng.choice(["王芳", "李强", "张伟"]),
                                     relation=rng.choice(["spouse", "colleague", "sibling"]),
                                     mobile=f"139{rng.randrange(10**8):08d}")
        for days_ago in (2, 1, 0):
            day = today - dt.timedelta(days=days_ago)
            for _ in range(rng.randint(0, 3)):
                moment = dt.datetime.combine(day, dt.time(rng.randint(8, 21), rng.choice([0, 15, 30, 45])),
                                             tzinfo=COLLECTIONS_TZ)
                outcome = rng.choice(OUTCOMES)
                extra = {}
                if outcome == "promise_to_pay":
                    amount = money(max(case.amount_overdue, Decimal("50.00")) * Decimal(rng.choice(["0.5", "1"])))
                    extra = {"promise_amount": min(amount, case.balance) if case.balance else amount,
                             "promise_date": today + dt.timedelta(days=rng.randint(1, 10))}
                try:
                    services.contact_log(case=case, author=author, channel=rng.choice(["voice"] * 4 + ["sms"]),
                                         outcome=outcome, occurred_at=moment, now=moment, note="demo", **extra)
                    contacts += 1
                    promises += 1 if extra else 0
                except ApplicationError:
                    refused += 1  # a rule said no (a pending promise, the daily limits…): as in real life
    agency_cases = CollectionCase.objects.filter(status="open", agency__isnull=False).count()
    if stdout:
        stdout.write(
            f"  collections: {opened} cases opened/moved, {assigned} assigned ({agency_cases} with the agency), "
            f"{contacts} contacts ({refused} refused by the rules), {promises} promises, {queued} reminders queued. "
            "Logins collector1…3 and collections_manager use the admin's password."
        )
    consenting = Consent.objects.filter(kind="agency_sharing", granted=True).count()
    return {"cases": CollectionCase.objects.count(), "contacts": ContactAttempt.objects.count(), "assigned": assigned,
            "consenting_customers": consenting}


# --- The demo collector's desk (issue 26 item 7) ------------------------------------------------------

#: The demo ``collector`` gets cases of each of these bucket groups: M1, M2 and M3+.
DESK_BUCKETS: tuple[tuple[str, ...], ...] = (("M1",), ("M2",), ("M3", "M4", "M5", "M6"))


def collector_desk_seed(*, collector: Collector, per_bucket: int = 4, stdout=None) -> dict[str, int]:
    """Give ``collector`` a full desk for the business date: ``per_bucket`` open cases in each of M1, M2
    and M3+ (transferred by the system through ``case_assign`` — from the unassigned queue and other
    collectors first, then from agencies), and today's work on them through ``contact_log``: on a third
    of them a morning call that ended in a promise due today (cases without a pending promise), on
    another third a call-back agreed for this afternoon. A rule that says no (the daily limits) is
    respected: that case is skipped. A second run adds no cases."""
    from django.db.models import F

    today = get_business_date()
    system = Actor.system("seed_demo")
    for buckets in DESK_BUCKETS:
        held = CollectionCase.objects.filter(status="open", collector=collector, bucket__in=buckets).count()
        candidates = (CollectionCase.objects.filter(status="open", bucket__in=buckets).exclude(collector=collector)
                      .order_by(F("agency_id").asc(nulls_first=True), "-amount_overdue", "pk"))
        for case in candidates[: max(per_bucket - held, 0) * 3]:
            if held >= per_bucket:
                break
            try:
                services.case_assign(case=case, collector=collector, actor=system,
                                     reason="demo: the collector's desk (M1, M2, M3+)")
                held += 1
            except ApplicationError:
                continue
    author = Author.staff(collector.user)
    cases = list(CollectionCase.objects.filter(status="open", collector=collector).select_related("customer")
                 .order_by("-bucket", "pk"))
    target = -(-len(cases) // 3)  # a third of the cases each (rounded up): promises due today, call-backs
    promised = called_back = 0
    for i, case in enumerate(cases):
        moment = dt.datetime.combine(today, dt.time(9, i % 60), tzinfo=COLLECTIONS_TZ)
        try:
            if promised < target and not case.promises.filter(status="pending").exists():
                amount = money(max(case.amount_overdue, Decimal("50.00")))
                services.contact_log(case=case, author=author, channel="voice", outcome="promise_to_pay",
                                     occurred_at=moment, now=moment, note="demo: will pay today",
                                     promise_amount=min(amount, case.balance) if case.balance else amount,
                                     promise_date=today)
                promised += 1
            elif called_back < target:
                services.contact_log(case=case, author=author, channel="voice", outcome="reached",
                                     occurred_at=moment, now=moment, note="demo: asked to be called back",
                                     callback_at=dt.datetime.combine(today, dt.time(14 + i % 4, 30),
                                                                     tzinfo=COLLECTIONS_TZ))
                called_back += 1
        except ApplicationError:
            continue  # a rule said no: as in real life
    from debt_collection.selectors import collector_day

    counts = collector_day(collector=collector, on=today).counts
    by_bucket = dict(CollectionCase.objects.filter(status="open", collector=collector).values_list("bucket")
                     .annotate(n=models.Count("pk")).values_list("bucket", "n"))
    if stdout:
        stdout.write(f"  collector's desk: {counts['open_cases']} open cases ({', '.join(f'{b} {n}' for b, n in sorted(by_bucket.items()))}), "
                     f"{counts['promises_due']} promises due today, {counts['callbacks']} call-backs, "
                     f"{counts['never_contacted']} never contacted.")
    return {**counts, "by_bucket": by_bucket}
