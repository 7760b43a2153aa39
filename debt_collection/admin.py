"""The collections console.

* **My cases** (``CollectionCase`` changelist): a collector sees only the cases assigned to them,
  highest priority first (bucket, amount overdue, broken promises); a manager sees every queue,
  filters by holder and assigns, transfers, recalls or closes in bulk.
* **Work a case** (the case's page): balance, statements, repayments, promises, reminders and the
  contact history on one page, with forms to log a contact, record a promise or add a third party —
  each a service call that enforces the rules and the object permission.
* **Performance** (``…/collectioncase/performance/``): per collector and agency for a date range,
  exported to CSV/XLSX.

Scoping is server-side: querysets are filtered by who asks and every object view checks
``case_accessible_by``; the services check again before writing. Money is read-only everywhere."""
from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from import_export.admin import ExportMixin

from accounts import selectors as account_selectors
from core.actors import Actor
from core.admin_search import PeopleSearchMixin
from core.admin_history import HistoryAdmin
from core.admin_refusals import RefusalOnFormMixin
from core.admin_utils import ReadOnlyAdmin, ReadOnlyInline, badge, form_action, money_column
from core.business_date import get_business_date
from core.errors import ApplicationError, PermissionDeniedError
from core.money import format_cny
from core.masking import mask_mobile, mask_name
from debt_collection import engine, selectors, services
from debt_collection.desk import call_script, refusal_text
from debt_collection.forms import (
    AgencyEvaluationForm,
    AssignForm,
    CallOutcomeForm,
    CallScriptForm,
    ContactForm,
    DayCollectorForm,
    PerformanceForm,
    PromiseForm,
    ReasonForm,
    ReminderTemplateForm,
    ThirdPartyForm,
)
from debt_collection.models import (
    Agency,
    CallScript,
    CaseAssignment,
    ChannelPreference,
    CollectionCase,
    CollectionPolicy,
    Collector,
    ContactAttempt,
    PromiseToPay,
    Queue,
    Reminder,
    ReminderMessage,
    ReminderTemplate,
    ThirdParty,
)
from debt_collection.resources import CaseAssignmentResource, PerformanceResource, export_response
from debt_collection.services import Author
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy as _, pgettext_lazy


def _is_manager(request) -> bool:
    return selectors.user_is_manager(request.user)


def _works_cases(request) -> bool:
    return _is_manager(request) or request.user.has_perm(selectors.WORK_PERMISSION)


class ConfigAdminMixin(RefusalOnFormMixin):
    """Configuration screens: saves go through ``config_save`` (validated, audited); no deletes."""

    def save_model(self, request, obj, form, change):
        services.config_save(obj=obj, actor=Actor.staff(request.user), changed=list(form.changed_data) or None)

    def has_delete_permission(self, request, obj=None):
        return False


# --- Cases -------------------------------------------------------------------------------------------


class CaseStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (("open", _("Open")), ("closed", _("Closed")), ("all", _("All")))

    def choices(self, changelist):
        value = self.value() or "open"
        for lookup, title in self.lookup_choices:
            yield {"selected": value == lookup, "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                   "display": title}

    def queryset(self, request, queryset):
        value = self.value() or "open"
        return queryset if value == "all" else queryset.filter(status=value)


class HolderFilter(admin.SimpleListFilter):
    """Managers: whose cases (a collector, an agency, unassigned)."""

    title = _("held by")
    parameter_name = "holder"

    def lookups(self, request, model_admin):
        if not _is_manager(request):
            return ()
        options = [("none", _("Unassigned"))]
        options += [(f"c{c.pk}", str(c)) for c in Collector.objects.select_related("user")]
        options += [(f"a{a.pk}", f"{a} (agency)") for a in Agency.objects.all()]
        return options

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == "none":
            return queryset.filter(collector__isnull=True, agency__isnull=True)
        if value[0] == "c" and value[1:].isdigit():
            return queryset.filter(collector_id=int(value[1:]))
        if value[0] == "a" and value[1:].isdigit():
            return queryset.filter(agency_id=int(value[1:]))
        return queryset


@admin.register(CollectionCase)
class CollectionCaseAdmin(PeopleSearchMixin, HistoryAdmin):
    search_customer_prefix = "customer__"
    list_display = (
        "reference", "customer_col", "bucket", "dpd", "overdue_col", "balance_col", "broken_promises", "holder_col",
        "pending_promise_col", "last_contact_at", "status_col",
    )
    list_display_links = ("reference",)
    list_select_related = ("customer", "collector__user", "agency")
    list_filter = (CaseStatusFilter, "bucket", "queue", HolderFilter)
    search_fields = ("=reference", "=account__reference", "=customer__reference", "=customer__mobile")
    search_help_text = _("Case, account or customer reference, mobile (any spacing) or full ID number.")
    ordering = ("-bucket", "-amount_overdue", "-broken_promises", "id")
    actions = ("assign", "recall", "close_settled")
    change_list_template = "collections/case_changelist.html"
    list_per_page = 50
    show_full_result_count = False

    overdue_col = money_column("amount_overdue", _("Overdue"))
    balance_col = money_column("balance", _("Balance"))

    # --- scoping and permissions
    def get_queryset(self, request):
        qs = selectors.cases_visible_to(request.user).select_related("customer", "collector__user", "agency")
        return qs.annotate(
            pending_promise_on=_min_pending_promise(),
        )

    def has_module_permission(self, request):
        return _works_cases(request)

    def has_view_permission(self, request, obj=None):
        if not _works_cases(request):
            return False
        return obj is None or selectors.case_accessible_by(obj, user=request.user)

    def has_change_permission(self, request, obj=None):
        return False  # the case page is the work page; every write is a form posting to a service

    def has_add_permission(self, request):
        return False  # cases open by close of business

    def has_delete_permission(self, request, obj=None):
        return False

    def has_manage_permission(self, request):
        return _is_manager(request)

    def get_actions(self, request):
        actions = super().get_actions(request)
        return actions if _is_manager(request) else {}

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["title"] = _("Collection cases (every queue)") if _is_manager(request) else _("My cases")
        extra_context["today_url"] = reverse("admin:collections_today")
        if request.user.has_perm(selectors.PERFORMANCE_PERMISSION):
            extra_context["performance_url"] = reverse("admin:collections_performance")
        return super().changelist_view(request, extra_context)

    # --- columns
    @admin.display(description=_("Customer"), ordering="customer_id")
    def customer_col(self, obj):
        return obj.customer.masked_name

    @admin.display(description=_("Held by"))
    def holder_col(self, obj):
        return obj.assignee_display

    @admin.display(description=_("Promise due"), ordering="pending_promise_on")
    def pending_promise_col(self, obj):
        return obj.pending_promise_on or "—"

    @admin.display(description=_("Status"), ordering="status")
    def status_col(self, obj):
        if obj.status == CollectionCase.Status.OPEN:
            return badge("overdue", gettext("open"))
        return badge("closed", gettext("closed (%(reason)s)") % {"reason": obj.get_close_reason_display().lower()})

    # --- manager actions (each case through the service, refusals reported)
    @form_action(AssignForm, description=_("Assign / transfer to…"), permissions=["manage"], submit_label=_("Assign"))
    def assign(self, request, obj, data):
        services.case_assign(case=obj, actor=Actor.staff(request.user), collector=data.get("collector"),
                             agency=data.get("agency"), reason=data.get("reason") or "")

    @form_action(ReasonForm, description=_("Recall (back to the queue, held for a manager)"), permissions=["manage"])
    def recall(self, request, obj, data):
        services.case_recall(case=obj, actor=Actor.staff(request.user), reason=data["reason"])

    @form_action(ReasonForm, description=_("Close as settled"), permissions=["manage"])
    def close_settled(self, request, obj, data):
        services.case_close(case=obj, actor=Actor.staff(request.user), reason=data["reason"])

    # --- URLs: the work page replaces the change form; performance
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("performance/", self.admin_site.admin_view(self.performance_view), name="collections_performance"),
            path("today/", self.admin_site.admin_view(self.today_view), name="collections_today"),
            path("<path:object_id>/promise/<int:promise_id>/cancel/",
                 self.admin_site.admin_view(self.cancel_promise_view), name="%s_%s_cancel_promise" % info),
            path("<path:object_id>/call/", self.admin_site.admin_view(self.call_view), name="%s_%s_call" % info),
            path("<path:object_id>/payment-link/", self.admin_site.admin_view(self.payment_link_view),
                 name="%s_%s_payment_link" % info),
        ] + super().get_urls()

    def _case_or_deny(self, request, object_id) -> CollectionCase:
        case = self.get_object(request, object_id)  # scoped queryset: another collector's case is None
        if case is None or not self.has_view_permission(request, case):
            raise PermissionDenied
        return case

    def _forms(self, request, case) -> dict:
        return {
            "call": CallOutcomeForm(request.POST if "_call_outcome" in request.POST else None, prefix="call"),
            "contact": ContactForm(request.POST if "_log_contact" in request.POST else None, case=case,
                                   prefix="contact"),
            "promise": PromiseForm(request.POST if "_record_promise" in request.POST else None, prefix="promise"),
            "third_party": ThirdPartyForm(request.POST if "_add_third_party" in request.POST else None, prefix="tp"),
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        case = self._case_or_deny(request, object_id)
        author = Author.staff(request.user)
        forms = self._forms(request, case)
        if request.method == "POST":
            done = self._handle_post(request, case, author, forms)
            if done:
                return HttpResponseRedirect(request.path)
        return TemplateResponse(request, "collections/case_work.html", self._work_context(request, case, forms))

    def _handle_post(self, request, case, author, forms) -> bool:
        try:
            if "_call_outcome" in request.POST and forms["call"].is_valid():
                contact = services.contact_log(case=case, author=author, **forms["call"].service_kwargs())
                self.message_user(request, _contact_logged_message(contact), messages.SUCCESS)
                return True
            if "_log_contact" in request.POST and forms["contact"].is_valid():
                contact = services.contact_log(case=case, author=author, **forms["contact"].service_kwargs())
                self.message_user(request, _contact_logged_message(contact), messages.SUCCESS)
                return True
            if "_record_promise" in request.POST and forms["promise"].is_valid():
                data = forms["promise"].cleaned_data
                promise = services.promise_record(case=case, author=author, amount=data["amount"],
                                                  promised_on=data["promised_on"])
                self.message_user(request, _promise_recorded_message(promise), messages.SUCCESS)
                return True
            if "_add_third_party" in request.POST and forms["third_party"].is_valid():
                services.third_party_add(case=case, author=author, **forms["third_party"].cleaned_data)
                self.message_user(request, _("Third party added."), messages.SUCCESS)
                return True
        except ApplicationError as exc:
            key = ("call" if "_call_outcome" in request.POST else "contact" if "_log_contact" in request.POST
                   else "promise" if "_record_promise" in request.POST else "third_party")
            rule = exc.details.get("rule") if isinstance(exc.details, dict) else None
            text = refusal_text(exc)
            forms[key].add_error(None, gettext("Refused (%(rule)s): %(reason)s") % {"rule": rule or exc.code,
                                                                                   "reason": text})
            self.message_user(request, gettext("Refused: %(reason)s") % {"reason": text}, messages.ERROR)
        return False

    # --- the collector's desk: click-to-call, the SMS payment link, the day list
    def call_view(self, request, object_id):
        """POST: reveal the number (logged) and start the call; the page shows the ``tel:`` link once."""
        case = self._case_or_deny(request, object_id)
        case_url = reverse("admin:collections_collectioncase_change", args=[case.pk])
        if request.method != "POST":
            return HttpResponseRedirect(case_url)
        try:
            call = services.case_call_start(case=case, user=request.user, ip_address=_client_ip(request))
        except PermissionDeniedError:
            raise PermissionDenied from None
        except ApplicationError as exc:
            self.message_user(request, gettext("Refused: %(reason)s") % {"reason": refusal_text(exc)}, messages.ERROR)
            return HttpResponseRedirect(case_url)
        if call.error:
            self.message_user(request, gettext("The dialler could not start the call (%(error)s): dial the number "
                                               "by hand.") % {"error": call.error}, messages.WARNING)
        context = self._work_context(request, case, self._forms(request, case))
        context["call"] = call
        return TemplateResponse(request, "collections/case_work.html", context)

    def payment_link_view(self, request, object_id):
        case = self._case_or_deny(request, object_id)
        case_url = reverse("admin:collections_collectioncase_change", args=[case.pk])
        if request.method == "POST":
            try:
                services.case_payment_link_send(case=case, author=Author.staff(request.user))
                self.message_user(request, gettext("Payment link sent by SMS (logged in the contact history)."),
                                  messages.SUCCESS)
            except PermissionDeniedError:
                raise PermissionDenied from None
            except ApplicationError as exc:
                self.message_user(request, gettext("Refused: %(reason)s") % {"reason": refusal_text(exc)},
                                  messages.ERROR)
        return HttpResponseRedirect(case_url)

    def today_view(self, request):
        """My day: the collector's own promises due, broken promises, call-backs and never-contacted cases;
        a manager picks the collector."""
        if not _works_cases(request):
            raise PermissionDenied
        is_manager = _is_manager(request)
        collector = selectors.collector_of(request.user)
        form = None
        if is_manager:
            form = DayCollectorForm(request.GET or None, initial={"collector": collector})
            if form.is_valid() and form.cleaned_data.get("collector"):
                collector = form.cleaned_data["collector"]
        on = get_business_date()
        day = selectors.collector_day(collector=collector, on=on) if collector else None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("My day") if collector and collector.user_id == request.user.pk else _("A collector's day"),
            "day": day,
            "collector": collector,
            "form": form,
            "business_date": on,
            "changelist_url": reverse("admin:collections_collectioncase_changelist"),
        }
        return TemplateResponse(request, "collections/today.html", context)

    def cancel_promise_view(self, request, object_id, promise_id):
        case = self._case_or_deny(request, object_id)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:collections_collectioncase_change", args=[case.pk]))
        promise = PromiseToPay.objects.filter(pk=promise_id, case=case).first()
        if promise is None:
            raise PermissionDenied
        try:
            services.promise_cancel(promise=promise, author=Author.staff(request.user),
                                    reason=request.POST.get("reason") or "cancelled on the case page")
            self.message_user(request, _("Promise cancelled."), messages.SUCCESS)
        except ApplicationError as exc:
            self.message_user(request, gettext("Refused: %(reason)s") % {"reason": refusal_text(exc)}, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:collections_collectioncase_change", args=[case.pk]))

    def _work_context(self, request, case, forms) -> dict:
        account = case.account
        amounts = engine.account_amounts([account.pk]).get(account.pk, engine.AccountAmounts())
        try:
            unmask_url = reverse("admin:privacy_unmask", args=[case.customer_id])
        except NoReverseMatch:
            unmask_url = ""
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{gettext('Case')} {case.reference} — {case.customer.masked_name}",
            "case": case,
            "account": account,
            "customer": case.customer,
            "customer_mobile": mask_mobile(case.customer.mobile),
            "unmask_url": unmask_url if request.user.has_perm("accounts.view_full_pii") else "",
            "amounts": amounts,
            "available": account_selectors.account_available(account=account),
            "statements": list(engine.account_statements(account.pk)),
            "repayments": list(engine.account_repayments(account.pk)),
            "promises": list(case.promises.select_related("user", "agency").order_by("-made_on", "-pk")[:20]),
            "contacts": list(
                ContactAttempt.objects.filter(customer_id=case.customer_id).select_related("user", "agency", "third_party")
                .order_by("-occurred_at", "-pk")[:50]
            ),
            "third_parties": list(case.customer.third_parties.all()),
            "reminders": list(Reminder.objects.filter(account=account).order_by("-for_date", "-pk")[:10]),
            "escalations": list(case.escalations.all()),
            "assignments": list(case.assignments.select_related("collector__user", "agency")[:10]),
            "forms": forms,
            "script": call_script(case, collector_name=request.user.get_full_name() or request.user.get_username()),
            "can_call": bool(case.status == CollectionCase.Status.OPEN and case.collector_id
                             and case.collector.user_id == request.user.pk),
            "call_url": reverse("admin:collections_collectioncase_call", args=[case.pk]),
            "payment_link_url": reverse("admin:collections_collectioncase_payment_link", args=[case.pk]),
            "is_manager": _is_manager(request),
            "business_date": get_business_date(),
            "has_view_permission": True,
            "changelist_url": reverse("admin:collections_collectioncase_changelist"),
        }

    # --- performance
    def performance_view(self, request):
        if not request.user.has_perm(selectors.PERFORMANCE_PERMISSION):
            raise PermissionDenied
        today = get_business_date()
        form = PerformanceForm(request.GET or {"start": today.replace(day=1).isoformat(), "end": today.isoformat()})
        rows = []
        if form.is_valid():
            rows = selectors.performance(start=form.cleaned_data["start"], end=form.cleaned_data["end"])
            fmt = request.GET.get("export")
            if fmt in ("csv", "xlsx"):
                return export_response(PerformanceResource, rows, fmt=fmt,
                                       filename=f"collections-performance-{form.cleaned_data['start']}-{form.cleaned_data['end']}")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Collections performance"),
            "form": form,
            "rows": rows,
            "query": request.GET.urlencode(),
        }
        return TemplateResponse(request, "collections/performance.html", context)


