"""Features: what a scorecard sees, for a new applicant and for an existing account.

Application-time feature mapping (the application scorecard)
------------------------------------------------------------
The application scorecard's attributes are the names in its table (for the German Credit
version: the data set's 20 attributes, e.g. ``status_of_existing_checking_account``,
``duration_in_month``, ``credit_history``, ``purpose``, ``credit_amount``…). The storefront
sends them in the application's ``features`` object, keyed by attribute name, with the same
vocabulary as the training data (categories as the exact strings of the data set, numbers as
numbers). The mapping:

==================  ==========================================================================
attribute           source
==================  ==========================================================================
``age_in_years``    derived, never taken from the request: the applicant's age in whole years
                    on the business date, from the birth date inside the ID number (GB 11643)
numerical others    the request, as a number (int, decimal, or a numeric string)
categorical others  the request, as a string; a category the model never saw scores as Missing
absent / null       scored in the attribute's Missing bin (too many missing → manual review)
keys not in model   ignored (not stored)
==================  ==========================================================================

The mapped features are stored on the application, so a decision can be replayed exactly.

Behaviour features (the behaviour scorecard, ``--dataset portfolio``) are computed from the
platform's own data by :func:`account_behaviour_features`.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any
from collections.abc import Mapping

from core.errors import ValidationError
from core.identity import age_on, id_birth_date

DERIVED_APPLICATION_FEATURES = ("age_in_years",)


def _numeric(name: str, value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValidationError(f"{name} must be a number.", code="invalid_feature", details={"feature": name})
    if isinstance(value, (int, float)):
        return value
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{name} must be a number.", code="invalid_feature", details={"feature": name}) from None
    if not number.is_finite():
        raise ValidationError(f"{name} must be a finite number.", code="invalid_feature", details={"feature": name})
    return int(number) if number == number.to_integral_value() else float(number)


def application_features(
    table: Mapping[str, Any], raw: Mapping[str, Any] | None, *, id_number: str | None, on: dt.date
) -> dict[str, Any]:
    """Map an application's input to the scorecard's attributes (see the module docstring)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ValidationError("features must be an object.", code="invalid_features")
    mapped: dict[str, Any] = {}
    for var in table["variables"]:
        name = var["name"]
        if name == "age_in_years":
            try:
                mapped[name] = age_on(id_birth_date(id_number or ""), on)
            except (ValueError, IndexError):
                mapped[name] = None
            continue
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            mapped[name] = None
        elif var["dtype"] == "numerical":
            mapped[name] = _numeric(name, value)
        else:
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise ValidationError(f"{name} must be a string.", code="invalid_feature", details={"feature": name})
            mapped[name] = str(value).strip()
    return mapped


# --- Behaviour features --------------------------------------------------------------------------


def account_behaviour_features(account, *, on: dt.date) -> dict[str, Any]:
    """Behaviour features of an account as of ``on`` (see ``risk.portfolio.BEHAVIOUR_FEATURES``)."""
    from risk.portfolio import behaviour_features

    return behaviour_features(account, on=on)
