"""The fan-out protocol without a broker: the messages ``cob.advance`` and ``cob.chunk`` would carry are
collected and delivered here in a shuffled order, each chunk twice, so the step barrier (a step starts
only when the previous one finished), the exactly-once chunk work and the chaining of dates are
checked deterministically. The real broker and worker are in ``test_cob_worker.py``."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from celery.canvas import group

from accounts.models import CreditAccount
from cob import pipeline, tasks
from cob.models import CobChunk, CobRun, RunState
from cob.registry import Step, registry
from core.sql import id_bounds
from core.business_date import get_business_date
from tests.factories import CreditAccountFactory

D0 = dt.date(2026, 1, 5)
log: list[tuple[str, dt.date, tuple[int, int]]] = []


def mark(name):
    def fn(*, on, account_ids):
        lo, hi = id_bounds(account_ids)
        log.append((name, on, (lo, hi)))
        if name == "second":  # depends on the first step having finished for every account
            assert CreditAccount.objects.exclude(dpd=(on - dt.date(2025, 12, 1)).days).count() == 0
        return CreditAccount.objects.filter(pk__gte=lo, pk__lt=hi).exclude(dpd=(on - dt.date(2025, 12, 1)).days).update(
            dpd=(on - dt.date(2025, 12, 1)).days) if name == "first" else 0
    return fn


class FakeBroker:
    def __init__(self, monkeypatch, seed: int):
        self.messages: list[tuple[str, int]] = []
        self.random = random.Random(seed)
        monkeypatch.setattr(tasks.advance_task, "apply_async", lambda args, queue=None: self.messages.append(("advance", args[0])))

        def send_group(sig_group, queue=None):
            for sig in sig_group.tasks:
                self.messages.append(("chunk", sig.args[0]))
                self.messages.append(("chunk", sig.args[0]))  # every chunk is delivered twice

        monkeypatch.setattr(group, "apply_async", send_group)

    def drain(self, capture) -> int:
        delivered = 0
        while self.messages:
            kind, arg = self.messages.pop(self.random.randrange(len(self.messages)))
            with capture(execute=True):
                if kind == "advance":
                    tasks.advance_task(arg)
                else:
                    tasks.chunk_task(arg)
            delivered += 1
        return delivered


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffled_duplicated_messages_close_each_day_once_in_order(business_date, monkeypatch,
                                                                    django_capture_on_commit_callbacks, seed):
    business_date(D0)
    accounts = CreditAccountFactory.create_batch(7, opened_on=dt.date(2025, 12, 1))
    log.clear()
    broker = FakeBroker(monkeypatch, seed)
    with registry.isolated([Step("first", mark("first"), slot="delinquency"),
                            Step("second", mark("second"), slot="freezes")]):
        with django_capture_on_commit_callbacks(execute=True):
            pipeline.dispatch(D0, chunk_size=2, through=dt.date(2026, 1, 7), queue="q")
        broker.drain(django_capture_on_commit_callbacks)

    assert get_business_date() == dt.date(2026, 1, 8)
    runs = list(CobRun.objects.order_by("business_date"))
    assert [(r.business_date, r.state, r.mode, r.queue) for r in runs] == [
        (D0 + dt.timedelta(days=i), RunState.DONE, "fan_out", "q") for i in range(3)]
    for run in runs:
        first, second = run.steps.order_by("position")
        assert (first.rows, first.chunks_done, first.chunks_total) == (7, 4, 4)
        assert (second.rows, second.chunks_done, second.chunks_total) == (0, 4, 4)
        assert first.finished_at <= second.started_at
    # Each chunk's work ran once per day although every chunk message came twice, and a day's second
    # step only after all of its first step.
    assert len(log) == 3 * 2 * 4
    assert set(CobChunk.objects.values_list("attempts", flat=True)) == {1}
    for day in range(3):
        names = [name for name, on, _ in log if on == D0 + dt.timedelta(days=day)]
        assert names == ["first"] * 4 + ["second"] * 4
    assert [day for _, day, _ in log] == sorted(day for _, day, _ in log)
    assert set(CreditAccount.objects.values_list("dpd", flat=True)) == {37}
    assert len(accounts) == 7


def test_a_failed_chunk_stops_the_fan_out_and_a_new_dispatch_resumes_it(business_date, monkeypatch,
                                                                        django_capture_on_commit_callbacks):
    business_date(D0)
    CreditAccountFactory.create_batch(5, opened_on=dt.date(2025, 12, 1))
    broker = FakeBroker(monkeypatch, 7)
    broken = {"on": True}

    def fragile(*, on, account_ids):
        if broken["on"] and id_bounds(account_ids)[0] == CreditAccount.objects.order_by("pk").first().pk:
            raise RuntimeError("disk full")
        return 1

    with registry.isolated([Step("fragile", fragile, slot="statements"), Step("after", mark("first"), slot="freezes")]):
        with django_capture_on_commit_callbacks(execute=True):
            run = pipeline.dispatch(D0, chunk_size=2)
        with pytest.raises(RuntimeError):
            broker.drain(django_capture_on_commit_callbacks)
        broker.drain(django_capture_on_commit_callbacks)  # the other messages still arrive
        run.refresh_from_db()
        assert run.state == RunState.FAILED and "disk full" in run.error
        assert list(run.steps.values_list("name", "state")) == [("fragile", "failed"), ("after", "pending")]
        assert get_business_date() == D0

        broken["on"] = False
        with django_capture_on_commit_callbacks(execute=True):
            again = pipeline.dispatch(D0, chunk_size=2)
        broker.drain(django_capture_on_commit_callbacks)

    run.refresh_from_db()
    assert again.pk == run.pk and run.state == RunState.DONE and get_business_date() == D0 + dt.timedelta(days=1)
    assert list(run.steps.values_list("name", "state", "rows")) == [("fragile", "done", 3), ("after", "done", 5)]
