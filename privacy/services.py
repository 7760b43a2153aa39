"""Writes for personal-data protection: unmask (logged), customer-rights requests (access,
correction, deletion), consent withdrawal, retention expiry and key rotation. Every write audits."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Case, Value, When
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.models import Consent, CreditAccount, Customer
from accounts.services import consent_record
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.crypto import EncryptedTextField, pii_hash
from core.errors import BusinessRuleError, ConflictError, PermissionDeniedError, ValidationError
from core.identity import normalize_id_number, validate_id_number, validate_mobile
from privacy import selectors
from privacy.masking import PII_FIELDS, can_view_full_pii, full_pii, masked_pii
from privacy.models import DataSubjectRequest, PiiAccessLog, ProcessingRestriction
from privacy.registry import get_providers

EXPORT_PERMISSION = "privacy.export_personal_data"
CORRECTABLE_FIELDS = ("name", "id_number", "mobile", "address", "email")
RETENTION_EXPIRED_RULE = "privacy: retention period ended"

S = DataSubjectRequest.Status
O = DataSubjectRequest.Outcome

#: The allowed transitions of a request's status (one map, enforced in ``_set_status``).
TRANSITIONS: dict[str, set[str]] = {
    S.RECEIVED: {S.IN_PROGRESS, S.COMPLETED, S.REJECTED},
    S.IN_PROGRESS: {S.COMPLETED, S.REJECTED},
    S.COMPLETED: set(),
    S.REJECTED: set(),
}


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.", code="reason_required")
    return reason


def _staff_user(user) -> None:
    if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
        raise PermissionDeniedError("Only active staff users may do this.", code="staff_only")


@transaction.atomic
def privacy_policy_update(*, actor: Actor, reason: str, request_response_days: int, aml_retention_years: int):
    """Change the privacy policy's numbers (audited)."""
    reason = _require_reason(reason)
    if int(request_response_days) < 1 or int(aml_retention_years) < 1:
        raise ValidationError("Days and years must be at least 1.", code="invalid_policy")
    policy = selectors.privacy_policy()
    policy = type(policy).objects.select_for_update().get(pk=policy.pk)
    old = {"request_response_days": policy.request_response_days, "aml_retention_years": policy.aml_retention_years}
    policy.request_response_days = int(request_response_days)
    policy.aml_retention_years = int(aml_retention_years)
    policy.save(update_fields=["request_response_days", "aml_retention_years", "updated_at"])
    audit_record(actor=actor, action="privacy_policy_change", obj=policy, reason=reason, old=old,
                 new={"request_response_days": policy.request_response_days,
                      "aml_retention_years": policy.aml_retention_years})
    return policy


# --- Unmask -------------------------------------------------------------------------------------


def pii_access_record(*, user, customer_id: int, channel: str, fields: Iterable[str], reason: str,
                      ip_address: str | None = None) -> PiiAccessLog:
    """The one home of the personal-data access log (PRODUCT §9): a row each time someone saw or exported a
    customer's personal data in full — an unmask, an export, a collection agency's read through the API."""
    if channel not in PiiAccessLog.Channel.values:
        raise ValidationError(f"Unknown channel {channel!r}.", code="invalid_channel")
    return PiiAccessLog.objects.create(user=user, customer_id=customer_id, channel=channel, fields=list(fields),
                                       reason=_require_reason(reason)[:500], ip_address=ip_address or None)


