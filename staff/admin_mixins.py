"""Import and export screens on top of django-import-export's admin mixins.

* Imports: the file is checked by a dry run (the real thing, rolled back) and shown back with every
  refused line and its reason; only a clean dry run offers "Confirm import"; the import itself is
  all or nothing. A file above ``STAFF_IMPORT_ASYNC_ROWS`` rows becomes an :class:`ImportJob` that a
  Celery worker runs while the page shows its progress.
* Exports: CSV and XLSX with cells that a spreadsheet would run as a formula escaped (a leading
  apostrophe), numbers kept as numbers.
"""
from __future__ import annotations


from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from import_export.admin import ExportMixin, ImportMixin
from import_export.formats.base_formats import CSV, XLSX

from core.errors import ApplicationError
from core.exports import escape_formula
from staff.imports import report_from_result
from django.utils.translation import gettext_lazy as _

def _escape_dataset(dataset) -> None:
    for index in range(len(dataset)):
        row = dataset[index]
        escaped = tuple(escape_formula(cell) for cell in row)
        if escaped != tuple(row):
            dataset[index] = escaped


class SafeCSV(CSV):
    def export_data(self, dataset, **kwargs):
        _escape_dataset(dataset)
        return dataset.export(self.get_title(), **kwargs)


class SafeXLSX(XLSX):
    def export_data(self, dataset, **kwargs):
        """Written with openpyxl (staff/exports.py): a sheet named after the screen, money as numbers
        with a 0.00 format, dates as dates."""
        _escape_dataset(dataset)
        from openpyxl.utils.exceptions import IllegalCharacterError

        from staff.exports import dataset_xlsx

        try:
            return dataset_xlsx(dataset)
        except IllegalCharacterError:
            raise ValueError("The export holds a character a spreadsheet cannot store.") from None


FORMATS = [SafeCSV, SafeXLSX]


