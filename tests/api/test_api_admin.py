"""The API-client console: create a client (service user, scopes), issue a token (the secret shown once,
only its hash stored), revoke tokens and clients — every write through a service, audited."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core.models import AuditEvent
from integrations.models import ApiClient, ApiToken, IdempotencyRecord
from integrations.tokens import hash_token
from tests.factories import CreditAccountFactory
from tests.factories_api import ApiClientFactory, api_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client, django_user_model):
    user = django_user_model.objects.create_superuser(username="root", password="x-Very-long-pass-1")
    client.force_login(user)
    return client


def test_create_a_client_through_the_admin(admin):
    response = admin.post(reverse("admin:integrations_apiclient_add"), {
        "name": "Storefront", "description": "JD web", "scopes": ["accounts:read", "purchases:write"],
        "throttle_rate": "600/min", "reason": "storefront go-live",
    })

    assert response.status_code == 302, response.content[:2000]
    client = ApiClient.objects.get(name="Storefront")
    # purchases:write moves money: it waits for a second person (tests/approvals/test_sod_identity.py), the read is in force
    assert (client.scopes, client.throttle_rate, client.is_active) == (["accounts:read"], "600/min", True)
    assert list(client.scope_grants.values_list("scope", "status")) == [("purchases:write", "pending")]
    assert not client.user.has_usable_password() and not client.user.is_staff
    assert AuditEvent.objects.filter(action="api_client_create", object_id=str(client.pk)).count() == 1


def test_a_money_moving_scope_needs_a_reason_in_the_form(admin):
    response = admin.post(reverse("admin:integrations_apiclient_add"), {
        "name": "Storefront", "scopes": ["accounts:read", "purchases:write"], "throttle_rate": "",
    })

    assert response.status_code == 200 and b"A reason is required" in response.content
    assert not ApiClient.objects.exists()


def test_a_bad_throttle_rate_is_refused_in_the_form(admin):
    response = admin.post(reverse("admin:integrations_apiclient_add"), {
        "name": "Storefront", "scopes": ["accounts:read"], "throttle_rate": "lots",
    })

    assert response.status_code == 200 and b"600/min" in response.content
    assert not ApiClient.objects.exists()


def test_issue_a_token_shows_the_secret_once_and_stores_its_hash(admin, business_date):
    client = ApiClientFactory(scopes=["accounts:read"])
    url = reverse("admin:integrations_apiclient_issue_token", args=[client.pk])

    assert admin.get(url).status_code == 200
    response = admin.post(url, {"name": "prod web"})

    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    raw = re.search(rb'id="raw-token"[^>]*>(bo_[A-Za-z0-9_-]{43})<', response.content).group(1).decode()
    token = ApiToken.objects.get(client=client)
    assert (token.name, token.key_hash, token.prefix) == ("prod web", hash_token(raw), raw[:11])
    assert raw.encode() not in admin.get(reverse("admin:integrations_apiclient_change", args=[client.pk])).content
    assert raw.encode() not in admin.get(reverse("admin:integrations_apitoken_changelist")).content
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert http.get(f"/api/v1/accounts/{CreditAccountFactory().reference}/").status_code == 200


def test_revoke_tokens_action(admin, business_date):
    http, client, raw = api_for(["accounts:read"])
    token = client.tokens.get()

    response = admin.post(reverse("admin:integrations_apitoken_changelist"), {
        "action": "revoke_tokens", "_selected_action": [token.pk], "_form_action_apply": "1", "reason": "leaked",
    })

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert http.get(f"/api/v1/accounts/{CreditAccountFactory().reference}/").status_code == 401


def test_revoke_clients_action(admin, business_date):
    http, client, _ = api_for(["accounts:read"])

    admin.post(reverse("admin:integrations_apiclient_changelist"), {
        "action": "revoke_clients", "_selected_action": [client.pk], "_form_action_apply": "1", "reason": "ended",
    })

    client.refresh_from_db()
    assert not client.is_active and client.revoked_at is not None
    assert http.get(f"/api/v1/accounts/{CreditAccountFactory().reference}/").status_code == 401
    assert admin.get(reverse("admin:integrations_apiclient_issue_token", args=[client.pk])).status_code == 200
    admin.post(reverse("admin:integrations_apiclient_issue_token", args=[client.pk]), {"name": "again"})
    assert client.tokens.filter(name="again").count() == 0


def test_changelists_are_read_in_a_fixed_number_of_queries(admin, django_assert_max_num_queries):
    for _ in range(5):
        api_for(["accounts:read"])
    with django_assert_max_num_queries(12):
        assert admin.get(reverse("admin:integrations_apiclient_changelist")).status_code == 200
    with django_assert_max_num_queries(12):
        assert admin.get(reverse("admin:integrations_apitoken_changelist")).status_code == 200
    assert admin.get(reverse("admin:integrations_idempotencyrecord_changelist")).status_code == 200


def test_tokens_and_records_cannot_be_added_or_edited_by_hand(admin):
    assert admin.get(reverse("admin:integrations_apitoken_add")).status_code == 403
    assert admin.get(reverse("admin:integrations_idempotencyrecord_add")).status_code == 403
    assert IdempotencyRecord.objects.count() == 0
