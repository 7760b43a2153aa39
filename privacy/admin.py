"""Operator console for privacy: the unmask flow, customer-rights requests (with the export
download, correction, deletion and rejection) and the strictly read-only access log."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.models import Customer
from core.actors import Actor
from core.admin_refusals import RefusalOnFormMixin
from core.admin_utils import ReadOnlyAdmin
from core.business_date import get_business_date
from core.errors import ApplicationError, PermissionDeniedError
from privacy import services
from privacy.masking import PII_FIELDS, can_view_full_pii, masked_pii
from privacy.models import DataSubjectRequest, PiiAccessLog, PrivacyPolicy, ProcessingRestriction
from django.utils.translation import gettext_lazy as _

FIELD_LABELS = {"name": "Name", "id_number": "ID number", "mobile": "Mobile", "address": "Address", "email": "E-mail"}


def client_ip(request) -> str | None:
    """The address axes resolved for this request (proxy-aware), else the socket's."""
    return getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR") or None


def unmask_url(customer) -> str:
    """The unmask page of ``customer`` (for a button on the customer change page)."""
    return reverse("admin:privacy_unmask", args=[customer.pk])


def unmask_link(customer) -> str:
    return format_html('<a class="button" href="{}">Show in full (logged)…</a>', unmask_url(customer))


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store, private"
    response["Pragma"] = "no-cache"
    return response


class UnmaskForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=_("Why you need to see this customer's personal data in full. It is logged with your name."), label=_("Reason"),
    )
    fields = forms.MultipleChoiceField(
        choices=[(f, FIELD_LABELS[f]) for f in PII_FIELDS], initial=list(PII_FIELDS),
        widget=forms.CheckboxSelectMultiple, label=_("Fields"),
    )


@admin.register(PiiAccessLog)
class PiiAccessLogAdmin(ReadOnlyAdmin):
    list_display = ("accessed_at", "user", "customer_display", "channel", "fields", "reason", "ip_address")
    list_select_related = ("user", "customer")
    list_filter = ("channel",)
    search_fields = ("=customer__reference", "=user__username", "reason")
    date_hierarchy = "accessed_at"
    show_full_result_count = False

    @admin.display(description=_("Customer"), ordering="customer_id")
    def customer_display(self, obj):
        return str(obj.customer)

    def get_urls(self):
        urls = [
            path("unmask/<int:customer_id>/", self.admin_site.admin_view(self.unmask_view), name="privacy_unmask"),
        ]
        return urls + super().get_urls()

    def unmask_view(self, request, customer_id: int):
        if not can_view_full_pii(request.user):
            raise PermissionDenied  # 403 before anything about the customer is read
        customer = get_object_or_404(Customer, pk=customer_id)
        form = UnmaskForm(request.POST or None)
        values = None
        if request.method == "POST" and form.is_valid():
            try:
                full = services.pii_unmask(
                    user=request.user, customer=customer, reason=form.cleaned_data["reason"],
                    fields=tuple(form.cleaned_data["fields"]), channel=PiiAccessLog.Channel.ADMIN_UNMASK,
                    ip_address=client_ip(request),
                )
            except PermissionDeniedError:
                raise PermissionDenied from None
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                values = [(FIELD_LABELS[f], v) for f, v in full.items()]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Personal data of {customer}",
            "opts": Customer._meta,
            "customer": customer,
            "masked": [(FIELD_LABELS[f], v) for f, v in masked_pii(customer).items()],
            "form": form,
            "values": values,
            "customer_url": reverse("admin:accounts_customer_change", args=[customer.pk]),
        }
        return _no_store(TemplateResponse(request, "privacy/unmask.html", context))


# --- Customer-rights requests ------------------------------------------------------------------


class DataRequestCreateForm(forms.ModelForm):
    class Meta:
        model = DataSubjectRequest
        fields = ("customer", "kind", "received_on", "channel", "details")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["received_on"].initial = get_business_date
        self.fields["received_on"].help_text = "The deadline is counted from this day (policy: days to answer)."


class NotesForm(forms.Form):
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
                            help_text=_("What the customer is told."), label=_("Notes"))


class CorrectionForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, label=_("Name"))
    id_number = forms.CharField(max_length=18, required=False, label=_("ID number"))
    mobile = forms.CharField(max_length=11, required=False, label=_("Mobile"))
    address = forms.CharField(max_length=300, required=False, label=_("Address"))
    email = forms.EmailField(required=False, label=_("E-mail"))
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), label=_("Reason"))

    def changes(self) -> dict[str, str]:
        return {f: v for f, v in self.cleaned_data.items() if f != "reason" and v}


