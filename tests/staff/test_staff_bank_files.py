"""Bank repayment files (CSV and XLSX: date, account reference, amount, bank reference) posted through
``repayment_post`` once a second finance person confirmed the file's control total (PRODUCT §12; the
four-eyes rules themselves are in tests/approvals/test_sod_bankfile.py); storefront order exports through
``purchase_authorize``."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client, TestCase
from django.urls import reverse

from installments.daily import run_through
from installments.models import Allocation, Purchase, Repayment
from installments.services import purchase_authorize, repayment_post
from tests.factories_installments import SYSTEM, books_clean, money_snapshot, no_risk_checks, open_account  # noqa: F401
from tests.factories_staff import csv_bytes, format_index, role_user, upload, xlsx_bytes

BANK_URL = reverse("admin:staff_bankrepaymentfile_import")
BANK_PROCESS_URL = reverse("admin:staff_bankrepaymentfile_process_import")
ORDERS_URL = reverse("admin:staff_storefrontorderimport_import")
ORDERS_PROCESS_URL = reverse("admin:staff_storefrontorderimport_process_import")
HEADER = ["date", "account_reference", "amount", "bank_reference"]


def dry_run(client, url, name, content):
    return client.post(url, {"import_file": upload(name, content), "format": format_index(name)})


def confirm(client, url, response):
    """The uploader's "Confirm" after the dry run (a bank file: submitted to wait for a second person;
    its dry run as a job runs once the request's transaction commits)."""
    form = response.context["confirm_form"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url, {k: form.initial[k] for k in ("import_file_name", "original_file_name", "format",
                                                              "resource")})


def second_finance_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username="finance2").first() or role_user("Finance", "finance2")


def second_person_confirms(count, total, *, job=None, user=None):
    """A second finance person types the control total read on the bank statement; the lines post once
    the confirmation commits. Returns the job page they are sent back to."""
    from staff.models import ImportJob

    job = job or ImportJob.objects.filter(kind="bank_repayments").order_by("-pk").first()
    checker = Client()
    checker.force_login(user or second_finance_user())
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = checker.post(reverse("admin:staff_importjob_confirm", args=[job.pk]),
                                {"control_count": str(count), "control_total": str(total)})
    assert response.status_code == 302
    job.refresh_from_db()
    return job, checker.get(response["Location"])


def problems(response):
    return [(p.line, p.column, p.message) for p in response.context["report"].errors]


@pytest.fixture
def finance_client(client, db):
    client.force_login(role_user("Finance"))
    return client


@pytest.fixture
def billed(business_date):
    """Two accounts with a statement past its due date: 1,200.00 in 3 installments + 300.00 revolving
    bought on 2026-01-05, billed on 2026-02-01, due 2026-02-10; business date 2026-02-15."""
    business_date("2026-01-05")
    first = open_account(opened_on=dt.date(2026, 1, 1))
    second = open_account(opened_on=dt.date(2026, 1, 1))
    for account in (first, second):
        purchase_authorize(account=account, amount=Decimal("1200.00"), merchant_order_id="o-1", tenor=3, actor=SYSTEM)
        purchase_authorize(account=account, amount=Decimal("300.00"), merchant_order_id="o-2", actor=SYSTEM)
    run_through(dt.date(2026, 2, 14))
    return first, second


