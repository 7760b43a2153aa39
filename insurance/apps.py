from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InsuranceConfig(AppConfig):
    """Consumer-credit insurance sold with installment plans (issue 16). It sits above the credit engine:
    it plugs its premium billing into statement generation and its add-on into plan creation through
    ``installments.hooks``, and its claims into the approvals app; nothing below imports it."""

    name = "insurance"
    verbose_name = _("Consumer-credit insurance")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from installments.hooks import PlanAddOn, register_plan_add_on, register_plan_listener, register_statement_biller

        from insurance.services import (
            ADD_ON, policy_attach, policy_describe, policy_follow_plan, premiums_bill, quote_insurance,
            register_approval_kinds,
        )

        register_statement_biller("insurance.premiums", premiums_bill)
        register_plan_listener("insurance.follow_plan", policy_follow_plan)
        register_plan_add_on(PlanAddOn(name=ADD_ON, attach=policy_attach, quote=quote_insurance, describe=policy_describe,
                                       relation="insurance_policy"))
        register_approval_kinds()
        from privacy.registry import Provider, RecordSet, register

        register(Provider(
            key="insurance",
            label="Consumer-credit insurance",
            records=(
                RecordSet("insurance_policies", "insurance.InsurancePolicy", customer_path="account__customer",
                          description="Insurance sold with the customer's installment plans: premiums, cancellation."),
                RecordSet("insurance_claims", "insurance.InsuranceClaim", customer_path="policy__account__customer",
                          description="Claims on those policies (death, disability, unemployment) and their payment."),
                RecordSet("insurance_remittance_lines", "insurance.RemittanceLine",
                          customer_path="policy__account__customer",
                          description="The customer's premiums on the monthly remittance statements to the insurer."),
            ),
        ))
