"""Four eyes on bank repayment files (issue 23 item 6, PRODUCT §12).

Finance uploads a bank file; the dry run shows its lines and its control total (lines · sum). The
uploader's "confirm" posts nothing: the file waits as an import job until a SECOND finance person types
the control total read on the bank statement (equal to the file's to the cent), and then its lines post,
in one transaction, once. Refusing it posts nothing. Every refusal below changes nothing: no repayment,
no balance, no audit event, the job as it was.

The ``billed`` world (tests/staff/test_staff_bank_files.py): two accounts, each with a ¥1,200.00 purchase in 3
installments and ¥300.00 revolving, billed 2026-02-01, due 2026-02-10; business date 2026-02-15.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.test import Client, TestCase
from django.urls import reverse

from accounts.models import CreditAccount
from core.errors import ApplicationError
from core.models import AuditEvent
from core.money import format_cny
from installments.models import Repayment
from staff.models import ImportJob, ImportRecord
from staff.services import import_job_confirm, import_job_reject, import_job_run
from tests.factories_installments import books_clean, money_snapshot, no_risk_checks  # noqa: F401
from tests.factories_staff import csv_bytes, role_user
from tests.staff.test_staff_bank_files import (  # noqa: F401
    BANK_PROCESS_URL,
    BANK_URL,
    HEADER,
    billed,
    confirm,
    dry_run,
    second_person_confirms,
)


@pytest.fixture
def finance(client, db):
    user = role_user("Finance")
    client.force_login(user)
    return user


@pytest.fixture
def checker(db):
    return role_user("Finance", "finance2")


def rows_for(first, second):
    """Two lines on Feb 14 (¥800.00 + ¥407.20) and one received on Feb 5, ten days before the business date
    (back-dated: fine once a second person confirmed the file)."""
    return [["2026-02-14", first.reference, "800.00", "ICBC-0001"],
            ["2026-02-14", second.reference, "407.20", "ICBC-0002"],
            ["2026-02-05", second.reference, "12.34", "ICBC-0003"]]


def submitted(client, first, second):
    """The uploader's dry run, then their "Submit for a second person": the job waits."""
    response = dry_run(client, BANK_URL, "icbc.csv", csv_bytes(HEADER, rows_for(first, second)))
    report = response.context["report"]
    assert report.ok and (report.total_count, report.total_amount) == (3, Decimal("1219.54"))
    assert "Control total (lines · sum)" in response.content.decode()
    assert "3 · ¥1,219.54" in response.content.decode()
    assert "Submit for a second person to confirm" in response.content.decode()
    page = confirm(client, BANK_PROCESS_URL, response)
    assert page.status_code == 302
    job = ImportJob.objects.get()
    assert (job.status, job.control_count, job.control_total, job.created_by.username, job.confirmed_by) == (
        "waiting", 3, Decimal("1219.54"), "finance", None)
    assert page["Location"] == reverse("admin:staff_importjob_change", args=[job.pk])
    return job


def state(job=None):
    """Everything a refusal must leave as it was."""
    job_row = None if job is None else ImportJob.objects.filter(pk=job.pk).values(
        "status", "confirmed_by", "declined_by", "decided_at", "content", "processed_rows").get()
    return money_snapshot(), AuditEvent.objects.count(), ImportRecord.objects.count(), job_row


def refused(code, **kwargs):
    with pytest.raises(ApplicationError) as caught:
        import_job_confirm(**kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_the_uploader_cannot_post_alone(client, finance, billed):
    first, second = billed
    before_upload = money_snapshot()
    job = submitted(client, first, second)
    assert money_snapshot() == before_upload and not Repayment.objects.exists()  # waiting: nothing posted
    assert list(AuditEvent.objects.filter(object_type="staff.importjob").values_list("action", "actor__username")) == [
        ("import_file_upload", "finance")]
    before = state(job)
    # the service refuses the uploader, with the right total too
    error = refused("import_confirmer_is_uploader", job=job, user=finance, control_count=3,
                    control_total=Decimal("1219.54"))
    assert "second person" in error.message
    # the screen: no form for the uploader, a forged post refused with the code
    page = client.get(reverse("admin:staff_importjob_change", args=[job.pk])).content.decode()
    assert 'id="confirm-total-form"' not in page and 'id="waiting-note"' in page
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(reverse("admin:staff_importjob_confirm", args=[job.pk]),
                                {"control_count": "3", "control_total": "1219.54"}, follow=True)
    assert "import_confirmer_is_uploader" in response.content.decode()
    assert state(job) == before
    # nor can the database be told otherwise
    with pytest.raises(IntegrityError), transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).update(confirmed_by=finance)