def test_finance_imports_a_bank_file_dry_run_then_for_real_and_sees_the_allocation(finance_client, billed):
    first, second = billed
    # Value date Feb 14, posted Feb 15: allocated as of Feb 14, so the late fee accrued at the close of
    # Feb 14 (after the money arrived) is not paid first; it is re-judged (issue 13).
    rows = [["2026-02-14", first.reference, "800.00", "ICBC-20260214-0001"],
            ["2026-02-14", second.reference.lower(), "407.20", "ICBC-20260214-0002"]]
    before = money_snapshot()
    response = dry_run(finance_client, BANK_URL, "icbc-0214.csv", csv_bytes(HEADER, rows))
    report = response.context["report"]
    assert report.ok and (report.new, report.skipped) == (2, 0)
    assert [cells for _, _, cells, _ in report.preview] == [
        ["2026-02-14", first.reference, "¥800.00", "ICBC-20260214-0001",
         "late fee ¥1.05 · installment fee ¥7.20 · principal ¥700.00 · kept as credit balance ¥91.75"],
        ["2026-02-14", second.reference, "¥407.20", "ICBC-20260214-0002",
         "late fee ¥1.05 · installment fee ¥7.20 · principal ¥398.95"],
    ]
    assert ("Amount posted", "¥1,207.20") in report.summary
    assert money_snapshot() == before  # the dry run is the real thing, rolled back

    submitted = confirm(finance_client, BANK_PROCESS_URL, response)
    assert submitted.status_code == 302 and money_snapshot() == before  # waits for a second person
    job, done = second_person_confirms(2, "1207.20")
    assert job.status == "done" and "principal ¥700.00" in done.content.decode()
    repayment = Repayment.objects.get(external_ref="ICBC-20260214-0001")
    assert (repayment.account_id, repayment.amount, repayment.channel, repayment.received_on, repayment.actor.username) == (
        first.pk, Decimal("800.00"), "bank_file", dt.date(2026, 2, 14), "finance")
    from django.db.models import Sum

    assert dict(repayment.allocations.values_list("kind").annotate(s=Sum("amount")).values_list("kind", "s")) == {
        "credit_balance": Decimal("91.75"), "installment_fee": Decimal("7.20"), "late_fee": Decimal("1.05"),
        "principal": Decimal("700.00")}
    books_clean()

    # the change page of the repayment shows where the money went
    page = finance_client.get(reverse("admin:staff_bankrepaymentfile_change", args=[repayment.pk])).content.decode()
    assert "Allocation: where the money went" in page and "¥91.75" in page

    # the same file again posts nothing
    after = money_snapshot()
    again = dry_run(finance_client, BANK_URL, "icbc-0214.csv", csv_bytes(HEADER, rows))
    assert (again.context["report"].new, again.context["report"].skipped) == (0, 2)
    assert again.context["report"].preview[0][2][4] == f"already posted on 2026-02-15 ({repayment.reference})"
    confirm(finance_client, BANK_PROCESS_URL, again)
    job, _ = second_person_confirms(2, "1207.20")
    assert (job.status, job.totals["new"], job.totals["skip"]) == ("done", 0, 2)
    assert money_snapshot() == after
    assert Repayment.objects.count() == 2


def test_bank_file_in_xlsx_with_date_and_number_cells(finance_client, billed):
    first, _ = billed
    rows = [[dt.datetime(2026, 2, 13), first.reference, 500.5, "BOC-77"], [dt.date(2026, 2, 14), first.reference, 20, "BOC-78"]]
    response = dry_run(finance_client, BANK_URL, "boc.xlsx", xlsx_bytes(HEADER, rows))
    assert response.context["report"].ok
    confirm(finance_client, BANK_PROCESS_URL, response)
    second_person_confirms(2, "520.50")
    assert sorted(Repayment.objects.values_list("external_ref", "amount", "received_on")) == [
        ("BOC-77", Decimal("500.50"), dt.date(2026, 2, 13)), ("BOC-78", Decimal("20.00"), dt.date(2026, 2, 14))]