@transaction.atomic
def pii_unmask(
    *,
    user,
    customer: Customer,
    reason: str,
    fields: Iterable[str] = PII_FIELDS,
    channel: str = PiiAccessLog.Channel.ADMIN_UNMASK,
    ip_address: str | None = None,
) -> dict[str, str]:
    """Return ``customer``'s personal data in full for a user holding ``accounts.view_full_pii``,
    logging who, whose, when, why and which fields (``PiiAccessLog`` + an audit event)."""
    if not can_view_full_pii(user):
        raise PermissionDeniedError("Seeing personal data in full needs the view_full_pii permission.",
                                    code="pii_permission_required")
    reason = _require_reason(reason)
    fields = tuple(dict.fromkeys(fields))
    unknown = set(fields) - set(PII_FIELDS)
    if not fields or unknown:
        raise ValidationError("Unknown personal-data fields.", code="invalid_fields", details={"fields": sorted(unknown)})
    if customer.anonymised_at is not None:
        raise BusinessRuleError("The customer has been anonymised: there is nothing to show.", code="anonymised")
    pii_access_record(user=user, customer_id=customer.pk, channel=channel, fields=fields, reason=reason,
                      ip_address=ip_address)
    audit_record(actor=Actor.staff(user), action="pii_unmask", obj=customer, reason=reason,
                 new={"fields": list(fields), "channel": channel})
    return full_pii(customer, fields)


# --- Customer-rights requests ---------------------------------------------------------------------


def _set_status(data_request: DataSubjectRequest, status: str, *, actor: Actor, outcome: str = "",
                notes: str | None = None, result: Any = None) -> DataSubjectRequest:
    if status not in TRANSITIONS[data_request.status]:
        raise BusinessRuleError(
            f"A {data_request.get_status_display().lower()} request cannot become {status}.",
            code="invalid_transition", details={"from": data_request.status, "to": status},
        )
    old = data_request.status
    data_request.status = status
    fields = ["status", "updated_at"]
    if not actor.is_system:
        data_request.handled_by = actor.user
        fields.append("handled_by")
    if status in (S.COMPLETED, S.REJECTED):
        data_request.completed_at = timezone.now()
        data_request.outcome = outcome
        fields += ["completed_at", "outcome"]
    if notes is not None:
        data_request.outcome_notes = notes
        fields.append("outcome_notes")
    if result is not None:
        data_request.result = result
        fields.append("result")
    data_request.save(update_fields=fields)
    audit_record(actor=actor, action="data_request_status", obj=data_request, reason=notes or status,
                 old=old, new={"status": status, "outcome": outcome})
    return data_request


def _lock_request(data_request: DataSubjectRequest) -> DataSubjectRequest:
    return DataSubjectRequest.objects.select_for_update(of=("self",)).get(pk=data_request.pk)


@transaction.atomic
def data_request_create(
    *,
    customer: Customer,
    kind: str,
    actor: Actor,
    received_on: dt.date | None = None,
    channel: str = "",
    details: str = "",
) -> DataSubjectRequest:
    """Record a request; its deadline is ``received_on`` + the policy's response days (15)."""
    if kind not in DataSubjectRequest.Kind.values:
        raise ValidationError(f"Unknown request kind {kind!r}.", code="invalid_kind")
    received_on = received_on or get_business_date()
    if received_on > get_business_date():
        raise ValidationError("A request cannot be received in the future.", code="invalid_date")
    policy = selectors.privacy_policy()
    data_request = DataSubjectRequest.objects.create(
        customer=customer, kind=kind, received_on=received_on,
        deadline=received_on + dt.timedelta(days=policy.request_response_days),
        channel=channel.strip()[:40], details=details.strip(),
    )
    audit_record(actor=actor, action="data_request_received", obj=data_request, reason=details[:500],
                 new={"kind": kind, "deadline": data_request.deadline.isoformat()})
    return data_request


@transaction.atomic
def data_request_start(*, data_request: DataSubjectRequest, actor: Actor) -> DataSubjectRequest:
    data_request = _lock_request(data_request)
    return _set_status(data_request, S.IN_PROGRESS, actor=actor)


@transaction.atomic
def data_request_reject(*, data_request: DataSubjectRequest, actor: Actor, notes: str) -> DataSubjectRequest:
    """Refuse a request; ``notes`` tell the customer why (PIPL Art. 50: reasons for refusal)."""
    notes = _require_reason(notes)
    data_request = _lock_request(data_request)
    return _set_status(data_request, S.REJECTED, actor=actor, outcome=O.REJECTED, notes=notes)


