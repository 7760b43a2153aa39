"""Races on PostgreSQL with real threads: the contact limits and the collectors' maxima hold when two
people act at the same moment (row locks on the customer and on the collector)."""
import datetime as dt
import threading

import pytest
from django.db import connection

from core.actors import Actor
from core.errors import ApplicationError
from debt_collection import services
from debt_collection.models import CollectionCase, ContactAttempt
from debt_collection.services import Author
from tests.factories_collections import CaseFactory, CollectorFactory, at, collector_user, manager_user, overdue_account

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
DAY = dt.date(2026, 1, 5)


def race(*calls):
    """Run the calls at once in threads; returns each one's result or the error code."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except ApplicationError as exc:
            results[i] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_collectors_racing_for_the_third_call_of_a_debtor(business_date):
    a, b = CollectorFactory(), CollectorFactory()
    case_a = CaseFactory(collector=a)
    case_b = CaseFactory(account=overdue_account(customer=case_a.customer, product__code="p2", product__name="P2"),
                         collector=b)
    author_a, author_b = Author.staff(collector_user(a)), Author.staff(collector_user(b))
    for hhmm in ("09:00", "10:00"):
        services.contact_log(case=case_a, author=author_a, channel="voice", outcome="reached",
                             occurred_at=at(DAY, hhmm), now=at(DAY, "12:00"))

    def call(case, author):
        return lambda: services.contact_log(case=case, author=author, channel="voice", outcome="reached",
                                            occurred_at=at(DAY, "11:00"), now=at(DAY, "12:00")).pk

    results = race(call(case_a, author_a), call(case_b, author_b))
    assert sorted(isinstance(r, int) for r in results) == [False, True]
    assert "contact_rule_voice_daily_limit" in results
    assert ContactAttempt.objects.filter(customer=case_a.customer).count() == 3


def test_two_managers_racing_for_a_collectors_last_seat(business_date):
    collector = CollectorFactory(max_open_cases=1)
    first, second = CaseFactory(), CaseFactory()
    m1, m2 = Actor.staff(manager_user("m1")), Actor.staff(manager_user("m2"))
    results = race(
        lambda: services.case_assign(case=first, collector=collector, actor=m1).pk,
        lambda: services.case_assign(case=second, collector=collector, actor=m2).pk,
    )
    assert "collector_at_maximum" in results
    assert CollectionCase.objects.filter(collector=collector).count() == 1


def test_assignment_step_and_a_manager_never_overfill_a_collector(business_date):
    collector = CollectorFactory(max_open_cases=2)
    manual = CaseFactory()
    for _ in range(3):
        CaseFactory()
    manager = Actor.staff(manager_user())
    race(lambda: services.cases_assign(on=DAY),
         lambda: services.case_assign(case=manual, collector=collector, actor=manager).pk)
    assert CollectionCase.objects.filter(collector=collector).count() == 2
