"""factory_boy factories. Customers get valid ID numbers and phones."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from accounts.models import CreditAccount, CreditProduct, Customer
from core.crypto import pii_hash
from core.identity import make_id_number


def _id_number(n: int) -> str:
    return make_id_number("110105", dt.date(1980, 1, 1) + dt.timedelta(days=n // 900), n % 900)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    id_number = factory.Sequence(_id_number)
    id_number_hash = factory.LazyAttribute(lambda o: pii_hash(o.id_number))
    id_number_last4 = factory.LazyAttribute(lambda o: o.id_number[-4:])
    mobile = factory.Sequence(lambda n: f"138{n:08d}")


class CreditProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CreditProduct
        django_get_or_create = ("code",)

    code = "baitiao"
    name = "Baitiao"


class CreditAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CreditAccount

    customer = factory.SubFactory(CustomerFactory)
    product = factory.SubFactory(CreditProductFactory)
    fixed_limit = Decimal("10000.00")
    bill_day = 1
    opened_on = dt.date(2026, 1, 1)
