"""Authentication, scopes, throttling and the error body, on a real call (GET /api/v1/accounts/{id}/)."""
from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from core.actors import Actor
from core.models import AuditEvent
from integrations import services
from integrations.models import ApiClient, ApiToken
from integrations.tokens import hash_token
from tests.factories import CreditAccountFactory
from tests.factories_api import ApiClientFactory, api_for, issue_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(business_date):
    return CreditAccountFactory()


def url(account):
    return f"/api/v1/accounts/{account.reference}/"


def bearer(raw: str) -> APIClient:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return http


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


# --- tokens ---------------------------------------------------------------------------------


def test_valid_token_reads_the_account(account):
    http, client, raw = api_for(["accounts:read"])

    response = http.get(url(account))

    assert response.status_code == 200
    assert response.json()["id"] == account.reference
    token = ApiToken.objects.get(client=client)
    assert token.last_used_at is not None


def test_token_keyword_is_accepted_too(account):
    _, client, raw = api_for(["accounts:read"])
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Token {raw}")

    assert http.get(url(account)).status_code == 200


def test_only_the_hash_is_stored(account):
    client = ApiClientFactory(scopes=["accounts:read"])
    token, raw = services.api_token_issue(client=client, actor=Actor.system("test"), name="web")

    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.key_hash == hash_token(raw) and raw not in (stored.key_hash, stored.prefix)
    assert raw.startswith(stored.prefix) and len(stored.prefix) == 11 and len(raw) == 46
    assert AuditEvent.objects.filter(action="api_token_issue", object_id=str(client.pk)).count() == 1


def test_no_credentials_is_401_with_the_error_body(account):
    response = APIClient().get(url(account))

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    "header",
    ["Bearer bo_" + "x" * 43, "Bearer nonsense", "Bearer", "Bearer a b", "Token " + "é"],
    ids=["unknown-token", "not-a-token", "missing-token", "two-words", "non-ascii"],
)
def test_bad_credentials_are_401(account, header):
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=header.encode("utf-8").decode("latin-1"))

    assert_error(http.get(url(account)), 401, "authentication_failed")


def test_revoked_token_is_401(account):
    _, client, raw = api_for(["accounts:read"])
    services.api_token_revoke(token=client.tokens.get(), actor=Actor.system("test"), reason="leaked")

    error = assert_error(bearer(raw).get(url(account)), 401, "authentication_failed")
    assert "revoked" in error["message"]


def test_expired_token_is_401(account):
    client = ApiClientFactory(scopes=["accounts:read"])
    raw = issue_token(client, expires_at=timezone.now() + dt.timedelta(hours=1))
    past = timezone.now() - dt.timedelta(hours=2)
    ApiToken.objects.filter(client=client).update(created_at=past, expires_at=past + dt.timedelta(hours=1))

    error = assert_error(bearer(raw).get(url(account)), 401, "authentication_failed")
    assert "expired" in error["message"]


def test_revoking_a_client_revokes_every_token(account, staff):
    _, client, raw = api_for(["accounts:read"])
    second = issue_token(client)

    services.api_client_revoke(client=client, actor=staff, reason="contract ended")

    assert_error(bearer(raw).get(url(account)), 401, "authentication_failed")
    assert_error(bearer(second).get(url(account)), 401, "authentication_failed")
    assert ApiToken.objects.filter(client=client, revoked_at__isnull=True).count() == 0
    client.refresh_from_db()
    assert not client.is_active and client.revoked_at is not None


def test_revoked_client_gets_no_new_token(staff):
    client = ApiClientFactory()
    services.api_client_revoke(client=client, actor=staff, reason="gone")

    with pytest.raises(Exception) as exc:
        services.api_token_issue(client=client, actor=staff)
    assert getattr(exc.value, "code", "") == "client_revoked"
    assert ApiToken.objects.filter(client=client).count() == 0


def test_missing_scope_is_403(account):
    http, _, _ = api_for(["quotes:read"])

    error = assert_error(http.get(url(account)), 403, "permission_denied")
    assert "accounts:read" in error["message"]


def test_scope_change_applies_at_once(account, staff):
    http, client, _ = api_for(["quotes:read"])
    assert http.get(url(account)).status_code == 403

    services.api_client_update(client=client, actor=staff, scopes=["quotes:read", "accounts:read"])

    assert http.get(url(account)).status_code == 200


