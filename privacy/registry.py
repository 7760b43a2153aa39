"""The customer-rights registry: every app declares what it holds about a customer.

Each app contributes one :class:`Provider`:

* ``records`` — the record sets that go into an access/copy export (PIPL Art. 45), each a model
  plus the ORM path from that model to the customer (or a custom query);
* ``not_personal`` — models reachable from a customer that hold nothing about the person, each with
  the reason (so a reviewer can check the claim);
* ``retention`` — the legal duties that oblige the company to keep records (e.g. the anti-money-
  laundering law's 10 years for identity and transaction records), which turn a deletion into a
  restriction of processing (PIPL Art. 47 para. 2);
* ``anonymise`` — erases the app's personal data of a customer; called with ``retained=True`` when a
  duty keeps the identity and transaction records (erase only what no law requires), and with
  ``retained=False`` for a full anonymisation.

Apps register in their ``AppConfig.ready()``::

    from privacy.registry import Provider, RecordSet, register
    register(Provider(key="collections", label="Collections", records=(
        RecordSet("collection_contacts", "collections.ContactAttempt", customer_path="case__account__customer"),
    )))

This module imports no project app, so any app may import it without a cycle. The contributions
for the apps that existed when the privacy app was written live in ``privacy/providers.py``.
:func:`uncovered_models` lists every model that can reach a customer through foreign keys and
that no provider has declared: the test suite asserts it is empty, so a new model holding
customer data cannot slip out of the export and the erasure.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

from django.apps import apps
from django.conf import settings
from django.db import models

if TYPE_CHECKING:  # pragma: no cover
    from django.db.models import QuerySet

CUSTOMER_MODEL = "accounts.Customer"


@dataclass(frozen=True)
class RecordSet:
    """One kind of record in the export.

    ``customer_path``: ORM path from ``model`` to the customer — ``"customer"``,
    ``"account__customer"``; ``"pk"`` for the customer model itself; or a tuple of paths, any of
    which may lead to the customer (OR-ed). ``queryset``, when given,
    replaces the path (for models that reach the customer some other way, such as history rows).
    ``fields`` limits the exported fields (default: every concrete field but ``exclude`` and keyed
    hashes)."""

    name: str
    model: str
    customer_path: str | tuple[str, ...] = "customer"
    fields: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    description: str = ""
    queryset: Callable[[Any], QuerySet] | None = None

    def get_model(self) -> type[models.Model]:
        return apps.get_model(self.model)

    def rows(self, customer) -> QuerySet:
        if self.queryset is not None:
            return self.queryset(customer)
        model = self.get_model()
        paths = (self.customer_path,) if isinstance(self.customer_path, str) else self.customer_path
        if len(paths) == 1:
            return model._default_manager.filter(**{paths[0]: customer.pk}).order_by("pk")
        condition = models.Q()
        for path in paths:
            condition |= models.Q(**{path: customer.pk})
        return model._default_manager.filter(condition).distinct().order_by("pk")


@dataclass(frozen=True)
class RetentionDuty:
    """A legal duty to keep some of a customer's records. ``until`` is the last day of the duty;
    ``None`` while the duty has not started counting (e.g. the account is still open)."""

    basis: str
    records: str
    until: dt.date | None
    source: str = ""

    def active_on(self, day: dt.date) -> bool:
        return self.until is None or self.until >= day

    def as_dict(self) -> dict[str, Any]:
        return {
            "basis": self.basis,
            "records": self.records,
            "until": self.until.isoformat() if self.until else None,
            "source": self.source,
        }


@dataclass(frozen=True)
class Provider:
    """``erases``: the personal-data fields (``"app.Model.field"``) that ``anonymise`` erases;
    ``keeps``: personal-looking fields deliberately kept, each with the reason."""

    key: str
    label: str
    records: tuple[RecordSet, ...] = ()
    not_personal: tuple[tuple[str, str], ...] = ()
    erases: tuple[str, ...] = ()
    keeps: tuple[tuple[str, str], ...] = ()
    retention: Callable[..., list[RetentionDuty]] | None = None
    anonymise: Callable[..., int] | None = None
    #: Anonymise after the other providers (the customer's own row: others may still need it).
    anonymise_last: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def covered_models(self) -> set[str]:
        labels = {apps.get_model(r.model)._meta.label_lower for r in self.records}
        labels |= {apps.get_model(m)._meta.label_lower for m, _ in self.not_personal}
        return labels


_providers: dict[str, Provider] = {}


class RegistryError(Exception):
    pass


def register(provider: Provider) -> Provider:
    """Add (or replace, by ``key``) a provider. Record-set names must be unique across providers."""
    taken = {r.name: p.key for p in _providers.values() if p.key != provider.key for r in p.records}
    for record in provider.records:
        if record.name in taken:
            raise RegistryError(f"record set {record.name!r} is already exported by {taken[record.name]!r}")
    names = [r.name for r in provider.records]
    if len(names) != len(set(names)):
        raise RegistryError(f"provider {provider.key!r} declares a record set twice")
    _providers[provider.key] = provider
    return provider


def unregister(key: str) -> None:
    _providers.pop(key, None)


def get_providers() -> list[Provider]:
    return list(_providers.values())


def get_provider(key: str) -> Provider:
    return _providers[key]


def _history_model(model: type[models.Model]) -> type[models.Model] | None:
    from simple_history.exceptions import NotHistoricalModelError
    from simple_history.utils import get_history_model_for_model

    try:
        return get_history_model_for_model(model)
    except NotHistoricalModelError:  # most models keep no history
        return None


def reachable_models() -> set[str]:
    """Every installed model that can reach a customer by following foreign keys (plus the
    history tables of those models): the records a customer's data may live in."""
    customer = apps.get_model(CUSTOMER_MODEL)
    reached: set[type[models.Model]] = {customer}
    changed = True
    all_models = [m for m in apps.get_models() if not m._meta.proxy]
    while changed:
        changed = False
        for model in all_models:
            if model in reached:
                continue
            for f in model._meta.concrete_fields:
                if f.is_relation and f.related_model in reached:
                    reached.add(model)
                    changed = True
                    break
    for model in list(reached):
        history = _history_model(model)
        if history is not None:
            reached.add(history)
    return {m._meta.label_lower for m in reached}


