"""Reads: configuration (rules, bands, policy), the active scorecards, blacklist and velocity
look-ups, the latest score of an account, and the queues."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import OuterRef, QuerySet, Subquery

from accounts.models import Consent, CreditAccount
from core.crypto import pii_hash
from risk.models import (
    AccountScore,
    Application,
    BlacklistEntry,
    ReviewCase,
    RiskEvent,
    RiskPolicy,
    RiskRule,
    ScoreBand,
    ScorecardVersion,
)
from risk.rules import RULE_SPECS, Band, RuleConfig, default_config, validate_rule_config


def risk_policy() -> RiskPolicy:
    policy = RiskPolicy.objects.filter(singleton=1).first()
    return policy or RiskPolicy.objects.get_or_create(singleton=1)[0]


def rule_configs(stage: str | None = None) -> dict[str, RuleConfig]:
    """Every rule's live configuration: the admin's row merged over the spec's defaults."""
    rows = {r.code: r for r in RiskRule.objects.all()}
    configs: dict[str, RuleConfig] = {}
    for code, spec in RULE_SPECS.items():
        if stage and spec.stage != stage:
            continue
        row = rows.get(code)
        if row is None or not spec.configurable:
            configs[code] = default_config(code)
            continue
        params = validate_rule_config(code=code, outcome=row.outcome, params=row.params, enabled=row.enabled)
        configs[code] = RuleConfig(code=code, enabled=row.enabled, outcome=row.outcome, severity=row.severity, params=params)
    return configs


def score_bands() -> list[Band]:
    return [
        Band(name=b.name, min_score=b.min_score, limit=b.limit, action=b.action)
        for b in ScoreBand.objects.order_by("-min_score")
    ]


def bands_snapshot(bands: Iterable[Band]) -> list[dict]:
    return [{"name": b.name, "min_score": b.min_score, "limit": str(b.limit), "action": b.action} for b in bands]


def bands_from_snapshot(rows: Iterable[dict]) -> list[Band]:
    from decimal import Decimal

    return [Band(name=r["name"], min_score=int(r["min_score"]), limit=Decimal(r["limit"]), action=r["action"]) for r in rows]


def active_scorecard(purpose: str) -> ScorecardVersion | None:
    return ScorecardVersion.objects.filter(purpose=purpose, status=ScorecardVersion.Status.ACTIVE).first()


def device_hash(device_id: str) -> str:
    """Keyed hash of a device id (devices are personal data: only hashes are stored)."""
    device_id = (device_id or "").strip()
    return pii_hash(f"device:{device_id}") if device_id else ""


def mobile_hash(mobile: str) -> str:
    return pii_hash(f"mobile:{(mobile or '').strip()}")


def blacklisted_kinds(*, id_number_hash: str = "", mobile: str = "", device_hash_value: str = "") -> set[str]:
    """Which of the given identifiers are on the active blacklist."""
    wanted = []
    K = BlacklistEntry.Kind
    if id_number_hash:
        wanted.append((K.ID_NUMBER, id_number_hash))
    if mobile:
        wanted.append((K.MOBILE, mobile_hash(mobile)))
    if device_hash_value:
        wanted.append((K.DEVICE, device_hash_value))
    if not wanted:
        return set()
    rows = BlacklistEntry.objects.filter(is_active=True, value_hash__in=[h for _, h in wanted]).values_list(
        "kind", "value_hash"
    )
    found = set(rows)
    return {kind for kind, value in wanted if (kind, value) in found}


def application_prior_counts(*, since: dt.datetime, id_number_hash: str, mobile: str, device_hash_value: str) -> dict[str, int]:
    """Applications already received since ``since`` for the same ID number, mobile or device."""
    recent = Application.objects.filter(submitted_at__gte=since)
    counts = {
        "id_number": recent.filter(id_number_hash=id_number_hash).count(),
        "mobile": recent.filter(mobile=mobile).count(),
    }
    if device_hash_value:
        counts["device"] = recent.filter(device_hash=device_hash_value).count()
    return counts


def account_latest_score(account: CreditAccount, *, on: dt.date | None = None) -> AccountScore | None:
    rows = AccountScore.objects.filter(account=account)
    if on is not None:
        rows = rows.filter(scored_on__lte=on)
    return rows.order_by("-scored_on", "-id").first()


def latest_score_subquery(on: dt.date | None = None) -> Subquery:
    rows = AccountScore.objects.filter(account=OuterRef("pk"))
    if on is not None:
        rows = rows.filter(scored_on__lte=on)
    return Subquery(rows.order_by("-scored_on", "-id").values("score")[:1])


def marketing_consent_subquery() -> Subquery:
    """The latest marketing consent record of the account's customer: granted or withdrawn."""
    latest = Consent.objects.filter(customer=OuterRef("customer"), kind=Consent.Kind.MARKETING).order_by(
        "-recorded_at", "-id"
    )
    return Subquery(latest.values("granted")[:1])


def open_review_cases() -> QuerySet[ReviewCase]:
    return ReviewCase.objects.filter(status=ReviewCase.Status.OPEN).select_related("application", "account")


def open_risk_events() -> QuerySet[RiskEvent]:
    return RiskEvent.objects.filter(status=RiskEvent.Status.OPEN)
