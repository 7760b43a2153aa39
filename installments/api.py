"""Credit-engine API calls (PRODUCT §10). One view per operation with plain serializers: a view parses
input, calls a calculation, selector or service, and renders. Money is a string with 2 decimals.

Calls that move money take an ``Idempotency-Key`` (``integrations.idempotency``); the services are
idempotent on their own natural keys as well (merchant order id per account, repayment reference)."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.db.models import Prefetch, Sum
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import ACCOUNT_ID, account_by_reference
from accounts.models import CreditAccount, CreditProduct
from accounts.selectors import account_available
from core.business_date import get_business_date
from core.errors import BusinessRuleError, NotFoundError
from core.money import ZERO
from installments import calc, hooks, services
from installments.models import Allocation, Plan, Purchase, Refund, Repayment, ScheduleLine, Statement, StatementLine, StatementVersion
from installments.serializers import (
    PlanOutSerializer, PurchaseInSerializer, PurchaseOutSerializer, PurchaseStatusOutSerializer, QuoteInSerializer,
    QuoteOutSerializer,
    RefundInSerializer, RefundOutSerializer, RepaymentInSerializer, RepaymentOutSerializer, SettleInSerializer,
    SettlementQuoteOutSerializer, StatementFilterSerializer, StatementInstallInSerializer, StatementOutSerializer,
)
from installments.services.common import get_terms, line_due_dates, next_bill_date
from installments.services.purchases import plan_quote_checked
from integrations.api import IDEMPOTENCY_KEY_PARAMETER, actor_for, error_responses
from integrations.idempotency import idempotent
from integrations.pagination import Pagination
from integrations.scopes import (
    INSTALLMENTS_WRITE, PURCHASES_WRITE, QUOTES_READ, REFUNDS_WRITE, REPAYMENTS_WRITE, SETTLEMENTS_WRITE,
    STATEMENTS_READ,
)

IDEMPOTENCY_KEY = IDEMPOTENCY_KEY_PARAMETER


def _ref_param(what: str) -> OpenApiParameter:
    return OpenApiParameter("id", str, OpenApiParameter.PATH, description=f"The {what}'s public reference.")


# --- small reads the views share -------------------------------------------------------------------


def _available(account_id: int) -> Decimal:
    account = CreditAccount.objects.get(pk=account_id)
    return account_available(account=account, on=get_business_date())


def _plans():
    return Plan.objects.select_related("account", *hooks.plan_add_on_relations()).prefetch_related(
        Prefetch("lines", queryset=ScheduleLine.objects.order_by("period"))
    )


def _by_reference(model, reference: str, *, code: str, what: str, queryset=None):
    obj = (queryset if queryset is not None else model.objects).filter(reference=reference).first()
    if obj is None:
        raise NotFoundError(f"No {what} with this id.", code=code, details={"id": reference})
    return obj


def statement_id(statement: Statement) -> str:
    """A statement's public id: its account's reference and bill date (unique per account and cycle)."""
    return f"{statement.account.reference}-{statement.bill_date:%Y%m%d}"


def _statement_by_id(value: str) -> Statement:
    reference, _, day = value.rpartition("-")
    statement = None
    if reference and len(day) == 8 and day.isdigit():
        try:
            bill_date = dt.date(int(day[:4]), int(day[4:6]), int(day[6:]))
        except ValueError:
            bill_date = None
        if bill_date:
            statement = (
                Statement.objects.select_related("account").exclude(status=Statement.Status.DRAFT)
                .filter(account__reference=reference, bill_date=bill_date).first()
            )
    if statement is None:
        raise NotFoundError("No statement with this id.", code="statement_not_found", details={"id": value})
    return statement


def _quote_product(account: CreditAccount | None) -> CreditProduct:
    if account is not None:
        return account.product
    product = (
        CreditProduct.objects.filter(code=getattr(settings, "API_DEFAULT_PRODUCT_CODE", ""), is_active=True).first()
        or CreditProduct.objects.filter(is_active=True).order_by("pk").first()
    )
    if product is None:
        raise BusinessRuleError("No credit product is open.", code="no_product")
    return product


# --- quotes ---------------------------------------------------------------------------------------


def _quote_example() -> dict:
    q = calc.quote(Decimal("6000.00"), 12, Decimal("0.005"))
    return {
        "apr_nominal": f"{q.apr.nominal_pct}", "apr_effective": f"{q.apr.effective_pct}", "principal": "6000.00",
        "tenor": 12, "fee_rate": "0.005", "fee_per_period": f"{q.fee_per_period}", "total_fee": f"{q.total_fee}",
        "total_payable": f"{q.total_payable}", "payment_per_period": f"{q.payment_per_period}",
        "last_payment": f"{q.last_payment}", "product": "baitiao", "account": None, "first_due_date": None,
        "schedule": [
            {"period": line.period, "due_date": None, "principal": f"{line.principal}", "fee": f"{line.fee}",
             "total": f"{line.total}"}
            for line in q.lines
        ],
    }


class QuoteCreate(APIView):
    required_scopes = (QUOTES_READ,)

    @extend_schema(
        operation_id="quotes_create",
        summary="Price an installment plan: schedule, fees and APR (nothing is stored)",
        description=(
            "Equal principal per period (rounded down to the cent, the remainder in the last period) and a fee "
            "on the original principal every period, at the product's rate for the tenor. The APR is the "
            "annualised IRR (PBoC 2021 No. 3). With `account`, due dates follow the account's bill day and "
            "its product's due-date offset for a purchase made today (the business date). A quote whose APR "
            "would exceed the product's ceiling (small amounts over long tenors) is refused: 422 `apr_above_ceiling`."
        ),
        request=QuoteInSerializer,
        responses={200: QuoteOutSerializer, **error_responses(404, 422)},
        examples=[
            OpenApiExample("12 months on 6,000.00", value={"principal": "6000.00", "tenor": 12}, request_only=True),
            OpenApiExample("12 months on 6,000.00", value=_quote_example(), response_only=True, status_codes=["200"]),
        ],
        tags=["quotes"],
    )
    def post(self, request):
        data = QuoteInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        principal, tenor = data.validated_data["principal"], data.validated_data["tenor"]
        account = None
        if "account" in data.validated_data:
            account = account_by_reference(
                data.validated_data["account"], queryset=CreditAccount.objects.select_related("product")
            )
        product = _quote_product(account)
        terms = get_terms(product.pk)
        q = plan_quote_checked(principal=principal, tenor=tenor, terms=terms)
        insurance = None
        if data.validated_data.get("insurance"):
            add_on = hooks.plan_add_on("insurance")
            if add_on is None:
                raise BusinessRuleError("No consumer-credit insurance is offered.", code="insurance_unavailable")
            insurance = add_on.quote(principal=principal, tenor=tenor, terms=terms, quote=q)
        due_dates: list[dt.date | None] = [None] * tenor
        if account is not None:
            due_dates = line_due_dates(next_bill_date(get_business_date(), account.bill_day), tenor, terms.due_offset_days)
        out = {
            "apr_nominal": q.apr.nominal_pct, "apr_effective": q.apr.effective_pct, "principal": q.principal,
            "tenor": q.tenor, "fee_rate": q.fee_rate, "fee_per_period": q.fee_per_period, "total_fee": q.total_fee,
            "total_payable": q.total_payable, "payment_per_period": q.payment_per_period,
            "last_payment": q.last_payment, "product": product.code,
            "account": account.reference if account else None, "first_due_date": due_dates[0],
            "schedule": [
                {"period": line.period, "due_date": due, "principal": line.principal, "fee": line.fee,
                 "total": line.total}
                for line, due in zip(q.lines, due_dates)
            ],
            "insurance": insurance,
        }
        return Response(QuoteOutSerializer(out).data)


# --- purchases ------------------------------------------------------------------------------------


def _purchase_out(purchase: Purchase) -> dict:
    """The answer about a purchase the service just returned: no second read of the purchase, and the
    available limit as the service left it (read again only for a replay)."""
    plan = getattr(purchase, "plan_created", None)  # with its lines: nothing read back
    if plan is None:
        plan = _plans().filter(purchase=purchase).first()
    available = getattr(purchase, "available_after", None)
    if available is None:
        available = account_available(account=purchase.account, on=get_business_date())
    return {**{f: getattr(purchase, f) for f in (
        "reference", "account", "merchant_order_id", "amount", "tenor", "category", "status", "reason_codes",
        "requested_on", "posted_on", "cycle_bill_date", "refunded_amount",
    )}, "plan": plan, "available": available}


class PurchaseCreate(APIView):
    required_scopes = (PURCHASES_WRITE,)

    @extend_schema(
        operation_id="purchases_create",
        summary="Authorise and post a purchase (optionally as a purchase installment)",
        description=(
            "Authorises the amount against the available limit (account active, amount ≤ available, risk rules "
            "passed) and posts it to the cycle: before the bill day → this month's statement, on or after → "
            "next month's. With `tenor`, the purchase becomes a purchase installment whose first period falls "
            "due on that statement's due date. A decline is recorded and answered 422 with the reason as the "
            "code (`insufficient_limit`, `account_not_active`, or a risk rule's code) and "
            "`details.reason_codes`. The merchant order id is unique per account: the same order again "
            "returns the first purchase (200); with another amount or tenor, 422 `merchant_order_conflict`."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=PurchaseInSerializer,
        responses={
            201: OpenApiResponse(PurchaseOutSerializer, description="Approved and posted."),
            202: OpenApiResponse(PurchaseOutSerializer, description="Held for review by a risk officer."),
            200: OpenApiResponse(PurchaseOutSerializer, description="This merchant order was already authorised."),
            **error_responses(404, 409, 422),
        },
        examples=[
            OpenApiExample(
                "12-month purchase installment",
                value={"account": "8M3K2Q7RTZ1A", "amount": "6000.00", "merchant_order_id": "JD-20260315-0001",
                       "tenor": 12, "category": "electronics"},
                request_only=True,
            ),
            OpenApiExample(
                "Declined: not enough limit", status_codes=["422"], response_only=True,
                value={"error": {"code": "insufficient_limit", "message": "Purchase declined: insufficient_limit.",
                                 "details": {"purchase": "3XW9J0B2KQ4M", "reason_codes": ["insufficient_limit"],
                                             "replay": False}}},
            ),
        ],
        tags=["purchases"],
    )
    @idempotent
    def post(self, request):
        data = PurchaseInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        purchase = services.purchase_authorize(
            account_reference=v["account"], amount=v["amount"], merchant_order_id=v["merchant_order_id"], tenor=v.get("tenor"),
            category=v["category"], device_id=v["device_id"], actor=actor_for(request),
            add_ons=("insurance",) if v.get("insurance") else (),
        )
        if getattr(purchase, "is_replay", False):
            status = 200
        else:
            status = 202 if purchase.status == Purchase.Status.HELD else 201
        return Response(PurchaseOutSerializer(_purchase_out(purchase)).data, status=status)


def purchases_visible_to(request):
    """A token's client reads the purchases it asked for; a staff session reads every purchase."""
    actor = actor_for(request)
    purchases = Purchase.objects.select_related("account")
    return purchases.filter(requested_via=actor.rule) if actor.is_system else purchases


