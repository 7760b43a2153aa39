"""Applications for credit (PRODUCT §3 automatic grant, §8 before-credit rules).

``application_submit`` runs, in order: identity checks → age (the policy's 18–60, from the ID
number) → blacklist → velocity → existing account → score with the active application scorecard →
score band → limit. Every rule hit is a
``RiskEvent``; the automated ``CreditDecision`` keeps score, band, reason codes, model version and
the rules that fired; an approval opens the customer's account (``Actor.system("scorecard:…")``),
a decline or a referral opens a case in the credit officers' queue.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Consent, CreditAccount, CreditProduct, Customer
from accounts.services import account_open, consent_record, customer_create
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.crypto import pii_hash
from core.errors import BusinessRuleError, NotFoundError, ValidationError
from core.identity import id_age_on, normalize_id_number, validate_id_number, validate_mobile
from core.money import ZERO
from risk.decisions import decide_score
from risk.features import application_features
from risk.models import AccountScore, Application, CreditDecision, ReviewCase, RiskEvent, ScorecardVersion
from risk.rules import (
    APPROVE,
    DECLINE,
    OUTCOME_RANK,
    REVIEW,
    RuleHit,
    age_eligibility_hit,
    application_velocity_hit,
    strongest,
)
from risk.selectors import (
    active_scorecard,
    application_prior_counts,
    bands_from_snapshot,
    bands_snapshot,
    blacklisted_kinds,
    device_hash,
    risk_policy,
    rule_configs,
    score_bands,
)

#: Consents without which an application cannot be assessed (PIPL: processing; 征信: bureau).
REQUIRED_CONSENTS = (Consent.Kind.DATA_PROCESSING, Consent.Kind.CREDIT_BUREAU)

_STATUS_BY_OUTCOME = {
    APPROVE: Application.Status.APPROVED,
    DECLINE: Application.Status.DECLINED,
    REVIEW: Application.Status.IN_REVIEW,
}


def _consents(consents: Iterable[Any]) -> list[tuple[str, str, bool]]:
    out = []
    for item in consents or ():
        if isinstance(item, Mapping):
            kind, version, granted = item.get("kind"), item.get("version"), item.get("granted")
        else:
            try:
                kind, version, granted = item
            except (TypeError, ValueError):
                raise ValidationError("Each consent is (kind, version, granted).", code="invalid_consent") from None
        if kind not in Consent.Kind.values or not isinstance(granted, bool) or not str(version or "").strip():
            raise ValidationError(f"Invalid consent {item!r}.", code="invalid_consent")
        out.append((kind, str(version).strip()[:20], granted))
    granted = {kind for kind, _, ok in out if ok}
    missing = [k for k in REQUIRED_CONSENTS if k not in granted]
    if missing:
        raise ValidationError(
            "An application needs consent to data processing and to the credit bureau enquiry.",
            code="consent_required", details={"missing": missing},
        )
    return out


def default_product() -> CreditProduct:
    product = CreditProduct.objects.filter(is_active=True).order_by("pk").first()
    if product is None:
        raise BusinessRuleError("No credit product is open for applications.", code="no_product")
    return product


def _lock_keys(keys: Iterable[str]) -> None:
    """Serialise applications sharing an ID number, mobile or device, so two concurrent requests
    cannot both pass the velocity rule (PostgreSQL advisory transaction locks, in a fixed order;
    SQLite already serialises writers)."""
    if connection.vendor != "postgresql":
        return
    ids = sorted({int(pii_hash(f"velocity:{k}")[:15], 16) for k in keys if k})
    with connection.cursor() as cursor:
        for key in ids:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _worst(*outcomes: str) -> str:
    return max(outcomes, key=lambda o: OUTCOME_RANK.get(o, -1))


def _hit_dict(hit: RuleHit) -> dict[str, Any]:
    return {"rule": hit.rule, "outcome": hit.outcome, "severity": hit.severity, "details": dict(hit.details)}


@transaction.atomic
def application_submit(
    *,
    name: str,
    id_number: str,
    mobile: str,
    device_id: str = "",
    consents: Iterable[Any] = (),
    features: Mapping[str, Any] | None = None,
    product: CreditProduct | None = None,
    external_id: str = "",
    address: str = "",
    email: str = "",
) -> Application:
    """Decide an application; return it with its automated decision (``application.decisions``)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError("Name is required (at most 100 characters).", code="name_required")
    id_number = normalize_id_number(id_number)
    mobile = (mobile or "").strip()
    device_id = (device_id or "").strip()
    if not id_number or len(id_number) > 40 or not mobile or len(mobile) > 20 or len(device_id) > 200:
        raise ValidationError("ID number, mobile and device must be given and short.", code="invalid_identity_input")
    consent_rows = _consents(consents)
    product = product or default_product()
    if not product.is_active:
        raise BusinessRuleError(f"Product {product.code} is not active.", code="product_inactive")

    now, on = timezone.now(), get_business_date()
    id_hash, dev_hash = pii_hash(id_number), device_hash(device_id)
    _lock_keys([id_hash, f"m:{mobile}", f"d:{dev_hash}" if dev_hash else ""])
    configs, policy = rule_configs("application"), risk_policy()
    hits: list[RuleHit] = []

    id_valid = True
    for code, check, value in (("identity_id_number", validate_id_number, id_number), ("identity_mobile", validate_mobile, mobile)):
        try:
            check(value)
        except DjangoValidationError as exc:
            cfg = configs[code]
            id_valid = id_valid and code != "identity_id_number"
            hits.append(RuleHit(code, cfg.outcome, cfg.severity, {"check": exc.code or "invalid"}))

    hit = age_eligibility_hit(age=id_age_on(id_number, on) if id_valid else None, min_age=policy.min_age,
                              max_age=policy.max_age)
    if hit:
        hits.append(hit)

    listed = blacklisted_kinds(id_number_hash=id_hash, mobile=mobile, device_hash_value=dev_hash)
    for kind in ("id_number", "mobile", "device"):
        cfg = configs[f"blacklist_{kind}"]
        if kind in listed and cfg.enabled:
            hits.append(RuleHit(cfg.code, cfg.outcome, cfg.severity, {"kind": kind}))

    cfg = configs["application_velocity"]
    if cfg.enabled:
        since = now - dt.timedelta(hours=int(cfg.params["window_hours"]))
        counts = application_prior_counts(since=since, id_number_hash=id_hash, mobile=mobile, device_hash_value=dev_hash)
        hit = application_velocity_hit(cfg=cfg, prior_counts=counts)
        if hit:
            hits.append(hit)

    customer = Customer.objects.filter(id_number_hash=id_hash).first()
    if customer and CreditAccount.objects.filter(customer=customer, product=product).exists():
        cfg = configs["existing_account"]
        hits.append(RuleHit(cfg.code, cfg.outcome, cfg.severity, {"product": product.code}))

    version: ScorecardVersion | None = None
    mapped: dict[str, Any] = {}
    decision_fields: dict[str, Any] = {"score": None, "band": "", "limit": ZERO, "reason_codes": []}
    suggested, band_action = ZERO, APPROVE
    bands = score_bands()
    policy_snapshot = {
        "bands": bands_snapshot(bands),
        "reason_code_count": policy.reason_code_count,
        "max_missing_features": policy.max_missing_features,
        "min_age": policy.min_age,
        "max_age": policy.max_age,
    }
    if strongest(hits) != DECLINE:
        version = active_scorecard(ScorecardVersion.Purpose.APPLICATION)
        if version is None:
            cfg = configs["no_active_scorecard"]
            hits.append(RuleHit(cfg.code, cfg.outcome, cfg.severity, {}))
        else:
            mapped = application_features(version.table, features, id_number=id_number if id_valid else None, on=on)
            scored = decide_score(
                table=version.table, features=mapped, bands=bands, reason_code_count=policy.reason_code_count
            )
            cfg = configs["missing_features"]
            if cfg.enabled and len(scored.missing) > policy.max_missing_features:
                hits.append(RuleHit(cfg.code, cfg.outcome, cfg.severity,
                                    {"missing": list(scored.missing), "allowed": policy.max_missing_features}))
            decision_fields = {"score": scored.score, "band": scored.band, "limit": ZERO, "reason_codes": scored.reason_codes}
            suggested, band_action = scored.band_limit, scored.band_action
    outcome = _worst(strongest(hits), band_action)
    if outcome == APPROVE:
        decision_fields["limit"] = suggested

    application = Application.objects.create(
        product=product, name=name, id_number=id_number, id_number_hash=id_hash, id_number_last4=id_number[-4:],
        mobile=mobile, device_hash=dev_hash, external_id=(external_id or "").strip()[:64],
        consents=[{"kind": k, "version": v, "granted": g} for k, v, g in consent_rows],
        features=mapped, submitted_at=now, business_date=on, status=_STATUS_BY_OUTCOME[outcome],
    )
    actor = Actor.system(f"scorecard:{version.label}" if version else "application_rules")
    decision = CreditDecision.objects.create(
        application=application, outcome=outcome, automated=True, scorecard_version=version,
        model_label=version.label if version else "", rules_fired=[_hit_dict(h) for h in hits],
        policy=policy_snapshot, actor_rule=actor.rule, **decision_fields,
    )
    RiskEvent.objects.bulk_create([
        RiskEvent(rule=h.rule, stage=RiskEvent.Stage.APPLICATION, severity=h.severity, outcome=h.outcome,
                  application=application, details=dict(h.details), business_date=on)
        for h in hits
    ])

    if outcome == APPROVE:
        _open_account(application=application, customer=customer, consents=consent_rows, limit=decision.limit,
                      actor=actor, reason=f"application {application.reference}: score {decision.score}, band {decision.band}",
                      address=address, email=email)
        AccountScore.objects.create(
            account=application.account, scored_on=on, source=AccountScore.Source.APPLICATION, score=decision.score,
            band=decision.band, scorecard_version=version, reason_codes=decision.reason_codes, features=mapped,
        )
    else:
        ReviewCase.objects.create(
            kind=ReviewCase.Kind.APPLICATION, application=application, summary=_summary(decision),
            suggested_limit=suggested,
        )
    return application


