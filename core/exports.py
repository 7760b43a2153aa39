"""Exports for people (django-import-export resources): headers are labels ("Account reference",
not ``account_reference``), a choice is its label ("Paid in full", not ``paid``), money is a Decimal
with two places (an unrounded database sum included). Every app's export resource derives from
:class:`LabelledModelResource`; this module imports no app."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.encoding import force_str
from django.utils.text import capfirst
from import_export import resources

from core.money import MONEY_DECIMAL_PLACES, money


#: A cell starting with one of these is a formula to a spreadsheet (CSV injection, OWASP): escaped in every
#: export (:func:`escape_formula`), refused in every import (``staff.imports``).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def escape_formula(value):
    """``=cmd|' /C calc'!A0`` → ``'=cmd|' /C calc'!A0`` (OWASP CSV injection); numbers untouched."""
    if isinstance(value, str) and value[:1] in FORMULA_PREFIXES and not _NUMBER.match(value):
        return "'" + value
    return value


def header_label(name: str) -> str:
    """``account_reference`` → ``Account reference``."""
    return capfirst(name.replace("__", " ").replace("_", " ").strip())


#: Headers people use where a field's verbose name is an abbreviation or a code.
COMMON_LABELS = {
    "dpd": "DPD", "id_number": "ID number", "external_ref": "External reference", "external_id": "External ID",
    "apr_nominal_pct": "APR nominal (%)", "apr_effective_pct": "APR effective (%)",
}


class LabelledModelResource(resources.ModelResource):
    #: Column name → header, where the model's verbose name is not what people call it.
    labels: dict[str, str] = COMMON_LABELS

    def _model_field(self, field) -> models.Field | None:
        """The model field behind an export column (following ``__`` paths), if any; looked up once."""
        cache = self.__dict__.setdefault("_model_fields", {})
        key = field.attribute or self.get_field_name(field)
        if key not in cache:
            cache[key] = self._resolve(key)
        return cache[key]

    def _resolve(self, path: str | None) -> models.Field | None:
        model = self._meta.model
        target = None
        for part in (path or "").split("__"):
            if model is None:
                return None
            try:
                target = model._meta.get_field(part)
            except FieldDoesNotExist:
                return None
            model = target.related_model if target.is_relation else None
        return target

    def get_export_headers(self, selected_fields=None):
        headers = []
        for field in self.get_export_fields(selected_fields):
            name = force_str(field.column_name)
            if name in self.labels:
                headers.append(str(self.labels[name]))
                continue
            model_field = self._model_field(field)
            verbose = getattr(model_field, "verbose_name", None)  # a reverse relation has none
            same = verbose is not None and name in (model_field.name, field.attribute)
            headers.append(capfirst(force_str(verbose)) if same else header_label(name))
        return headers

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        model_field = self._model_field(field)
        if getattr(model_field, "choices", None) and not isinstance(value, (list, tuple)):
            return force_str(dict(model_field.flatchoices).get(value, value)) if value not in (None, "") else value
        is_money = isinstance(model_field, models.DecimalField) and model_field.decimal_places == MONEY_DECIMAL_PLACES
        if is_money or (isinstance(value, Decimal) and value.as_tuple().exponent == -MONEY_DECIMAL_PLACES):
            return as_money(value, native=kwargs.get("force_native_type", False))
        return value


def as_money(value, *, native: bool):
    """A money cell: a Decimal rounded to the cent (XLSX), or its text with two decimals (CSV)."""
    if value is None or value == "":
        return value
    try:
        amount = money(value if isinstance(value, Decimal) else Decimal(str(value).replace(",", "")))
    except (InvalidOperation, TypeError):
        return value
    return amount if native else f"{amount:.2f}"
