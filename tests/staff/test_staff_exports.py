"""Exports (CSV, XLSX): explicit columns, customers masked unless revealed with a reason (and logged),
cells a spreadsheet would run as formulas escaped, amounts exact."""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import Customer
from core.exports import escape_formula
from staff.imports import ServiceResource
from tests.factories import CreditAccountFactory, CustomerFactory
from tests.factories_installments import no_risk_checks  # noqa: F401  (autouse: the engine without risk rules)
from tests.factories_staff import role_user


def export(client, url_name: str, resource, fields: list[str], fmt: str = "0", **extra):
    data = {"format": fmt, "resource": "0", **{f"{resource.__name__.lower()}_{f}": "on" for f in fields}, **extra}
    return client.post(reverse(f"admin:{url_name}"), data)


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200, response.content[:500]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"))))


@pytest.fixture
def customers(db):
    first = CustomerFactory(name="王小明", mobile="13812345678", email="wang@example.com", external_id="=1+2")
    second = CustomerFactory(name="李雷", mobile="13900001111", external_id="u-2")
    CreditAccountFactory(customer=first)
    return first, second


def test_customers_are_exported_masked_with_formulas_escaped(client, customers):
    from accounts.resources import CustomerExportResource

    client.force_login(role_user("Credit officer"))
    first, second = customers
    rows = rows_of(export(client, "accounts_customer_export", CustomerExportResource,
                          ["reference", "name", "id_number", "mobile", "email", "external_id", "accounts"]))
    assert rows[0] == ["Reference", "Name", "ID number", "Mobile", "Email", "External ID", "Accounts"]
    by_ref = {r[0]: r for r in rows[1:]}
    account = first.accounts.get()
    assert by_ref[first.reference] == [first.reference, "王**", first.masked_id_number, "138****5678", "w***@example.com",
                                       "'=1+2", account.reference]
    assert by_ref[second.reference][1:4] == ["李*", second.masked_id_number, "139****1111"]
    body = "\n".join(",".join(r) for r in rows)
    assert first.id_number not in body and "13812345678" not in body


def test_personal_data_in_full_needs_the_permission_and_a_reason_and_is_logged(client, customers):
    from accounts.resources import CustomerExportResource
    from privacy.models import PiiAccessLog

    officer = role_user("Credit officer")
    client.force_login(officer)
    fields = ["reference", "name", "id_number", "mobile"]
    refused = export(client, "accounts_customer_export", CustomerExportResource, fields, reveal="on", reason="")
    assert refused.status_code == 200 and "A reason is required" in refused.content.decode()
    assert not PiiAccessLog.objects.exists()

    rows = rows_of(export(client, "accounts_customer_export", CustomerExportResource, fields, reveal="on",
                          reason="Court order 2026-17"))
    first, second = customers
    assert sorted(rows[1:]) == sorted([[first.reference, "王小明", first.id_number, "13812345678"],
                                       [second.reference, "李雷", second.id_number, "13900001111"]])
    logs = PiiAccessLog.objects.order_by("customer_id")
    assert [(log.user, log.customer_id, log.channel, log.reason) for log in logs] == [
        (officer, first.pk, "export", "Court order 2026-17"), (officer, second.pk, "export", "Court order 2026-17")]


def test_a_role_without_full_pii_cannot_reveal_and_the_auditor_cannot_export(client, customers):
    from accounts.resources import CustomerExportResource
    from privacy.models import PiiAccessLog

    officer = role_user("Credit officer")
    officer.groups.clear()
    from django.contrib.auth.models import Permission

    officer.user_permissions.add(Permission.objects.get(codename="export_customer"),
                                 Permission.objects.get(codename="view_customer"))
    client.force_login(officer)
    form = client.get(reverse("admin:accounts_customer_export")).content.decode()
    assert 'name="reveal"' not in form
    response = export(client, "accounts_customer_export", CustomerExportResource, ["reference", "name"], reveal="on",
                      reason="curious")
    assert response.status_code == 403 and not PiiAccessLog.objects.exists()

    client.force_login(role_user("Auditor"))
    assert client.get(reverse("admin:accounts_customer_export")).status_code == 403