def test_a_second_finance_person_confirms_the_right_total_and_the_lines_post_exactly_once(client, finance, checker,
                                                                                          billed):
    first, second = billed
    job = submitted(client, first, second)
    # blind check: the second person sees the lines, not the file's control total, until they decide
    other = Client()
    other.force_login(checker)
    page = other.get(reverse("admin:staff_importjob_change", args=[job.pk])).content.decode()
    assert 'id="confirm-total-form"' in page and 'id="control-total"' not in page and "¥1,219.54" not in page
    assert "ICBC-0003" in page

    job, done = second_person_confirms(3, "1,219.54", job=job, user=checker)
    assert (job.status, job.confirmed_by, job.totals["new"], job.error_count) == ("done", checker, 3, 0)
    assert job.decided_at is not None and job.content is None
    # posted once, as the uploader's (the maker's) repayments, allocated to the cent
    repayments = {r.external_ref: r for r in Repayment.objects.select_related("actor")}
    assert {ref: (r.account_id, r.amount, r.received_on, r.channel, r.actor.username) for ref, r in repayments.items()} == {
        "ICBC-0001": (first.pk, Decimal("800.00"), dt.date(2026, 2, 14), "bank_file", "finance"),
        "ICBC-0002": (second.pk, Decimal("407.20"), dt.date(2026, 2, 14), "bank_file", "finance"),
        "ICBC-0003": (second.pk, Decimal("12.34"), dt.date(2026, 2, 5), "bank_file", "finance"),
    }
    assert Repayment.objects.aggregate(s=Sum("amount"))["s"] == Decimal("1219.54")
    allocated = dict(repayments["ICBC-0001"].allocations.values_list("kind").annotate(s=Sum("amount"))
                     .values_list("kind", "s"))
    assert allocated == {"late_fee": Decimal("1.05"), "installment_fee": Decimal("7.20"), "principal": Decimal("700.00"),
                         "credit_balance": Decimal("91.75")}
    assert CreditAccount.objects.get(pk=first.pk).credit_balance == Decimal("91.75")
    books_clean()
    # the trail: who uploaded, who confirmed what
    events = list(AuditEvent.objects.filter(object_type="staff.importjob").order_by("pk")
                  .values_list("action", "actor__username", "new"))
    assert events == [
        ("import_file_upload", "finance", {"kind": "bank_repayments", "file_name": "icbc.csv", "lines": 3}),
        ("import_file_confirm", "finance2", {"lines": 3, "total": "1219.54", "uploaded_by": "finance"}),
    ]
    assert list(ImportRecord.objects.filter(job=job).order_by("pk").values_list("outcome", "user__username",
                                                                                   "total_amount")) == [
        ("waiting", "finance", Decimal("1219.54")), ("confirmed", "finance2", Decimal("1219.54")),
        ("imported", "finance2", Decimal("1219.54"))]

    # a repeated delivery of the task, a second confirmation: nothing posts twice
    third = role_user("Finance", "finance3")
    after = state(job)
    assert import_job_run(job_id=job.pk, phase="import") is None
    refused("import_not_waiting", job=job, user=checker, control_count=3, control_total=Decimal("1219.54"))
    refused("import_not_waiting", job=job, user=third, control_count=3, control_total=Decimal("1219.54"))
    with pytest.raises(ApplicationError) as caught:
        import_job_reject(job=job, user=third, reason="too late")
    assert caught.value.code == "import_not_waiting"
    assert state(job) == after

    # the same file uploaded again is a new job whose lines are all "already posted": it posts nothing
    again = dry_run(client, BANK_URL, "icbc.csv", csv_bytes(HEADER, rows_for(first, second)))
    assert (again.context["report"].new, again.context["report"].skipped) == (0, 3)
    confirm(client, BANK_PROCESS_URL, again)
    second_job, _ = second_person_confirms(3, "1219.54", user=checker)
    assert second_job.pk != job.pk and (second_job.status, second_job.totals["new"]) == ("done", 0)
    assert money_snapshot() == after[0] and Repayment.objects.count() == 3


@pytest.mark.parametrize("count, total", [
    pytest.param(3, "1219.53", id="one-cent-short"),
    pytest.param(3, "1219.55", id="one-cent-over"),
    pytest.param(2, "1219.54", id="a-line-missing"),
    pytest.param(3, "1207.20", id="the-feb-14-lines-only"),
])
def test_a_wrong_control_total_is_refused_and_nothing_posts(client, finance, checker, billed, count, total):
    job = submitted(client, *billed)
    before = state(job)
    error = refused("import_control_total_mismatch", job=job, user=checker, control_count=count,
                    control_total=Decimal(total))
    # what was typed is echoed, the file's own figures are not given away
    assert error.message == (f"The control total typed ({count} lines, {format_cny(Decimal(total))}) is not the file's: "
                             "nothing was posted. Check the bank statement and the file.")
    other = Client()
    other.force_login(checker)
    with TestCase.captureOnCommitCallbacks(execute=True):
        page = other.post(reverse("admin:staff_importjob_confirm", args=[job.pk]),
                          {"control_count": str(count), "control_total": total}, follow=True)
    assert "import_control_total_mismatch" in page.content.decode()
    assert state(job) == before and not Repayment.objects.exists()