#: Field names that hold personal data (whole-word match within a field name).
PERSONAL_FIELD_RE = re.compile(
    r"(^|_)(name|mobile|phone|email|address|id_number|recipient|device_id|ip_address|birth_date)($|_)"
)


def _field_label(model: type[models.Model], field_name: str) -> str:
    return f"{model._meta.label_lower}.{field_name}"


def unerased_personal_fields() -> list[str]:
    """Personal-looking text fields (by name) of the models reaching a customer that no provider
    erases nor declares kept with a reason. The test suite asserts none."""
    declared: set[str] = set()
    for provider in _providers.values():
        declared |= {label.lower() for label in provider.erases}
        declared |= {label.lower() for label, _ in provider.keeps}
    found = []
    for label in reachable_models():
        model = apps.get_model(label)
        for f in model._meta.concrete_fields:
            if f.is_relation or not isinstance(f, (models.CharField, models.TextField, models.GenericIPAddressField)):
                continue
            if PERSONAL_FIELD_RE.search(f.name) and _field_label(model, f.name) not in declared:
                found.append(_field_label(model, f.name))
    return sorted(found)


def _shortest_path(start: type[models.Model], customer, user_model, *, total_only: bool) -> str | None:
    frontier: list[tuple[type[models.Model], str]] = [(start, "")]
    seen = {start}
    while frontier:
        next_frontier = []
        for current, path in frontier:
            for f in current._meta.concrete_fields:
                if not f.is_relation or f.related_model in (None, user_model) or (total_only and f.null):
                    continue
                step = f"{path}__{f.name}" if path else f.name
                if f.related_model is customer:
                    return step
                if f.related_model not in seen:
                    seen.add(f.related_model)
                    next_frontier.append((f.related_model, step))
        frontier = next_frontier
    return None


def customer_paths(model: type[models.Model]) -> tuple[str, ...]:
    """ORM paths from ``model`` to the customer through foreign keys (never through a user).

    When a path of non-null keys exists, its shortest is enough (every row has it). Otherwise a
    row may reach the customer through any of several nullable keys (a risk event hangs off an
    application *or* an account), so the shortest path behind each first key is returned, to be
    OR-ed together. Empty when the model does not reach a customer."""
    customer = apps.get_model(CUSTOMER_MODEL)
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    if model is customer:
        return ("pk",)
    total = _shortest_path(model, customer, user_model, total_only=True)
    if total:
        return (total,)
    paths = []
    for f in model._meta.concrete_fields:
        if not f.is_relation or f.related_model in (None, user_model):
            continue
        if f.related_model is customer:
            paths.append(f.name)
            continue
        rest = _shortest_path(f.related_model, customer, user_model, total_only=False)
        if rest:
            paths.append(f"{f.name}__{rest}")
    return tuple(sorted(set(paths), key=lambda p: (p.count("__"), p)))


def records_for_app(app_label: str, *, names: dict[str, str] | None = None, skip: tuple[str, ...] = (),
                    **options: Any) -> tuple[RecordSet, ...]:
    """A record set for every model of ``app_label`` (history tables included) that reaches a
    customer, by its shortest path. ``names`` maps model names (lower case) to record-set names
    (default ``"<app>.<model>"``); ``skip`` leaves models out (declare them elsewhere)."""
    names = names or {}
    found = []
    for model in apps.get_app_config(app_label).get_models():
        key = model._meta.model_name
        if model._meta.proxy or key in skip:
            continue
        paths = customer_paths(model)
        if not paths:
            continue
        found.append(RecordSet(names.get(key, f"{app_label}.{key}"), model._meta.label, customer_path=paths, **options))
    return tuple(found)


def uncovered_models() -> list[str]:
    covered: set[str] = set()
    for provider in _providers.values():
        covered |= provider.covered_models()
    return sorted(reachable_models() - covered)
