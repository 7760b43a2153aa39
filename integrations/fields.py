"""Serializer fields for the API's money, rates and percentages (PRODUCT §10).

Money is a JSON **string** with 2 decimals both ways (``"530.00"``): a JSON number is refused on input
so no amount ever passes through a float. Rates are strings of the fraction (``"0.005"``); APRs are
percent strings with 2 places (``"10.90"``)."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, money

_INT_DIGITS = MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES
#: An input amount: digits, a point and exactly 2 decimals, nothing before or after ("5.00"; not "5",
#: "5.0", " 5.00", "5.00\n" or "+5.00"). Matched whole (``fullmatch``: ``$`` would let a final newline in).
AMOUNT_PATTERN = rf"^(0|[1-9]\d{{0,{_INT_DIGITS - 1}}})\.\d{{2}}$"
#: A positive amount: at least 0.01 ("0.00" does not match).
POSITIVE_AMOUNT_PATTERN = rf"^([1-9]\d{{0,{_INT_DIGITS - 1}}}\.\d{{2}}|0\.(0[1-9]|[1-9]\d))$"
MONEY_OUT_PATTERN = rf"^-?\d{{1,{_INT_DIGITS}}}\.\d{{2}}$"
_AMOUNT_RE = re.compile(AMOUNT_PATTERN)


@extend_schema_field({"type": "string", "format": "decimal", "pattern": POSITIVE_AMOUNT_PATTERN, "example": "530.00"})
class AmountField(serializers.Field):
    """An input amount: a string of at most 10 integer digits, a point and exactly 2 decimals, at least ``min_value``
    (0.01 by default, which the schema's pattern says too)."""

    default_error_messages = {
        "not_a_string": 'Send amounts as JSON strings with 2 decimals, e.g. "530.00".',
        "invalid": 'Not a valid amount: use digits, a point and 2 decimals, e.g. "530.00".',
        "min_value": "The amount must be at least {min_value}.",
    }

    def __init__(self, *, min_value: Decimal | str = "0.01", **kwargs):
        self.min_value = money(min_value)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Decimal:
        if not isinstance(data, str):
            self.fail("not_a_string")
        if not _AMOUNT_RE.fullmatch(data):
            self.fail("invalid")
        try:
            value = money(Decimal(data))
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            self.fail("invalid")
        if value < self.min_value:
            self.fail("min_value", min_value=f"{self.min_value:.2f}")
        return value

    def to_representation(self, value) -> str:
        return f"{money(value):.2f}"


@extend_schema_field({"type": "string", "format": "decimal", "pattern": MONEY_OUT_PATTERN, "example": "530.00"})
class MoneyField(serializers.Field):
    """An output amount: ``"530.00"``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        return f"{money(value):.2f}"


@extend_schema_field({"type": "string", "format": "decimal", "pattern": r"^\d+(\.\d+)?$", "example": "0.005"})
class RateField(serializers.Field):
    """A rate as a fraction, as short as it is exact: ``"0.005"`` (0.5 %)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        value = Decimal(value)
        return "0" if value == 0 else format(value.normalize(), "f")


@extend_schema_field({"type": "string", "format": "decimal", "pattern": r"^-?\d+\.\d{2}$", "example": "10.90"})
class PercentField(serializers.Field):
    """A percentage with 2 places: ``"10.90"`` means 10.90 %."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        return f"{Decimal(value).quantize(Decimal('0.01')):.2f}"
