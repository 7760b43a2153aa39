"""The customer and account pages (360°): a header with masked identity and each account's limit, used,
available, status and bucket; tabs read through the apps' selectors at a fixed number of queries; one
merged timeline of every change whatever wrote it (services, the close of business's SQL, audit
events, simple-history) with who and why; buttons for exactly the actions the user may take."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import CreditAccount, LimitChange, StatusChange
from accounts.services import limit_change_submit  # a person: through the approvals gate (issue 23)
from core.actors import Actor
from debt_collection.models import CollectionCase, Collector
from debt_collection.services import cases_sync
from installments.services import purchase_authorize
from staff.timeline import timeline_for
from tests.factories_collections import billed_account, close_days, pay
from tests.factories_staff import role_user

TABS = ("details", "timeline", "statements", "plans", "purchases", "repayments", "contacts", "cases", "limits")
OVERDUE_ON = dt.date(2026, 2, 20)


@pytest.fixture(autouse=True)
def no_risk(monkeypatch):
    from installments import hooks

    monkeypatch.setattr(hooks, "_purchase_checks", {})


@pytest.fixture
def officer(db):
    return role_user("Credit officer")


@pytest.fixture
def story(business_date, officer):
    """An account with a limit raised by an officer, a 3-month plan, a statement it did not pay (the close
    of business froze it, moved it to M1 and opened a case) and a small repayment."""
    account = billed_account(amount="1500.00")
    purchase_authorize(account=account, amount=Decimal("600.00"), merchant_order_id="plan-order-1", tenor=3,
                       actor=Actor.system("test"))
    limit_change_submit(account=account, new_limit=Decimal("25000.00"), actor=Actor.staff(officer),
                               reason="good payer, salary verified")
    close_days(OVERDUE_ON)
    cases_sync(on=OVERDUE_ON)
    pay(account, "100.00", ref="BANK-STORY-1", received_on=OVERDUE_ON)
    return CreditAccount.objects.select_related("customer").get(pk=account.pk)


def _get(client, url, **params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200, (url, params, response.status_code)
    return len(ctx.captured_queries), response.content.decode()


def account_url(account):
    return reverse("admin:accounts_creditaccount_change", args=[account.pk])


def customer_url(account):
    return reverse("admin:accounts_customer_change", args=[account.customer_id])


# --- the merged timeline -------------------------------------------------------------------------------


def test_the_timeline_has_every_change_with_who_and_why_whatever_wrote_it(story, officer):
    entries = timeline_for(accounts=[story], customer=story.customer)
    rows = [(e.category, e.summary, e.actor, e.reason) for e in entries]
    # the officer's raise, through the service (its simple-history row is folded into it)
    assert ("limit", "Fixed limit: ¥20,000.00 → ¥25,000.00", officer.username, "good payer, salary verified") in rows
    # the close of business's freeze and bucket change, written with SQL (no simple-history row exists)
    assert ("status", "Active → Frozen (overdue)", "system (cob:freezes_sync)", "overdue (DPD > 0)") in rows
    bucket = [r for r in rows if r[0] == "bucket"]
    assert bucket and bucket[-1][1] == "M0 → M1" and bucket[-1][2] == "system (close of business)"
    assert bucket[-1][3].startswith("DPD ")
    assert any(r[0] == "case" and r[1] == "Case opened in M1" for r in rows)
    # the account's opening: the LimitChange written with the account
    assert ("limit", "Fixed limit: ¥0.00 → ¥20,000.00", "system (test)", "account opened") in rows
    # nothing about the fixed limit is shown twice (the history row of the raise is folded)
    assert not [r for r in rows if r[0] == "change" and "fixed limit" in r[1]]
    raise_entry = next(e for e in entries if e.reason == "good payer, salary verified")
    assert raise_entry.changes == ["fixed limit: 20000.00 → 25000.00"]
    # newest first
    assert [e.at for e in entries] == sorted((e.at for e in entries), reverse=True)


def test_the_timeline_page_never_says_none_where_a_reason_was_required(client, story, officer):
    client.force_login(officer)
    _, body = _get(client, account_url(story), tab="timeline")
    assert "good payer, salary verified" in body and "overdue (DPD &gt; 0)" in body
    assert "None" not in body
    # the simple-history page of the account shows the reason the service recorded
    body = client.get(reverse("admin:accounts_creditaccount_history", args=[story.pk])).content.decode()
    assert "good payer, salary verified" in body


def test_audit_events_appear_only_for_users_who_may_read_the_audit_trail(client, story, officer):
    from core.audit import audit_record

    audit_record(actor=Actor.staff(officer), action="bill_day_change", obj=story, reason="customer asked", old=1, new=5)
    assert any(e.summary == "bill day change: 1 → 5" and e.reason == "customer asked"
               for e in timeline_for(accounts=[story], include_audit=True))
    assert not any(e.category == "audit" for e in timeline_for(accounts=[story], include_audit=False))
    auditor = role_user("Auditor")
    client.force_login(auditor)
    assert "customer asked" in _get(client, account_url(story), tab="timeline")[1]
    client.force_login(officer)  # officers do not hold core.view_auditevent
    assert "customer asked" not in _get(client, account_url(story), tab="timeline")[1]


# --- header and tabs --------------------------------------------------------------------------------


def test_header_shows_masked_identity_and_each_accounts_figures_as_money(client, story, officer):
    client.force_login(officer)
    for url in (account_url(story), customer_url(story)):
        _, body = _get(client, url)
        customer = story.customer
        assert customer.masked_id_number in body and customer.masked_mobile in body and customer.masked_name in body
        assert customer.id_number not in body and customer.mobile not in body
        header = body[body.index('id="ws-accounts"'):body.index('id="ws-tabs"')]
        assert "¥25,000.00" in header  # limit (no temporary limit)
        assert f"¥{story.used_amount:,.2f}" in header
        assert f"¥{max(Decimal('25000.00') - story.used_amount, Decimal(0)):,.2f}" in header
        assert "Frozen (overdue)" in header and "M1 (DPD 1–30)" in header


def test_each_tab_shows_its_records(client, story, officer):
    client.force_login(officer)
    url = account_url(story)
    statement = story.statements.exclude(status="draft").order_by("-bill_date").first()
    _, body = _get(client, url, tab="statements")
    assert statement.bill_date.isoformat() in body and f"¥{statement.closing_balance:,.2f}" in body
    _, body = _get(client, url, tab="plans")
    plan = story.plans.get(purchase__merchant_order_id="plan-order-1")
    assert plan.reference in body and body.count('class="ws-schedule"') == story.plans.count()
    assert "¥200.00" in body  # 600.00 over 3 periods
    _, body = _get(client, url, tab="purchases")
    assert "plan-order-1" in body and "¥1,500.00" in body
    _, body = _get(client, url, tab="repayments")
    assert "BANK-STORY-1" in body and "¥100.00" in body
    _, body = _get(client, url, tab="limits")
    assert "good payer, salary verified" in body and "¥25,000.00" in body
    _, body = _get(client, url, tab="cases")
    assert 'data-tab="cases"' not in body  # officers do not read collection cases
    client.force_login(role_user("Auditor"))
    _, body = _get(client, url, tab="cases")
    case = CollectionCase.objects.get(account=story)
    assert case.reference in body and "M1" in body
    # an auditor reads cases but does not work them: listed, not linked to the work page they may not open
    assert reverse("admin:collections_collectioncase_change", args=[case.pk]) not in body


def test_a_tab_the_user_may_not_read_is_neither_offered_nor_read(client, story):
    collector_only = role_user("Auditor", "reader")
    from django.contrib.auth.models import Permission

    collector_only.groups.clear()
    collector_only.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_customer", "view_creditaccount", "view_all_customers"]))
    client.force_login(collector_only)
    _, body = _get(client, account_url(story), tab="repayments")
    assert 'data-tab="repayments"' not in body and "BANK-STORY-1" not in body
    assert 'data-tab="timeline"' in body


@pytest.mark.parametrize("tab", TABS)
def test_every_tab_costs_the_same_number_of_queries_however_long_the_history(client, business_date, officer, tab):
    """Query counts are fixed per tab: a customer with ten times the records costs no more queries."""
    client.force_login(role_user("Auditor"))

    def build(n: int) -> CreditAccount:
        account = billed_account(amount="100.00", n=0)
        for i in range(n):
            purchase_authorize(account=account, amount=Decimal("50.00"), merchant_order_id=f"o-{i}", tenor=3,
                               actor=Actor.system("test"))
            limit_change_submit(account=account, new_limit=Decimal(21000 + i), actor=Actor.staff(officer),
                                       reason=f"review {i}")
            pay(account, "10.00", ref=f"R-{account.pk}-{i}")
        return account

    small, large = build(1), build(10)
    for url_of in (account_url, customer_url):
        small_count, _ = _get(client, url_of(small), tab=tab)
        large_count, _ = _get(client, url_of(large), tab=tab)
        assert small_count == large_count, (tab, url_of.__name__, small_count, large_count)
        assert large_count <= 40, (tab, large_count)


# --- buttons for the role's actions -------------------------------------------------------------------


def _buttons(body: str) -> str:
    return body[body.index('id="ws-header"'):body.index('id="ws-tabs"')]


def test_buttons_match_the_users_permissions(client, story, officer):
    client.force_login(officer)
    header = _buttons(_get(client, account_url(story))[1])
    act = lambda name: reverse("admin:accounts_creditaccount_act", args=[story.pk, name])  # noqa: E731
    assert act("adjust_limit") in header and act("freeze") in header and act("unfreeze") in header
    assert act("grant_temporary_limit") not in header  # only for an active account
    assert act("close") not in header  # superusers only
    assert "Post a repayment" not in header
    assert reverse("admin:privacy_unmask", args=[story.customer_id]) in _buttons(_get(client, customer_url(story))[1])

    client.force_login(role_user("Finance"))
    header = _buttons(_get(client, account_url(story))[1])
    assert "/act/" not in header and "Post a repayment" in header
    assert reverse("admin:privacy_unmask", args=[story.customer_id]) not in header

    client.force_login(role_user("Auditor"))
    header = _buttons(_get(client, account_url(story))[1])
    assert "/act/" not in header and 'class="button"' not in header


def test_an_officer_freezes_by_hand_from_the_button_and_the_reason_reaches_the_timeline(client, story, officer):
    client.force_login(officer)
    url = reverse("admin:accounts_creditaccount_act", args=[story.pk, "freeze"])
    form = client.get(url)
    assert form.status_code == 200 and 'name="reason"' in form.content.decode()
    response = client.post(url, {"_form_action_apply": "1", "reason": "suspected fraud, call from bank"})
    assert response.status_code == 302 and response["Location"].endswith("?tab=timeline")
    story.refresh_from_db()
    assert (story.status, story.freeze_reason) == ("frozen", "manual")
    change = StatusChange.objects.filter(account=story).latest("id")
    assert (change.actor, change.reason) == (officer, "suspected fraud, call from bank")
    body = client.get(response["Location"]).content.decode()
    assert "suspected fraud, call from bank" in body


def test_a_button_posted_without_the_permission_is_refused_and_changes_nothing(client, story):
    before = (LimitChange.objects.count(), StatusChange.objects.count())
    for role in ("Auditor", "Finance"):
        client.force_login(role_user(role))
        for action in ("adjust_limit", "freeze", "close"):
            url = reverse("admin:accounts_creditaccount_act", args=[story.pk, action])
            assert client.get(url).status_code == 403
            response = client.post(url, {"_form_action_apply": "1", "reason": "x", "new_limit": "1.00"})
            assert response.status_code == 403
    client.force_login(role_user("Credit officer", "officer2"))
    assert client.get(reverse("admin:accounts_creditaccount_act", args=[story.pk, "delete_selected"])).status_code == 403
    story.refresh_from_db()
    assert (story.fixed_limit, story.status) == (Decimal("25000.00"), "frozen")
    assert (LimitChange.objects.count(), StatusChange.objects.count()) == before


def test_a_refused_button_action_says_why_and_changes_nothing(client, story, officer):
    client.force_login(officer)
    url = reverse("admin:accounts_creditaccount_act", args=[story.pk, "unfreeze"])
    response = client.post(url, {"_form_action_apply": "1", "reason": "customer called"}, follow=True)
    assert "it unfreezes once nothing is past due" in response.content.decode()
    story.refresh_from_db()
    assert (story.status, story.freeze_reason) == ("frozen", "overdue")


def test_a_collector_sees_only_the_customers_of_their_own_cases(client, story, business_date):
    other = billed_account(amount="100.00", n=1)
    user = role_user("Collector", "collector_x")
    collector = Collector.objects.create(user=user, max_open_cases=5)
    case = CollectionCase.objects.get(account=story)
    CollectionCase.objects.filter(pk=case.pk).update(collector=collector, assigned_on=business_date("2026-02-21"))
    client.force_login(user)
    _get(client, customer_url(story))
    _, body = _get(client, account_url(story), tab="cases")
    assert reverse("admin:collections_collectioncase_change", args=[case.pk]) in body  # their case: a link
    for url in (customer_url(other), account_url(other)):
        response = client.get(url)
        assert response.status_code == 403  # another customer's page (staff/scoping.py)
    changelist = client.get(reverse("admin:accounts_customer_changelist")).content.decode()
    assert story.customer.reference in changelist and other.customer.reference not in changelist
