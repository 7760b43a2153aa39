"""The rules of PRODUCT §3 and §8 as pure functions over plain inputs (no database).

Every rule has a spec here (stage, default outcome and severity, default thresholds); staff change
the live values in the admin (``risk.models.RiskRule``), which ``risk.selectors.rule_configs``
merges over these defaults. Services gather the facts from the database, call these functions,
and record what fired.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal, InvalidOperation
from typing import Any
from collections.abc import Iterable, Mapping, Sequence

from core.money import ZERO, money

DECLINE, REVIEW, FLAG = "decline", "review", "flag"
APPROVE = "approve"
OUTCOME_RANK = {FLAG: 0, REVIEW: 1, DECLINE: 2}


@dataclass(frozen=True)
class RuleSpec:
    code: str
    stage: str  # application / purchase / account
    outcome: str
    severity: str
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    #: Identity checks are the law (real-name rules): they can be neither disabled nor softened.
    configurable: bool = True


RULE_SPECS: dict[str, RuleSpec] = {
    spec.code: spec
    for spec in (
        RuleSpec("identity_id_number", "application", DECLINE, "high", {},
                 "The ID number is not a valid 18-digit number with its GB 11643 check digit.", configurable=False),
        RuleSpec("identity_mobile", "application", DECLINE, "high", {},
                 "The mobile number is not 1[3-9] followed by 9 digits.", configurable=False),
        RuleSpec("age_below_minimum", "application", DECLINE, "high", {},
                 "Younger than the risk policy's minimum age (18 at least) on the business date, from the ID number's "
                 "birth date: minors never get a credit line.", configurable=False),
        RuleSpec("age_above_maximum", "application", DECLINE, "medium", {},
                 "Older than the risk policy's maximum age on the business date, from the ID number's birth date "
                 "(the policy's number, changed there).", configurable=False),
        RuleSpec("blacklist_id_number", "application", DECLINE, "critical", {}, "The ID number is blacklisted."),
        RuleSpec("blacklist_mobile", "application", DECLINE, "critical", {}, "The mobile number is blacklisted."),
        RuleSpec("blacklist_device", "application", DECLINE, "critical", {}, "The device is blacklisted."),
        RuleSpec("application_velocity", "application", DECLINE, "high", {"max_count": 3, "window_hours": 24},
                 "More than max_count applications for one ID number, mobile or device within window_hours."),
        RuleSpec("existing_account", "application", DECLINE, "low", {},
                 "The applicant already holds an account for this product.", configurable=False),
        RuleSpec("missing_features", "application", REVIEW, "medium", {},
                 "More scorecard attributes are missing than the policy allows: refer to an officer."),
        RuleSpec("no_active_scorecard", "application", REVIEW, "medium", {},
                 "No scorecard version is active: every application is referred.", configurable=False),
        RuleSpec("purchase_velocity", "purchase", DECLINE, "high", {"max_count": 5, "window_minutes": 10},
                 "More than max_count purchases on one account within window_minutes."),
        RuleSpec("amount_anomaly", "purchase", REVIEW, "medium",
                 {"multiple": "3", "min_amount": "2000.00", "lookback_days": 90},
                 "Amount above multiple × the account's average purchase of the last lookback_days and above min_amount."),
        RuleSpec("high_risk_category", "purchase", REVIEW, "medium", {"categories": ["gift_card", "top_up"]},
                 "Cash-out risk: gift cards, top-ups."),
        RuleSpec("blacklisted_device", "purchase", DECLINE, "critical", {}, "The purchase comes from a blacklisted device."),
        RuleSpec("early_overdue", "account", FLAG, "high", {}, "Early warning: the account is past due."),
        RuleSpec("early_utilisation", "account", FLAG, "medium", {},
                 "Early warning: utilisation above the policy's trigger (default 90 %)."),
        RuleSpec("early_score_drop", "account", FLAG, "medium", {},
                 "Early warning: the behaviour score fell a band since the last review."),
    )
}


@dataclass(frozen=True)
class RuleConfig:
    code: str
    enabled: bool
    outcome: str
    severity: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class RuleHit:
    rule: str
    outcome: str
    severity: str
    details: Mapping[str, Any] = field(default_factory=dict)


class RuleConfigError(ValueError):
    pass


def default_config(code: str) -> RuleConfig:
    spec = RULE_SPECS[code]
    return RuleConfig(code=code, enabled=True, outcome=spec.outcome, severity=spec.severity, params=dict(spec.params))


def _coerce(name: str, default: Any, value: Any) -> Any:
    if isinstance(default, bool) or isinstance(value, bool):
        raise RuleConfigError(f"{name}: booleans are not thresholds")
    if isinstance(default, int):
        if isinstance(value, int) and value > 0:
            return value
        raise RuleConfigError(f"{name} must be a whole number above 0")
    if isinstance(default, str):  # decimals are kept as strings in JSON
        try:
            number = Decimal(str(value))
        except (InvalidOperation, ValueError):
            raise RuleConfigError(f"{name} must be a decimal number") from None
        if not number.is_finite() or number < 0 or isinstance(value, float):
            raise RuleConfigError(f"{name} must be a non-negative decimal written as a string")
        return str(number)
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise RuleConfigError(f"{name} must be a list of names")
        return [v.strip() for v in value]
    raise RuleConfigError(f"{name}: unsupported parameter")


def validate_rule_config(*, code: str, outcome: str, params: Mapping[str, Any] | None, enabled: bool = True) -> dict:
    """Check staff's configuration of a rule; return the params merged over the defaults."""
    from django.core.exceptions import ValidationError as DjangoValidationError

    spec = RULE_SPECS.get(code)
    if spec is None:
        raise DjangoValidationError({"code": f"Unknown rule {code!r}."})
    if outcome not in OUTCOME_RANK:
        raise DjangoValidationError({"outcome": "Unknown outcome."})
    if not spec.configurable and (not enabled or outcome != spec.outcome or params):
        raise DjangoValidationError(f"{code} is a legal requirement: it cannot be changed.")
    if spec.stage == "account" and outcome != FLAG:
        raise DjangoValidationError({"outcome": "Early warnings only record an event (they feed the limit review)."})
    params = dict(params or {})
    unknown = set(params) - set(spec.params)
    if unknown:
        raise DjangoValidationError({"params": f"Unknown parameters: {', '.join(sorted(unknown))}."})
    merged = dict(spec.params)
    try:
        for name, value in params.items():
            merged[name] = _coerce(name, spec.params[name], value)
    except RuleConfigError as exc:
        raise DjangoValidationError({"params": str(exc)}) from None
    return merged


