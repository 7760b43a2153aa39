"""Helpers of the close-of-business tests: full dumps of the money tables (by primary key, and in a
canonical form that does not depend on the order rows were inserted in)."""
from __future__ import annotations

from collections import Counter
from typing import Any

from django.apps import apps
from django.db import models

#: The apps whose tables hold money or the state close of business writes.
MONEY_APPS = ("accounts", "installments", "ledger")
#: Columns that differ between two runs doing the same work: wall-clock stamps and random references.
VOLATILE_FIELDS = {"reference", "history_id", "history_date", "history_change_reason", "history_user"}


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


def money_models() -> list[type[models.Model]]:
    found = []
    for label in MONEY_APPS:
        try:
            config = apps.get_app_config(label)
        except LookupError:
            continue
        found.extend(m for m in config.get_models() if not m._meta.proxy)
    return sorted(found, key=lambda m: m._meta.label)


def _stable_fields(model: type[models.Model]) -> list[models.Field]:
    return [
        f for f in model._meta.concrete_fields
        if not isinstance(f, models.DateTimeField) and f.name not in VOLATILE_FIELDS
    ]


def dump_by_pk() -> dict[str, list[tuple]]:
    """Every row of the money tables, by primary key (for "this changed no row")."""
    out = {}
    for model in money_models():
        names = [f.attname for f in _stable_fields(model)]
        out[model._meta.label] = list(model._default_manager.order_by("pk").values_list(*names))
    return out


class CanonicalDump:
    """Every row of the money tables with foreign keys replaced by the referenced row's own canonical
    form, as a multiset per table: two runs that did the same work compare equal even when their
    rows were inserted in another order (parallel workers) and got other primary keys."""

    def __init__(self, keep_pks_of: tuple[str, ...] = ()) -> None:
        self.keep_pks_of = set(keep_pks_of)
        self._rows: dict[str, dict[Any, dict]] = {}
        self._canon: dict[tuple[str, Any], Any] = {}

    def _load(self, model: type[models.Model]) -> dict[Any, dict]:
        label = model._meta.label
        if label not in self._rows:
            self._rows[label] = {row["pk"]: row for row in model._default_manager.values(
                "pk", *[f.attname for f in _stable_fields(model)]
            )}
        return self._rows[label]

    def canon(self, model: type[models.Model], pk: Any, _depth: int = 0) -> Any:
        if pk is None:
            return None
        label = model._meta.label
        if label in self.keep_pks_of:
            return (label, pk)
        key = (label, pk)
        if key not in self._canon:
            if _depth > 20:
                raise RecursionError(f"foreign keys too deep at {label}")
            row = self._load(model)[pk]
            parts = []
            for f in _stable_fields(model):
                if f.primary_key:
                    continue
                value = row[f.attname]
                if f.is_relation:
                    value = self.canon(f.related_model, value, _depth + 1)
                parts.append((f.name, _hashable(value)))
            self._canon[key] = tuple(parts)
        return self._canon[key]

    def dump(self) -> dict[str, Counter]:
        out = {}
        for model in money_models():
            out[model._meta.label] = Counter(self.canon(model, pk) for pk in self._load(model))
        return out


def canonical_dump() -> dict[str, Counter]:
    # Accounts, customers and products exist before close of business and keep their keys.
    return CanonicalDump(keep_pks_of=("accounts.CreditAccount", "accounts.Customer", "accounts.CreditProduct")).dump()


#: Framework tables a test client's login or the admin writes to; everything else is compared.
NOT_COMPARED = {"sessions", "admin", "axes"}


def dump_all(*, without: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every row of every table of the project (all columns, time stamps included), by primary key."""
    out = {}
    for model in apps.get_models():
        label = model._meta.app_label
        if label in NOT_COMPARED or label in without or model._meta.proxy or not model._meta.managed:
            continue
        names = [f.attname for f in model._meta.concrete_fields]
        out[model._meta.label] = list(model._default_manager.order_by("pk").values_list(*names))
    return out
