"""``{% load money %}`` → ``{{ amount|cny }}``: every amount in every admin template, ``¥1,234.50``.

One filter over :func:`core.money.format_cny` (ROUND_HALF_UP to the cent, thousands separators), so
an unrounded sum (SQLite's ``10146.28000000000``) is shown as ``¥10,146.28``."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

from core.money import format_cny

register = template.Library()


def to_decimal(value) -> Decimal | None:
    """A value a template holds (Decimal, int, the text of a number, a database float) as a Decimal."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        return None


@register.filter
def cny(value) -> str:
    return format_cny(to_decimal(value))
