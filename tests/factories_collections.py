"""Factories and helpers for the collections tests."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from accounts.models import Consent, CreditAccount
from debt_collection.models import Agency, CollectionCase, Collector, Queue, ThirdParty
from debt_collection.rules import COLLECTIONS_TZ
from tests.factories import CreditAccountFactory

COLLECTOR_PERMS = ("work_case", "view_collectioncase", "view_contactattempt", "view_promisetopay")
MANAGER_PERMS = COLLECTOR_PERMS + (
    "manage_cases", "view_performance", "view_caseassignment", "view_agency", "view_collector",
)


def at(day: dt.date | str, hhmm: str) -> dt.datetime:
    """An aware datetime in Asia/Shanghai: ``at("2026-01-05", "21:59")``."""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    hour, minute = (int(x) for x in hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=COLLECTIONS_TZ)


def grant(user, *codenames: str):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="collections", codename__in=codenames))
    return get_user_model().objects.get(pk=user.pk)  # fresh instance: no stale permission cache


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"collector{n}")
    is_staff = True
    password = "!"  # unusable; tests log in with force_login (no slow hashing)


class CollectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Collector
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    max_open_cases = 10

    @factory.post_generation
    def queues(self, create, extracted, **kwargs):
        buckets = extracted if extracted is not None else ("M1",)
        self.queues.set(Queue.objects.filter(bucket__in=buckets))
        grant(self.user, *COLLECTOR_PERMS)


def manager_user(username: str = "manager"):
    user = UserFactory(username=username)
    return grant(user, *MANAGER_PERMS)


def collector_user(collector: Collector):
    return get_user_model().objects.get(pk=collector.user_id)


class AgencyFactory(factory.django.DjangoModelFactory):
    """An agency eligible on 2026-01-05 (whitelisted, under contract, evaluated recently)."""

    class Meta:
        model = Agency
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Agency {n}")
    is_whitelisted = True
    contract_starts_on = dt.date(2025, 1, 1)
    contract_ends_on = dt.date(2027, 12, 31)
    last_evaluated_on = dt.date(2025, 6, 30)
    max_open_cases = 10

    @factory.post_generation
    def queues(self, create, extracted, **kwargs):
        self.queues.set(Queue.objects.filter(bucket__in=extracted if extracted is not None else ("M4",)))


def overdue_account(*, bucket: str = "M1", dpd: int = 5, consent: bool | None = None, **kwargs) -> CreditAccount:
    account = CreditAccountFactory(bucket=bucket, dpd=dpd, **kwargs)
    if consent is not None:
        Consent.objects.create(customer=account.customer, kind=Consent.Kind.AGENCY_SHARING, version="1",
                               granted=consent, recorded_at=at("2025-01-01", "10:00"))
    return account


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CollectionCase

    account = factory.LazyFunction(overdue_account)
    customer = factory.LazyAttribute(lambda o: o.account.customer)
    opened_on = dt.date(2026, 1, 5)
    bucket = factory.LazyAttribute(lambda o: o.account.bucket)
    dpd = factory.LazyAttribute(lambda o: o.account.dpd)
    queue = factory.LazyAttribute(lambda o: Queue.objects.get(bucket=o.bucket))
    amount_overdue = Decimal("500.00")
    balance = Decimal("3000.00")
    assigned_on = factory.LazyAttribute(lambda o: dt.date(2026, 1, 5) if (o.collector or o.agency) else None)
    collector = None
    agency = None


class ThirdPartyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ThirdParty

    name = "李四"
    relation = "colleague"
    mobile = "13900000000"


# --- Engine-backed accounts (real statements, repayments and delinquency) ----------------------------

ENGINE_ACTOR = None


def engine_actor():
    from core.actors import Actor

    return Actor.system("test")


def billed_account(*, amount: str = "1000.00", bill_day: int = 1, email: str = "", n: int = 0) -> CreditAccount:
    """An account of the default product with a revolving purchase of ``amount`` posted today (the
    business date), so the next bill day's statement bills it."""
    from accounts.services import account_open
    from installments.services import purchase_authorize
    from tests.factories import CustomerFactory

    customer = CustomerFactory(email=email)
    account = account_open(customer=customer, product=_baitiao(), fixed_limit=Decimal("20000.00"), actor=engine_actor(),
                           bill_day=bill_day, opened_on=dt.date(2025, 10, 1))
    purchase_authorize(account=account, amount=Decimal(amount), merchant_order_id=f"order-{account.pk}-{n}",
                       actor=engine_actor())
    return CreditAccount.objects.get(pk=account.pk)


def _baitiao():
    from accounts.models import CreditProduct

    return CreditProduct.objects.get(code="baitiao")


def close_days(until: dt.date) -> None:
    """Run the credit engine's close of business through ``until`` (collections steps not included)."""
    from installments.daily import run_through

    run_through(until)


def pay(account: CreditAccount, amount: str, *, ref: str, received_on: dt.date | None = None):
    from installments.services import repayment_post

    return repayment_post(account=account, amount=Decimal(amount), external_ref=ref, channel="bank_transfer",
                          received_on=received_on, actor=engine_actor())
