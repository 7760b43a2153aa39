"""Admin pieces for screens whose writes may wait for a second person (maker-checker)."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from core.errors import ApplicationError


def report_pending(modeladmin, request, approval) -> None:
    """A change above its approval threshold: say that it waits, and where."""
    url = reverse("admin:approvals_approvalrequest_change", args=[approval.pk])
    modeladmin.message_user(request, format_html(
        "{} waits for a second person's approval: <a href=\"{}\">request {}</a>.", approval.summary, url,
        approval.reference), messages.WARNING)


def report_submitted(modeladmin, request, submitted) -> None:
    """For actions: nothing to say when applied (the action reports it), the request when pending."""
    if not submitted.applied:
        report_pending(modeladmin, request, submitted.request)


class SubmitForm(forms.ModelForm):
    """An add form whose ``submit(data, user)`` calls a ``*_submit`` service in ``clean()``, so a
    refusal is shown on the form; the result (applied or waiting) is kept in ``submitted``."""

    def submit(self, data: dict, user):
        raise NotImplementedError

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.submitted = self.submit(data, self._user)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from None
        return data

    def _post_clean(self):  # the service saved (or queued) it; the model form must not validate another
        pass


class SubmittedAddMixin:
    """ModelAdmin mixin for an add screen built on :class:`SubmitForm`: an applied change opens as
    usual; a change that waits redirects to its approval request."""

    add_form: type[SubmitForm]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            form = super().get_form(request, obj, **{**kwargs, "form": self.add_form})
            form._user = request.user
            return form
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return
        submitted = form.submitted
        if not submitted.applied:
            request._approval_pending = submitted.request
            return
        # The screen shows (and logs) what the service saved: every field, not only the key — the
        # unsaved form object has no account, and its ``__str__`` would fail (issue 23: a manager's
        # write-off answered 500 when it applied at once).
        result = submitted.result
        if isinstance(result, self.model):
            for field in self.model._meta.concrete_fields:
                setattr(obj, field.attname, getattr(result, field.attname))
            obj._state.adding, obj._state.db = False, result._state.db
        else:
            obj.pk = result.pk
            if hasattr(result, "reference"):
                obj.reference = result.reference

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def log_addition(self, request, obj, message):
        if getattr(request, "_approval_pending", None) is None:
            return super().log_addition(request, self.model.objects.get(pk=obj.pk), message)
        return None

    def response_add(self, request, obj, post_url_continue=None):
        pending = getattr(request, "_approval_pending", None)
        if pending is None:
            return super().response_add(request, obj, post_url_continue)
        report_pending(self, request, pending)
        return HttpResponseRedirect(reverse("admin:approvals_approvalrequest_change", args=[pending.pk]))
