"""Close of business fanned out to a real Celery worker over a real Redis broker, on PostgreSQL.

The test starts ``celery worker`` as a subprocess pointed at pytest-django's test database (the data is
committed: ``transaction=True``) on a queue of its own, so no other worker takes its tasks. The same
days are first closed in this process inside a transaction that is rolled back, then by the worker;
the money tables must come out the same (compared in a canonical form: the worker's parallel chunks
insert rows in another order)."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from cob import pipeline
from cob.models import CobRun, RunState
from core.business_date import get_business_date, set_business_date
from tests.factories_cob import canonical_dump
from tests.cob.test_cob_scenario import D0, build_portfolio

BROKER = os.environ.get("CELERY_BROKER_URL", "")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker_queue(tmp_path):
    if not BROKER.startswith("redis://"):
        pytest.skip("needs a real broker: CELERY_BROKER_URL=redis://…")
    assert not pipeline.runs_in_process()
    queue = f"cob-test-{uuid.uuid4().hex[:10]}"
    log_path = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": BROKER, "DATABASE_CONN_MAX_AGE": "60",
           "CELERY_TASK_ALWAYS_EAGER": "0", "DJANGO_SETTINGS_MODULE": "backoffice.settings"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "-Q", queue, "-n", f"{queue}@%h",
             "--pool=prefork", "--concurrency=2", "--without-mingle", "--without-gossip", "--loglevel=INFO"],
            cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield queue, log_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        import redis

        client = redis.Redis.from_url(BROKER)
        client.delete(queue, f"_kombu.binding.{queue}")
        connection.close()  # the worker's rows are committed; pytest-django flushes after this


def _wait_for(until: dt.date, log_path: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while get_business_date() <= until:
        failed = CobRun.objects.filter(state=RunState.FAILED).first()
        if failed is not None:
            pytest.fail(f"{failed} failed: {failed.error}\n{log_path.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"the worker did not finish in {timeout} s:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)


class Rollback(Exception):
    pass


def test_fan_out_to_a_real_worker_equals_the_in_process_run(worker_queue):
    queue, log_path = worker_queue
    set_business_date(D0)
    build_portfolio()
    pipeline.run_through(dt.date(2026, 1, 23))  # committed: both ways start from here
    first, until = dt.date(2026, 1, 24), dt.date(2026, 1, 28)  # due date, grace, overdue, bill day 28

    # The reference: the days closed here, then rolled back (nothing of it stays).
    try:
        with transaction.atomic():
            pipeline.run_through(until, chunk_size=3)
            reference = canonical_dump()
            reference_counts = {(r.business_date, s.name): s.rows
                                for r in CobRun.objects.filter(business_date__gte=first) for s in r.steps.all()}
            raise Rollback
    except Rollback:
        pass
    assert get_business_date() == first

    pipeline.dispatch(first, chunk_size=3, queue=queue, through=until)
    _wait_for(until, log_path)

    runs = list(CobRun.objects.filter(business_date__gte=first).order_by("business_date"))
    assert [r.business_date for r in runs] == [first + dt.timedelta(days=i) for i in range(5)]
    assert {r.state for r in runs} == {RunState.DONE} and {r.mode for r in runs} == {"fan_out"}
    assert get_business_date() == until + dt.timedelta(days=1)
    counts = {(r.business_date, s.name): s.rows for r in runs for s in r.steps.all()}
    assert counts == reference_counts
    # Real work happened: overdue on the 27th (late fees, buckets, freezes), statements on the 28th.
    assert counts[(dt.date(2026, 1, 27), "installments.delinquency_update")] > 0
    assert counts[(dt.date(2026, 1, 27), "installments.freezes_sync")] > 0
    assert counts[(dt.date(2026, 1, 28), "installments.statements_generate")] == 1
    # The chunks ran in the worker's processes: three per chunked step.
    log = log_path.read_text()
    assert log.count("Task cob.chunk[") >= 2 * 3 * 5 and "succeeded" in log
    assert {s.chunks_total for r in runs for s in r.steps.all()} == {1, 3}
    assert canonical_dump() == reference
