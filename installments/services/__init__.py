"""Writes of the credit engine. Every function is keyword-only, runs under ``transaction.atomic`` and
locks the account row before it reads balances (one account at a time; several in ascending pk)."""
from installments.services.common import get_terms, product_terms_create_default  # noqa: F401
from installments.services.purchases import (  # noqa: F401
    PurchaseDeclinedError, purchase_authorize, purchase_hold_expire, purchase_holds_expire, purchase_review_approve,
    purchase_review_decline,
)
from installments.services.refunds import purchase_refund  # noqa: F401
from installments.services.repayments import credit_balance_apply, repayment_post, repayment_reverse  # noqa: F401
from installments.services.settlements import PlanSettlement, plan_settle, plan_settlement_quote  # noqa: F401
from installments.services.statements import statement_install  # noqa: F401
from installments.services.terms import PricingCeilingError, check_pricing, product_terms_update  # noqa: F401
from installments.services.controls import (  # noqa: F401
    account_write_off, fee_waive, fee_waiver_submit, plan_settlement_submit, refund_submit, repayment_manual_submit,
    write_off_submit,
)
