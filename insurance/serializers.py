"""Plain input/output serializers of the insurance API calls (issue 16)."""
from __future__ import annotations

from rest_framework import serializers

from insurance.models import InsurancePolicy
from integrations.fields import MoneyField, RateField


class PolicyOutSerializer(serializers.Serializer):
    id = serializers.CharField(source="reference", help_text="The policy's public reference.")
    plan = serializers.CharField(source="plan.reference", help_text="The insured plan's public reference.")
    account = serializers.CharField(source="account.reference", help_text="The account's public reference.")
    product = serializers.CharField(source="product.code", help_text="Code of the insurance product.")
    insurer = serializers.CharField(source="product.insurer", help_text="The insurance company.")
    status = serializers.ChoiceField(choices=InsurancePolicy.Status.choices, help_text="active, cancelled or claimed.")
    premium_rate = RateField(help_text='Premium per period on the plan principal ("0.001" = 0.10 %).')
    premium_per_period = MoneyField(help_text="Premium billed with every installment.")
    periods = serializers.IntegerField(help_text="Number of periods insured (the plan's tenor).")
    total_premium = MoneyField(help_text="Premium over the whole plan.")
    premiums_billed = MoneyField(help_text="Premiums billed so far.")
    condition_of_credit = serializers.BooleanField(help_text="The premium counts in the plan's APR.")
    start_date = serializers.DateField(help_text="Business date the policy started (the plan's creation).")
    cooling_off_until = serializers.DateField(help_text="Last day a cancellation refunds every premium.")
    cancelled_on = serializers.DateField(allow_null=True, help_text="Business date it was cancelled, if it was.")
    refunded_amount = MoneyField(help_text="Premiums already paid, refunded to the credit balance on cancellation.")
    waived_amount = MoneyField(help_text="Premiums billed but unpaid, no longer owed after cancellation.")


class PolicyCancelInSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why the customer cancels (kept in the audit trail).")
