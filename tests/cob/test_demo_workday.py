"""The demo's day of work: the German scorecard shipped as JSON becomes the active application scorecard,
applications land in every state with an officers' queue, the demo collector gets open cases — through the
services, and idempotently."""
from __future__ import annotations

import io
import json
import random

import pytest

from risk.demo_workday import FIXTURE, applications_seed, load_fixture, scorecard_ensure
from risk.models import Application, CreditDecision, ReviewCase, ScorecardVersion
from risk.scoring import check_table
from tests.factories_collections import CaseFactory
from tests.factories_installments import no_risk_checks  # noqa: F401
from tests.factories_staff import role_user

pytestmark = pytest.mark.django_db


def test_the_fixture_is_the_training_commands_output():
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert (data["name"], data["purpose"], data["dataset"]) == ("german", "application", "german")
    check_table(data["table"])
    assert len(data["table"]["variables"]) == 20
    assert data["metrics"]["holdout"]["auc"] > data["metrics"]["baseline"]["auc"]


def test_the_german_scorecard_is_stored_once_and_activated(business_date):
    risk = role_user("Risk analyst", "rita")
    version = scorecard_ensure(user=risk)
    assert (version.label, version.status, version.activated_by) == ("german-v1", "active", risk)
    assert version.table == load_fixture()["table"]
    assert scorecard_ensure(user=risk) == version
    assert ScorecardVersion.objects.count() == 1


def test_applications_land_in_every_state_and_the_officers_have_a_queue(business_date):
    officer = role_user("Credit officer", "olivia")
    version = scorecard_ensure(user=role_user("Risk analyst", "rita"))
    out = io.StringIO()
    states = applications_seed(rng=random.Random(3), table=version.table, user=officer, count=12, stdout=out)
    assert set(states) == {"approved", "declined", "in_review"} and all(states.values())
    assert Application.objects.filter(external_id__startswith="app-").count() == 12
    assert CreditDecision.objects.filter(automated=True, scorecard_version=version).count() == 12
    manual = CreditDecision.objects.filter(automated=False).order_by("pk")
    assert manual.count() == 2  # one approved, one declined by an officer
    assert ReviewCase.objects.filter(status="open").exists()
    assert ReviewCase.objects.filter(human_review_requested=True, application__status="approved").count() == 1
    assert "12 submitted today" in out.getvalue()

    before = (Application.objects.count(), ReviewCase.objects.count(), CreditDecision.objects.count())
    applications_seed(rng=random.Random(3), table=version.table, user=officer, count=12)
    assert (Application.objects.count(), ReviewCase.objects.count(), CreditDecision.objects.count()) == before


def test_the_demo_collector_gets_open_cases(business_date):
    from debt_collection.models import CollectionCase, Collector, Queue
    from staff.demo import _cases_for

    user = role_user("Collector", "collector")
    collector = Collector.objects.create(user=user, max_open_cases=25)
    collector.queues.set(Queue.objects.all())
    CaseFactory.create_batch(6)  # all M1: the desk takes 4 of them (tests/collections/test_desk_collector.py: every bucket)
    out = io.StringIO()
    _cases_for(collector, out)
    assert CollectionCase.objects.filter(status="open", collector=collector).count() == 4
    assert out.getvalue().strip().startswith("collector's desk: 4 open cases (M1 4), 2 promises due today, 2 call-backs")
    _cases_for(collector, io.StringIO())  # again: no more cases
    assert CollectionCase.objects.filter(collector=collector).count() == 4


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_outside_a_transaction_the_demo_closes_each_day_through_the_pipeline(business_date, no_risk_checks):  # noqa: F811
    """As ``seed_demo`` runs it: one close-of-business run and one portfolio snapshot per day, so the run
    screens and the dashboard's trend panels have the history; today has its own purchases."""
    import datetime as dt

    from cob.models import CobRun
    from core.business_date import get_business_date
    from installments import demo
    from installments.models import Purchase
    from staff.models import PortfolioSnapshot
    from tests.factories_installments import ensure_reference_data, open_account

    ensure_reference_data()
    start, end = dt.date(2026, 1, 1), dt.date(2026, 1, 15)
    business_date(start)
    accounts = [open_account(limit="20000.00", opened_on=dt.date(2025, 12, 1), bill_day=1 + i) for i in range(6)]
    demo.seed(accounts=accounts, rng=random.Random(7), start=start, end=end)
    runs = CobRun.objects.order_by("business_date")
    assert [r.business_date for r in runs] == [start + dt.timedelta(days=k) for k in range(14)]
    assert {r.state for r in runs} == {"done"}
    assert PortfolioSnapshot.objects.values("on_date").distinct().count() == 14
    assert get_business_date() == end and Purchase.objects.filter(requested_on=end).count() >= 1
