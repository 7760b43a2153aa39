"""A close of business whose process is killed (SIGKILL) between two chunks, then resumed by another
process, ends exactly as an uninterrupted run (PostgreSQL: two real processes on committed data)."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

from cob.models import CobChunk, CobRun, RunState
from core.business_date import get_business_date, set_business_date
from tests.factories_cob import canonical_dump
from tests.cob.test_cob_scenario import D0, build_portfolio
from tests.cob.test_cob_worker import Rollback, _database_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

KILLER = textwrap.dedent("""
    import os, signal, sys, datetime as dt
    import django
    django.setup()
    from cob import pipeline
    done = 0
    def progress(p):
        global done
        done += 1
        if done == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
    pipeline.run_through(dt.date.fromisoformat(sys.argv[1]), chunk_size=3, progress=progress)
""")


def test_a_killed_process_resumes_to_the_same_result():
    set_business_date(D0)
    build_portfolio()
    call_command("cob", through="2026-01-23", no_progress=True, verbosity=0)  # committed: both ways start here
    until = dt.date(2026, 1, 28)
    try:
        with transaction.atomic():
            call_command("cob", through=until, chunk_size=3, no_progress=True, verbosity=0)
            reference = canonical_dump()
            total_chunks = CobChunk.objects.filter(step__run__business_date__gt="2026-01-23").count()
            # Kill after the 2nd of the 3 chunks of a step, past the middle of the days.
            done = 0
            for run in CobRun.objects.filter(business_date__gt="2026-01-23").order_by("business_date"):
                for step in run.steps.order_by("position"):
                    if step.chunks_total == 3 and done >= total_chunks // 2:
                        break
                    done += step.chunks_total
                else:
                    continue
                break
            kill_after = done + 2
            raise Rollback
    except Rollback:
        pass
    assert get_business_date() == dt.date(2026, 1, 24)

    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "backoffice.settings"}
    proc = subprocess.run([sys.executable, "-c", KILLER, until.isoformat(), str(kill_after)],
                          cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-3000:]

    connection.close()
    interrupted = CobRun.objects.exclude(state=RunState.DONE).get()
    assert interrupted.state == RunState.RUNNING
    assert dt.date(2026, 1, 24) < interrupted.business_date == get_business_date() < until
    half_done = interrupted.steps.get(state=RunState.RUNNING)  # killed in the middle of a step
    assert 0 < half_done.chunks_done < half_done.chunks_total == 3
    assert CobChunk.objects.filter(step__run__business_date__gt="2026-01-23", state=RunState.DONE).count() == kill_after

    call_command("cob", through=until, chunk_size=3, no_progress=True, verbosity=0)

    assert get_business_date() == until + dt.timedelta(days=1)
    assert CobChunk.objects.filter(step__run__business_date__gt="2026-01-23").count() == total_chunks
    assert set(CobRun.objects.values_list("attempt", "state")) == {(1, RunState.DONE)}
    assert canonical_dump() == reference
