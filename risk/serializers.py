"""Plain input/output serializers of the applications API."""
from __future__ import annotations

from rest_framework import serializers

from accounts.models import Consent


class ConsentInSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Consent.Kind.choices)
    version = serializers.CharField(max_length=20)
    granted = serializers.BooleanField()


class ApplicationInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    id_number = serializers.CharField(max_length=40, help_text="18-digit resident ID number.")
    mobile = serializers.CharField(max_length=20)
    device_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    external_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    product = serializers.SlugField(required=False, help_text="Credit product code (default: the open product).")
    consents = ConsentInSerializer(many=True, help_text="Data processing and credit bureau consent are required.")
    features = serializers.DictField(
        required=False, default=dict,
        help_text="The applicant's attributes for the application scorecard, keyed by attribute name "
                  "(see risk.features: age is derived from the ID number).",
    )


class ReasonCodeSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The attribute.")
    bin = serializers.CharField()
    points = serializers.IntegerField()
    points_lost = serializers.IntegerField(help_text="Points below the attribute's best bin.")


class ApplicationOutSerializer(serializers.Serializer):
    id = serializers.CharField(source="reference")
    status = serializers.CharField()
    decision = serializers.CharField(help_text="approve / decline / review")
    automated = serializers.BooleanField()
    limit = serializers.DecimalField(max_digits=14, decimal_places=2)
    score = serializers.IntegerField(allow_null=True)
    band = serializers.CharField(allow_blank=True)
    reason_codes = ReasonCodeSerializer(many=True)
    decline_reasons = serializers.ListField(
        child=serializers.CharField(),
        help_text="Why an automated decision declined: the rules that declined it, e.g. `age_below_minimum`, "
                  "`age_above_maximum` (the applicant's age from the ID number is outside the lender's policy), "
                  "`blacklist_id_number`, `application_velocity`. Empty unless the decision is a decline.",
    )
    model_version = serializers.CharField(allow_blank=True)
    account = serializers.CharField(allow_null=True, help_text="The account opened, if approved.")
    human_review_available = serializers.BooleanField()


class HumanReviewInSerializer(serializers.Serializer):
    statement = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class HumanReviewOutSerializer(serializers.Serializer):
    case = serializers.CharField()
    status = serializers.CharField()