@pytest.mark.parametrize(
    "header, rows, expected",
    [
        pytest.param(["date", "account", "amount", "reference"], [["2026-02-14", "{a}", "1", "X"]],
                     "Wrong columns — missing column(s): bank_reference; unknown column(s): reference. Expected: date, "
                     "account_reference, amount, bank_reference.", id="wrong-column"),
        pytest.param(HEADER, [["2026-02-14", "{a}", "12,00.001", "R1"], ["2026-02-14", "{a}", "-5", "R2"],
                              ["2026-02-14", "{a}", "", "R3"], ["2026-02-14", "{a}", "ten", "R4"]],
                     [(2, "amount", "Not an amount with at most two decimals: '12,00.001'."),
                      (3, "amount", "Must be more than zero (got -5)."), (4, "amount", "Required."),
                      (5, "amount", "Not an amount with at most two decimals: 'ten'.")], id="bad-amount"),
        pytest.param(HEADER, [["2026-02-14", "{a}", "10", "R1"], ["2026-02-14", "ZZZZZZZZZZZZ", "10", "R2"],
                              ["2026-02-14", "not a ref!", "10", "R3"]],
                     [(3, "account_reference", "Unknown account ZZZZZZZZZZZZ."),
                      (4, "account_reference", "An account reference is 6–16 letters and digits.")], id="unknown-account"),
        pytest.param(HEADER, [["2026-02-14", "{a}", "10", "R1"], ["2026-02-14", "{a}", "10", "R1"]],
                     [(3, "", "Bank reference R1 already appears on line 2 of this file.")], id="duplicate-bank-reference"),
        pytest.param(HEADER, [["2026-02-14", "{a}", "10", "R1"], ["2026-02-14", "{a}", "99.00", "EXISTING-1"]],
                     [(3, "", "Bank reference EXISTING-1 was already posted to account {a} for ¥50.00: a different payment.")],
                     id="bank-reference-of-another-payment"),
        pytest.param(HEADER, [["2026-02-16", "{a}", "10", "R1"], ["14/02/2026", "{a}", "10", "R2"]],
                     [(2, "date", "After the business date 2026-02-15."),
                      (3, "date", "Not a date (YYYY-MM-DD): '14/02/2026'.")], id="bad-date"),
        pytest.param(HEADER, [["2026-02-14", "{a}", "=10*100", "R1"], ["2026-02-14", "{a}", "10", "=HYPERLINK(\"x\")"],
                              ["2026-02-14", "{a}", "10", "+cmd|' /C calc'!A0"], ["@now", "{a}", "10", "R4"]],
                     [(2, "amount", "Starts with '=': spreadsheet formulas are refused."),
                      (3, "bank_reference", "Starts with '=': spreadsheet formulas are refused."),
                      (4, "bank_reference", "Starts with '+': spreadsheet formulas are refused."),
                      (5, "date", "Starts with '@': spreadsheet formulas are refused.")], id="formula-injection"),
    ],
)
@pytest.mark.parametrize("file_name", ["bad.csv", "bad.xlsx"])
def test_bad_bank_files_show_line_and_reason_and_post_nothing(finance_client, billed, header, rows, expected, file_name):
    first, _ = billed
    repayment_post(account=first, amount=Decimal("50.00"), external_ref="EXISTING-1", channel="bank_transfer", actor=SYSTEM)
    rows = [[cell.replace("{a}", first.reference) for cell in row] for row in rows]
    before = money_snapshot()
    build = xlsx_bytes if file_name.endswith(".xlsx") else csv_bytes
    response = dry_run(finance_client, BANK_URL, file_name, build(header, rows))
    assert "confirm_form" not in response.context
    if isinstance(expected, str):
        assert response.context["report"].file_errors == [expected]
    else:
        assert problems(response) == [(line, col, msg.replace("{a}", first.reference)) for line, col, msg in expected]
    assert "Nothing was saved" in response.content.decode()
    assert money_snapshot() == before


