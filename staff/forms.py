"""Forms of the staff screens."""
from __future__ import annotations

from django import forms
from import_export.forms import SelectableFieldsExportForm
from django.utils.translation import gettext_lazy as _


class CustomerExportForm(SelectableFieldsExportForm):
    """The export form of customers: masked by default; a user who may see personal data can ask for
    it in full, giving a reason (each customer exported in full is written to the access log)."""

    reveal = forms.BooleanField(
        required=False, label=_("Personal data in full"),
        help_text=_("Only with a reason; every customer exported in full is written to the personal-data access log."),
    )
    reason = forms.CharField(required=False, max_length=500, widget=forms.TextInput(attrs={"size": 60}), label=_("Reason"))

    def clean(self):
        data = super().clean()
        if data.get("reveal") and not (data.get("reason") or "").strip():
            self.add_error("reason", "A reason is required to export personal data in full.")
        return data
