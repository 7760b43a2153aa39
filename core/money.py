"""Money: CNY amounts as ``Decimal`` with two places, one rounding helper, one split helper.

A float anywhere in money code is a bug: every function here refuses one.
"""
from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.db import models

CURRENCY = "CNY"
MONEY_MAX_DIGITS = 14
MONEY_DECIMAL_PLACES = 2
RATE_MAX_DIGITS = 9
RATE_DECIMAL_PLACES = 6
CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money_output_field() -> models.DecimalField:
    """The output field of an amount computed in SQL (sums of money columns, open amounts)."""
    return models.DecimalField(max_digits=MONEY_MAX_DIGITS + 2, decimal_places=MONEY_DECIMAL_PLACES)


def money_sum(expr) -> models.expressions.Combinable:
    """``SUM(expr)``, zero when there are no rows, as money (the one aggregate every reader of open amounts uses)."""
    from django.db.models import Sum, Value
    from django.db.models.functions import Coalesce

    field = money_output_field()
    return Coalesce(Sum(expr, output_field=field), Value(ZERO), output_field=field)


def _to_decimal(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float):
        raise TypeError("money must never be a float; pass a Decimal, int or str")
    if isinstance(value, Decimal):
        return value
    return Decimal(value)


def money(value: Decimal | int | str) -> Decimal:
    """Round to the cent, half up (the one rounding rule of PRODUCT §2)."""
    return _to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def money_down(value: Decimal | int | str) -> Decimal:
    """Truncate to the cent (used by the split rule)."""
    return _to_decimal(value).quantize(CENT, rounding=ROUND_DOWN)


def split(total: Decimal | int | str, parts: int) -> list[Decimal]:
    """Split ``total`` into ``parts``: each part is total/parts rounded down to the cent, the last
    takes the remainder, so the parts sum exactly to ``total``. ``split(1000, 3)`` →
    ``[333.33, 333.33, 333.34]``."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    total = money(total)
    if total < 0:
        raise ValueError("cannot split a negative amount")
    each = money_down(total / parts)
    return [each] * (parts - 1) + [total - each * (parts - 1)]


def format_cny(value: Decimal | None) -> str:
    """``¥1,234.50``; used by admin columns and exports."""
    if value is None:
        return "—"
    value = money(value)
    sign = "-" if value < 0 else ""
    return f"{sign}¥{abs(value):,.2f}"


def MoneyField(verbose_name: str | None = None, **kwargs) -> models.DecimalField:  # noqa: N802
    """A ``DecimalField`` sized by the one money constant."""
    kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
    kwargs.setdefault("decimal_places", MONEY_DECIMAL_PLACES)
    return models.DecimalField(verbose_name, **kwargs)


def RateField(verbose_name: str | None = None, **kwargs) -> models.DecimalField:  # noqa: N802
    """A rate as a fraction (``0.006`` = 0.6 %)."""
    kwargs.setdefault("max_digits", RATE_MAX_DIGITS)
    kwargs.setdefault("decimal_places", RATE_DECIMAL_PLACES)
    return models.DecimalField(verbose_name, **kwargs)
