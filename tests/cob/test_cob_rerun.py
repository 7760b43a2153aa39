"""Issue 13 item 3: an earlier date cannot run again at a later business date (every later day started
from the state it left), whichever way it is asked for — the ``cob`` command, the admin's re-run, the
fan-out dispatch or a late Celery message — and nothing changes; the latest closed date re-runs
(forced) and changes no row of any table, on the real steps of every app (engine, collections, risk).

Scenario: a 1,000.00 purchase on 2026-01-05, bill day 1 → statement 2026-02-01 due 2026-02-10, grace
through the 13th, unpaid: overdue. Closed through Monday 2026-02-23 (limit reviews run on Mondays):
DPD 13, business date 2026-02-24."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from accounts.models import CreditAccount
from cob import pipeline
from cob.models import CobRun, RunState
from cob.services import _plan
from core.business_date import get_business_date
from core.errors import BusinessRuleError
from installments.models import Charge
from installments.services import purchase_authorize
from tests.factories_cob import dump_all
from tests.factories_installments import SYSTEM, D, no_risk_checks, open_account  # noqa: F401

D0 = dt.date(2026, 1, 5)
LATEST = dt.date(2026, 2, 23)  # a Monday: the weekly limit reviews are part of the day
EARLIER = dt.date(2026, 2, 20)
REFUSAL = (
    "The business date is 2026-02-24; 2026-02-20 was closed and later days depend on it: it cannot be run "
    "again. Only the latest closed date (2026-02-23) can be re-run, and that changes nothing."
)
@pytest.fixture
def overdue(business_date, settings):
    settings.CELERY_BROKER_IS_EMBEDDED = True
    business_date(D0)
    account = open_account(limit="10000.00", bill_day=1, opened_on=dt.date(2026, 1, 1))
    purchase_authorize(account=account, amount=D("1000.00"), merchant_order_id="o-1", tenor=None, actor=SYSTEM)
    call_command("cob", through=str(LATEST), no_progress=True, stdout=io.StringIO())
    account.refresh_from_db()
    assert (account.dpd, account.bucket, account.status) == (13, "M1", "frozen")
    assert get_business_date() == LATEST + dt.timedelta(days=1)
    assert set(CobRun.objects.values_list("state", flat=True)) == {RunState.DONE}
    return account


@pytest.mark.parametrize("force", [False, True], ids=["plain", "forced"])
def test_the_command_refuses_an_earlier_date_and_nothing_changes(overdue, force):
    before = dump_all()
    with pytest.raises(CommandError) as exc:
        call_command("cob", date=str(EARLIER), force=force, no_progress=True, stdout=io.StringIO(),
                     stderr=io.StringIO())
    assert str(exc.value) == f"{REFUSAL} [cob_earlier_date]"
    assert dump_all() == before
    assert CreditAccount.objects.get(pk=overdue.pk).dpd == 13


def test_the_service_refusal_names_the_dates(overdue):
    before = dump_all()
    with pytest.raises(BusinessRuleError) as exc:
        pipeline.run_date(EARLIER, force=True)
    assert exc.value.code == "cob_earlier_date"
    assert exc.value.details == {"business_date": "2026-02-24", "date": "2026-02-20", "latest_closed_date": "2026-02-23"}
    assert dump_all() == before


def test_the_fan_out_dispatch_refuses_an_earlier_date(overdue, settings):
    settings.CELERY_BROKER_IS_EMBEDDED = False
    before = dump_all()
    with pytest.raises(BusinessRuleError, match="later days depend on it"):
        pipeline.dispatch(EARLIER, force=True)
    assert dump_all() == before


def _stale_run(state: str) -> CobRun:
    """A run of an earlier date left unfinished (opened before the business date moved past it)."""
    run = CobRun.objects.create(business_date=EARLIER, attempt=2, state=state, chunk_size=10_000, error="boom")
    _plan(run)  # the same steps a real open plans
    return run


def test_a_late_celery_message_for_an_earlier_date_runs_nothing(overdue):
    from cob.tasks import advance_task

    run = _stale_run(RunState.PENDING)
    before = dump_all()
    result = advance_task.apply(args=(run.pk,))
    assert result.result == f"refused: {REFUSAL}"
    with pytest.raises(BusinessRuleError, match="later days depend on it"):
        pipeline.run_in_process(run)
    assert dump_all() == before


def test_the_admin_rerun_of_an_earlier_failed_date_is_refused(overdue, client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "x-Very-long-pass-1")
    client.force_login(user)
    run = _stale_run(RunState.FAILED)
    before = dump_all()
    url = reverse("admin:cob_cobrun_changelist")
    response = client.post(url, {"action": "rerun_failed", "_selected_action": [run.pk], "_form_action_apply": "1",
                                 "reason": "again"}, follow=True)
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [f"Refused — {run}: " + REFUSAL]
    assert dump_all() == before


def test_a_forced_rerun_of_the_latest_closed_date_changes_no_row_of_any_table(overdue):
    late_fees = list(Charge.objects.filter(account=overdue).order_by("accrued_on").values_list("accrued_on", "amount"))
    assert late_fees[-1][0] == LATEST
    before = dump_all(without=("cob",))
    runs_before = CobRun.objects.count()

    out = io.StringIO()
    call_command("cob", date=str(LATEST), force=True, no_progress=True, stdout=out)

    rerun = CobRun.objects.get(business_date=LATEST, attempt=2)
    assert rerun.state == RunState.DONE and rerun.advanced_to is None
    steps = dict(rerun.steps.values_list("name", "rows"))
    assert "risk.limit_reviews" in steps and "collections.cases_sync" in steps
    assert {name: rows for name, rows in steps.items() if rows} == {}
    assert dump_all(without=("cob",)) == before
    assert CobRun.objects.count() == runs_before + 1 and get_business_date() == dt.date(2026, 2, 24)
    assert "business date is now 2026-02-24" in out.getvalue()


def test_a_business_date_set_back_by_hand_does_not_reopen_closed_days(overdue, business_date):
    business_date(EARLIER)
    before = dump_all()
    with pytest.raises(CommandError) as exc:
        call_command("cob", force=True, no_progress=True, stdout=io.StringIO(), stderr=io.StringIO())
    assert str(exc.value) == ("The business date is 2026-02-20; 2026-02-20 was closed and later days depend on it: it "
                              "cannot be run again. [cob_earlier_date]")
    assert dump_all() == before


def test_the_latest_closed_date_is_refused_without_force_and_the_business_date_runs_normally(overdue):
    before = dump_all()
    with pytest.raises(CommandError, match=r"already done; re-run it with force\. \[cob_already_done\]"):
        call_command("cob", date=str(LATEST), no_progress=True, stdout=io.StringIO(), stderr=io.StringIO())
    assert dump_all() == before
    call_command("cob", no_progress=True, stdout=io.StringIO())
    assert CreditAccount.objects.get(pk=overdue.pk).dpd == 14 and get_business_date() == dt.date(2026, 2, 25)
