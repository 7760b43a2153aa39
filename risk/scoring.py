"""Scoring with a stored scorecard table, in plain Python (no pandas, numpy or optbinning).

The table (``ScorecardVersion.table``) is written by ``risk.training.pipeline.export_table`` from
an ``optbinning.Scorecard``; this module reproduces the library's ``Scorecard.score`` to the point:

* numerical attribute: bin ``i`` holds ``splits[i-1] <= x < splits[i]`` (``numpy.digitize`` with
  ``right=False``, i.e. ``bisect_right``); a missing value (None, "", NaN) takes the Missing bin,
  a value listed in ``special_codes`` the Special bin;
* categorical attribute: the bin whose category list holds the value; a missing value, and a
  category never seen in training, take the Missing bin (the library's ``cat_unknown`` index −1);
* score = sum of the integer points of each attribute's bin + the table's intercept.

Reason codes: the attributes that cost the most points against their best bin (PRODUCT §3).
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping, Sequence

TABLE_FORMAT = "points-table/1"

MISSING = "Missing"
SPECIAL = "Special"


class ScoringError(ValueError):
    pass


@dataclass(frozen=True)
class AttributeScore:
    attribute: str
    value: Any
    bin: str
    points: int
    best_points: int

    @property
    def points_lost(self) -> int:
        return self.best_points - self.points


@dataclass(frozen=True)
class ScoreResult:
    score: int
    attributes: tuple[AttributeScore, ...]
    missing: tuple[str, ...]

    def reason_codes(self, count: int) -> list[dict[str, Any]]:
        """The ``count`` attributes that cost the most points against their best bin (ties by
        name, so the order is reproducible); attributes at their best bin are no reason."""
        ranked = sorted(
            (a for a in self.attributes if a.points_lost > 0), key=lambda a: (-a.points_lost, a.attribute)
        )
        return [
            {
                "code": a.attribute,
                "bin": a.bin,
                "value": a.value,
                "points": a.points,
                "points_lost": a.points_lost,
            }
            for a in ranked[:count]
        ]


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str) and value.strip() == "":
        return True
    return isinstance(value, float) and math.isnan(value)


def _number(attribute: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ScoringError(f"{attribute}: expected a number, got a boolean")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ScoringError(f"{attribute}: expected a number, got {value!r}") from None
    if math.isinf(number):
        raise ScoringError(f"{attribute}: expected a finite number")
    return number


def variable_names(table: Mapping[str, Any]) -> list[str]:
    return [v["name"] for v in table["variables"]]


def check_table(table: Mapping[str, Any]) -> None:
    """Refuse a table this module cannot read faithfully."""
    if table.get("format") != TABLE_FORMAT:
        raise ScoringError(f"unsupported table format {table.get('format')!r}")
    for var in table["variables"]:
        n_bins = len(var["bins"])
        if var["dtype"] == "numerical":
            splits = var["splits"]
            if len(splits) + 1 != n_bins or list(splits) != sorted(splits):
                raise ScoringError(f"{var['name']}: splits do not match the bins")
        elif var["dtype"] == "categorical":
            seen: set = set()
            for b in var["bins"]:
                cats = set(b["categories"])
                if cats & seen:
                    raise ScoringError(f"{var['name']}: a category is in two bins")
                seen |= cats
        else:
            raise ScoringError(f"{var['name']}: unknown dtype {var['dtype']!r}")
        for key in ("special_points", "missing_points"):
            if not isinstance(var[key], int):
                raise ScoringError(f"{var['name']}: {key} must be integer points")
        if not all(isinstance(b["points"], int) for b in var["bins"]):
            raise ScoringError(f"{var['name']}: bin points must be integers")


def _attribute(var: Mapping[str, Any], value: Any) -> AttributeScore:
    bins: Sequence[Mapping[str, Any]] = var["bins"]
    best = max(b["points"] for b in bins)
    name = var["name"]
    if is_missing(value):
        return AttributeScore(name, None, MISSING, var["missing_points"], best)
    special = var.get("special_codes") or []
    if value in special:
        return AttributeScore(name, value, SPECIAL, var["special_points"], best)
    if var["dtype"] == "numerical":
        index = bisect_right(var["splits"], _number(name, value))
        chosen = bins[index]
        return AttributeScore(name, value, chosen["label"], chosen["points"], best)
    key = str(value)
    for chosen in bins:
        if key in chosen["categories"]:
            return AttributeScore(name, value, chosen["label"], chosen["points"], best)
    return AttributeScore(name, value, f"{MISSING} (unknown category)", var["missing_points"], best)


def score(table: Mapping[str, Any], features: Mapping[str, Any]) -> ScoreResult:
    """Score one applicant or account. Attributes absent from ``features`` count as missing."""
    attributes = tuple(_attribute(var, features.get(var["name"])) for var in table["variables"])
    total = int(table.get("intercept", 0)) + sum(a.points for a in attributes)
    missing = tuple(a.attribute for a in attributes if a.bin.startswith(MISSING))
    return ScoreResult(score=total, attributes=attributes, missing=missing)


def score_range(table: Mapping[str, Any]) -> tuple[int, int]:
    """Lowest and highest possible score (over regular, special and missing bins)."""
    low = high = int(table.get("intercept", 0))
    for var in table["variables"]:
        points = [b["points"] for b in var["bins"]] + [var["special_points"], var["missing_points"]]
        low += min(points)
        high += max(points)
    return low, high
