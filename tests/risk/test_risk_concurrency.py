"""Concurrency on PostgreSQL: applications sharing a device cannot all slip past the velocity rule,
and two activations cannot leave two active scorecards."""
from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection

from core.errors import ApplicationError
from risk.models import Application, ScorecardVersion
from risk.services import application_submit, scorecard_version_activate
from tests.factories import CreditProductFactory
from tests.factories_risk import CONSENTS, id_number_for_age, scorecard_version, segment_table

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _race(n: int, fn) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        close_old_connections()
        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - recorded for the assertions
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_six_simultaneous_applications_from_one_device_let_exactly_three_through(business_date):
    CreditProductFactory()
    scorecard_version(table=segment_table({"prime": 700}), name="segment")

    def apply(i: int) -> str:
        application = application_submit(
            name=f"王{i}", id_number=id_number_for_age(30, 700 + i), mobile=f"1370000{i:04d}", device_id="one-phone",
            consents=CONSENTS, features={"segment": "prime"},
        )
        return [r["rule"] for r in application.decisions.get().rules_fired]

    results = _race(6, apply)
    assert all(isinstance(r, list) for r in results), results
    assert sorted(len(r) for r in results) == [0, 0, 0, 1, 1, 1]
    assert Application.objects.filter(status="approved").count() == 3


def test_two_simultaneous_activations_leave_one_active_version(business_date, django_user_model):
    user = django_user_model.objects.create_user("officer", password="x-Very-long-pass-1", is_staff=True)
    table = segment_table({"prime": 700})
    versions = [scorecard_version(table=table, name="segment", active=False) for _ in range(2)]

    results = _race(2, lambda i: scorecard_version_activate(version=versions[i], user=user))
    assert ScorecardVersion.objects.filter(status="active").count() == 1
    assert sum(isinstance(r, ScorecardVersion) for r in results) >= 1
    assert all(isinstance(r, (ScorecardVersion, ApplicationError)) for r in results), results
