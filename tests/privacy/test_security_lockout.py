"""Lock-out by user name AND address (issue 12): a made-up user name cannot lock the office out, the
lock-out page is the admin's own with when to retry and whom to call, and an administrator unlocks a
login with a reason (audited; its own permission)."""
from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEvent
from staff import roles
from tests.factories_staff import role_user

PASSWORD = "Correct-Horse-7-battery"
OFFICE = "203.0.113.7"
CHANGELIST = "admin:privacy_loginlockout_changelist"


def login(client, username, password, ip=OFFICE):
    return client.post(reverse("admin:login"), {"username": username, "password": password,
                                                "next": reverse("admin:index")}, REMOTE_ADDR=ip)


def fail(username: str, times: int = 5, ip: str = OFFICE) -> None:
    for n in range(times):
        login(Client(), username, f"wrong-{n}", ip=ip)


@pytest.fixture
def staff_members(db, django_user_model):
    return [django_user_model.objects.create_user(name, password=PASSWORD, is_staff=True)
            for name in ("officer", "cashier", "night_shift")]


def test_five_wrong_passwords_for_a_made_up_user_lock_out_nobody_real(staff_members):
    fail("no-such-user")
    assert login(Client(), "no-such-user", "wrong-again").status_code == 429
    for member in staff_members:  # everyone in the same office, behind the same address
        client = Client()
        assert login(client, member.username, PASSWORD).status_code == 302
        assert client.get(reverse("admin:index")).status_code == 200
    assert list(AccessAttempt.objects.values_list("username", "ip_address", "failures_since_start")) == [
        ("no-such-user", OFFICE, 6)]


def test_the_lock_out_page_is_the_admins_and_says_when_and_whom(staff_members, settings):
    settings.STAFF_LOCKOUT_CONTACT = "the IT service desk on 8000-1234"
    fail("officer")
    before = timezone.localtime(timezone.now() + dt.timedelta(minutes=30))
    response = login(Client(), "officer", PASSWORD)
    after = timezone.localtime(timezone.now() + dt.timedelta(minutes=30))
    page = response.content.decode()
    assert response.status_code == 429
    assert '<div id="site-name">' in page and "staff/admin.css" in page  # the admin's base template
    assert "<h1>Sign-in locked</h1>" in page
    assert "The user name <strong>officer</strong> is" in page and "after 5 wrong passwords" in page
    assert "Try again in 30 minutes" in page
    assert any(f"after <strong>{t:%H:%M}</strong>" in page for t in (before, after))
    assert "Call the IT service desk on 8000-1234" in page
    assert "Other staff at this address are not affected." in page


def _unlock(client, attempt, reason="called from desk 4, identity checked"):
    return client.post(reverse(CHANGELIST), {"action": "unlock", "_selected_action": [attempt.pk],
                                             "_form_action_apply": "1", "reason": reason})


def test_an_administrator_unlocks_a_login_with_a_reason_and_it_is_audited(staff_members):
    fail("officer")
    fail("officer", times=2, ip="198.51.100.9")  # the same user counting elsewhere: left alone
    assert login(Client(), "officer", PASSWORD).status_code == 429
    locked = AccessAttempt.objects.get(username="officer", ip_address=OFFICE)
    administrator = role_user("Administrator")
    client = Client()
    client.force_login(administrator)
    listing = client.get(reverse(CHANGELIST))
    assert listing.status_code == 200 and "locked until" in listing.content.decode()
    assert [name for name, _ in listing.context["action_form"].fields["action"].choices if name] == ["unlock"]
    failures_logged = AccessFailureLog.objects.count()

    response = _unlock(client, locked)

    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(pk=locked.pk).exists()
    assert list(AccessAttempt.objects.values_list("username", "ip_address", "failures_since_start")) == [
        ("officer", "198.51.100.9", 2)]
    assert AccessFailureLog.objects.count() == failures_logged  # the failures stay on record
    event = AuditEvent.objects.get(action="login_unlock")
    assert (event.actor, event.reason, event.object_id) == (administrator, "called from desk 4, identity checked",
                                                           str(locked.pk))
    assert event.old == {"username": "officer", "ip_address": OFFICE, "failures": 6,
                         "last_failure": locked.attempt_time.isoformat()}
    assert event.new == {"failures": 0}
    unlocked = Client()
    assert login(unlocked, "officer", PASSWORD).status_code == 302


def _attempts():
    return list(AccessAttempt.objects.order_by("pk").values_list("username", "ip_address", "failures_since_start",
                                                                 "attempt_time"))


@pytest.mark.parametrize("role_name", ["Auditor", "Credit officer", "Finance", "Collections manager"])
def test_other_roles_cannot_unlock(staff_members, role_name):
    fail("officer")
    attempt = AccessAttempt.objects.get()
    before = _attempts()
    client = Client()
    client.force_login(role_user(role_name))
    response = _unlock(client, attempt)
    assert response.status_code in (200, 302, 403)
    assert _attempts() == before
    assert not AuditEvent.objects.filter(action="login_unlock").exists()
    assert login(Client(), "officer", PASSWORD).status_code == 429


def test_the_auditor_reads_the_lock_outs_without_the_unlock_action(staff_members):
    fail("officer")
    client = Client()
    client.force_login(role_user("Auditor"))
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert "officer" in response.content.decode()
    assert response.context["action_form"] is None  # no action at all: unlock is the only one


@pytest.mark.parametrize("failures, reason, message", [
    (2, "called in", "This login is not locked."),
    (5, "", None),
], ids=["not-locked", "no-reason"])
def test_refused_unlocks_change_nothing(staff_members, failures, reason, message):
    fail("officer", times=failures)
    attempt = AccessAttempt.objects.get()
    before = _attempts()
    client = Client()
    client.force_login(role_user("Administrator"))
    response = _unlock(client, attempt, reason=reason)
    assert _attempts() == before
    assert not AuditEvent.objects.filter(action="login_unlock").exists()
    if message:
        assert response.status_code == 302
        shown = [str(m) for m in client.get(reverse(CHANGELIST)).context["messages"]]
        assert shown == [f"Refused — {attempt}: {message}"]
    else:
        assert response.status_code == 200 and response.context["form"].errors == {"reason": ["This field is required."]}


def test_a_cooled_off_lock_is_no_longer_locked(staff_members):
    from privacy.lockout import locked_until

    fail("officer")
    attempt = AccessAttempt.objects.get()
    assert locked_until(attempt) == attempt.attempt_time + dt.timedelta(minutes=30)
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=31))
    assert locked_until(AccessAttempt.objects.get()) is None


def test_only_the_administrator_role_holds_the_unlock_permission(db):
    holders = [r.name for r in roles.ROLES if r.grants("privacy.unlock_loginlockout")]
    assert holders == ["Administrator"]
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
