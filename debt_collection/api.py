"""The agency API (PRODUCT §7, issue 5): a collection agency works the cases assigned to it.

Authentication is the integration API's bearer token of the agency's API client (scope ``agency``;
staff sessions are not accepted). Each agency sees only its own open cases: another agency's case
answers 404, as if it did not exist. Writes (contacts, promises) go through the same services as the
admin, so the contact rules apply to agencies exactly as to in-house collectors; a refusal is a 422
whose code names the rule (``contact_rule_quiet_hours`` …). Writes take an ``Idempotency-Key``: a
retried request replays the first answer instead of logging a contact twice."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFoundError
from core.masking import mask_mobile, mask_name
from debt_collection import engine, selectors, services
from debt_collection.models import Channel, CollectionCase, ContactAttempt
from debt_collection.services import Author
from integrations.api import IDEMPOTENCY_KEY_PARAMETER, error_responses
from integrations.authentication import request_client
from integrations.fields import AmountField, MoneyField
from integrations.idempotency import idempotent
from integrations.pagination import Pagination
from integrations.scopes import AGENCY
from privacy.models import PiiAccessLog
from privacy.services import pii_access_record

CASE_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="The case's public reference.")


# --- Serializers ------------------------------------------------------------------------------------


class AgencyCaseSerializer(serializers.Serializer):
    id = serializers.CharField(source="reference")
    account = serializers.CharField(source="account.reference")
    customer_name = serializers.SerializerMethodField(help_text="Masked.")
    bucket = serializers.CharField()
    dpd = serializers.IntegerField()
    amount_overdue = MoneyField()
    balance = MoneyField()
    opened_on = serializers.DateField()
    assigned_on = serializers.DateField()
    broken_promises = serializers.IntegerField()
    last_contact_at = serializers.DateTimeField(allow_null=True)

    def get_customer_name(self, case) -> str:
        return mask_name(case.customer.name)


class AgencyContactOutSerializer(serializers.Serializer):
    id = serializers.CharField(source="reference")
    occurred_at = serializers.DateTimeField()
    channel = serializers.CharField()
    direction = serializers.CharField()
    party = serializers.CharField()
    outcome = serializers.CharField()
    note = serializers.CharField()
    by_agency = serializers.SerializerMethodField(help_text="Logged by your agency (else by the lender's staff).")

    def get_by_agency(self, contact) -> bool:
        return contact.agency_id is not None and contact.agency_id == self.context.get("agency_id")


class AgencyPromiseOutSerializer(serializers.Serializer):
    id = serializers.CharField(source="reference")
    amount = MoneyField()
    made_on = serializers.DateField()
    promised_on = serializers.DateField()
    status = serializers.CharField()
    amount_paid = MoneyField()
    evaluated_on = serializers.DateField(allow_null=True)


class AgencyStatementSerializer(serializers.Serializer):
    bill_date = serializers.DateField()
    due_date = serializers.DateField()
    status = serializers.CharField()
    closing_balance = MoneyField()
    minimum_payment = MoneyField()


class AgencyRepaymentSerializer(serializers.Serializer):
    received_on = serializers.DateField()
    amount = MoneyField()
    status = serializers.CharField()


class AgencyDebtorSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="In full while the customer consents to sharing with a collection agency "
                                           "(every read is logged); masked once that consent is withdrawn.")
    mobile = serializers.CharField()


class AgencyCaseDetailSerializer(AgencyCaseSerializer):
    debtor = serializers.SerializerMethodField()
    past_due = MoneyField(source="amounts.past_due")
    statements = AgencyStatementSerializer(many=True)
    repayments = AgencyRepaymentSerializer(many=True)
    promises = AgencyPromiseOutSerializer(many=True, source="promise_list")
    contacts = AgencyContactOutSerializer(many=True, source="contact_list")

    def get_debtor(self, case) -> AgencyDebtorSerializer:
        if not case.sharing_consented:  # consent withdrawn (or processing restricted): masked, like the list
            return {"name": mask_name(case.customer.name), "mobile": mask_mobile(case.customer.mobile)}
        return {"name": case.customer.name, "mobile": case.customer.mobile}


class AgencyPromiseInSerializer(serializers.Serializer):
    amount = AmountField()
    promised_on = serializers.DateField()


class AgencyContactInSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    direction = serializers.ChoiceField(choices=ContactAttempt.Direction.choices, default="outbound")
    outcome = serializers.ChoiceField(choices=ContactAttempt.Outcome.choices)
    occurred_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601; without an offset it is Beijing time (Asia/Shanghai); default now.")
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    promise = AgencyPromiseInSerializer(required=False, help_text="Required with the outcome `promise_to_pay`.")


# --- Views ----------------------------------------------------------------------------------------


class AgencyView(APIView):
    """Token only, scope ``agency``, and the client must be an agency's."""

    required_scopes = (AGENCY,)
    staff_session_allowed = False

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        agency = selectors.agency_for_client(request_client(request))
        if agency is None:
            raise PermissionDenied("This API client is not a collection agency's.")
        request.agency = agency

    def get_case(self, request, reference: str) -> CollectionCase:
        case = (
            selectors.agency_cases(request.agency).select_related("account", "customer").filter(reference=reference).first()
        )
        if case is None:
            raise NotFoundError("No case with this id is assigned to your agency.", code="case_not_found",
                                details={"id": reference})
        return case

    def author(self, request) -> Author:
        return Author.for_agency(request.agency, user=request.user)


