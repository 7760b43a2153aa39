"""The demo seed gives every collections screen content, through the services (no rule broken), and
the privacy hooks erase what collections holds about a person."""
import datetime as dt
import random

import pytest
from django.contrib.auth import get_user_model

from debt_collection import demo
from debt_collection.models import Agency, CollectionCase, Collector, ContactAttempt, Reminder, ReminderMessage, ThirdParty
from debt_collection.privacy import collections_anonymise
from debt_collection.rules import EFFECTIVE_OUTCOMES, in_quiet_hours, local
from tests.factories_collections import billed_account, close_days


@pytest.fixture(autouse=True)
def no_risk(monkeypatch, settings, tmp_path):
    from installments import hooks

    monkeypatch.setattr(hooks, "_purchase_checks", {})
    settings.VAR_DIR = tmp_path


def test_demo_seed(business_date):
    accounts = [billed_account(amount="1500.00", n=i) for i in range(6)]
    close_days(dt.date(2026, 3, 23))  # DPD 41 (M2); the close of 3/23 queues D+42 for 3/24
    stats = demo.seed(accounts=accounts, stdout=None, rng=random.Random(7), start=dt.date(2026, 1, 5),
                      end=dt.date(2026, 3, 24))
    assert Collector.objects.count() == 3 and get_user_model().objects.filter(username="collections_manager").exists()
    assert Agency.objects.count() == 2
    assert CollectionCase.objects.filter(status="open").count() == 6
    assert stats["assigned"] == 6 and stats["contacts"] == ContactAttempt.objects.count() > 0
    for contact in ContactAttempt.objects.all():
        assert not in_quiet_hours(local(contact.occurred_at), start=dt.time(22), end=dt.time(8))
    by_day = {}
    for c in ContactAttempt.objects.filter(channel="voice", outcome__in=EFFECTIVE_OUTCOMES):
        key = (c.customer_id, local(c.occurred_at).date())
        by_day[key] = by_day.get(key, 0) + 1
    assert max(by_day.values(), default=0) <= 3
    assert Reminder.objects.exists()
    # a second seed adds no users, collectors or agencies
    demo.seed(accounts=accounts, stdout=None, rng=random.Random(8), start=None, end=None)
    assert Collector.objects.count() == 3 and Agency.objects.count() == 2


def test_anonymisation_erases_third_parties_always_and_texts_unless_retained(business_date):
    accounts = [billed_account(amount="1500.00", n=i) for i in range(2)]
    close_days(dt.date(2026, 3, 23))
    demo.seed(accounts=accounts, stdout=None, rng=random.Random(1), start=None, end=None)
    customer = accounts[0].customer
    from debt_collection.services import Author, third_party_add

    case = CollectionCase.objects.get(customer=customer)
    third_party_add(case=case, author=Author.staff(case.collector.user), name="赵六",
                    relation="friend", mobile="13700000000")
    collections_anonymise(customer, retained=True)
    assert set(ThirdParty.objects.filter(customer=customer).values_list("name", "mobile")) == {("Anonymised", "")}
    assert ReminderMessage.objects.filter(reminder__account__customer=customer).exclude(body="").exists()
    collections_anonymise(customer, retained=False)
    assert not ReminderMessage.objects.filter(reminder__account__customer=customer).exclude(body="").exists()
    assert not ContactAttempt.objects.filter(customer=customer).exclude(note="").exists()
