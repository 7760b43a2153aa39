"""Collectors see only their own cases' customers (docs/roles.md).

Reading every customer needs ``accounts.view_all_customers`` (``staff.roles.ALL_CUSTOMERS``), which
every role that reads customers holds and the collector does not. For a user without it, every admin
screen of a model that belongs to a customer — the customer, its accounts, purchases, statements,
plans, repayments, limits, reminders… — lists only the customers of the collection cases the user
may work (``cases_visible_to``: a collector's own), and an object page (change, history, delete) of
anyone else's answers 403, as the collections app's case pages do.

The staff app is the top layer, so it applies this to the screens of the lower apps here, once every
app's admin is registered: each such ``ModelAdmin`` is re-registered as a subclass with
:class:`OwnCasesScopeMixin` (the path from the model to its customer is found from its foreign keys).
"""
from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet

from accounts.models import CreditAccount, Customer
from staff.roles import ALL_CUSTOMERS

#: Models whose customer is further away than a ``customer`` or ``account`` foreign key.
EXPLICIT_PATHS = {"installments.adjustment": "line__account__customer"}


def own_customer_ids(user) -> QuerySet | None:
    """``None``: the user reads every customer; else the ids of the customers they may read."""
    if user.is_active and user.has_perm(ALL_CUSTOMERS):
        return None
    from debt_collection.selectors import cases_visible_to

    return cases_visible_to(user).values("customer_id")


def customer_path(model: type[Model]) -> str | None:
    """The lookup from ``model`` to its customer's id, or ``None`` (not a customer's record)."""
    if issubclass(model, Customer):
        return "pk"
    if model._meta.label_lower in EXPLICIT_PATHS:
        return EXPLICIT_PATHS[model._meta.label_lower]
    fields = {f.name: f.related_model for f in model._meta.concrete_fields if f.is_relation}
    if fields.get("customer") is Customer:
        return "customer"
    if fields.get("account") is CreditAccount or (
        isinstance(fields.get("account"), type) and issubclass(fields["account"], CreditAccount)
    ):
        return "account__customer"
    return None


class OwnCasesScopeMixin:
    customer_path: str = "customer"

    def _in_scope(self, request, obj) -> bool:
        own = own_customer_ids(request.user)
        if own is None or obj is None:
            return True
        return self.model._default_manager.filter(pk=obj.pk, **{f"{self.customer_path}__in": own}).exists()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        own = own_customer_ids(request.user)
        return queryset if own is None else queryset.filter(**{f"{self.customer_path}__in": own})

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None and own_customer_ids(request.user) is not None:
            raise PermissionDenied("Not a record of your cases.")
        return obj

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._in_scope(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._in_scope(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._in_scope(request, obj)


def scope_customer_screens(site: admin.AdminSite = admin.site) -> list[str]:
    """Re-register every customer's screen with :class:`OwnCasesScopeMixin`; returns their labels."""
    scoped = []
    for model, model_admin in list(site._registry.items()):
        path = customer_path(model)
        if path is None:
            continue
        if not isinstance(model_admin, OwnCasesScopeMixin):
            cls = type(model_admin)
            subclass = type(cls.__name__, (OwnCasesScopeMixin, cls),
                            {"customer_path": path, "__module__": cls.__module__, "__doc__": cls.__doc__})
            site.unregister(model)
            site.register(model, subclass)
        scoped.append(model._meta.label_lower)
    return sorted(scoped)


SCOPED_MODELS = scope_customer_screens()
