"""The accounts admin: pages render with a bounded number of queries; actions call services."""
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import CreditAccount, Customer, LimitChange, StatusChange
from tests.factories import CreditAccountFactory

ROWS = 200


@pytest.fixture
def superuser_client(client, django_user_model, business_date):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "x-Very-long-pass-1")
    client.force_login(user)
    return client


@pytest.fixture
def portfolio(business_date):
    return CreditAccountFactory.create_batch(ROWS)


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries), response


@pytest.mark.parametrize(
    "model", [Customer, CreditAccount, LimitChange, StatusChange], ids=lambda m: m._meta.model_name
)
def test_changelists_render_with_bounded_queries(superuser_client, portfolio, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    queries, response = _count(superuser_client, url)
    assert queries <= 12, [q["sql"] for q in connection.queries[-queries:]]
    if model is Customer:
        body = response.content.decode()
        customer = portfolio[-1].customer  # newest first: on page 1
        assert customer.mobile not in body and customer.id_number not in body
        assert customer.masked_mobile in body


def test_change_pages_render(superuser_client, portfolio):
    account = portfolio[0]
    for url in (
        reverse("admin:accounts_creditaccount_change", args=[account.pk]),
        reverse("admin:accounts_customer_change", args=[account.customer_id]),
        reverse("admin:accounts_creditaccount_add"),
        reverse("admin:accounts_customer_add"),
    ):
        queries, response = _count(superuser_client, url)
        assert queries <= 25, url
    body = superuser_client.get(reverse("admin:accounts_customer_change", args=[account.customer_id])).content.decode()
    assert account.customer.id_number not in body


def test_search_by_id_suffix_and_mobile(superuser_client, portfolio):
    target = portfolio[5].customer
    url = reverse("admin:accounts_customer_changelist")
    body = superuser_client.get(url, {"q": target.mobile}).content.decode()
    assert target.reference in body and portfolio[6].customer.reference not in body
    body = superuser_client.get(url, {"q": target.id_number[-4:]}).content.decode()
    assert target.reference in body


def test_freeze_action_asks_for_a_reason_then_calls_the_service(superuser_client, business_date):
    account = CreditAccountFactory()
    url = reverse("admin:accounts_creditaccount_changelist")
    response = superuser_client.post(url, {"action": "freeze", "_selected_action": [account.pk]})
    assert response.status_code == 200 and b"reason" in response.content
    assert CreditAccount.objects.get(pk=account.pk).status == "active"
    response = superuser_client.post(
        url, {"action": "freeze", "_selected_action": [account.pk], "_form_action_apply": "1", "reason": "fraud check"}
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.status, account.freeze_reason) == ("frozen", "manual")
    assert account.status_changes.get().reason == "fraud check"


def test_adjust_limit_action_without_reason_changes_nothing(superuser_client, business_date):
    account = CreditAccountFactory()
    url = reverse("admin:accounts_creditaccount_changelist")
    response = superuser_client.post(
        url, {"action": "adjust_limit", "_selected_action": [account.pk], "_form_action_apply": "1", "new_limit": "500", "reason": ""}
    )
    assert response.status_code == 200  # form shown again with the error
    assert CreditAccount.objects.get(pk=account.pk).fixed_limit == Decimal("10000.00")
    assert not LimitChange.objects.exists()


def test_create_customer_through_admin_uses_the_service(superuser_client):
    url = reverse("admin:accounts_customer_add")
    response = superuser_client.post(url, {"name": "王伟", "id_number": "110105194912310021", "mobile": "13800138000"})
    assert response.status_code == 200 and Customer.objects.count() == 0  # bad check digit refused
    response = superuser_client.post(url, {"name": "王伟", "id_number": "11010519491231002X", "mobile": "13800138000"})
    assert response.status_code == 302
    assert Customer.objects.get().id_number == "11010519491231002X"


def test_staff_without_permission_do_not_see_the_freeze_action(client, django_user_model, business_date):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="x-Very-long-pass-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_creditaccount"))
    client.force_login(user)
    CreditAccountFactory()
    body = client.get(reverse("admin:accounts_creditaccount_changelist")).content.decode()
    assert 'value="freeze"' not in body


def test_customer_page_masks_email_and_offers_unmask_only_with_permission(superuser_client, client, django_user_model, business_date):
    from django.contrib.auth.models import Permission

    account = CreditAccountFactory(customer__email="zhang.san@example.com")
    url = reverse("admin:accounts_customer_change", args=[account.customer_id])
    body = superuser_client.get(url).content.decode()
    assert "zhang.san@example.com" not in body and "z***@example.com" in body
    assert reverse("admin:privacy_unmask", args=[account.customer_id]) in body
    viewer = django_user_model.objects.create_user("viewer2", password="x-Very-long-pass-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_customer"))
    client.force_login(viewer)
    body = client.get(url).content.decode()
    assert reverse("admin:privacy_unmask", args=[account.customer_id]) not in body
