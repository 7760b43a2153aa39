"""The pure rule functions of ``risk.rules`` at their boundaries (no database)."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from hypothesis import given
from hypothesis import strategies as st

from risk.rules import (
    RULE_SPECS,
    Band,
    PurchaseFacts,
    ReviewFacts,
    ReviewPolicy,
    application_velocity_hit,
    band_for,
    band_rank,
    campaign_amount,
    decide_limit_review,
    default_config,
    purchase_rule_hits,
    round_down_to,
    strongest,
    utilisation,
    validate_rule_config,
)

D = Decimal
BANDS = [Band("A", 650, D("20000"), "approve"), Band("B", 600, D("10000"), "approve"),
         Band("C", 550, D("5000"), "approve"), Band("D", 500, D("2000"), "approve")]
CONFIGS = {code: default_config(code) for code in RULE_SPECS}
POLICY = ReviewPolicy(raise_utilisation_above=D("0.50"), raise_min_score_gain=1, raise_step=D("0.20"),
                      cut_step=D("0.30"), max_limit=D("50000.00"), limit_unit=D("100.00"))


def facts(**kw) -> PurchaseFacts:
    return PurchaseFacts(**{"amount": D("100.00"), **kw})


def rules(hits) -> list[str]:
    return [h.rule for h in hits]


@pytest.mark.parametrize("score, band", [(650, "A"), (649, "B"), (600, "B"), (599, "C"), (550, "C"), (549, "D"),
                                         (500, "D"), (499, ""), (-50, "")])
def test_score_bands_at_their_boundaries(score, band):
    assert band_for(score, BANDS).name == band
    assert band_for(score, BANDS).limit == {"A": D("20000"), "B": D("10000"), "C": D("5000"), "D": D("2000"), "": 0}[band]


def test_band_rank_orders_best_first_and_decline_last():
    assert [band_rank(n, BANDS) for n in ("A", "B", "C", "D", "")] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("prior, fires", [(0, False), (2, False), (3, True), (7, True)],
                         ids=["1st", "3rd", "4th", "8th"])
def test_application_velocity_more_than_three_in_the_window(prior, fires):
    hit = application_velocity_hit(cfg=CONFIGS["application_velocity"], prior_counts={"id_number": prior, "mobile": 0})
    assert (hit is not None) == fires
    if fires:
        assert hit.details["counts"] == {"id_number": prior + 1}


@pytest.mark.parametrize("recent, fires", [(4, False), (5, True)], ids=["5th-passes", "6th-declined"])
def test_purchase_velocity_more_than_five_in_ten_minutes(recent, fires):
    hits = purchase_rule_hits(facts(recent_count=recent), CONFIGS)
    assert rules(hits) == (["purchase_velocity"] if fires else [])
    assert strongest(hits) == ("decline" if fires else "approve")


@pytest.mark.parametrize(
    "amount, average, fires",
    [("3000.00", "1000.00", False), ("3000.01", "1000.00", True), ("2000.00", "100.00", False),
     ("2000.01", "100.00", True), ("1600.00", "500.00", False), ("50000.00", None, False)],
    ids=["exactly-3x", "above-3x", "at-2000-floor", "above-floor", "3x-but-small", "no-history"],
)
def test_amount_anomaly_needs_more_than_3x_the_average_and_more_than_2000(amount, average, fires):
    hits = purchase_rule_hits(facts(amount=D(amount), average_amount=D(average) if average else None), CONFIGS)
    assert rules(hits) == (["amount_anomaly"] if fires else [])
    if fires:
        assert hits[0].outcome == "review"


def test_amount_anomaly_uses_the_exact_average():
    # average of 1000.00, 1000.00, 1000.01 = 1000.003333…: 3× = 3000.01 (rounded), so 3000.01 passes
    average = (D("1000.00") + D("1000.00") + D("1000.01")) / 3
    assert purchase_rule_hits(facts(amount=D("3000.01"), average_amount=average), CONFIGS) == []
    assert rules(purchase_rule_hits(facts(amount=D("3000.02"), average_amount=average), CONFIGS)) == ["amount_anomaly"]


@pytest.mark.parametrize("category, fires", [("gift_card", True), ("top_up", True), ("electronics", False), ("", False)])
def test_high_risk_categories(category, fires):
    assert rules(purchase_rule_hits(facts(category=category), CONFIGS)) == (["high_risk_category"] if fires else [])


def test_blacklisted_device_declines_and_beats_a_hold():
    hits = purchase_rule_hits(facts(category="gift_card", device_blacklisted=True), CONFIGS)
    assert rules(hits) == ["blacklisted_device", "high_risk_category"]
    assert strongest(hits) == "decline"


def test_a_disabled_rule_never_fires():
    configs = dict(CONFIGS)
    configs["high_risk_category"] = type(CONFIGS["high_risk_category"])(
        code="high_risk_category", enabled=False, outcome="review", severity="medium", params={"categories": ["gift_card"]})
    assert purchase_rule_hits(facts(category="gift_card"), configs) == []


@pytest.mark.parametrize(
    "code, outcome, params, enabled, ok",
    [
        ("purchase_velocity", "review", {"max_count": 8}, True, True),
        ("purchase_velocity", "decline", {"max_count": 0}, True, False),
        ("purchase_velocity", "decline", {"max_count": "5"}, True, False),
        ("amount_anomaly", "review", {"multiple": "2.5", "min_amount": "1000.00"}, True, True),
        ("amount_anomaly", "review", {"multiple": 2.5}, True, False),
        ("amount_anomaly", "review", {"multiple": "-1"}, True, False),
        ("high_risk_category", "review", {"categories": ["gift_card", "crypto"]}, True, True),
        ("high_risk_category", "review", {"categories": "gift_card"}, True, False),
        ("purchase_velocity", "decline", {"window": 5}, True, False),
        ("purchase_velocity", "maybe", {}, True, False),
        ("identity_mobile", "decline", {}, False, False),
        ("identity_mobile", "review", {}, True, False),
        ("early_overdue", "decline", {}, True, False),
        ("nonsense", "decline", {}, True, False),
    ],
)
def test_rule_configuration_is_validated(code, outcome, params, enabled, ok):
    if ok:
        merged = validate_rule_config(code=code, outcome=outcome, params=params, enabled=enabled)
        assert set(merged) == set(RULE_SPECS[code].params)
    else:
        with pytest.raises(DjangoValidationError):
            validate_rule_config(code=code, outcome=outcome, params=params, enabled=enabled)


# --- limit reviews --------------------------------------------------------------------------------


def review(**kw) -> ReviewFacts:
    base = dict(fixed_limit=D("10000.00"), used_amount=D("6000.00"), manual_freeze=False, overdue_now=False,
                overdue_since_last_review=False, overdue_within_raise_window=False, score_before=560, score_after=580)
    base.update(kw)
    return ReviewFacts(**base)


@pytest.mark.parametrize(
    "kw, action, rule, new",
    [
        ({}, "raise", "behaviour_improved", "12000.00"),
        ({"used_amount": D("5000.00")}, "none", "no_change", "10000.00"),  # utilisation exactly 50 %: not above
        ({"used_amount": D("5000.01")}, "raise", "behaviour_improved", "12000.00"),
        ({"score_after": 560}, "none", "no_change", "10000.00"),  # no improvement
        ({"overdue_within_raise_window": True}, "none", "no_change", "10000.00"),
        ({"overdue_now": True}, "cut", "overdue", "7000.00"),
        ({"overdue_since_last_review": True}, "cut", "overdue", "7000.00"),
        ({"score_before": 560, "score_after": 549, "used_amount": D("1000.00")}, "cut", "score_band_drop",
         "2000.00"),  # C → D: D's limit
        ({"score_before": 620, "score_after": 599, "fixed_limit": D("4000.00"), "used_amount": D("1000.00")}, "cut",
         "score_band_drop", "2800.00"),
        ({"score_before": 560, "score_after": 480, "used_amount": D("0.00")}, "cut", "score_band_drop",
         "0.00"),  # below every band
        ({"score_before": 560, "score_after": 549}, "cut", "score_band_drop",
         "6000.00"),  # never below what is used when not overdue (PRODUCT §13): 6,000.00 used
        ({"manual_freeze": True, "overdue_now": True}, "none", "manual_freeze", "10000.00"),
        ({"fixed_limit": D("45000.00"), "used_amount": D("40000.00")}, "raise", "behaviour_improved", "50000.00"),
        ({"fixed_limit": D("50000.00"), "used_amount": D("40000.00")}, "none", "max_limit", "50000.00"),
        ({"score_after": None}, "none", "no_change", "10000.00"),
        ({"fixed_limit": D("1234.00"), "used_amount": D("1000.00")}, "raise", "behaviour_improved", "1400.00"),
    ],
    ids=["raise", "util-50-exact", "util-above-50", "no-gain", "overdue-in-6m", "overdue-now", "overdue-since-review",
         "band-drop-to-band-limit", "band-drop-by-step", "drop-below-bands", "band-drop-never-below-used", "manual-freeze", "raise-capped",
         "at-max", "no-behaviour-score", "round-down-100"],
)
def test_limit_review_decisions(kw, action, rule, new):
    decision = decide_limit_review(review(**kw), POLICY, BANDS)
    assert (decision.action, decision.rule, decision.new_limit) == (action, rule, D(new))


@given(
    fixed=st.decimals(min_value=0, max_value=100000, places=2),
    used=st.decimals(min_value=0, max_value=150000, places=2),
    before=st.integers(300, 800), after=st.integers(300, 800),
    overdue=st.booleans(), recent=st.booleans(), frozen=st.booleans(),
)
def test_limit_review_invariants(fixed, used, before, after, overdue, recent, frozen):
    decision = decide_limit_review(
        review(fixed_limit=fixed, used_amount=used, score_before=before, score_after=after, overdue_now=overdue,
               overdue_within_raise_window=recent or overdue, manual_freeze=frozen), POLICY, BANDS)
    assert decision.new_limit >= 0 and decision.new_limit == decision.new_limit.quantize(D("0.01"))
    assert {"raise": decision.new_limit > fixed, "cut": decision.new_limit < fixed, "none": decision.new_limit == fixed}[decision.action]
    if frozen:
        assert decision.action == "none"
    if overdue or recent:
        assert decision.action != "raise"
    if decision.action == "raise":
        assert decision.new_limit <= POLICY.max_limit and decision.new_limit % POLICY.limit_unit == 0


@pytest.mark.parametrize("kind, value, fixed, expected", [
    ("fixed", "3000", "10000.00", "3000.00"), ("share", "0.2", "10000.00", "2000.00"),
    ("share", "0.25", "7350.00", "1800.00"), ("share", "0.01", "5000.00", "0.00"), ("fixed", "150.50", "0", "100.00"),
])
def test_campaign_amounts_round_down_to_the_unit(kind, value, fixed, expected):
    assert campaign_amount(kind=kind, value=D(value), fixed_limit=D(fixed), unit=D("100.00")) == D(expected)


def test_helpers():
    assert round_down_to(D("1999.99"), D("100")) == D("1900.00")
    assert utilisation(D("9000.00"), D("10000.00")) == D("0.9000")
    assert utilisation(D("1.00"), D("0")) is None
