"""What every API view shares: the caller as an ``Actor``, the error body in the schema, pagination,
and the JSON 404 for unknown paths under ``/api/``."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.exceptions import NotFound

from core.actors import Actor
from integrations.authentication import request_client
from integrations.pagination import Pagination  # noqa: F401  (re-exported)


IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    OpenApiParameter.HEADER, required=True,
    description="A unique value per operation (e.g. a UUID), 1–255 printable ASCII characters without spaces. "
    "The same key with the same body replays the first answer (header `Idempotent-Replayed: true`); with another "
    "body: 422 `idempotency_key_reuse`; while the first request still runs: 409 `idempotency_in_progress`. "
    "Kept at least 24 hours.",
)


def actor_for(request) -> Actor:
    """The actor to pass to services: the system, naming the API client, or the staff user."""
    client = request_client(request)
    if client is not None:
        return Actor.system(f"api:{client.reference}")
    return Actor.staff(request.user)


def _error_code_choices() -> list[str]:
    from core.catalogue import error_codes

    return sorted(error_codes())


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=_error_code_choices(),
        help_text="Machine-readable code, e.g. `insufficient_limit`, `invalid`: one of the codes the apps declare "
                  "(`<app>/codes.py`).",
    )
    message = serializers.CharField(help_text="What went wrong, for a person.")
    details = serializers.DictField(
        help_text="More about it: for `invalid`, field name → list of messages; otherwise free-form."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_DESCRIPTIONS = {
    400: "Invalid input (`invalid`, `malformed_request`, `idempotency_key_required`…).",
    401: "No valid credentials (`not_authenticated`, `authentication_failed`).",
    403: "The client lacks the scope for this call (`permission_denied`), or the money-moving "
    "scope it needs waits for a second person's approval (`scope_awaiting_approval`).",
    404: "Not found (`not_found`).",
    409: "Conflict: a duplicate or a concurrent request (`idempotency_in_progress`…).",
    415: "Only `application/json` bodies are accepted (`unsupported_media_type`).",
    422: "A business rule refused the request (e.g. `insufficient_limit`, `idempotency_key_reuse`).",
    429: "Too many requests for this client (`throttled`); see `Retry-After`.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    return {status: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[status]) for status in statuses}


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def not_found(request, *args, **kwargs):
    """Unknown paths under ``/api/``: the error body, not Django's HTML page."""
    raise NotFound("No API call at this path.")


__all__ = ["IDEMPOTENCY_KEY_PARAMETER", "actor_for", "ErrorSerializer", "error_responses", "Pagination", "not_found", "inline_serializer"]
