"""Audit: sensitive actions leave an AuditEvent with actor and reason; the audit trail and the
personal-data access log cannot be added, changed or deleted from the admin by anyone —
superusers included; role changes (groups, permissions, staff/superuser flags) are audited;
admin lists show personal data masked."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import services as account_services
from core.actors import Actor
from core.models import AuditEvent
from privacy.masking import customer_pii_for
from privacy.models import PiiAccessLog
from tests.factories_installments import no_risk_checks  # noqa: F401 (fixture)
from tests.factories_privacy import WANG, make_account, make_customer, staff_user  # noqa: F401 (fixture)


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", password=None)


@pytest.fixture
def root_client(client, root):
    client.force_login(root)
    return client


@pytest.fixture
def customer(business_date):
    return make_customer()


@pytest.fixture
def events(customer, staff, root):
    account = make_account(customer)
    account_services.limit_change_submit(account=account, new_limit=Decimal("15000.00"), actor=staff,
                                         reason="good payer")
    customer_pii_for(root, customer, reveal=True, reason="complaint 12")
    return AuditEvent.objects.order_by("pk")


# --- strictly read-only admin ---------------------------------------------------------------------


@pytest.mark.parametrize("model", [AuditEvent, PiiAccessLog], ids=["audit-event", "pii-access-log"])
def test_nobody_can_add_change_or_delete_from_the_admin(root_client, events, model):
    obj = model.objects.first()
    before = list(model.objects.values())
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    assert root_client.get(reverse(f"{name}_changelist")).status_code == 200
    assert root_client.get(reverse(f"{name}_add")).status_code == 403
    assert root_client.post(reverse(f"{name}_add"), {"reason": "forged"}).status_code == 403
    assert root_client.get(reverse(f"{name}_delete", args=[obj.pk])).status_code == 403
    assert root_client.post(reverse(f"{name}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    change = root_client.post(reverse(f"{name}_change", args=[obj.pk]), {"reason": "rewritten", "action": "x"})
    assert change.status_code == 403
    bulk = root_client.post(reverse(f"{name}_changelist"),
                            {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})
    assert bulk.status_code in (200, 302)
    page = root_client.get(reverse(f"{name}_change", args=[obj.pk]))
    assert page.status_code == 200  # a read-only view
    assert 'name="_save"' not in page.content.decode()
    assert list(model.objects.values()) == before


@pytest.mark.parametrize("model", [AuditEvent, PiiAccessLog], ids=["audit-event", "pii-access-log"])
def test_the_model_admin_grants_no_write_even_to_a_superuser(rf, root, model):
    from django.contrib import admin

    model_admin = admin.site._registry[model]
    request = rf.get("/")
    request.user = root
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert "delete_selected" not in model_admin.get_actions(request)


def test_the_audit_changelist_runs_a_fixed_number_of_queries(root_client, customer, staff):
    url = reverse("admin:core_auditevent_changelist")
    account = make_account(customer)
    account_services.limit_change_submit(account=account, new_limit=Decimal("1.00"), actor=staff, reason="a")
    with CaptureQueriesContext(connection) as few:
        assert root_client.get(url).status_code == 200
    for n in range(2, 12):
        account_services.limit_change_submit(account=account, new_limit=Decimal(n), actor=staff, reason="b")
    with CaptureQueriesContext(connection) as many:
        assert root_client.get(url).status_code == 200
    assert len(many) == len(few)


# --- sensitive actions are audited with actor and reason ----------------------------------------------


def test_limit_change_and_unmask_are_audited_with_actor_and_reason(events, staff, root):
    limit = events.get(action="limit_change")
    assert (limit.actor, limit.reason, limit.old, limit.new) == (staff.user, "good payer", "10000.00", "15000.00")
    unmask = events.get(action="pii_unmask")
    assert (unmask.actor, unmask.reason) == (root, "complaint 12")


# --- role changes ---------------------------------------------------------------------------------------


def test_group_membership_changes_are_audited(staff_user):
    collectors = Group.objects.create(name="collector")
    finance = Group.objects.create(name="finance")
    staff_user.groups.add(collectors)
    staff_user.groups.add(finance)
    staff_user.groups.remove(collectors)
    staff_user.groups.clear()
    finance.user_set.add(staff_user)  # from the group's side
    rows = list(AuditEvent.objects.filter(action="role_change", object_id=str(staff_user.pk)).order_by("pk")
                .values_list("old", "new"))
    assert rows == [
        ({"groups": []}, {"groups": ["collector"]}),
        ({"groups": ["collector"]}, {"groups": ["collector", "finance"]}),
        ({"groups": ["collector", "finance"]}, {"groups": ["finance"]}),
        ({"groups": ["finance"]}, {"groups": []}),
        ({"groups": []}, {"groups": ["finance"]}),
    ]
    event = AuditEvent.objects.filter(action="role_change").first()
    assert event.actor is None and event.actor_rule  # outside a request: says so


def test_direct_permissions_and_flags_are_audited(staff_user):
    perm = Permission.objects.get(codename="view_full_pii")
    staff_user.user_permissions.add(perm)
    staff_user.is_superuser = True
    staff_user.save()
    staff_user.last_name = "Li"
    staff_user.save()  # not a role change
    changes = list(AuditEvent.objects.filter(action="role_change").order_by("pk").values_list("old", "new"))
    assert changes[0] == ({"permissions": []}, {"permissions": ["accounts.view_full_pii"]})
    assert changes[1][0]["is_superuser"] is False and changes[1][1]["is_superuser"] is True
    assert len(changes) == 2


def test_a_role_change_in_the_admin_names_the_staff_user(root_client, root, staff_user):
    group = Group.objects.create(name="credit officer")
    url = reverse("admin:auth_user_change", args=[staff_user.pk])
    page = root_client.get(url)
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("groups", "user_permissions",
                                                                               "password", "last_login")}
    data.update({"groups": [group.pk], "date_joined_0": staff_user.date_joined.strftime("%Y-%m-%d"),
                 "date_joined_1": staff_user.date_joined.strftime("%H:%M:%S"), "is_staff": "on", "is_active": "on"})
    response = root_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    event = AuditEvent.objects.get(action="role_change", object_id=str(staff_user.pk))
    assert (event.actor, event.old, event.new) == (root, {"groups": []}, {"groups": ["credit officer"]})
    assert "POST" in event.reason


# --- masking in the lead's admin lists ----------------------------------------------------------------


def test_customer_and_account_admin_pages_show_personal_data_masked(root_client, customer):
    account = make_account(customer)
    pages = [
        reverse("admin:accounts_customer_changelist"),
        reverse("admin:accounts_customer_change", args=[customer.pk]),
        reverse("admin:accounts_creditaccount_changelist"),
        reverse("admin:accounts_creditaccount_change", args=[account.pk]),
        reverse("admin:privacy_datasubjectrequest_changelist"),
        reverse("admin:privacy_piiaccesslog_changelist"),
    ]
    for url in pages:
        response = root_client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        for value in (WANG["id_number"], WANG["mobile"], WANG["name"], WANG["address"]):
            assert value not in body, (url, value)
    body = root_client.get(pages[0]).content.decode()
    assert customer.masked_mobile in body and customer.masked_id_number in body and customer.masked_name in body


def test_the_customer_change_page_masks_the_email(root_client, customer):
    body = root_client.get(reverse("admin:accounts_customer_change", args=[customer.pk])).content.decode()
    assert WANG["email"] not in body


def test_refunds_and_repayment_reversals_are_audited_with_actor_and_reason(business_date, staff, no_risk_checks):
    from installments.services import purchase_authorize, refund_submit, repayment_post, repayment_reverse

    account = make_account(make_customer())
    purchase = purchase_authorize(account=account, amount=Decimal("500.00"), merchant_order_id="o-1",
                                  actor=Actor.system("test"))
    refund_submit(purchase=purchase, amount=Decimal("100.00"), actor=staff, reason="item returned")  # via the gate
    repayment = repayment_post(account=account, amount=Decimal("50.00"), external_ref="bank-9",
                               channel="bank_transfer", actor=Actor.system("test"))
    repayment_reverse(repayment=repayment, actor=staff, reason="chargeback")
    refund = AuditEvent.objects.get(action="purchase_refund")
    assert (refund.actor, refund.reason, refund.new) == (staff.user, "item returned", "100.00")
    reversal = AuditEvent.objects.get(action="repayment_reverse")
    assert (reversal.actor, reversal.reason) == (staff.user, "chargeback")


@pytest.mark.parametrize("url_name", ["admin:privacy_datasubjectrequest_changelist", "admin:privacy_piiaccesslog_changelist",
                                      "admin:privacy_processingrestriction_changelist"])
def test_privacy_changelists_run_a_fixed_number_of_queries(root_client, root, staff, business_date, url_name):
    from privacy import services

    def add(n):
        for i in range(n):
            customer = make_customer(100 + add.count)
            add.count += 1
            services.data_request_create(customer=customer, kind="access", actor=staff)
            customer_pii_for(root, customer, reveal=True, reason="check")
            services.customer_erase(customer=customer, actor=staff, reason="deletion")
    add.count = 0

    add(1)
    root_client.get(reverse(url_name))
    with CaptureQueriesContext(connection) as few:
        assert root_client.get(reverse(url_name)).status_code == 200
    add(6)
    with CaptureQueriesContext(connection) as many:
        assert root_client.get(reverse(url_name)).status_code == 200
    assert len(many) == len(few)


def test_the_business_date_changes_in_the_admin_only_with_a_reason_and_audited(root_client, root, business_date):
    import datetime as dt

    from core.business_date import get_business_date

    url = reverse("admin:core_businessdate_change", args=[1])
    assert root_client.get(reverse("admin:core_businessdate_add")).status_code == 403
    assert root_client.post(reverse("admin:core_businessdate_delete", args=[1]), {"post": "yes"}).status_code == 403
    refused = root_client.post(url, {"date": "2026-01-09"})  # no reason
    assert refused.status_code == 200 and get_business_date() == dt.date(2026, 1, 5)
    assert root_client.post(url, {"date": "2026-01-09", "reason": "demo replay"}).status_code == 302
    assert get_business_date() == dt.date(2026, 1, 9)
    event = AuditEvent.objects.get(action="business_date_change")
    assert (event.actor, event.reason, event.old, event.new) == (root, "demo replay", "2026-01-05", "2026-01-09")
