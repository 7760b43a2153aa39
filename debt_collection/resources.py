"""Exports of collections with django-import-export: assignments (who held which case when) and
performance per collector and agency. Explicit fields; cells a spreadsheet would run as a formula
are escaped; money stays a number."""
from __future__ import annotations

from django.http import HttpResponse
from import_export import fields, resources
from import_export.formats.base_formats import CSV, XLSX

from core.exports import LabelledModelResource, escape_formula, header_label
from debt_collection.models import CaseAssignment

class SafeExportMixin:
    def export_field(self, field, instance, **kwargs):
        return escape_formula(super().export_field(field, instance, **kwargs))


class CaseAssignmentResource(SafeExportMixin, LabelledModelResource):
    case = fields.Field(attribute="case__reference", column_name="case")
    account = fields.Field(attribute="case__account__reference", column_name="account")
    collector = fields.Field(attribute="collector__user__username", column_name="collector")
    agency = fields.Field(attribute="agency__name", column_name="agency")
    actor = fields.Field(attribute="actor_display", column_name="assigned_by")

    class Meta:
        model = CaseAssignment
        fields = ("case", "account", "bucket", "collector", "agency", "started_on", "ended_on", "end_reason", "actor",
                  "reason")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("case__account", "collector__user", "agency", "actor")


class PerformanceResource(SafeExportMixin, resources.Resource):
    """Rows of :func:`debt_collection.selectors.performance` (plain objects, not a queryset)."""

    kind = fields.Field(attribute="kind", column_name="kind")
    name = fields.Field(attribute="name", column_name="name")
    cases_held = fields.Field(attribute="cases_held", column_name="cases_held")
    cases_assigned = fields.Field(attribute="cases_assigned", column_name="cases_assigned")
    cases_open_now = fields.Field(attribute="cases_open_now", column_name="cases_open_now")
    amount_recovered = fields.Field(attribute="amount_recovered", column_name="amount_recovered")
    contacts = fields.Field(attribute="contacts", column_name="contacts")
    effective_contacts = fields.Field(attribute="effective_contacts", column_name="effective_contacts")
    promises_made = fields.Field(attribute="promises_made", column_name="promises_made")
    promises_due = fields.Field(attribute="promises_due", column_name="promises_due")
    promises_kept = fields.Field(attribute="promises_kept", column_name="promises_kept")
    promises_partly_kept = fields.Field(attribute="promises_partly_kept", column_name="promises_partly_kept")
    promises_broken = fields.Field(attribute="promises_broken", column_name="promises_broken")
    promise_kept_rate = fields.Field(attribute="promise_kept_rate", column_name="promise_kept_rate_pct")

    def get_export_headers(self, selected_fields=None):  # "Cases held", not cases_held
        return [header_label(str(f.column_name)) for f in self.get_export_fields(selected_fields)]

    class Meta:
        export_order = ("kind", "name", "cases_held", "cases_assigned", "cases_open_now", "amount_recovered",
                        "contacts", "effective_contacts", "promises_made", "promises_due", "promises_kept",
                        "promises_partly_kept", "promises_broken", "promise_kept_rate")


FORMATS = {"csv": CSV, "xlsx": XLSX}


def export_response(resource_class, rows, *, fmt: str, filename: str) -> HttpResponse:
    fmt_class = FORMATS[fmt]()
    dataset = resource_class().export(queryset=rows)
    dataset.title = filename[:31]  # the sheet's name (not "Tablib Dataset")
    content = fmt_class.export_data(dataset)
    response = HttpResponse(content, content_type=fmt_class.get_content_type())
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt_class.get_extension()}"'
    return response
