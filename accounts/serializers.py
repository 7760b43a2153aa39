"""Plain serializers of the accounts API: what a credit line looks like to an integration client."""
from __future__ import annotations

from rest_framework import serializers

from accounts.models import CreditAccount
from integrations.fields import MoneyField


class TemporaryLimitOutSerializer(serializers.Serializer):
    amount = MoneyField(help_text="Amount added to the limit while active.")
    starts_on = serializers.DateField(help_text="First day the limit applies.")
    ends_on = serializers.DateField(help_text="Last day the limit applies (inclusive).")
    campaign = serializers.CharField(help_text="Campaign that granted it (e.g. 618, Double 11); may be empty.")


class AccountOutSerializer(serializers.Serializer):
    id = serializers.CharField(source="reference", help_text="The account's public reference (use it in URLs).")
    customer_id = serializers.CharField(source="customer.reference", help_text="The customer's public reference.")
    product = serializers.CharField(source="product.code", help_text="Code of the credit product.")
    status = serializers.ChoiceField(choices=CreditAccount.Status.choices, help_text="active, frozen or closed.")
    freeze_reason = serializers.ChoiceField(
        choices=CreditAccount.FreezeReason.choices, help_text="Why it is frozen (overdue, manual); empty otherwise."
    )
    fixed_limit = MoneyField(help_text="The fixed credit limit.")
    temporary_limit = MoneyField(help_text="Sum of the temporary limits active on the business date.")
    total_limit = MoneyField(help_text="Fixed + active temporary limits.")
    used_amount = MoneyField(help_text="Unpaid principal of posted purchases (incl. future installments) + billed, unpaid fees.")
    held_amount = MoneyField(help_text="Purchases held for a risk review: reserved until they are released.")
    available = MoneyField(help_text="Total limit − used − held, never below 0.00.")
    credit_balance = MoneyField(help_text="Overpayments held for the customer (they pay the next bill).")
    cash_limit = MoneyField(default="0.00", help_text="Cash-loan sub-limit: the product's cash share of the total limit "
                            "(0.00 when the product lends no cash).")
    cash_used = MoneyField(default="0.00", help_text="Unpaid principal of the account's cash loans (counts in used_amount too).")
    cash_available = MoneyField(default="0.00", help_text="What a cash loan may draw now: the lesser of the cash sub-limit "
                                "left and the line's available amount, never below 0.00.")
    temporary_limits = TemporaryLimitOutSerializer(many=True, help_text="Temporary limits active on the business date.")
    bill_day = serializers.IntegerField(min_value=1, max_value=28, help_text="Day of the month the statement is generated (1–28).")
    opened_on = serializers.DateField(help_text="Business date the account was opened.")
    closed_on = serializers.DateField(allow_null=True, help_text="Business date it was closed, if it was.")
    dpd = serializers.IntegerField(min_value=0, help_text="Days past due.")
    bucket = serializers.ChoiceField(choices=CreditAccount.Bucket.choices, help_text="Delinquency bucket (M0 current … M7 written off).")
    as_of = serializers.DateField(help_text="Business date the limits were computed for.")
