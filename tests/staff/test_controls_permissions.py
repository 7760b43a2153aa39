"""Controls (issue 12), screen by screen: refusals shown on the form, read-only pages, superuser-only
changes of roles, collectors scoped to their own cases, the privacy officer, bill installment.
``tests/staff/test_controls_enumeration.py`` proves the same rules for every screen and role at once."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import CreditAccount, CreditProduct
from core.admin_refusals import RefusalOnFormMixin
from tests.factories import CustomerFactory
from tests.factories_installments import no_risk_checks  # noqa: F401 (autouse: the engine without risk rules)
from tests.factories_staff import role_user


def login(client, role: str, username: str | None = None):
    user = role_user(role, username)
    client.force_login(user)
    return user


# --- refusals on the form -----------------------------------------------------------------------


def test_every_admin_that_saves_through_a_service_shows_refusals_on_the_form():
    missing = []
    for model, model_admin in admin.site._registry.items():
        cls = type(model_admin)
        saves = {name for name in ("save_model", "save_related")
                 if getattr(cls, name) is not getattr(admin.ModelAdmin, name)}
        from simple_history.admin import SimpleHistoryAdmin

        saves = {n for n in saves if getattr(cls, n) is not getattr(SimpleHistoryAdmin, n, None)}
        if saves and not isinstance(model_admin, RefusalOnFormMixin) and model._meta.app_label not in ("auth",):
            missing.append(model._meta.label_lower)
    assert not missing, f"admins saving through services without RefusalOnFormMixin: {missing}"


def test_an_account_on_an_inactive_product_is_refused_on_the_form(client, business_date):
    login(client, "Credit officer")
    customer = CustomerFactory()
    product = CreditProduct.objects.create(code="old", name="Old product", is_active=False)
    response = client.post(reverse("admin:accounts_creditaccount_add"), {
        "customer": customer.pk, "product": product.pk, "fixed_limit": "1000.00", "bill_day": "5",
        "reason": "opened by staff"})
    assert response.status_code == 200
    # "Add credit account" is a maker-checker form: the service's refusal is the form's own error.
    assert response.context["adminform"].form.non_field_errors() == ["Product old is not active."]
    assert "Product old is not active." in response.content.decode()
    assert not CreditAccount.objects.filter(customer=customer).exists()


def test_a_duplicate_blacklist_entry_is_refused_on_the_form(client, business_date):
    from risk.models import BlacklistEntry

    login(client, "Risk analyst")
    url = reverse("admin:risk_blacklistentry_add")
    data = {"kind": BlacklistEntry.Kind.choices[0][0], "value": "13800000000", "reason": "fraud ring"}
    assert client.post(url, data).status_code == 302
    response = client.post(url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == ["Refused: This value is already blacklisted."]
    assert BlacklistEntry.objects.count() == 1


def test_a_privacy_request_dated_in_the_future_is_refused_on_the_form(client, business_date):
    from privacy.models import DataSubjectRequest

    login(client, "Privacy officer")
    customer = CustomerFactory()
    response = client.post(reverse("admin:privacy_datasubjectrequest_add"), {
        "customer": customer.pk, "kind": "access", "received_on": "2026-01-06", "channel": "", "details": ""})
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "Refused: A request cannot be received in the future."]
    assert not DataSubjectRequest.objects.exists()


def test_the_administrator_creates_an_api_client_and_everyone_who_may_read_opens_it(client, business_date):
    from integrations.models import ApiClient

    login(client, "Administrator")
    response = client.post(reverse("admin:integrations_apiclient_add"),
                           {"name": "shop", "description": "the storefront", "throttle_rate": ""})
    assert response.status_code == 302
    api_client = ApiClient.objects.get(name="shop")
    page = client.get(reverse("admin:integrations_apiclient_change", args=[api_client.pk]))
    assert page.status_code == 200 and 'name="_save"' in page.content.decode()
    login(client, "Auditor")
    page = client.get(reverse("admin:integrations_apiclient_change", args=[api_client.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()


# --- read-only pages ----------------------------------------------------------------------------


@pytest.fixture
def plan(business_date):
    from installments.services import purchase_authorize
    from tests.factories_installments import SYSTEM, open_account

    account = open_account()
    purchase = purchase_authorize(account=account, amount=Decimal("1200.00"), merchant_order_id="o-1", tenor=3,
                                  actor=SYSTEM)
    return purchase.plans.get() if hasattr(purchase, "plans") else account.plans.get()


def test_the_auditor_reads_a_plan_without_a_save_button_and_cannot_post_a_change(client, plan):
    login(client, "Auditor")
    url = reverse("admin:installments_plan_change", args=[plan.pk])
    page = client.get(url).content.decode()
    assert plan.reference in page and 'name="_save"' not in page
    history_before = plan.history.count()
    assert client.post(url, {}).status_code == 403
    assert plan.history.count() == history_before and not LogEntry.objects.exists()


def test_nobody_saves_an_old_version_back_from_the_history_page_superusers_included(admin_client, plan):
    record = plan.history.order_by("history_id").first()
    url = reverse("admin:installments_plan_simple_history", args=[plan.pk, record.history_id])
    page = admin_client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    before = plan.history.count()
    assert admin_client.post(url, {}).status_code == 403
    assert plan.history.count() == before


# --- superuser status and roles -----------------------------------------------------------------


def test_the_administrator_manages_users_but_not_superuser_status_roles_or_permissions(client, db):
    admin_user = login(client, "Administrator", "admin1")
    colleague = role_user("Finance", "colleague")
    url = reverse("admin:auth_user_change", args=[colleague.pk])
    page = client.get(url).content.decode()
    assert 'name="first_name"' in page
    assert 'name="is_superuser"' not in page and 'name="groups"' not in page and 'name="user_permissions"' not in page
    credit_officer = Group.objects.get(name="Credit officer")
    response = client.post(url, {
        "username": "colleague", "first_name": "Li", "last_name": "", "email": "", "is_active": "on",
        "is_staff": "on", "is_superuser": "on", "groups": [credit_officer.pk], "last_login_0": "",
        "date_joined_0": "2026-01-05", "date_joined_1": "10:00:00"})
    assert response.status_code == 302
    colleague.refresh_from_db()
    assert colleague.first_name == "Li"  # the change itself went through…
    assert not colleague.is_superuser  # …but not the superuser flag
    assert list(colleague.groups.values_list("name", flat=True)) == ["Finance"]
    # their own account likewise
    client.post(reverse("admin:auth_user_change", args=[admin_user.pk]), {
        "username": "admin1", "is_active": "on", "is_staff": "on", "is_superuser": "on",
        "groups": [credit_officer.pk], "date_joined_0": "2026-01-05", "date_joined_1": "10:00:00"})
    admin_user.refresh_from_db()
    assert not admin_user.is_superuser and list(admin_user.groups.values_list("name", flat=True)) == ["Administrator"]


def test_the_administrator_cannot_touch_a_superuser_nor_edit_groups(client, db):
    login(client, "Administrator")
    root = get_user_model().objects.create_superuser("root", password=None)
    assert client.post(reverse("admin:auth_user_change", args=[root.pk]), {"username": "root2"}).status_code == 403
    assert client.post(reverse("admin:auth_user_password_change", args=[root.pk]),
                       {"password1": "x-Very-long-pass-2", "password2": "x-Very-long-pass-2"}).status_code == 403
    assert client.post(reverse("admin:auth_user_delete", args=[root.pk]), {"post": "yes"}).status_code == 403
    root.refresh_from_db()
    assert root.username == "root" and root.is_superuser
    group = Group.objects.get(name="Auditor")
    perms_before = set(group.permissions.values_list("pk", flat=True))
    assert client.post(reverse("admin:auth_group_change", args=[group.pk]),
                       {"name": "Auditor", "permissions": []}).status_code == 403
    assert client.post(reverse("admin:auth_group_add"), {"name": "Shadow"}).status_code == 403
    assert set(group.permissions.values_list("pk", flat=True)) == perms_before
    assert not Group.objects.filter(name="Shadow").exists()


def test_a_superuser_changes_roles_and_superuser_status(admin_client, db):
    colleague = role_user("Finance", "colleague")
    page = admin_client.get(reverse("admin:auth_user_change", args=[colleague.pk])).content.decode()
    assert 'name="is_superuser"' in page and 'name="groups"' in page


# --- collectors: their own cases' customers only ------------------------------------------------


@pytest.fixture
def two_cases(business_date):
    from debt_collection.models import Collector
    from tests.factories_collections import CaseFactory, billed_account, close_days, pay

    business_date(dt.date(2025, 10, 1))
    mine, theirs = billed_account(n=1), billed_account(n=2)
    close_days(dt.date(2025, 11, 2))
    pay(mine, "10.00", ref="r-mine")
    pay(theirs, "10.00", ref="r-theirs")
    collector_user = role_user("Collector", "collector1")
    collector = Collector.objects.create(user=collector_user, max_open_cases=10)
    CaseFactory(account=mine, customer=mine.customer, collector=collector, bucket="M1", dpd=5)
    return collector_user, mine, theirs


SCREENS = [
    ("accounts_customer", lambda a: a.customer),
    ("accounts_creditaccount", lambda a: a),
    ("installments_purchase", lambda a: a.purchases.get()),
    ("installments_statement", lambda a: a.statements.order_by("pk").first()),
    ("installments_repayment", lambda a: a.repayments.get()),
]


@pytest.mark.parametrize("screen, row_of", SCREENS, ids=[s for s, _ in SCREENS])
def test_a_collector_sees_only_their_own_cases_customers(client, two_cases, screen, row_of):
    collector_user, mine, theirs = two_cases
    client.force_login(collector_user)
    own, other = row_of(mine), row_of(theirs)
    assert own is not None and other is not None
    listing = client.get(reverse(f"admin:{screen}_changelist"))
    assert listing.status_code == 200
    assert [r.pk for r in listing.context["cl"].result_list] == [own.pk]
    assert client.get(reverse(f"admin:{screen}_change", args=[own.pk])).status_code == 200
    assert client.get(reverse(f"admin:{screen}_change", args=[other.pk])).status_code == 403


def test_a_manager_and_an_auditor_see_every_customer(client, two_cases):
    _, mine, theirs = two_cases
    for role in ("Collections manager", "Auditor"):
        login(client, role)
        listing = client.get(reverse("admin:accounts_creditaccount_changelist"))
        assert {r.pk for r in listing.context["cl"].result_list} == {mine.pk, theirs.pk}, role


# --- the privacy officer --------------------------------------------------------------------------


def test_the_privacy_officer_closes_the_accounts_and_carries_out_a_deletion(client, business_date):
    from privacy.models import DataSubjectRequest
    from tests.factories_privacy import make_account, make_customer

    officer = login(client, "Privacy officer")
    customer = make_customer()
    account = make_account(customer)
    response = client.post(reverse("admin:privacy_datasubjectrequest_add"), {
        "customer": customer.pk, "kind": "deletion", "received_on": "2026-01-05", "channel": "app", "details": ""})
    assert response.status_code == 302
    request = DataSubjectRequest.objects.get(customer=customer)
    erase = reverse("admin:privacy_datasubjectrequest_erase", args=[request.pk])
    client.post(erase, {"confirm": "on"})  # refused: the account is open
    request.refresh_from_db()
    assert request.is_open
    client.post(reverse("admin:accounts_creditaccount_changelist"), {
        "action": "close", "_selected_action": [account.pk], "_form_action_apply": "1", "reason": "PIPL deletion"})
    account.refresh_from_db()
    assert account.status == CreditAccount.Status.CLOSED
    assert account.status_changes.get(new_status="closed").actor == officer
    client.post(erase, {"confirm": "on"})
    request.refresh_from_db()
    assert not request.is_open and request.handled_by == officer


def test_the_privacy_officer_downloads_an_access_export(client, business_date):
    from core.actors import Actor
    from privacy.models import DataSubjectRequest, PiiAccessLog
    from privacy.services import data_request_create
    from tests.factories_privacy import WANG, make_customer

    officer = login(client, "Privacy officer")
    customer = make_customer()
    request = data_request_create(customer=customer, kind="access", actor=Actor.staff(officer))
    response = client.post(reverse("admin:privacy_datasubjectrequest_export", args=[request.pk]))
    assert response.status_code == 200 and WANG["id_number"] in response.content.decode()
    assert PiiAccessLog.objects.get().user == officer
    assert DataSubjectRequest.objects.get(pk=request.pk).status == DataSubjectRequest.Status.COMPLETED


# --- bill installment -----------------------------------------------------------------------------


@pytest.fixture
def statement(business_date):
    from tests.factories_collections import billed_account, close_days

    business_date(dt.date(2025, 10, 1))
    account = billed_account(amount="1200.00")
    close_days(dt.date(2025, 11, 2))
    return account.statements.filter(closing_balance__gt=0).get()


@pytest.mark.parametrize("role, allowed", [("Finance", True), ("Auditor", False), ("Collections manager", False),
                                           ("Risk analyst", False), ("Administrator", False)])
def test_only_finance_turns_a_bill_into_an_installment_plan(client, statement, role, allowed):
    from installments.models import Plan

    login(client, role)
    url = reverse("admin:installments_statement_changelist")
    page = client.get(url).content.decode()
    assert ('value="install"' in page) is allowed
    plans_before = Plan.objects.count()
    client.post(url, {"action": "install", "_selected_action": [statement.pk], "_form_action_apply": "1",
                      "tenor": "3", "amount": ""})
    assert Plan.objects.count() == plans_before + (1 if allowed else 0)
