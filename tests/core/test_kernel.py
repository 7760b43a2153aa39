from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money import format_cny, money, split


@pytest.mark.parametrize(
    "value, expected",
    [("1.005", "1.01"), ("1.004", "1.00"), ("-1.005", "-1.01"), ("2", "2.00"), (Decimal("0.125"), "0.13")],
    ids=["half-up", "below-half", "negative-half-away", "integer", "decimal"],
)
def test_money_rounds_half_up(value, expected):
    assert money(value) == Decimal(expected)


def test_money_refuses_float():
    with pytest.raises(TypeError):
        money(1.1)


def test_split_1000_by_3_matches_product_example():
    assert split(Decimal("1000.00"), 3) == [Decimal("333.33"), Decimal("333.33"), Decimal("333.34")]


@pytest.mark.parametrize(
    "total, parts, expected",
    [("0.01", 3, ["0.00", "0.00", "0.01"]), ("1.00", 24, ["0.04"] * 23 + ["0.08"]), ("6000", 12, ["500.00"] * 12)],
    ids=["one-cent", "one-yuan-24", "even"],
)
def test_split_examples(total, parts, expected):
    assert split(Decimal(total), parts) == [Decimal(x) for x in expected]


@given(
    total=st.decimals(min_value=0, max_value=10_000_000, places=2, allow_nan=False, allow_infinity=False),
    parts=st.sampled_from([1, 3, 6, 12, 24]),
)
def test_split_always_sums_to_total_and_last_takes_remainder(total, parts):
    result = split(total, parts)
    assert sum(result) == total
    assert len(result) == parts
    assert all(p == result[0] for p in result[:-1])
    assert result[-1] >= result[0]


def test_format_cny():
    assert format_cny(Decimal("1234.5")) == "¥1,234.50"
    assert format_cny(Decimal("-3")) == "-¥3.00"