def test_xlsx_exports_keep_amounts_as_numbers(client, db, business_date):
    from openpyxl import load_workbook

    from accounts.resources import CreditAccountExportResource

    CreditAccountFactory(fixed_limit=Decimal("12345.60"), used_amount=Decimal("0.05"))
    client.force_login(role_user("Finance"))
    response = export(client, "accounts_creditaccount_export", CreditAccountExportResource,
                      ["reference", "fixed_limit", "used_amount", "customer_name"], fmt="1")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.title == "Credit accounts"  # not "Tablib Dataset"
    header, row = [c.value for c in sheet[1]], [c for c in sheet[2]]
    assert header == ["Reference", "Customer name", "Fixed limit", "Used amount"]
    assert [c.value for c in row[2:]] == [12345.6, 0.05] and row[2].data_type == "n"
    assert [c.number_format for c in row[2:]] == ["#,##0.00", "#,##0.00"]
    assert row[1].value.startswith("C") and "*" in row[1].value


def test_overdue_accounts_by_bucket_worst_first(client, db, business_date):
    from accounts.resources import OverdueAccountExportResource

    current = CreditAccountFactory()
    m1 = CreditAccountFactory(bucket="M1", dpd=12, used_amount=Decimal("800.00"))
    m3 = CreditAccountFactory(bucket="M3", dpd=75, used_amount=Decimal("2500.00"))
    client.force_login(role_user("Collections manager"))
    rows = rows_of(export(client, "staff_overdueaccount_export", OverdueAccountExportResource,
                          ["bucket", "dpd", "reference", "used_amount", "customer_mobile"]))
    assert rows == [["Bucket", "DPD", "Reference", "Customer mobile", "Used amount"],
                    ["M3 (DPD 61–90)", "75", m3.reference, m3.customer.masked_mobile, "2500.00"],
                    ["M1 (DPD 1–30)", "12", m1.reference, m1.customer.masked_mobile, "800.00"]]
    assert current.reference not in str(rows)


def test_repayments_export_with_their_allocation(client, db, business_date):
    from installments.daily import run_through
    from installments.services import purchase_authorize, repayment_post
    from staff.resources import RepaymentExportResource
    from tests.factories_installments import SYSTEM, open_account

    business_date("2026-01-05")
    account = open_account(opened_on=dt.date(2026, 1, 1))
    purchase_authorize(account=account, amount=Decimal("1200.00"), merchant_order_id="o-1", tenor=3, actor=SYSTEM)
    run_through(dt.date(2026, 2, 14))
    repayment_post(account=account, amount=Decimal("500.00"), external_ref="=cmd|' /C calc'!A0", channel="wallet",
                   actor=SYSTEM)
    client.force_login(role_user("Finance"))
    rows = rows_of(export(client, "staff_repaymentexport_export", RepaymentExportResource,
                          ["external_ref", "amount", "late_fees", "installment_fees", "principal", "to_credit_balance"]))
    assert rows == [
        ["External reference", "Amount", "To late fees", "To installment fees", "To principal", "To credit balance"],
        ["'=cmd|' /C calc'!A0", "500.00", "0.80", "7.20", "400.00", "92.00"],
    ]


@pytest.mark.parametrize(
    "value, expected",
    [("=1+2", "'=1+2"), ("+86 138", "'+86 138"), ("-cmd", "'-cmd"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\n=1", "'\n=1"),
     ("-12.50", "-12.50"), ("12", "12"), ("王伟", "王伟"), (Decimal("-1.00"), Decimal("-1.00")), (None, None)],
)
def test_escape_formula(value, expected):
    assert escape_formula(value) == expected


def test_every_import_screen_uses_a_service_resource_and_every_export_an_explicit_one(rf, db):
    request = rf.get("/")
    request.user = role_user("Auditor")
    checked = 0
    for model, model_admin in admin.site._registry.items():
        if hasattr(model_admin, "get_import_resource_classes"):
            assert all(issubclass(c, ServiceResource) for c in model_admin.get_import_resource_classes(request)), model
            checked += 1
        if hasattr(model_admin, "get_export_resource_classes"):
            assert model_admin.resource_classes, f"{model._meta.label}: export without explicit resource classes"
            for resource in model_admin.get_export_resource_classes(request):
                assert resource._meta.fields, f"{model._meta.label}: {resource.__name__} must list its fields"
    assert checked == 4  # customers, campaign lists, bank files, storefront orders
    assert Customer.objects.count() == 0