@pytest.mark.parametrize("posted, code", [
    pytest.param({}, "import_control_total_required", id="nothing-typed"),
    pytest.param({"control_count": "3", "control_total": "12OO.00"}, "import_control_total_invalid", id="not-an-amount"),
    pytest.param({"control_count": "three", "control_total": "1219.54"}, "import_control_total_invalid", id="not-a-count"),
])
def test_a_confirmation_without_a_readable_total_is_refused(client, finance, checker, billed, posted, code):
    job = submitted(client, *billed)
    before = state(job)
    other = Client()
    other.force_login(checker)
    with TestCase.captureOnCommitCallbacks(execute=True):
        page = other.post(reverse("admin:staff_importjob_confirm", args=[job.pk]), posted, follow=True)
    assert code in page.content.decode()
    assert state(job) == before


def test_refusing_the_file_posts_nothing_and_is_registered_with_who_and_when(client, finance, checker, billed):
    job = submitted(client, *billed)
    before_money = money_snapshot()
    with pytest.raises(ApplicationError) as caught:
        import_job_reject(job=job, user=checker, reason="  ")
    assert caught.value.code == "import_reason_required"
    other = Client()
    other.force_login(checker)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = other.post(reverse("admin:staff_importjob_confirm", args=[job.pk]),
                              {"_reject": "1", "reason": "the statement shows ¥1,219.45"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.declined_by, job.decision_note, job.content, job.confirmed_by) == (
        "declined", checker, "the statement shows ¥1,219.45", None, None)
    assert job.decided_at is not None and job.finished_at is not None
    assert money_snapshot() == before_money and not Repayment.objects.exists()
    event = AuditEvent.objects.get(action="import_file_reject")
    assert (event.actor.username, event.reason, event.old, event.new) == (
        "finance2", "the statement shows ¥1,219.45", "waiting", {"lines": 3, "total": "1219.54"})
    record = ImportRecord.objects.get(outcome="declined")
    assert (record.user, record.job_id, record.total_amount, record.lines) == (checker, job.pk, Decimal("1219.54"), 3)
    body = client.get(reverse("admin:staff_importrecord_changelist")).content.decode()
    assert "Refused at confirmation: nothing saved" in body and "finance2" in body
    # a refused file cannot be confirmed afterwards
    after = state(job)
    refused("import_not_waiting", job=job, user=checker, control_count=3, control_total=Decimal("1219.54"))
    assert state(job) == after


def test_the_uploader_may_withdraw_their_own_file(client, finance, billed):
    job = submitted(client, *billed)
    before = money_snapshot()
    import_job_reject(job=job, user=finance, reason="wrong day's file")
    job.refresh_from_db()
    assert (job.status, job.declined_by) == ("declined", finance)
    assert money_snapshot() == before


@pytest.mark.parametrize("role", ["Credit officer", "Collections manager", "Auditor", "Administrator", "Risk analyst"])
def test_someone_without_the_bank_file_permission_can_neither_confirm_nor_refuse(client, finance, billed, role):
    job = submitted(client, *billed)
    outsider = role_user(role, "outsider")
    before = state(job)
    refused("import_permission_required", job=job, user=outsider, control_count=3, control_total=Decimal("1219.54"))
    with pytest.raises(ApplicationError) as caught:
        import_job_reject(job=job, user=outsider, reason="no")
    assert caught.value.code == "import_permission_required"
    other = Client()
    other.force_login(outsider)
    url = reverse("admin:staff_importjob_confirm", args=[job.pk])
    assert other.post(url, {"control_count": "3", "control_total": "1219.54"}).status_code == 403
    assert other.post(url, {"_reject": "1", "reason": "no"}).status_code == 403
    assert state(job) == before


def test_a_large_bank_file_waits_for_the_second_person_too(client, finance, checker, billed, settings):
    """Above ``STAFF_IMPORT_ASYNC_ROWS`` the dry run and the import run on a Celery worker (eager here)."""
    from backoffice.celery import app

    first, second = billed
    settings.STAFF_IMPORT_ASYNC_ROWS = 1
    previous, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        from tests.factories_staff import format_index, upload

        with TestCase.captureOnCommitCallbacks(execute=True):
            response = client.post(BANK_URL, {"import_file": upload("big.csv", csv_bytes(HEADER, rows_for(first, second))),
                                              "format": format_index("big.csv")})
        assert response.status_code == 302
        job = ImportJob.objects.get()
        assert (job.status, job.control_count, job.control_total) == ("waiting", 3, Decimal("1219.54"))
        assert not Repayment.objects.exists()
        refused("import_confirmer_is_uploader", job=job, user=finance, control_count=3, control_total=Decimal("1219.54"))
        job, _ = second_person_confirms(3, "1219.54", job=job, user=checker)
    finally:
        app.conf.task_always_eager = previous
    assert job.status == "done" and Repayment.objects.count() == 3
    books_clean()