class PurchaseDetail(APIView):
    required_scopes = (PURCHASES_WRITE,)

    @extend_schema(
        operation_id="purchases_retrieve",
        summary="A purchase's outcome: approved, held, declined (and refunds)",
        description=(
            "The storefront reads back a purchase it asked for (e.g. after a 202: held for review): its status, "
            "amount, account, reason codes and plan. A held purchase reserves its amount out of the available "
            "limit until an officer releases it (approved → posted, or declined) or its hold expires "
            "(`hold_expires_on`: declined with `hold_expired`, the limit restored). A client reads only the "
            "purchases it made: another client's is 404 `purchase_not_found`."
        ),
        parameters=[_ref_param("purchase")],
        responses={200: PurchaseStatusOutSerializer, **error_responses(404)},
        tags=["purchases"],
    )
    def get(self, request, id: str):
        purchase = _by_reference(Purchase, id, code="purchase_not_found", what="purchase",
                                 queryset=purchases_visible_to(request))
        expires_on = None
        if purchase.status == Purchase.Status.HELD:
            expires_on = purchase.requested_on + dt.timedelta(days=get_terms(purchase.account.product_id).hold_expiry_days)
        out = {
            **_purchase_out(purchase), "status": purchase.status, "hold_expires_on": expires_on,
            "decided_at": purchase.reviewed_at, "fully_refunded": purchase.refunded_amount == purchase.amount,
        }
        return Response(PurchaseStatusOutSerializer(out).data)