def strongest(hits: Iterable[RuleHit]) -> str:
    """The outcome of a set of hits: decline beats review beats approve (flags do not block)."""
    worst = APPROVE
    for hit in hits:
        if hit.outcome == DECLINE:
            return DECLINE
        if hit.outcome == REVIEW:
            worst = REVIEW
    return worst


# --- Application rules ------------------------------------------------------------------------


def application_velocity_hit(*, cfg: RuleConfig, prior_counts: Mapping[str, int]) -> RuleHit | None:
    """``prior_counts``: applications already received within the window, per key (id_number,
    mobile, device). More than ``max_count`` including this one fires: with 3, the 4th fires."""
    if not cfg.enabled:
        return None
    limit = int(cfg.params["max_count"])
    over = {key: count + 1 for key, count in sorted(prior_counts.items()) if count + 1 > limit}
    if not over:
        return None
    return RuleHit(cfg.code, cfg.outcome, cfg.severity,
                   {"counts": over, "max_count": limit, "window_hours": int(cfg.params["window_hours"])})


def age_eligibility_hit(*, age: int | None, min_age: int, max_age: int) -> RuleHit | None:
    """Applicants are ``min_age``–``max_age`` years old inclusive (whole years on the business
    date). ``age`` None (no valid ID number) is the identity rule's, not this one's."""
    if age is None or min_age <= age <= max_age:
        return None
    code = "age_below_minimum" if age < min_age else "age_above_maximum"
    spec = RULE_SPECS[code]
    return RuleHit(code, spec.outcome, spec.severity, {"age": age, "minimum": min_age, "maximum": max_age})


