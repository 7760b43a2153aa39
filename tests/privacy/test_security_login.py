"""Login hardening: lock-out after repeated failures (django-axes) on the admin login, password
rules, session expiry (idle and absolute), CSRF on the login form."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from privacy.middleware import SESSION_RENEWED_KEY, SESSION_STARTED_KEY

PASSWORD = "Correct-Horse-7-battery"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    """A fast hasher: these tests log in dozens of times; PBKDF2 would take seconds each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def officer(db, django_user_model):
    return django_user_model.objects.create_user("officer", password=PASSWORD, is_staff=True)


def login(client, username, password, ip="203.0.113.7"):
    return client.post(reverse("admin:login"), {"username": username, "password": password,
                                                "next": reverse("admin:index")}, REMOTE_ADDR=ip)


def logged_in(client) -> bool:
    return client.get(reverse("admin:index")).status_code == 200


def test_five_failures_lock_the_admin_login_even_with_the_right_password(client, officer):
    assert settings.AXES_FAILURE_LIMIT == 5
    for attempt in range(1, 5):
        response = login(client, "officer", f"guess-{attempt}")
        assert response.status_code == 200 and not logged_in(client)  # the form again, with an error
    assert login(client, "officer", "guess-5").status_code == 429  # the fifth failure locks
    response = login(client, "officer", PASSWORD)
    assert response.status_code == 429 and not logged_in(client)
    assert "locked" in response.content.decode().lower()
    attempt = AccessAttempt.objects.get(username="officer")
    assert attempt.failures_since_start >= 5


def test_the_lock_is_for_the_user_name_from_that_address_only(client, officer, django_user_model):
    """Failures count per (user name, address) pair: the lock never spills over to the same user
    elsewhere nor to the other staff behind the same address (issue 12)."""
    django_user_model.objects.create_user("other", password=PASSWORD, is_staff=True)
    for n in range(5):
        login(client, "officer", f"guess-{n}", ip="203.0.113.7")
    assert login(Client(), "officer", PASSWORD, ip="203.0.113.7").status_code == 429  # the locked pair
    elsewhere = Client()
    assert login(elsewhere, "officer", PASSWORD, ip="198.51.100.1").status_code == 302 and logged_in(elsewhere)
    colleague = Client()
    assert login(colleague, "other", PASSWORD, ip="203.0.113.7").status_code == 302 and logged_in(colleague)


def test_the_lock_expires_after_the_cool_off(client, officer):
    assert settings.AXES_COOLOFF_TIME == 0.5  # hours
    for n in range(5):
        login(client, "officer", f"guess-{n}")
    assert login(client, "officer", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=31))
    assert login(client, "officer", PASSWORD).status_code == 302 and logged_in(client)


def test_a_success_before_the_limit_resets_the_count(client, officer):
    for n in range(4):
        login(client, "officer", f"guess-{n}")
    assert login(client, "officer", PASSWORD).status_code == 302
    client.logout()
    for n in range(4):
        login(client, "officer", f"again-{n}")
    assert login(client, "officer", PASSWORD).status_code == 302  # 4 + 4 failures never locked


def test_a_login_without_a_request_is_not_throttled_but_still_checks_the_password(officer):
    # The test client's login() and management commands call authenticate() without a request.
    assert authenticate(username="officer", password="wrong") is None
    assert authenticate(username="officer", password=PASSWORD) == officer
    assert not AccessAttempt.objects.exists()


@pytest.mark.parametrize("password", ["short1A!", "password1234", "1234567890123", "officer1234"],
                         ids=["too-short", "common", "numeric", "like-the-user-name"])
def test_weak_passwords_are_refused(officer, password):
    with pytest.raises(ValidationError):
        validate_password(password, user=officer)


def test_a_strong_password_passes(officer):
    validate_password("Vermilion-Quokka-42", user=officer)


def test_sessions_expire_when_idle_and_with_the_browser(client, officer):
    assert (settings.SESSION_COOKIE_AGE, settings.SESSION_EXPIRE_AT_BROWSER_CLOSE) == (30 * 60, True)
    assert settings.SESSION_COOKIE_HTTPONLY
    response = login(client, "officer", PASSWORD)
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == "" and cookie["httponly"]  # a browser-session cookie
    assert client.session.get_expiry_age() == 30 * 60
    assert abs(client.session[SESSION_STARTED_KEY] - time.time()) < 60  # stamped at sign-in


def _session_writes(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("admin:index")).status_code == 200
    return sum(1 for q in ctx.captured_queries if q["sql"].startswith("UPDATE") and "django_session" in q["sql"])


