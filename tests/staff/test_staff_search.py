"""One search box on the home page (full ID number through the keyed hash, a mobile number in any
spacing, a name, any public reference) and changelist searches that understand the same input; results
only from screens the user may open, collectors only within their own cases."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import CreditAccount
from core.actors import Actor
from core.search import as_id_number, as_mobile, parse_query
from debt_collection.models import CollectionCase, Collector
from debt_collection.services import cases_sync
from installments.models import Plan, Statement
from installments.services import purchase_authorize
from tests.factories import CustomerFactory
from tests.factories_collections import billed_account, close_days, pay
from tests.factories_staff import role_user

SEARCH = "/admin/search/"


@pytest.fixture(autouse=True)
def no_risk(monkeypatch):
    from installments import hooks

    monkeypatch.setattr(hooks, "_purchase_checks", {})


@pytest.mark.parametrize("typed, expected", [
    ("13800138000", "13800138000"),
    ("138 0013 8000", "13800138000"),
    ("138-0013-8000", "13800138000"),
    ("+86 138 0013 8000", "13800138000"),
    (" (138) 0013.8000 ", "13800138000"),
    ("12800138000", None),  # 12… is not a mobile prefix
    ("1380013800", None),
], ids=["plain", "spaces", "dashes", "country-code", "brackets-dots", "bad-prefix", "too-short"])
def test_a_mobile_number_is_recognised_in_any_spacing(typed, expected):
    assert as_mobile(typed) == expected


def test_a_full_id_number_is_recognised_and_hashed_never_kept_in_clear():
    assert as_id_number("110105 19800101 001x") == "11010519800101001X"
    assert as_id_number("1101051980") is None
    query = parse_query("11010519800101001X")
    assert query.id_number_hash and "11010519800101001X" not in repr(query)
    assert parse_query("0018").last4 == "0018" and parse_query("ABCD2345EFGH").reference == "ABCD2345EFGH"


@pytest.fixture
def world(business_date):
    """Two customers; the first with a plan, a statement, a repayment and a collection case."""
    account = billed_account(amount="1500.00")
    purchase = purchase_authorize(account=account, amount=Decimal("600.00"), merchant_order_id="ORDER-77", tenor=3,
                                  actor=Actor.system("test"))
    close_days(dt.date(2026, 2, 20))
    cases_sync(on=dt.date(2026, 2, 20))
    repayment = pay(account, "100.00", ref="BANKREF-9", received_on=dt.date(2026, 2, 20))
    other = billed_account(amount="100.00", n=1)
    CustomerFactory(name="张伟")
    account = CreditAccount.objects.select_related("customer").get(pk=account.pk)
    return {
        "account": account, "customer": account.customer, "other": other, "purchase": purchase, "repayment": repayment,
        "plan": Plan.objects.get(purchase=purchase), "case": CollectionCase.objects.get(account=account),
        "statement": Statement.objects.filter(account=account).exclude(status="draft").latest("bill_date"),
    }


def _search(client, q):
    response = client.post(SEARCH, {"q": q})
    assert response.status_code == 200
    return response.content.decode()


def _url(obj):
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def test_the_home_page_has_the_search_box(client, world):
    client.force_login(role_user("Credit officer"))
    body = client.get(reverse("admin:index")).content.decode()
    assert f'action="{SEARCH}"' in body and 'name="q"' in body and "csrfmiddlewaretoken" in body


def test_a_full_id_number_finds_the_customer_through_the_keyed_hash(client, world):
    client.force_login(role_user("Credit officer"))
    customer = world["customer"]
    spaced = f"{customer.id_number[:6]} {customer.id_number[6:14]} {customer.id_number[14:]}"
    for typed in (customer.id_number, spaced, customer.id_number.lower()):
        body = _search(client, typed)
        assert _url(customer) in body and _url(world["account"]) in body
        assert _url(world["other"].customer) not in body
        # never shown back in full, nor put into a link (address bar, history, access log)
        assert customer.id_number not in body and customer.id_number[6:14] not in body
        assert customer.masked_id_number in body and "?q=" not in body
    # the box on the home page posts
    body = client.get(reverse("admin:index")).content.decode()
    assert f'method="post" action="{SEARCH}"' in body
    assert client.get(SEARCH, {"q": world["customer"].mobile}).status_code == 200  # a typed URL works too


@pytest.mark.parametrize("fmt", ["{}", "{} {} {}", "{}-{}-{}"], ids=["plain", "spaces", "dashes"])
def test_a_mobile_in_any_spacing_finds_the_customer(client, world, fmt):
    client.force_login(role_user("Credit officer"))
    mobile = world["customer"].mobile
    typed = fmt.format(mobile) if fmt == "{}" else fmt.format(mobile[:3], mobile[3:7], mobile[7:])
    body = _search(client, typed)
    assert _url(world["customer"]) in body and _url(world["other"].customer) not in body


def test_a_name_finds_the_customer(client, world):
    client.force_login(role_user("Credit officer"))
    body = _search(client, "张伟")
    assert "张*" in body and 'id="search-customers"' in body
    assert "张伟" not in body.replace('value="张伟"', "")  # shown masked


@pytest.mark.parametrize("key", ["customer", "account", "purchase", "plan", "repayment", "statement"])
def test_any_public_reference_finds_its_record(client, world, key):
    client.force_login(role_user("Finance"))
    obj = world[key]
    typed = obj.account.reference if key == "statement" else obj.reference
    body = _search(client, typed.lower())
    assert _url(obj) in body


def test_order_and_bank_references_find_the_purchase_and_the_repayment(client, world):
    client.force_login(role_user("Finance"))
    assert _url(world["purchase"]) in _search(client, "ORDER-77")
    assert _url(world["repayment"]) in _search(client, "BANKREF-9")


def test_results_come_only_from_screens_the_user_may_open(client, world):
    case = world["case"]
    # an officer does not work cases: the case's reference finds nothing for them
    client.force_login(role_user("Credit officer"))
    body = _search(client, case.reference)
    assert _url(case) not in body and 'id="search-nothing"' in body
    # a collections manager finds it
    client.force_login(role_user("Collections manager"))
    assert _url(case) in _search(client, case.reference)


def test_a_collector_finds_only_the_people_of_their_own_cases(client, world, business_date):
    user = role_user("Collector", "collector_s")
    collector = Collector.objects.create(user=user, max_open_cases=5)
    CollectionCase.objects.filter(pk=world["case"].pk).update(collector=collector, assigned_on=dt.date(2026, 2, 21))
    client.force_login(user)
    mine, other = world["customer"], world["other"].customer
    body = _search(client, mine.mobile)
    assert _url(mine) in body and _url(world["case"]) in body
    body = _search(client, other.mobile)
    assert _url(other) not in body and 'id="search-nothing"' in body
    assert _url(world["other"]) not in _search(client, world["other"].reference)


def test_search_costs_one_query_a_group(client, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(role_user("Auditor"))
    with CaptureQueriesContext(connection) as ctx:
        _search(client, world["customer"].mobile)
    assert len(ctx.captured_queries) <= 16


# --- changelist searches ------------------------------------------------------------------------------


@pytest.mark.parametrize("changelist", [
    "accounts_customer", "accounts_creditaccount", "installments_statement", "installments_plan",
    "installments_repayment", "installments_purchase", "staff_statementexport", "staff_scheduleexport",
    "staff_repaymentexport",
])
def test_changelists_accept_a_full_id_number_and_a_spaced_mobile(client, world, changelist):
    client.force_login(role_user("Auditor"))
    customer, other = world["customer"], world["other"].customer
    url = reverse(f"admin:{changelist}_changelist")
    mobile = customer.mobile
    for typed in (customer.id_number, f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}", f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"):
        response = client.get(url, {"q": typed})
        assert response.status_code == 200
        result = response.context["cl"].result_list
        assert len(result) >= 1, (changelist, typed)
        path = {"accounts_customer": lambda o: o, "accounts_creditaccount": lambda o: o.customer}.get(
            changelist, lambda o: o.account.customer)
        assert {path(o).pk for o in result} == {customer.pk}, (changelist, typed)
    response = client.get(url, {"q": other.id_number})
    assert {o.pk for o in response.context["cl"].result_list} <= set(
        [other.pk] if changelist == "accounts_customer" else
        CreditAccount.objects.filter(customer=other).values_list("pk", flat=True) if changelist == "accounts_creditaccount"
        else response.context["cl"].queryset.model.objects.filter(account__customer=other).values_list("pk", flat=True))


@pytest.mark.parametrize("changelist", ["installments_statement", "installments_plan", "installments_repayment"])
def test_statements_plans_and_repayments_are_found_by_the_customer_reference(client, world, changelist):
    client.force_login(role_user("Auditor"))
    response = client.get(reverse(f"admin:{changelist}_changelist"), {"q": world["customer"].reference})
    result = list(response.context["cl"].result_list)
    assert result and {o.account_id for o in result} == {world["account"].pk}