# --- Purchase rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PurchaseFacts:
    """What the purchase rules need, gathered by the caller."""

    amount: Decimal
    category: str = ""
    device_blacklisted: bool = False
    #: purchases on the account within the velocity window before this one
    recent_count: int = 0
    #: average amount of the account's purchases over the look-back (None: no purchases)
    average_amount: Decimal | None = None


def purchase_rule_hits(facts: PurchaseFacts, configs: Mapping[str, RuleConfig]) -> list[RuleHit]:
    hits: list[RuleHit] = []
    cfg = configs["blacklisted_device"]
    if cfg.enabled and facts.device_blacklisted:
        hits.append(RuleHit(cfg.code, cfg.outcome, cfg.severity, {}))
    cfg = configs["purchase_velocity"]
    if cfg.enabled and facts.recent_count + 1 > int(cfg.params["max_count"]):
        hits.append(RuleHit(cfg.code, cfg.outcome, cfg.severity, {
            "count": facts.recent_count + 1, "max_count": int(cfg.params["max_count"]),
            "window_minutes": int(cfg.params["window_minutes"]),
        }))
    cfg = configs["amount_anomaly"]
    if cfg.enabled and facts.average_amount is not None:
        multiple, floor = Decimal(cfg.params["multiple"]), money(cfg.params["min_amount"])
        threshold = money(facts.average_amount * multiple)
        if facts.amount > threshold and facts.amount > floor:
            hits.append(RuleHit(cfg.code, cfg.outcome, cfg.severity, {
                "amount": str(facts.amount), "average": str(money(facts.average_amount)),
                "threshold": str(threshold), "min_amount": str(floor),
            }))
    cfg = configs["high_risk_category"]
    if cfg.enabled and facts.category and facts.category in set(cfg.params["categories"]):
        hits.append(RuleHit(cfg.code, cfg.outcome, cfg.severity, {"category": facts.category}))
    return hits


# --- Score bands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    name: str
    min_score: int
    limit: Decimal
    action: str


DECLINE_BAND = Band(name="", min_score=-(10**9), limit=ZERO, action=DECLINE)


def band_for(score: int, bands: Sequence[Band]) -> Band:
    """The band of ``score``: the highest band whose ``min_score`` it reaches; below every band
    it is declined (PRODUCT §3: below 500 → decline)."""
    for band in sorted(bands, key=lambda b: b.min_score, reverse=True):
        if score >= band.min_score:
            return band
    return DECLINE_BAND


def band_rank(band_name: str, bands: Sequence[Band]) -> int:
    """0 for the best band, larger is worse; unknown names (or the implicit decline band) last."""
    ordered = [b.name for b in sorted(bands, key=lambda b: b.min_score, reverse=True)]
    return ordered.index(band_name) if band_name in ordered else len(ordered)


# --- Limit reviews ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewFacts:
    fixed_limit: Decimal
    used_amount: Decimal
    manual_freeze: bool
    overdue_now: bool
    overdue_since_last_review: bool
    overdue_within_raise_window: bool
    score_before: int | None
    score_after: int | None
    # PRODUCT §13 (issue 24): one limit cut per delinquency episode.
    cut_this_episode: bool = False


@dataclass(frozen=True)
class ReviewPolicy:
    raise_utilisation_above: Decimal
    raise_min_score_gain: int
    raise_step: Decimal
    cut_step: Decimal
    max_limit: Decimal
    limit_unit: Decimal


@dataclass(frozen=True)
class ReviewDecision:
    action: str  # raise / cut / none
    rule: str
    new_limit: Decimal
    explanation: str


def round_down_to(value: Decimal, unit: Decimal) -> Decimal:
    if unit <= 0:
        raise ValueError("unit must be positive")
    return money((value / unit).to_integral_value(rounding=ROUND_DOWN) * unit)


