"""Scorecard training: optimal WOE binning + logistic regression, scaled to points, evaluated
with stratified k-fold cross-validation and a holdout (AUC, KS, Gini).

Heavy libraries (optbinning and its solvers, scikit-learn, pandas, numpy — ``requirements-train.txt``)
are imported here only; the web and worker processes score with ``risk.scoring`` from the stored
table and never import this package.

Why optbinning: it solves the binning as a constrained optimisation (monotonic event rates, minimum
bin sizes), ships the ``Scorecard`` with points-to-double-odds scaling and integer rounding, and is
actively maintained; its bins and points export cleanly as data.
"""
from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from typing import Any

import numpy as np
import pandas as pd
from optbinning import BinningProcess, Scorecard
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, train_test_split

from risk.scoring import TABLE_FORMAT, check_table
from risk.training.datasets import Dataset

#: PRODUCT §3: 600 points at 50:1 good:bad odds, 20 points to double the odds.
SCALING = {"pdo": 20, "odds": 50, "scorecard_points": 600}


@dataclass(frozen=True)
class TrainingParams:
    seed: int = 42
    folds: int = 5
    holdout: float = 0.25
    C: float = 0.1  # L2 regularisation of the logistic regression (sklearn's inverse strength)
    max_n_prebins: int = 20
    min_prebin_size: float = 0.05


@dataclass
class TrainingResult:
    dataset: Dataset
    params: TrainingParams
    scorecard: Scorecard
    table: dict[str, Any]
    metrics: dict[str, Any]
    training: dict[str, Any] = field(default_factory=dict)


def build_scorecard(dataset: Dataset, params: TrainingParams) -> Scorecard:
    binning = BinningProcess(
        variable_names=list(dataset.X.columns),
        categorical_variables=list(dataset.categorical),
        max_n_prebins=params.max_n_prebins,
        min_prebin_size=params.min_prebin_size,
    )
    return Scorecard(
        binning_process=binning,
        estimator=LogisticRegression(C=params.C, max_iter=1000),
        scaling_method="pdo_odds",
        scaling_method_params=dict(SCALING),
        rounding=True,
    )


def ks_statistic(y: np.ndarray, risk: np.ndarray) -> float:
    """Kolmogorov–Smirnov: the largest gap between the bads' and the goods' cumulative shares."""
    fpr, tpr, _ = roc_curve(y, risk)
    return float(np.max(tpr - fpr))