def _summary(decision: CreditDecision) -> str:
    verb = "Declined" if decision.outcome == DECLINE else "Referred"
    rules = ", ".join(r["rule"] for r in decision.rules_fired)
    score = f"score {decision.score} (band {decision.band or '—'})" if decision.score is not None else "not scored"
    return f"{verb}: {score}" + (f"; rules: {rules}" if rules else "")


def _open_account(
    *, application: Application, customer: Customer | None, consents, limit: Decimal, actor: Actor, reason: str,
    address: str = "", email: str = "",
) -> CreditAccount:
    if customer is None:
        customer = customer_create(
            name=application.name, id_number=application.id_number, mobile=application.mobile,
            address=address, email=email, external_id=application.external_id, consents=consents,
        )
    else:
        for kind, version, granted in consents:
            consent_record(customer=customer, kind=kind, version=version, granted=granted)
    account = account_open(customer=customer, product=application.product, fixed_limit=limit, actor=actor, reason=reason)
    application.customer, application.account = customer, account
    application.save(update_fields=["customer", "account", "updated_at"])
    return account


@transaction.atomic
def application_request_human_review(*, application: Application, statement: str = "") -> ReviewCase:
    """PIPL Art. 24: the customer asks that a person review an automated decision."""
    application = Application.objects.select_for_update().get(pk=application.pk)
    last = application.decisions.order_by("-created_at", "-id").first()
    if last is None:
        raise NotFoundError("The application has no decision yet.", code="no_decision")
    if not last.automated:
        raise BusinessRuleError("A credit officer has already decided this application.", code="already_reviewed")
    statement = (statement or "").strip()[:2000]
    case = ReviewCase.objects.select_for_update().filter(application=application, status=ReviewCase.Status.OPEN).first()
    if case is None:
        case = ReviewCase.objects.create(
            kind=ReviewCase.Kind.APPLICATION, application=application, account=application.account,
            summary=f"Customer asks for a human review of an automated {last.get_outcome_display().lower()}",
            suggested_limit=last.limit, human_review_requested=True, customer_statement=statement,
        )
    else:
        case.human_review_requested = True
        case.customer_statement = statement
        case.save(update_fields=["human_review_requested", "customer_statement", "updated_at"])
    audit_record(actor=Actor.system("customer_request"), action="human_review_request", obj=application,
                 reason="PIPL Art. 24 request for human review", new={"case": case.reference})
    return case


@dataclass(frozen=True)
class Replay:
    band_action: str
    score: int
    band: str
    limit: Decimal
    reason_codes: list[dict[str, Any]]


def application_replay(application: Application) -> Replay:
    """Re-run the score step of the application's automated decision from what it stored (mapped
    features, scorecard version, bands and policy numbers): a reproducible decision gives the same
    score, band, limit and reason codes."""
    decision = application.decisions.filter(automated=True).order_by("created_at", "id").first()
    if decision is None or decision.scorecard_version is None or decision.score is None:
        raise BusinessRuleError("The application was not scored.", code="not_scored")
    policy = decision.policy
    scored = decide_score(
        table=decision.scorecard_version.table, features=application.features,
        bands=bands_from_snapshot(policy["bands"]), reason_code_count=policy["reason_code_count"],
    )
    return Replay(band_action=scored.band_action, score=scored.score, band=scored.band, limit=scored.band_limit,
                  reason_codes=scored.reason_codes)