def utilisation(used: Decimal, limit: Decimal) -> Decimal | None:
    """Used ÷ fixed limit, to 4 places (None without a limit)."""
    if limit <= 0:
        return None
    return (used / limit).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)


def decide_limit_review(facts: ReviewFacts, policy: ReviewPolicy, bands: Sequence[Band]) -> ReviewDecision:
    """PRODUCT §3 dynamic adjustment.

    * a manual freeze is staff's decision: the review leaves the account alone;
    * cut when the account went overdue (now or since the last review): by ``cut_step``, once per
      delinquency episode (PRODUCT §13: an episode already cut is not cut again);
    * cut when the behaviour score fell a band: to the new band's limit, and by at least ``cut_step``;
    * a cut never goes below what is used unless the account is overdue now (PRODUCT §13);
    * raise when the score improved, utilisation is above ``raise_utilisation_above`` and there was
      no overdue in the raise window: by ``raise_step``, never above ``max_limit``;
    * otherwise no change. New limits are rounded down to ``limit_unit``.
    """
    old = facts.fixed_limit
    unit = policy.limit_unit

    def none(rule: str, why: str) -> ReviewDecision:
        return ReviewDecision("none", rule, old, why)

    if facts.manual_freeze:
        return none("manual_freeze", "frozen by staff: the review does not change the limit")
    stepped_down = round_down_to(old * (1 - policy.cut_step), unit)
    floor = money(0)
    if not facts.overdue_now and facts.used_amount > 0:  # never below what is used (up to the unit) unless overdue
        floor = min(money((facts.used_amount / unit).to_integral_value(rounding=ROUND_CEILING) * unit), old)
    if facts.overdue_now or facts.overdue_since_last_review:
        if facts.cut_this_episode:
            return none("overdue_already_cut", "this delinquency episode already cut the limit once")
        new = max(min(stepped_down, old), floor)
        if new < old:
            return ReviewDecision("cut", "overdue", new, f"went overdue: limit cut by {policy.cut_step * 100:.0f} %")
        return none("overdue", "went overdue, but the limit cannot go lower")
    before, after = facts.score_before, facts.score_after
    if before is not None and after is not None:
        band_before, band_after = band_for(before, bands), band_for(after, bands)
        if band_rank(band_after.name, bands) > band_rank(band_before.name, bands):
            new = max(min(stepped_down, round_down_to(band_after.limit, unit)), floor)
            if new < old:
                return ReviewDecision(
                    "cut", "score_band_drop", new,
                    f"score {before} → {after}: band {band_before.name or '—'} → {band_after.name or 'decline'}",
                )
            return none("score_band_drop", "score fell a band, but the limit cannot go lower")
        used_share = utilisation(facts.used_amount, old)
        if (
            after - before >= policy.raise_min_score_gain
            and old > 0
            and facts.used_amount > old * policy.raise_utilisation_above  # exact, not the rounded share
            and not facts.overdue_within_raise_window
        ):
            new = min(round_down_to(old * (1 + policy.raise_step), unit), round_down_to(policy.max_limit, unit))
            if new > old:
                return ReviewDecision(
                    "raise", "behaviour_improved", new,
                    f"score {before} → {after}, utilisation {used_share:.0%}, no overdue",
                )
            return none("max_limit", "already at the maximum limit")
    return none("no_change", "no rule applies")


# --- Campaign amounts -------------------------------------------------------------------------


def campaign_amount(*, kind: str, value: Decimal, fixed_limit: Decimal, unit: Decimal) -> Decimal:
    """The temporary limit a campaign gives one account: a fixed amount, or a share of the fixed
    limit, rounded down to ``unit``."""
    raw = value if kind == "fixed" else fixed_limit * value
    return round_down_to(raw, unit)


def months_before(day: dt.date, months: int) -> dt.date:
    from dateutil.relativedelta import relativedelta

    return day - relativedelta(months=months)
