"""Cash-loan reads: the cash sub-limit of an account and what its cash loans use of it."""
from __future__ import annotations

from decimal import Decimal

from django.db.models import DecimalField, F, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import CreditAccount
from cashloans.models import AccountCashLimit, CashLoanProduct
from core.money import ZERO, money, money_down
from installments.models import Plan, ScheduleLine

_D = DecimalField(max_digits=16, decimal_places=2)
_PRINCIPAL_OPEN = F("principal") - F("principal_paid") - F("principal_reduced") - F("principal_written_off")


def _cash_used_subquery(account_ref):
    return Subquery(
        ScheduleLine.objects.filter(account_id=account_ref, plan__kind=Plan.Kind.CASH_LOAN, status__in=ScheduleLine.OPEN)
        .values("account_id").annotate(s=Sum(_PRINCIPAL_OPEN, output_field=_D)).values("s")[:1],
        output_field=_D,
    )


def cash_used(*, account_id: int) -> Decimal:
    """Unpaid principal of the account's cash loans (billed or not)."""
    value = (ScheduleLine.objects.filter(account_id=account_id, plan__kind=Plan.Kind.CASH_LOAN, status__in=ScheduleLine.OPEN)
             .aggregate(s=Coalesce(Sum(_PRINCIPAL_OPEN, output_field=_D), Value(ZERO), output_field=_D))["s"])
    return money(value)


def cash_product_for(account: CreditAccount) -> CashLoanProduct | None:
    return CashLoanProduct.objects.filter(product_id=account.product_id).first()


def cash_override_of(account_id: int) -> Decimal | None:
    return AccountCashLimit.objects.filter(account_id=account_id).values_list("cash_limit", flat=True).first()


def cash_limit_of(product: CashLoanProduct | None, total_limit: Decimal, override: Decimal | None = None) -> Decimal:
    """The cash sub-limit: the account's override if a credit officer set one, else the product's share of
    the line rounded down to the cent; never above the line, 0 when the product lends no cash. Callers pass
    the **fixed** limit as ``total_limit``: temporary campaign limits are for purchases (issue 25 item 2)."""
    if product is None or not product.is_active:
        return ZERO
    if override is not None:
        return min(money(override), money(total_limit))
    return money_down(total_limit * product.cash_share)


def cash_figures(*, product: CashLoanProduct | None, total_limit: Decimal, available: Decimal, used: Decimal,
                 override: Decimal | None = None) -> dict:
    limit = cash_limit_of(product, total_limit, override)
    return {"cash_limit": limit, "cash_used": money(used),
            "cash_available": max(min(limit - money(used), available), ZERO)}


def cash_limits_view(account: CreditAccount, total_limit: Decimal, available: Decimal) -> dict:
    """The account API's cash fields, in one query (the product's share of the fixed line with the cash used
    beside it; ``total_limit`` includes temporary limits and is not used for cash)."""
    override = Subquery(AccountCashLimit.objects.filter(account_id=account.pk).values("cash_limit")[:1], output_field=_D)
    row = (CashLoanProduct.objects.filter(product_id=account.product_id)
           .annotate(used=Coalesce(_cash_used_subquery(account.pk), Value(ZERO), output_field=_D), override=override)
           .first())
    if row is None:  # no cash product: nothing was lent (a loan protects its product from deletion)
        return cash_figures(product=None, total_limit=account.fixed_limit, available=available, used=ZERO)
    return cash_figures(product=row, total_limit=account.fixed_limit, available=available, used=row.used,
                        override=row.override)
