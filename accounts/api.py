"""Accounts API (PRODUCT §10): ``GET /api/v1/accounts/{id}/``. Thin: parse, call a selector, render."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import CreditAccount
from accounts.serializers import AccountOutSerializer
from accounts.selectors import active_temporary_limits, available_amount
from core.business_date import get_business_date
from core.errors import NotFoundError
from core.money import ZERO
from integrations.api import error_responses
from integrations.scopes import ACCOUNTS_READ

ACCOUNT_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="The account's public reference.")


#: Functions ``fn(account, total_limit, available) -> dict`` adding fields to the account's view; an app
#: above accounts (cash loans) registers one in ``AppConfig.ready()``, so the imports keep pointing one way.
_VIEW_EXTRAS: list = []


def register_account_view_extra(fn) -> None:
    if fn not in _VIEW_EXTRAS:
        _VIEW_EXTRAS.append(fn)


def account_by_reference(reference: str, *, queryset=None) -> CreditAccount:
    account = (queryset if queryset is not None else CreditAccount.objects).filter(reference=reference).first()
    if account is None:
        raise NotFoundError("No account with this id.", code="account_not_found", details={"id": reference})
    return account


def account_view_data(account: CreditAccount) -> dict:
    """The account with its limits on the business date (two queries: date, temporary limits)."""
    on = get_business_date()
    temporary = list(
        active_temporary_limits(on=on).filter(account=account).order_by("starts_on", "id")
        .values("amount", "starts_on", "ends_on", "campaign")
    )
    temporary_total = sum((row["amount"] for row in temporary), ZERO)
    total = account.fixed_limit + temporary_total
    available = available_amount(account, total)
    extras: dict = {}
    for fn in _VIEW_EXTRAS:
        extras.update(fn(account, total, available))
    return {
        "reference": account.reference,
        "customer": account.customer,
        "product": account.product,
        **{f: getattr(account, f) for f in (
            "status", "freeze_reason", "fixed_limit", "used_amount", "held_amount", "credit_balance", "bill_day", "opened_on",
            "closed_on", "dpd", "bucket",
        )},
        "temporary_limit": temporary_total,
        "total_limit": total,
        "available": available,
        "temporary_limits": temporary,
        "as_of": on,
        **extras,
    }


class AccountDetail(APIView):
    required_scopes = (ACCOUNTS_READ,)

    @extend_schema(
        operation_id="accounts_retrieve",
        summary="An account: limits, used, available, status, bill day",
        parameters=[ACCOUNT_ID],
        responses={200: AccountOutSerializer, **error_responses(404)},
        tags=["accounts"],
    )
    def get(self, request, id: str):
        account = account_by_reference(id, queryset=CreditAccount.objects.select_related("customer", "product"))
        return Response(AccountOutSerializer(account_view_data(account)).data)
