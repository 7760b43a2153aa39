"""Refusals on admin forms: one mechanism for every ModelAdmin that saves through services.

An admin add/change form is valid as a form, then ``save_model``/``save_related`` call a service
that may refuse (an ``ApplicationError`` — an inactive product, a duplicate blacklist entry, a
request date in the future — or Django's ``ValidationError``). Raised there, Django would answer
500. :class:`RefusalOnFormMixin` catches the refusal outside the view's transaction (so whatever
the service wrote is rolled back) and renders the same form again, bound to the posted data, with
the reason as the form's error: nothing is saved and the user sees why.

A refusal for lack of permission (``PermissionDeniedError``) stays a 403.
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError

from core.errors import ApplicationError, PermissionDeniedError

_REFUSAL = "_service_refusal"


def refusal_messages(exc: Exception) -> list[str]:
    if isinstance(exc, ApplicationError):
        return [f"Refused: {exc.message}"]
    return [f"Refused: {message}" for message in exc.messages]


class RefusalOnFormMixin:
    """Put it before ``admin.ModelAdmin`` (or its subclasses) in the bases."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method != "POST":
            return super().changeform_view(request, object_id, form_url, extra_context)
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from exc
        except (ApplicationError, DjangoValidationError) as exc:
            refusal = refusal_messages(exc)
        # The second pass validates the same data; the form then carries the refusal and is shown again.
        setattr(request, _REFUSAL, refusal)
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        finally:
            delattr(request, _REFUSAL)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, _REFUSAL, None)
        if refusal is None:
            return form

        def clean(self):  # no service call in the second pass: the refusal is the answer
            raise DjangoValidationError(refusal)

        return type(form.__name__, (form,), {"clean": clean, "__module__": form.__module__})