class CaseList(AgencyView):
    pagination_class = Pagination  # so the schema describes the paginated body the view returns

    @extend_schema(
        operation_id="agency_cases_list",
        summary="The open cases assigned to your agency",
        description="Highest priority first (bucket, amount overdue, broken promises). Personal data is masked "
                    "here; a case's detail shows the debtor's name and number (logged).",
        responses={200: AgencyCaseSerializer(many=True), **error_responses(400, 401, 403)},
        tags=["agency"],
    )
    def get(self, request):
        cases = selectors.agency_cases(request.agency).select_related("account", "customer").order_by(
            "-bucket", "-amount_overdue", "-broken_promises", "pk")
        paginator = Pagination()
        page = paginator.paginate_queryset(cases, request, view=self)
        return paginator.get_paginated_response(AgencyCaseSerializer(page, many=True).data)


class CaseDetail(AgencyView):
    @extend_schema(
        operation_id="agency_cases_retrieve",
        summary="One of your cases: debtor, amounts, statements, repayments, promises and contacts",
        parameters=[CASE_ID],
        responses={200: AgencyCaseDetailSerializer, **error_responses(401, 403, 404)},
        tags=["agency"],
    )
    def get(self, request, id: str):  # noqa: A002 - the path parameter is {id} across the API
        case = self.get_case(request, id)
        case.amounts = engine.account_amounts([case.account_id]).get(case.account_id, engine.AccountAmounts())
        case.statements = list(engine.account_statements(case.account_id))
        case.repayments = list(engine.account_repayments(case.account_id))
        case.promise_list = list(case.promises.order_by("-made_on", "-pk")[:50])
        case.contact_list = list(case.contacts.order_by("-occurred_at", "-pk")[:100])
        # consent is checked where it is used: on every read, not only when the case was assigned
        case.sharing_consented = case.customer_id in selectors.agency_sharing_consents([case.customer_id])
        if case.sharing_consented:
            _log_personal_data_access(request, case)
        return Response(AgencyCaseDetailSerializer(case, context={"agency_id": request.agency.pk}).data)


def _log_personal_data_access(request, case: CollectionCase) -> None:
    """The debtor's name and number were shown in full: one row in the privacy app's access log."""
    pii_access_record(user=request.user, customer_id=case.customer_id, channel=PiiAccessLog.Channel.API,
                      fields=("name", "mobile"), reason=f"collection agency {request.agency.name}: case {case.reference}",
                      ip_address=request.META.get("REMOTE_ADDR"))


class ContactCreate(AgencyView):
    @extend_schema(
        operation_id="agency_contacts_create",
        summary="Log a contact with the debtor on one of your cases",
        description=(
            "The rules of GB/T 45251-2025 apply: no contact 22:00–08:00 (Asia/Shanghai), at most 3 effective "
            "voice contacts with a debtor a day (by anyone: the lender and every agency), at most 6 unanswered "
            "attempts per channel a day. A contact that breaks one is refused with 422 and the rule as the code "
            "(`contact_rule_quiet_hours`, `contact_rule_voice_daily_limit`, `contact_rule_unanswered_daily_limit`) "
            "and `details.rule`; nothing is logged. Inbound contacts (the debtor called) are not limited. With the "
            "outcome `promise_to_pay`, `promise` records the promise in the same request."
        ),
        parameters=[CASE_ID, IDEMPOTENCY_KEY_PARAMETER],
        request=AgencyContactInSerializer,
        responses={201: AgencyContactOutSerializer, **error_responses(400, 401, 403, 404, 409, 422)},
        examples=[OpenApiExample("A call that reached the debtor", request_only=True, value={
            "channel": "voice", "outcome": "promise_to_pay", "occurred_at": "2026-03-02T10:15:00+08:00",
            "note": "will pay on Friday", "promise": {"amount": "500.00", "promised_on": "2026-03-06"}})],
        tags=["agency"],
    )
    @idempotent
    def post(self, request, id: str):  # noqa: A002
        data = AgencyContactInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = self.get_case(request, id)
        values = data.validated_data
        promise = values.get("promise") or {}
        contact = services.contact_log(
            case=case, author=self.author(request), channel=values["channel"], direction=values["direction"],
            outcome=values["outcome"], occurred_at=values.get("occurred_at"), note=values.get("note", ""),
            promise_amount=promise.get("amount"), promise_date=promise.get("promised_on"),
        )
        return Response(AgencyContactOutSerializer(contact, context={"agency_id": request.agency.pk}).data, status=201)


class PromiseCreate(AgencyView):
    @extend_schema(
        operation_id="agency_promises_create",
        summary="Record a promise to pay on one of your cases",
        description="One pending promise per case (409 `promise_pending`); the date is today or later, at most "
                    "the policy's days ahead (422/400). Close of business marks it kept, partly kept or broken "
                    "against the repayments received.",
        parameters=[CASE_ID, IDEMPOTENCY_KEY_PARAMETER],
        request=AgencyPromiseInSerializer,
        responses={201: AgencyPromiseOutSerializer, **error_responses(400, 401, 403, 404, 409, 422)},
        tags=["agency"],
    )
    @idempotent
    def post(self, request, id: str):  # noqa: A002
        data = AgencyPromiseInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = self.get_case(request, id)
        promise = services.promise_record(case=case, author=self.author(request), amount=data.validated_data["amount"],
                                          promised_on=data.validated_data["promised_on"])
        return Response(AgencyPromiseOutSerializer(promise).data, status=201)

