"""The credit engine's admin: lists at a fixed number of queries, masked names, actions through services
(with a reason where money is given back), terms refused on the form above the APR ceiling."""
import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.models import AuditEvent
from core.business_date import set_business_date
from installments.daily import run_day, run_through
from installments.models import (
    Adjustment, Charge, Plan, ProductTerms, Purchase, Refund, Repayment, Statement, TenorRate, WriteOff,
)
from installments.services import purchase_authorize, repayment_post
from ledger.models import JournalEntry, LedgerAccount
from tests.factories_installments import SYSTEM, D, baitiao, books_clean, money_snapshot, no_risk_checks, open_account  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client, django_user_model, business_date):
    business_date("2026-01-05")
    user = django_user_model.objects.create_superuser(username="finance", password="x-Very-long-pass-1", email="f@example.com")
    client.force_login(user)
    return client


def _portfolio(n):
    ids = []
    for i in range(n):
        account = open_account(limit="5000.00", opened_on=dt.date(2026, 1, 1))
        purchase_authorize(account=account, amount=D("300.00"), merchant_order_id=f"a-{i}", actor=SYSTEM)
        purchase_authorize(account=account, amount=D("1200.00"), merchant_order_id=f"b-{i}", tenor=6, actor=SYSTEM)
        repayment_post(account=account, amount=D("50.00"), external_ref=f"r-{account.pk}", channel="wallet", actor=SYSTEM)
        ids.append(account.pk)
    return ids


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries), response


MODELS = [Purchase, Plan, Statement, Repayment, Refund, Charge, WriteOff, Adjustment, JournalEntry, LedgerAccount, ProductTerms]


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_changelists_use_a_fixed_number_of_queries(admin_client_, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    _portfolio(1)
    run_through(dt.date(2026, 2, 1))
    few, _ = _queries(admin_client_, url)
    set_business_date(dt.date(2026, 1, 5))
    run_day(dt.date(2026, 2, 1), account_ids=_portfolio(4))
    many, response = _queries(admin_client_, url)
    assert many == few
    if model in (Purchase, Statement, Repayment):
        body = response.content.decode()
        assert "C*******" in body and "Customer 1" not in body  # masked names


def test_change_pages_render_and_plan_shows_apr_first(admin_client_):
    _portfolio(1)
    run_through(dt.date(2026, 2, 1))
    plan = Plan.objects.get(kind="purchase_installment")
    body = admin_client_.get(reverse("admin:installments_plan_change", args=[plan.pk])).content.decode()
    assert body.index("APR 12.24 %") < body.index("0.60 % of the original principal")
    for model in (Purchase, Statement, Repayment, JournalEntry):
        obj = model.objects.first()
        assert admin_client_.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])).status_code == 200


def test_post_a_repayment_through_the_admin(admin_client_):
    account = open_account(limit="1000.00")
    purchase_authorize(account=account, amount=D("300.00"), merchant_order_id="o", actor=SYSTEM)
    url = reverse("admin:installments_repayment_add")
    data = {"account_reference": account.reference, "amount_in": "120.00", "external_ref": "bank-77", "channel": "bank_file",
            "received_on": "2026-01-05"}
    assert admin_client_.post(url, data).status_code == 302
    rep = Repayment.objects.get(external_ref="bank-77")
    assert (rep.amount, rep.actor.username) == (D("120.00"), "finance")
    before = money_snapshot()
    response = admin_client_.post(url, data, follow=True)
    assert "already posted" in response.content.decode()
    assert money_snapshot() == before
    bad = admin_client_.post(url, {**data, "external_ref": "bank-78", "channel": "pigeon"})
    assert bad.status_code == 200 and not Repayment.objects.filter(external_ref="bank-78").exists()
    books_clean()


def test_reverse_action_needs_a_reason_then_reverses(admin_client_):
    account = open_account(limit="1000.00")
    purchase_authorize(account=account, amount=D("300.00"), merchant_order_id="o", actor=SYSTEM)
    rep = repayment_post(account=account, amount=D("100.00"), external_ref="r-1", channel="card", actor=SYSTEM)
    url = reverse("admin:installments_repayment_changelist")
    before = money_snapshot()
    response = admin_client_.post(url, {"action": "reverse", "_selected_action": [rep.pk], "_form_action_apply": "1", "reason": ""})
    assert response.status_code == 200 and money_snapshot() == before
    response = admin_client_.post(url, {"action": "reverse", "_selected_action": [rep.pk], "_form_action_apply": "1",
                                        "reason": "chargeback"})
    assert response.status_code == 302
    rep.refresh_from_db()
    assert (rep.status, rep.reversal_reason) == ("reversed", "chargeback")
    books_clean()


