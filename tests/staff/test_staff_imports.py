"""Imports through the admin: a dry run first, every bad line with its line number and reason, and
nothing saved when any line fails. Customers with accounts and limits; temporary-limit campaigns."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Consent, CreditAccount, Customer, LimitChange, StatusChange, TemporaryLimit
from core.identity import make_id_number
from core.models import AuditEvent
from tests.factories import CreditAccountFactory, CreditProductFactory
from tests.factories_staff import csv_bytes, format_index, role_user, upload, xlsx_bytes

CUSTOMERS_URL = reverse("admin:accounts_customer_import")
CUSTOMERS_PROCESS_URL = reverse("admin:accounts_customer_process_import")
CAMPAIGN_URL = reverse("admin:staff_temporarylimitcampaign_import")
CAMPAIGN_PROCESS_URL = reverse("admin:staff_temporarylimitcampaign_process_import")
CUSTOMER_HEADER = ["name", "id_number", "mobile", "product", "fixed_limit", "bill_day", "consents"]
CAMPAIGN_HEADER = ["account_reference", "amount", "starts_on", "ends_on", "campaign"]


def _id(n: int) -> str:
    return make_id_number("310115", dt.date(1990, 1, 1) + dt.timedelta(days=n), n % 1000)


def state() -> dict:
    """Everything an import could change."""
    return {
        "customers": sorted(Customer.objects.values_list("id_number_hash", "mobile")),
        "accounts": sorted(CreditAccount.objects.values_list("reference", "fixed_limit", "status")),
        "temporary": sorted(TemporaryLimit.objects.values_list("account_id", "amount", "campaign")),
        "limit_changes": LimitChange.objects.count(),
        "status_changes": StatusChange.objects.count(),
        "consents": Consent.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


@pytest.fixture
def officer_client(client, business_date):
    client.force_login(role_user("Credit officer"))
    return client


def dry_run(client, url, name, content):
    return client.post(url, {"import_file": upload(name, content), "format": format_index(name)})


def confirm(client, process_url, response):
    form = response.context["confirm_form"]
    data = {key: form.initial[key] for key in ("import_file_name", "original_file_name", "format", "resource")}
    return client.post(process_url, data)


def problems(response) -> list[tuple[int, str, str]]:
    report = response.context["report"]
    return [(p.line, p.column, p.message) for p in report.errors]


# --- customers with accounts and limits ------------------------------------------------------


def test_customer_file_dry_run_saves_nothing_then_confirm_imports_through_the_services(officer_client):
    CreditProductFactory()
    content = csv_bytes(CUSTOMER_HEADER, [
        ["王伟", _id(1), "13800000001", "baitiao", "5000.00", "5", "data_processing,credit_bureau"],
        ["李娜", _id(2), "13800000002", "baitiao", "20,000", "", ""],
    ])
    before = state()
    response = dry_run(officer_client, CUSTOMERS_URL, "customers.csv", content)
    assert response.status_code == 200
    report = response.context["report"]
    assert report.ok and (report.total_rows, report.new, report.updated, report.skipped) == (2, 2, 0, 0)
    assert [line for line, *_ in report.preview] == [2, 3]
    assert ("Limits granted or set", "¥25,000.00") in report.summary
    body = response.content.decode()
    assert _id(1) not in body and "13800000001" not in body  # shown back masked
    assert state() == before  # a dry run saves nothing

    response = confirm(officer_client, CUSTOMERS_PROCESS_URL, response)
    assert response.status_code == 200 and response.context["done"]
    wang = Customer.objects.get(id_number_hash__isnull=False, mobile="13800000001")
    account = wang.accounts.get()
    assert (account.fixed_limit, account.bill_day, account.status) == (Decimal("5000.00"), 5, "active")
    assert sorted(wang.consents.values_list("kind", "version", "granted")) == [
        ("credit_bureau", "import", True), ("data_processing", "import", True)]
    li = Customer.objects.get(mobile="13800000002").accounts.get()
    assert (li.fixed_limit, li.bill_day) == (Decimal("20000.00"), 1)
    change = LimitChange.objects.get(account=account)
    assert (change.old_limit, change.new_limit, change.actor.username) == (0, Decimal("5000.00"), "credit_officer")
    assert change.reason == "import customers.csv line 2"


def test_customer_file_imported_twice_changes_nothing_and_a_new_limit_is_a_limit_change(officer_client):
    CreditProductFactory()
    rows = [["王伟", _id(1), "13800000001", "baitiao", "5000", "", ""]]
    confirm(officer_client, CUSTOMERS_PROCESS_URL, dry_run(officer_client, CUSTOMERS_URL, "a.csv", csv_bytes(CUSTOMER_HEADER, rows)))
    before = state()
    again = dry_run(officer_client, CUSTOMERS_URL, "a.csv", csv_bytes(CUSTOMER_HEADER, rows))
    assert (again.context["report"].new, again.context["report"].skipped) == (0, 1)
    confirm(officer_client, CUSTOMERS_PROCESS_URL, again)
    assert state() == before

    rows[0][4] = "7500"  # +50 %: within the approval threshold, applied at once
    raised = dry_run(officer_client, CUSTOMERS_URL, "b.csv", csv_bytes(CUSTOMER_HEADER, rows))
    assert raised.context["report"].updated == 1
    confirm(officer_client, CUSTOMERS_PROCESS_URL, raised)
    account = CreditAccount.objects.get()
    assert account.fixed_limit == Decimal("7500.00")
    assert list(account.limit_changes.order_by("id").values_list("old_limit", "new_limit")) == [
        (Decimal("0.00"), Decimal("5000.00")), (Decimal("5000.00"), Decimal("7500.00"))]


@pytest.mark.parametrize(
    "header, rows, expected",
    [
        pytest.param(
            ["name", "id_number", "mobile", "product", "limit_amount"], [["王伟", _id(1), "13800000001", "baitiao", "1"]],
            None, id="wrong-column",
        ),
        pytest.param(
            CUSTOMER_HEADER,
            [["王伟", _id(1), "13800000001", "baitiao", "5000", "", ""],
             ["李娜", _id(2), "13800000002", "baitiao", "12.345", "", ""],
             ["张三", _id(3), "13800000003", "baitiao", "abc", "", ""]],
            [(3, "fixed_limit", "Not an amount with at most two decimals: '12.345'."),
             (4, "fixed_limit", "Not an amount with at most two decimals: 'abc'.")],
            id="bad-amount",
        ),
        pytest.param(
            CUSTOMER_HEADER,
            [["王伟", _id(1), "13800000001", "baitiao", "5000", "", ""],
             ["王伟", _id(1), "13800000009", "baitiao", "6000", "", ""]],
            [(3, "", "This ID number already appears on line 2 of this file.")],
            id="duplicate-id-number",
        ),
        pytest.param(
            CUSTOMER_HEADER,
            [["=HYPERLINK(\"http://x\")", _id(1), "13800000001", "baitiao", "5000", "", ""],
             ["李娜", _id(2), "13800000002", "baitiao", "=1+1", "", ""],
             ["@SUM(A1)", _id(3), "13800000003", "baitiao", "100", "", ""]],
            [(2, "name", "Starts with '=': spreadsheet formulas are refused."),
             (3, "fixed_limit", "Starts with '=': spreadsheet formulas are refused."),
             (4, "name", "Starts with '@': spreadsheet formulas are refused.")],
            id="formula-injection",
        ),
        pytest.param(
            CUSTOMER_HEADER,
            [["王伟", "110105194912310021", "13800000001", "baitiao", "5000", "", ""],
             ["李娜", _id(2), "1380000", "gold", "100", "31", "marketing,spam"]],
            [(2, "id_number", "ID number check digit is wrong."),
             (3, "bill_day", "Must be between 1 and 28."),
             (3, "consents", "Unknown consent kind(s): spam."),
             (3, "mobile", "Mobile number must be 11 digits starting with 13–19 (1[3-9] + 9 digits)."),
             (3, "product", "Unknown product 'gold'.")],
            id="identity-and-cells",
        ),
    ],
)
def test_bad_customer_files_show_each_line_and_reason_and_change_nothing(officer_client, header, rows, expected):
    CreditProductFactory()
    before = state()
    for name, content in (("bad.csv", csv_bytes(header, rows)), ("bad.xlsx", xlsx_bytes(header, rows))):
        response = dry_run(officer_client, CUSTOMERS_URL, name, content)
        assert response.status_code == 200
        report = response.context["report"]
        assert not report.ok and "confirm_form" not in response.context
        if expected is None:
            assert report.file_errors == [
                "Wrong columns — missing column(s): fixed_limit; unknown column(s): limit_amount. Expected: name, id_number, "
                "mobile, product, fixed_limit, bill_day (optional), address (optional), email (optional), external_id "
                "(optional), consents (optional), consent_version (optional)."]
        else:
            assert problems(response) == expected
        body = response.content.decode()
        assert "Nothing was saved" in body
        assert not any(row[1] in body or row[2] in body for row in rows)  # ID numbers and mobiles shown masked
        assert state() == before


def test_real_import_is_all_or_nothing_when_a_line_turns_bad_after_the_dry_run(officer_client):
    """Between the dry run and the confirmation someone else opened the same customer: the import
    refuses that line and saves nothing at all."""
    product = CreditProductFactory()
    rows = [["王伟", _id(1), "13800000001", "baitiao", "5000", "", ""], ["李娜", _id(2), "13800000002", "baitiao", "6000", "", ""]]
    checked = dry_run(officer_client, CUSTOMERS_URL, "c.csv", csv_bytes(CUSTOMER_HEADER, rows))
    assert checked.context["report"].ok
    product.is_active = False
    product.save()
    before = state()
    response = confirm(officer_client, CUSTOMERS_PROCESS_URL, checked)
    assert response.status_code == 200 and not response.context["done"]
    assert problems(response) == [(2, "", "Product baitiao is not active."), (3, "", "Product baitiao is not active.")]
    assert state() == before


# --- temporary-limit campaign lists ----------------------------------------------------------


def test_campaign_list_grants_through_the_service_and_twice_grants_nothing(officer_client, business_date):
    accounts = CreditAccountFactory.create_batch(3)
    rows = [[a.reference, "3000.00", "2026-06-01", "2026-06-20", "618"] for a in accounts]
    response = dry_run(officer_client, CAMPAIGN_URL, "618.xlsx", xlsx_bytes(CAMPAIGN_HEADER, rows))
    assert response.context["report"].ok and response.context["report"].new == 3
    assert not TemporaryLimit.objects.exists()
    confirm(officer_client, CAMPAIGN_PROCESS_URL, response)
    assert sorted(TemporaryLimit.objects.values_list("account_id", "amount", "starts_on", "ends_on", "campaign")) == [
        (a.pk, Decimal("3000.00"), dt.date(2026, 6, 1), dt.date(2026, 6, 20), "618") for a in accounts]
    assert LimitChange.objects.filter(kind="temporary", reason="campaign 618 (618.xlsx)").count() == 3

    before = state()
    again = dry_run(officer_client, CAMPAIGN_URL, "618.xlsx", xlsx_bytes(CAMPAIGN_HEADER, rows))
    assert (again.context["report"].new, again.context["report"].skipped) == (0, 3)
    confirm(officer_client, CAMPAIGN_PROCESS_URL, again)
    assert state() == before


@pytest.mark.parametrize(
    "rows, expected",
    [
        pytest.param([["NOSUCHACCOUNT1", "100", "2026-06-01", "2026-06-02", "618"]],
                     [(2, "account_reference", "Unknown account NOSUCHACCOUNT1.")], id="unknown-account"),
        pytest.param([["{ref}", "-100", "2026-06-01", "2026-06-02", "618"],
                      ["{ref}", "1e5", "2026-06-01", "2026-06-02", "11.11"],
                      ["{ref}", "0", "2026-06-01", "2026-06-02", "x"]],
                     [(2, "amount", "Must be more than zero (got -100)."),
                      (3, "amount", "Not an amount with at most two decimals: '1e5'."),
                      (4, "amount", "Must be more than zero.")], id="bad-amount"),
        pytest.param([["{ref}", "100", "2026-06-31", "2026-06-02", "618"]],
                     [(2, "starts_on", "Not a date (YYYY-MM-DD): '2026-06-31'.")], id="bad-date"),
        pytest.param([["{ref}", "100", "2026-06-01", "2026-06-02", "618"], ["{ref}", "200", "2026-06-01", "2026-06-02", "618"]],
                     [(3, "", "Account {ref} in campaign 618 already appears on line 2 of this file.")], id="duplicate"),
        pytest.param([["{ref}", "100", "2025-06-01", "2025-06-02", "618"]],
                     [(2, "", "A temporary limit cannot end in the past.")], id="refused-by-the-service"),
        pytest.param([["{ref}", "100", "2026-06-01", "2026-06-02", "-cmd|' /C calc'!A0"]],
                     [(2, "campaign", "Starts with '-': spreadsheet formulas are refused.")], id="formula-injection"),
    ],
)
def test_bad_campaign_lists_change_nothing(officer_client, business_date, rows, expected):
    account = CreditAccountFactory()
    rows = [[cell.replace("{ref}", account.reference) for cell in row] for row in rows]
    expected = [(line, column, message.replace("{ref}", account.reference)) for line, column, message in expected]
    before = state()
    response = dry_run(officer_client, CAMPAIGN_URL, "bad.csv", csv_bytes(CAMPAIGN_HEADER, rows))
    assert problems(response) == expected
    assert state() == before


def test_frozen_account_in_a_campaign_list_fails_the_whole_file(officer_client, business_date):
    good, frozen = CreditAccountFactory(), CreditAccountFactory(status="frozen", freeze_reason="manual")
    rows = [[good.reference, "100", "2026-06-01", "2026-06-02", "618"], [frozen.reference, "100", "2026-06-01", "2026-06-02", "618"]]
    before = state()
    response = dry_run(officer_client, CAMPAIGN_URL, "mixed.csv", csv_bytes(CAMPAIGN_HEADER, rows))
    assert problems(response) == [(3, "", "Temporary limits are only granted to active accounts.")]
    assert state() == before


def test_an_empty_file_and_an_unreadable_file_are_refused(officer_client):
    response = dry_run(officer_client, CAMPAIGN_URL, "empty.csv", csv_bytes(CAMPAIGN_HEADER, []))
    assert response.context["form"].errors["import_file"] == [
        "No valid data to import. Ensure your file has the correct headers or data for import."]
    response = dry_run(officer_client, CAMPAIGN_URL, "junk.xlsx", b"this is not a spreadsheet")
    assert response.context["form"].errors["import_file"] == [
        "'BadZipFile' encountered while trying to read file. Ensure you have chosen the correct format for the file."]
    assert not TemporaryLimit.objects.exists()
