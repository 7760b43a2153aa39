"""Factories and helpers for the risk tests.

The German Credit scorecard is trained once per test session (``german_training()``, cached):
the application tests score with that real table."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

from django.utils import timezone

from core.identity import make_id_number
from risk.models import ScorecardVersion
from risk.scoring import TABLE_FORMAT

BUSINESS_DATE = dt.date(2026, 1, 5)  # the conftest's default business date
CONSENTS = [
    ("data_processing", "1.0", True),
    ("credit_bureau", "1.0", True),
    ("marketing", "1.0", True),
]


@lru_cache(maxsize=1)
def german_training():
    """The German Credit pipeline's result (trained once per session: ~3 s)."""
    from risk.training.datasets import load_german
    from risk.training.pipeline import train

    return train(load_german())


@lru_cache(maxsize=1)
def german_rows_with_scores() -> list[tuple[dict[str, Any], int]]:
    """Every German row (as plain dicts) with the library's score for it."""
    from risk.training.pipeline import as_feature_rows

    result = german_training()
    rows = as_feature_rows(result.dataset.X)
    return list(zip(rows, (int(s) for s in result.scorecard.score(result.dataset.X))))


def german_row_scoring(predicate) -> tuple[int, dict[str, Any], int]:
    """(index, row, score) of the first German row whose score satisfies ``predicate``, of an
    applicant the default risk policy's ages (18–60) let in (the data set holds people up to 75)."""
    for index, (row, score) in enumerate(german_rows_with_scores()):
        if predicate(score) and 18 <= int(row["age_in_years"]) <= 60:
            return index, row, score
    raise LookupError("no German row matches")


def scorecard_version(*, table: dict, purpose: str = "application", name: str = "german", active: bool = True,
                      version: int | None = None) -> ScorecardVersion:
    number = version or (ScorecardVersion.objects.filter(name=name).count() + 1)
    return ScorecardVersion.objects.create(
        name=name, version=number, purpose=purpose, dataset=name, table=table,
        metrics={"cv": {"auc": 0.79}}, trained_at=timezone.now(),
        status=ScorecardVersion.Status.ACTIVE if active else ScorecardVersion.Status.DRAFT,
    )


def german_version(active: bool = True) -> ScorecardVersion:
    return scorecard_version(table=german_training().table, active=active)


def id_number_for_age(age: int, sequence: int, *, on: dt.date = BUSINESS_DATE, region: str = "110105") -> str:
    """A valid ID number of someone ``age`` years old on ``on``."""
    birth = dt.date(on.year - age, 1, 1)
    if (on.month, on.day) < (1, 1):  # pragma: no cover - 1 January is never after ``on``'s day
        birth = dt.date(on.year - age - 1, 1, 1)
    return make_id_number(region, birth, sequence)


def application_payload(row: dict[str, Any], sequence: int, **overrides) -> dict[str, Any]:
    """``application_submit`` keyword arguments for a German row: the ID number's birth date gives
    the row's age on the business date, so the applicant scores exactly as the row."""
    features = {k: v for k, v in row.items() if k != "age_in_years"}
    payload = {
        "name": f"张三{sequence}",
        "id_number": id_number_for_age(int(row["age_in_years"]), sequence),
        "mobile": f"139{sequence:08d}",
        "device_id": f"device-{sequence}",
        "consents": list(CONSENTS),
        "features": features,
    }
    payload.update(overrides)
    return payload


def numeric_variable(name: str, splits: list[float], points: list[int], *, missing: int = 0) -> dict[str, Any]:
    return {
        "name": name, "dtype": "numerical", "splits": splits,
        "bins": [{"label": f"bin {i}", "points": p} for i, p in enumerate(points)],
        "special_points": missing, "missing_points": missing, "special_codes": [],
    }


def behaviour_table() -> dict[str, Any]:
    """A small hand-written behaviour scorecard over ``risk.portfolio`` features:
    base 560 + utilisation (<0.5: +40, 0.5–0.9: +20, ≥0.9: 0) + worst bucket (M0: +60, M1: 0, ≥M2: −60)
    + months on book (<6: 0, ≥6: +20)."""
    return {
        "format": TABLE_FORMAT,
        "scaling": {"pdo": 20, "odds": 50, "points": 600},
        "intercept": 0,
        "variables": [
            numeric_variable("months_on_book", [6.0], [0, 20], missing=0),
            numeric_variable("utilisation", [0.5, 0.9], [40, 20, 0], missing=20),
            numeric_variable("worst_bucket_180d", [1.0, 2.0], [60, 0, -60], missing=0),
            {"name": "base", "dtype": "categorical",
             "bins": [{"label": "all", "categories": ["all"], "points": 560}],
             "special_points": 560, "missing_points": 560, "special_codes": []},
        ],
    }


def segment_table(points: dict[str, int], *, missing: int = 0) -> dict[str, Any]:
    """A one-attribute application scorecard (``segment`` → points): for scores the German data
    cannot reach (its best possible applicant scores 649, below band A)."""
    return {
        "format": TABLE_FORMAT,
        "scaling": {"pdo": 20, "odds": 50, "points": 600},
        "intercept": 0,
        "variables": [{
            "name": "segment", "dtype": "categorical",
            "bins": [{"label": k, "categories": [k], "points": v} for k, v in points.items()],
            "special_points": missing, "missing_points": missing, "special_codes": [],
        }],
    }
