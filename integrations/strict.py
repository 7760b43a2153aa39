"""Strict JSON types for every input serializer of the API (issue 13), in one place.

DRF coerces what it is given: ``"12"`` passes as the tenor 12, ``123`` as the text ``"123"``, ``1``
as ``true``. The storefront's contract (the OpenAPI schema) says which JSON type each field is, and a
request that sends another type is a client bug better answered 400 than guessed at. :func:`install`
(from ``IntegrationsConfig.ready()``) makes DRF's scalar fields check the JSON type of the value first
when the data came from a JSON body:

- text fields (``CharField`` and its subclasses: slugs, e-mails…): a string;
- ``IntegerField``: an integer (not a boolean, not a string of digits);
- ``BooleanField``: ``true`` or ``false``;
- ``ChoiceField``: the type of its choices (a tenor is the number 12, a channel the string ``"card"``);
- dates and times: a string.

Query parameters (a ``QueryDict``: every value is text by nature) keep DRF's parsing. Money has its
own strict field (:class:`integrations.fields.AmountField`)."""
from __future__ import annotations

from django.http import QueryDict
from rest_framework import fields
from rest_framework.exceptions import ValidationError

_JSON_NAMES = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "an array",
               dict: "an object", type(None): "null"}


def json_type(value) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def from_json_body(field: fields.Field) -> bool:
    """True when the serializer the field belongs to was given a parsed JSON body (not query params)."""
    root = field.root
    data = getattr(root, "initial_data", None)
    return data is not None and not isinstance(data, QueryDict)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choice_ok(field: fields.ChoiceField, value) -> bool:
    keys = [key for key in field.choices if key != ""]
    if keys and all(_is_int(key) for key in keys):
        return _is_int(value)
    if keys and all(isinstance(key, str) for key in keys):
        return isinstance(value, str)
    return not isinstance(value, bool)


#: field class → (accepts the value?, what it expects)
RULES = {
    fields.CharField: (lambda field, value: isinstance(value, str), "a string"),
    fields.IntegerField: (lambda field, value: _is_int(value), "an integer"),
    fields.BooleanField: (lambda field, value: isinstance(value, bool), "true or false"),
    fields.ChoiceField: (_choice_ok, "one of the listed values, with its JSON type"),
    fields.DateField: (lambda field, value: isinstance(value, str), "a date string (YYYY-MM-DD)"),
    fields.DateTimeField: (lambda field, value: isinstance(value, str), "a date-time string (ISO 8601)"),
}


def _strict(cls, accepts, expected: str):
    original = cls.__dict__["to_internal_value"]

    def to_internal_value(self, data):
        if from_json_body(self) and not accepts(self, data):
            raise ValidationError(f"Expected {expected}, got {json_type(data)}.", code="invalid_type")
        return original(self, data)

    to_internal_value.strict_original = original
    return to_internal_value


def install() -> None:
    """Make DRF's scalar fields strict about JSON types (idempotent)."""
    for cls, (accepts, expected) in RULES.items():
        current = cls.__dict__["to_internal_value"]
        if getattr(current, "strict_original", None) is None:
            cls.to_internal_value = _strict(cls, accepts, expected)
