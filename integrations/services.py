"""Writes for API clients, tokens and idempotency records. Admin actions call these."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.actors import Actor
from core.audit import audit_record
from core.errors import BusinessRuleError, ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from core.refs import new_reference
from integrations.models import ApiClient, ApiScopeGrant, ApiToken, IdempotencyRecord
from integrations.scope_controls import REQUEST_PERMISSION, is_money_moving, money_scope
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
    *, name: str, scopes: Iterable[str], actor: Actor, description: str = "", throttle_rate: str = "",
    reason: str = "",
) -> ApiClient:
    """Create a client and its service user (unusable password, not staff: it cannot log in).

    Money-moving scopes (``integrations.scope_controls``) are not granted here: each becomes a request
    that a second person approves (:func:`api_scope_request`; ``reason`` is the maker's reason); until
    then the client works with its other scopes."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("A client needs a name.", code="name_required")
    asked = _clean_scopes(scopes)
    scopes = [scope for scope in asked if not is_money_moving(scope)]
    money = [scope for scope in asked if is_money_moving(scope)]
    if money:
        _check_requester(actor, reason)
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
    audit_record(actor=actor, action="api_client_create", obj=client,
                 new={"scopes": scopes, "awaiting_approval": money})
    for scope in money:
        api_scope_request(client=client, scope=scope, actor=actor, reason=reason)
    return client


@transaction.atomic
def api_client_update(
    *, client: ApiClient, actor: Actor, scopes: Iterable[str] | None = None, description: str | None = None,
    throttle_rate: str | None = None, reason: str = "",
) -> ApiClient:
    """Change a client. ``scopes`` is the whole set wanted: a plain scope is granted or removed at once;
    a money-moving scope added is asked for (:func:`api_scope_request`, it waits for a second person),
    one removed is revoked at once (taking a power away needs no second person), one still waiting is
    withdrawn."""
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    old = {"scopes": client.scopes, "throttle_rate": client.throttle_rate}
    to_request: list[str] = []
    if scopes is not None:
        wanted = _clean_scopes(scopes)
        live = {g.scope: g for g in _live_grants(client)}
        to_request = [s for s in wanted if is_money_moving(s) and s not in live]
        if to_request:
            _check_requester(actor, reason)
        for scope, grant in sorted(live.items()):
            if scope not in wanted:
                ended = (ApiScopeGrant.Status.REVOKED if grant.status == ApiScopeGrant.Status.APPROVED
                         else ApiScopeGrant.Status.WITHDRAWN)
                _grant_end(grant, actor=actor, status=ended, reason=reason)
        approved = {s for s, g in live.items() if g.status == ApiScopeGrant.Status.APPROVED}
        # A money-moving scope is in force only with an approved grant (one held without, from before
        # issue 23, is dropped here and asked for again).
        client.scopes = sorted(s for s in wanted if not is_money_moving(s) or s in approved)
    if description is not None:
        client.description = description.strip()
    if throttle_rate is not None:
        client.throttle_rate = clean_rate(throttle_rate)
    client.save(update_fields=["scopes", "description", "throttle_rate", "updated_at"])
    new = {"scopes": client.scopes, "throttle_rate": client.throttle_rate}
    if new != old:
        audit_record(actor=actor, action="api_client_update", obj=client, old=old, new=new)
    for scope in to_request:
        api_scope_request(client=client, scope=scope, actor=actor, reason=reason)
    return client


# --- Money-moving scopes: four eyes (PRODUCT §12, issue 23) -------------------------------------------

LIVE_GRANT_STATUSES = (ApiScopeGrant.Status.PENDING, ApiScopeGrant.Status.APPROVED)
GRANT_AMOUNT = Decimal("1.00")  # a grant is judged as one unit: above the kind's threshold of 0, it always waits


def _check_requester(actor: Actor, reason: str) -> None:
    if actor.is_system:
        raise PermissionDeniedError(
            "A money-moving scope is asked for by a person and approved by a second one; a system cannot grant it.",
            code="money_scope_needs_person",
        )
    if not actor.user.has_perm(REQUEST_PERMISSION):
        raise PermissionDeniedError("Asking for an API scope needs the permission to manage API clients.",
                                    code="money_scope_request_permission")
    if not (reason or "").strip():
        raise ValidationError("A reason is required to ask for a money-moving scope.", code="reason_required")


def _live_grants(client: ApiClient) -> list[ApiScopeGrant]:
    """The client's pending and approved grants; a pending one whose request a second person rejected is
    marked rejected here (the approvals app calls back only on approval)."""
    grants = list(ApiScopeGrant.objects.select_for_update().filter(client=client, status__in=LIVE_GRANT_STATUSES)
                  .order_by("pk"))
    live = []
    for grant in grants:
        if grant.status == ApiScopeGrant.Status.PENDING and not _request_pending(grant):
            grant.status = ApiScopeGrant.Status.REJECTED
            grant.save(update_fields=["status", "updated_at"])
            continue
        live.append(grant)
    return live


def _grant_end(grant: ApiScopeGrant, *, actor: Actor, status: str, reason: str) -> None:
    was = grant.status
    grant.status, grant.ended_by, grant.ended_at = status, actor.user, timezone.now()
    grant.save(update_fields=["status", "ended_by", "ended_at", "updated_at"])
    action = "api_scope_revoke" if status == ApiScopeGrant.Status.REVOKED else "api_scope_withdraw"
    audit_record(actor=actor, action=action, obj=grant.client, reason=reason or "removed from the client's scopes",
                 old={"scope": grant.scope, "status": was}, new={"scope": grant.scope, "status": status})


@transaction.atomic
def api_scope_request(*, client: ApiClient, scope: str, actor: Actor, reason: str) -> ApiScopeGrant:
    """Ask for a money-moving scope on ``client``: a pending grant and an approval request that a
    second person of an approving role decides (never the maker, an administrator or a superuser)."""
    from approvals.services import approval_submit

    if not is_money_moving(scope):
        raise ValidationError(f"{scope!r} is not a money-moving scope: it is granted at once.",
                              code="not_money_scope")
    _check_requester(actor, reason)
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    if not client.is_active:
        raise BusinessRuleError("A revoked client gets no new scope.", code="client_revoked")
    if ApiScopeGrant.objects.filter(client=client, scope=scope, status=ApiScopeGrant.Status.APPROVED).exists():
        raise ConflictError(f"The client holds {scope} already.", code="scope_already_granted")
    stale = ApiScopeGrant.objects.filter(client=client, scope=scope, status=ApiScopeGrant.Status.PENDING).first()
    if stale is not None:
        if _request_pending(stale):
            raise ConflictError(f"{scope} waits for approval already (request {stale.approval_reference}).",
                                code="scope_awaiting_approval")
        stale.status = ApiScopeGrant.Status.REJECTED  # its request was rejected: a new one may be made
        stale.save(update_fields=["status", "updated_at"])
    grant = ApiScopeGrant.objects.create(client=client, scope=scope, requested_by=actor.user, reason=reason.strip()[:500])
    spec = money_scope(scope)
    submitted = approval_submit(
        kind=spec.kind, payload={"grant": grant.pk, "client": client.pk, "scope": scope}, amount=GRANT_AMOUNT,
        base=None, summary=f"API client {client.name}: grant {scope} ({spec.why})", target=client, actor=actor,
        reason=reason,
    )
    if submitted.applied or submitted.request is None:
        # Only a second person's approval grants it: a threshold set so that it would apply at once is refused.
        raise PermissionDeniedError(
            f"{scope} can only be granted by a second person's approval; the approval threshold of this kind must "
            "make every grant wait.", code="money_scope_needs_approval",
        )
    grant.approval_reference = submitted.request.reference
    grant.save(update_fields=["approval_reference", "updated_at"])
    audit_record(actor=actor, action="api_scope_request", obj=client, reason=reason,
                 new={"scope": scope, "request": grant.approval_reference})
    return grant


def _request_pending(grant: ApiScopeGrant) -> bool:
    """Whether the grant's approval request still waits (approvals' public selector)."""
    from approvals.selectors import approval_pending_for

    return approval_pending_for(kind=money_scope(grant.scope).kind, target=grant.client, grant=grant.pk) is not None


def approver_refusal(*, user, scope: str, maker_id: int | None) -> str | None:
    """Why ``user`` may not approve ``scope`` (``None``: they may): the maker, a person who manages API
    clients (administrator, superuser), or one without the scope's permission from a role group."""
    spec = money_scope(scope)
    if user is None or not (user.is_active and user.is_staff):
        return "inactive"
    if maker_id is not None and user.pk == maker_id:
        return "maker"
    if user.is_superuser or user.has_perm(REQUEST_PERMISSION):
        return "manages_api_clients"
    app_label, codename = spec.approver_permission.split(".", 1)
    if not Permission.objects.filter(group__user=user, content_type__app_label=app_label, codename=codename).exists():
        return "no_role"
    return None


_REFUSALS = {
    "inactive": "Only an active staff member approves an API scope.",
    "maker": "The person who asked for a scope cannot approve it: a second person must.",
    "manages_api_clients": "Whoever manages API clients (an administrator, a superuser) never approves a money-moving "
                           "scope: a person of the approving role does.",
    "no_role": "Approving this scope needs a role that holds {permission}.",
}


def api_scope_grant_execute(payload: dict, *, actor: Actor, approval=None):
    """The approvals kind's executor. Without an approval (a dry run, or a threshold that would let it
    through) it only checks and grants nothing; with one, it checks the approver and grants."""
    grant = ApiScopeGrant.objects.select_for_update().filter(pk=payload["grant"]).first()
    if grant is None or grant.client_id != payload["client"] or grant.scope != payload["scope"]:
        raise NotFoundError("The scope grant this request is about does not exist.", code="grant_unknown")
    if grant.status != ApiScopeGrant.Status.PENDING:
        raise BusinessRuleError(
            f"This grant is {grant.get_status_display().lower()}: nothing to approve; reject the request.",
            code="grant_not_pending", details={"status": grant.status},
        )
    client = ApiClient.objects.select_for_update().get(pk=grant.client_id)
    if not client.is_active:
        raise BusinessRuleError("The client was revoked: reject the request.", code="client_revoked")
    if approval is None:
        return None
    checker = getattr(approval, "checker", None)
    why = approver_refusal(user=checker, scope=grant.scope, maker_id=grant.requested_by_id)
    if why is not None:
        raise PermissionDeniedError(_REFUSALS[why].format(permission=money_scope(grant.scope).approver_permission),
                                    code="scope_approver_not_permitted", details={"why": why})
    now = timezone.now()
    grant.status, grant.approved_by, grant.approved_at = ApiScopeGrant.Status.APPROVED, checker, now
    grant.save(update_fields=["status", "approved_by", "approved_at", "updated_at"])
    old_scopes = list(client.scopes or [])
    client.scopes = sorted({*old_scopes, grant.scope})
    client.save(update_fields=["scopes", "updated_at"])
    audit_record(actor=Actor.staff(checker), action="api_scope_approve", obj=client, reason=grant.reason,
                 old={"scopes": old_scopes},
                 new={"scopes": client.scopes, "scope": grant.scope, "requested_by": grant.requested_by.get_username(),
                      "approved_by": checker.get_username(), "request": grant.approval_reference})
    return grant


def register_scope_kinds() -> None:
    """One approvals kind per money-moving scope (from ``IntegrationsConfig.ready()``): every grant waits
    (threshold ¥0 on a grant counted as 1), decided by holders of the scope's approving permission."""
    from approvals.registry import ApprovalKind, register_kind

    from integrations.scope_controls import MONEY_MOVING_SCOPES

    for spec in MONEY_MOVING_SCOPES.values():
        register_kind(ApprovalKind(
            key=spec.kind, label=f"API scope {spec.scope}", permission=spec.approver_permission,
            execute=api_scope_grant_execute, amount_above=Decimal("0.00"), share_above=None,
        ))


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


@transaction.atomic
def api_token_rotate(*, token: ApiToken, actor: Actor, reason: str = "") -> tuple[ApiToken, str]:
    """Replace a live token by a new one (same name and expiry): the old one stops working at once.
    Returns the new token and its secret, shown once. One audit row names both prefixes."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        raise BusinessRuleError("A revoked token cannot be rotated; issue a new one.", code="token_revoked")
    client = ApiClient.objects.select_for_update().get(pk=token.client_id)
    if not client.is_active:
        raise BusinessRuleError("A revoked client gets no new token.", code="client_revoked")
    now = timezone.now()
    expires_at = token.expires_at if token.expires_at is None or token.expires_at > now else None
    token.revoked_at, token.revoked_by = now, actor.user
    token.save(update_fields=["revoked_at", "revoked_by"])
    raw = generate_token()
    new = ApiToken.objects.create(
        client=client, name=token.name, prefix=token_prefix(raw), key_hash=hash_token(raw), expires_at=expires_at,
        created_by=actor.user,
    )
    audit_record(actor=actor, action="api_token_rotate", obj=client, reason=reason,
                 old={"token": token.prefix}, new={"token": new.prefix})
    return new, raw


def idempotency_records_purge(*, now: dt.datetime | None = None, batch: int = 5000) -> int:
    """Delete expired records (kept at least ``API_IDEMPOTENCY_TTL_HOURS``, 24 h minimum), in batches."""
    now = now or timezone.now()
    total = 0
    while True:
        ids = list(IdempotencyRecord.objects.filter(expires_at__lt=now).values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        total += IdempotencyRecord.objects.filter(pk__in=ids, expires_at__lt=now).delete()[0]
