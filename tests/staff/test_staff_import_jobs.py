"""Large files (above ``STAFF_IMPORT_ASYNC_ROWS``, 2,000 by default) run as a Celery task: dry run,
confirmation, import, with the progress the page polls. A 10,000-line file with bad lines is refused
with every bad line and changes nothing; a 2,500-line file goes through the whole background flow
(every line calls the service twice — dry run and import — so the size is kept moderate here)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import CreditAccount, Customer, LimitChange, TemporaryLimit
from core.crypto import fernet
from staff.models import ImportJob
from tests.factories import CreditProductFactory, CustomerFactory
from tests.factories_staff import csv_bytes, format_index, role_user, upload

LINES = 10_000
GOOD_LINES = 2_500
ACCOUNTS = 100
CAMPAIGN_HEADER = ["account_reference", "amount", "starts_on", "ends_on", "campaign"]


@pytest.fixture
def eager_celery():
    """Run ``.delay()`` in-process (the real task code, no broker)."""
    from backoffice.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def campaign_rows(accounts, lines):
    """One temporary limit per line: account n % 100 in campaign "C<n // 100>" (no line repeats)."""
    return [[accounts[n % ACCOUNTS].reference, "2000.00", "2026-11-01", "2026-11-30", f"C{n // ACCOUNTS:03d}"]
            for n in range(lines)]


@pytest.fixture
def accounts(business_date):
    """``ACCOUNTS`` active accounts, made in bulk (at the policy's maximum limit: 25 temporary limits of
    2,000.00 each at once stay within 100 % of it)."""
    product = CreditProductFactory()
    customers = Customer.objects.bulk_create(CustomerFactory.build_batch(ACCOUNTS))
    return CreditAccount.objects.bulk_create(
        [CreditAccount(customer=c, product=product, fixed_limit=Decimal("50000.00"), opened_on=dt.date(2026, 1, 1))
         for c in customers]
    )


def _state():
    return (TemporaryLimit.objects.count(), LimitChange.objects.count(),
            sorted(CreditAccount.objects.order_by().values_list("status", flat=True).distinct()))


def _upload(client, name, content, django_capture_on_commit_callbacks):
    url = reverse("admin:staff_temporarylimitcampaign_import")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"import_file": upload(name, content), "format": format_index(name)})
    assert response.status_code == 302
    return ImportJob.objects.get(), response


def test_a_large_campaign_list_runs_in_the_background_with_progress(
    client, accounts, eager_celery, django_capture_on_commit_callbacks
):
    officer = role_user("Credit officer")
    client.force_login(officer)
    rows = campaign_rows(accounts, GOOD_LINES)
    job, response = _upload(client, "double11.csv", csv_bytes(CAMPAIGN_HEADER, rows), django_capture_on_commit_callbacks)
    assert response["Location"] == reverse("admin:staff_importjob_change", args=[job.pk])
    # the dry run ran on the worker: nothing saved, waiting for a person
    assert (job.status, job.total_rows, job.processed_rows, job.totals) == (
        "checked", GOOD_LINES, GOOD_LINES, {"new": GOOD_LINES, "update": 0, "skip": 0, "invalid": 0})
    # PRODUCT §12: one officer's temporary limits add up per day; past the maker's daily threshold (¥100,000.00:
    # 50 lines of ¥2,000.00) every further line waits for a second officer as its own request.
    lines = dict(map(tuple, job.summary["lines"]))
    assert (lines["Temporary limits granted"], lines["Waiting for a second officer's approval"]) == ("50", "2,450")
    assert _state() == (0, 0, ["active"])
    assert fernet().decrypt(bytes(job.content)).startswith(b"account_reference,amount")
    page = client.get(response["Location"])
    assert page.status_code == 200 and b"Confirm import" in page.content and b"100%" in page.content
    assert client.get(reverse("admin:staff_importjob_progress", args=[job.pk])).json() == {
        "status": "checked", "status_display": "Dry run passed: waiting for confirmation", "processed": GOOD_LINES,
        "total": GOOD_LINES, "percent": 100, "finished": False, "waiting_for_confirmation": True}

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(reverse("admin:staff_importjob_confirm", args=[job.pk]))
    assert confirmed.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.confirmed_by, job.processed_rows, job.error_count) == ("done", officer, GOOD_LINES, 0)
    assert job.content is None  # the file is erased once the job is over
    assert TemporaryLimit.objects.filter(amount=Decimal("2000.00"), ends_on=dt.date(2026, 11, 30)).count() == 50
    assert LimitChange.objects.filter(kind="temporary", actor=officer).count() == 50
    from approvals.models import ApprovalRequest

    assert ApprovalRequest.objects.filter(status="pending", maker=officer).count() == GOOD_LINES - 50

    # a repeated task delivery (acks_late) finds the job done and does nothing
    from staff.tasks import import_job_run

    assert import_job_run.apply(args=[job.pk, "import"]).get() == "skipped"
    assert TemporaryLimit.objects.count() == 50 and ApprovalRequest.objects.count() == GOOD_LINES - 50


def test_a_10000_line_file_with_bad_lines_is_rejected_with_every_line_and_nothing_changes(
    client, accounts, eager_celery, django_capture_on_commit_callbacks
):
    client.force_login(role_user("Credit officer"))
    rows = campaign_rows(accounts, LINES)
    rows[4999][1] = "20OO.00"  # line 5,001: letter O for zero
    rows[8998][0] = "NOSUCHACCOUNT"  # line 9,000
    rows[9999][0], rows[9999][4] = rows[0][0], rows[0][4]  # line 10,001: the same account and campaign as line 2
    before = _state()
    job, _ = _upload(client, "double11.csv", csv_bytes(CAMPAIGN_HEADER, rows), django_capture_on_commit_callbacks)
    assert (job.status, job.error_count) == ("rejected", 3)
    assert [(e["line"], e["column"], e["message"]) for e in job.errors] == [
        (5001, "amount", "Not an amount with at most two decimals: '20OO.00'."),
        (9000, "account_reference", "Unknown account NOSUCHACCOUNT."),
        (10001, "", f"Account {rows[0][0]} in campaign C000 already appears on line 2 of this file."),
    ]
    assert job.content is None and _state() == before
    page = client.get(reverse("admin:staff_importjob_change", args=[job.pk])).content.decode()
    assert "5001" in page and "Nothing was saved" in page and "Confirm import" not in page
    refused = client.post(reverse("admin:staff_importjob_confirm", args=[job.pk]))
    assert refused.status_code == 302
    job.refresh_from_db()
    assert job.status == "rejected" and _state() == before


def test_only_a_user_with_the_import_permission_may_confirm(client, business_date, django_capture_on_commit_callbacks):
    from staff.services import import_job_confirm
    from core.errors import PermissionDeniedError

    officer = role_user("Credit officer")
    job = ImportJob.objects.create(kind="temporary_limits", file_name="x.csv", file_format="csv",
                                   content=fernet().encrypt(b"x"), total_rows=1, status="checked", created_by=officer)
    auditor = role_user("Auditor")
    with pytest.raises(PermissionDeniedError):
        import_job_confirm(job=job, user=auditor)
    client.force_login(auditor)
    assert client.post(reverse("admin:staff_importjob_confirm", args=[job.pk])).status_code == 403
    page = client.get(reverse("admin:staff_importjob_change", args=[job.pk]))
    assert page.status_code == 200 and b"Confirm import" not in page.content
    job.refresh_from_db()
    assert (job.status, job.confirmed_by) == ("checked", None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_progress_is_visible_to_other_connections_while_the_import_transaction_is_open(business_date):
    """PostgreSQL: the progress writer uses its own connection, so the polling page sees the count
    move while the import's transaction (which takes minutes for a large file) is still open."""
    from django.db import connections, transaction

    from staff.imports import ProgressWriter

    user = role_user("Credit officer")
    job = ImportJob.objects.create(kind="temporary_limits", file_name="x.csv", file_format="csv", total_rows=100,
                                   status="importing", created_by=user)
    writer = ProgressWriter(job.pk, every_seconds=0)
    observer = connections.create_connection("default")
    try:
        with transaction.atomic():
            TemporaryLimit.objects.all().delete()  # the import's transaction holds work in progress
            writer(40, 100)
            with observer.cursor() as cursor:
                cursor.execute("SELECT processed_rows FROM staff_importjob WHERE id = %s", [job.pk])
                assert cursor.fetchone()[0] == 40
            writer(250, 100)  # never beyond the total
            with observer.cursor() as cursor:
                cursor.execute("SELECT processed_rows FROM staff_importjob WHERE id = %s", [job.pk])
                assert cursor.fetchone()[0] == 40
    finally:
        writer.close()
        observer.close()
