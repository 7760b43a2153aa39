"""Builders for the privacy tests: customers made through the real services, with a history."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts import services as account_services
from accounts.models import Consent, CreditAccount, CreditProduct
from core.actors import Actor
from core.business_date import get_business_date
from core.identity import make_id_number

WANG = {
    "name": "王小明",
    "id_number": make_id_number("110105", dt.date(1988, 3, 14), 417),
    "mobile": "13912345678",
    "address": "北京市朝阳区建国路88号3单元1202室",
    "email": "xiaoming.wang@example.com",
}


def make_customer(n: int = 0, **overrides):
    data = dict(WANG)
    if n:
        data.update(
            name=f"客户{n:03d}号",
            id_number=make_id_number("310104", dt.date(1990, 1, 1) + dt.timedelta(days=n), n % 900),
            mobile=f"137{n:08d}",
            email=f"c{n}@example.com",
        )
    data.update(overrides)
    consents = data.pop("consents", [
        (Consent.Kind.DATA_PROCESSING, "v1", True),
        (Consent.Kind.CREDIT_BUREAU, "v1", True),
        (Consent.Kind.MARKETING, "v2", True),
        (Consent.Kind.AGENCY_SHARING, "v1", True),
    ])
    return account_services.customer_create(consents=consents, **data)


def product():
    return CreditProduct.objects.get_or_create(code="baitiao", defaults={"name": "Baitiao"})[0]


def make_account(customer, *, limit: str = "10000.00", actor: Actor | None = None) -> CreditAccount:
    return account_services.account_open(
        customer=customer, product=product(), fixed_limit=Decimal(limit), actor=actor or Actor.system("test"),
    )


def give_account_history(account: CreditAccount, staff: Actor) -> CreditAccount:
    """A limit change, a temporary limit, a freeze and unfreeze and a bucket change."""
    from accounts.models import BucketChange

    today = get_business_date()
    # a person's limit changes go through the approvals gate (issue 23); both are within the thresholds
    account_services.limit_change_submit(account=account, new_limit=Decimal("12000.00"), actor=staff,
                                         reason="annual review")
    account_services.temporary_limit_submit(account=account, amount=Decimal("3000.00"), starts_on=today,
                                            ends_on=today + dt.timedelta(days=30), actor=staff, reason="618",
                                            campaign="618")
    account_services.account_freeze(account=account, manual=True, actor=staff, reason="suspected fraud")
    account_services.account_unfreeze(account=account, manual=True, actor=staff, reason="cleared")
    BucketChange.objects.create(account=account, on_date=today, old_bucket="M0", new_bucket="M1", dpd=1)
    BucketChange.objects.create(account=account, on_date=today + dt.timedelta(days=1), old_bucket="M1",
                                new_bucket="M0", dpd=0)
    account.refresh_from_db()
    return account


@pytest.fixture
def staff_user(db, django_user_model):
    """Overrides the shared fixture with a user without a password: hashing one (PBKDF2, about
    half a second) is not what these tests are about. Import it into a test module to use it."""
    return django_user_model.objects.create_user(username="officer", password=None, is_staff=True)