class PurchaseRefundCreate(APIView):
    required_scopes = (REFUNDS_WRITE,)

    @extend_schema(
        operation_id="purchases_refunds_create",
        summary="Refund all or part of a purchase",
        description=(
            "Offsets the plan from the last installment backwards. Purchase installment: unpaid fees shrink pro "
            "rata, paid fees are kept; bill installment fees are not refunded. A refund of amounts already repaid "
            "goes to the credit balance (or a refund payable, `excess_to`). The limit is restored."
        ),
        parameters=[_ref_param("purchase"), IDEMPOTENCY_KEY],
        request=RefundInSerializer,
        responses={201: RefundOutSerializer, **error_responses(404, 409, 422)},
        examples=[
            OpenApiExample("Partial return", value={"amount": "1000.00", "reason": "returned one item"},
                           request_only=True),
        ],
        tags=["purchases"],
    )
    @idempotent
    def post(self, request, id: str):
        data = RefundInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        purchase = _by_reference(Purchase, id, code="purchase_not_found", what="purchase")
        refund = services.purchase_refund(
            purchase=purchase, amount=data.validated_data["amount"], reason=data.validated_data["reason"],
            excess_to=data.validated_data["excess_to"], actor=actor_for(request),
        )
        refund = Refund.objects.select_related("purchase", "account").get(pk=refund.pk)
        out = {
            **{f: getattr(refund, f) for f in (
                "reference", "purchase", "account", "amount", "principal_reduced", "excess", "excess_to", "created_on",
            )},
            "fees_waived": refund.fees_waived_billed + refund.fees_waived_unbilled,
            "purchase_refunded_amount": refund.purchase.refunded_amount,
            "available": _available(refund.account_id),
        }
        return Response(RefundOutSerializer(out).data, status=201)


