"""Issue 12: limits within policy on every path (service, admin action, admin add form, both imports,
campaign grant, API). Each refusal has the same code and message, and nothing changes."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts import services
from accounts.limits import LimitPolicyError
from accounts.models import CreditAccount, LimitChange, TemporaryLimit
from approvals.models import ApprovalRequest
from core.actors import Actor
from core.models import AuditEvent
from risk.models import Campaign, CampaignGrant, RiskPolicy
from risk.services import campaign_grant, campaign_preview
from tests.factories import CreditAccountFactory, CreditProductFactory, CustomerFactory
from tests.factories_staff import csv_bytes, format_index, role_user, upload

pytestmark = pytest.mark.django_db
D = Decimal
SYSTEM = Actor.system("test")
ACCOUNTS_URL = reverse("admin:accounts_creditaccount_changelist")
ABOVE_MAX = "A fixed limit of ¥500,000.00 is above the policy maximum of ¥50,000.00."


def state() -> dict:
    """Everything a limit path could change."""
    return {
        "accounts": sorted(CreditAccount.objects.values_list("reference", "fixed_limit", "used_amount", "status")),
        "temporary": sorted(TemporaryLimit.objects.values_list("account_id", "amount", "starts_on", "ends_on")),
        "limit_changes": LimitChange.objects.count(),
        "approvals": ApprovalRequest.objects.count(),
        "audit": AuditEvent.objects.count(),
        "grants": CampaignGrant.objects.count(),
    }


@pytest.fixture
def officer(business_date):
    return role_user("Credit officer")


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- the rule, in the service every path calls -----------------------------------------------------


@pytest.mark.parametrize("actor", [SYSTEM, None], ids=["system-review", "staff"])
def test_no_fixed_limit_above_the_policy_maximum_for_anyone(staff, actor):
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    before = state()
    with pytest.raises(LimitPolicyError) as exc:
        change = services.account_change_fixed_limit if actor else services.limit_change_submit  # a person: the gate
        change(account=account, new_limit=D("500000.00"), actor=actor or staff, reason="r")
    assert (exc.value.code, exc.value.message) == ("limit_above_maximum", ABOVE_MAX)
    assert exc.value.details == {"new_limit": "500000.00", "max_limit": "50000.00"}
    assert state() == before


def test_the_maximum_is_the_risk_policys_and_staff_change_it(staff):
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    RiskPolicy.objects.update_or_create(singleton=1, defaults={"max_limit": D("12000.00")})
    with pytest.raises(LimitPolicyError) as exc:
        services.limit_change_submit(account=account, new_limit=D("12000.01"), actor=staff, reason="r")
    assert exc.value.details["max_limit"] == "12000.00"
    services.limit_change_submit(account=account, new_limit=D("12000.00"), actor=staff, reason="r")
    assert CreditAccount.objects.get(pk=account.pk).fixed_limit == D("12000.00")


def test_staff_never_cut_below_what_is_used_a_review_of_an_overdue_account_may(staff):
    account = CreditAccountFactory(fixed_limit=D("10000.00"), used_amount=D("9500.00"))
    before = state()
    with pytest.raises(LimitPolicyError) as exc:
        services.limit_change_submit(account=account, new_limit=D("9000.00"), actor=staff, reason="cut")
    assert (exc.value.code, exc.value.message) == (
        "limit_below_used", "A fixed limit of ¥9,000.00 is below what is used (¥9,500.00).")
    assert state() == before
    services.limit_change_submit(account=account, new_limit=D("9500.00"), actor=staff, reason="cut to used")
    services.account_change_fixed_limit(account=account, new_limit=D("7000.00"), actor=SYSTEM, reason="review: overdue")
    assert CreditAccount.objects.get(pk=account.pk).fixed_limit == D("7000.00")


def test_temporary_limits_in_force_at_once_stay_within_the_share_of_the_fixed_limit(staff, business_date):
    from approvals.services import approval_approve

    account = CreditAccountFactory(fixed_limit=D("20000.00"))
    start, end = dt.date(2026, 6, 1), dt.date(2026, 6, 30)
    first = services.temporary_limit_submit(account=account, amount=D("15000.00"), starts_on=start, ends_on=end,
                                            actor=staff, reason="618")
    approval_approve(approval=first.request, user=role_user("Credit officer", "checker"))  # 75 % waits (issue 23)
    before = state()
    with pytest.raises(LimitPolicyError) as exc:
        services.temporary_limit_submit(account=account, amount=D("5000.01"), starts_on=end, ends_on=end + dt.timedelta(days=5),
                                        actor=staff, reason="overlaps one day")
    assert exc.value.code == "temporary_limit_above_maximum"
    assert exc.value.message == ("Temporary limits of ¥20,000.01 in force at once are above the policy maximum of "
                                 "¥20,000.00 (100 % of the fixed limit).")
    assert state() == before
    # the day after the first one ends, the whole share is free again
    services.temporary_limit_submit(account=account, amount=D("20000.00"), starts_on=end + dt.timedelta(days=1),
                                    ends_on=end + dt.timedelta(days=5), actor=staff, reason="next campaign")


def test_opening_an_account_above_the_maximum_is_refused(staff):
    customer, product = CustomerFactory(), CreditProductFactory()
    before = state()
    with pytest.raises(LimitPolicyError) as exc:
        services.account_open_submit(customer=customer, product=product, fixed_limit=D("500000.00"), actor=staff)
    assert exc.value.message == ABOVE_MAX
    assert state() == before


# --- admin: the limit action, the temporary-limit action, "Add credit account" ----------------------


def test_admin_adjust_limit_above_the_maximum_is_refused_with_the_reason(officer_client):
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    before = state()
    response = officer_client.post(ACCOUNTS_URL, {
        "action": "adjust_limit", "_selected_action": [account.pk], "_form_action_apply": "1",
        "new_limit": "500000.00", "reason": "VIP"}, follow=True)
    assert f"Refused — {account}: {ABOVE_MAX}" in _messages(response)
    assert state() == before


def test_admin_temporary_limit_of_900000_is_refused(officer_client):
    account = CreditAccountFactory(fixed_limit=D("20000.00"))
    before = state()
    response = officer_client.post(ACCOUNTS_URL, {
        "action": "grant_temporary_limit", "_selected_action": [account.pk], "_form_action_apply": "1",
        "amount": "900000.00", "starts_on": "2026-06-01", "ends_on": "2026-06-30", "campaign": "618", "reason": "r"},
        follow=True)
    assert [m for m in _messages(response) if m.startswith("Refused")] == [
        f"Refused — {account}: Temporary limits of ¥900,000.00 in force at once are above the policy maximum of "
        "¥20,000.00 (100 % of the fixed limit)."]
    assert state() == before


def test_admin_add_credit_account_shows_the_refusal_on_the_form(officer_client):
    customer, product = CustomerFactory(), CreditProductFactory()
    before = state()
    response = officer_client.post(reverse("admin:accounts_creditaccount_add"), {
        "customer": customer.pk, "product": product.pk, "fixed_limit": "500000.00", "bill_day": "1",
        "reason": "walk-in"})
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [ABOVE_MAX]
    assert state() == before


# --- imports ----------------------------------------------------------------------------------------


def _import(client, url_name: str, header, rows):
    """The dry run of an import (a refused line means nothing can be confirmed)."""
    return client.post(reverse(url_name), {"import_file": upload("f.csv", csv_bytes(header, rows)),
                                           "format": format_index("f.csv")})


def test_customer_import_line_above_the_maximum_is_refused_and_nothing_saved(officer_client):
    from core.identity import make_id_number

    CreditProductFactory(code="baitiao")
    rows = [["王伟", make_id_number("310115", dt.date(1990, 1, 1), 1), "13800000001", "baitiao", "5000", "", ""],
            ["李娜", make_id_number("310115", dt.date(1990, 1, 2), 2), "13800000002", "baitiao", "500000", "", ""]]
    before = state()
    response = _import(officer_client, "admin:accounts_customer_import",
                       ["name", "id_number", "mobile", "product", "fixed_limit", "bill_day", "consents"], rows)
    report = response.context["report"]
    assert not report.ok and "confirm_form" not in response.context
    assert [(p.line, p.message) for p in report.errors] == [(3, ABOVE_MAX)]
    assert state() == before


def test_campaign_list_granting_900000_is_refused_and_nothing_saved(officer_client):
    account = CreditAccountFactory(fixed_limit=D("20000.00"))
    before = state()
    response = _import(officer_client, "admin:staff_temporarylimitcampaign_import",
                       ["account_reference", "amount", "starts_on", "ends_on", "campaign"],
                       [[account.reference, "900000.00", "2026-11-01", "2026-11-11", "Double 11"]])
    report = response.context["report"]
    assert not report.ok
    assert [(p.line, p.message) for p in report.errors] == [(2, (
        "Temporary limits of ¥900,000.00 in force at once are above the policy maximum of ¥20,000.00 "
        "(100 % of the fixed limit)."))]
    assert state() == before


# --- campaigns -------------------------------------------------------------------------------------


def test_a_campaign_share_of_10_is_refused_all_or_nothing(staff_user, business_date):
    from accounts.services import consent_record

    accounts = [CreditAccountFactory(fixed_limit=D("10000.00"), opened_on=dt.date(2025, 6, 1)) for _ in range(2)]
    for account in accounts:
        consent_record(customer=account.customer, kind="marketing", version="1.0", granted=True)
    campaign = Campaign.objects.create(name="Ten times", amount_kind="share", amount_value=D("10"),
                                       starts_on=dt.date(2026, 1, 5), ends_on=dt.date(2026, 2, 5))
    campaign_preview(campaign=campaign, user=staff_user)
    before = state()
    with pytest.raises(LimitPolicyError) as exc:
        campaign_grant(campaign=campaign, user=staff_user)
    first = min(accounts, key=lambda a: a.pk)
    assert exc.value.code == "temporary_limit_above_maximum"
    assert exc.value.message == (
        f"Account {first.reference}: Temporary limits of ¥100,000.00 in force at once are above the policy maximum of "
        "¥10,000.00 (100 % of the fixed limit). Nothing was granted.")
    assert state() == before
    campaign.refresh_from_db()
    assert campaign.status == "draft"


# --- the API: an application whose band limit is above the policy maximum ---------------------------


def test_api_application_above_the_maximum_is_refused_with_the_same_code(business_date):
    """The score band grants 20,000; the policy now says 10,000 at most: the API answers with the
    policy's code and message, and nothing is saved."""
    from accounts.models import Customer
    from risk.models import Application
    from tests.factories_api import api_for
    from tests.factories_risk import id_number_for_age, scorecard_version, segment_table
    from tests.api.test_api_applications import CONSENTS, URL

    CreditProductFactory()
    scorecard_version(table=segment_table({"prime": 700}))
    http = api_for(["applications:write"])[0]
    RiskPolicy.objects.update_or_create(singleton=1, defaults={"max_limit": D("10000.00")})
    before = (state(), Application.objects.count(), Customer.objects.count())
    body = {"name": "李四", "id_number": id_number_for_age(35, 1), "mobile": "13900000001", "device_id": "dev-1",
            "consents": CONSENTS, "features": {"segment": "prime"}}
    response = http.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "limit_above_maximum"
    assert response.json()["error"]["message"] == (
        "A fixed limit of ¥20,000.00 is above the policy maximum of ¥10,000.00.")
    assert (state(), Application.objects.count(), Customer.objects.count()) == before
