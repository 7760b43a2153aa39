"""Cash-loan screens per role (least privilege): the product form (administrator; an APR above the ceiling
is refused on the form, nothing saved), the loans list (read by the engine's readers), early repayment
(finance, through the plans' settle permission), refused to everyone else with nothing changed."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from cashloans.models import CashLoan, CashLoanProduct
from cashloans.services import cash_loan_draw
from installments.models import Plan
from staff.roles import ROLES
from tests.factories_installments import SYSTEM, baitiao, books_clean, money_snapshot, no_risk_checks, open_account  # noqa: F401
from tests.factories_staff import role_user

pytestmark = pytest.mark.django_db
D = Decimal
ROLE_NAMES = [r.name for r in ROLES]


@pytest.fixture
def loan(business_date):
    business_date("2026-01-05")
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    return cash_loan_draw(account=account, amount=D("10000.00"), tenor=12, card_number="6222020200112233445", purpose="travel", actor=SYSTEM)


def client_for(role_name: str) -> Client:
    client = Client()
    client.force_login(role_user(role_name))
    return client


CAN_READ_LOANS = {"Credit officer", "Finance", "Collections manager", "Risk analyst", "Auditor", "Administrator"}
CAN_SETTLE = {"Finance"}
CAN_EDIT_PRODUCT = {"Administrator"}


@pytest.mark.parametrize("role_name", ROLE_NAMES)
def test_loan_list_and_detail_by_role(loan, role_name):
    client = client_for(role_name)
    listing = client.get(reverse("admin:cashloans_cashloan_changelist"))
    detail = client.get(reverse("admin:cashloans_cashloan_change", args=[loan.pk]))
    if role_name in CAN_READ_LOANS:
        assert listing.status_code == 200 and loan.reference in listing.content.decode()
        assert detail.status_code == 200
        page = detail.content.decode()
        assert "**** **** **** 3445" in page and "6222020200112233445" not in page
        assert "10.90" in page
    else:
        assert listing.status_code == 403 and detail.status_code == 403


@pytest.mark.parametrize("role_name", ROLE_NAMES)
def test_early_repayment_action_only_for_finance(loan, role_name, business_date):
    business_date("2026-01-20")
    client = client_for(role_name)
    before = money_snapshot()
    client.post(reverse("admin:cashloans_cashloan_changelist"),
                {"action": "settle", "_selected_action": [loan.pk], "_form_action_apply": "1", "external_ref": ""})
    plan = Plan.objects.get(pk=loan.plan_id)
    if role_name in CAN_SETTLE:
        # Issue 23: ¥10,045.00 entered by hand is above ¥5,000.00: a second person approves it.
        from approvals.models import ApprovalRequest
        from approvals.services import approval_approve

        assert plan.status == "active"
        approval_approve(approval=ApprovalRequest.objects.get(kind="installments.plan_settlement"),
                         user=role_user("Finance", "checker"))
        plan.refresh_from_db()
        assert plan.status == "settled"
        assert plan.settlements.get().amount == D("10045.00")  # 10,000 + 15 days × 0.03 %
        books_clean()
    else:
        assert plan.status == "active" and money_snapshot() == before


def _product_post(product, **changes):
    data = {"is_active": "on" if product.is_active else "", "daily_rate": product.daily_rate, "tenors": "[3, 6, 12]",
            "min_amount": product.min_amount, "max_amount": product.max_amount, "cash_share": product.cash_share,
            "apr_ceiling": product.apr_ceiling}
    data.update(changes)
    return data


@pytest.mark.parametrize("role_name", ROLE_NAMES)
def test_product_change_by_role_and_the_apr_ceiling_on_the_form(business_date, role_name):
    business_date("2026-01-05")
    product = CashLoanProduct.objects.get(product=baitiao())
    url = reverse("admin:cashloans_cashloanproduct_change", args=[product.pk])
    client = client_for(role_name)
    refused = client.post(url, _product_post(product, daily_rate="0.000700"))
    assert CashLoanProduct.objects.get(pk=product.pk).daily_rate == D("0.000300")
    response = client.post(url, _product_post(product, daily_rate="0.000400"))
    saved = CashLoanProduct.objects.get(pk=product.pk).daily_rate
    if role_name in CAN_EDIT_PRODUCT:
        assert refused.status_code == 200 and "ceiling" in refused.content.decode()
        assert response.status_code == 302 and saved == D("0.000400")
    else:
        assert response.status_code == 403 and saved == D("0.000300")


def test_no_one_deletes_a_product_or_a_loan(loan):
    client = client_for("Administrator")
    assert client.get(reverse("admin:cashloans_cashloan_delete", args=[loan.pk])).status_code == 403
    product = CashLoanProduct.objects.get(product=baitiao())
    assert client.get(reverse("admin:cashloans_cashloanproduct_delete", args=[product.pk])).status_code == 403
    assert CashLoan.objects.count() == 1


@pytest.mark.parametrize("role_name", ROLE_NAMES)
def test_account_cash_limit_set_only_by_a_credit_officer(loan, role_name):
    from cashloans.models import AccountCashLimit

    client = client_for(role_name)
    response = client.post(reverse("admin:cashloans_accountcashlimit_add"),
                           {"account": loan.account_id, "cash_limit": "3000.00", "reason": "cash-out risk"})
    row = AccountCashLimit.objects.filter(account_id=loan.account_id).first()
    if role_name == "Credit officer":
        assert response.status_code == 302 and row.cash_limit == D("3000.00") and row.reason == "cash-out risk"
        refused = client.post(reverse("admin:cashloans_accountcashlimit_change", args=[row.pk]),
                              {"cash_limit": "-5.00", "reason": "x"})
        assert refused.status_code == 200 and AccountCashLimit.objects.get(pk=row.pk).cash_limit == D("3000.00")
    else:
        assert response.status_code == 403 and row is None