def _client_ip(request) -> str | None:
    from privacy.auth import client_ip

    return client_ip(request)


def _contact_logged_message(contact: ContactAttempt) -> str:
    text = gettext("Contact logged: %(channel)s, %(outcome)s.") % {
        "channel": contact.get_channel_display(), "outcome": contact.get_outcome_display()}
    if contact.callback_at:
        text += " " + gettext("Call back at %(when)s.") % {
            "when": timezone.localtime(contact.callback_at).strftime("%Y-%m-%d %H:%M")}
    return text


def _promise_recorded_message(promise: PromiseToPay) -> str:
    return gettext("Promise recorded: %(amount)s by %(date)s.") % {"amount": format_cny(promise.amount),
                                                                  "date": promise.promised_on.isoformat()}


def _min_pending_promise():
    from django.db.models import Min

    return Min("promises__promised_on", filter=Q(promises__status=PromiseToPay.Status.PENDING))


# --- Contacts, promises, third parties (read-only lists, scoped like the cases) -----------------------


class ScopedByCaseMixin:
    case_path = "case"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if _is_manager(request):
            return qs
        if request.user.has_perm(selectors.WORK_PERMISSION):
            return qs.filter(**{f"{self.case_path}__collector__user": request.user})
        return qs.none()

    def has_view_permission(self, request, obj=None):
        if not super().has_view_permission(request, obj):
            return False
        return _works_cases(request)