def test_activity_renews_the_session_at_most_once_a_minute(client, officer):
    from django.contrib.sessions.models import Session

    client.force_login(officer)
    client.get(reverse("admin:index"))
    assert _session_writes(client) == 0  # a busy minute costs no write
    session = client.session
    session[SESSION_RENEWED_KEY] = int(time.time()) - 61
    session.save()
    Session.objects.filter(session_key=session.session_key).update(expire_date=timezone.now() + dt.timedelta(minutes=5))
    assert _session_writes(client) == 1  # renewed: a fresh 30 minutes
    expires = Session.objects.get(session_key=session.session_key).expire_date
    assert abs((expires - timezone.now()).total_seconds() - 30 * 60) < 60
    Session.objects.filter(session_key=session.session_key).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    response = client.get(reverse("admin:index"))  # idle too long: expired
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_a_session_ends_after_the_absolute_maximum_however_busy(client, officer):
    client.force_login(officer)
    assert logged_in(client)
    session = client.session
    started = session[SESSION_STARTED_KEY]
    assert abs(started - time.time()) < 60
    session[SESSION_STARTED_KEY] = int(time.time()) - settings.SESSION_ABSOLUTE_MAX_SECONDS + 60
    session.save()
    assert logged_in(client)  # a minute left
    session = client.session
    session[SESSION_STARTED_KEY] = int(time.time()) - settings.SESSION_ABSOLUTE_MAX_SECONDS - 1
    session.save()
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]
    assert not logged_in(client)  # the session is gone, not only this request


def test_the_login_form_needs_its_csrf_token(officer):
    client = Client(enforce_csrf_checks=True)
    response = login(client, "officer", PASSWORD)
    assert response.status_code == 403
    assert not logged_in(client)
    page = client.get(reverse("admin:login"))
    token = page.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(reverse("admin:login"), {"username": "officer", "password": PASSWORD,
                                                    "csrfmiddlewaretoken": token, "next": reverse("admin:index")})
    assert response.status_code == 302 and logged_in(client)


@pytest.mark.parametrize("count, forwarded, expected", [
    (0, "198.51.100.4", "10.0.0.2"),                      # no proxy: the socket's address, the header ignored
    (1, "198.51.100.4", "198.51.100.4"),                  # one proxy: the address it saw
    (1, "6.6.6.6, 198.51.100.4", "198.51.100.4"),         # a client-written entry on the left is not trusted
    (2, "6.6.6.6, 198.51.100.4, 10.0.0.9", "198.51.100.4"),
    (2, "198.51.100.4", "10.0.0.2"),                      # a chain shorter than the proxies: the socket
], ids=["no-proxy", "one-proxy", "spoofed-left", "two-proxies", "short-chain"])
def test_the_client_address_trusts_only_our_proxies(rf, settings, count, forwarded, expected):
    from privacy.auth import client_ip

    settings.TRUSTED_PROXY_COUNT = count
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_behind_a_proxy_the_lock_out_follows_the_real_client(client, officer, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(5):  # an attacker rotating the left-most entry of X-Forwarded-For
        client.post(reverse("admin:login"), {"username": "officer", "password": f"x{n}"}, REMOTE_ADDR="10.0.0.2",
                    HTTP_X_FORWARDED_FOR=f"6.6.6.{n}, 198.51.100.4")
    locked = client.post(reverse("admin:login"), {"username": "officer", "password": PASSWORD},
                         REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="7.7.7.7, 198.51.100.4")
    assert locked.status_code == 429  # the spoofed entries did not spread the failures over five "addresses"
    colleague = Client().post(reverse("admin:login"), {"username": "officer", "password": PASSWORD,
                                                       "next": reverse("admin:index")},
                              REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.50")
    assert colleague.status_code == 302  # the same proxy, another client: not locked


def test_any_login_that_passes_its_request_is_counted_and_locked(rf, officer):
    """What a DRF session-login view or basic authentication does: ``authenticate(request, …)``."""
    assert authenticate(rf.post("/api/login/", REMOTE_ADDR="192.0.2.8"), username="officer", password=PASSWORD) == officer
    for n in range(5):
        assert authenticate(rf.post("/api/login/", REMOTE_ADDR="192.0.2.8"), username="officer", password=f"x{n}") is None
    assert authenticate(rf.post("/api/login/", REMOTE_ADDR="192.0.2.8"), username="officer", password=PASSWORD) is None
    assert AccessAttempt.objects.get(username="officer").failures_since_start >= 5
