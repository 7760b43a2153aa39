"""The import register (every file: dry run refused or passed, imported, failed — with who, when, lines
and total), the downloadable templates of each import screen, and exports for people (labels as
headers, choice labels, money with two decimals, XLSX numbers in a 0.00 format, a named sheet)."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from installments.models import Repayment
from installments.services import repayment_post
from staff.models import ImportJob, ImportRecord
from tests.factories_installments import SYSTEM, money_snapshot, no_risk_checks  # noqa: F401
from tests.factories_staff import csv_bytes, format_index, role_user, upload, xlsx_bytes
from tests.staff.test_staff_bank_files import (  # noqa: F401
    BANK_PROCESS_URL,
    BANK_URL,
    HEADER,
    billed,
    confirm,
    dry_run,
    second_person_confirms,
)

REGISTER = reverse("admin:staff_importrecord_changelist")


def _records():
    return list(ImportRecord.objects.order_by("id").values_list(
        "file_name", "file_format", "kind", "user__username", "outcome", "lines", "new", "skipped", "errors",
        "total_amount"))


@pytest.fixture
def finance(client, db):
    user = role_user("Finance")
    client.force_login(user)
    return user


def test_every_bank_file_is_registered_refused_passed_and_imported(client, finance, billed):
    first, second = billed
    bad = [["2026-02-14", first.reference, "100.00", "R1"], ["2026-02-14", first.reference, "ten", "R2"]]
    before = money_snapshot()
    dry_run(client, BANK_URL, "icbc-bad.csv", csv_bytes(HEADER, bad))
    assert money_snapshot() == before  # the register row is the only thing written
    good = [["2026-02-14", first.reference, "800.00", "B-1"], ["2026-02-14", second.reference, "407.20", "B-2"]]
    checked = dry_run(client, BANK_URL, "icbc-0214.xlsx", xlsx_bytes(HEADER, good))
    confirm(client, BANK_PROCESS_URL, checked)
    second_person_confirms(2, "1207.20")
    # the uploader's dry run, the file waiting for a second person, their confirmation, the import
    assert _records() == [
        ("icbc-bad.csv", "csv", "bank_repayments", "finance", "dry_run_refused", 2, 0, 1, 1, Decimal("100.00")),
        ("icbc-0214.xlsx", "xlsx", "bank_repayments", "finance", "dry_run_passed", 2, 2, 0, 0, Decimal("1207.20")),
        ("icbc-0214.xlsx", "xlsx", "bank_repayments", "finance", "waiting", 2, 2, 0, 0, Decimal("1207.20")),
        ("icbc-0214.xlsx", "xlsx", "bank_repayments", "finance2", "confirmed", 2, 2, 0, 0, Decimal("1207.20")),
        ("icbc-0214.xlsx", "xlsx", "bank_repayments", "finance2", "imported", 2, 2, 0, 0, Decimal("1207.20")),
    ]
    assert Repayment.objects.filter(external_ref__in=["B-1", "B-2"]).count() == 2


def test_a_file_refused_at_confirmation_is_registered_as_failed(client, finance, billed):
    first, second = billed
    rows = [["2026-02-14", first.reference, "100.00", "B-1"], ["2026-02-14", second.reference, "100.00", "B-2"]]
    checked = dry_run(client, BANK_URL, "race.csv", csv_bytes(HEADER, rows))
    confirm(client, BANK_PROCESS_URL, checked)
    repayment_post(account=second, amount=Decimal("60.00"), external_ref="B-2", channel="wallet", actor=SYSTEM)
    before = money_snapshot()
    second_person_confirms(2, "200.00")
    assert money_snapshot() == before
    assert [r[4] for r in _records()] == ["dry_run_passed", "waiting", "confirmed", "failed"]
    failed = ImportRecord.objects.get(outcome="failed")
    assert (failed.lines, failed.errors, failed.total_amount, failed.file_name) == (2, 1, Decimal("200.00"), "race.csv")


def test_a_file_with_wrong_columns_is_registered_as_refused_without_a_total(client, finance, billed):
    dry_run(client, BANK_URL, "wrong.csv", csv_bytes(["when", "who"], [["x", "y"]]))
    assert _records() == [("wrong.csv", "csv", "bank_repayments", "finance", "dry_run_refused", 1, 0, 1, 1, None)]


def test_a_background_job_is_registered_with_the_job(client, business_date, settings, django_capture_on_commit_callbacks):
    from backoffice.celery import app
    from tests.factories import CreditAccountFactory

    settings.STAFF_IMPORT_ASYNC_ROWS = 1
    officer = role_user("Credit officer")
    client.force_login(officer)
    accounts = CreditAccountFactory.create_batch(2)
    rows = [[a.reference, "2000.00", "2026-11-01", "2026-11-30", "Double 11"] for a in accounts]
    content = csv_bytes(["account_reference", "amount", "starts_on", "ends_on", "campaign"], rows)
    previous, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("admin:staff_temporarylimitcampaign_import"),
                        {"import_file": upload("d11.csv", content), "format": format_index("d11.csv")})
        job = ImportJob.objects.get()
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("admin:staff_importjob_confirm", args=[job.pk]))
    finally:
        app.conf.task_always_eager = previous
    assert list(ImportRecord.objects.order_by("id").values_list("outcome", "job_id", "user__username", "lines",
                                                                "total_amount")) == [
        ("dry_run_passed", job.pk, "credit_officer", 2, Decimal("4000.00")),
        ("imported", job.pk, "credit_officer", 2, Decimal("4000.00")),
    ]


def test_the_register_screen_lists_files_read_only_for_those_who_import_or_audit(client, finance, billed):
    first, _ = billed
    checked = dry_run(client, BANK_URL, "icbc-1.csv", csv_bytes(HEADER, [["2026-02-14", first.reference, "1234.50", "B-9"]]))
    confirm(client, BANK_PROCESS_URL, checked)
    second_person_confirms(1, "1234.50")
    body = client.get(REGISTER).content.decode()
    assert "icbc-1.csv" in body and "¥1,234.50" in body and "Imported" in body and "Dry run passed" in body
    assert "Waiting for a second person&#x27;s confirmation" in body and "Control total confirmed by a second person" in body
    record = ImportRecord.objects.get(outcome="imported")
    assert client.get(reverse("admin:staff_importrecord_change", args=[record.pk])).status_code == 200
    assert client.post(reverse("admin:staff_importrecord_delete", args=[record.pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:staff_importrecord_add")).status_code == 403
    for role, status in (("Auditor", 200), ("Credit officer", 200), ("Collector", 403)):
        client.force_login(role_user(role))
        assert client.get(REGISTER).status_code == status, role
    assert ImportRecord.objects.count() == 4


# --- templates --------------------------------------------------------------------------------------


@pytest.mark.parametrize("changelist, role, columns", [
    ("staff_bankrepaymentfile", "Finance", ["date", "account_reference", "amount", "bank_reference"]),
    ("staff_storefrontorderimport", "Finance", ["order_id", "account_reference", "amount", "tenor", "category"]),
    ("staff_temporarylimitcampaign", "Credit officer",
     ["account_reference", "amount", "starts_on", "ends_on", "campaign", "reason"]),
    ("accounts_customer", "Credit officer",
     ["name", "id_number", "mobile", "product", "fixed_limit", "bill_day", "address", "email", "external_id",
      "consents", "consent_version"]),
])
def test_each_import_screen_offers_csv_and_xlsx_templates(client, db, changelist, role, columns):
    from openpyxl import load_workbook

    client.force_login(role_user(role))
    page = client.get(reverse(f"admin:{changelist}_import")).content.decode()
    csv_url = reverse(f"admin:{changelist}_import_template", args=["csv"])
    xlsx_url = reverse(f"admin:{changelist}_import_template", args=["xlsx"])
    assert csv_url in page and xlsx_url in page
    response = client.get(csv_url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == columns and len(rows) == 2 and all(rows[1][:3])
    sheet = load_workbook(io.BytesIO(client.get(xlsx_url).content)).active
    assert [c.value for c in sheet[1]] == columns
    amount_column = "fixed_limit" if "fixed_limit" in columns else "amount"
    amount = sheet[2][columns.index(amount_column)]
    assert amount.data_type == "n" and amount.number_format == "#,##0.00"
    assert client.get(reverse(f"admin:{changelist}_import_template", args=["pdf"])).status_code == 404


def test_a_template_needs_the_import_permission(client, db):
    client.force_login(role_user("Auditor"))
    for fmt in ("csv", "xlsx"):
        assert client.get(reverse("admin:staff_bankrepaymentfile_import_template", args=[fmt])).status_code == 403


def test_the_bank_template_with_real_values_imports(client, finance, billed):
    """The template's columns are the import's: fill the example line in and the dry run passes."""
    first, _ = billed
    rows = list(csv.reader(io.StringIO(client.get(reverse("admin:staff_bankrepaymentfile_import_template",
                                                            args=["csv"])).content.decode("utf-8-sig"))))
    example = dict(zip(rows[0], rows[1]))
    example.update({"date": "2026-02-14", "account_reference": first.reference})
    response = dry_run(client, BANK_URL, "from-template.csv", csv_bytes(rows[0], [[example[c] for c in rows[0]]]))
    assert response.context["report"].ok and response.context["report"].total_amount == Decimal("1036.00")


# --- exports ----------------------------------------------------------------------------------------


def test_statement_exports_have_labels_choice_labels_money_and_a_sheet_name(client, finance, billed):
    from openpyxl import load_workbook

    from installments.models import Statement
    from staff.resources import StatementExportResource

    statement = Statement.objects.filter(account=billed[0]).exclude(status="draft").get()
    fields = ["account_reference", "bill_date", "status", "closing_balance", "minimum_payment"]
    data = {"format": "0", "resource": "0",
            **{f"{StatementExportResource.__name__.lower()}_{f}": "on" for f in fields}}
    url = reverse("admin:staff_statementexport_export")
    rows = list(csv.reader(io.StringIO(client.post(url, data).content.decode("utf-8"))))
    assert rows[0] == ["Account reference", "Bill date", "Status", "Closing balance", "Minimum payment"]
    by_account = {r[0]: r for r in rows[1:]}
    assert by_account[billed[0].reference] == [billed[0].reference, "2026-02-01", statement.get_status_display(),
                                               f"{statement.closing_balance:.2f}", f"{statement.minimum_payment:.2f}"]
    sheet = load_workbook(io.BytesIO(client.post(url, {**data, "format": "1"}).content)).active
    assert sheet.title == "Statement exports"
    header = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == billed[0].reference)
    closing = row[header.index("Closing balance")]
    assert closing.data_type == "n" and closing.number_format == "#,##0.00"
    assert Decimal(str(closing.value)) == statement.closing_balance
    assert row[header.index("Bill date")].number_format == "yyyy-mm-dd"
    assert row[header.index("Status")].value == statement.get_status_display()


def test_an_unrounded_database_sum_is_exported_to_the_cent():
    from core.exports import as_money

    assert as_money(Decimal("10146.28000000000"), native=True) == Decimal("10146.28")
    assert as_money("10146.2800000", native=False) == "10146.28"
    assert as_money(Decimal("0.005"), native=False) == "0.01"
    assert as_money(None, native=True) is None


def test_sheet_names_are_valid_worksheet_names():
    from staff.exports import sheet_name

    assert sheet_name("statement exports") == "Statement exports"
    assert sheet_name("a/b:c[d]*e?f\\g") == "A b c d  e f g"
    assert len(sheet_name("x" * 80)) == 31 and sheet_name("") == "Export"