def test_unknown_scope_is_refused(staff):
    with pytest.raises(Exception) as exc:
        services.api_client_create(name="x", scopes=["everything"], actor=staff)
    assert getattr(exc.value, "code", "") == "invalid_scope"
    assert not ApiClient.objects.filter(name="x").exists()


def test_client_service_user_cannot_log_in(staff):
    client = services.api_client_create(name="Storefront", scopes=["accounts:read"], actor=staff)

    assert not client.user.has_usable_password()
    assert not client.user.is_staff and not client.user.is_superuser
    assert APIClient().login(username=client.user.username, password="") is False


# --- staff sessions -------------------------------------------------------------------------


def test_staff_session_may_read(account, staff_user):
    """…if the user may read every customer (``accounts.view_all_customers``; a collector, who reads
    only their own cases' customers, may not use the API)."""
    http = APIClient()
    http.force_login(staff_user)
    assert_error(http.get(url(account)), 403, "permission_denied")

    staff_user.user_permissions.add(Permission.objects.get(codename="view_all_customers"))
    http.force_login(type(staff_user).objects.get(pk=staff_user.pk))
    assert http.get(url(account)).status_code == 200


def test_non_staff_session_is_403(account, django_user_model):
    user = django_user_model.objects.create_user(username="shopper", password="x-Very-long-pass-1")
    http = APIClient()
    http.force_login(user)

    assert_error(http.get(url(account)), 403, "permission_denied")


def test_staff_session_write_needs_the_permission(account, staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_all_customers"))
    staff_user = type(staff_user).objects.get(pk=staff_user.pk)
    http = APIClient(enforce_csrf_checks=False)
    http.force_login(staff_user)
    payload = {"principal": "100.00", "tenor": 3}

    assert_error(http.post("/api/v1/quotes/", payload, format="json"), 403, "permission_denied")

    staff_user.user_permissions.add(Permission.objects.get(codename="call_write_api"))
    http.force_login(type(staff_user).objects.get(pk=staff_user.pk))
    assert http.post("/api/v1/quotes/", payload, format="json").status_code == 200


def test_staff_session_write_needs_csrf(account, staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="call_write_api"))
    http = APIClient(enforce_csrf_checks=True)
    http.force_login(staff_user)

    error = assert_error(http.post("/api/v1/quotes/", {"principal": "1.00", "tenor": 3}, format="json"), 403,
                         "permission_denied")
    assert "CSRF" in error["message"]


# --- throttling -----------------------------------------------------------------------------


def test_throttle_per_client_with_the_error_body(account):
    cache.clear()
    limited, _, _ = api_for(["accounts:read"], throttle_rate="3/min")
    other, _, _ = api_for(["accounts:read"], throttle_rate="3/min")

    statuses = [limited.get(url(account)).status_code for _ in range(3)]
    response = limited.get(url(account))

    assert statuses == [200, 200, 200]
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert other.get(url(account)).status_code == 200  # another client has its own budget


# --- the error body everywhere --------------------------------------------------------------


def test_unknown_api_path_is_a_json_404(account):
    http, _, _ = api_for()

    assert_error(http.get("/api/v1/no-such-call/"), 404, "not_found")
    assert_error(APIClient().get("/api/v1/"), 404, "not_found")


def test_wrong_method_is_405(account):
    http, _, _ = api_for()

    response = http.delete(url(account))

    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD, OPTIONS"


def test_non_json_body_is_415(account):
    http, _, _ = api_for()

    response = http.post("/api/v1/quotes/", "principal=1&tenor=3", content_type="application/x-www-form-urlencoded")

    assert_error(response, 415, "unsupported_media_type")


def test_malformed_json_is_400(account):
    http, _, _ = api_for()

    response = http.post("/api/v1/quotes/", '{"principal": ', content_type="application/json")

    assert_error(response, 400, "malformed_request")


def test_json_that_is_not_an_object_is_400(account):
    http, _, _ = api_for()

    response = http.post("/api/v1/quotes/", "[1, 2]", content_type="application/json")

    error = assert_error(response, 400, "invalid")
    assert "non_field_errors" in error["details"]