# --- statements -----------------------------------------------------------------------------------


class AccountStatementList(APIView):
    required_scopes = (STATEMENTS_READ,)
    pagination_class = Pagination

    @extend_schema(
        operation_id="accounts_statements_list",
        summary="The account's statements, newest first",
        parameters=[
            ACCOUNT_ID,
            OpenApiParameter("status", str, enum=[c for c in Statement.Status.values if c != Statement.Status.DRAFT],
                             description="Only statements in this state."),
            OpenApiParameter("bill_date_from", dt.date, description="Only bills dated on or after this date."),
            OpenApiParameter("bill_date_to", dt.date,
                             description="Only bills dated on or before this date (not before `bill_date_from`)."),
            OpenApiParameter("page", {"type": "integer", "minimum": 1}, description="Page number (from 1)."),
            OpenApiParameter("page_size", {"type": "integer", "minimum": 1, "maximum": Pagination.max_page_size},
                             description="Statements per page (at most 200, default 50)."),
        ],
        responses={200: StatementOutSerializer(many=True), **error_responses(400, 404)},
        tags=["statements"],
    )
    def get(self, request, id: str):
        account = account_by_reference(id)
        filters = StatementFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        statements = (
            Statement.objects.filter(account=account).exclude(status=Statement.Status.DRAFT)
            .select_related("account")
            .prefetch_related(Prefetch("lines", queryset=StatementLine.objects.order_by("position", "on_date", "id")),
                              Prefetch("versions", queryset=StatementVersion.objects.order_by("version")))
            .order_by("-bill_date", "-id")
        )
        if f.get("status"):
            statements = statements.filter(status=f["status"])
        if f.get("bill_date_from"):
            statements = statements.filter(bill_date__gte=f["bill_date_from"])
        if f.get("bill_date_to"):
            statements = statements.filter(bill_date__lte=f["bill_date_to"])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(statements, request, view=self)
        for statement in page:
            statement.id = statement_id(statement)
        return paginator.get_paginated_response(StatementOutSerializer(page, many=True).data)


class StatementInstallCreate(APIView):
    required_scopes = (INSTALLMENTS_WRITE,)

    @extend_schema(
        operation_id="statements_installments_create",
        summary="Convert a statement's unpaid revolving balance into a bill installment",
        description=(
            "Before its due date, the current statement's unpaid revolving balance (or part of it, at least the "
            "product's minimum) becomes a plan whose first installment is due on that statement's due date."
        ),
        parameters=[
            OpenApiParameter("id", str, OpenApiParameter.PATH, description="The statement's id (`<account>-<YYYYMMDD>`)."),
            IDEMPOTENCY_KEY,
        ],
        request=StatementInstallInSerializer,
        responses={201: PlanOutSerializer, **error_responses(404, 409, 422)},
        examples=[OpenApiExample("6 months on all of it", value={"tenor": 6}, request_only=True)],
        tags=["statements"],
    )
    @idempotent
    def post(self, request, id: str):
        data = StatementInstallInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        statement = _statement_by_id(id)
        plan = services.statement_install(
            statement=statement, tenor=data.validated_data["tenor"], amount=data.validated_data.get("amount"),
            actor=actor_for(request), add_ons=("insurance",) if data.validated_data.get("insurance") else (),
        )
        return Response(PlanOutSerializer(_plans().get(pk=plan.pk)).data, status=201)


# --- early settlement -----------------------------------------------------------------------------


def _settlement_out(plan: Plan, parts) -> dict:
    return {
        "plan": plan.reference, "total": parts.total, "remaining_principal": parts.quote.remaining_principal,
        "billed_unpaid": parts.quote.billed_unpaid, "fee": parts.quote.fee,
        "future_fees_waived": parts.future_fees_waived, "billed_fee_waived": parts.billed_fee_waived,
        "same_day": parts.same_day, "policy": parts.policy, "as_of": get_business_date(),
    }