@transaction.atomic
def personal_data_export(
    *, customer: Customer, user, reason: str, ip_address: str | None = None,
) -> tuple[dict[str, Any], bytes]:
    """Build the complete export of ``customer`` (it holds the personal data in full), for a staff
    user with ``privacy.export_personal_data``; logs the access and audits the export."""
    _staff_user(user)
    if not user.has_perm(EXPORT_PERMISSION):
        raise PermissionDeniedError("Exporting personal data needs the export_personal_data permission.",
                                    code="export_permission_required")
    reason = _require_reason(reason)
    document = selectors.customer_export(customer=customer)
    payload = selectors.export_json(document)
    digest = selectors.export_digest(payload)
    pii_access_record(user=user, customer_id=customer.pk, channel=PiiAccessLog.Channel.EXPORT, fields=PII_FIELDS,
                      reason=reason, ip_address=ip_address)
    audit_record(actor=Actor.staff(user), action="personal_data_export", obj=customer, reason=reason,
                 new={"sha256": digest, "record_counts": document["record_counts"]})
    return document, payload


@transaction.atomic
def data_request_fulfil_access(
    *, data_request: DataSubjectRequest, user, ip_address: str | None = None,
) -> tuple[DataSubjectRequest, bytes]:
    """Answer an access/copy request with the export; the request records its digest and counts.
    A completed request may be downloaded again: each download is logged as an export."""
    data_request = _lock_request(data_request)
    if data_request.kind != DataSubjectRequest.Kind.ACCESS:
        raise BusinessRuleError("Only an access request is answered with an export.", code="wrong_kind")
    if data_request.status == S.REJECTED:
        raise BusinessRuleError("The request was rejected.", code="request_closed")
    reason = f"access request {data_request.reference}"
    if data_request.status == S.COMPLETED:
        reason = f"copy of answered access request {data_request.reference}"
    document, payload = personal_data_export(
        customer=data_request.customer, user=user, reason=reason, ip_address=ip_address
    )
    if data_request.is_open:
        _set_status(
            data_request, S.COMPLETED, actor=Actor.staff(user), outcome=O.EXPORTED,
            notes="A copy of all personal data and records held was delivered as a JSON export.",
            result={"sha256": selectors.export_digest(payload), "generated_at": document["generated_at"],
                    "record_counts": document["record_counts"]},
        )
    return data_request, payload


def _normalised_correction(customer: Customer, changes: dict[str, Any]) -> dict[str, str]:
    unknown = set(changes) - set(CORRECTABLE_FIELDS)
    if unknown:
        raise ValidationError("These fields cannot be corrected here.", code="invalid_fields",
                              details={"fields": sorted(unknown)})
    clean: dict[str, str] = {}
    for field, value in changes.items():
        value = (value or "").strip()
        if field == "id_number":
            value = normalize_id_number(value)
        if field in ("name", "id_number", "mobile") and not value:
            raise ValidationError(f"{field} cannot be empty.", code="invalid", details={"field": field})
        try:
            if field == "id_number":
                validate_id_number(value)
            elif field == "mobile":
                validate_mobile(value)
            elif field == "email" and value:
                from django.core.validators import validate_email

                validate_email(value)
        except DjangoValidationError as exc:
            raise ValidationError(exc.messages[0], code=exc.code or "invalid", details={"field": field}) from None
        max_length = Customer._meta.get_field(field).max_length
        if max_length and len(value) > max_length:
            raise ValidationError(f"{field} is longer than {max_length} characters.", code="too_long")
        if getattr(customer, field) != value:
            clean[field] = value
    if not clean:
        raise BusinessRuleError("The corrections change nothing.", code="nothing_to_correct")
    return clean