@admin.register(ContactAttempt)
class ContactAttemptAdmin(ScopedByCaseMixin, ReadOnlyAdmin):
    list_display = ("occurred_at", "case", "channel", "direction", "party", "outcome", "author_col")
    list_select_related = ("case", "user", "agency")
    list_filter = ("channel", "outcome", "party", "direction")
    search_fields = ("=case__reference",)
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    readonly_fields = ("case", "channel", "direction", "party", "third_party", "occurred_at", "outcome", "note",
                       "user", "agency", "reference", "created_at")
    exclude = ("customer",)

    @admin.display(description=pgettext_lazy("author", "By"))
    def author_col(self, obj):
        return obj.author_display


@admin.register(PromiseToPay)
class PromiseToPayAdmin(ScopedByCaseMixin, ReadOnlyAdmin):
    list_display = ("case", "amount_col", "made_on", "promised_on", "status", "paid_col", "evaluated_on")
    list_select_related = ("case",)
    list_filter = ("status",)
    search_fields = ("=case__reference",)
    date_hierarchy = "promised_on"
    show_full_result_count = False
    amount_col = money_column("amount", _("Amount"))
    paid_col = money_column("amount_paid", _("Paid towards it"))
    readonly_fields = ("case", "contact", "amount", "made_on", "promised_on", "status", "amount_paid", "evaluated_on",
                       "user", "agency", "reference", "created_at")


