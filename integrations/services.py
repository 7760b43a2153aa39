"""Writes for API clients, tokens and idempotency records. Admin actions call these."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.actors import Actor
from core.audit import audit_record
from core.errors import BusinessRuleError, ConflictError, ValidationError
from core.refs import new_reference
from integrations.models import ApiClient, ApiToken, IdempotencyRecord
from integrations.scopes import is_scope
from integrations.tokens import generate_token, hash_token, token_prefix

_RATE_RE = re.compile(r"^[1-9]\d{0,6}/(s|sec|second|m|min|minute|h|hour|d|day)$")


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for scope in scopes:
        if not is_scope(scope):
            raise ValidationError(f"Unknown scope {scope!r}.", code="invalid_scope", details={"scope": scope})
        if scope not in cleaned:
            cleaned.append(scope)
    return sorted(cleaned)


def clean_rate(rate: str) -> str:
    rate = (rate or "").strip()
    if rate and not _RATE_RE.match(rate):
        raise ValidationError('A throttle rate looks like "600/min" (per s, min, hour or day).', code="invalid_rate")
    return rate


@transaction.atomic
def api_client_create(
    *, name: str, scopes: Iterable[str], actor: Actor, description: str = "", throttle_rate: str = ""
) -> ApiClient:
    """Create a client and its service user (unusable password, not staff: it cannot log in)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("A client needs a name.", code="name_required")
    scopes = _clean_scopes(scopes)
    throttle_rate = clean_rate(throttle_rate)
    if ApiClient.objects.filter(name=name).exists():
        raise ConflictError("A client with this name already exists.", code="client_exists")
    reference = new_reference()
    user = get_user_model()(username=f"api-{reference.lower()}", is_staff=False, is_superuser=False, is_active=True)
    user.set_unusable_password()
    user.save()
    try:
        with transaction.atomic():
            client = ApiClient.objects.create(
                reference=reference, name=name, description=description.strip(), user=user, scopes=scopes,
                throttle_rate=throttle_rate,
            )
    except IntegrityError:
        raise ConflictError("A client with this name already exists.", code="client_exists") from None
    audit_record(actor=actor, action="api_client_create", obj=client, new={"scopes": scopes})
    return client


@transaction.atomic
def api_client_update(
    *, client: ApiClient, actor: Actor, scopes: Iterable[str] | None = None, description: str | None = None,
    throttle_rate: str | None = None,
) -> ApiClient:
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    old = {"scopes": client.scopes, "throttle_rate": client.throttle_rate}
    if scopes is not None:
        client.scopes = _clean_scopes(scopes)
    if description is not None:
        client.description = description.strip()
    if throttle_rate is not None:
        client.throttle_rate = clean_rate(throttle_rate)
    client.save(update_fields=["scopes", "description", "throttle_rate", "updated_at"])
    new = {"scopes": client.scopes, "throttle_rate": client.throttle_rate}
    if new != old:
        audit_record(actor=actor, action="api_client_update", obj=client, old=old, new=new)
    return client


@transaction.atomic
def api_client_revoke(*, client: ApiClient, actor: Actor, reason: str) -> ApiClient:
    """Switch a client off for good: it and every token it holds stop working at once."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required for this change.", code="reason_required")
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    if not client.is_active:
        raise BusinessRuleError("The client is already revoked.", code="client_revoked")
    now = timezone.now()
    client.is_active = False
    client.revoked_at = now
    client.save(update_fields=["is_active", "revoked_at", "updated_at"])
    ApiToken.objects.filter(client=client, revoked_at__isnull=True).update(revoked_at=now, revoked_by=actor.user)
    audit_record(actor=actor, action="api_client_revoke", obj=client, reason=reason)
    return client


@transaction.atomic
def api_token_issue(
    *, client: ApiClient, actor: Actor, name: str = "", expires_at: dt.datetime | None = None
) -> tuple[ApiToken, str]:
    """Issue a token; returns it with the raw secret, which is never stored and never shown again."""
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    if not client.is_active:
        raise BusinessRuleError("A revoked client gets no new token.", code="client_revoked")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError("A token cannot expire in the past.", code="invalid_expiry")
    raw = generate_token()
    token = ApiToken.objects.create(
        client=client, name=(name or "").strip(), prefix=token_prefix(raw), key_hash=hash_token(raw),
        expires_at=expires_at, created_by=actor.user,
    )
    audit_record(actor=actor, action="api_token_issue", obj=client, new={"token": token.prefix})
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: Actor, reason: str = "") -> ApiToken:
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        raise BusinessRuleError("The token is already revoked.", code="token_revoked")
    token.revoked_at = timezone.now()
    token.revoked_by = actor.user
    token.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(actor=actor, action="api_token_revoke", obj=token.client, reason=reason, old={"token": token.prefix})
    return token


def idempotency_records_purge(*, now: dt.datetime | None = None, batch: int = 5000) -> int:
    """Delete expired records (kept at least ``API_IDEMPOTENCY_TTL_HOURS``, 24 h minimum), in batches."""
    now = now or timezone.now()
    total = 0
    while True:
        ids = list(IdempotencyRecord.objects.filter(expires_at__lt=now).values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        total += IdempotencyRecord.objects.filter(pk__in=ids, expires_at__lt=now).delete()[0]