@transaction.atomic
def customer_correct(
    *,
    customer: Customer,
    changes: dict[str, Any],
    actor: Actor,
    reason: str,
    data_request: DataSubjectRequest | None = None,
) -> Customer:
    """Correct personal data (PIPL Art. 46). The audit row keeps masked old and new values only;
    the profile history keeps the earlier version. With ``data_request`` it is answered."""
    reason = _require_reason(reason)
    customer = Customer.objects.select_for_update(of=("self",)).get(pk=customer.pk)
    if customer.anonymised_at is not None:
        raise BusinessRuleError("An anonymised customer cannot be corrected.", code="anonymised")
    if data_request is not None:
        data_request = _lock_request(data_request)
        if data_request.kind != DataSubjectRequest.Kind.CORRECTION or data_request.customer_id != customer.pk:
            raise BusinessRuleError("The request is not a correction request of this customer.", code="wrong_request")
        if not data_request.is_open:
            raise BusinessRuleError("The request is already closed.", code="request_closed")
    clean = _normalised_correction(customer, changes)
    old_masked = {f: masked_pii(customer)[f] for f in clean}
    update_fields = list(clean) + ["updated_at"]
    if "id_number" in clean:
        id_hash = pii_hash(clean["id_number"])
        if Customer.objects.filter(id_number_hash=id_hash).exclude(pk=customer.pk).exists():
            raise ConflictError("Another customer has this ID number.", code="customer_exists")
        customer.id_number_hash = id_hash
        customer.id_number_last4 = clean["id_number"][-4:]
        update_fields += ["id_number_hash", "id_number_last4"]
    for field, value in clean.items():
        setattr(customer, field, value)
    customer._change_reason = f"correction: {reason}"[:100]
    try:
        with transaction.atomic():
            customer.save(update_fields=update_fields)
    except IntegrityError:
        raise ConflictError("Another customer has this ID number.", code="customer_exists") from None
    new_masked = {f: masked_pii(customer)[f] for f in clean}
    audit_record(actor=actor, action="pii_correction", obj=customer, reason=reason, old=old_masked, new=new_masked)
    if data_request is not None:
        _set_status(data_request, S.COMPLETED, actor=actor, outcome=O.CORRECTED,
                    notes=f"Corrected: {', '.join(sorted(clean))}.", result={"fields": sorted(clean)})
    return customer


# --- Consents -------------------------------------------------------------------------------------


@transaction.atomic
def consent_withdraw(*, customer: Customer, kind: str, actor: Actor, reason: str) -> Consent:
    """Record the withdrawal of a consent; ``customer_has_consent`` answers False from now on."""
    reason = _require_reason(reason)
    if kind not in Consent.Kind.values:
        raise ValidationError(f"Unknown consent kind {kind!r}.", code="invalid_consent")
    Customer.objects.select_for_update(of=("self",)).get(pk=customer.pk)  # serialise consent writes
    latest = Consent.objects.filter(customer=customer, kind=kind).order_by("-recorded_at", "-id").first()
    if latest is None or not latest.granted:
        raise BusinessRuleError("That consent is not currently given.", code="consent_not_granted")
    # through accounts' service: a withdrawal is acted on where it is recorded (accounts.hooks)
    consent = consent_record(customer=customer, kind=kind, version=latest.version, granted=False, actor=actor,
                             reason=reason)
    audit_record(actor=actor, action="consent_withdrawn", obj=customer, reason=reason,
                 old={"kind": kind, "granted": True}, new={"kind": kind, "granted": False})
    return consent


def _withdraw_all_consents(customer: Customer, *, actor: Actor, reason: str) -> list[str]:
    withdrawn = []
    for kind in Consent.Kind.values:
        latest = Consent.objects.filter(customer=customer, kind=kind).order_by("-recorded_at", "-id").first()
        if latest is not None and latest.granted:
            consent_withdraw(customer=customer, kind=kind, actor=actor, reason=reason)
            withdrawn.append(kind)
    return withdrawn


# --- Deletion: anonymise, or restrict where a law keeps the records -------------------------------


@dataclass(frozen=True)
class ErasureResult:
    customer: Customer
    outcome: str  # DataSubjectRequest.Outcome.ANONYMISED or RESTRICTED
    duties: list
    rows_changed: dict[str, int]
    restriction: ProcessingRestriction | None
    notes: str


def _ordered_providers():
    providers = [p for p in get_providers() if p.anonymise is not None]
    return [p for p in providers if not p.anonymise_last] + [p for p in providers if p.anonymise_last]