@admin.register(ThirdParty)
class ThirdPartyAdmin(ReadOnlyAdmin):
    list_display = ("reference", "masked_name", "relation", "masked_mobile", "customer", "refused_at")
    list_select_related = ("customer",)
    fields = ("reference", "masked_name", "relation", "masked_mobile", "customer", "refused_at")
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description=_("Name"))
    def masked_name(self, obj):
        return mask_name(obj.name)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if _is_manager(request):
            return qs
        return qs.filter(customer__collection_cases__collector__user=request.user,
                         customer__collection_cases__status=CollectionCase.Status.OPEN).distinct()


# --- Assignments (history + export) ------------------------------------------------------------------


@admin.register(CaseAssignment)
class CaseAssignmentAdmin(ExportMixin, ReadOnlyAdmin):
    resource_classes = [CaseAssignmentResource]
    list_display = ("case", "holder_col", "bucket", "started_on", "ended_on", "end_reason", "actor_display")
    list_select_related = ("case", "collector__user", "agency", "actor")
    list_filter = ("bucket", "end_reason", ("agency", admin.RelatedOnlyFieldListFilter))
    search_fields = ("=case__reference", "collector__user__username", "agency__name")
    date_hierarchy = "started_on"
    show_full_result_count = False

    @admin.display(description=_("Held by"))
    def holder_col(self, obj):
        return obj.assignee_display

    def has_view_permission(self, request, obj=None):
        return _is_manager(request) and super().has_view_permission(request, obj)

    def has_export_permission(self, request):
        return _is_manager(request)

    def get_export_queryset(self, request):
        return super().get_export_queryset(request).select_related("case__account", "collector__user", "agency")