def discrimination(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """AUC, KS and Gini of a points score (higher score = lower risk, so risk = −score)."""
    risk = -np.asarray(score, dtype=float)
    auc = float(roc_auc_score(y, risk))
    return {"auc": round(auc, 4), "ks": round(ks_statistic(y, risk), 4), "gini": round(2 * auc - 1, 4)}


def cross_validate(dataset: Dataset, params: TrainingParams) -> dict[str, Any]:
    """Stratified k-fold: binning and regression are refitted inside every fold (no leakage)."""
    X, y = dataset.X, dataset.y
    folds = []
    for train_idx, test_idx in StratifiedKFold(params.folds, shuffle=True, random_state=params.seed).split(X, y):
        model = build_scorecard(dataset, params).fit(X.iloc[train_idx], y[train_idx])
        metrics = discrimination(y[test_idx], model.score(X.iloc[test_idx]))
        folds.append({**metrics, "n": int(len(test_idx)), "bads": int(y[test_idx].sum())})
    aucs = np.array([f["auc"] for f in folds])
    return {
        "folds": params.folds,
        "seed": params.seed,
        "auc": round(float(aucs.mean()), 4),
        "auc_std": round(float(aucs.std()), 4),
        "ks": round(float(np.mean([f["ks"] for f in folds])), 4),
        "gini": round(float(np.mean([f["gini"] for f in folds])), 4),
        "per_fold": folds,
    }


def export_table(scorecard: Scorecard) -> dict[str, Any]:
    """The fitted scorecard as data: per attribute its bins (numerical splits or category lists)
    with integer points, the Special and Missing points, and the bins' statistics for staff."""
    detailed = scorecard.table(style="detailed")
    summary = scorecard.binning_process_.summary().set_index("name")
    variables = []
    for name in (str(n) for n in scorecard.binning_process_.get_support(names=True)):
        optb = scorecard.binning_process_.get_binned_variable(name)
        rows = detailed[detailed["Variable"] == name].reset_index(drop=True)
        n_bins = len(rows) - 2  # the last two rows are Special and Missing
        if optb.special_codes is not None and not isinstance(optb.special_codes, list):
            raise ValueError("only a plain list of special codes can be exported")
        bins = []
        for i in range(n_bins):
            row = rows.iloc[i]
            entry = {
                "label": _bin_label(row["Bin"]),
                "points": int(round(float(row["Points"]))),
                "count": int(row["Count"]),
                "bads": int(row["Event"]),
                "event_rate": round(float(row["Event rate"]), 4),
                "woe": round(float(row["WoE"]), 4),
                "iv": round(float(row["IV"]), 4),
            }
            if optb.dtype == "categorical":
                entry["categories"] = [str(c) for c in optb.splits[i]]
            bins.append(entry)
        var = {
            "name": str(name),
            "dtype": optb.dtype,
            "coefficient": round(float(rows.iloc[0]["Coefficient"]), 6),
            "iv": round(float(summary.loc[name, "iv"]), 4),
            "bins": bins,
            "special_points": int(round(float(rows.iloc[n_bins]["Points"]))),
            "missing_points": int(round(float(rows.iloc[n_bins + 1]["Points"]))),
            "special_codes": list(optb.special_codes or []),
        }
        if optb.dtype == "numerical":
            var["splits"] = [float(s) for s in optb.splits]
        variables.append(var)
    table = {
        "format": TABLE_FORMAT,
        "scaling": {"pdo": SCALING["pdo"], "odds": SCALING["odds"], "points": SCALING["scorecard_points"]},
        "target": "bad = 1 (event); higher score = lower risk",
        "intercept": int(round(float(scorecard.intercept_))),
        "variables": variables,
    }
    check_table(table)
    return table


def _bin_label(value: Any) -> str:
    if isinstance(value, str):
        return value
    if hasattr(value, "__iter__"):  # a categorical bin: list, ndarray or pandas array of categories
        return " | ".join(str(v) for v in value)
    return str(value)


def library_versions() -> dict[str, str]:
    return {name: package_version(name) for name in ("optbinning", "scikit-learn", "pandas", "numpy")}


@contextmanager
def _quiet_libraries():
    """optbinning still calls pandas APIs that pandas 3 deprecates: keep its warnings out of the output."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"optbinning(\..*)?$")
        warnings.filterwarnings("ignore", module=r"sklearn(\..*)?$", category=FutureWarning)
        yield


def train(dataset: Dataset, params: TrainingParams | None = None) -> TrainingResult:
    """Cross-validate on the whole data set, then fit the stored model on the development split
    and evaluate it on the stratified holdout it never saw."""
    with _quiet_libraries():
        return _train(dataset, params or TrainingParams())


def _train(dataset: Dataset, params: TrainingParams) -> TrainingResult:
    started = time.perf_counter()
    cv = cross_validate(dataset, params)
    X, y = dataset.X, dataset.y
    X_dev, X_hold, y_dev, y_hold = train_test_split(
        X, y, test_size=params.holdout, stratify=y, random_state=params.seed
    )
    model = build_scorecard(dataset, params).fit(X_dev, y_dev)
    table = export_table(model)
    metrics = {
        "cv": cv,
        "holdout": {"share": params.holdout, "n": int(len(y_hold)), "bads": int(y_hold.sum()),
                    **discrimination(y_hold, model.score(X_hold))},
        "development": {"n": int(len(y_dev)), "bads": int(y_dev.sum()), **discrimination(y_dev, model.score(X_dev))},
        "all_rows": {"n": int(len(y)), "bads": int(y.sum()), **discrimination(y, model.score(X))},
        **({"baseline": dataset.baseline} if dataset.baseline else {}),
    }
    support = set(model.binning_process_.get_support(names=True))
    training = {
        "dataset": dataset.name,
        "description": dataset.description,
        "rows": int(len(y)),
        "bad_rate": round(float(y.mean()), 4),
        "params": {
            "seed": params.seed, "folds": params.folds, "holdout": params.holdout, "C": params.C,
            "max_n_prebins": params.max_n_prebins, "min_prebin_size": params.min_prebin_size,
            "scaling": dict(SCALING),
        },
        "variables": list(dataset.X.columns),
        "excluded_variables": [v for v in dataset.X.columns if v not in support],
        "libraries": library_versions(),
        "seconds": round(time.perf_counter() - started, 2),
        **dataset.extra,
    }
    return TrainingResult(dataset=dataset, params=params, scorecard=model, table=table, metrics=metrics, training=training)


def as_feature_rows(X: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a data frame as plain dicts (what ``risk.scoring.score`` takes)."""
    return [
        {k: (None if (isinstance(v, float) and np.isnan(v)) else v) for k, v in row.items()}
        for row in X.to_dict(orient="records")
    ]