def _anonymise_everything(customer: Customer) -> dict[str, int]:
    return {p.key: p.anonymise(customer, retained=False) for p in _ordered_providers()}


@transaction.atomic
def customer_erase(*, customer: Customer, actor: Actor, reason: str, data_request: DataSubjectRequest | None = None) -> ErasureResult:
    """Carry out a deletion (PIPL Art. 47). Personal data is anonymised unless a registered app
    declares a legal duty to keep it that is still running (identity and transaction records: 10
    years after the account closes); then processing is restricted to storage, data that no law
    keeps is erased, and the customer is told why and until when. Refused while a credit account is
    open: the data serves a contract still being performed (close the account first)."""
    reason = _require_reason(reason)
    customer = Customer.objects.select_for_update(of=("self",)).get(pk=customer.pk)
    if customer.anonymised_at is not None:
        raise BusinessRuleError("The customer has already been anonymised.", code="already_anonymised")
    open_accounts = list(
        customer.accounts.exclude(status=CreditAccount.Status.CLOSED).order_by("pk").values_list("reference", flat=True)
    )
    if open_accounts:
        raise BusinessRuleError(
            "The customer has a credit account that is not closed; the contract still needs the data. "
            "Close the account first.",
            code="account_open", details={"accounts": open_accounts},
        )
    today = get_business_date()
    duties = selectors.active_retention_duties(customer=customer, on=today)
    _withdraw_all_consents(customer, actor=actor, reason=f"deletion: {reason}")
    now = timezone.now()
    restriction = None
    if duties:
        rows = {p.key: p.anonymise(customer, retained=True) for p in _ordered_providers()}
        until = None if any(d.until is None for d in duties) else max(d.until for d in duties)
        basis = "; ".join(dict.fromkeys(d.basis for d in duties))
        existing = selectors.active_restriction(customer=customer)
        if existing is not None:
            existing.released_at = now
            existing.save(update_fields=["released_at"])
        restriction = ProcessingRestriction.objects.create(
            customer=customer, request=data_request, basis=basis, duties=[d.as_dict() for d in duties],
            retained_until=until,
        )
        Customer.objects.filter(pk=customer.pk).update(processing_restricted=True, updated_at=now)
        customer.processing_restricted = True
        when = f"until {until.isoformat()}" if until else "until the retention period has run"
        notes = (
            f"Your identity and transaction records cannot be deleted yet: {basis}. "
            f"They are kept {when} only in storage, used for nothing else, and anonymised after that. "
            "Data that no law requires us to keep has been erased and your consents are withdrawn."
        )
        outcome = O.RESTRICTED
    else:
        rows = _anonymise_everything(customer)
        ProcessingRestriction.objects.filter(customer=customer, released_at__isnull=True).update(released_at=now)
        Customer.objects.filter(pk=customer.pk).update(processing_restricted=True, anonymised_at=now, updated_at=now)
        customer.processing_restricted, customer.anonymised_at = True, now
        notes = "Your personal data has been deleted: the records we keep no longer identify you."
        outcome = O.ANONYMISED
    audit_record(actor=actor, action="personal_data_deletion", obj=customer, reason=reason,
                 new={"outcome": outcome, "rows_changed": rows, "retention": [d.as_dict() for d in duties]})
    return ErasureResult(customer=customer, outcome=outcome, duties=duties, rows_changed=rows,
                         restriction=restriction, notes=notes)


@transaction.atomic
def data_request_fulfil_deletion(*, data_request: DataSubjectRequest, actor: Actor) -> DataSubjectRequest:
    data_request = _lock_request(data_request)
    if data_request.kind != DataSubjectRequest.Kind.DELETION:
        raise BusinessRuleError("Only a deletion request is answered by erasure.", code="wrong_kind")
    if not data_request.is_open:
        raise BusinessRuleError("The request is already closed.", code="request_closed")
    result = customer_erase(customer=data_request.customer, actor=actor,
                            reason=f"deletion request {data_request.reference}", data_request=data_request)
    return _set_status(
        data_request, S.COMPLETED, actor=actor, outcome=result.outcome, notes=result.notes,
        result={"outcome": result.outcome, "rows_changed": result.rows_changed,
                "retention": [d.as_dict() for d in result.duties]},
    )