# --- Reminders ----------------------------------------------------------------------------------------


class ReminderMessageInline(ReadOnlyInline):
    model = ReminderMessage
    fields = ("channel", "recipient_col", "status", "status_reason", "scheduled_for", "attempts", "sent_at", "last_error")
    readonly_fields = fields

    @admin.display(description=_("To"))
    def recipient_col(self, obj):
        return obj.masked_recipient


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ("reference", "account", "kind", "for_date", "due_date", "amount_col", "status", "status_reason")
    list_select_related = ("account",)
    list_filter = ("status", "kind", "for_date")
    search_fields = ("=reference", "=account__reference")
    date_hierarchy = "for_date"
    inlines = (ReminderMessageInline,)
    show_full_result_count = False
    amount_col = money_column("amount_due", _("Amount due"))
    fields = ("reference", "account", "statement", "kind", "for_date", "due_date", "amount_due", "minimum_payment",
              "past_due", "status", "status_reason", "created_at")
    readonly_fields = fields


@admin.register(ReminderTemplate)
class ReminderTemplateAdmin(ConfigAdminMixin, admin.ModelAdmin):
    form = ReminderTemplateForm
    list_display = ("kind", "channel", "subject", "is_active", "updated_at")
    list_filter = ("channel", "is_active")
    list_editable = ()
    readonly_fields = ("preview",)
    fields = ("kind", "channel", "subject", "body", "is_active", "preview")

    @admin.display(description=_("Preview (sample amounts)"))
    def preview(self, obj):
        if not obj or not obj.pk:
            return "—"
        from debt_collection.services.reminders import template_render

        sample = {"customer_name": "王*", "account": "SAMPLE123456", "amount_due": "1234.50",
                  "minimum_payment": "123.45", "past_due": "500.00", "due_date": dt.date(2026, 3, 10), "days": 3,
                  "kind": obj.kind}
        try:
            return template_render(obj.body, sample)
        except ApplicationError as exc:
            return exc.message


@admin.register(CallScript)
class CallScriptAdmin(ConfigAdminMixin, admin.ModelAdmin):
    """Call scripts per bucket and language, edited by collections managers (the case page shows the one of
    the case's bucket, filled in)."""

    form = CallScriptForm
    list_display = ("bucket", "language", "title", "is_active", "updated_at")
    list_filter = ("language", "is_active")
    fields = ("bucket", "language", "title", "body", "is_active", "preview")
    readonly_fields = ("preview",)

    @admin.display(description=_("Preview (sample figures)"))
    def preview(self, obj):
        if not obj or not obj.pk:
            return "—"
        from debt_collection.services.reminders import template_render

        sample = {"customer_name": "王*", "amount_overdue": "¥1,234.56", "due_date": "2026-03-10", "dpd": 12,
                  "bucket": obj.get_bucket_display(), "collector_name": "小王"}
        try:
            return template_render(obj.body, sample)
        except ApplicationError as exc:
            return exc.message