class StaffImportMixin(ImportMixin):
    import_formats = FORMATS
    import_template_name = "admin/staff/import.html"
    skip_admin_log = True  # every row's service writes its own log/audit rows
    import_export_change_list_template = "admin/import_export/change_list_import.html"
    #: The import resources (``ServiceResource`` subclasses); ``resource_classes`` are the exports.
    import_resource_classes: list = []

    def get_import_resource_classes(self, request):
        return self.import_resource_classes or super().get_import_resource_classes(request)

    def get_import_resource_kwargs(self, request, **kwargs):
        return {"user": request.user}

    def get_import_data_kwargs(self, **kwargs):
        kwargs = super().get_import_data_kwargs(**kwargs)
        kwargs.pop("request", None)
        kwargs["rollback_on_validation_errors"] = True
        return kwargs

    def get_import_context_data(self, **kwargs):
        context = super().get_import_context_data(**kwargs)
        context["async_rows"] = settings.STAFF_IMPORT_ASYNC_ROWS
        context["second_person"] = any(c.second_person_confirms for c in self.import_resource_classes)
        return context

    def import_action(self, request, **kwargs):
        if not self.has_import_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            job_response = self._maybe_background(request)
            if job_response is not None:
                return job_response
        response = super().import_action(request, **kwargs)
        if isinstance(response, TemplateResponse):
            context = response.context_data
            result = context.get("result")
            if result is not None and hasattr(result, "resource"):
                context["report"] = report_from_result(result, result.resource)
                upload = request.FILES.get("import_file")
                self._register(request, result.resource, context["report"], getattr(upload, "name", ""), dry_run=True)
            resource_classes = self.get_import_resource_classes(request)
            context["columns"] = resource_classes[0].columns if resource_classes else ()
            context["template_urls"] = self._template_urls(request)
        return response

    def _register(self, request, resource, report, file_name: str, *, dry_run: bool) -> None:
        """The import register keeps every file: dry run refused or passed, import done or failed."""
        from staff.services import import_record_write

        import_record_write(report=report, kind=resource.key, title=resource.get_display_name(), file_name=file_name,
                            file_format="xlsx" if file_name.lower().endswith(".xlsx") else "csv", user=request.user,
                            dry_run=dry_run)

    # --- downloadable templates: the header line and one example line, in CSV and XLSX
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("import-template.<str:fmt>", self.admin_site.admin_view(self.import_template_view),
                 name="%s_%s_import_template" % info),
            *super().get_urls(),
        ]

    def _template_urls(self, request) -> list[tuple[str, str]]:
        info = self.opts.app_label, self.opts.model_name
        return [(label, reverse("admin:%s_%s_import_template" % info, args=[fmt])) for fmt, label in
                (("csv", "CSV"), ("xlsx", "XLSX"))]

    def import_template_view(self, request, fmt: str):
        if not self.has_import_permission(request):
            raise PermissionDenied
        if fmt not in ("csv", "xlsx"):
            raise Http404
        resource_class = self.get_import_resource_classes(request)[0]
        from staff.exports import template_file

        content, content_type = template_file(resource_class, fmt)
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{resource_class.key}-template.{fmt}"'
        return response

    def _maybe_background(self, request):
        """A large file becomes a background job (dry run first, then the import once confirmed)."""
        form = self.create_import_form(request)
        if not form.is_valid():
            return None
        input_format = self.get_import_formats()[int(form.cleaned_data["format"])]()
        upload = form.cleaned_data["import_file"]
        data = b"".join(upload.chunks())
        upload.seek(0)
        try:
            dataset = input_format.create_dataset(data if input_format.is_binary() else data.decode(self.from_encoding))
        except Exception:  # noqa: BLE001 - the normal path shows the library's "could not read" message
            return None
        if len(dataset) <= settings.STAFF_IMPORT_ASYNC_ROWS:
            return None
        from staff.services import import_job_create

        resource_class = self.choose_import_resource_class(form, request)
        try:
            job = import_job_create(
                kind=resource_class.key, file_name=upload.name, file_format="xlsx" if input_format.is_binary() else "csv",
                content=data, total_rows=len(dataset), user=request.user,
            )
        except ApplicationError as exc:
            raise PermissionDenied(exc.message) from exc
        messages.info(
            request, f"{upload.name}: {len(dataset):,} rows — the dry run runs in the background; this page follows it."
        )
        return HttpResponseRedirect(reverse("admin:staff_importjob_change", args=[job.pk]))

    def process_import(self, request, **kwargs):
        """The uploader's "Confirm" after a clean dry run. A file that a second person confirms (a bank
        file, PRODUCT §12) is not imported here: it becomes an import job waiting for someone else to
        confirm its control total against the bank statement."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        confirm_form = self.create_confirm_form(request)
        if not confirm_form.is_valid():
            return super().process_import(request, **kwargs)
        resource_class = self.choose_import_resource_class(confirm_form, request)
        if not resource_class.second_person_confirms:
            return super().process_import(request, **kwargs)
        input_format = self.get_import_formats()[int(confirm_form.cleaned_data["format"])](encoding=self.from_encoding)
        tmp_storage = self.get_tmp_storage_class()(
            name=confirm_form.cleaned_data["import_file_name"],
            encoding=None if input_format.is_binary() else self.from_encoding,
            read_mode=input_format.get_read_mode(), **self.get_tmp_storage_class_kwargs(),
        )
        data = tmp_storage.read()
        dataset = input_format.create_dataset(data)
        content = data if isinstance(data, bytes) else data.encode("utf-8")
        file_name = confirm_form.cleaned_data.get("original_file_name") or "—"
        from staff.services import import_job_create

        try:
            job = import_job_create(
                kind=resource_class.key, file_name=file_name, file_format="xlsx" if input_format.is_binary() else "csv",
                content=content, total_rows=len(dataset), user=request.user,
            )
        except ApplicationError as exc:
            raise PermissionDenied(exc.message) from exc
        tmp_storage.remove()
        messages.info(request, _("%(file)s waits for a second person to confirm its control total against the bank "
                                 "statement; nothing is posted until then.") % {"file": file_name})
        return HttpResponseRedirect(reverse("admin:staff_importjob_change", args=[job.pk]))

    def process_result(self, result, request):
        report = report_from_result(result, result.resource)
        self._register(request, result.resource, report, request.POST.get("original_file_name", ""), dry_run=False)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import failed: nothing was saved") if not report.ok else _("Imported"),
            "opts": self.model._meta,
            "report": report,
            "done": report.ok,
            "changelist_url": reverse(f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_changelist"),
        }
        if report.ok:
            messages.success(
                request,
                f"Import finished: {report.new} new, {report.updated} updated, {report.skipped} skipped "
                f"({report.total_rows} lines).",
            )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/staff/import_done.html", context)


class StaffExportMixin(ExportMixin):
    export_formats = FORMATS
    import_export_change_list_template = "admin/import_export/change_list_export.html"

    def get_export_data(self, file_format, request, queryset, **kwargs):
        """As the library's, but a binary format (XLSX) gets native values — numbers stay numbers —
        for these format classes too (the library only recognises its own)."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        data = self.get_data_for_export(request, queryset, force_native_type=file_format.is_binary(), **kwargs)
        data.title = str(self.model._meta.verbose_name_plural)  # the sheet's name (not "Tablib Dataset")
        export_data = file_format.export_data(data)
        encoding = kwargs.get("encoding")
        if not file_format.is_binary() and encoding:
            export_data = export_data.encode(encoding)
        return export_data


class StaffImportExportMixin(StaffImportMixin, StaffExportMixin):
    import_export_change_list_template = "admin/import_export/change_list_import_export.html"
