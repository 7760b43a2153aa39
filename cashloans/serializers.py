"""Plain input/output serializers of the cash-loan API calls. Money is a string with 2 decimals."""
from __future__ import annotations

from rest_framework import serializers

from cashloans.models import CASH_TENORS, CashLoan, CashLoanPrepayment, LoanPurpose
from installments.models import Plan
from installments.serializers import ScheduleLineOutSerializer
from integrations.fields import AmountField, MoneyField, PercentField, RateField

ACCOUNT_REF_HELP = "The account's public reference."


class CashQuoteInSerializer(serializers.Serializer):
    account = serializers.RegexField(r"^[0-9A-Za-z]{1,16}$", max_length=16, help_text=ACCOUNT_REF_HELP)
    amount = AmountField(help_text='Amount to borrow, e.g. "10000.00".')
    tenor = serializers.IntegerField(min_value=1, max_value=CASH_TENORS[-1],
                                     help_text="Number of monthly installments: 3, 6 or 12 (as the product offers).")


class CashLoanInSerializer(CashQuoteInSerializer):
    card_number = serializers.RegexField(
        r"^[0-9]{12,19}$", max_length=19, write_only=True,
        help_text="The customer's bank card the cash is paid to (12–19 digits, no spaces); only its last 4 digits are kept.",
    )
    purpose = serializers.ChoiceField(choices=LoanPurpose.choices, help_text="What the cash is for (required).")


class PayoutFailedInSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, help_text="What the bank said (e.g. the card is closed).")


class PrepaymentInSerializer(serializers.Serializer):
    amount = AmountField(help_text="Principal to repay now.")
    mode = serializers.ChoiceField(choices=CashLoanPrepayment.Mode.choices,
                                   help_text="`shorten`: keep the installment, fewer periods; `lower`: keep the periods.")
    external_ref = serializers.CharField(max_length=80, required=False, allow_blank=True,
                                         help_text="The payment's unique reference (generated when empty).")


class PrepaymentOutSerializer(serializers.Serializer):
    id = serializers.CharField(source="reference")
    loan = serializers.CharField(source="loan.reference")
    mode = serializers.ChoiceField(choices=CashLoanPrepayment.Mode.choices)
    amount = MoneyField(help_text="Principal repaid.")
    accrued_interest = MoneyField(help_text="Interest accrued to today, due with the next installment.")
    balance_after = MoneyField(help_text="Principal still owed.")
    installment_after = MoneyField(help_text="The installment from now on.")
    periods_after = serializers.IntegerField(help_text="Installments left.")


class CashQuoteLineSerializer(serializers.Serializer):
    period = serializers.IntegerField(min_value=1, help_text="1 for the first installment.")
    due_date = serializers.DateField(help_text="Due date of the installment (the due date of a monthly statement).")
    principal = MoneyField(help_text="Principal repaid in the period.")
    interest = MoneyField(help_text="Interest of the period: outstanding principal × daily rate × the period's actual days.")
    total = MoneyField(help_text="The installment: principal + interest.")
    balance_after = MoneyField(help_text="Principal still owed after the period.")


class CashQuoteOutSerializer(serializers.Serializer):
    apr_nominal = PercentField(help_text="Annualised rate by IRR of the real cash-flow dates, nominal (365 × daily IRR), "
                                         "percent: shown first.")
    apr_effective = PercentField(help_text="Annualised rate by IRR of the real dates, effective ((1+x)^365 − 1), percent.")
    account = serializers.CharField(help_text=ACCOUNT_REF_HELP)
    amount = MoneyField(help_text="The amount quoted.")
    tenor = serializers.IntegerField(help_text="Number of monthly installments.")
    daily_rate = RateField(help_text='Interest per day as a fraction ("0.0003" = 0.03 %).')
    monthly_rate = RateField(help_text="Daily rate × 30, for comparison only: interest runs by the actual day.")
    installment = MoneyField(help_text="What every installment but the last costs.")
    last_installment = MoneyField(help_text="The last installment (it absorbs the cents of rounding).")
    total_interest = MoneyField(help_text="Sum of the interest.")
    total_payable = MoneyField(help_text="Amount + total interest.")
    cash_available = MoneyField(help_text="What the account may draw as cash now.")
    schedule = CashQuoteLineSerializer(many=True, help_text="One line per installment.")


class CashLoanOutSerializer(serializers.Serializer):
    id = serializers.CharField(source="reference", help_text="The cash loan's public reference.")
    account = serializers.CharField(source="account.reference", help_text=ACCOUNT_REF_HELP)
    amount = MoneyField(help_text="Amount paid to the card.")
    tenor = serializers.IntegerField(help_text="Number of monthly installments.")
    daily_rate = RateField(help_text="Interest per day as a fraction.")
    apr_nominal = PercentField(source="apr_nominal_pct", help_text="Annualised rate by IRR, nominal, percent.")
    apr_effective = PercentField(source="apr_effective_pct", help_text="Annualised rate by IRR, effective, percent.")
    installment = MoneyField(help_text="What every installment but the last costs.")
    last_installment = MoneyField(help_text="The last installment.")
    total_interest = MoneyField(help_text="Sum of the scheduled interest.")
    card = serializers.CharField(source="card_masked", help_text="The bank card paid to, masked.")
    drawn_on = serializers.DateField(help_text="Business date of the drawdown.")
    purpose = serializers.ChoiceField(choices=LoanPurpose.choices, help_text="What the customer declared the cash is for.")
    payout = serializers.ChoiceField(choices=CashLoan.Payout.choices, help_text="`failed`: the drawdown was reversed.")
    status = serializers.ChoiceField(source="plan.status", choices=Plan.Status.choices,
                                     help_text="The plan's state: active, paid_off, settled (repaid early), written_off.")
    plan = serializers.CharField(source="plan.reference", help_text="The installment plan's reference (early repayment: "
                                 "`POST /api/v1/plans/{id}/settlement-quote/` and `/settle/`).")
    schedule = ScheduleLineOutSerializer(source="plan.lines.all", many=True, help_text="The installments, in order "
                                         "(`fee` is the interest).")
    available = MoneyField(help_text="The account's available line after the drawdown.")
    cash_available = MoneyField(help_text="The account's cash sub-limit left after the drawdown.")
