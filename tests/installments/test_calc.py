"""Pure calculations of the credit engine (installments/calc.py): worked examples, odd amounts,
every rule of PRODUCT §2/§4/§5/§6 and hypothesis properties. No database."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ValidationError
from core.money import MONEY_MAX_DIGITS
from installments.calc import (
    DEFAULT_ALLOCATION_ORDER,
    MONEY_MAX,
    TENORS,
    AllocationKind,
    AllocationStrategy,
    CalcInputError,
    Due,
    PricingViolation,
    RefundLine,
    ScheduleLine,
    SettlementPolicy,
    allocate,
    annualised_daily_rate_pct,
    apr,
    apr_from_monthly_irr,
    deferral_fee,
    late_fee,
    late_fee_for_day,
    minimum_payment,
    monthly_irr,
    npv,
    pricing_violations,
    product_apr,
    quote,
    refund_offset,
    schedule,
    settlement_quote,
)

D = Decimal
DEFAULT_RATES = {3: D("0.006"), 6: D("0.006"), 12: D("0.005"), 24: D("0.005")}
LATE = {"daily_rate": D("0.0005"), "daily_minimum": D("0.01")}


def reference_irr(principal: Decimal, payments: list[Decimal]) -> Decimal:
    """An independent oracle: plain bisection at 60 digits (slow but obviously right)."""
    with localcontext() as ctx:
        ctx.prec = 60

        def f(i):
            return sum(a / (1 + i) ** k for k, a in enumerate(payments, 1)) - principal

        lo, hi = D("-0.99"), D(10)
        for _ in range(220):
            mid = (lo + hi) / 2
            if f(mid) > 0:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2


def digits_fit_money_field(value: Decimal) -> bool:
    sign, digits, exponent = value.as_tuple()
    return exponent == -2 and len(digits) <= MONEY_MAX_DIGITS


# ------------------------------------------------------------------------------------------------
# PRODUCT §5 worked examples


WORKED = [
    # tenor, rate, principal/period, fee/period, payment/period, total fee, nominal, effective
    pytest.param(3, "0.006", "2000.00", "36.00", "2036.00", "108.00", "10.77", "11.32", id="3-periods@0.60%"),
    pytest.param(6, "0.006", "1000.00", "36.00", "1036.00", "216.00", "12.24", "12.95", id="6-periods@0.60%"),
    pytest.param(12, "0.005", "500.00", "30.00", "530.00", "360.00", "10.90", "11.46", id="12-periods@0.50%"),
    pytest.param(24, "0.005", "250.00", "30.00", "280.00", "720.00", "11.13", "11.71", id="24-periods@0.50%"),
]


@pytest.mark.parametrize("tenor,rate,part,fee,payment,total_fee,nominal,effective", WORKED)
def test_product_worked_examples_to_the_cent(tenor, rate, part, fee, payment, total_fee, nominal, effective):
    q = quote(D("6000.00"), tenor, D(rate))

    assert q.lines == [ScheduleLine(period=k, principal=D(part), fee=D(fee)) for k in range(1, tenor + 1)]
    assert q.payment_per_period == q.last_payment == D(payment)
    assert q.fee_per_period == D(fee)
    assert q.total_fee == D(total_fee)
    assert q.total_payable == D("6000.00") + D(total_fee)
    assert (q.apr.nominal_pct, q.apr.effective_pct) == (D(nominal), D(effective))
    # the solver agrees with an independent bisection far below the displayed precision
    assert abs(q.apr.monthly_irr - reference_irr(D("6000.00"), [D(payment)] * tenor)) < D("1e-25")
    # and the amount-free product APR (used by the pricing check) is the same
    assert (product_apr(tenor, D(rate)).nominal_pct, product_apr(tenor, D(rate)).effective_pct) == (
        D(nominal), D(effective))


@pytest.mark.parametrize("tenor,rate,wrong_nominal", [
    pytest.param(3, "0.006", "10.80", id="3"),
    pytest.param(12, "0.005", "10.92", id="12"),
    pytest.param(24, "0.005", "11.16", id="24"),
])
def test_rounding_the_monthly_rate_before_annualising_would_miss_the_table(tenor, rate, wrong_nominal):
    """Rounding i to 0.01 % first (0.90 %, 0.91 %, 0.93 %) and then ×12 gives figures that disagree with
    PRODUCT §5; the code rounds once, at the end."""
    exact = product_apr(tenor, D(rate))
    rounded_first = apr_from_monthly_irr(exact.monthly_irr.quantize(D("0.0001")))
    assert rounded_first.nominal_pct == D(wrong_nominal)
    assert exact.nominal_pct != rounded_first.nominal_pct


def test_split_of_1000_over_3_puts_the_remainder_last():
    assert [line.principal for line in schedule(D("1000.00"), 3, D(0))] == [D("333.33"), D("333.33"), D("333.34")]


def test_tenor_one_at_rate_zero_is_a_revolving_purchase():
    q = quote(D("88.80"), 1, D(0))
    assert q.lines == [ScheduleLine(period=1, principal=D("88.80"), fee=D("0.00"))]
    assert (q.total_fee, q.total_payable) == (D("0.00"), D("88.80"))
    assert (q.apr.monthly_irr, q.apr.nominal_pct, q.apr.effective_pct) == (0, D("0.00"), D("0.00"))


# ------------------------------------------------------------------------------------------------
# JD-style odd amounts


@pytest.mark.parametrize("principal,tenor,parts", [
    pytest.param("100.00", 3, ["33.33", "33.33", "33.34"], id="100.00/3 remainder 0.01"),
    pytest.param("0.02", 3, ["0.00", "0.00", "0.02"], id="0.02/3 all in the last"),
    pytest.param("0.01", 24, ["0.00"] * 23 + ["0.01"], id="0.01/24"),
    pytest.param("1.00", 24, ["0.04"] * 23 + ["0.08"], id="1.00/24"),
    pytest.param("1234.57", 12, ["102.88"] * 11 + ["102.89"], id="1234.57/12"),
    pytest.param("99999999.99", 24, ["4166666.66"] * 23 + ["4166666.81"], id="largest-limit/24"),
])
def test_odd_principals_split_exactly(principal, tenor, parts):
    lines = schedule(D(principal), tenor, D(0))
    assert [line.principal for line in lines] == [D(p) for p in parts]
    assert sum(line.principal for line in lines) == D(principal)


@pytest.mark.parametrize("principal,tenor,rate,fee,last,total_payable,nominal,effective", [
    # 1.00 yuan purchases: 1.00 × 0.6 % = 0.006 and 1.00 × 0.5 % = 0.005 both round half up to 0.01, so the fee
    # is 1 % per period and the APR is well above the product's headline rate
    pytest.param("1.00", 3, "0.006", "0.01", "0.35", "1.03", "17.82", "19.35", id="1.00/3"),
    pytest.param("1.00", 24, "0.005", "0.01", "0.09", "1.24", "20.94", "23.07", id="1.00/24"),
    # below 0.84 (at 0.6 %) / 1.00 (at 0.5 %) the fee rounds to nothing at all
    pytest.param("0.83", 3, "0.006", "0.00", "0.29", "0.83", "0.00", "0.00", id="0.83/3 no fee"),
    pytest.param("1234.57", 12, "0.005", "6.17", "109.06", "1308.61", "10.89", "11.45", id="1234.57/12"),
    pytest.param("99999999.99", 24, "0.005", "500000.00", "4666666.81", "111999999.99", "11.13", "11.71",
                 id="largest-limit/24"),
    pytest.param("99999999.99", 3, "0.006", "600000.00", "33933333.33", "101799999.99", "10.77", "11.32",
                 id="largest-limit/3"),
])
def test_odd_quotes(principal, tenor, rate, fee, last, total_payable, nominal, effective):
    q = quote(D(principal), tenor, D(rate))
    assert q.fee_per_period == D(fee)
    assert q.last_payment == D(last)
    assert q.total_payable == D(total_payable)
    assert (q.apr.nominal_pct, q.apr.effective_pct) == (D(nominal), D(effective))
    if q.total_fee:
        payments = [line.total for line in q.lines]
        assert abs(q.apr.monthly_irr - reference_irr(D(principal), payments)) < D("1e-25")
    for value in [q.principal, q.fee_per_period, q.total_fee, q.total_payable,
                  *(x for line in q.lines for x in (line.principal, line.fee, line.total))]:
        assert digits_fit_money_field(value), value


def test_small_purchase_rounding_can_push_a_quote_above_the_ceiling():
    """0.84 over 6 at 0.6 %: the fee 0.00504 rounds up to 0.01 (1.19 % of 0.84 per period) and the APR by IRR
    exceeds 24 % although the product itself (12.24 %) is far below it. The pure quote reports the truth;
    what to do (refuse, or round such fees down) is a product decision for the services."""
    q = quote(D("0.84"), 6, D("0.006"))
    assert q.fee_per_period == D("0.01")
    assert q.apr.nominal_pct == D("24.09")
    assert product_apr(6, D("0.006")).nominal_pct == D("12.24")


def test_the_largest_storable_plan_is_refused_not_overflowed():
    assert MONEY_MAX == D("999999999999.99")
    with pytest.raises(CalcInputError, match="largest storable"):
        schedule(MONEY_MAX, 24, D("0.005"))  # principal fits, principal + fees would not
    with pytest.raises(CalcInputError, match="largest storable"):
        schedule(MONEY_MAX + D("0.01"), 3, D(0))
    assert sum(line.total for line in schedule(MONEY_MAX, 3, D(0))) == MONEY_MAX


@pytest.mark.parametrize("kwargs,field", [
    pytest.param({"principal": 6000.0, "tenor": 3, "fee_rate": D("0.006")}, "principal", id="float principal"),
    pytest.param({"principal": D("10.005"), "tenor": 3, "fee_rate": D("0.006")}, "principal", id="half cent"),
    pytest.param({"principal": D("0.00"), "tenor": 3, "fee_rate": D("0.006")}, "principal", id="zero principal"),
    pytest.param({"principal": D("-1.00"), "tenor": 3, "fee_rate": D("0.006")}, "principal", id="negative"),
    pytest.param({"principal": D("NaN"), "tenor": 3, "fee_rate": D("0.006")}, "principal", id="nan"),
    pytest.param({"principal": D("10.00"), "tenor": 0, "fee_rate": D("0.006")}, "tenor", id="tenor 0"),
    pytest.param({"principal": D("10.00"), "tenor": True, "fee_rate": D("0.006")}, "tenor", id="bool tenor"),
    pytest.param({"principal": D("10.00"), "tenor": 3, "fee_rate": D("-0.001")}, "fee_rate", id="negative rate"),
    pytest.param({"principal": D("10.00"), "tenor": 3, "fee_rate": 0.006}, "fee_rate", id="float rate"),
    pytest.param({"principal": D("10.00"), "tenor": 3, "fee_rate": D("6")}, "fee_rate", id="percent not fraction"),
])
def test_schedule_refuses_bad_input(kwargs, field):
    with pytest.raises(CalcInputError) as info:
        schedule(**kwargs)
    assert info.value.details == {"field": field}
    assert isinstance(info.value, ValueError) and isinstance(info.value, ValidationError)
    assert info.value.code == "invalid_calculation_input"


def test_schedule_accepts_int_and_str_amounts():
    assert schedule(6000, 3, "0.006") == schedule(D("6000.00"), 3, D("0.006"))
    assert schedule("6000.0", 3, "0.006")[0].principal == D("2000.00")


# ------------------------------------------------------------------------------------------------
# IRR


@pytest.mark.parametrize("principal,payments,expected", [
    pytest.param("100", ["110"], "0.1", id="one period 10 %"),
    pytest.param("100", ["50", "50"], "0", id="zero rate"),
    pytest.param("100", ["0", "121"], "0.1", id="bullet 2 periods"),
    pytest.param("100", ["0", "81"], "-0.1", id="negative rate"),
    pytest.param("1", ["1000000"], "999999", id="huge rate"),
])
def test_monthly_irr_known_roots(principal, payments, expected):
    assert monthly_irr(D(principal), [D(p) for p in payments]) == D(expected)


@pytest.mark.parametrize("principal,payments", [
    pytest.param("0", ["1"], id="zero principal"),
    pytest.param("100", [], id="no payments"),
    pytest.param("100", ["0", "0"], id="all zero"),
    pytest.param("100", ["150", "-10"], id="negative payment"),
    pytest.param("100", [50.0, "60"], id="float payment"),
])
def test_monthly_irr_refuses_unsolvable_input(principal, payments):
    with pytest.raises(CalcInputError):
        monthly_irr(D(principal), payments)


def test_apr_of_cash_flows():
    result = apr(D("6000.00"), [D("2036.00")] * 3)
    assert (result.nominal_pct, result.effective_pct) == (D("10.77"), D("11.32"))
    assert result.monthly_irr == D("0.008973280142038477428618512772")


# ------------------------------------------------------------------------------------------------
# late fee, deferral fee, minimum payment


@pytest.mark.parametrize("past_due,expected", [
    pytest.param("10.00", "0.01", id="10.00: 0.005 rounds half up"),
    pytest.param("100.00", "0.05", id="100.00"),
    pytest.param("1234.56", "0.62", id="1234.56: 0.61728"),
    pytest.param("1.00", "0.01", id="1.00: the minimum"),
    pytest.param("0.01", "0.01", id="one cent: the minimum"),
    pytest.param("29.99", "0.01", id="29.99: 0.014995"),
    pytest.param("30.00", "0.02", id="30.00: 0.015 half up"),
    pytest.param("0", "0.00", id="nothing past due"),
    pytest.param("-50.00", "0.00", id="credit balance"),
])
def test_late_fee_for_one_day(past_due, expected):
    assert late_fee_for_day(D(past_due), **LATE) == D(expected)


def test_late_fee_over_days_and_a_custom_minimum():
    assert late_fee(D("1234.56"), 10, **LATE) == D("6.20")
    assert late_fee(D("10.00"), 4, **LATE) == D("0.04")
    assert late_fee(D("1234.56"), 0, **LATE) == D("0.00")
    assert late_fee(D("100.00"), 3, daily_rate=D("0.0005"), daily_minimum=D("1.00")) == D("3.00")
    with pytest.raises(CalcInputError):
        late_fee(D("100.00"), -1, **LATE)
    with pytest.raises(CalcInputError):
        late_fee_for_day(D("100.001"), **LATE)


@pytest.mark.parametrize("balance,days,expected", [
    pytest.param("5000.00", 30, "75.00", id="5000 x 30 days"),
    pytest.param("1234.56", 7, "4.32", id="rounded once: 4.32096 (7 daily roundings would give 4.34)"),
    pytest.param("10.00", 1, "0.01", id="0.005 half up"),
    pytest.param("9.99", 1, "0.00", id="no minimum for deferral"),
    pytest.param("5000.00", 0, "0.00", id="zero days"),
    pytest.param("0.00", 30, "0.00", id="nothing unpaid"),
    pytest.param("-20.00", 30, "0.00", id="credit balance"),
])
def test_deferral_fee(balance, days, expected):
    assert deferral_fee(D(balance), days, daily_rate=D("0.0005")) == D(expected)


@pytest.mark.parametrize("revolving,installments,fees,past_due,pct,expected", [
    pytest.param("3000.00", "530.00", "12.34", "0.00", "0.10", "842.34", id="10% + installment + fees"),
    pytest.param("1234.55", "0.00", "0.00", "0.00", "0.10", "123.46", id="123.455 rounds half up"),
    pytest.param("0.00", "2036.00", "0.00", "500.00", "0.10", "2536.00", id="past due counted in full"),
    pytest.param("0.05", "0.00", "0.00", "0.00", "0.10", "0.01", id="tiny revolving"),
    pytest.param("800.00", "0.00", "3.20", "100.00", "1", "903.20", id="100% = everything owed"),
    pytest.param("0.00", "0.00", "0.00", "0.00", "0.10", "0.00", id="nothing owed"),
])
def test_minimum_payment(revolving, installments, fees, past_due, pct, expected):
    assert minimum_payment(revolving=D(revolving), installments_due=D(installments), fees_due=D(fees),
                           past_due=D(past_due), percentage=D(pct)) == D(expected)


def test_minimum_payment_refuses_negative_parts():
    with pytest.raises(CalcInputError):
        minimum_payment(revolving=D("-1.00"), installments_due=D(0), fees_due=D(0), past_due=D(0),
                        percentage=D("0.1"))


# ------------------------------------------------------------------------------------------------
# allocation


JAN, FEB = dt.date(2026, 1, 10), dt.date(2026, 2, 10)


def _dues():
    return [
        Due("p-feb", AllocationKind.PRINCIPAL, FEB, D("2000.00")),
        Due("fee-feb", AllocationKind.INSTALLMENT_FEE, FEB, D("36.00")),
        Due("late-feb", AllocationKind.LATE_FEE, FEB, D("1.50")),
        Due("p-jan", AllocationKind.PRINCIPAL, JAN, D("2000.00")),
        Due("fee-jan", AllocationKind.INSTALLMENT_FEE, JAN, D("36.00")),
        Due("deferral-jan", AllocationKind.DEFERRAL_FEE, JAN, D("3.00")),
    ]


def _paid(allocation):
    return [(due.key, amount) for due, amount in allocation.paid]


def test_allocate_kind_first_pays_every_fee_before_any_principal():
    result = allocate(D("100.00"), _dues())
    assert _paid(result) == [("late-feb", D("1.50")), ("deferral-jan", D("3.00")), ("fee-jan", D("36.00")),
                             ("fee-feb", D("36.00")), ("p-jan", D("23.50"))]
    assert result.leftover == D("0.00")
    assert result.applied == D("100.00")


def test_allocate_date_first_pays_the_oldest_date_in_full_first():
    result = allocate(D("100.00"), _dues(), strategy=AllocationStrategy.DATE_FIRST)
    assert _paid(result) == [("deferral-jan", D("3.00")), ("fee-jan", D("36.00")), ("p-jan", D("61.00"))]
    assert result.leftover == D("0.00")
    result = allocate(D("2040.00"), _dues(), strategy="date_first")
    assert _paid(result) == [("deferral-jan", D("3.00")), ("fee-jan", D("36.00")), ("p-jan", D("2000.00")),
                             ("late-feb", D("1.00"))]


def test_allocate_overpayment_leaves_a_credit_balance():
    result = allocate(D("5000.00"), _dues())
    assert {key: amount for key, amount in _paid(result)} == {due.key: due.amount for due in _dues()}
    assert result.leftover == D("5000.00") - D("4076.50") == D("923.50")


def test_allocate_zero_and_nothing_due():
    assert allocate(D("0.00"), _dues()).paid == []
    assert allocate(D("0.00"), _dues()).leftover == D("0.00")
    assert allocate(D("12.00"), []).leftover == D("12.00")


def test_allocate_skips_zero_dues_and_breaks_ties_by_the_order_given():
    dues = [Due("b", AllocationKind.PRINCIPAL, JAN, D("5.00")), Due("zero", AllocationKind.LATE_FEE, JAN, D("0")),
            Due("a", AllocationKind.PRINCIPAL, JAN, D("5.00"))]
    assert _paid(allocate(D("7.00"), dues)) == [("b", D("5.00")), ("a", D("2.00"))]


def test_allocate_with_a_custom_order():
    order = (AllocationKind.PRINCIPAL, AllocationKind.INSTALLMENT_FEE, AllocationKind.DEFERRAL_FEE,
             AllocationKind.LATE_FEE)
    assert _paid(allocate(D("2001.00"), _dues(), order=order)) == [("p-jan", D("2000.00")), ("p-feb", D("1.00"))]


@pytest.mark.parametrize("kwargs", [
    pytest.param({"amount": D("-1.00")}, id="negative payment"),
    pytest.param({"amount": D("1.001")}, id="fraction of a cent"),
    pytest.param({"amount": D("1"), "strategy": "newest_first"}, id="unknown strategy"),
    pytest.param({"amount": D("1"), "order": ("late_fee", "late_fee", "principal")}, id="kind twice"),
    pytest.param({"amount": D("1"), "order": ("late_fee", "principal")}, id="kind missing from order"),
])
def test_allocate_refuses_bad_input(kwargs):
    with pytest.raises(CalcInputError):
        allocate(dues=_dues(), **kwargs)


def test_default_allocation_order_is_the_product_rule():
    # PRODUCT §6, with issue 16's insurance premium after the installment fees and before principal.
    assert DEFAULT_ALLOCATION_ORDER == ("late_fee", "deferral_fee", "installment_fee", "premium", "principal")


def test_a_premium_is_paid_after_the_fees_and_before_principal_whatever_the_due_dates():
    dues = [Due("p", AllocationKind.PRINCIPAL, JAN, D("500.00")), Due("prem", AllocationKind.PREMIUM, FEB, D("6.00")),
            Due("fee", AllocationKind.INSTALLMENT_FEE, FEB, D("30.00"))]

    result = allocate(D("40.00"), dues)

    assert [(due.key, amount) for due, amount in result.paid] == [("fee", D("30.00")), ("prem", D("6.00")), ("p", D("4.00"))]


# ------------------------------------------------------------------------------------------------
# early settlement


@pytest.mark.parametrize("policy,same_day,fee,total", [
    pytest.param(SettlementPolicy.WAIVE_FUTURE_FEES, True, "0.00", "4072.00", id="same day, waive"),
    pytest.param(SettlementPolicy.CHARGE_NEXT_FEE, True, "0.00", "4072.00", id="same day, charge next: free"),
    pytest.param(SettlementPolicy.WAIVE_FUTURE_FEES, False, "0.00", "4072.00", id="later, waive"),
    pytest.param("charge_next_fee", False, "36.00", "4108.00", id="later, charge next"),
])
def test_settlement_quote(policy, same_day, fee, total):
    result = settlement_quote(remaining_principal=D("4000.00"), billed_unpaid=D("72.00"),
                              next_period_fee=D("36.00"), policy=policy, same_day=same_day)
    assert (result.remaining_principal, result.billed_unpaid, result.fee, result.total) == (
        D("4000.00"), D("72.00"), D(fee), D(total))


def test_settlement_with_nothing_left_to_bill_charges_no_next_fee():
    result = settlement_quote(remaining_principal=D("0.00"), billed_unpaid=D("2036.00"), next_period_fee=D("36.00"),
                              policy=SettlementPolicy.CHARGE_NEXT_FEE, same_day=False)
    assert (result.fee, result.total) == (D("0.00"), D("2036.00"))
    with pytest.raises(CalcInputError):
        settlement_quote(remaining_principal=D("1.00"), billed_unpaid=D(0), next_period_fee=D(0),
                         policy="forgive_everything", same_day=False)


# ------------------------------------------------------------------------------------------------
# refund offset


def _plan(paid_periods=0, principal="2000.00", fee="36.00", tenor=3):
    """Lines of a plan; the first ``paid_periods`` are fully repaid (principal and fee)."""
    return [RefundLine(k, k, D("0.00") if k <= paid_periods else D(principal),
                       D("0.00") if k <= paid_periods else D(fee)) for k in range(1, tenor + 1)]


@pytest.mark.parametrize("paid,refund,pro_rata,principal_cuts,fee_cuts,excess", [
    pytest.param(0, "3000.00", True, {3: "2000.00", 2: "1000.00"}, {3: "18.00", 2: "18.00", 1: "18.00"}, "0.00",
                 id="half refund before repayment: fees halve"),
    pytest.param(0, "6000.00", True, {3: "2000.00", 2: "2000.00", 1: "2000.00"},
                 {3: "36.00", 2: "36.00", 1: "36.00"}, "0.00", id="full refund before repayment"),
    pytest.param(1, "3000.00", True, {3: "2000.00", 2: "1000.00"}, {3: "18.00", 2: "18.00"}, "0.00",
                 id="half refund after one repayment: paid fee kept"),
    pytest.param(1, "6000.00", True, {3: "2000.00", 2: "2000.00"}, {3: "36.00", 2: "36.00"}, "2000.00",
                 id="full refund after one repayment: 2000 excess"),
    pytest.param(2, "3000.00", True, {3: "2000.00"}, {3: "18.00"}, "1000.00",
                 id="half refund after two repayments: fee halves although only 2000 is absorbed"),
    pytest.param(3, "6000.00", True, {}, {}, "6000.00", id="full refund after the plan is repaid"),
    pytest.param(0, "3000.00", False, {3: "2000.00", 2: "1000.00"}, {}, "0.00", id="bill installment keeps fees"),
    pytest.param(1, "6000.00", False, {3: "2000.00", 2: "2000.00"}, {}, "2000.00",
                 id="bill installment full refund after repayment"),
    pytest.param(0, "0.00", True, {}, {}, "0.00", id="nothing refunded"),
    pytest.param(0, "1000.00", True, {3: "1000.00"}, {3: "6.00", 2: "6.00", 1: "6.00"}, "0.00", id="one sixth"),
    pytest.param(0, "0.01", True, {3: "0.01"}, {}, "0.00", id="one cent: fee cut rounds to nothing"),
])
def test_refund_offset(paid, refund, pro_rata, principal_cuts, fee_cuts, excess):
    result = refund_offset(D(refund), _plan(paid), original_principal=D("6000.00"), fees_pro_rata=pro_rata)
    assert result.principal_reductions == {k: D(v) for k, v in principal_cuts.items()}
    assert list(result.principal_reductions) == list(principal_cuts)  # last line first
    assert result.fee_reductions == {k: D(v) for k, v in fee_cuts.items()}
    assert result.excess == D(excess)
    assert result.absorbed + result.excess == D(refund)


def test_successive_partial_refunds_shrink_fees_on_the_remaining_principal():
    first = refund_offset(D("3000.00"), _plan(), original_principal=D("6000.00"), fees_pro_rata=True)
    after = [RefundLine(line.key, line.period, line.principal_open - first.principal_reductions.get(line.key, 0),
                        line.fee_open - first.fee_reductions.get(line.key, 0)) for line in _plan()]
    assert [(line.principal_open, line.fee_open) for line in after] == [
        (D("2000.00"), D("18.00")), (D("1000.00"), D("18.00")), (D("0.00"), D("18.00"))]
    second = refund_offset(D("1000.00"), after, original_principal=D("3000.00"), fees_pro_rata=True)
    assert second.principal_reductions == {2: D("1000.00")}
    assert second.fee_reductions == {3: D("6.00"), 2: D("6.00"), 1: D("6.00")}  # 12.00 left = 2000 × 0.6 %
    last = refund_offset(D("2000.00"), [RefundLine(1, 1, D("2000.00"), D("12.00"))],
                         original_principal=D("2000.00"), fees_pro_rata=True)
    assert (last.principal_reductions, last.fee_reductions, last.excess) == ({1: D("2000.00")}, {1: D("12.00")}, 0)


def test_refund_offset_rounds_each_fee_cut_half_up():
    lines = [RefundLine("a", 1, D("617.28"), D("6.17")), RefundLine("b", 2, D("617.29"), D("6.17"))]
    result = refund_offset(D("100.00"), lines, original_principal=D("1234.57"), fees_pro_rata=True)
    assert result.fee_reductions == {"b": D("0.50"), "a": D("0.50")}  # 6.17 × 100 / 1234.57 = 0.49977…
    assert result.principal_reductions == {"b": D("100.00")}


@pytest.mark.parametrize("refund,lines,original", [
    pytest.param("6000.01", _plan(), "6000.00", id="more than the principal"),
    pytest.param("1.00", _plan(), "5000.00", id="open principal above the original"),
    pytest.param("1.00", [RefundLine(1, 1, D("1"), D(0)), RefundLine(2, 1, D("1"), D(0))], "10", id="same period"),
    pytest.param("1.00", [RefundLine(1, 1, D("-1.00"), D(0))], "10", id="negative open principal"),
])
def test_refund_offset_refuses_bad_input(refund, lines, original):
    with pytest.raises(CalcInputError):
        refund_offset(D(refund), lines, original_principal=D(original), fees_pro_rata=True)


# ------------------------------------------------------------------------------------------------
# pricing against the APR ceiling


def test_default_product_passes_a_24_percent_ceiling():
    assert pricing_violations(fee_rates=DEFAULT_RATES, late_fee_daily_rate=D("0.0005"),
                              deferral_daily_rate=D("0.0005"), apr_ceiling=D("0.24")) == []


def test_a_2_percent_24_period_product_is_refused_naming_the_tenor():
    violations = pricing_violations(fee_rates={**DEFAULT_RATES, 24: D("0.02")}, late_fee_daily_rate=D("0.0005"),
                                    deferral_daily_rate=D("0.0005"), apr_ceiling=D("0.24"))
    assert violations == [PricingViolation("tenor 24", D("0.02"), D("40.88"), D("24.00"))]
    assert str(violations[0]) == "tenor 24: 2 % per period is 40.88 % a year, above the 24.00 % ceiling"


def test_a_daily_fee_of_0_1_percent_is_36_5_percent_a_year():
    violations = pricing_violations(fee_rates=DEFAULT_RATES, late_fee_daily_rate=D("0.001"),
                                    deferral_daily_rate=D("0.0007"), apr_ceiling=D("0.24"))
    assert violations == [PricingViolation("late fee", D("0.001"), D("36.50"), D("24.00")),
                          PricingViolation("deferral fee", D("0.0007"), D("25.55"), D("24.00"))]
    assert str(violations[0]) == "late fee: 0.1 % per day is 36.50 % a year, above the 24.00 % ceiling"


def test_pricing_ceiling_is_inclusive_and_compared_unrounded():
    # 0.05 %/day × 365 = 18.25 % exactly: at an 18.25 % ceiling it passes, a hair lower it fails
    kwargs = {"fee_rates": {}, "late_fee_daily_rate": D("0.0005"), "deferral_daily_rate": D(0)}
    assert pricing_violations(apr_ceiling=D("0.1825"), **kwargs) == []
    assert [v.what for v in pricing_violations(apr_ceiling=D("0.18249"), **kwargs)] == ["late fee"]
    # tenor 6 at 0.6 % is 12.2393…%: a 12.24 % ceiling passes, 12.239 % (which displays as 12.24) fails
    assert pricing_violations(fee_rates={6: D("0.006")}, late_fee_daily_rate=D(0), deferral_daily_rate=D(0),
                              apr_ceiling=D("0.1224")) == []
    assert pricing_violations(fee_rates={6: D("0.006")}, late_fee_daily_rate=D(0), deferral_daily_rate=D(0),
                              apr_ceiling=D("0.12239")) == [
        PricingViolation("tenor 6", D("0.006"), D("12.24"), D("12.24"))]


def test_pricing_refuses_a_ceiling_given_in_percent():
    with pytest.raises(CalcInputError):
        pricing_violations(fee_rates=DEFAULT_RATES, late_fee_daily_rate=D(0), deferral_daily_rate=D(0),
                           apr_ceiling=D("24"))


@pytest.mark.parametrize("tenor", TENORS)
def test_product_apr_matches_a_quote_on_a_round_principal(tenor):
    exact = product_apr(tenor, DEFAULT_RATES[tenor])
    on_amount = quote(D("12000.00"), tenor, DEFAULT_RATES[tenor]).apr  # 12000 splits evenly: no rounding
    assert abs(exact.monthly_irr - on_amount.monthly_irr) < D("1e-28")


@pytest.mark.parametrize("rate,expected", [("0.0005", "18.25"), ("0.001", "36.50"), ("0", "0.00")])
def test_annualised_daily_rate_pct(rate, expected):
    assert annualised_daily_rate_pct(D(rate)) == D(expected)


# ------------------------------------------------------------------------------------------------
# properties (hypothesis)


cents = st.integers(min_value=1, max_value=9_999_999_999).map(lambda n: D(n).scaleb(-2))
small_cents = st.integers(min_value=0, max_value=500_000).map(lambda n: D(n).scaleb(-2))
rates = st.integers(min_value=0, max_value=30_000).map(lambda n: D(n).scaleb(-6))  # 0 … 3 % per period
tenors = st.one_of(st.sampled_from(TENORS), st.integers(min_value=1, max_value=36))


@given(principal=cents, tenor=tenors, rate=rates)
@settings(max_examples=300, deadline=None)
def test_property_schedule_sums_exactly(principal, tenor, rate):
    lines = schedule(principal, tenor, rate)
    fee = lines[0].fee
    assert len(lines) == tenor
    assert [line.period for line in lines] == list(range(1, tenor + 1))
    assert sum(line.principal for line in lines) == principal
    assert sum(line.total for line in lines) == principal + tenor * fee
    assert all(line.fee == fee == (principal * rate).quantize(D("0.01"), rounding="ROUND_HALF_UP")
               for line in lines)
    head = {line.principal for line in lines[:-1]}
    assert len(head) <= 1
    if head:
        first = head.pop()
        assert first <= lines[-1].principal < first + D("0.01") * tenor
    assert all(digits_fit_money_field(x) for line in lines for x in (line.principal, line.fee, line.total))


dues_strategy = st.lists(
    st.builds(Due, key=st.uuids(), kind=st.sampled_from(list(AllocationKind)),
              due_date=st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2026, 6, 30)),
              amount=small_cents),
    max_size=12,
)


@given(amount=st.one_of(small_cents, st.integers(0, 10_000_000).map(lambda n: D(n).scaleb(-2))), dues=dues_strategy,
       strategy=st.sampled_from(list(AllocationStrategy)),
       order=st.permutations(list(AllocationKind)))
@settings(max_examples=300, deadline=None)
def test_property_allocation_never_overpays_and_accounts_for_every_cent(amount, dues, strategy, order):
    result = allocate(amount, dues, strategy=strategy, order=order)
    assert sum(paid for _, paid in result.paid) + result.leftover == amount
    assert all(0 < paid <= due.amount for due, paid in result.paid)
    assert len({id(due) for due, _ in result.paid}) == len(result.paid)
    # only the last due touched may be partly paid, and money is left over only when every due is paid
    assert all(paid == due.amount for due, paid in result.paid[:-1])
    if result.leftover > 0:
        assert sum(paid for _, paid in result.paid) == sum(due.amount for due in dues)
    # the paid dues come in the strategy's order
    rank = {kind: position for position, kind in enumerate(order)}
    keys = [(rank[d.kind], d.due_date) if strategy is AllocationStrategy.KIND_FIRST else (d.due_date, rank[d.kind])
            for d, _ in result.paid]
    assert keys == sorted(keys)


@st.composite
def refund_cases(draw):
    tenor = draw(st.sampled_from(TENORS))
    original = draw(st.integers(min_value=1, max_value=10_000_000).map(lambda n: D(n).scaleb(-2)))
    fee = (draw(rates) * original).quantize(D("0.01"))
    parts = [line.principal for line in schedule(original, tenor, D(0))]
    repaid = draw(st.integers(min_value=0, max_value=tenor))
    lines = []
    for k, part in enumerate(parts, 1):
        principal_open = D("0.00") if k <= repaid else part
        fee_open = D("0.00") if k <= repaid else fee
        lines.append(RefundLine(("line", k), k, principal_open, fee_open))
    refund = draw(st.integers(min_value=0, max_value=int(original * 100)).map(lambda n: D(n).scaleb(-2)))
    return original, lines, refund


@given(case=refund_cases(), pro_rata=st.booleans())
@settings(max_examples=300, deadline=None)
def test_property_refund_plus_remaining_is_the_original(case, pro_rata):
    original, lines, refund = case
    result = refund_offset(refund, lines, original_principal=original, fees_pro_rata=pro_rata)
    by_key = {line.key: line for line in lines}
    open_before = sum(line.principal_open for line in lines)
    repaid = original - open_before
    open_after = open_before - result.absorbed
    assert result.absorbed + result.excess == refund
    assert refund + (open_after + repaid - result.excess) == original
    assert 0 <= result.excess <= repaid
    for key, cut in result.principal_reductions.items():
        assert 0 < cut <= by_key[key].principal_open
    for key, cut in result.fee_reductions.items():
        assert 0 < cut <= by_key[key].fee_open
    if not pro_rata:
        assert result.fee_reductions == {}
    if pro_rata:  # each unpaid fee shrinks by the refunded share of the principal, wherever the refund lands
        for line in lines:
            expected = (line.fee_open * refund / original).quantize(D("0.01"), rounding="ROUND_HALF_UP")
            assert result.fee_reductions.get(line.key, 0) == expected
    if pro_rata and refund == original:
        assert result.fee_reductions == {line.key: line.fee_open for line in lines if line.fee_open}
    # last line first: a line is only cut once every later line's open principal is used up
    for line in lines:
        if line.key in result.principal_reductions:
            assert all(result.principal_reductions.get(later.key, 0) == later.principal_open
                       for later in lines if later.period > line.period)
    if result.excess:
        assert open_after == 0


@given(principal=cents, tenor=st.sampled_from(TENORS), rate=rates)
@settings(max_examples=100, deadline=None)
def test_property_irr_solves_the_quote(principal, tenor, rate):
    q = quote(principal, tenor, rate)
    payments = [line.total for line in q.lines]
    assert abs(npv(q.apr.monthly_irr, principal, payments)) < D("1e-12")
    assert q.apr.monthly_irr >= 0


@given(principal=st.integers(1, 10**8).map(D),
       payments=st.lists(st.integers(0, 10**8).map(D), min_size=1, max_size=24).filter(lambda p: sum(p) > 0))
@settings(max_examples=100, deadline=None)
def test_property_irr_solves_any_cash_flow(principal, payments):
    i = monthly_irr(principal, payments)
    assert abs(npv(i, principal, payments)) < D("1e-12")
    assert (i > 0) == (sum(payments) > principal) and (i == 0) == (sum(payments) == principal)
