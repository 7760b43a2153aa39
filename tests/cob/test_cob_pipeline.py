"""Close-of-business machinery: the registry, runs and steps, chunks, idempotency, crash and resume,
failures and re-runs, the command and the admin — with small real steps over real account rows (the
credit engine's steps are exercised in ``test_cob_scenario.py``)."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import CreditAccount, TemporaryLimit
from cob import pipeline
from cob.models import CobChunk, CobRun, RunState
from cob.registry import SLOTS, Step, StepRegistry, monthly, registry, weekly
from core.sql import id_bounds
from cob.services import CobStepFailed, cob_run_open, cob_run_retry
from core.audit import AuditEvent
from core.business_date import get_business_date
from core.errors import BusinessRuleError, ConflictError
from tests.factories import CreditAccountFactory

D0 = dt.date(2026, 1, 5)


def _accounts_in(account_ids):
    qs = CreditAccount.objects.all()
    if account_ids is None:
        return qs
    bounds = id_bounds(account_ids)
    assert bounds is not None, "close of business passes chunks as ranges"
    return qs.filter(pk__gte=bounds[0], pk__lt=bounds[1])


def age_accounts(*, on, account_ids):
    """dpd := days since opened (idempotent per date: a second call changes no row)."""
    changed = 0
    for opened in _accounts_in(account_ids).values_list("opened_on", flat=True).distinct():
        changed += _accounts_in(account_ids).filter(opened_on=opened).exclude(dpd=(on - opened).days).update(
            dpd=(on - opened).days
        )
    return changed


def bucket_from_dpd(*, on, account_ids):
    changed = _accounts_in(account_ids).filter(dpd__gt=30).exclude(bucket="M2").update(bucket="M2")
    return changed + _accounts_in(account_ids).filter(dpd__lte=30).exclude(bucket="M0").update(bucket="M0")


calls: list[tuple[str, dt.date, tuple[int, int] | None]] = []


def recording(name):
    def fn(*, on, account_ids=None):
        calls.append((name, on, id_bounds(account_ids)))
        return 0
    return fn


TEST_STEPS = [
    Step("test.age", age_accounts, slot="delinquency"),
    Step("test.bucket", bucket_from_dpd, slot="freezes"),
]


@pytest.fixture
def steps():
    calls.clear()
    with registry.isolated(TEST_STEPS) as isolated:
        yield isolated


@pytest.fixture
def portfolio(business_date):
    business_date(D0)
    return CreditAccountFactory.create_batch(7, opened_on=dt.date(2025, 12, 1))


def _state():
    return list(CreditAccount.objects.order_by("pk").values_list("pk", "dpd", "bucket"))


# --- registry ----------------------------------------------------------------------------------------


def test_registry_orders_steps_by_slot_then_registration_and_after():
    reg = StepRegistry()
    fn = recording("x")
    reg.register("write", fn, slot="write_offs")
    reg.register("late", fn, slot="delinquency")
    reg.register("dpd", fn, slot="delinquency")
    reg.register("dpd2", fn, slot="delinquency", after="late")
    reg.register("expire", fn, slot="temporary_limits", chunked=False)
    assert [s.name for s in reg.steps()] == ["expire", "late", "dpd2", "dpd", "write"]
    with pytest.raises(ValueError, match="unknown close-of-business slot"):
        reg.register("bad", fn, slot="lunch")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("late", fn, slot="delinquency")
    with pytest.raises(ValueError, match="not registered"):
        reg.register("z", fn, slot="delinquency", after="nope")
    with pytest.raises(ValueError, match="later slot"):
        reg.register("z", fn, slot="statements", after="write")
    assert [s.name for s in reg.steps()] == ["expire", "late", "dpd2", "dpd", "write"]


def test_registry_cadences():
    reg = StepRegistry()
    fn = recording("x")
    reg.register("daily", fn, slot="statements")
    reg.register("review", fn, slot="limit_reviews", runs_on=weekly(0))
    reg.register("bureau", fn, slot="bureau_file", runs_on=monthly(1), chunked=False)
    assert [s.name for s in reg.steps_for(dt.date(2026, 1, 5))] == ["daily", "review"]  # a Monday
    assert [s.name for s in reg.steps_for(dt.date(2026, 1, 6))] == ["daily"]
    assert [s.name for s in reg.steps_for(dt.date(2026, 6, 1))] == ["daily", "review", "bureau"]  # Monday the 1st
    with pytest.raises(ValueError):
        monthly(29)
    with pytest.raises(ValueError):
        weekly(7)


def test_the_installed_registry_follows_product_order():
    names = [s.name for s in registry.steps()]
    assert names[0] == "accounts.temporary_limits_expire"
    slots = [s.slot for s in registry.steps()]
    assert slots == sorted(slots, key=SLOTS.index)


# --- one date -----------------------------------------------------------------------------------------


def test_run_executes_steps_in_order_over_chunks_and_advances_the_date(steps, portfolio):
    run = pipeline.run_date(D0, chunk_size=3)

    assert run.state == RunState.DONE and run.advanced_to == D0 + dt.timedelta(days=1)
    assert get_business_date() == dt.date(2026, 1, 6)
    age, bucket = run.steps.order_by("position")
    assert (age.name, bucket.name) == ("test.age", "test.bucket")
    assert (age.state, age.chunks_total, age.chunks_done, age.rows) == (RunState.DONE, 3, 3, 7)
    assert (bucket.state, bucket.chunks_total, bucket.rows) == (RunState.DONE, 3, 7)
    assert age.finished_at <= bucket.started_at  # a step starts only when the previous one finished
    pks = [a.pk for a in portfolio]
    assert list(age.chunks.values_list("lo", "hi", "rows", "state")) == [
        (pks[0], pks[3], 3, "done"), (pks[3], pks[6], 3, "done"), (pks[6], pks[6] + 1, 1, "done"),
    ]
    assert _state() == [(pk, 35, "M2") for pk in pks]


def test_chunks_follow_the_accounts_not_the_pk_gaps(steps, business_date):
    business_date(D0)
    for pk in (1000, 1003, 1090):
        CreditAccountFactory(pk=pk, opened_on=dt.date(2025, 12, 1))
    run = pipeline.run_date(D0, chunk_size=2)
    step = run.steps.get(name="test.age")
    assert list(step.chunks.values_list("lo", "hi", "rows")) == [(1000, 1090, 2), (1090, 1091, 1)]


def test_unchunked_step_runs_once_with_all_accounts(portfolio):
    with registry.isolated([Step("test.once", recording("once"), slot="temporary_limits", chunked=False),
                            Step("test.each", recording("each"), slot="statements")]):
        calls.clear()
        pipeline.run_date(D0, chunk_size=5)
    pks = [a.pk for a in portfolio]
    assert calls == [("once", D0, None), ("each", D0, (pks[0], pks[5])), ("each", D0, (pks[5], pks[6] + 1))]


def test_empty_portfolio_closes_with_zero_chunks(steps, business_date):
    business_date(D0)
    run = pipeline.run_date(D0)
    assert run.state == RunState.DONE
    assert list(run.steps.values_list("chunks_total", "rows", "state")) == [(0, 0, "done"), (0, 0, "done")]
    assert get_business_date() == dt.date(2026, 1, 6)


def test_builtin_step_expires_temporary_limits(portfolio, system):
    account = portfolio[0]
    TemporaryLimit.objects.create(account=account, amount="500.00", starts_on=dt.date(2025, 12, 1), ends_on=dt.date(2026, 1, 4))
    TemporaryLimit.objects.create(account=account, amount="800.00", starts_on=dt.date(2025, 12, 1), ends_on=D0)
    expire = registry.get("accounts.temporary_limits_expire")
    with registry.isolated([expire]):
        run = pipeline.run_date(D0)
    assert run.steps.get().rows == 1
    assert dict(TemporaryLimit.objects.values_list("amount", "status")) == {
        __import__("decimal").Decimal("500.00"): "expired", __import__("decimal").Decimal("800.00"): "active",
    }


# --- refusals and idempotency ---------------------------------------------------------------------------


def test_a_future_date_is_refused_and_nothing_changes(steps, portfolio):
    before = _state()
    with pytest.raises(BusinessRuleError) as exc:
        pipeline.run_date(D0 + dt.timedelta(days=1))
    assert exc.value.code == "cob_future_date"
    assert _state() == before and not CobRun.objects.exists() and get_business_date() == D0


def test_a_closed_date_is_refused_unless_forced_and_a_forced_rerun_changes_nothing(steps, portfolio):
    pipeline.run_date(D0, chunk_size=3)
    after_first = _state()
    with pytest.raises(ConflictError) as exc:
        cob_run_open(on=D0)
    assert exc.value.code == "cob_already_done"
    assert CobRun.objects.count() == 1

    second = pipeline.run_date(D0, chunk_size=3, force=True)

    assert second.attempt == 2 and second.state == RunState.DONE
    assert list(second.steps.values_list("name", "rows")) == [("test.age", 0), ("test.bucket", 0)]
    assert second.advanced_to is None  # the business date had already moved past it
    assert get_business_date() == dt.date(2026, 1, 6)
    assert _state() == after_first


@pytest.mark.parametrize("force", [False, True], ids=["plain", "forced"])
def test_a_past_date_never_run_is_refused(steps, portfolio, force):
    pipeline.run_date(D0)
    before = _state()
    with pytest.raises(BusinessRuleError) as exc:
        cob_run_open(on=D0 - dt.timedelta(days=1), force=force)
    assert exc.value.code == "cob_earlier_date"
    assert exc.value.message == (
        "The business date is 2026-01-06; 2026-01-04 comes before the latest closed date (2026-01-05) and later days "
        "depend on it: it cannot be run again. Only the latest closed date (2026-01-05) can be re-run, and that changes nothing.")
    assert _state() == before and CobRun.objects.count() == 1 and get_business_date() == dt.date(2026, 1, 6)


# --- crash and resume -----------------------------------------------------------------------------------


class Killed(BaseException):
    """Stands for the process dying: not an ``Exception``, so nothing on the way records it."""


def test_a_run_killed_between_chunks_resumes_to_the_same_result(steps, business_date):
    business_date(D0)
    CreditAccountFactory.create_batch(9, opened_on=dt.date(2025, 12, 1))
    # The reference: the same days closed without interruption, then rolled back.
    reference_runs = []
    sid = connection.savepoint()
    pipeline.run_through(dt.date(2026, 1, 7), chunk_size=2)
    reference = _state()
    reference_runs = [list(r.steps.values_list("name", "rows", "chunks_done")) for r in CobRun.objects.order_by("business_date")]
    connection.savepoint_rollback(sid)
    assert not CobRun.objects.exists() and get_business_date() == D0

    seen = []

    def die_after_seven_chunks(progress):
        seen.append(progress.outcome.chunk_id)
        if len(seen) == 7:  # the 2nd chunk of the 2nd step: the 1st step is done, the 2nd half-way
            raise Killed

    with pytest.raises(Killed):
        pipeline.run_date(D0, chunk_size=2, progress=die_after_seven_chunks)

    run = CobRun.objects.get()
    assert run.state == RunState.RUNNING and get_business_date() == D0  # the day did not finish
    assert list(run.steps.values_list("state", "chunks_done")) == [("done", 5), ("running", 2)]
    assert CobChunk.objects.filter(state=RunState.DONE).count() == 7

    resumed = []
    pipeline.run_through(dt.date(2026, 1, 7), chunk_size=2, progress=lambda p: resumed.append(p.outcome.chunk_id))

    assert len(resumed) == 3 + 2 * 10  # the 3 chunks left of day 1, then days 2 and 3 whole
    assert _state() == reference
    assert [list(r.steps.values_list("name", "rows", "chunks_done")) for r in CobRun.objects.order_by("business_date")] == reference_runs
    assert CobRun.objects.get(business_date=D0).attempt == 1  # resumed, not restarted
    assert get_business_date() == dt.date(2026, 1, 8)


# --- failures ---------------------------------------------------------------------------------------------


def test_a_failing_chunk_fails_the_run_keeps_the_date_and_a_rerun_finishes_it(steps, portfolio, staff):
    broken = {"on": True}

    def flaky(*, on, account_ids):
        bounds = id_bounds(account_ids)
        if broken["on"] and bounds[0] <= portfolio[4].pk < bounds[1]:
            raise ValueError("ledger unavailable")
        return CreditAccount.objects.filter(pk__gte=bounds[0], pk__lt=bounds[1]).exclude(bucket="M1").update(bucket="M1")

    registry.register("test.flaky", flaky, slot="write_offs")
    with pytest.raises(CobStepFailed):
        pipeline.run_date(D0, chunk_size=3)

    run = CobRun.objects.get()
    assert run.state == RunState.FAILED and "test.flaky" in run.error and "ledger unavailable" in run.error
    assert get_business_date() == D0
    flaky_step = run.steps.get(name="test.flaky")
    assert flaky_step.state == RunState.FAILED
    assert list(flaky_step.chunks.values_list("state", flat=True)) == ["done", "failed", "pending"]
    failed_chunk = flaky_step.chunks.get(state="failed")
    assert "ValueError: ledger unavailable" in failed_chunk.error and failed_chunk.attempts == 1
    assert list(CreditAccount.objects.order_by("pk").values_list("bucket", flat=True)) == ["M1"] * 3 + ["M2"] * 4

    # Running the date again resumes it: the failed chunk runs again (and fails again).
    with pytest.raises(CobStepFailed):
        pipeline.run_date(D0, chunk_size=3)
    assert list(flaky_step.chunks.values_list("state", "attempts")) == [("done", 1), ("failed", 2), ("pending", 0)]
    assert CobRun.objects.get().state == RunState.FAILED and get_business_date() == D0

    broken["on"] = False
    cob_run_retry(run=run, actor=staff, reason="ledger back")
    run = pipeline.run_in_process(run)

    assert run.state == RunState.DONE and run.attempt == 1 and get_business_date() == dt.date(2026, 1, 6)
    assert list(run.steps.get(name="test.flaky").chunks.values_list("state", "attempts")) == [
        ("done", 1), ("done", 3), ("done", 1)
    ]
    assert set(CreditAccount.objects.values_list("bucket", flat=True)) == {"M1"}
    audit = AuditEvent.objects.get(action="cob_rerun")
    assert audit.actor == staff.user and audit.reason == "ledger back"


def test_retry_is_refused_for_a_run_that_did_not_fail(steps, portfolio, staff):
    run = pipeline.run_date(D0)
    with pytest.raises(BusinessRuleError) as exc:
        cob_run_retry(run=run, actor=staff)
    assert exc.value.code == "cob_run_not_failed"
    assert CobRun.objects.get().state == RunState.DONE and not AuditEvent.objects.filter(action="cob_rerun").exists()


# --- command -----------------------------------------------------------------------------------------------


def test_command_through_closes_every_day_and_prints_a_summary(steps, portfolio):
    out = io.StringIO()
    call_command("cob", through="2026-01-09", chunk_size=4, no_progress=True, stdout=out)
    text = out.getvalue()
    assert list(CobRun.objects.order_by("business_date").values_list("business_date", "state")) == [
        (D0 + dt.timedelta(days=i), "done") for i in range(5)
    ]
    assert get_business_date() == dt.date(2026, 1, 10)
    assert "test.age" in text and "test.bucket" in text
    age_line = next(line for line in text.splitlines() if line.startswith("test.age"))
    assert age_line.split()[1:4] == ["5", "10", "35"]  # 5 days, 2 chunks a day, 7 rows a day
    assert "business date is now 2026-01-10" in text
    assert _state() == [(a.pk, 39, "M2") for a in portfolio]

    out = io.StringIO()
    call_command("cob", through="2026-01-09", no_progress=True, stdout=out)
    assert "Nothing to do" in out.getvalue()


def test_command_date_and_errors(steps, portfolio, settings):
    settings.CELERY_BROKER_IS_EMBEDDED = True
    call_command("cob", no_progress=True, stdout=io.StringIO())
    assert get_business_date() == dt.date(2026, 1, 6)
    with pytest.raises(CommandError, match="already done"):
        call_command("cob", date="2026-01-05", no_progress=True, stdout=io.StringIO())
    call_command("cob", date="2026-01-05", force=True, no_progress=True, stdout=io.StringIO())
    assert CobRun.objects.filter(business_date=D0).count() == 2
    with pytest.raises(CommandError, match="cannot close before it"):
        call_command("cob", date="2026-02-01", no_progress=True, stdout=io.StringIO())
    with pytest.raises(CommandError, match="real broker"):
        call_command("cob", fan_out=True, no_progress=True, stdout=io.StringIO())


# --- beat ----------------------------------------------------------------------------------------------------


def test_the_beat_schedule_has_the_daily_close_of_business():
    from celery.schedules import crontab
    from django.conf import settings

    from backoffice.celery import app

    app.loader.import_default_modules()  # what a worker does when it starts (the apps' tasks modules)
    entry = settings.CELERY_BEAT_SCHEDULE["cob-close-of-business"]
    assert entry["task"] == "cob.close_of_business" and "cob.close_of_business" in app.tasks
    assert entry["schedule"] == crontab(hour=0, minute=30)
    assert settings.CELERY_TIMEZONE == "Asia/Shanghai"


def test_the_daily_job_closes_the_days_behind_the_calendar_in_process(steps, portfolio, monkeypatch, settings):
    settings.CELERY_BROKER_IS_EMBEDDED = True
    from cob import tasks

    monkeypatch.setattr(tasks.timezone, "localdate", lambda: dt.date(2026, 1, 8))
    assert pipeline.runs_in_process()
    result = tasks.close_of_business_task.apply().get()
    assert result == "closed 3 day(s) in process through 2026-01-07"
    assert get_business_date() == dt.date(2026, 1, 8)
    assert set(CobRun.objects.values_list("trigger", flat=True)) == {"beat"}
    assert tasks.close_of_business_task.apply().get().startswith("nothing to close")
    assert CobRun.objects.count() == 3


# --- admin ---------------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, django_user_model, business_date):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "x-Very-long-pass-1")
    client.force_login(user)
    return client


def test_admin_lists_runs_with_a_fixed_number_of_queries_and_reruns_a_failed_date(steps, portfolio, admin_client, settings):
    settings.CELERY_BROKER_IS_EMBEDDED = True
    call_command("cob", through="2026-01-09", chunk_size=3, no_progress=True, stdout=io.StringIO())
    url = reverse("admin:cob_cobrun_changelist")
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    call_command("cob", through="2026-01-19", chunk_size=3, no_progress=True, stdout=io.StringIO())
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(url)
    assert response.status_code == 200 and len(many) == len(few)
    body = response.content.decode()
    assert "2/2" in body and "Jan. 19, 2026" in body

    run = CobRun.objects.get(business_date=dt.date(2026, 1, 19))
    for name in ("cobrun", "cobsteprun"):
        obj = run if name == "cobrun" else run.steps.first()
        assert admin_client.get(reverse(f"admin:cob_{name}_change", args=[obj.pk])).status_code == 200
    assert admin_client.get(reverse("admin:cob_cobrun_add")).status_code == 403

    # A failed date, re-run from the admin (asks for a reason, then runs it here: embedded broker).
    broken = {"on": True}

    def fails_once(*, on, account_ids):
        if broken["on"]:
            raise RuntimeError("boom")
        return 0

    registry.register("test.fails", fails_once, slot="write_offs")
    with pytest.raises(CommandError, match="boom"):
        call_command("cob", no_progress=True, stdout=io.StringIO(), stderr=io.StringIO())
    failed = CobRun.objects.get(state=RunState.FAILED)
    broken["on"] = False
    data = {"action": "rerun_failed", "_selected_action": [failed.pk]}
    form = admin_client.post(url, data)
    assert form.status_code == 200 and b"reason" in form.content
    assert CobRun.objects.get(pk=failed.pk).state == RunState.FAILED
    response = admin_client.post(url, {**data, "_form_action_apply": "1", "reason": "fixed"}, follow=True)
    assert response.status_code == 200
    failed.refresh_from_db()
    assert failed.state == RunState.DONE and get_business_date() == dt.date(2026, 1, 21)


def test_cob_plan_prints_the_days_steps_in_order_and_runs_nothing(db):
    """``manage.py cob --plan``: every step the apps registered, in the pipeline's order, with the ones that do not
    run that day (the weekly limit review on a Tuesday) marked; no run is recorded."""
    out = io.StringIO()
    call_command("cob", plan=True, date="2026-03-03", stdout=out)
    lines = out.getvalue().splitlines()
    names = [line.split()[1] for line in lines[1:]]
    assert names == [step.name for step in registry.steps()]
    assert names.index("installments.statements_generate") < names.index("installments.delinquency_update") \
        < names.index("collections.cases_sync") < names.index("bureau.monthly_file")
    review = next(line for line in lines if "risk.limit_reviews" in line)
    assert "not today" in review and lines[0].startswith("Close of business of 2026-03-03 (Tuesday):")
    assert not CobRun.objects.exists()