@admin.register(ChannelPreference)
class ChannelPreferenceAdmin(RefusalOnFormMixin, admin.ModelAdmin):
    list_display = ("customer", "channel", "opted_out", "source", "changed_at")
    list_select_related = ("customer",)
    list_filter = ("channel", "opted_out")
    search_fields = ("=customer__reference",)
    autocomplete_fields = ("customer",)
    fields = ("customer", "channel", "opted_out", "source")

    def get_readonly_fields(self, request, obj=None):
        return ("customer", "channel") if obj else ()

    def save_model(self, request, obj, form, change):
        saved = services.channel_preference_set(customer=obj.customer, channel=obj.channel, opted_out=obj.opted_out,
                                                source=obj.source or f"admin ({request.user})")
        obj.pk = saved.pk

    def has_delete_permission(self, request, obj=None):
        return False


# --- Queues, collectors, agencies, policy ---------------------------------------------------------------


@admin.register(Queue)
class QueueAdmin(ConfigAdminMixin, admin.ModelAdmin):
    list_display = ("bucket", "name", "use_agencies", "is_active", "open_cases", "unassigned")
    list_editable = ()

    def get_queryset(self, request):
        open_q = Q(cases__status=CollectionCase.Status.OPEN)
        return super().get_queryset(request).annotate(
            n_open=Count("cases", filter=open_q),
            n_unassigned=Count("cases", filter=open_q & Q(cases__collector__isnull=True, cases__agency__isnull=True)),
        )

    @admin.display(description=_("Open cases"), ordering="n_open")
    def open_cases(self, obj):
        return obj.n_open

    @admin.display(description=_("Unassigned"), ordering="n_unassigned")
    def unassigned(self, obj):
        return obj.n_unassigned


@admin.register(Collector)
class CollectorAdmin(ConfigAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "queue_list", "open_cases", "max_open_cases", "is_active")
    list_select_related = ("user",)
    list_filter = ("is_active", "queues")
    search_fields = ("user__username", "user__first_name", "user__last_name")
    autocomplete_fields = ("user",)
    filter_horizontal = ("queues",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            n_open=Count("cases", filter=Q(cases__status=CollectionCase.Status.OPEN))
        ).prefetch_related("queues")

    @admin.display(description=_("Open cases"), ordering="n_open")
    def open_cases(self, obj):
        return obj.n_open

    @admin.display(description=_("Queues"))
    def queue_list(self, obj):
        return ", ".join(q.bucket for q in obj.queues.all()) or "—"


@admin.register(Agency)
class AgencyAdmin(ConfigAdminMixin, admin.ModelAdmin):
    list_display = ("name", "is_whitelisted", "contract_ends_on", "last_evaluated_on", "eligible_col", "open_cases",
                    "max_open_cases", "api_client")
    list_select_related = ("api_client",)
    list_filter = ("is_whitelisted",)
    search_fields = ("name",)
    filter_horizontal = ("queues",)
    readonly_fields = ("reference", "last_evaluated_on", "evaluation_note")
    fields = ("reference", "name", "is_whitelisted", "contract_starts_on", "contract_ends_on", "last_evaluated_on",
              "evaluation_note", "max_open_cases", "queues", "api_client")
    actions = ("record_evaluation",)

    def get_queryset(self, request):
        eligible = selectors.eligible_agencies(on=get_business_date()).filter(pk=OuterRef("pk"))
        return super().get_queryset(request).annotate(
            n_open=Count("cases", filter=Q(cases__status=CollectionCase.Status.OPEN)), eligible=Exists(eligible))

    @admin.display(description=_("Open cases"), ordering="n_open")
    def open_cases(self, obj):
        return obj.n_open

    @admin.display(description=_("New cases today?"), boolean=True, ordering="eligible")
    def eligible_col(self, obj):
        return obj.eligible

    @form_action(AgencyEvaluationForm, description=_("Record an evaluation"), permissions=["change"])
    def record_evaluation(self, request, obj, data):
        services.agency_evaluate(agency=obj, actor=Actor.staff(request.user), evaluated_on=data["evaluated_on"],
                                 note=data["note"])


@admin.register(CollectionPolicy)
class CollectionPolicyAdmin(ConfigAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "quiet_hours_start", "quiet_hours_end", "max_effective_voice_contacts_per_day",
                    "max_unanswered_attempts_per_day", "agency_evaluation_months", "updated_at")

    def has_add_permission(self, request):
        return not CollectionPolicy.objects.exists() and super().has_add_permission(request)

