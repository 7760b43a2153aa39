"""Login lock-out (django-axes) as staff meet it: the page a locked-out login gets, and unlocking.

Failures are counted per (user name, address) pair (``AXES_LOCKOUT_PARAMETERS``): five wrong
passwords lock that user name from that address for ``AXES_COOLOFF_TIME``, never the other staff
behind the same address nor the same user elsewhere. The lock is axes' ``AccessAttempt`` row of
the pair; unlocking deletes that row (its failures stay in axes' failure log) and writes an audit
row with the reason.
"""
from __future__ import annotations

import datetime as dt

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.db import transaction
from django.shortcuts import render
from django.utils import timezone

from core.actors import Actor
from core.audit import audit_record
from core.errors import BusinessRuleError, ValidationError

LOCKOUT_TEMPLATE = "privacy/lockout.html"


def lockout_response(request, original_response=None, credentials=None):
    """``AXES_LOCKOUT_CALLABLE``: the admin-styled lock-out page (HTTP 429) saying when to try again
    and whom to call."""
    cool_off = get_cool_off(request)
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in locked",
        "username": get_client_username(request, credentials) or "",
        "failure_limit": get_failure_limit(request, credentials),
        "cool_off_minutes": int(cool_off.total_seconds() // 60) if cool_off else None,
        "retry_at": timezone.localtime(timezone.now() + cool_off) if cool_off else None,
        "contact": settings.STAFF_LOCKOUT_CONTACT,
    }
    return render(request, LOCKOUT_TEMPLATE, context, status=settings.AXES_HTTP_RESPONSE_CODE)


def locked_until(attempt: AccessAttempt) -> dt.datetime | None:
    """When the pair's lock ends; None when it is not locked (under the limit, or cooled off)."""
    if attempt.failures_since_start < settings.AXES_FAILURE_LIMIT:
        return None
    cool_off = get_cool_off()
    if cool_off is None:  # locked until someone unlocks it
        return dt.datetime.max.replace(tzinfo=dt.UTC)
    until = attempt.attempt_time + cool_off
    return until if until > timezone.now() else None


@transaction.atomic
def login_unlock(*, attempt: AccessAttempt, actor: Actor, reason: str) -> None:
    """Unlock one locked (user name, address) pair before its cool-off ends (the person called
    and was identified). Refused, with nothing changed, when the pair is not locked."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required to unlock a login.", code="reason_required")
    attempt = AccessAttempt.objects.select_for_update().filter(pk=attempt.pk).first()
    if attempt is None or locked_until(attempt) is None:
        raise BusinessRuleError("This login is not locked.", code="not_locked")
    audit_record(
        actor=actor, action="login_unlock", obj=attempt, reason=reason,
        old={"username": attempt.username, "ip_address": attempt.ip_address,
             "failures": attempt.failures_since_start, "last_failure": attempt.attempt_time.isoformat()},
        new={"failures": 0},
    )
    attempt.delete()
