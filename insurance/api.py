"""Insurance API calls (issue 16): read a policy, cancel it. Buying one is an option of the purchase and
bill-installment calls (``insurance: true``); pricing it, an option of the quote call."""
from __future__ import annotations

from django.db.models import Q, Sum
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFoundError
from core.money import ZERO
from installments.models import Charge, Plan
from insurance.models import InsurancePolicy
from insurance.serializers import PolicyCancelInSerializer, PolicyOutSerializer
from insurance.services import policy_cancel
from integrations.api import IDEMPOTENCY_KEY_PARAMETER, actor_for, error_responses
from integrations.idempotency import idempotent
from integrations.scopes import INSURANCE_READ, INSURANCE_WRITE

ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="The policy's public reference.")


def policies_visible_to(request):
    """A token's client reads the policies of the purchases it asked for and of bill installments; a staff
    session reads every policy."""
    actor = actor_for(request)
    policies = InsurancePolicy.objects.select_related("plan", "account", "product")
    if actor.is_system:
        return policies.filter(Q(plan__purchase__requested_via=actor.rule) | Q(plan__kind=Plan.Kind.BILL_INSTALLMENT))
    return policies


def _policy(request, reference: str) -> InsurancePolicy:
    policy = policies_visible_to(request).filter(reference=reference).first()
    if policy is None:
        raise NotFoundError("No insurance policy with this id.", code="policy_not_found", details={"id": reference})
    return policy


def _out(policy: InsurancePolicy) -> dict:
    billed = Charge.objects.filter(plan_id=policy.plan_id, kind=Charge.Kind.PREMIUM).aggregate(s=Sum("amount"))["s"]
    policy.premiums_billed = billed or ZERO
    return PolicyOutSerializer(policy).data


class PolicyDetail(APIView):
    required_scopes = (INSURANCE_READ,)

    @extend_schema(
        operation_id="insurance_policies_retrieve",
        summary="A consumer-credit insurance policy: premium, status, cooling-off period",
        description=(
            "The insurance sold with an installment plan: premium per period (the product's rate on the plan "
            "principal), premiums billed so far, and the last day of the cooling-off period. A client reads the "
            "policies of purchases it made and of bill installments; another's is 404 `policy_not_found`."
        ),
        parameters=[ID],
        responses={200: PolicyOutSerializer, **error_responses(404)},
        tags=["insurance"],
    )
    def get(self, request, id: str):
        return Response(_out(_policy(request, id)))


class PolicyCancel(APIView):
    required_scopes = (INSURANCE_WRITE,)

    @extend_schema(
        operation_id="insurance_policies_cancel",
        summary="Cancel an insurance policy (every premium refunded within the cooling-off period)",
        description=(
            "No premium is billed after the cancellation. Within the cooling-off period (`cooling_off_until`, "
            "default 15 days from the start) every premium is refunded too: billed unpaid premiums are no longer "
            "owed and paid ones go to the account's credit balance. A policy that is not active is 422 "
            "`policy_not_active`."
        ),
        parameters=[ID, IDEMPOTENCY_KEY_PARAMETER],
        request=PolicyCancelInSerializer,
        responses={200: PolicyOutSerializer, **error_responses(404, 409, 422)},
        examples=[OpenApiExample("Changed their mind", value={"reason": "customer changed their mind"}, request_only=True)],
        tags=["insurance"],
    )
    @idempotent
    def post(self, request, id: str):
        data = PolicyCancelInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = policy_cancel(policy=_policy(request, id), actor=actor_for(request),
                               reason=data.validated_data["reason"])
        return Response(_out(InsurancePolicy.objects.select_related("plan", "account", "product").get(pk=policy.pk)))
