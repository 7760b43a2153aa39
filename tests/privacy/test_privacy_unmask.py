"""Unmask: personal data in full only with ``accounts.view_full_pii`` and a reason, and every
access is logged (who, whose, when, why, which fields). Masking helpers for exports and the API."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from core.errors import BusinessRuleError, PermissionDeniedError, ValidationError
from core.models import AuditEvent
from privacy.admin import unmask_url
from privacy.masking import PII_FIELDS, customer_pii_for, masked_pii
from privacy.models import PiiAccessLog
from tests.factories_privacy import WANG, make_customer, staff_user  # noqa: F401 (fixture)

FULL_VALUES = (WANG["id_number"], WANG["mobile"], WANG["name"], WANG["address"], WANG["email"])


@pytest.fixture
def customer(business_date):
    return make_customer()


@pytest.fixture
def officer(django_user_model):
    return django_user_model.objects.create_user("clerk", password=None, is_staff=True)


@pytest.fixture
def pii_officer(django_user_model):
    user = django_user_model.objects.create_user("pii-officer", password=None, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_full_pii", content_type__app_label="accounts"))
    return django_user_model.objects.get(pk=user.pk)  # fresh permission cache


def assert_no_full_value(body: str):
    for value in FULL_VALUES:
        assert value not in body


def test_masked_values():
    class C:
        name, id_number, mobile = "王小明", "110105198803144170", "13912345678"
        address, email = "北京市朝阳区建国路88号", "xiaoming.wang@example.com"

    assert masked_pii(C) == {
        "name": "王**", "id_number": "110***********4170", "mobile": "139****5678",
        "address": "北京市朝阳区****", "email": "x***@example.com",
    }


def test_without_the_permission_the_unmask_page_is_403_and_shows_nothing(client, officer, customer):
    client.force_login(officer)
    for response in (
        client.get(unmask_url(customer)),
        client.post(unmask_url(customer), {"reason": "curious", "fields": list(PII_FIELDS)}),
    ):
        assert response.status_code == 403
        assert_no_full_value(response.content.decode())
    assert not PiiAccessLog.objects.exists()
    assert not AuditEvent.objects.filter(action="pii_unmask").exists()


def test_anonymous_users_are_sent_to_the_login_page(client, customer):
    response = client.get(unmask_url(customer))
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not PiiAccessLog.objects.exists()


def test_the_form_asks_for_a_reason_before_showing_anything(client, pii_officer, customer):
    client.force_login(pii_officer)
    page = client.get(unmask_url(customer))
    assert page.status_code == 200
    body = page.content.decode()
    assert_no_full_value(body)
    assert customer.masked_id_number in body and 'name="reason"' in body
    refused = client.post(unmask_url(customer), {"reason": "   ", "fields": list(PII_FIELDS)})
    assert refused.status_code == 200
    assert_no_full_value(refused.content.decode())
    assert not PiiAccessLog.objects.exists()


def test_with_the_permission_and_a_reason_the_data_is_shown_and_logged(client, pii_officer, customer):
    client.force_login(pii_officer)
    response = client.post(
        unmask_url(customer), {"reason": "customer called about dispute 77", "fields": ["id_number", "mobile"]},
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert WANG["id_number"] in body and WANG["mobile"] in body
    assert WANG["address"] not in body  # only the fields asked for
    assert "no-store" in response["Cache-Control"]
    log = PiiAccessLog.objects.get()
    assert (log.user, log.customer, log.channel, log.fields, log.reason, log.ip_address) == (
        pii_officer, customer, "admin_unmask", ["id_number", "mobile"], "customer called about dispute 77", "10.1.2.3")
    event = AuditEvent.objects.get(action="pii_unmask")
    assert (event.actor, event.object_id, event.reason) == (pii_officer, str(customer.pk), "customer called about dispute 77")
    assert event.new == {"fields": ["id_number", "mobile"], "channel": "admin_unmask"}


def test_superusers_are_logged_too(client, django_user_model, customer):
    root = django_user_model.objects.create_superuser("root", "r@example.com", "x-Very-long-pass-1")
    client.force_login(root)
    response = client.post(unmask_url(customer), {"reason": "audit sample", "fields": list(PII_FIELDS)})
    assert all(v in response.content.decode() for v in FULL_VALUES)
    assert PiiAccessLog.objects.get().user == root


def test_customer_pii_for_masks_by_default_and_reveals_only_with_permission(officer, pii_officer, customer):
    assert customer_pii_for(pii_officer, customer) == masked_pii(customer)
    assert not PiiAccessLog.objects.exists()  # masked values are not an access
    with pytest.raises(PermissionDeniedError):
        customer_pii_for(officer, customer, reveal=True, reason="api lookup")
    with pytest.raises(ValidationError):
        customer_pii_for(pii_officer, customer, reveal=True, reason="")
    assert not PiiAccessLog.objects.exists()
    full = customer_pii_for(pii_officer, customer, reveal=True, reason="api lookup", fields=("mobile",))
    assert full == {"mobile": WANG["mobile"]}
    assert PiiAccessLog.objects.get().channel == "api"


def test_an_anonymised_customer_has_nothing_to_unmask(pii_officer, customer, staff):
    from privacy.services import customer_erase

    customer_erase(customer=customer, actor=staff, reason="deletion request")
    customer.refresh_from_db()
    with pytest.raises(BusinessRuleError):
        customer_pii_for(pii_officer, customer, reveal=True, reason="look")
    assert not PiiAccessLog.objects.exists()


def test_the_access_log_refuses_updates_in_the_database(pii_officer, customer):
    from django.db import DatabaseError, transaction

    customer_pii_for(pii_officer, customer, reveal=True, reason="first look")
    with pytest.raises(DatabaseError), transaction.atomic():
        PiiAccessLog.objects.update(reason="nothing to see")
    assert PiiAccessLog.objects.get().reason == "first look"


@pytest.mark.postgres
def test_the_access_log_refuses_deletes_on_postgresql(pii_officer, customer):
    from django.db import DatabaseError, transaction

    customer_pii_for(pii_officer, customer, reveal=True, reason="first look")
    with pytest.raises(DatabaseError), transaction.atomic():
        PiiAccessLog.objects.all().delete()
    assert PiiAccessLog.objects.count() == 1


def test_unmask_link_points_at_the_view(customer):
    assert unmask_url(customer) == reverse("admin:privacy_unmask", args=[customer.pk])