def test_refund_action_with_reason(admin_client_):
    account = open_account(limit="1000.00")
    p = purchase_authorize(account=account, amount=D("300.00"), merchant_order_id="o", actor=SYSTEM)
    url = reverse("admin:installments_purchase_changelist")
    before = money_snapshot()
    admin_client_.post(url, {"action": "refund", "_selected_action": [p.pk], "_form_action_apply": "1", "amount": "100.00",
                             "excess_to": "credit_balance", "reason": ""})
    assert money_snapshot() == before
    response = admin_client_.post(url, {"action": "refund", "_selected_action": [p.pk], "_form_action_apply": "1",
                                        "amount": "400.00", "excess_to": "credit_balance", "reason": "too much"}, follow=True)
    assert "Refused" in response.content.decode() and money_snapshot() == before
    admin_client_.post(url, {"action": "refund", "_selected_action": [p.pk], "_form_action_apply": "1", "amount": "100.00",
                             "excess_to": "credit_balance", "reason": "one item back"})
    assert Refund.objects.get().amount == D("100.00")
    books_clean()


def test_settle_action(admin_client_):
    account = open_account(limit="10000.00")
    plan = purchase_authorize(account=account, amount=D("6000.00"), merchant_order_id="o", tenor=6, actor=SYSTEM).plan
    url = reverse("admin:installments_plan_changelist")
    response = admin_client_.post(url, {"action": "quote_settlement", "_selected_action": [plan.pk]}, follow=True)
    assert "¥6,000.00" in response.content.decode()
    admin_client_.post(url, {"action": "settle", "_selected_action": [plan.pk], "_form_action_apply": "1", "external_ref": ""})
    # Issue 23: ¥6,000.00 entered by hand is above ¥5,000.00: it waits until a second person approves it.
    assert Plan.objects.get(pk=plan.pk).status == "active"
    from approvals.models import ApprovalRequest
    from approvals.services import approval_approve
    from tests.factories_staff import role_user

    approval_approve(approval=ApprovalRequest.objects.get(kind="installments.plan_settlement"),
                     user=role_user("Finance", "checker"))
    assert Plan.objects.get(pk=plan.pk).status == "settled"
    books_clean()


def _terms_post(terms, rates, **overrides):
    data = {
        "grace_days": terms.grace_days, "late_fee_daily_rate": terms.late_fee_daily_rate,
        "late_fee_daily_minimum": terms.late_fee_daily_minimum, "deferral_daily_rate": terms.deferral_daily_rate,
        "minimum_payment_rate": terms.minimum_payment_rate, "due_offset_days": terms.due_offset_days,
        "settlement_policy": terms.settlement_policy, "bill_installment_minimum": terms.bill_installment_minimum,
        "apr_ceiling": terms.apr_ceiling, "allocation_strategy": terms.allocation_strategy,
        "value_date_max_days": terms.value_date_max_days,
        "hold_expiry_days": terms.hold_expiry_days, "repayment_credit_tolerance": terms.repayment_credit_tolerance,
        "tenor_rates-TOTAL_FORMS": len(rates), "tenor_rates-INITIAL_FORMS": len(rates),
        "tenor_rates-MIN_NUM_FORMS": 0, "tenor_rates-MAX_NUM_FORMS": 1000,
    }
    for i, rate in enumerate(rates):
        data.update({f"tenor_rates-{i}-id": rate.pk, f"tenor_rates-{i}-terms": terms.pk, f"tenor_rates-{i}-tenor": rate.tenor,
                     f"tenor_rates-{i}-fee_rate": overrides.pop(f"rate_{rate.tenor}", rate.fee_rate)})
    data.update(overrides)
    return data


def test_terms_form_refuses_a_rate_above_the_ceiling_and_saves_through_the_service(admin_client_):
    terms = ProductTerms.objects.get(product=baitiao())
    rates = list(terms.tenor_rates.order_by("tenor"))
    url = reverse("admin:installments_productterms_change", args=[terms.pk])
    response = admin_client_.post(url, _terms_post(terms, rates, rate_24="0.020000"))
    body = response.content.decode()
    assert response.status_code == 200 and "tenor 24" in body and "above the 24.00 % ceiling" in body
    assert TenorRate.objects.get(terms=terms, tenor=24).fee_rate == Decimal("0.005000")
    response = admin_client_.post(url, _terms_post(terms, rates, rate_12="0.004000", grace_days=5))
    assert response.status_code == 302
    terms.refresh_from_db()
    assert terms.grace_days == 5 and TenorRate.objects.get(terms=terms, tenor=12).fee_rate == Decimal("0.004000")
    assert AuditEvent.objects.filter(action="product_terms_update").count() == 1
