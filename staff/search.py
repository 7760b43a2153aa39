"""The home page's one search box: a full ID number (through the keyed hash), a mobile number in any
spacing, a name, or any public reference (customer, account, purchase, plan, repayment, case — and
the statements of an account), across the screens the user may open.

Each group reads through the registered admin screen's own queryset (``ModelAdmin.get_queryset``), so
scoping rules hold here as they do on the screens: a collector finds only the customers and cases of
the cases assigned to them (in every group); a group whose screen the user may not open is not
searched at all.

A full ID number is searched through its keyed hash and never echoed back: the form posts it (a GET
would leave it in the address bar, the browser history and the server's access log) and the page
shows it masked."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode
from typing import Any
from collections.abc import Callable

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import CreditAccount, Customer
from core.search import Query, parse_query
from staff.scoping import own_customer_ids
from debt_collection.models import CollectionCase
from installments.models import Plan, Purchase, Repayment, Statement

PER_GROUP = 20


@dataclass
class Hit:
    url: str
    title: str
    detail: str


@dataclass
class Group:
    key: str
    label: Any
    hits: list[Hit] = field(default_factory=list)
    more_url: str = ""


def _people(query: Query, path: str) -> Q | None:
    """The filter on the customer (reached through ``path``) for an exact personal query."""
    if query.id_number_hash:
        return Q(**{f"{path}id_number_hash": query.id_number_hash})
    if query.mobile:
        return Q(**{f"{path}mobile": query.mobile})
    return None


def _customer_q(query: Query) -> Q | None:
    people = _people(query, "")
    if people is not None:
        return people
    q = Q()
    if query.reference:
        q |= Q(reference=query.reference) | Q(accounts__reference=query.reference)
    if query.last4:
        q |= Q(id_number_last4=query.last4)
    if not any(ch.isdigit() for ch in query.text) and len(query.text) >= 1:
        q |= Q(name__icontains=query.text)
    return q or None


def _by_reference(query: Query, *fields: str, people_path: str = "account__customer__") -> Q | None:
    people = _people(query, people_path)
    if people is not None:
        return people
    if not query.reference and not fields:
        return None
    q = Q()
    for name in fields:
        value = query.text.strip() if name in ("external_ref", "merchant_order_id") else query.reference
        if value:
            q |= Q(**{name: value})
    return q or None


@dataclass(frozen=True)
class Target:
    key: str
    label: Any
    model: type
    where: Callable[[Query], Q | None]
    title: Callable[[Any], str]
    detail: Callable[[Any], str]
    select_related: tuple[str, ...] = ()
    ordering: tuple[str, ...] = ("-id",)
    customer_path: str = "account__customer__"


def _money(value) -> str:
    from core.money import format_cny

    return format_cny(value)


TARGETS: tuple[Target, ...] = (
    Target("customers", _("Customers"), Customer, _customer_q,
           lambda c: f"{c.masked_name} · {c.reference}",
           lambda c: f"{c.masked_id_number} · {c.masked_mobile}", customer_path=""),
    Target("accounts", _("Credit accounts"), CreditAccount,
           lambda q: _by_reference(q, "reference", "customer__reference", people_path="customer__"),
           lambda a: f"{a.reference} · {a.customer.masked_name}",
           lambda a: f"{a.get_status_display()} · {a.bucket} · {_money(a.fixed_limit)}",
           select_related=("customer",), customer_path="customer__"),
    Target("purchases", _("Purchases"), Purchase,
           lambda q: _by_reference(q, "reference", "merchant_order_id"),
           lambda p: f"{p.reference} · {p.merchant_order_id}",
           lambda p: f"{p.account.reference} · {_money(p.amount)} · {p.get_status_display()}",
           select_related=("account",)),
    Target("statements", _("Statements"), Statement,
           lambda q: _by_reference(q, "account__reference", "account__customer__reference"),
           lambda s: f"{s.account.reference} · {s.bill_date:%Y-%m-%d}",
           lambda s: f"{s.get_status_display()} · {_money(s.closing_balance)}",
           select_related=("account",), ordering=("-bill_date", "-id")),
    Target("plans", _("Installment plans"), Plan,
           lambda q: _by_reference(q, "reference", "purchase__reference"),
           lambda p: f"{p.reference} · {p.get_kind_display()}",
           lambda p: f"{p.account.reference} · {_money(p.principal)} × {p.tenor} · {p.get_status_display()}",
           select_related=("account",)),
    Target("repayments", _("Repayments"), Repayment,
           lambda q: _by_reference(q, "reference", "external_ref"),
           lambda r: f"{r.reference} · {r.external_ref}",
           lambda r: f"{r.account.reference} · {_money(r.amount)} · {r.received_on:%Y-%m-%d}",
           select_related=("account",)),
    Target("cases", _("Collection cases"), CollectionCase,
           lambda q: _by_reference(q, "reference", "account__reference", people_path="customer__"),
           lambda c: f"{c.reference} · {c.customer.masked_name}",
           lambda c: f"{c.bucket} · {c.get_status_display()} · {_money(c.amount_overdue)}",
           select_related=("customer",), customer_path="customer__"),
)


def staff_search(*, request, text: str) -> tuple[Query, list[Group]]:
    """The groups of results for ``text``, each from a screen the user may open (at most
    ``PER_GROUP`` hits a group; one query a group)."""
    query = parse_query(text)
    groups: list[Group] = []
    if not query.text:
        return query, groups
    own = own_customer_ids(request.user)  # None: every customer (staff/scoping.py, docs/roles.md)
    for target in TARGETS:
        model_admin = admin.site._registry.get(target.model)
        if model_admin is None or not model_admin.has_view_permission(request):
            continue
        where = target.where(query)
        if where is None:
            continue
        queryset: QuerySet = model_admin.get_queryset(request).filter(where)
        if own is not None:  # a collector finds only the people of the cases assigned to them
            queryset = queryset.filter(**{f"{target.customer_path}id__in": own})
        if target.select_related:
            queryset = queryset.select_related(*target.select_related)
        rows = list(queryset.order_by(*target.ordering).distinct()[:PER_GROUP])
        if not rows:
            continue
        opts = target.model._meta
        # a full ID number never goes into a link (it would end up in browser history and access logs)
        more_url = "" if query.id_number_hash else (
            reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist") + "?" + urlencode({"q": query.text}))
        group = Group(key=target.key, label=target.label, more_url=more_url)
        for row in rows:
            group.hits.append(Hit(url=reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk]),
                                  title=target.title(row), detail=target.detail(row)))
        groups.append(group)
    return query, groups
