"""Applications API (PRODUCT §10): ``POST /api/v1/applications/`` returns the decision, limit, score
and reason codes; ``GET /api/v1/applications/{id}/``; ``POST …/{id}/human-review/`` (PIPL Art. 24)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import CreditProduct
from core.errors import NotFoundError, ValidationError
from integrations.api import IDEMPOTENCY_KEY_PARAMETER, error_responses
from integrations.idempotency import idempotent
from integrations.scopes import APPLICATIONS_WRITE
from risk.models import Application
from risk.serializers import (
    ApplicationInSerializer,
    ApplicationOutSerializer,
    HumanReviewInSerializer,
    HumanReviewOutSerializer,
)
from risk.services import application_request_human_review, application_submit

APPLICATION_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="The application's public reference.")


def application_view_data(application: Application) -> dict:
    decision = application.decisions.order_by("-created_at", "-id").first()
    return {
        "reference": application.reference,
        "status": application.status,
        "decision": decision.outcome,
        "automated": decision.automated,
        "limit": decision.limit,
        "score": decision.score,
        "band": decision.band,
        "reason_codes": decision.reason_codes,
        "decline_reasons": [r["rule"] for r in decision.rules_fired if r.get("outcome") == "decline"]
        if decision.outcome == "decline" else [],
        "model_version": decision.model_label,
        "account": application.account.reference if application.account_id else None,
        "human_review_available": decision.automated,
    }


def _application(reference: str) -> Application:
    application = Application.objects.select_related("account").filter(reference=reference).first()
    if application is None:
        raise NotFoundError("No application with this id.", code="application_not_found", details={"id": reference})
    return application


class ApplicationCreate(APIView):
    required_scopes = (APPLICATIONS_WRITE,)

    @extend_schema(
        operation_id="applications_create",
        summary="Apply for credit: identity, anti-fraud rules, scorecard, score band → decision and limit",
        description=(
            "An approval opens the customer's credit line at once, so the call takes an `Idempotency-Key`: a "
            "retried request replays the first decision instead of applying twice."
        ),
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=ApplicationInSerializer,
        responses={201: ApplicationOutSerializer, **error_responses(400, 401, 403, 409, 422, 429)},
        tags=["applications"],
    )
    @idempotent
    def post(self, request):
        data = ApplicationInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        product = None
        if v.get("product"):
            product = CreditProduct.objects.filter(code=v["product"]).first()
            if product is None:
                raise ValidationError("Unknown product.", code="invalid", details={"product": ["Unknown product."]})
        application = application_submit(
            name=v["name"], id_number=v["id_number"], mobile=v["mobile"], device_id=v["device_id"],
            consents=[dict(c) for c in v["consents"]], features=v["features"], product=product,
            external_id=v["external_id"],
        )
        return Response(ApplicationOutSerializer(application_view_data(application)).data, status=status.HTTP_201_CREATED)


class ApplicationDetail(APIView):
    required_scopes = (APPLICATIONS_WRITE,)

    @extend_schema(
        operation_id="applications_retrieve", summary="An application and its latest decision",
        parameters=[APPLICATION_ID], responses={200: ApplicationOutSerializer, **error_responses(401, 403, 404)},
        tags=["applications"],
    )
    def get(self, request, id: str):
        return Response(ApplicationOutSerializer(application_view_data(_application(id))).data)


class ApplicationHumanReview(APIView):
    required_scopes = (APPLICATIONS_WRITE,)

    @extend_schema(
        operation_id="applications_human_review",
        summary="The customer asks for a human review of an automated decision (PIPL Art. 24)",
        parameters=[APPLICATION_ID], request=HumanReviewInSerializer,
        responses={201: HumanReviewOutSerializer, **error_responses(400, 401, 403, 404, 422)},
        tags=["applications"],
    )
    def post(self, request, id: str):
        data = HumanReviewInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = application_request_human_review(application=_application(id), statement=data.validated_data["statement"])
        return Response(HumanReviewOutSerializer({"case": case.reference, "status": case.status}).data,
                        status=status.HTTP_201_CREATED)
