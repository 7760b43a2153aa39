"""Product terms: saving is refused when any price breaks the APR ceiling (PRODUCT §5)."""
from __future__ import annotations

from decimal import Decimal
from collections.abc import Mapping

from django.db import transaction

from core.actors import Actor
from core.audit import audit_record
from core.errors import BusinessRuleError, ValidationError
from installments.calc import TENORS, PricingViolation, pricing_violations
from installments.models import ProductTerms, TenorRate

TERMS_FIELDS = (
    "grace_days", "late_fee_daily_rate", "late_fee_daily_minimum", "deferral_daily_rate", "minimum_payment_rate",
    "due_offset_days", "settlement_policy", "bill_installment_minimum", "apr_ceiling", "allocation_strategy",
    "value_date_max_days",
    "hold_expiry_days", "repayment_credit_tolerance",
)


class PricingCeilingError(BusinessRuleError):
    code = "apr_above_ceiling"


def terms_violations(*, fee_rates: Mapping[int, Decimal], late_fee_daily_rate: Decimal, deferral_daily_rate: Decimal,
                     apr_ceiling: Decimal) -> list[PricingViolation]:
    return pricing_violations(fee_rates=dict(fee_rates), late_fee_daily_rate=late_fee_daily_rate,
                              deferral_daily_rate=deferral_daily_rate, apr_ceiling=apr_ceiling)


def check_pricing(*, fee_rates: Mapping[int, Decimal], late_fee_daily_rate: Decimal, deferral_daily_rate: Decimal,
                  apr_ceiling: Decimal) -> None:
    """Raise :class:`PricingCeilingError` naming every offending tenor/fee and its rate."""
    unknown = sorted(set(fee_rates) - set(TENORS))
    if unknown:
        raise ValidationError(f"Unknown tenor(s) {unknown}; tenors are {list(TENORS)}.", code="invalid_tenor")
    violations = terms_violations(fee_rates=fee_rates, late_fee_daily_rate=late_fee_daily_rate,
                                  deferral_daily_rate=deferral_daily_rate, apr_ceiling=apr_ceiling)
    if violations:
        raise PricingCeilingError(
            "; ".join(str(v) for v in violations),
            details={"violations": [
                {"what": v.what, "rate": str(v.rate), "apr_pct": str(v.apr_pct), "ceiling_pct": str(v.ceiling_pct)}
                for v in violations
            ]},
        )


@transaction.atomic
def product_terms_update(*, terms: ProductTerms, actor: Actor, fee_rates: Mapping[int, Decimal] | None = None,
                         **changes) -> ProductTerms:
    """Change terms and/or tenor rates. Refused (nothing saved) if the APR of any tenor or the annualised
    late or deferral fee would exceed the ceiling."""
    unknown = set(changes) - set(TERMS_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown terms field(s): {sorted(unknown)}.", code="invalid_field")
    terms = ProductTerms.objects.select_for_update().get(pk=terms.pk)
    old = {f: str(getattr(terms, f)) for f in TERMS_FIELDS}
    old_rates = {t: str(r) for t, r in terms.fee_rates().items()}
    for field, value in changes.items():
        setattr(terms, field, value)
    rates = dict(terms.fee_rates())
    if fee_rates is not None:
        rates = {int(t): Decimal(str(r)) for t, r in fee_rates.items()}
    check_pricing(fee_rates=rates, late_fee_daily_rate=terms.late_fee_daily_rate,
                  deferral_daily_rate=terms.deferral_daily_rate, apr_ceiling=terms.apr_ceiling)
    terms.full_clean(exclude=["product"])
    terms.save()
    if fee_rates is not None:
        terms.tenor_rates.exclude(tenor__in=rates).delete()
        for tenor, rate in rates.items():
            TenorRate.objects.update_or_create(terms=terms, tenor=tenor, defaults={"fee_rate": rate})
    audit_record(actor=actor, action="product_terms_update", obj=terms, old={**old, "rates": old_rates},
                 new={**{f: str(getattr(terms, f)) for f in TERMS_FIELDS}, "rates": {t: str(r) for t, r in rates.items()}})
    return terms
