"""Cash-loan API calls (issue 16 item 3): quote, draw (``Idempotency-Key``), read back. Thin views:
parse, call a service or selector, render. Early repayment is the plans' settlement
(``/plans/{id}/settlement-quote/`` and ``/settle/``), which charges a cash loan's interest accrued to date."""
from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import account_by_reference
from accounts.models import CreditAccount
from accounts.selectors import account_limits
from cashloans import services
from cashloans.apps import CASH_LOANS_WRITE
from cashloans.models import CashLoan
from cashloans.selectors import cash_figures, cash_override_of, cash_used
from cashloans.serializers import (
    CashLoanInSerializer, CashLoanOutSerializer, CashQuoteInSerializer, CashQuoteOutSerializer, PayoutFailedInSerializer,
    PrepaymentInSerializer, PrepaymentOutSerializer,
)
from core.business_date import get_business_date
from core.errors import NotFoundError
from installments.models import ScheduleLine
from integrations.api import IDEMPOTENCY_KEY_PARAMETER, actor_for, error_responses
from integrations.idempotency import idempotent
from integrations.scopes import QUOTES_READ

_EXAMPLE_IN = {"account": "8M3K2Q7RTZ1A", "amount": "10000.00", "tenor": 12}


def _loans(request):
    """A token's client reads the cash loans it drew; a staff session reads every one."""
    actor = actor_for(request)
    loans = CashLoan.objects.select_related("account", "plan", "product").prefetch_related(
        Prefetch("plan__lines", queryset=ScheduleLine.objects.order_by("period")))
    return loans.filter(requested_via=actor.rule) if actor.is_system else loans


def _cash_available(account: CreditAccount, product) -> tuple:
    _total, available = account_limits(account=account, on=get_business_date())
    figures = cash_figures(product=product, total_limit=account.fixed_limit, available=available,
                           used=cash_used(account_id=account.pk), override=cash_override_of(account.pk))
    return available, figures["cash_available"]


class CashQuoteCreate(APIView):
    required_scopes = (QUOTES_READ,)

    @extend_schema(
        operation_id="cash_loans_quotes_create",
        summary="Price a cash loan: equal installments, interest and APR (nothing is stored)",
        description=(
            "Equal installments (等额本息) with interest by the actual day: each period's interest is the "
            "outstanding principal × the daily rate × the period's days, the last installment absorbs the rounding. "
            "The APR is the IRR of the real cash-flow dates, annualised (PBoC 2021 No. 3). Due dates are those of the account's next statements for a "
            "drawdown today. 422 `cash_amount_out_of_range`, `invalid_tenor`, `cash_loan_not_offered`, "
            "`apr_above_ceiling`."
        ),
        request=CashQuoteInSerializer,
        responses={200: CashQuoteOutSerializer, **error_responses(404, 422)},
        examples=[OpenApiExample("12 months on 10,000.00", value=_EXAMPLE_IN, request_only=True)],
        tags=["cash loans"],
    )
    def post(self, request):
        data = CashQuoteInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        account = account_by_reference(v["account"], queryset=CreditAccount.objects.select_related("product"))
        q = services.cash_loan_quote(account=account, amount=v["amount"], tenor=v["tenor"])
        s = q.schedule
        _, cash_available = _cash_available(account, q.product)
        out = {
            "apr_nominal": s.apr.nominal_pct, "apr_effective": s.apr.effective_pct, "account": account.reference,
            "amount": s.principal, "tenor": s.tenor, "daily_rate": s.daily_rate, "monthly_rate": s.monthly_rate,
            "installment": s.installment, "last_installment": s.last_installment, "total_interest": s.total_interest,
            "total_payable": s.total_payable, "cash_available": cash_available,
            "schedule": [{"period": line.period, "due_date": due, "principal": line.principal, "interest": line.interest,
                          "total": line.total, "balance_after": line.balance_after}
                         for line, due in zip(s.lines, q.due_dates, strict=True)],
        }
        return Response(CashQuoteOutSerializer(out).data)