def restrictions_release_expired(*, on: dt.date | None = None) -> int:
    """Anonymise the customers whose retention duties have all ended (daily; idempotent)."""
    on = on or get_business_date()
    done = 0
    candidates = ProcessingRestriction.objects.filter(
        released_at__isnull=True, erase_when_expired=True, retained_until__lt=on
    ).order_by("pk").values_list("pk", flat=True)
    for pk in candidates:
        with transaction.atomic():
            restriction = ProcessingRestriction.objects.select_for_update(of=("self",)).get(pk=pk)
            if restriction.released_at is not None:
                continue
            customer = restriction.customer
            if customer.anonymised_at is not None or selectors.active_retention_duties(customer=customer, on=on):
                continue
            try:
                customer_erase(customer=customer, actor=Actor.system(RETENTION_EXPIRED_RULE),
                               reason=f"retention ended {restriction.retained_until.isoformat()}")
            except BusinessRuleError:  # e.g. a new account was opened since: the restriction stays
                continue
            done += 1
    return done


# --- Key rotation ---------------------------------------------------------------------------------


def encrypted_fields() -> list[tuple[type[models.Model], models.Field]]:
    """Every ``EncryptedTextField`` of every installed model (history tables included)."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                found.append((model, field))
    return found


def pii_keys_rotate(*, chunk_size: int = 500) -> dict[str, dict[str, int]]:
    """Re-encrypt every encrypted value under the newest key of ``FIELD_ENCRYPTION_KEYS``.

    Chunked by primary key, one short transaction and one UPDATE per chunk; values already under
    the newest key are left alone, so a second run changes nothing and an interrupted run can be
    started again. A value that no configured key decrypts is counted as ``undecryptable`` and
    left as it is (a key was removed too early: put it back and run again). Look-ups are
    unaffected: the keyed hash does not depend on the encryption key.
    Returns ``{"app.Model.field": {"rotated": n, "current": n, "undecryptable": n}}``."""
    from cryptography.fernet import Fernet, InvalidToken

    from core.crypto import fernet

    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        raise BusinessRuleError("FIELD_ENCRYPTION_KEYS is not set: there is no newest key to rotate to.",
                                code="no_encryption_keys")
    newest = Fernet(keys[0])
    multi = fernet()
    counts: dict[str, dict[str, int]] = {}
    for model, field in encrypted_fields():
        tally = counts.setdefault(f"{model._meta.label}.{field.name}", {"rotated": 0, "current": 0, "undecryptable": 0})
        manager = model._base_manager
        last_pk = None
        while True:
            with transaction.atomic():
                qs = manager.exclude(**{f"{field.attname}__isnull": True}).order_by("pk")
                if last_pk is not None:
                    qs = qs.filter(pk__gt=last_pk)
                pks = list(qs.values_list("pk", flat=True)[:chunk_size])
                if not pks:
                    break
                last_pk = pks[-1]
                rows = (
                    manager.select_for_update().filter(pk__in=pks).order_by("pk")
                    .annotate(_raw=Cast(field.attname, models.TextField())).values_list("pk", "_raw")
                )
                whens, changed = [], []
                for pk, token in rows:
                    if not token:
                        continue
                    try:
                        newest.decrypt(token.encode())
                        tally["current"] += 1
                        continue
                    except InvalidToken:
                        pass
                    try:
                        new_token = multi.rotate(token.encode()).decode()
                    except InvalidToken:
                        tally["undecryptable"] += 1
                        continue
                    whens.append(When(pk=pk, then=Value(new_token, output_field=models.TextField())))
                    changed.append(pk)
                if changed:
                    # An expression bypasses the field's encryption: the new token is stored as is.
                    manager.filter(pk__in=changed).update(
                        **{field.attname: Case(*whens, output_field=models.TextField())}
                    )
                    tally["rotated"] += len(changed)
    return counts
