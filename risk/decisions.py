"""The score step of an application decision as a pure function: scorecard table + mapped
features + the band table → score, band, the band's action and limit, reason codes. The same
inputs always give the same result (a stored decision can be replayed)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from collections.abc import Mapping, Sequence

from core.money import ZERO
from risk.rules import DECLINE, Band, band_for
from risk.scoring import score


@dataclass(frozen=True)
class ScoreDecision:
    score: int
    band: str
    band_action: str  # approve / review / decline
    band_limit: Decimal  # the limit the band grants (0 for a declining band)
    reason_codes: list[dict[str, Any]]
    missing: tuple[str, ...]


def decide_score(
    *, table: Mapping[str, Any], features: Mapping[str, Any], bands: Sequence[Band], reason_code_count: int
) -> ScoreDecision:
    result = score(table, features)
    band = band_for(result.score, bands)
    return ScoreDecision(
        score=result.score,
        band=band.name,
        band_action=band.action,
        band_limit=ZERO if band.action == DECLINE else band.limit,
        reason_codes=result.reason_codes(reason_code_count),
        missing=result.missing,
    )
