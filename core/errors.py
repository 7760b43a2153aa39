"""One error hierarchy. Every error carries a machine-readable ``code``; the API maps the class to
an HTTP status and renders ``{"error": {"code", "message", "details"}}``."""
from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    code = "application_error"
    http_status = 422

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ValidationError(ApplicationError):
    """Bad input (400)."""

    code = "invalid"
    http_status = 400


class BusinessRuleError(ApplicationError):
    """Well-formed input that a business rule refuses (422): insufficient limit, frozen account…"""

    code = "business_rule"
    http_status = 422


class NotFoundError(ApplicationError):
    code = "not_found"
    http_status = 404


class ConflictError(ApplicationError):
    """A concurrent or duplicate request (409)."""

    code = "conflict"
    http_status = 409


class PermissionDeniedError(ApplicationError):
    code = "permission_denied"
    http_status = 403