class ConfirmForm(forms.Form):
    confirm = forms.BooleanField(label=_("I have checked the request and want to carry it out"))


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(RefusalOnFormMixin, admin.ModelAdmin):
    list_display = ("reference", "customer_display", "kind", "received_on", "deadline_display", "status", "outcome",
                    "handled_by")
    list_select_related = ("customer", "handled_by")
    list_filter = ("status", "kind", "outcome")
    search_fields = ("=reference", "=customer__reference")
    date_hierarchy = "received_on"
    autocomplete_fields = ("customer",)
    readonly_fields = ("reference", "customer_display", "kind", "received_on", "deadline", "status", "outcome",
                       "channel", "details", "handled_by", "completed_at", "outcome_notes", "result",
                       "created_at", "updated_at", "request_actions")
    fields = readonly_fields

    @admin.display(description=_("Customer"), ordering="customer_id")
    def customer_display(self, obj):
        return str(obj.customer)

    def get_queryset(self, request):
        from django.db.models import BooleanField, ExpressionWrapper, Q

        overdue = Q(status__in=DataSubjectRequest.OPEN_STATUSES, deadline__lt=get_business_date())
        return super().get_queryset(request).annotate(
            overdue=ExpressionWrapper(overdue, output_field=BooleanField())
        )

    @admin.display(description=_("Deadline"), ordering="deadline")
    def deadline_display(self, obj):
        if getattr(obj, "overdue", False):
            return format_html('<strong style="color:#c62828">{} (overdue)</strong>', obj.deadline)
        return obj.deadline

    @admin.display(description=_("Actions"))
    def request_actions(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        links = []
        name = lambda action: reverse(f"admin:privacy_datasubjectrequest_{action}", args=[obj.pk])  # noqa: E731
        if obj.status == DataSubjectRequest.Status.RECEIVED:
            links.append(("start", "Start handling"))
        if obj.kind == DataSubjectRequest.Kind.ACCESS and obj.status != DataSubjectRequest.Status.REJECTED:
            links.append(("export", "Download the export (JSON, logged)"))
        if obj.is_open and obj.kind == DataSubjectRequest.Kind.CORRECTION:
            links.append(("correct", "Correct the data…"))
        if obj.is_open and obj.kind == DataSubjectRequest.Kind.DELETION:
            links.append(("erase", "Carry out the deletion…"))
        if obj.is_open:
            links.append(("reject", "Reject…"))
        if not links:
            return "—"
        return format_html(" ".join('<a class="button" href="{}">{}</a>' for _ in links),
                           *[x for action, label in links for x in (name(action), label)])

    def get_fields(self, request, obj=None):
        return DataRequestCreateForm.Meta.fields if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = DataRequestCreateForm
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        created = services.data_request_create(
            customer=data["customer"], kind=data["kind"], received_on=data["received_on"],
            channel=data.get("channel", ""), details=data.get("details", ""), actor=Actor.staff(request.user),
        )
        obj.pk, obj.reference = created.pk, created.reference

    def has_delete_permission(self, request, obj=None):
        return False

    # --- the request's actions -----------------------------------------------------------------

    def get_urls(self):
        view = lambda fn: self.admin_site.admin_view(fn)  # noqa: E731
        return [
            path("<int:pk>/start/", view(self.start_view), name="privacy_datasubjectrequest_start"),
            path("<int:pk>/export/", view(self.export_view), name="privacy_datasubjectrequest_export"),
            path("<int:pk>/correct/", view(self.correct_view), name="privacy_datasubjectrequest_correct"),
            path("<int:pk>/erase/", view(self.erase_view), name="privacy_datasubjectrequest_erase"),
            path("<int:pk>/reject/", view(self.reject_view), name="privacy_datasubjectrequest_reject"),
        ] + super().get_urls()

    def _get(self, request, pk: int) -> DataSubjectRequest:
        if not self.has_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(self.get_queryset(request).select_related("customer"), pk=pk)

    def _back(self, obj) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:privacy_datasubjectrequest_change", args=[obj.pk]))

    def _form_page(self, request, obj, form, title: str, submit: str, intro: str = ""):
        context = {
            **self.admin_site.each_context(request),
            "title": title, "opts": self.model._meta, "original": obj, "form": form, "submit_label": submit,
            "intro": intro, "back_url": reverse("admin:privacy_datasubjectrequest_change", args=[obj.pk]),
        }
        return TemplateResponse(request, "privacy/request_form.html", context)

    def _run(self, request, obj, fn, success: str):
        try:
            fn()
        except PermissionDeniedError:
            raise PermissionDenied from None
        except ApplicationError as exc:
            self.message_user(request, f"Refused — {exc.message}", messages.ERROR)
            return False
        self.message_user(request, success, messages.SUCCESS)
        return True

    def start_view(self, request, pk: int):
        obj = self._get(request, pk)
        if request.method != "POST":
            return self._form_page(request, obj, forms.Form(), "Start handling the request", "Start")
        self._run(request, obj, lambda: services.data_request_start(data_request=obj, actor=Actor.staff(request.user)),
                  "The request is in progress.")
        return self._back(obj)

    def export_view(self, request, pk: int):
        obj = self._get(request, pk)
        if request.method != "POST":
            return self._form_page(
                request, obj, forms.Form(), "Download the personal-data export", "Download",
                intro="The file holds the customer's personal data in full. The download is logged with your name.",
            )
        try:
            obj, payload = services.data_request_fulfil_access(data_request=obj, user=request.user,
                                                               ip_address=client_ip(request))
        except PermissionDeniedError:
            raise PermissionDenied from None
        except ApplicationError as exc:
            self.message_user(request, f"Refused — {exc.message}", messages.ERROR)
            return self._back(obj)
        response = HttpResponse(payload, content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="personal-data-{obj.customer.reference}-{obj.reference}.json"'
        )
        return _no_store(response)

    def correct_view(self, request, pk: int):
        obj = self._get(request, pk)
        form = CorrectionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            done = self._run(
                request, obj,
                lambda: services.customer_correct(customer=obj.customer, changes=form.changes(),
                                                  actor=Actor.staff(request.user), reason=form.cleaned_data["reason"],
                                                  data_request=obj),
                "The customer's data was corrected and the request answered.",
            )
            if done:
                return self._back(obj)
        current = masked_pii(obj.customer)
        return self._form_page(
            request, obj, form, "Correct the customer's data", "Correct",
            intro="Fill in only the fields to correct. Now (masked): "
            + ", ".join(f"{FIELD_LABELS[f]} {v or '—'}" for f, v in current.items()),
        )

    def erase_view(self, request, pk: int):
        obj = self._get(request, pk)
        form = ConfirmForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            self._run(request, obj,
                      lambda: services.data_request_fulfil_deletion(data_request=obj, actor=Actor.staff(request.user)),
                      "The deletion request was carried out (see the outcome notes).")
            return self._back(obj)
        return self._form_page(
            request, obj, form, "Carry out the deletion", "Delete",
            intro="Personal data is anonymised unless a law requires keeping it; then processing is restricted "
            "and the outcome notes tell the customer why and until when. This cannot be undone.",
        )

    def reject_view(self, request, pk: int):
        obj = self._get(request, pk)
        form = NotesForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            done = self._run(request, obj,
                             lambda: services.data_request_reject(data_request=obj, actor=Actor.staff(request.user),
                                                                  notes=form.cleaned_data["notes"]),
                             "The request was rejected.")
            if done:
                return self._back(obj)
        return self._form_page(request, obj, form, "Reject the request", "Reject")


@admin.register(ProcessingRestriction)
class ProcessingRestrictionAdmin(ReadOnlyAdmin):
    list_display = ("customer_display", "retained_until", "created_at", "released_at")
    list_select_related = ("customer",)
    list_filter = ("released_at",)
    search_fields = ("=customer__reference",)

    @admin.display(description=_("Customer"), ordering="customer_id")
    def customer_display(self, obj):
        return str(obj.customer)


class PrivacyPolicyForm(forms.ModelForm):
    reason = forms.CharField(max_length=500, label=_("Reason"))

    class Meta:
        model = PrivacyPolicy
        fields = ("request_response_days", "aml_retention_years")


@admin.register(PrivacyPolicy)
class PrivacyPolicyAdmin(RefusalOnFormMixin, admin.ModelAdmin):
    form = PrivacyPolicyForm
    list_display = ("__str__", "request_response_days", "aml_retention_years", "updated_at")

    def has_add_permission(self, request):
        return False  # the one record is created on first use

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        from privacy.selectors import privacy_policy

        privacy_policy()
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        services.privacy_policy_update(
            actor=Actor.staff(request.user), reason=data["reason"],
            request_response_days=data["request_response_days"], aml_retention_years=data["aml_retention_years"],
        )

    def save_related(self, request, form, formsets, change):
        pass



from privacy import admin_lockout  # noqa: E402,F401  (registers the "Login lock-outs" screen)
