"""Plain input/output serializers of the credit engine's API calls (PRODUCT §10).

Money is a JSON string with 2 decimals both ways; rates are fraction strings, APRs percent strings."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from installments.calc import TENORS
from installments.models import Plan, Purchase, Refund, Repayment, ScheduleLine, Statement, StatementLine
from integrations.fields import AmountField, MoneyField, PercentField, RateField

ACCOUNT_REF_HELP = "The account's public reference."
PAYMENT_CHANNELS = [c for c in Repayment.Channel.choices if c[0] != Repayment.Channel.SETTLEMENT]


# --- quotes ---------------------------------------------------------------------------------------


class QuoteInSerializer(serializers.Serializer):
    principal = AmountField(help_text='Amount to split, e.g. "6000.00" (a string, at most 2 decimals).')
    tenor = serializers.ChoiceField(choices=TENORS, help_text="Number of monthly installments: 3, 6, 12 or 24.")
    account = serializers.CharField(
        required=False, max_length=16, help_text=ACCOUNT_REF_HELP + " With it, the schedule has due dates "
        "from the account's bill day and its product's terms; without it, periods are numbered only."
    )
    insurance = serializers.BooleanField(
        required=False, default=False, help_text="Also price the consumer-credit insurance add-on: its premium per "
        "period and the APR with the premium."
    )


class QuoteLineSerializer(serializers.Serializer):
    period = serializers.IntegerField(min_value=1, help_text="1 for the first installment.")
    due_date = serializers.DateField(allow_null=True, help_text="Due date (only when an account was given).")
    principal = MoneyField(help_text="Principal of the period (P/n rounded down; the last takes the remainder).")
    fee = MoneyField(help_text="Fee of the period (on the original principal).")
    total = MoneyField(help_text="Principal + fee of the period.")


class QuoteInsuranceSerializer(serializers.Serializer):
    product = serializers.CharField(help_text="Code of the insurance product.")
    insurer = serializers.CharField(help_text="The insurance company.")
    premium_rate = RateField(help_text='Premium per period on the principal ("0.001" = 0.10 %).')
    premium_per_period = MoneyField(help_text="Premium billed with every installment.")
    total_premium = MoneyField(help_text="Premium over the whole plan.")
    payment_per_period = MoneyField(help_text="What every period but possibly the last costs with the premium.")
    last_payment = MoneyField(help_text="What the last period costs with the premium.")
    apr_nominal = PercentField(help_text="APR by IRR with the premium, nominal, percent.")
    apr_effective = PercentField(help_text="APR by IRR with the premium, effective, percent.")
    condition_of_credit = serializers.BooleanField(
        help_text="The lender requires the insurance: the plan's APR is then the APR with the premium.")
    cooling_off_days = serializers.IntegerField(help_text="Cancelled within this many days: every premium refunded.")


class PlanInsuranceSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The insurance policy's public reference.")
    status = serializers.ChoiceField(choices=["active", "cancelled", "claimed"], help_text="State of the policy.")
    premium_per_period = MoneyField(help_text="Premium billed with every installment.")
    total_premium = MoneyField(help_text="Premium over the whole plan.")
    cooling_off_until = serializers.DateField(help_text="Last day a cancellation refunds every premium.")
    condition_of_credit = serializers.BooleanField(help_text="The premium counts in the plan's APR.")


class QuoteOutSerializer(serializers.Serializer):
    apr_nominal = PercentField(help_text="Annualised rate by IRR, nominal (12 × monthly IRR), percent: shown first.")
    apr_effective = PercentField(help_text="Annualised rate by IRR, effective ((1+i)^12 − 1), percent.")
    principal = MoneyField(help_text="The principal quoted.")
    tenor = serializers.IntegerField(help_text="Number of monthly installments.")
    fee_rate = RateField(help_text='Fee per period as a fraction of the original principal ("0.006" = 0.6 %).')
    fee_per_period = MoneyField(help_text="Fee charged in every period.")
    total_fee = MoneyField(help_text="Sum of the fees.")
    total_payable = MoneyField(help_text="Principal + total fee.")
    payment_per_period = MoneyField(help_text="What every period but possibly the last costs.")
    last_payment = MoneyField(help_text="What the last period costs (takes the principal's remainder).")
    product = serializers.CharField(help_text="Code of the product whose terms priced the quote.")
    account = serializers.CharField(allow_null=True, help_text=ACCOUNT_REF_HELP + " Null when none was given.")
    first_due_date = serializers.DateField(allow_null=True, help_text="Due date of the first installment (with an account).")
    schedule = QuoteLineSerializer(many=True, help_text="One line per period.")
    insurance = QuoteInsuranceSerializer(
        allow_null=True, required=False, help_text="The insurance add-on priced (only when asked for with `insurance`)."
    )


# --- plans ----------------------------------------------------------------------------------------


class ScheduleLineOutSerializer(serializers.Serializer):
    period = serializers.IntegerField(help_text="1 for the first installment.")
    due_date = serializers.DateField(help_text="Due date of the period.")
    principal = MoneyField(help_text="Principal scheduled for the period.")
    fee = MoneyField(help_text="Fee scheduled for the period.")
    principal_open = MoneyField(help_text="Principal still owed (after payments, refunds, conversions).")
    fee_open = MoneyField(help_text="Fee still owed (after payments and waivers).")
    status = serializers.ChoiceField(choices=ScheduleLine.Status.choices, help_text="State of the period.")


class PlanOutSerializer(serializers.Serializer):
    id = serializers.CharField(source="reference", help_text="The plan's public reference.")
    account = serializers.CharField(source="account.reference", help_text=ACCOUNT_REF_HELP)
    kind = serializers.ChoiceField(choices=Plan.Kind.choices, help_text="revolving, purchase_installment, bill_installment or cash_loan.")
    status = serializers.ChoiceField(choices=Plan.Status.choices, help_text="State of the plan.")
    apr_nominal = PercentField(source="apr_nominal_pct", help_text="Annualised rate by IRR, nominal, percent.")
    apr_effective = PercentField(source="apr_effective_pct", help_text="Annualised rate by IRR, effective, percent.")
    principal = MoneyField(help_text="Principal of the plan.")
    tenor = serializers.IntegerField(help_text="Number of periods (1 for a revolving purchase).")
    fee_rate = RateField(help_text="Fee per period as a fraction of the original principal.")
    fee_per_period = MoneyField(help_text="Fee charged in every period.")
    total_fee = MoneyField(help_text="Sum of the fees.")
    created_on = serializers.DateField(help_text="Business date the plan was created.")
    closed_on = serializers.DateField(allow_null=True, help_text="Business date it was paid off, settled or refunded.")
    schedule = ScheduleLineOutSerializer(source="lines.all", many=True, help_text="The periods, in order.")
    insurance = serializers.SerializerMethodField(help_text="Its consumer-credit insurance policy, or null.")

    @extend_schema_field(PlanInsuranceSerializer(allow_null=True))
    def get_insurance(self, plan):
        from installments.hooks import plan_add_on

        add_on = plan_add_on("insurance")
        data = add_on.describe(plan) if add_on is not None and plan.kind != Plan.Kind.REVOLVING else None
        return PlanInsuranceSerializer(data).data if data else None


# --- purchases and refunds ------------------------------------------------------------------------


class PurchaseInSerializer(serializers.Serializer):
    account = serializers.CharField(max_length=16, help_text=ACCOUNT_REF_HELP)
    amount = AmountField(help_text='Amount of the purchase, e.g. "1299.00".')
    merchant_order_id = serializers.CharField(
        max_length=64, help_text="The storefront's order id; unique per account (a retry cannot buy twice)."
    )
    tenor = serializers.ChoiceField(
        choices=TENORS, required=False, allow_null=True,
        help_text="Split into 3, 6, 12 or 24 monthly installments (a purchase installment); omit for revolving.",
    )
    category = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default="",
        help_text="Merchant category (risk rules watch e.g. gift cards and top-ups).",
    )
    device_id = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="The shopper's device id."
    )
    insurance = serializers.BooleanField(
        required=False, default=False, help_text="Buy the consumer-credit insurance add-on with the installment plan "
        "(needs a `tenor`; not attached to a purchase held for review)."
    )


class PurchaseOutSerializer(serializers.Serializer):
    id = serializers.CharField(source="reference", help_text="The purchase's public reference.")
    account = serializers.CharField(source="account.reference", help_text=ACCOUNT_REF_HELP)
    merchant_order_id = serializers.CharField(help_text="The storefront's order id.")
    amount = MoneyField(help_text="Amount of the purchase.")
    tenor = serializers.IntegerField(allow_null=True, help_text="Installments chosen, or null for revolving.")
    category = serializers.CharField(help_text="Merchant category, may be empty.")
    status = serializers.ChoiceField(
        choices=[c for c in Purchase.Status.choices if c[0] != Purchase.Status.DECLINED],
        help_text="approved (posted, the limit is used) or held (a risk rule asks an officer to review it).",
    )
    reason_codes = serializers.ListField(child=serializers.CharField(), help_text="Why it was held, if it was.")
    requested_on = serializers.DateField(help_text="Business date of the request.")
    posted_on = serializers.DateField(allow_null=True, help_text="Business date it posted (approved only).")
    cycle_bill_date = serializers.DateField(allow_null=True, help_text="Bill date of the statement it posts to.")
    refunded_amount = MoneyField(help_text="Refunded so far.")
    plan = PlanOutSerializer(allow_null=True, help_text="Its repayment plan (null while held).")
    available = MoneyField(help_text="The account's available limit after this purchase.")


class PurchaseStatusOutSerializer(PurchaseOutSerializer):
    """A purchase as the storefront reads it back (``GET /api/v1/purchases/{id}/``): every status."""

    status = serializers.ChoiceField(
        choices=Purchase.Status.choices,
        help_text="approved (posted to a cycle, the limit is used), held (waiting for a risk officer; its amount is "
        "reserved out of the available limit) or declined (see reason_codes, e.g. insufficient_limit, "
        "declined_on_review, hold_expired).",
    )
    reason_codes = serializers.ListField(child=serializers.CharField(), help_text="Why it was held or declined.")
    fully_refunded = serializers.BooleanField(help_text="The whole amount was refunded (returned).")
    hold_expires_on = serializers.DateField(
        allow_null=True, help_text="While held: the business date its hold expires (declined hold_expired) unless "
        "an officer releases it first."
    )
    decided_at = serializers.DateTimeField(
        allow_null=True, help_text="When a held purchase was released, declined or expired (null otherwise)."
    )
    available = MoneyField(help_text="The account's available limit now.")


class RefundInSerializer(serializers.Serializer):
    amount = AmountField(help_text="Amount to refund (at most what is left unrefunded).")
    reason = serializers.CharField(max_length=500, help_text="Why (e.g. 'returned', 'order cancelled').")
    excess_to = serializers.ChoiceField(
        choices=Refund.ExcessTo.choices, default=Refund.ExcessTo.CREDIT_BALANCE,
        help_text="Where a refund of amounts already repaid goes: the credit balance (default) or back to the "
        "original payment method.",
    )


class RefundOutSerializer(serializers.Serializer):
    id = serializers.CharField(source="reference", help_text="The refund's public reference.")
    purchase = serializers.CharField(source="purchase.reference", help_text="The purchase refunded.")
    account = serializers.CharField(source="account.reference", help_text=ACCOUNT_REF_HELP)
    amount = MoneyField(help_text="Amount refunded.")
    principal_reduced = MoneyField(help_text="Open principal it cancelled, from the last installment backwards.")
    fees_waived = MoneyField(help_text="Unpaid installment fees cancelled pro rata (purchase installments only).")
    excess = MoneyField(help_text="Part of the refund that had already been repaid.")
    excess_to = serializers.ChoiceField(choices=Refund.ExcessTo.choices, help_text="Where the excess went.")
    created_on = serializers.DateField(help_text="Business date of the refund.")
    purchase_refunded_amount = MoneyField(help_text="Refunded of the purchase so far, this refund included.")
    available = MoneyField(help_text="The account's available limit after the refund.")


# --- statements and bill installments --------------------------------------------------------------


class StatementLineOutSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=StatementLine.Kind.choices, help_text="What the line is.")
    on_date = serializers.DateField(allow_null=True, help_text="Date of the movement, if any.")
    description = serializers.CharField(help_text="Readable description.")
    amount = MoneyField(help_text="+ owed more, − paid or given back.")


class StatementVersionOutSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="Version number (1: as issued).")
    status = serializers.CharField(help_text="State of the bill in this version.")
    figures = serializers.DictField(child=serializers.CharField(), help_text="The money fields of this version (strings).")
    lines = serializers.ListField(child=serializers.DictField(), help_text="The lines of this version.")
    amended_because = serializers.CharField(help_text="Why this version was itself an amendment (empty: as issued).")
    superseded_on = serializers.DateField(help_text="Business date the next version replaced it.")
    superseded_because = serializers.CharField(help_text="Why it was replaced (the cause of the amendment).")


class StatementOutSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The statement's id: `<account>-<bill date YYYYMMDD>`.")
    account = serializers.CharField(source="account.reference", help_text=ACCOUNT_REF_HELP)
    bill_date = serializers.DateField(help_text="Bill date (the cycle's end).")
    due_date = serializers.DateField(help_text="Pay by this date.")
    period_start = serializers.DateField(help_text="First day of the cycle.")
    status = serializers.ChoiceField(
        choices=[c for c in Statement.Status.choices if c[0] != Statement.Status.DRAFT], help_text="State of the bill."
    )
    opening_balance = MoneyField(help_text="Owed at the start of the cycle.")
    purchases_amount = MoneyField(help_text="New revolving purchases.")
    installments_principal = MoneyField(help_text="Installment principal falling due this cycle.")
    installments_fee = MoneyField(help_text="Installment fees falling due this cycle.")
    deferral_fees = MoneyField(help_text="Deferral fees billed.")
    late_fees = MoneyField(help_text="Late fees billed.")
    premiums = MoneyField(help_text="Consumer-credit insurance premiums billed with the cycle's installments.")
    payments_amount = MoneyField(help_text="Payments received in the cycle.")
    refunds_amount = MoneyField(help_text="Refunds credited in the cycle.")
    credit_applied = MoneyField(help_text="Credit balance applied.")
    adjustments = MoneyField(help_text="Other movements (bill installments, early settlements).")
    closing_balance = MoneyField(help_text="Owed on the bill date (negative: in credit).")
    minimum_payment = MoneyField(help_text="Pay at least this by the due date to avoid being overdue.")
    lines = StatementLineOutSerializer(many=True, source="lines.all", help_text="The statement's lines, in order.")
    # PRODUCT §13 (issue 24): an amended statement shows its version, why, and the versions it replaced.
    version = serializers.IntegerField(help_text="1 as issued; +1 per amendment.")
    amended_on = serializers.DateField(allow_null=True, help_text="Business date of the latest amendment.")
    amended_because = serializers.CharField(help_text="Why the statement was amended (empty: as issued).")
    previous_versions = StatementVersionOutSerializer(many=True, source="versions.all",
                                                      help_text="The superseded versions, oldest first.")


class StatementFilterSerializer(serializers.Serializer):
    """Query parameters of the statement list (validated, so a bad date is a 400, never a 500)."""

    status = serializers.ChoiceField(
        choices=[c for c in Statement.Status.values if c != Statement.Status.DRAFT], required=False
    )
    bill_date_from = serializers.DateField(required=False)
    bill_date_to = serializers.DateField(required=False)
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)

    def to_internal_value(self, data):
        # DRF reads an empty query parameter (``?status=``) as an absent one; the schema says it is not.
        blank = {name: ["This parameter may not be empty."] for name in self.fields if data.get(name, None) == ""}
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)

    def validate(self, attrs):
        start, end = attrs.get("bill_date_from"), attrs.get("bill_date_to")
        if start and end and start > end:
            raise serializers.ValidationError({"bill_date_to": ["Must be on or after bill_date_from."]})
        return attrs


class StatementInstallInSerializer(serializers.Serializer):
    tenor = serializers.ChoiceField(choices=TENORS, help_text="Number of monthly installments: 3, 6, 12 or 24.")
    amount = AmountField(
        required=False, help_text="Part of the unpaid revolving balance to convert (default: all of it; at least "
        "the product's minimum, e.g. 100.00)."
    )
    insurance = serializers.BooleanField(
        required=False, default=False, help_text="Buy the consumer-credit insurance add-on with the plan: its first "
        "premium is billed onto this statement with the first installment."
    )


# --- settlement -----------------------------------------------------------------------------------


class SettlementQuoteOutSerializer(serializers.Serializer):
    plan = serializers.CharField(help_text="The plan's public reference.")
    total = MoneyField(help_text="What settling today costs.")
    remaining_principal = MoneyField(help_text="Principal not yet billed.")
    billed_unpaid = MoneyField(help_text="Billed and unpaid principal and fees.")
    fee = MoneyField(help_text="Fee the product's policy charges (none on the day the plan was created).")
    future_fees_waived = MoneyField(help_text="Future fees the customer no longer owes.")
    billed_fee_waived = MoneyField(help_text="Billed fees waived (settled on the day the plan was created).")
    same_day = serializers.BooleanField(help_text="Settled on the day the plan was created: no fee at all.")
    policy = serializers.CharField(help_text="waive_future_fees (default) or charge_next_fee.")
    as_of = serializers.DateField(help_text="Business date of the quote.")


class SettleInSerializer(serializers.Serializer):
    external_ref = serializers.CharField(
        max_length=80, required=False, allow_blank=True, default="",
        help_text="Reference of the customer's payment for the settlement (unique); generated when empty.",
    )


# --- repayments -----------------------------------------------------------------------------------


class RepaymentInSerializer(serializers.Serializer):
    account = serializers.CharField(max_length=16, help_text=ACCOUNT_REF_HELP)
    amount = AmountField(help_text='Amount received, e.g. "530.00".')
    external_ref = serializers.CharField(
        max_length=80, help_text="The payment's reference at the bank or wallet; unique (a repeat posts nothing)."
    )
    channel = serializers.ChoiceField(choices=PAYMENT_CHANNELS, help_text="How the money came in.")
    received_on = serializers.DateField(
        required=False, help_text="Date the money was received (default: the business date; never in the future)."
    )


class AllocationTotalsSerializer(serializers.Serializer):
    late_fee = MoneyField(help_text="Paid to late fees.")
    deferral_fee = MoneyField(help_text="Paid to deferral fees.")
    settlement_fee = MoneyField(help_text="Paid to an early-settlement fee.")
    installment_fee = MoneyField(help_text="Paid to installment fees.")
    premium = MoneyField(help_text="Paid to insurance premiums.")
    principal = MoneyField(help_text="Paid to principal.")
    credit_balance = MoneyField(help_text="Kept as credit balance (overpayment).")
    recovery = MoneyField(help_text="Recovered on a written-off account.")


class RepaymentOutSerializer(serializers.Serializer):
    id = serializers.CharField(source="reference", help_text="The repayment's public reference.")
    account = serializers.CharField(source="account.reference", help_text=ACCOUNT_REF_HELP)
    amount = MoneyField(help_text="Amount received.")
    external_ref = serializers.CharField(help_text="The payment's external reference.")
    channel = serializers.ChoiceField(choices=Repayment.Channel.choices, help_text="How the money came in.")
    kind = serializers.ChoiceField(choices=Repayment.Kind.choices, help_text="repayment, settlement or recovery.")
    status = serializers.ChoiceField(choices=Repayment.Status.choices, help_text="posted or reversed.")
    received_on = serializers.DateField(help_text="Date received.")
    posted_on = serializers.DateField(help_text="Business date posted.")
    to_credit_balance = MoneyField(help_text="Overpayment kept as credit balance.")
    allocated = AllocationTotalsSerializer(help_text="Where the money went, by kind.")
    plan = serializers.CharField(allow_null=True, help_text="The plan settled (settlements only).")
    available = MoneyField(help_text="The account's available limit after the repayment.")