class CashLoanCreate(APIView):
    required_scopes = (CASH_LOANS_WRITE,)

    @extend_schema(
        operation_id="cash_loans_create",
        summary="Draw a cash loan to a bank card",
        description=(
            "Checks the amount against the line's available amount and the cash sub-limit (the product's share "
            "of the total limit, less the unpaid principal of earlier cash loans), creates an installment plan "
            "of equal installments billed on the monthly statements, and pays the amount to the card (only its "
            "last 4 digits are kept). 422 `insufficient_limit`, `insufficient_cash_limit`, `account_not_active`, "
            "`cash_amount_out_of_range`, `invalid_tenor`, `cash_loan_not_offered`."
        ),
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=CashLoanInSerializer,
        responses={201: OpenApiResponse(CashLoanOutSerializer, description="Drawn and paid to the card."),
                   **error_responses(404, 409, 422)},
        examples=[OpenApiExample("12 months on 10,000.00", value={**_EXAMPLE_IN, "card_number": "6222020200112233445"},
                                 request_only=True)],
        tags=["cash loans"],
    )
    @idempotent
    def post(self, request):
        data = CashLoanInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        account = account_by_reference(v["account"], queryset=CreditAccount.objects.select_related("product"))
        loan = services.cash_loan_draw(account=account, amount=v["amount"], tenor=v["tenor"], card_number=v["card_number"],
                                       purpose=v["purpose"], actor=actor_for(request))
        available, cash_available = loan.available_after, loan.cash_available_after
        loan = _loans(request).get(pk=loan.pk)
        loan.available, loan.cash_available = available, cash_available
        return Response(CashLoanOutSerializer(loan).data, status=201)


class CashLoanDetail(APIView):
    required_scopes = (CASH_LOANS_WRITE,)

    @extend_schema(
        operation_id="cash_loans_retrieve",
        summary="A cash loan: amount, APR, card (masked), state and installments",
        description="A client reads only the cash loans it drew: another client's is 404 `cash_loan_not_found`.",
        parameters=[OpenApiParameter("id", str, OpenApiParameter.PATH, description="The cash loan's public reference.")],
        responses={200: CashLoanOutSerializer, **error_responses(404)},
        tags=["cash loans"],
    )
    def get(self, request, id: str):
        loan = _loans(request).filter(reference=id).first()
        if loan is None:
            raise NotFoundError("No cash loan with this id.", code="cash_loan_not_found", details={"id": id})
        loan.available, loan.cash_available = _cash_available(loan.account, loan.product)
        return Response(CashLoanOutSerializer(loan).data)


def _loan_or_404(request, id: str) -> CashLoan:
    loan = _loans(request).filter(reference=id).first()
    if loan is None:
        raise NotFoundError("No cash loan with this id.", code="cash_loan_not_found", details={"id": id})
    return loan


class CashLoanPayoutFailed(APIView):
    required_scopes = (CASH_LOANS_WRITE,)

    @extend_schema(
        operation_id="cash_loans_payout_failed",
        summary="Report that the payout of a cash loan failed: the drawdown is reversed",
        description="The schedule is cancelled and the line restored. 422 `payout_reversal_too_late` once anything "
                    "was billed or repaid, `payout_already_failed`.",
        parameters=[IDEMPOTENCY_KEY_PARAMETER,
                    OpenApiParameter("id", str, OpenApiParameter.PATH, description="The cash loan's public reference.")],
        request=PayoutFailedInSerializer, responses={200: CashLoanOutSerializer, **error_responses(404, 409, 422)},
        tags=["cash loans"],
    )
    @idempotent
    def post(self, request, id: str):
        data = PayoutFailedInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        loan = services.cash_loan_payout_fail(loan=_loan_or_404(request, id), reason=data.validated_data["reason"],
                                              actor=actor_for(request))
        loan = _loans(request).get(pk=loan.pk)
        loan.available, loan.cash_available = _cash_available(loan.account, loan.product)
        return Response(CashLoanOutSerializer(loan).data)


class CashLoanPrepay(APIView):
    required_scopes = (CASH_LOANS_WRITE,)

    @extend_schema(
        operation_id="cash_loans_prepay",
        summary="Repay part of a cash loan early: shorten the term or lower the installment",
        description="Interest accrued to today stays due with the next installment; the rest is re-amortised by the "
                    "day. 422 `cash_loan_billed_unpaid`, `prepayment_covers_loan`, `invalid_prepayment_mode`.",
        parameters=[IDEMPOTENCY_KEY_PARAMETER,
                    OpenApiParameter("id", str, OpenApiParameter.PATH, description="The cash loan's public reference.")],
        request=PrepaymentInSerializer, responses={201: PrepaymentOutSerializer, **error_responses(404, 409, 422)},
        tags=["cash loans"],
    )
    @idempotent
    def post(self, request, id: str):
        data = PrepaymentInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        prepayment = services.cash_loan_prepay(loan=_loan_or_404(request, id), amount=v["amount"], mode=v["mode"],
                                               external_ref=v.get("external_ref", ""), actor=actor_for(request))
        return Response(PrepaymentOutSerializer(prepayment).data, status=201)