def test_a_line_refused_at_confirmation_rolls_back_the_whole_file(finance_client, billed):
    """The dry run passed; before the confirmation the second account was closed… no: a repayment
    with the second line's bank reference arrived through the API for another amount."""
    first, second = billed
    rows = [["2026-02-14", first.reference, "100.00", "B-1"], ["2026-02-14", second.reference, "100.00", "B-2"]]
    checked = dry_run(finance_client, BANK_URL, "race.csv", csv_bytes(HEADER, rows))
    assert checked.context["report"].ok
    confirm(finance_client, BANK_PROCESS_URL, checked)  # waits for a second person
    repayment_post(account=second, amount=Decimal("60.00"), external_ref="B-2", channel="wallet", actor=SYSTEM)
    before = money_snapshot()
    job, page = second_person_confirms(2, "200.00")
    assert job.status == "failed"
    assert [(e["line"], e["column"], e["message"]) for e in job.errors] == [
        (3, "", f"Bank reference B-2 was already posted to account {second.reference} for ¥60.00: a different payment.")]
    assert "Nothing was saved" in page.content.decode()
    assert money_snapshot() == before and not Repayment.objects.filter(external_ref="B-1").exists()


# --- storefront orders ---------------------------------------------------------------------


ORDER_HEADER = ["order_id", "account_reference", "amount", "tenor", "category"]


def test_storefront_orders_are_authorised_through_the_engine_and_twice_buy_nothing(finance_client, business_date):
    business_date("2026-01-05")
    account = open_account(limit="5000.00", opened_on=dt.date(2026, 1, 1))
    rows = [["SO-1001", account.reference, "1200.00", "3", "phones"], ["SO-1002", account.reference, "99.90", "", "books"]]
    before = money_snapshot()
    response = dry_run(finance_client, ORDERS_URL, "orders.csv", csv_bytes(ORDER_HEADER, rows))
    report = response.context["report"]
    assert report.ok and report.new == 2
    assert [cells[-1] for _, _, cells, _ in report.preview] == ["approved, posted to the bill of 2026-02-01"] * 2
    assert money_snapshot() == before
    confirm(finance_client, ORDERS_PROCESS_URL, response)
    assert sorted(Purchase.objects.values_list("merchant_order_id", "amount", "tenor", "status")) == [
        ("SO-1001", Decimal("1200.00"), 3, "approved"), ("SO-1002", Decimal("99.90"), None, "approved")]
    account.refresh_from_db()
    assert account.used_amount == Decimal("1299.90")
    after = money_snapshot()
    again = dry_run(finance_client, ORDERS_URL, "orders.csv", csv_bytes(ORDER_HEADER, rows))
    assert again.context["report"].skipped == 2
    confirm(finance_client, ORDERS_PROCESS_URL, again)
    assert money_snapshot() == after
    books_clean()


def test_a_declined_order_fails_the_file_and_records_nothing(finance_client, business_date):
    business_date("2026-01-05")
    account = open_account(limit="1000.00", opened_on=dt.date(2026, 1, 1))
    rows = [["SO-1", account.reference, "600.00", "", ""], ["SO-2", account.reference, "600.00", "", ""],
            ["SO-3", account.reference, "10.00", "5", ""]]
    before = money_snapshot()
    response = dry_run(finance_client, ORDERS_URL, "orders.csv", csv_bytes(ORDER_HEADER, rows))
    assert problems(response) == [(3, "", "Purchase declined: insufficient_limit."),
                                  (4, "", "Tenor 5 is not offered; choose one of [3, 6, 12, 24].")]
    assert money_snapshot() == before and not Purchase.objects.exists()


def test_allocation_rows_are_listed_on_the_repayments_screen_with_a_fixed_number_of_queries(finance_client, billed):
    first, second = billed
    for n in range(30):
        repayment_post(account=first if n % 2 else second, amount=Decimal("5.00"), external_ref=f"R{n}",
                       channel="bank_transfer", actor=SYSTEM)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        page = finance_client.get(reverse("admin:staff_repaymentexport_changelist"))
    assert page.status_code == 200 and len(ctx.captured_queries) <= 14
    assert Allocation.objects.filter(repayment__isnull=False).count() >= 30
    assert "late fee ¥1.40" in page.content.decode()
