"""``Idempotency-Key`` for money-moving POSTs (PRODUCT §10).

Decorate a DRF view's handler with :func:`idempotent`::

    class PurchaseCreate(APIView):
        @idempotent
        def post(self, request): ...

- The key is required (400 ``idempotency_key_required``): 1–255 printable ASCII characters.
- First request with a key: a record ``in_progress`` is inserted (committed at once), unique per
  (caller, key) **in the database**, so two concurrent requests race on the constraint.
- The handler runs inside one transaction with the completion of the record: the domain writes and
  the stored response commit together, or neither does.
- Same key, same method + path + body (JSON compared canonically) → the first response, byte for byte,
  with ``Idempotent-Replayed: true``. Different request → 422 ``idempotency_key_reuse``. First request
  still running → 409 ``idempotency_in_progress`` (retry later).
- Stored: every outcome of the operation itself (2xx, 409, 422 — e.g. a declined purchase, which is
  recorded). Not stored, so the key can be used again: 400 and 404 (the input was refused or named
  nothing, before anything was tried), 429, 5xx and crashes.
- Records are kept ``API_IDEMPOTENCY_TTL_HOURS`` (at least 24 h) and then purged; an ``in_progress``
  record older than ``API_IDEMPOTENCY_LOCK_SECONDS`` (its request died: nothing it did was committed)
  may be taken over.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.http.request import RawPostDataException
from django.utils import timezone

from core.actors import Actor
from core.audit import audit_record
from core.errors import BusinessRuleError, ConflictError, ValidationError
from integrations.authentication import request_client
from integrations.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MIN_TTL_HOURS = 24
STORED_STATUSES = frozenset({409, 422})
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


def ttl() -> dt.timedelta:
    return dt.timedelta(hours=max(int(getattr(settings, "API_IDEMPOTENCY_TTL_HOURS", MIN_TTL_HOURS)), MIN_TTL_HOURS))


def lock_timeout() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "API_IDEMPOTENCY_LOCK_SECONDS", 300)))


def owner_of(request) -> str:
    client = request_client(request)
    if client is not None:
        return f"client:{client.pk}"
    return f"user:{request.user.pk}"


def fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of method, path and body; a JSON body is canonicalised (key order, spacing) first."""
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        payload = canonical.encode("utf-8")
    except (ValueError, UnicodeDecodeError):
        payload = body or b""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode("utf-8"), payload):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _parse_key(request) -> str:
    key = request.headers.get(HEADER)
    if key is None or key == "":
        raise ValidationError(
            f"This call moves money: send an {HEADER} header (a unique value per operation, e.g. a UUID).",
            code="idempotency_key_required",
        )
    if not _KEY_RE.match(key):
        raise ValidationError(
            f"{HEADER} must be 1 to 255 printable ASCII characters without spaces.",
            code="idempotency_key_invalid",
        )
    return key


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.response_body or b""), status=record.response_status, content_type=record.response_content_type
    )
    response[REPLAYED_HEADER] = "true"
    return response


def _claim(*, owner: str, key: str, method: str, path: str, digest: str) -> IdempotencyRecord | HttpResponse:
    """Insert the record (we own the key), or answer from the existing one."""
    now = timezone.now()
    for _ in range(3):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    owner=owner, key=key, method=method, path=path[:500], fingerprint=digest, locked_at=now,
                    expires_at=now + ttl(),
                )
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
        if existing is None:  # purged between our insert and our read: try again
            continue
        if existing.expires_at <= now:
            IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
            continue
        if existing.fingerprint != digest:
            raise BusinessRuleError(
                f"This {HEADER} was already used for a different request.",
                code="idempotency_key_reuse",
                details={"key": key, "first_request": f"{existing.method} {existing.path}"},
            )
        if existing.status == IdempotencyRecord.Status.COMPLETED:
            return _replay(existing)
        taken = IdempotencyRecord.objects.filter(
            pk=existing.pk, status=IdempotencyRecord.Status.IN_PROGRESS, locked_at__lt=now - lock_timeout()
        ).update(locked_at=now)
        if taken:
            existing.locked_at = now
            return existing
        raise ConflictError(
            f"A request with this {HEADER} is still being processed; retry in a moment.",
            code="idempotency_in_progress",
        )
    raise ConflictError(
        f"A request with this {HEADER} is still being processed; retry in a moment.", code="idempotency_in_progress"
    )


def _mine(record: IdempotencyRecord):
    """The record, only while this request still holds it (not completed, not taken over)."""
    return IdempotencyRecord.objects.filter(
        pk=record.pk, status=IdempotencyRecord.Status.IN_PROGRESS, locked_at=record.locked_at
    )


def _release(record: IdempotencyRecord) -> None:
    _mine(record).delete()


def _raw_body(request) -> bytes:
    try:
        return request.body
    except RawPostDataException:  # the stream was read already (a form body read by the CSRF check)
        return b""


def audit_money_call(request, status: int, key: str) -> None:
    """One audit row for a call a money-moving scope allowed (issue 23): actor the client
    (``system (api:<reference>)``), with the token and who issued it, and for each scope used who asked
    for it and who approved it — in the same transaction as what the call changed."""
    grants = getattr(request, "api_scope_grants", None)
    client = request_client(request)
    if not grants or client is None:
        return
    token = request.auth
    issuer = token.created_by.get_username() if token.created_by_id else None
    audit_record(
        actor=Actor.system(f"api:{client.reference}"), action="api_money_call", obj=client,
        reason=f"{request.method} {request.path}"[:500],
        new={"client": client.name, "status": status, "idempotency_key": key,
             "token": token.prefix, "token_issued_by": issuer,
             "scopes": [{"scope": g.scope, "requested_by": g.requested_by.get_username(),
                         "approved_by": g.approved_by.get_username(), "request": g.approval_reference}
                        for g in grants]},
    )


class _NotStored(Exception):
    def __init__(self, response):
        self.response = response


def idempotent(handler):
    """Make a DRF view handler (``post``) idempotent per ``Idempotency-Key`` (see the module doc)."""

    @functools.wraps(handler)
    def wrapper(self, request, *args, **kwargs):
        key = _parse_key(request)
        body = _raw_body(request)  # read before DRF parses the stream
        outcome = _claim(
            owner=owner_of(request), key=key, method=request.method, path=request.path,
            digest=fingerprint(request.method, request.path, body),
        )
        if isinstance(outcome, HttpResponse):
            return outcome
        record = outcome
        try:
            with transaction.atomic():
                try:
                    response = handler(self, request, *args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - handle_exception re-raises what it cannot render
                    response = self.handle_exception(exc)
                response = self.finalize_response(request, response, *args, **kwargs)
                if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                    response.render()
                if not (200 <= response.status_code < 300 or response.status_code in STORED_STATUSES):
                    raise _NotStored(response)
                if 200 <= response.status_code < 300:
                    audit_money_call(request, response.status_code, key)
                updated = _mine(record).update(
                    status=IdempotencyRecord.Status.COMPLETED,
                    response_status=response.status_code,
                    response_content_type=response.get("Content-Type", "application/json"),
                    response_body=bytes(response.content),
                    completed_at=timezone.now(),
                )
                if updated != 1:  # purged or taken over under us: do not commit the operation twice
                    raise ConflictError(
                        f"A request with this {HEADER} is still being processed; retry in a moment.",
                        code="idempotency_in_progress",
                    )
        except _NotStored as not_stored:
            _release(record)
            return not_stored.response
        except BaseException:
            _release(record)
            raise
        return response

    wrapper.idempotent = True
    return wrapper
