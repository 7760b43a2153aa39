"""The platform's own portfolio as a training set (behaviour scorecard): features as of an
observation date, outcome "DPD ≥ 60 within N months after it" (``risk.portfolio``)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta

from core.business_date import get_business_date
from risk.portfolio import BEHAVIOUR_FEATURES, portfolio_observations
from risk.training.datasets import Dataset, DatasetUnavailable

MIN_BADS = 10


def load_portfolio(*, as_of: dt.date, outcome_months: int = 6, bad_dpd: int = 60) -> Dataset:
    through = as_of + relativedelta(months=outcome_months)
    today = get_business_date()
    if through > today:
        raise DatasetUnavailable(
            f"The outcome window ends on {through}, after the business date {today}: move the portfolio "
            f"through time first (e.g. `manage.py demo_live --through {through}`) or observe earlier."
        )
    rows, outcomes = [], []
    for _, features, bad in portfolio_observations(as_of=as_of, outcome_months=outcome_months, bad_dpd=bad_dpd):
        rows.append(features)
        outcomes.append(int(bad))
    y = np.array(outcomes, dtype=int)
    if len(y) == 0 or y.sum() < MIN_BADS or (len(y) - y.sum()) < MIN_BADS:
        raise DatasetUnavailable(
            f"Not enough outcomes to train on: {len(y)} accounts, {int(y.sum())} reached DPD {bad_dpd} "
            f"(at least {MIN_BADS} of each are needed)."
        )
    frame = pd.DataFrame(rows, columns=list(BEHAVIOUR_FEATURES)).astype(float)
    # An attribute without two distinct known values cannot be binned (e.g. no statement yet had a
    # payment due): leave it out of this version, and say so.
    dropped = [c for c in frame.columns if frame[c].nunique(dropna=True) < 2]
    frame = frame.drop(columns=dropped)
    return Dataset(
        name="portfolio",
        purpose="behaviour",
        X=frame,
        y=y,
        categorical=[],
        description=f"platform portfolio observed {as_of}, bad = DPD ≥ {bad_dpd} by {through}",
        extra={"as_of": as_of.isoformat(), "outcome_through": through.isoformat(), "bad_dpd": bad_dpd,
               "outcome_months": outcome_months, "dropped_attributes": dropped},
    )