class PlanSettlementQuote(APIView):
    required_scopes = (QUOTES_READ,)

    @extend_schema(
        operation_id="plans_settlement_quote_create",
        summary="What settling a plan early costs today (nothing is stored)",
        description=(
            "Remaining principal + billed unpaid amounts + the product's fee policy: settled on the day the "
            "plan was created, no fee at all; otherwise future fees are waived (default) or the next period's "
            "fee is charged."
        ),
        parameters=[_ref_param("plan")],
        request=None,
        responses={200: SettlementQuoteOutSerializer, **error_responses(404, 422)},
        tags=["plans"],
    )
    def post(self, request, id: str):
        plan = _by_reference(Plan, id, code="plan_not_found", what="plan", queryset=Plan.objects.select_related("account"))
        return Response(SettlementQuoteOutSerializer(_settlement_out(plan, services.plan_settlement_quote(plan=plan))).data)


class PlanSettle(APIView):
    required_scopes = (SETTLEMENTS_WRITE,)

    @extend_schema(
        operation_id="plans_settle_create",
        summary="Settle a plan early",
        description=(
            "The customer pays the settlement quote (recorded as a settlement repayment); every open period is "
            "closed and future fees are waived (or the next period's fee charged, by policy)."
        ),
        parameters=[_ref_param("plan"), IDEMPOTENCY_KEY],
        request=SettleInSerializer,
        responses={201: RepaymentOutSerializer, **error_responses(404, 409, 422)},
        examples=[OpenApiExample("Settle", value={"external_ref": "PAY-20260320-77"}, request_only=True)],
        tags=["plans"],
    )
    @idempotent
    def post(self, request, id: str):
        data = SettleInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        plan = _by_reference(Plan, id, code="plan_not_found", what="plan")
        repayment = services.plan_settle(
            plan=plan, external_ref=data.validated_data["external_ref"], actor=actor_for(request)
        )
        return Response(RepaymentOutSerializer(_repayment_out(repayment)).data, status=201)


# --- repayments -----------------------------------------------------------------------------------


def _repayment_out(repayment: Repayment) -> dict:
    repayment = Repayment.objects.select_related("account", "plan").get(pk=repayment.pk)
    totals = defaultdict(lambda: ZERO)
    for row in Allocation.objects.filter(repayment=repayment).values("kind").annotate(total=Sum("amount")):
        totals[row["kind"]] = row["total"]
    return {
        **{f: getattr(repayment, f) for f in (
            "reference", "account", "amount", "external_ref", "channel", "kind", "status", "received_on", "posted_on",
            "to_credit_balance",
        )},
        "allocated": {kind: totals[kind] for kind in Allocation.Kind.values},
        "plan": repayment.plan.reference if repayment.plan_id else None,
        "available": _available(repayment.account_id),
    }


class RepaymentCreate(APIView):
    required_scopes = (REPAYMENTS_WRITE,)

    @extend_schema(
        operation_id="repayments_create",
        summary="Post a repayment",
        description=(
            "Applied late fees → deferral fees → installment fees → principal, the oldest due first (the "
            "product's strategy); an overpayment becomes a credit balance that pays the next bill. "
            "`external_ref` is unique: posting it again changes nothing and returns the first repayment (200); "
            "the same reference for another account or amount is 409 `external_ref_conflict`."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=RepaymentInSerializer,
        responses={
            201: OpenApiResponse(RepaymentOutSerializer, description="Posted."),
            200: OpenApiResponse(RepaymentOutSerializer, description="This external reference was already posted."),
            **error_responses(404, 409, 422),
        },
        examples=[
            OpenApiExample(
                "Bank transfer",
                value={"account": "8M3K2Q7RTZ1A", "amount": "530.00", "external_ref": "ICBC-20260324-000123",
                       "channel": "bank_transfer"},
                request_only=True,
            ),
        ],
        tags=["repayments"],
    )
    @idempotent
    def post(self, request):
        data = RepaymentInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        account = account_by_reference(v["account"])
        repayment = services.repayment_post(
            account=account, amount=v["amount"], external_ref=v["external_ref"], channel=v["channel"],
            received_on=v.get("received_on"), actor=actor_for(request),
        )
        status = 200 if getattr(repayment, "is_replay", False) else 201
        return Response(RepaymentOutSerializer(_repayment_out(repayment)).data, status=status)
